/* json_check.c — fuzzes the RFC 8259 checker that vets what /execute's
 * main() returned (fcgi/dialects/json_check.c). What it accepts, json-c's
 * strict parser accepts too, so a result we pass on is JSON any client reads. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/fcgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	if (!json_check(s, size, 64) || memchr(s, '\0', size))
		return 0;
	json_tokener *tok = json_tokener_new_ex(80);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	json_object *o = json_tokener_parse_ex(tok, s, (int)size);
	enum json_tokener_error err = json_tokener_get_error(tok);
	/* A bare number at the very end is json-c's "continue": it waits for more. */
	if (err == json_tokener_continue)
		o = json_tokener_parse_ex(tok, "", 1), err = json_tokener_get_error(tok);
	if (err != json_tokener_success)
		abort();
	json_object_put(o);
	json_tokener_free(tok);
	return 0;
}
