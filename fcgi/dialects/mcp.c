/* mcp.c — POST /mcp: the Model Context Protocol over Streamable HTTP.
 *
 * One JSON-RPC message per POST, answered with one JSON object (revisions
 * 2025-06-18 and 2025-11-25; 2025-03-26 is taken as well, being what a
 * request without MCP-Protocol-Version means). No session is kept: every
 * call stands alone, as a run does. Methods: initialize, ping, tools/list,
 * tools/call; notifications and responses are taken with 202 and no body.
 *
 * The two tools are the service's own dialects: tools/call builds the body
 * that POST /api/run (run_python) or POST /execute (execute_main) would get
 * and hands it to that handler, so validation, limits and runs are theirs,
 * word for word. Their JSON answer becomes the tool's result: stdout,
 * stderr and the exit status as text, image artifacts as images, other
 * artifacts as embedded resources, the whole answer as structuredContent,
 * and isError when the script failed or could not run.
 *
 * Who may call is checked before (router.c): the Host and Origin must be
 * names the operator allowed, against DNS rebinding.
 */
#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fcgi/fcgi.h"

#define MIB (1024u * 1024u)
#define MCP_LATEST "2025-11-25"

/* JSON-RPC 2.0 error codes. */
#define RPC_PARSE_ERROR -32700
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS -32602

/* The revisions initialize agrees to. 2025-03-26 is only taken in the
 * header: agreed to, it would bind us to its JSON-RPC batches. */
static const char *const versions[] = { "2025-11-25", "2025-06-18" };

static bool spoken(const char *v)
{
	for (size_t i = 0; v && i < sizeof versions / sizeof *versions; i++)
		if (strcmp(v, versions[i]) == 0)
			return true;
	return false;
}

bool mcp_version_supported(const char *v)
{
	return spoken(v) || (v && strcmp(v, "2025-03-26") == 0);
}

/* The answer: a JSON body, or the last event of a stream the answer has
 * turned into (progress, below), whose 200 is sent already. */
