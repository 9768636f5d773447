/* run_stub.h — for the targets that drive a whole endpoint (mcp.c,
 * execute.c): a stand-in for run_script(), run_slot_take(),
 * run_queue_enter() and run_wait_ended() (fcgi/running/script.c, left out
 * of these targets), since the run itself is not what they fuzz. stub_kind
 * picks the answer: a 503, a script that failed, or one that ran, with
 * stub_channel (stub_channel_len bytes) as what its runner wrote on fd 4.
 * stub_request() makes the request. */
#include <string.h>

#include "fcgi/fcgi.h"

static int stub_kind;
static const char *stub_channel = "";
static size_t stub_channel_len;

int run_slot_take(struct request_ctx *ctx, struct http_error *e)
{
	(void)ctx;
	return http_fail(e, 503, "every run slot and the queue are full");
}

int run_queue_enter(struct request_ctx *ctx, struct http_error *e)
{
	return run_slot_take(ctx, e);
}

int run_wait_ended(struct request_ctx *ctx, struct http_error *e)
{
	(void)ctx;
	(void)e;
	return 0;
}

int run_script(struct request_ctx *ctx, const struct run_request *r, struct run_result *res,
	       char *dir, size_t dirlen, struct http_error *e)
{
	(void)r;
	(void)dirlen;
	dir[0] = '\0';
	memset(res, 0, sizeof *res);
	switch (stub_kind % 3) {
	case 0:
		return run_slot_take(ctx, e);
	case 1:
		res->exit_code = 1;
		buf_puts(&res->out, "out \xff\n");
		buf_puts(&res->err, "Traceback...\n");
		break;
	default:
		res->exit_code = 0;
		buf_puts(&res->out, "printed\n");
		break;
	}
	buf_put(&res->channel, stub_channel, stub_channel_len);
	return 0;
}

/* A POST to path with body (a copy, NUL-terminated), as the FastCGI loop
 * hands it to a handler; free ctx->body and ctx->rsp.body after. */
static void stub_request(struct request_ctx *ctx, const char *path, const char *body, size_t len)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->method = "POST";
	ctx->path = path;
	ctx->query = "";
	ctx->content_type = "application/json";
	ctx->host = "127.0.0.1";
	ctx->request_id = "fuzz";
	ctx->body = xmalloc(len + 1);
	memcpy(ctx->body, body, len);
	ctx->body[len] = '\0';
	ctx->body_len = len;
	ctx->content_length = (long long)len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	config_defaults(&service.cfg);
	return 0;
}
