/* router.c — which handler answers a method and path.
 *
 * One table. A known path with another method is a 405 whose Allow header
 * lists the methods that path takes; anything else is a 404. Both are JSON.
 * The table's paths are also the endpoint labels of /metrics, so what a
 * client sends as a path can never grow the set of labels.
 */
#include <stdio.h>
#include <string.h>

#include "fcgi/fcgi.h"

static const struct route {
	const char *method, *path;
	handler_fn *handler;
} routes[] = {
	{ "POST", "/api/run", api_run },
	{ "POST", "/run", api_pyrunner },
	{ "POST", "/execute", api_execute },
	{ "GET", "/health", api_health },
	{ "GET", "/api/health", api_health },
	{ "GET", "/", api_info },
	{ "GET", "/metrics", api_metrics },
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/* Every path has one method for now, so a route's index is its endpoint
 * number; a second method for a path would share the first one's. */
int route_endpoint(const char *path)
{
	for (size_t i = 0; path && i < N_ROUTES; i++)
		if (strcmp(routes[i].path, path) == 0)
			return (int)i;
	return (int)N_ROUTES;
}

const char *route_endpoint_name(int endpoint)
{
	if (endpoint < 0 || endpoint > (int)N_ROUTES)
		return NULL;
	return endpoint == (int)N_ROUTES ? "other" : routes[endpoint].path;
}

void route(struct request_ctx *ctx)
{
	char allow[128] = "";
	const char *method = ctx->method ? ctx->method : "";
	const char *path = ctx->path ? ctx->path : "";
	ctx->endpoint = route_endpoint(path);
	for (size_t i = 0; i < N_ROUTES; i++) {
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
		log_note(&ctx->log, "method not allowed");
		return;
	}
	response_error(&ctx->rsp, 404, "no such endpoint; POST a script to /api/run", NULL);
	log_note(&ctx->log, "no such endpoint");
}
