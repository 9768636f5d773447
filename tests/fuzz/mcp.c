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

#include "tests/fuzz/run_stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	stub_kind = data[0];
	stub_channel = "{\"ok\": true}\n[1, {\"a\": null}]";
	stub_channel_len = strlen(stub_channel);
	struct request_ctx ctx;
	stub_request(&ctx, "/mcp", (const char *)data + 1, size - 1);
	ctx.mcp_version = data[0] & 0x80 ? "2025-06-18" : NULL;
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
