/* pyrunner.c — POST /run, PyRunner's dialect.
 *
 * {"code": str, "timeout": int 1..300 = 30, "memory_limit": int MB 64..2048 =
 * 512}. A request that breaks a rule is a 422 whose "detail" lists every
 * broken rule the way FastAPI with pydantic 2 does (same "type" and "msg"),
 * so PyRunner's clients read it unchanged; unknown fields are refused too.
 * The code runs under the script runner (runners/script.py), which says on a
 * channel of its own which exception ended the script and on which line:
 * "error" ("NameError on line 1") comes from that, never from stderr, which
 * the script controls. There is no import allow-list: the kernel isolates.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/fcgi.h"

#define MIB (1024u * 1024u)
#define CODE_MAX_BYTES (1024u * 1024u)

/* One entry of "detail"; ctx_key/ctx_value add pydantic's "ctx" when set. */
static void detail(struct buf *d, const char *field, const char *type, const char *msg,
		   const char *ctx_key, long ctx_value)
{
	buf_puts(d, d->len ? ", " : "");
	buf_puts(d, "{\"type\": ");
	json_put_cstring(d, type);
	buf_puts(d, ", \"loc\": [\"body\"");
	if (field) {
		buf_puts(d, ", ");
		json_put_cstring(d, field);
	}
	buf_puts(d, "], \"msg\": ");
	json_put_cstring(d, msg);
	if (ctx_key)
		buf_printf(d, ", \"ctx\": {\"%s\": %ld}", ctx_key, ctx_value);
	buf_putc(d, '}');
}

/* An integer field in [min, max], with pydantic's lax rules: 30, 30.0 and
 * "30" are 30; true, 30.5, "abc" and null are not integers. */
static void check_int(struct buf *d, json_object *v, const char *field, long min, long max, long *out)
{
	char msg[96];
	long n;
	if (json_object_is_type(v, json_type_int)) {
		int64_t x = json_object_get_int64(v);
		n = x < min ? min - 1 : x > max ? max + 1 : (long)x;
	} else if (json_object_is_type(v, json_type_double)) {
		double x = json_object_get_double(v);
		if (!isfinite(x) || x != floor(x)) {
			detail(d, field, "int_from_float",
			       "Input should be a valid integer, got a number with a fractional part", NULL, 0);
			return;
		}
		n = x < min ? min - 1 : x > max ? max + 1 : (long)x;
	} else if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		char *end;
		long long x = strtoll(s, &end, 10);
		/* All of it: "5\u0000x" is no integer, though C reads "5". */
		if (!*s || end == s || end != s + json_object_get_string_len(v)) {
			detail(d, field, "int_parsing",
			       "Input should be a valid integer, unable to parse string as an integer", NULL, 0);
			return;
		}
		n = x < min ? min - 1 : x > max ? max + 1 : (long)x;
	} else {
		detail(d, field, "int_type", "Input should be a valid integer", NULL, 0);
		return;
	}
	if (n < min) {
		snprintf(msg, sizeof msg, "Input should be greater than or equal to %ld", min);
		detail(d, field, "greater_than_equal", msg, "ge", min);
	} else if (n > max) {
		snprintf(msg, sizeof msg, "Input should be less than or equal to %ld", max);
		detail(d, field, "less_than_equal", msg, "le", max);
	} else
		*out = n;
}

json_object *pyrunner_parse(const struct config *c, const char *body, size_t len,
			    struct pyrunner_request *r, struct buf *d)
{
	long max_timeout = c->timeout_max_s < 300 ? (long)c->timeout_max_s : 300;
	long max_memory = c->memory_max_mb < 2048 ? (long)c->memory_max_mb : 2048;
	*r = (struct pyrunner_request){
		.timeout = max_timeout < 30 ? max_timeout : 30,
		.memory_limit = max_memory < 512 ? max_memory : 512,
	};
	struct http_error e;
	json_object *tree = request_json_object(c, body, len, "{\"code\": \"print(1)\"}", &e);
	if (!tree) {
		buf_puts(d, "{\"type\": \"json_invalid\", \"loc\": [\"body\"], \"msg\": \"JSON decode error\", "
			 "\"ctx\": {\"error\": ");
		json_put_cstring(d, e.message);
		buf_puts(d, "}}");
		return NULL;
	}
	/* A null stands for itself, as in pydantic: not a missing field. */
	json_object *code, *timeout, *memory;
	bool has_code = json_object_object_get_ex(tree, "code", &code);
	bool has_timeout = json_object_object_get_ex(tree, "timeout", &timeout);
	bool has_memory = json_object_object_get_ex(tree, "memory_limit", &memory);
	if (!has_code) {
		detail(d, "code", "missing", "Field required", NULL, 0);
	} else if (!json_object_is_type(code, json_type_string)) {
		detail(d, "code", "string_type", "Input should be a valid string", NULL, 0);
	} else {
		r->code = json_object_get_string(code);
		r->code_len = (size_t)json_object_get_string_len(code);
		if (r->code_len < 1)
			detail(d, "code", "string_too_short", "String should have at least 1 character",
			       "min_length", 1);
		else if (strspn(r->code, " \t\r\n\f\v") == r->code_len)
			/* PyRunner's own tests expect code of blanks to be refused, not run. */
			detail(d, "code", "value_error", "Value error, code must not be empty or only whitespace",
			       NULL, 0);
		else if (r->code_len > CODE_MAX_BYTES)
			detail(d, "code", "string_too_long", "String should have at most 1048576 bytes",
			       "max_length", CODE_MAX_BYTES);
	}
	if (has_timeout)
		check_int(d, timeout, "timeout", 1, max_timeout, &r->timeout);
	if (has_memory)
		check_int(d, memory, "memory_limit", 64, max_memory, &r->memory_limit);
	/* Other fields are ignored, as a pydantic model does by default: a
	 * client that sent one to PyRunner (a "language", say) still runs. */
	return tree;
}

