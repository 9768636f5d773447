/* execute.c — fuzzes POST /execute (fcgi/dialects/execute.c): its request
 * body, and what its runner answers on fd 4 (a JSON line, then main()'s
 * result), which a script that writes to that fd could shape. The input is
 * BODY, a NUL, then the runner's answer; the first byte picks how the run
 * ended (run_stub.h stands in for the run). Every answer must be one JSON
 * value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/run_stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	stub_kind = data[0];
	const char *rest = (const char *)data + 1;
	size_t len = size - 1;
	const char *nul = memchr(rest, '\0', len);
	size_t body_len = nul ? (size_t)(nul - rest) : len;
	stub_channel = nul ? nul + 1 : "";
	stub_channel_len = nul ? len - body_len - 1 : 0;

	struct request_ctx ctx;
	stub_request(&ctx, "/execute", rest, body_len);
	api_execute(&ctx);
	if (!json_check(ctx.rsp.body.data ? ctx.rsp.body.data : "", ctx.rsp.body.len, 80))
		abort();
	buf_free(&ctx.rsp.body);
	free(ctx.body);
	return 0;
}
