/* api_run.c — POST /api/run: parse, run (script.c: slot, stage,
 * sandbox), collect ./output, answer. The response is 200 whenever the
 * script ran, whatever its exit status; 4xx/5xx only when it did not run.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fcgi/fcgi.h"

#define MIB (1024u * 1024u)

static void fail(struct request_ctx *ctx, const struct http_error *e, const struct buf *warnings)
{
	response_error(&ctx->rsp, e->status, e->message, warnings);
	if (e->status >= 500)
		log_note(&ctx->log, e->message);
}

/* A one-line reason appended to stderr for the kills the script did not ask
 * for; 137 for a MemoryError at the rlimit. */
static void explain_kill(struct run_result *res, const struct run_request *r)
{
	char line[160];
	if (res->memory_error) {
		res->exit_code = 137;
		snprintf(line, sizeof line, "coderunner: the script exceeded the %u MB memory limit\n", r->memory_mb);
	} else if (res->timed_out)
		snprintf(line, sizeof line, "coderunner: the script timed out: it was killed after the %g s timeout\n", r->timeout_s);
	else if (res->memory_starved)
		snprintf(line, sizeof line, "coderunner: the script was killed for memory: the host had no more "
			 "to give it, below its %u MB limit\n", r->memory_mb);
	else if (res->oom_killed)
		snprintf(line, sizeof line, "coderunner: the script was killed for exceeding the %u MB memory limit\n",
			 r->memory_mb);
	else
		return;
	if (res->err.len && res->err.data[res->err.len - 1] != '\n')
		buf_putc(&res->err, '\n');
	buf_puts(&res->err, line);
}

static void encode_result(struct buf *b, struct run_result *res, const struct run_request *r,
			  const struct buf *artifacts, const struct buf *omitted, size_t unnamed)
{
	char mem[32];
	double mb = res->memory_peak_kb > 0 ? (double)res->memory_peak_kb / 1024.0 : 0.0;
	snprintf(mem, sizeof mem, "%.1f", mb);
	buf_reserve(b, res->out.len + res->err.len + artifacts->len + 512);
	buf_printf(b, "{\"exit_code\": %d, \"stdout\": ", res->exit_code);
	json_put_string(b, res->out.data, res->out.len);
	buf_puts(b, ", \"stderr\": ");
	json_put_string(b, res->err.data, res->err.len);
	buf_puts(b, ", \"artifacts\": {");
	buf_put(b, artifacts->data, artifacts->len);
	buf_printf(b, "}, \"duration_ms\": %ld, \"memory_peak_mb\": %s, "
		   "\"stdout_truncated\": %s, \"stderr_truncated\": %s",
		   res->duration_ms > 0 ? res->duration_ms : 0, mem,
		   res->out_truncated ? "true" : "false", res->err_truncated ? "true" : "false");
	if (omitted->len) {
		buf_puts(b, ", \"artifacts_omitted\": [");
		buf_put(b, omitted->data, omitted->len);
		buf_putc(b, ']');
	}
	if (unnamed)
		buf_printf(b, ", \"artifacts_omitted_unnamed\": %zu", unnamed);
	if (r->has_packages) {
		buf_puts(b, ", \"packages\": {");
		buf_put(b, r->packages.data, r->packages.len);
		buf_putc(b, '}');
	}
	if (r->warnings.len) {
		buf_puts(b, ", \"warnings\": [");
		buf_put(b, r->warnings.data, r->warnings.len);
		buf_putc(b, ']');
	}
	buf_puts(b, "}\n");
}

void api_run(struct request_ctx *ctx)
{
	const struct config *c = &service.cfg;
	struct http_error e = { 0, "" };
	struct run_request r;
	request_init(&r);

	if (request_body(ctx, (size_t)c->max_body_mib * MIB, &e) < 0 ||
	    request_parse(c, ctx->content_type, ctx->query, ctx->body, ctx->body_len, &r, &e) < 0 ||
	    packages_prepare(ctx, c, &r, &e) < 0) {
		fail(ctx, &e, &r.warnings);
		request_free(&r);
		return;
	}

	char dir[4200] = "";
	struct run_result res;
	if (run_script(ctx, &r, &res, dir, sizeof dir, &e) < 0) {
		response_error(&ctx->rsp, e.status, e.message, &r.warnings);
		stage_remove(dir);
		request_free(&r);
		return;
	}

	if (res.fault[0]) {
		http_fail(&e, 500, "internal error: %s", res.fault);
		fail(ctx, &e, &r.warnings);
	} else {
		struct buf artifacts = { 0 }, omitted = { 0 };
		char out[4300];
		snprintf(out, sizeof out, "%s/output", dir);
		size_t unnamed = artifacts_collect(out, (size_t)c->max_artifacts_mib * MIB, &res,
						   &artifacts, &omitted);
		explain_kill(&res, &r);
		ctx->rsp.status = 200;
		buf_reset(&ctx->rsp.body);
		encode_result(&ctx->rsp.body, &res, &r, &artifacts, &omitted, unnamed);
		buf_free(&artifacts);
		buf_free(&omitted);
	}
	stage_remove(dir);
	run_result_free(&res);
	request_free(&r);
}
