/* router.c — which handler answers a method and path.
 *
 * One table. A known path with another method is a 405 whose Allow header
 * lists the methods that path takes; anything else is a 404. Both are JSON.
 * HEAD is GET (RFC 9110): nginx sends the client the headers alone.
 * The table's paths are also the endpoint labels of /metrics, so what a
 * client sends as a path can never grow the set of labels.
 */
#include <stdio.h>
#include <string.h>

#include "fcgi/fcgi.h"

static const struct route {
	const char *method, *path;
	handler_fn *handler;
	bool runs_code;		/* a browser's Origin must be allowed (access.c) */
} routes[] = {
	{ "POST", "/api/run", api_run, true },
	{ "POST", "/run", api_pyrunner, true },
	{ "POST", "/execute", api_execute, true },
	{ "POST", "/mcp", api_mcp, true },
	{ "GET", "/health", api_health, false },
	{ "GET", "/api/health", api_health, false },
	{ "GET", "/", api_info, false },
	{ "GET", "/metrics", api_metrics, false },
	{ "GET", "/openapi.json", api_openapi, false },
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

/* A browser's page from a host not allowed, or /mcp reached by a name not
 * allowed (DNS rebinding): 403; no valid API key when keys are asked for:
 * 401. Both before anything is read or run. */
static bool allowed(struct request_ctx *ctx)
{
	const struct config *c = &service.cfg;
	bool mcp = strcmp(ctx->path, "/mcp") == 0;
	const char *why = NULL;
	char msg[256];
	if (ctx->origin && !access_origin_allowed(c, ctx->origin))
		why = "Origin";
	else if (mcp && !access_host_allowed(c, ctx->host))
		why = "Host";
	if (why) {
		snprintf(msg, sizeof msg, "forbidden: this %s is not one of the service's allowed_hosts", why);
		if (mcp)
			mcp_error(ctx, 403, NULL, -32000, msg);
		else
			response_error_at(&ctx->rsp, ctx->path, 403, msg);
		log_note(&ctx->log, msg);
		return false;
	}
	if (!access_key_valid(c, ctx->authorization, ctx->api_key)) {
		const char *no_key = "unauthorized: this service wants an API key, as "
				     "Authorization: Bearer KEY or X-API-Key: KEY";
		snprintf(ctx->rsp.extra_headers, sizeof ctx->rsp.extra_headers,
			 "WWW-Authenticate: Bearer realm=\"coderunner\"\r\n");
		if (mcp)
			mcp_error(ctx, 401, NULL, -32001, no_key);
		else
			response_error_at(&ctx->rsp, ctx->path, 401, no_key);
		log_note(&ctx->log, "unauthorized");
		return false;
	}
	return true;
}

void route(struct request_ctx *ctx)
{
	char allow[128] = "";
	const char *method = ctx->method ? ctx->method : "";
	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	const char *path = ctx->path ? ctx->path : "";
	ctx->endpoint = route_endpoint(path);
	for (size_t i = 0; i < N_ROUTES; i++) {
		if (strcmp(routes[i].path, path) != 0)
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			if (routes[i].runs_code && !allowed(ctx))
				return;
			routes[i].handler(ctx);
			return;
		}
		const char *takes = strcmp(routes[i].method, "GET") == 0 ? "GET, HEAD" : routes[i].method;
		if (!strstr(allow, routes[i].method)) {
			if (*allow)
				strcat(allow, ", ");
			strcat(allow, takes);
		}
	}
	char msg[256];
	if (*allow) {
		snprintf(ctx->rsp.extra_headers, sizeof ctx->rsp.extra_headers, "Allow: %s\r\n", allow);
		snprintf(msg, sizeof msg, "method %.16s is not allowed here; use %s", method, allow);
		response_error_at(&ctx->rsp, path, 405, msg);
		log_note(&ctx->log, "method not allowed");
		return;
	}
	response_error(&ctx->rsp, 404, "no such endpoint; POST a script to /api/run", NULL);
	log_note(&ctx->log, "no such endpoint");
}
