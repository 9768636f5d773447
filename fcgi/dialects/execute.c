/* execute.c — POST /execute, the main() runners' dialect.
 *
 * {"script": str}: the script runs in the sandbox under the main() runner
 * (runners/execute.py), which imports it as a module, calls main() and sends
 * what it returned on a channel of its own, fd 4: whatever the script prints
 * stays in "stdout" and can never pass for "result". The channel holds one
 * JSON line saying whether main() returned, then the result's JSON text.
 * That text is checked against the JSON grammar and copied as it is, so big
 * integers and floats keep every digit, and even a script that writes on
 * fd 4 itself cannot make the response anything but well-formed JSON.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "fcgi/fcgi.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

/* {"error": ...}, with what the script printed when it ran; the message
 * len bytes, NULs a script's exception held among them. */
static void answer_error_len(struct request_ctx *ctx, int status, const char *message, size_t len,
			     const struct run_result *res)
{
	struct buf *b = &ctx->rsp.body;
	ctx->rsp.status = status;
	buf_reset(b);
	buf_puts(b, "{\"error\": ");
	json_put_string(b, message, len);
	if (res) {
		buf_puts(b, ", \"stdout\": ");
		json_put_string(b, res->out.data, res->out.len);
	}
	buf_puts(b, "}\n");
	if (status >= 500)
		log_note(&ctx->log, message);
}

static void answer_error(struct request_ctx *ctx, int status, const char *message,
			 const struct run_result *res)
{
	answer_error_len(ctx, status, message, strlen(message), res);
}

/* The script's text, or NULL after answering why there is none; *tree
 * holds it and is the caller's to put. */
static const char *parse(struct request_ctx *ctx, const struct config *c, json_object **tree,
			 size_t *len)
{
	struct http_error e = { 0, "" };
	const char *example = "{\"script\": \"def main():\\n    return 42\"}";
	json_object *script;
	if (request_body(ctx, (size_t)c->max_body_mib * MIB, &e) < 0 ||
	    !(*tree = request_json_object(c, ctx->body, ctx->body_len, example, &e))) {
		answer_error(ctx, e.status, e.message, NULL);
		return NULL;
	}
	if (!json_object_object_get_ex(*tree, "script", &script) || json_object_is_type(script, json_type_null)) {
		answer_error(ctx, 400, "script is required: Python source that defines main()", NULL);
		return NULL;
	}
	if (!json_object_is_type(script, json_type_string)) {
		answer_error(ctx, 400, "script must be a string of Python source that defines main()", NULL);
		return NULL;
	}
	*len = (size_t)json_object_get_string_len(script);
	if (*len > (size_t)c->execute_max_script_kib * KIB) {
		char msg[128];
		snprintf(msg, sizeof msg, "Invalid script size: %zu bytes; the limit is %u KiB", *len,
			 c->execute_max_script_kib);
		answer_error(ctx, 413, msg, NULL);
		return NULL;
	}
	if (*len == 0) {
		answer_error(ctx, 400, "script is empty; it must define main()", NULL);
		return NULL;
	}
	return json_object_get_string(script);
}

/* The runner's answer: a JSON line, and after it the result when "ok". */
static void answer(struct request_ctx *ctx, const struct config *c, const struct run_result *res)
{
	char msg[600];
	if (res->timed_out) {
		snprintf(msg, sizeof msg, "Script execution timed out (%u s limit)", c->execute_timeout_s);
		answer_error(ctx, 408, msg, res);
		return;
	}
	const char *text = res->channel.data ? res->channel.data : "";
	const char *nl = memchr(text, '\n', res->channel.len);
	size_t head_len = nl ? (size_t)(nl - text) : res->channel.len;
	json_object *head = NULL, *v;
	if (head_len) {
		json_tokener *tok = json_tokener_new_ex(8);
		if (!tok)
			die("out of memory creating a JSON parser");
		head = json_tokener_parse_ex(tok, text, (int)head_len);
		bool whole = json_tokener_get_parse_end(tok) == head_len;
		json_tokener_free(tok);
		if (head && (!whole || !json_object_is_type(head, json_type_object))) {
			json_object_put(head);
			head = NULL;
		}
	}
	bool returned = head && json_object_object_get_ex(head, "ok", &v) &&
		json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);

	/* Under the rlimit fallback Python meets the limit as a MemoryError;
	 * under cgroup v2 the kernel kills it: both are the limit. */
	if (res->oom_killed || res->memory_error) {
		snprintf(msg, sizeof msg, "Script exceeded the memory limit (%u MB)", run_memory_mb(c->execute_memory_mb));
		answer_error(ctx, 400, msg, res);
	} else if (returned && res->channel_truncated) {
		snprintf(msg, sizeof msg, "main() returned more than %u KiB of JSON", c->max_output_kib);
		answer_error(ctx, 400, msg, res);
	} else if (returned && nl && json_check(nl + 1, res->channel.len - head_len - 1, EXECUTE_RESULT_MAX_DEPTH)) {
		struct buf *b = &ctx->rsp.body;
		size_t result_len = res->channel.len - head_len - 1;
		ctx->rsp.status = 200;
		buf_reset(b);
		buf_reserve(b, result_len + res->out.len + 64);
		buf_puts(b, "{\"result\": ");
		buf_put(b, nl + 1, result_len);
		buf_puts(b, ", \"stdout\": ");
		json_put_string(b, res->out.data, res->out.len);
		buf_puts(b, "}\n");
	} else if (!returned && head && json_object_object_get_ex(head, "error", &v) &&
		   json_object_is_type(v, json_type_string)) {
		const char *error = json_object_get_string(v);
		answer_error_len(ctx, 400, error,
				 utf8_prefix(error, (size_t)json_object_get_string_len(v), sizeof msg - 1), res);
	} else if (head_len || returned) {
		answer_error(ctx, 400, "the answer of main() could not be read: did the script write on fd 4?", res);
	} else if (res->signal) {
		snprintf(msg, sizeof msg, "the script was killed by signal %d before main() returned", res->signal);
		answer_error(ctx, 400, msg, res);
	} else {
		snprintf(msg, sizeof msg, "the script ended with exit status %d before main() returned", res->exit_code);
		answer_error(ctx, 400, msg, res);
	}
	json_object_put(head);
}

void api_execute(struct request_ctx *ctx)
{
	const struct config *c = &service.cfg;
	json_object *tree = NULL;
	size_t len = 0;
	const char *script = parse(ctx, c, &tree, &len);
	if (!script) {
		json_object_put(tree);
		return;
	}

	struct run_request r;
	request_init(&r);
	r.script = script;
	r.script_len = len;
	r.entry_point = "main.py";
	r.timeout_s = c->execute_timeout_s;
	r.memory_mb = c->execute_memory_mb;
	r.runner = runner_execute;

	struct http_error e = { 0, "" };
	struct run_result res;
	char dir[4200] = "";
	if (run_script(ctx, &r, &res, dir, sizeof dir, &e) < 0) {
		answer_error(ctx, e.status, e.message, NULL);
	} else if (res.fault[0]) {
		http_fail(&e, 500, "internal error: %s", res.fault);
		answer_error(ctx, 500, e.message, NULL);
		run_result_free(&res);
	} else {
		answer(ctx, c, &res);
		run_result_free(&res);
	}
	stage_remove(dir);
	request_free(&r);
	json_object_put(tree);
}
