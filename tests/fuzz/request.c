/* request.c — fuzzes POST /api/run's request parser (fcgi/dialects/request.c):
 * JSON mode, raw mode with its query string, and the Content-Type switch.
 * The first byte picks the mode; in raw mode the input up to the first
 * newline is the query string. Whatever the bytes, the parser answers 0 or
 * an HTTP error in 400..415 with a message, and frees all it took. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/fcgi.h"

static struct config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	config_defaults(&cfg);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	static const char *const types[] = {
		"application/json", "text/plain", NULL, "application/json; charset=utf-8", "image/png",
	};
	const char *type = types[data[0] % 5];
	const char *rest = (const char *)data + 1;
	size_t len = size - 1;
	/* Raw mode's query string: the bytes up to the first newline. */
	char *query = NULL;
	const char *nl = memchr(rest, '\n', len);
	if (data[0] % 5 == 1 && nl) {
		query = strndup(rest, (size_t)(nl - rest));
		len -= (size_t)(nl - rest) + 1;
		rest = nl + 1;
	}
	/* The body as the FastCGI loop hands it over: NUL-terminated. */
	char *body = malloc(len + 1);
	memcpy(body, rest, len);
	body[len] = '\0';

	struct run_request r;
	struct http_error e = { 0, "" };
	request_init(&r);
	int rc = request_parse(&cfg, type, query ? query : "", body, len, &r, &e);
	if (rc < 0 && (e.status < 400 || e.status > 415 || !e.message[0]))
		abort();	/* every refusal is a 4xx with a reason */
	if (rc == 0 && !r.entry_point)
		abort();	/* every accepted request has something to run */
	request_free(&r);
	free(body);
	free(query);
	return 0;
}