static void send_message(struct request_ctx *ctx, int status, json_object *msg)
{
	buf_reset(&ctx->rsp.body);
	if (ctx->rsp.streamed)
		buf_puts(&ctx->rsp.body, "event: message\ndata: ");
	else
		ctx->rsp.status = status;
	/* One line: json-c escapes every newline in a string. */
	buf_puts(&ctx->rsp.body, json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	buf_puts(&ctx->rsp.body, ctx->rsp.streamed ? "\n\n" : "\n");
	json_object_put(msg);
}

static json_object *envelope(json_object *id)
{
	json_object *m = json_object_new_object();
	json_object_object_add(m, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(m, "id", id ? json_object_get(id) : NULL);
	return m;
}

void mcp_error(struct request_ctx *ctx, int status, json_object *id, int code, const char *message)
{
	json_object *m = envelope(id), *err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	json_object_object_add(m, "error", err);
	send_message(ctx, status, m);
	if (status != 200)
		log_note(&ctx->log, message);
}

static void send_result(struct request_ctx *ctx, json_object *id, json_object *result)
{
	json_object *m = envelope(id);
	json_object_object_add(m, "result", result);
	send_message(ctx, 200, m);
}

/* ---- initialize ------------------------------------------------------- */

static json_object *initialize(json_object *params)
{
	json_object *v, *r = json_object_new_object(), *caps = json_object_new_object(),
			*tools = json_object_new_object(), *info = json_object_new_object();
	const char *asked = params && json_object_object_get_ex(params, "protocolVersion", &v) ?
			    json_object_get_string(v) : NULL;
	json_object_object_add(r, "protocolVersion",
			       json_object_new_string(spoken(asked) ? asked : MCP_LATEST));
	json_object_object_add(tools, "listChanged", json_object_new_boolean(0));
	json_object_object_add(caps, "tools", tools);
	json_object_object_add(r, "capabilities", caps);
	json_object_object_add(info, "name", json_object_new_string("coderunner"));
	json_object_object_add(info, "title", json_object_new_string("coderunner: sandboxed Python"));
	json_object_object_add(info, "version", json_object_new_string(PACKAGE_VERSION_STRING));
	json_object_object_add(r, "serverInfo", info);
	json_object_object_add(r, "instructions", json_object_new_string(
		"Runs Python 3 scripts in a fresh sandbox per call: no network, nothing kept between "
		"calls. Use run_python for scripts (print results, save charts and files into "
		"./output to get them back); use execute_main to call a script's main() and get "
		"its return value as JSON."));
	return r;
}

/* ---- tools/list -------------------------------------------------------- */

/* The tools, with the operator's limits in their schemas. */
static json_object *tool_list(const struct config *c)
{
	char text[6144];
	snprintf(text, sizeof text,
		"[{\"name\": \"run_python\", \"title\": \"Run Python\","
		" \"description\": \"Run a Python 3 script in a fresh, isolated sandbox and get back its exit code, "
		"stdout, stderr and every file it wrote under ./output (images come back as images, other files as "
		"resources). There is no network access and nothing persists between calls. numpy, pandas, "
		"matplotlib (Agg backend), scipy, scikit-learn, sympy, Pillow and the standard library are "
		"installed. Give either script (run as main.py) or files with entry_point. Files given in context "
		"are in ./input/. Print what you want to read; save charts with savefig('output/NAME.png').\","
		" \"inputSchema\": {\"type\": \"object\", \"properties\": {"
		"\"script\": {\"type\": \"string\", \"description\": \"Python source, run as main.py. At most %u KiB.\"},"
		"\"files\": {\"type\": \"object\", \"description\": \"Instead of script: a program of several files, "
		"path -> content (UTF-8 text, or {content, encoding: base64}); run with entry_point.\","
		" \"additionalProperties\": {\"$ref\": \"#/$defs/content\"}},"
		"\"entry_point\": {\"type\": \"string\", \"description\": \"With files: the key of the file to run, ending in .py.\"},"
		"\"context\": {\"type\": \"object\", \"description\": \"Input files put in ./input/ before the script "
		"runs: name -> content (UTF-8 text, or {content, encoding: base64}). Not with files.\","
		" \"additionalProperties\": {\"$ref\": \"#/$defs/content\"}},"
		"\"stdin\": {\"type\": \"string\", \"description\": \"Standard input of the script.\"},"
		"\"timeout_s\": {\"type\": \"number\", \"exclusiveMinimum\": 0, \"description\": "
		"\"Wall-clock limit in seconds: default %u, larger values are clamped to %u. The script is killed "
		"with exit code 124 when it passes.\"},"
		"\"memory_mb\": {\"type\": \"integer\", \"minimum\": 64, \"maximum\": %u, \"description\": "
		"\"Memory limit in MB (default %u); exit code 137 when the script exceeds it.\"},"
		"\"dependencies\": {\"type\": \"array\", \"maxItems\": %u, \"items\": {\"type\": \"string\"}, "
		"\"description\": \"Packages the script needs, each a name with at most one version clause "
		"(numpy, pandas>=1.5). One the service has installed costs nothing; another is installed from the operator's package index when installs are on (GET /), else the call fails saying what is installed.\"}},"
		" \"additionalProperties\": false,"
		" \"$defs\": {\"content\": {\"oneOf\": [{\"type\": \"string\"}, {\"type\": \"object\", \"properties\": "
		"{\"content\": {\"type\": \"string\"}, \"encoding\": {\"enum\": [\"utf-8\", \"base64\"]}}, "
		"\"required\": [\"content\"]}]}}}},"
		" {\"name\": \"execute_main\", \"title\": \"Call main()\","
		" \"description\": \"Run a Python 3 script that defines main() in a fresh, isolated sandbox, call "
		"main() and get back what it returned, as JSON, with what it printed. The return value must be "
		"JSON-serialisable. No network; at most %u s and %u MB per call.\","
		" \"inputSchema\": {\"type\": \"object\", \"properties\": {"
		"\"script\": {\"type\": \"string\", \"description\": \"Python source that defines main(). At most %u KiB.\"}},"
		" \"required\": [\"script\"], \"additionalProperties\": false}}]",
		c->max_script_kib, c->timeout_default_s, c->timeout_max_s, c->memory_max_mb,
		c->memory_default_mb, c->max_dependencies, c->execute_timeout_s, c->execute_memory_mb,
		c->execute_max_script_kib);
	json_object *tools = json_tokener_parse(text);
	if (!tools)
		die("the MCP tool list is not JSON");
	json_object *r = json_object_new_object();
	json_object_object_add(r, "tools", tools);
	return r;
}

/* ---- tools/call -------------------------------------------------------- */

/* An image's type, from its name and its first bytes, which must agree: a
 * file a script named chart.png but filled with text would be an image an
 * MCP client cannot show, and fail on; it goes as a resource instead.
 * HEAD: up to 12 of its first bytes (SVG, text, is taken by its name). In
 * a format's signature, '?' stands for any byte. */
static const char *image_type(const char *name, const unsigned char *head, size_t n)
{
	static const struct { const char *ext, *type, *magic; } images[] = {
		{ ".png", "image/png", "\x89PNG\r\n\x1a\n" },
		{ ".jpg", "image/jpeg", "\xff\xd8\xff" },
		{ ".jpeg", "image/jpeg", "\xff\xd8\xff" },
		{ ".gif", "image/gif", "GIF8?a" },
		{ ".webp", "image/webp", "RIFF????WEBP" },
		{ ".svg", "image/svg+xml", "" },
	};
	size_t len = strlen(name);
	for (size_t i = 0; i < sizeof images / sizeof *images; i++) {
		size_t e = strlen(images[i].ext), m = strlen(images[i].magic);
		if (len <= e || strcasecmp(name + len - e, images[i].ext) != 0)
			continue;
		if (n < m)
			return NULL;
		for (size_t at = 0; at < m; at++)
			if (images[i].magic[at] != '?' && (unsigned char)images[i].magic[at] != head[at])
				return NULL;
		return images[i].type;
	}
	return NULL;
}

/* The type of a text file, by its name: a client shows a CSV, JSON or
 * HTML resource as what it is, not as plain text. */
static const char *text_type(const char *name)
{
	static const struct { const char *ext, *type; } texts[] = {
		{ ".csv", "text/csv" }, { ".tsv", "text/tab-separated-values" }, { ".json", "application/json" },
		{ ".html", "text/html" }, { ".htm", "text/html" }, { ".md", "text/markdown" },
		{ ".xml", "application/xml" }, { ".yaml", "application/yaml" }, { ".yml", "application/yaml" },
		{ ".py", "text/x-python" }, { ".js", "text/javascript" }, { ".css", "text/css" },
	};
	size_t len = strlen(name);
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
		size_t e = strlen(texts[i].ext);
		if (len > e && strcasecmp(name + len - e, texts[i].ext) == 0)
			return texts[i].type;
	}
	return "text/plain";
}

static void add_text(json_object *content, const char *text, size_t len)
{
	json_object *t = json_object_new_object();
	json_object_object_add(t, "type", json_object_new_string("text"));
	json_object_object_add(t, "text", json_object_new_string_len(text, (int)len));
	json_object_array_add(content, t);
}

/* An artifact: a string (UTF-8 text) or {"content": base64, "encoding": "base64"}. */
static void add_artifact(json_object *content, const char *name, json_object *value)
{
	json_object *data;
	bool text = json_object_is_type(value, json_type_string);
	if (!text && !json_object_object_get_ex(value, "content", &data))
		return;
	const char *s = json_object_get_string(text ? value : data);
	size_t len = (size_t)json_object_get_string_len(text ? value : data);
	unsigned char head[12];
	ssize_t n = text ? (ssize_t)(len < sizeof head ? len : sizeof head) :
		base64_decode(s, len < 16 ? len : 16, head);	/* 16 digits: 12 bytes */
	if (text)
		memcpy(head, s, (size_t)n);
	const char *image = image_type(name, head, n > 0 ? (size_t)n : 0);
	json_object *item = json_object_new_object();
	struct buf b64 = { 0 };
	if (image) {
		if (text)
			base64_encode(&b64, (const unsigned char *)s, len);
		json_object_object_add(item, "type", json_object_new_string("image"));
		json_object_object_add(item, "data", text ? json_object_new_string_len(b64.data, (int)b64.len) :
							   json_object_new_string_len(s, (int)len));
		json_object_object_add(item, "mimeType", json_object_new_string(image));
	} else {
		json_object *res = json_object_new_object();
		struct buf uri = { 0 };
		/* RFC 3986: every byte but the unreserved ones and the
		 * path's slashes is percent-encoded. */
		buf_puts(&uri, "file:///work/output/");
		for (const unsigned char *p = (const unsigned char *)name; *p; p++)
			if (isalnum(*p) || strchr("-._~/", *p))
				buf_putc(&uri, (char)*p);
			else
				buf_printf(&uri, "%%%02X", *p);
		json_object_object_add(res, "uri", json_object_new_string(uri.data));
		json_object_object_add(res, "mimeType", json_object_new_string(text ? text_type(name) :
									      "application/octet-stream"));
		json_object_object_add(res, text ? "text" : "blob", json_object_new_string_len(s, (int)len));
		json_object_object_add(item, "type", json_object_new_string("resource"));
		json_object_object_add(item, "resource", res);
		buf_free(&uri);
	}
	buf_free(&b64);
	json_object_array_add(content, item);
}

/* The string field KEY, all of it: the NULs a script wrote (\u0000) and
 * what follows them. */
static void put_field(struct buf *t, json_object *o, const char *key)
{
	json_object *v;
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		buf_put(t, json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

/* "\nLABEL:\n" and the string field KEY, when there is one and it is not
 * empty. An agent reads this text, not KEY_truncated: a stream the
 * service cut says so here, or its end would pass for the script's. */
static void put_output(struct buf *t, json_object *o, const char *key, const char *label)
{
	json_object *v;
	char flag[64];
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string) ||
	    !json_object_get_string_len(v))
		return;
	snprintf(flag, sizeof flag, "%s_truncated", key);
	bool cut = json_object_object_get_ex(o, flag, &v) && json_object_get_boolean(v);
	buf_printf(t, "\n%s%s:\n", label, cut ? " (truncated: the script wrote more than the service keeps)" : "");
	put_field(t, o, key);
}

/* "\nLABEL:\n" and each string of the array field KEY on a line, when it
 * has any; whether it had. */
static bool put_lines(struct buf *t, json_object *o, const char *key, const char *label)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array) ||
	    !json_object_array_length(v))
		return false;
	buf_printf(t, "\n%s:\n", label);
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *s = json_object_array_get_idx(v, i);
		if (json_object_is_type(s, json_type_string)) {
			buf_put(t, json_object_get_string(s), (size_t)json_object_get_string_len(s));
			buf_putc(t, '\n');
		}
	}
	return true;
}