/* What the runner said on its channel: the exception and its line. */
static void runner_report(const struct run_result *res, char *exception, size_t len, int *line)
{
	exception[0] = '\0';
	*line = 0;
	if (!res->channel.len)
		return;
	json_object *o = json_tokener_parse(res->channel.data), *v;
	if (o && json_object_is_type(o, json_type_object)) {
		if (json_object_object_get_ex(o, "exception", &v) && json_object_is_type(v, json_type_string)) {
			const char *name = json_object_get_string(v);
			snprintf(exception, len, "%.*s", (int)utf8_prefix(name, strlen(name), len - 1), name);
		}
		if (json_object_object_get_ex(o, "line", &v) && json_object_is_type(v, json_type_int))
			*line = json_object_get_int(v);
	}
	json_object_put(o);
}

static void encode(struct buf *b, const struct run_result *res, const struct pyrunner_request *p)
{
	char error[200] = "", exception[100];
	int line;
	const char *status = "success";
	runner_report(res, exception, sizeof exception, &line);
	/* Under the rlimit fallback Python meets the limit as a MemoryError;
	 * under cgroup v2 the kernel kills it: both are the limit. */
	if (res->timed_out) {
		status = "timeout";
		snprintf(error, sizeof error, "Execution timed out after %ld seconds", p->timeout);
	} else if (res->oom_killed || res->memory_error) {
		status = "memory_exceeded";
		snprintf(error, sizeof error, "Memory limit of %u MB exceeded", run_memory_mb((unsigned)p->memory_limit));
	} else if (res->exit_code != 0) {
		status = "error";
		if (*exception && line > 0)
			snprintf(error, sizeof error, "%s on line %d", exception, line);
		else if (*exception)
			snprintf(error, sizeof error, "%s", exception);
		else if (res->signal)
			snprintf(error, sizeof error, "killed by signal %d", res->signal);
		else
			snprintf(error, sizeof error, "exited with status %d", res->exit_code);
	}
	char seconds[32], megabytes[32];
	snprintf(seconds, sizeof seconds, "%.3f", res->duration_ms > 0 ? res->duration_ms / 1000.0 : 0.0);
	snprintf(megabytes, sizeof megabytes, "%.1f", res->memory_peak_kb > 0 ? res->memory_peak_kb / 1024.0 : 0.0);
	buf_reserve(b, res->out.len + res->err.len + 512);
	buf_printf(b, "{\"status\": \"%s\", \"stdout\": ", status);
	json_put_string(b, res->out.data, res->out.len);
	buf_puts(b, ", \"stderr\": ");
	json_put_string(b, res->err.data, res->err.len);
	buf_printf(b, ", \"execution_time\": %s, \"memory_used\": %s, \"error\": ", seconds, megabytes);
	if (*error)
		json_put_cstring(b, error);
	else
		buf_puts(b, "null");
	buf_puts(b, "}\n");
}

/* FastAPI's shape for an error that is not a validation error. */
static void fail(struct request_ctx *ctx, const struct http_error *e)
{
	response_detail(&ctx->rsp, e->status, e->message);
	if (e->status >= 500)
		log_note(&ctx->log, e->message);
}

void api_pyrunner(struct request_ctx *ctx)
{
	const struct config *c = &service.cfg;
	struct http_error e = { 0, "" };
	if (request_body(ctx, (size_t)c->max_body_mib * MIB, &e) < 0) {
		fail(ctx, &e);
		return;
	}
	struct pyrunner_request p;
	struct buf d = { 0 };
	json_object *tree = pyrunner_parse(c, ctx->body, ctx->body_len, &p, &d);
	if (d.len) {
		ctx->rsp.status = 422;
		buf_reset(&ctx->rsp.body);
		buf_puts(&ctx->rsp.body, "{\"detail\": [");
		buf_put(&ctx->rsp.body, d.data, d.len);
		buf_puts(&ctx->rsp.body, "]}\n");
		buf_free(&d);
		json_object_put(tree);
		return;
	}

	struct run_request r;
	request_init(&r);
	r.script = p.code;
	r.script_len = p.code_len;
	r.entry_point = "main.py";
	r.timeout_s = (double)p.timeout;
	r.memory_mb = (unsigned)p.memory_limit;
	r.runner = runner_script;

	struct run_result res;
	char dir[4200] = "";
	if (run_script(ctx, &r, &res, dir, sizeof dir, &e) < 0) {
		fail(ctx, &e);
	} else if (res.fault[0]) {
		/* The script never ran: a 500, in the shape PyRunner's clients
		 * read, with no figures of a run that did not happen. */
		http_fail(&e, 500, "internal error: %s", res.fault);
		ctx->rsp.status = 500;
		buf_reset(&ctx->rsp.body);
		buf_puts(&ctx->rsp.body, "{\"status\": \"error\", \"stdout\": \"\", \"stderr\": \"\", "
			 "\"execution_time\": 0, \"memory_used\": 0, \"error\": ");
		json_put_cstring(&ctx->rsp.body, e.message);
		buf_puts(&ctx->rsp.body, ", \"detail\": ");
		json_put_cstring(&ctx->rsp.body, e.message);
		buf_puts(&ctx->rsp.body, "}\n");
		log_note(&ctx->log, e.message);
		run_result_free(&res);
	} else {
		ctx->rsp.status = 200;
		buf_reset(&ctx->rsp.body);
		encode(&ctx->rsp.body, &res, &p);
		run_result_free(&res);
	}
	stage_remove(dir);
	request_free(&r);
	json_object_put(tree);
}
