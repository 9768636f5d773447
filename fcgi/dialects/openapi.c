/* openapi.c — GET /openapi.json: the OpenAPI 3.1 document of the service.
 *
 * fcgi/openapi.json, built in, with each @key@ replaced by the value of that
 * configuration key in force (and @version@ by the version), so that the
 * limits it states are this server's. tests/http/openapi.sh checks it
 * against what the service really does: its routes, the fields each
 * dialect takes, and every example of the README, sent and answered.
 */
#include <stdio.h>
#include <string.h>

#include "fcgi/fcgi.h"

void api_openapi(struct request_ctx *ctx)
{
	struct buf *b = &ctx->rsp.body;
	buf_reset(b);
	for (const char *p = doc_openapi; *p;) {
		const char *at = strchr(p, '@'), *end = at ? strchr(at + 1, '@') : NULL;
		unsigned v;
		if (!end) {
			buf_puts(b, p);
			break;
		}
		buf_put(b, p, (size_t)(at - p));
		size_t len = (size_t)(end - at - 1);
		if (len == 7 && strncmp(at + 1, "version", 7) == 0)
			buf_puts(b, PACKAGE_VERSION_STRING);
		else if (config_uint(&service.cfg, at + 1, len, &v))
			buf_printf(b, "%u", v);
		else {	/* not a token: the text as it is */
			buf_putc(b, '@');
			p = at + 1;
			continue;
		}
		p = end + 1;
	}
	ctx->rsp.status = 200;
}