/* The text an agent reads first: how the run ended, then its output.
 * /execute answers a main() that raised, timed out or gave back what JSON
 * cannot hold with a 4xx, and with "stdout" only when the script ran: that
 * script did run, and what it printed is what explains why. */
static void add_summary(json_object *content, const char *tool, int status, json_object *answer)
{
	struct buf t = { 0 };
	json_object *v;
	if (!strcmp(tool, "execute_main") && json_object_object_get_ex(answer, "stdout", NULL)) {
		if (status == 200 && json_object_object_get_ex(answer, "result", &v)) {
			buf_printf(&t, "main() returned: %s",
				   json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		} else {
			buf_puts(&t, "main() did not return: ");
			put_field(&t, answer, "error");
		}
		put_output(&t, answer, "stdout", "stdout");
	} else if (status != 200) {
		/* A 500 or 502 may come after the script started (its sandbox
		 * failed, or a stop ended it): not "did not run". */
		buf_printf(&t, "The script %s (HTTP %d): ",
			   status == 500 || status == 502 ? "did not finish" : "did not run", status);
		put_field(&t, answer, "error");
	} else {
		int code = json_object_object_get_ex(answer, "exit_code", &v) ? json_object_get_int(v) : -1;
		buf_printf(&t, "exit code %d", code);
		put_output(&t, answer, "stdout", "stdout");
		put_output(&t, answer, "stderr", "stderr");
	}
	/* An argument the dialect ignored or lowered (a misspelt timeout_s,
	 * say) is named where the agent reads, not only in structuredContent;
	 * and so are the files the script wrote that did not fit in the
	 * answer, or the agent would take the files it got for all there were. */
	put_lines(&t, answer, "warnings", "warnings");
	if (put_lines(&t, answer, "artifacts_omitted", "files written but left out of this answer "
		      "(too large in all, past 1000 files, too deep, or not named in UTF-8)") &&
	    json_object_object_get_ex(answer, "artifacts_omitted_unnamed", &v) && json_object_get_int64(v) > 0)
		buf_printf(&t, "and %lld more\n", (long long)json_object_get_int64(v));
	add_text(content, t.data ? t.data : "", t.len);
	buf_free(&t);
}

/* Whether the answer of a dialect says the script failed. */
static bool failed(const char *tool, int status, json_object *answer)
{
	json_object *v;
	if (status != 200 || json_object_object_get_ex(answer, "error", &v))
		return true;
	if (!strcmp(tool, "execute_main"))
		return false;
	return !json_object_object_get_ex(answer, "exit_code", &v) || json_object_get_int(v) != 0;
}

/* main()'s value as /execute wrote it: json-c would clamp 10**30 to
 * 2**64-1 on the way through, so the parsed value is serialised as the
 * text it came from. */
static void keep_result_text(json_object *answer, const struct buf *body)
{
	static const char head[] = "{\"result\": ";
	json_object *v;
	if (!json_object_object_get_ex(answer, "result", &v) || !v || body->len < sizeof head ||
	    memcmp(body->data, head, sizeof head - 1))
		return;
	const char *text = body->data + sizeof head - 1;
	size_t n = json_value_length(text, body->len - (sizeof head - 1), EXECUTE_RESULT_MAX_DEPTH);
	while (n && isspace((unsigned char)text[n - 1]))
		n--;
	if (!n)
		return;
	char *copy = xmalloc(n + 1);
	memcpy(copy, text, n);
	copy[n] = '\0';
	json_object_set_serializer(v, json_object_userdata_to_json_string, copy, json_object_free_userdata);
}

static json_object *tool_result(const char *tool, int status, const struct buf *body)
{
	/* As deep as /execute lets main()'s value be, and a little more. */
	json_tokener *tok = json_tokener_new_ex(EXECUTE_RESULT_MAX_DEPTH + 2);
	if (!tok)
		die("out of memory creating a JSON parser");
	json_object *answer = json_tokener_parse_ex(tok, body->data ? body->data : "", (int)body->len);
	json_tokener_free(tok);
	if (answer && !strcmp(tool, "execute_main") && status == 200)
		keep_result_text(answer, body);
	if (!answer || !json_object_is_type(answer, json_type_object)) {
		json_object_put(answer);
		answer = json_object_new_object();
		json_object_object_add(answer, "error", json_object_new_string("the run gave no answer"));
		status = status == 200 ? 500 : status;
	}
	json_object *r = json_object_new_object(), *content = json_object_new_array(), *arts;
	add_summary(content, tool, status, answer);
	if (json_object_object_get_ex(answer, "artifacts", &arts) && json_object_is_type(arts, json_type_object)) {
		json_object_object_foreach(arts, name, value)
			add_artifact(content, name, value);
	}
	json_object_object_add(r, "content", content);
	json_object_object_add(r, "structuredContent", answer);
	json_object_object_add(r, "isError", json_object_new_boolean(failed(tool, status, answer)));
	return r;
}

/* ---- progress: a long tools/call as an event stream ------------------ */

/* A client that sends a progressToken and takes an event stream hears every
 * PROGRESS_INTERVAL_MS that its run goes on (notifications/progress, the
 * call's seconds so far), so that its request timeout, which such a client may
 * reset on progress, need not outlast the run (the TypeScript SDK's is 60 s;
 * a run may take 300). The answer turns into an event stream at the first
 * of them, and the response is its last event; a shorter run gets the
 * plain JSON answer. */
#define PROGRESS_INTERVAL_MS 5000

struct progress_stream {
	struct request_ctx *ctx;
	json_object *token;
	long long started, last;	/* the call's start (ms); the last progress sent */
};

/* progress: the call's seconds so far, its install of dependencies
 * included (a run of its own, with ticks of its own), and more each time,
 * as the protocol wants. */
static void progress_tick(void *arg)
{
	struct progress_stream *p = arg;
	if (!p->ctx->rsp.streamed)
		response_stream_start(p->ctx, "text/event-stream");
	long long seconds = (now_ms() - p->started) / 1000;
	p->last = seconds > p->last ? seconds : p->last + 1;
	char text[64];
	snprintf(text, sizeof text, "%lld s so far", p->last);
	json_object *m = json_object_new_object(), *params = json_object_new_object();
	json_object_object_add(m, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(m, "method", json_object_new_string("notifications/progress"));
	json_object_object_add(params, "progressToken", json_object_get(p->token));
	json_object_object_add(params, "progress", json_object_new_int64(p->last));
	json_object_object_add(params, "message", json_object_new_string(text));
	json_object_object_add(m, "params", params);
	struct buf b = { 0 };
	buf_puts(&b, "event: message\ndata: ");
	buf_puts(&b, json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	buf_puts(&b, "\n\n");
	response_stream_put(p->ctx, b.data, b.len);
	buf_free(&b);
	json_object_put(m);
}

/* The call's progressToken (a string or an integer), if the client takes
 * an event stream. */
static json_object *progress_token(const struct request_ctx *ctx, json_object *params)
{
	json_object *meta, *token;
	if (!ctx->accept || !strstr(ctx->accept, "text/event-stream") || !ctx->out ||
	    !json_object_object_get_ex(params, "_meta", &meta) || !json_object_is_type(meta, json_type_object) ||
	    !json_object_object_get_ex(meta, "progressToken", &token) ||
	    !(json_object_is_type(token, json_type_string) || json_object_is_type(token, json_type_int)))
		return NULL;
	return token;
}

/* Runs a tool through its dialect's own handler; NULL with *message set
 * when the call itself is wrong (a protocol error, not a failed script). */
static json_object *call_tool(struct request_ctx *ctx, json_object *params, const char **message)
{
	json_object *name, *args = NULL;
	if (!params || !json_object_object_get_ex(params, "name", &name) ||
	    !json_object_is_type(name, json_type_string)) {
		*message = "tools/call needs params.name: run_python or execute_main";
		return NULL;
	}
	const char *tool = request_json_text(name);
	handler_fn *handler = !tool ? NULL : !strcmp(tool, "run_python") ? api_run :
			      !strcmp(tool, "execute_main") ? api_execute : NULL;
	if (!handler) {
		*message = "unknown tool; the tools are run_python and execute_main";
		return NULL;
	}
	if (json_object_object_get_ex(params, "arguments", &args) && args &&
	    !json_object_is_type(args, json_type_object)) {
		*message = "params.arguments must be an object";
		return NULL;
	}
	const char *body = args ? json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN) : "{}";
	struct progress_stream stream = { ctx, progress_token(ctx, params), now_ms(), 0 };
	struct run_progress progress = { progress_tick, &stream, PROGRESS_INTERVAL_MS,
					 stream.started + PROGRESS_INTERVAL_MS };
	struct request_ctx sub = {
		.method = "POST", .path = ctx->path, .content_type = "application/json",
		.request_id = ctx->request_id, .content_length = (long long)strlen(body), .client_fd = ctx->client_fd,
		.body = xstrdup(body), .body_len = strlen(body), .endpoint = ctx->endpoint, .log = ctx->log,
		.progress = stream.token ? &progress : NULL,
	};
	handler(&sub);
	json_object *r = tool_result(tool, sub.rsp.status, &sub.rsp.body);
	ctx->log = sub.log;
	free(sub.body);
	buf_free(&sub.rsp.body);
	return r;
}

/* ---- the endpoint ------------------------------------------------------ */

void api_mcp(struct request_ctx *ctx)
{
	const struct config *c = &service.cfg;
	struct http_error e = { 0, "" };
	if (ctx->mcp_version && !mcp_version_supported(ctx->mcp_version)) {
		mcp_error(ctx, 400, NULL, RPC_INVALID_REQUEST,
			  "unsupported MCP-Protocol-Version; this server speaks 2025-11-25 and 2025-06-18");
		return;
	}
	if (request_body(ctx, (size_t)c->max_body_mib * MIB, &e) < 0) {
		mcp_error(ctx, e.status, NULL, RPC_INVALID_REQUEST, e.message);
		return;
	}
	json_object *msg;
	if (request_json_value(c, ctx->body, ctx->body_len, &msg,
			       "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/list\"}", &e) < 0) {
		/* not JSON, or more of it than max_json_values (413) */
		mcp_error(ctx, e.status == 413 ? 413 : 400, NULL,
			  e.status == 413 ? RPC_INVALID_REQUEST : RPC_PARSE_ERROR, e.message);
		return;
	}
	json_object *v, *id = NULL, *params = NULL;
	const char *method = NULL;
	if (!json_object_is_type(msg, json_type_object)) {
		mcp_error(ctx, 400, NULL, RPC_INVALID_REQUEST,
			  json_object_is_type(msg, json_type_array) ?
			  "batches are not supported: send one JSON-RPC message per POST" :
			  "invalid request: a JSON-RPC message is an object");
		goto out;
	}
	if (json_object_object_get_ex(msg, "id", &id) && id &&
	    !json_object_is_type(id, json_type_string) && !json_object_is_type(id, json_type_int))
		id = NULL;
	/* json-c makes an integer past 64 bits INT64_MIN or UINT64_MAX without a
	 * word, and the answer would carry another id than the request's. */
	if (id && json_object_is_type(id, json_type_int) &&
	    (json_object_get_int64(id) == INT64_MIN || json_object_get_uint64(id) == UINT64_MAX)) {
		mcp_error(ctx, 400, NULL, RPC_INVALID_REQUEST,
			  "invalid request: the id is an integer beyond 64 bits; send it as a string");
		goto out;
	}
	/* A string: json-c gives null no string at all, and the number 2.0 the
	 * string "2.0". */
	const char *version = json_object_object_get_ex(msg, "jsonrpc", &v) ? request_json_text(v) : NULL;
	if (!version || strcmp(version, "2.0")) {
		mcp_error(ctx, 400, id, RPC_INVALID_REQUEST, "invalid request: jsonrpc must be \"2.0\"");
		goto out;
	}
	if (json_object_object_get_ex(msg, "method", &v) && json_object_is_type(v, json_type_string)) {
		const char *text = request_json_text(v);
		method = text ? text : "";	/* holding a NUL: none we know */
	}
	if (!method || !json_object_object_get_ex(msg, "id", NULL)) {
		/* A notification, or a response to something we never ask: taken. */
		if (!method && !json_object_object_get_ex(msg, "result", NULL) &&
		    !json_object_object_get_ex(msg, "error", NULL)) {
			mcp_error(ctx, 400, id, RPC_INVALID_REQUEST, "invalid request: no method");
			goto out;
		}
		ctx->rsp.status = 202;
		buf_reset(&ctx->rsp.body);
		goto out;
	}
	if (!id) {
		mcp_error(ctx, 400, NULL, RPC_INVALID_REQUEST, "invalid request: id must be a string or an integer");
		goto out;
	}
	if (json_object_object_get_ex(msg, "params", &params) && params &&
	    !json_object_is_type(params, json_type_object)) {
		mcp_error(ctx, 200, id, RPC_INVALID_PARAMS, "params must be an object");
		goto out;
	}
	log_note(&ctx->log, method);
	if (!strcmp(method, "initialize"))
		send_result(ctx, id, initialize(params));
	else if (!strcmp(method, "ping"))
		send_result(ctx, id, json_object_new_object());
	else if (!strcmp(method, "tools/list") && params && json_object_object_get_ex(params, "cursor", &v) && v)
		/* All tools come on the first page: no cursor was ever given. */
		mcp_error(ctx, 200, id, RPC_INVALID_PARAMS, "invalid cursor: tools/list has one page, "
			  "and gives no nextCursor");
	else if (!strcmp(method, "tools/list"))
		send_result(ctx, id, tool_list(c));
	else if (!strcmp(method, "tools/call")) {
		const char *why = NULL;
		json_object *r = call_tool(ctx, params, &why);
		if (r)
			send_result(ctx, id, r);
		else
			mcp_error(ctx, 200, id, RPC_INVALID_PARAMS, why);
	} else {
		/* Any other name is the client's text, which the log never
		 * holds (log.c): not the note above. */
		log_note(&ctx->log, "method not found");
		mcp_error(ctx, 200, id, RPC_METHOD_NOT_FOUND, "method not found; this server offers "
			  "initialize, ping, tools/list and tools/call");
	}
out:
	json_object_put(msg);
}
