/* router.c — which handler answers a method and path.
 *
 * One table: later endpoints (/run, /execute, GET /, /metrics) are one line
 * each. A known path with another method is a 405 whose Allow header lists
 * the methods that path takes; anything else is a 404. Both are JSON.
 */
#include <stdio.h>
#include <string.h>

#include "fcgi/fcgi.h"

static const struct route {
	const char *method, *path;
	handler_fn *handler;
} routes[] = {
	{ "POST", "/api/run", api_run },
	{ "GET", "/health", api_health },
	{ "GET", "/api/health", api_health },
};

void route(struct request_ctx *ctx)
{
	char allow[128] = "";
	const char *method = ctx->method ? ctx->method : "";
	const char *path = ctx->path ? ctx->path : "";
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		if (strcmp(routes[i].path, path) != 0)
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			routes[i].handler(ctx);
			return;
		}
		if (!strstr(allow, routes[i].method)) {
			if (*allow)
				strcat(allow, ", ");
			strcat(allow, routes[i].method);
		}
	}
	char msg[256];
	if (*allow) {
		snprintf(ctx->rsp.extra_headers, sizeof ctx->rsp.extra_headers, "Allow: %s\r\n", allow);
		snprintf(msg, sizeof msg, "method %.16s is not allowed here; use %s", method, allow);
		response_error(&ctx->rsp, 405, msg, NULL);
		ctx->log.note = "method not allowed";
		return;
	}
	response_error(&ctx->rsp, 404, "no such endpoint; POST a script to /api/run", NULL);
	ctx->log.note = "no such endpoint";
}

void api_health(struct request_ctx *ctx)
{
	ctx->rsp.status = 200;
	buf_reset(&ctx->rsp.body);
	buf_puts(&ctx->rsp.body, "{\"status\": \"healthy\"}\n");
}
