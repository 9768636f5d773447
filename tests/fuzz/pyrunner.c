/* pyrunner.c — fuzzes POST /run's body parser (fcgi/dialects/pyrunner.c):
 * a body is valid, or every rule it breaks is a "detail" entry that is
 * itself valid JSON. */
#include <json-c/json.h>
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
	char *body = strndup((const char *)data, size);
	struct pyrunner_request r;
	struct buf d = { 0 };
	json_object *tree = pyrunner_parse(&cfg, body, strlen(body), &r, &d);
	if (d.len) {
		buf_putc(&d, ']');
		struct buf all = { 0 };
		buf_putc(&all, '[');
		buf_put(&all, d.data, d.len);
		if (!json_check(all.data, all.len, 16))
			abort();
		buf_free(&all);
	} else if (!tree || !r.code || r.timeout < 1 || r.memory_limit < 64) {
		abort();	/* valid means runnable */
	}
	json_object_put(tree);
	buf_free(&d);
	free(body);
	return 0;
}
