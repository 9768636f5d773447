/* mcp.c — fuzzes POST /mcp (fcgi/dialects/mcp.c): the JSON-RPC envelope,
 * initialize, tools/list and tools/call with its arguments, which go on to
 * /api/run's and /execute's parsers. The run itself is not the target: this
 * harness stands in for run_script() (fcgi/running/script.c, left out of
 * this target) with an answer picked by the input's first byte, a result or
 * a 503, so the tool result builder is fuzzed too. Every answer must be one
 * JSON value, or empty for a 202. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/fcgi.h"

static int answer;

int run_slot_take(struct request_ctx *ctx, struct http_error *e)
{
	(void)ctx;
	return http_fail(e, 503, "every run slot and the queue are full");
}

int run_script(struct request_ctx *ctx, const struct run_request *r, struct run_result *res,
	       char *dir, size_t dirlen, struct http_error *e)
{
	(void)ctx;
	(void)r;
	(void)dirlen;
	dir[0] = '\0';
	memset(res, 0, sizeof *res);
	switch (answer % 3) {
	case 0:
		return run_slot_take(ctx, e);
	case 1:
		res->exit_code = 1;
		buf_puts(&res->out, "out \xff\n");
		buf_puts(&res->err, "Traceback...\n");
		buf_puts(&res->channel, "{\"exception\": \"ValueError\", \"line\": 1}");
		return 0;
	default:
		res->exit_code = 0;
		buf_puts(&res->channel, "{\"ok\": true, \"result\": [1, {\"a\": null}]}");
		return 0;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	config_defaults(&service.cfg);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	answer = data[0];
	struct request_ctx ctx;
	memset(&ctx, 0, sizeof ctx);
	ctx.method = "POST";
	ctx.path = "/mcp";
	ctx.query = "";
	ctx.content_type = "application/json";
	ctx.host = "127.0.0.1";
	ctx.mcp_version = data[0] & 0x80 ? "2025-06-18" : NULL;
	ctx.request_id = "fuzz";
	ctx.body = malloc(size);
	memcpy(ctx.body, data + 1, size - 1);
	ctx.body[size - 1] = '\0';
	ctx.body_len = size - 1;
	ctx.content_length = (long long)ctx.body_len;
	api_mcp(&ctx);
	if (ctx.rsp.status != 202 && !json_check(ctx.rsp.body.data ? ctx.rsp.body.data : "",
						 ctx.rsp.body.len, 64)) {
		fprintf(stderr, "not one JSON value (%d): %.*s\n", ctx.rsp.status, (int)ctx.rsp.body.len,
			ctx.rsp.body.data ? ctx.rsp.body.data : "");
		abort();
	}
	buf_free(&ctx.rsp.body);
	free(ctx.body);
	return 0;
}
