/* request.c — turn a POST /api/run body into a run_request, or say why not.
 *
 * Everything here treats the body as hostile: json-c parses with a depth
 * bound and UTF-8 validation, every field's type is checked, every name and
 * path is validated before it can reach the file system, and every size is
 * checked against the operator's limits before anything is decoded into
 * memory. Error messages are one sentence that tells the client what to
 * change; unknown fields are not errors but become `warnings`.
 */
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fcgi/fcgi.h"

#define KIB 1024u
#define MIB (1024u * 1024u)
#define MAX_FILE_DIRS 32	/* a files path's directories: sandbox/workdir.c's MAX_DEPTH */

int http_fail(struct http_error *e, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	e->status = status;
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	return -1;
}

void request_init(struct run_request *r)
{
	memset(r, 0, sizeof *r);
	r->package_lock = -1;
}

void request_free(struct run_request *r)
{
	for (size_t i = 0; i < r->n_entries; i++) {
		free(r->entries[i].path);
		if (r->entries[i].owned)
			free((void *)r->entries[i].data);
	}
	free(r->entries);
	buf_free(&r->warnings);
	buf_free(&r->packages);
	for (size_t i = 0; i < r->n_missing; i++)
		free(r->missing[i]);
	free(r->missing);
	free(r->satisfied);
	packages_release(r);
	if (r->json)
		json_object_put(r->json);
	request_init(r);
}

static void warn(struct run_request *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct run_request *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (r->warnings.len)
		buf_puts(&r->warnings, ", ");
	json_put_cstring(&r->warnings, msg);
}

/* ---- names ------------------------------------------------------------- */

bool request_valid_context_name(const char *name, size_t len)
{
	if (len == 0 || len > 255 || name[0] == '.' || memchr(name, '\0', len))
		return false;
	return !memchr(name, '/', len) && !memchr(name, '\\', len);
}

bool request_valid_file_path(const char *path, size_t len)
{
	if (len == 0 || len > 1024 || path[0] == '/' || memchr(path, '\0', len) || memchr(path, '\\', len))
		return false;
	/* Each component: not empty, not dot-leading (so no "." or ".."), at
	 * most 255 bytes. */
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || path[i] == '/') {
			size_t n = i - start;
			if (n == 0 || n > 255 || path[start] == '.')
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* A name fit to quote in an error message: bounded, and the encoder takes
 * care of anything that is not printable. */
static const char *shown(const char *s, size_t len, char *out, size_t outlen)
{
	size_t n = utf8_prefix(s, len, outlen - 4);
	size_t o = 0;
	for (size_t i = 0; i < n; i++)
		out[o++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
	if (n < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* ---- unknown fields ---------------------------------------------------- */

static const char *const fields[] = {
	"script", "files", "entry_point", "timeout_s", "context", "dependencies", "memory_mb", "stdin",
};

/* Names clients of similar services send, and what they mean here. */
static const struct { const char *alias, *field; } aliases[] = {
	{ "timeout", "timeout_s" }, { "timeout_seconds", "timeout_s" }, { "time_limit", "timeout_s" },
	{ "timeout_ms", "timeout_s" }, { "code", "script" }, { "source", "script" },
	{ "program", "script" }, { "entrypoint", "entry_point" }, { "entry", "entry_point" },
	{ "main", "entry_point" }, { "deps", "dependencies" }, { "requirements", "dependencies" },
	{ "packages", "dependencies" }, { "memory", "memory_mb" }, { "memory_limit", "memory_mb" },
	{ "mem", "memory_mb" }, { "input", "stdin" }, { "inputs", "context" },
	{ "input_files", "context" }, { "attachments", "context" },
};

static unsigned distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 99;
	unsigned d[41][41];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned sub = d[i - 1][j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
			unsigned del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
			d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
	return d[la][lb];
}

static const char *suggest(const char *key)
{
	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
		if (strcasecmp(key, aliases[i].alias) == 0)
			return aliases[i].field;
	const char *best = NULL;
	unsigned best_d = 3;
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		unsigned d = distance(key, fields[i]);
		if (d < best_d) {
			best_d = d;
			best = fields[i];
		}
	}
	return best;
}

/* ---- content ------------------------------------------------------------ */

struct totals {
	size_t count, bytes;
};

/* One files/context value: a string, or {"content": ..., "encoding": ...}. */
static int add_entry(const struct config *c, struct run_request *r, const char *what,
		     const char *name, size_t name_len, char *path, json_object *v,
		     struct totals *t, struct http_error *e)
{
	char nm[80];
	const char *text;
	size_t len;
	bool b64 = false;

	shown(name, name_len, nm, sizeof nm);
	if (json_object_is_type(v, json_type_string)) {
		text = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
	} else if (json_object_is_type(v, json_type_object)) {
		json_object *content, *encoding;
		if (!json_object_object_get_ex(v, "content", &content) ||
		    !json_object_is_type(content, json_type_string)) {
			free(path);
			return http_fail(e, 400, "%s \"%s\": \"content\" must be a string", what, nm);
		}
		text = json_object_get_string(content);
		len = (size_t)json_object_get_string_len(content);
		if (json_object_object_get_ex(v, "encoding", &encoding) && !json_object_is_type(encoding, json_type_null)) {
			const char *enc = request_json_text(encoding);
			if (!json_object_is_type(encoding, json_type_string)) {
				free(path);
				return http_fail(e, 400, "%s \"%s\": \"encoding\" must be \"utf-8\" or \"base64\"", what, nm);
			}
			if (enc && strcasecmp(enc, "base64") == 0)
				b64 = true;
			else if (!enc || (strcasecmp(enc, "utf-8") != 0 && strcasecmp(enc, "utf8") != 0)) {
				char en[48];
				shown(json_object_get_string(encoding), (size_t)json_object_get_string_len(encoding),
				      en, sizeof en);
				free(path);
				return http_fail(e, 400, "%s \"%s\": unknown encoding \"%s\"; use \"utf-8\" or \"base64\"",
						 what, nm, en);
			}
		}
	} else {
		free(path);
		return http_fail(e, 400, "%s \"%s\" must be a string or {\"content\": ..., \"encoding\": \"utf-8\"|\"base64\"}",
				 what, nm);
	}

	size_t entry_max = (size_t)c->max_entry_mib * MIB;
	/* The body is already bounded by max_body_mib, so decoding before the
	 * size check costs at most that much memory. */
	size_t decoded_max = b64 ? len / 4 * 3 + 3 : len;
	unsigned char *data = NULL;
	if (b64) {
		data = xmalloc(decoded_max + 1);
		ssize_t n = base64_decode(text, len, data);
		if (n < 0) {
			free(data);
			free(path);
			return http_fail(e, 400, "%s \"%s\": content is not valid base64", what, nm);
		}
		len = (size_t)n;
	}
	if (len > entry_max) {
		free(data);
		free(path);
		return http_fail(e, 413, "%s \"%s\" is %zu bytes; the limit for one entry is %u MiB",
				 what, nm, len, c->max_entry_mib);
	}
	t->bytes += len;
	if (t->bytes > (size_t)c->max_input_mib * MIB) {
		free(data);
		free(path);
		return http_fail(e, 413, "files and context add up to more than the %u MiB limit", c->max_input_mib);
	}
	r->entries = xrealloc(r->entries, (r->n_entries + 1) * sizeof *r->entries);
	r->entries[r->n_entries++] = (struct entry){
		.path = path, .data = data ? data : (const unsigned char *)text, .len = len, .owned = data != NULL,
	};
	return 0;
}

static int parse_context(const struct config *c, struct run_request *r, json_object *ctx,
			 struct totals *t, struct http_error *e)
{
	if (!json_object_is_type(ctx, json_type_object))
		return http_fail(e, 400, "context must be an object mapping file names to contents");
	json_object_object_foreach(ctx, name, v) {
		char nm[80];
		size_t n = strlen(name);	/* json-c keys stop at NUL: a NUL shows as a short name */
		if (++t->count > c->max_entries)
			return http_fail(e, 413, "more than %u files and context entries", c->max_entries);
		if (!request_valid_context_name(name, n))
			return http_fail(e, 400, "context name \"%s\" is not allowed: names must be 1 to 255 bytes, "
					 "without \"/\" or \"\\\", and must not start with \".\"", shown(name, n, nm, sizeof nm));
		size_t plen = n + 7;
		char *path = xmalloc(plen);
		snprintf(path, plen, "input/%s", name);
		if (add_entry(c, r, "context", name, n, path, v, t, e))
			return -1;
	}
	return 0;
}

static int parse_files(const struct config *c, struct run_request *r, json_object *files,
		       struct totals *t, struct http_error *e)
{
	if (!json_object_is_type(files, json_type_object))
		return http_fail(e, 400, "files must be an object mapping paths to contents");
	if (json_object_object_length(files) == 0)
		return http_fail(e, 400, "files is empty; give at least the entry_point file");
	json_object_object_foreach(files, name, v) {
		char nm[80];
		size_t n = strlen(name);
		if (++t->count > c->max_entries)
			return http_fail(e, 413, "more than %u files and context entries", c->max_entries);
		if (!request_valid_file_path(name, n))
			return http_fail(e, 400, "file path \"%s\" is not allowed: use relative paths whose parts "
					 "are not empty and do not start with \".\", without \"\\\"", shown(name, n, nm, sizeof nm));
		/* Two directories of the work dir are the service's: a file
		 * may go in them, but not be one. */
		if (!strcmp(name, "input") || !strcmp(name, "output"))
			return http_fail(e, 400, "file path \"%s\" is taken: ./%s is the directory of the run's %s",
					 name, name, name[0] == 'i' ? "context" : "artifacts");
		/* The sandbox copies the work directory in no deeper than it
		 * copies ./output out (sandbox/workdir.c): a file below would
		 * be staged, then be missing from the run without a word. */
		size_t dirs = 0;
		for (size_t i = 0; i < n; i++)
			dirs += name[i] == '/';
		if (dirs > MAX_FILE_DIRS)
			return http_fail(e, 400, "file path \"%s\" is in %zu nested directories; at most %u are copied "
					 "into the run", shown(name, n, nm, sizeof nm), dirs, MAX_FILE_DIRS);
		if (add_entry(c, r, "file", name, n, xstrdup(name), v, t, e))
			return -1;
	}
	return 0;
}

/* Each entry: a name with at most one version clause, no name twice; each
 * must be installed in a version that satisfies it. What each resolved to
 * goes into r->packages for the response. */
static int parse_dependencies(const struct config *c, struct run_request *r, json_object *deps,
			      struct http_error *e)
{
	if (!json_object_is_type(deps, json_type_array))
		return http_fail(e, 400, "dependencies must be an array of package names");
	size_t n = json_object_array_length(deps);
	if (n > c->max_dependencies)
		return http_fail(e, 400, "%zu dependencies; at most %u are allowed", n, c->max_dependencies);
	struct requirement *reqs = xmalloc((n ? n : 1) * sizeof *reqs);
	int rc = 0;
	r->has_packages = true;
	for (size_t i = 0; i < n && !rc; i++) {
		json_object *d = json_object_array_get_idx(deps, i);
		char nm[80];
		if (!json_object_is_type(d, json_type_string)) {
			rc = http_fail(e, 400, "dependencies[%zu] must be a string such as \"numpy\"", i);
			break;
		}
		const char *s = json_object_get_string(d);
		shown(s, (size_t)json_object_get_string_len(d), nm, sizeof nm);
		if (!request_json_text(d) || !deps_parse(s, &reqs[i])) {
			rc = http_fail(e, 400, "dependencies[%zu] \"%s\" is not a package name with at most one "
				       "version clause (such as \"numpy\" or \"numpy>=1.20\"); extras, markers, URLs, "
				       "paths, options and spaces are not accepted", i, nm);
			break;
		}
		for (size_t k = 0; k < i && !rc; k++)
			if (!strcmp(reqs[k].name, reqs[i].name))
				rc = http_fail(e, 400, "dependencies[%zu] \"%s\" names %s again (dependencies[%zu]); "
					       "give each package once", i, nm, reqs[i].name, k);
	}
	/* Only a well-formed list is looked up: what the installed packages
	 * satisfy costs nothing; the rest is installed (packages.c) when the
	 * operator set an index, and refused otherwise. */
	for (size_t i = 0; i < n && !rc; i++) {
		char nm[80];
		const char *s = json_object_get_string(json_object_array_get_idx(deps, i));
		shown(s, strlen(s), nm, sizeof nm);
		const char *version = deps_installed_version(reqs[i].name);
		if (version && deps_satisfies(version, &reqs[i])) {
			if (config_installs(c)) {
				if (!r->satisfied)
					r->satisfied = xmalloc(n * sizeof *r->satisfied);
				r->satisfied[r->n_satisfied++] = reqs[i];
			}
			if (r->packages.len)
				buf_puts(&r->packages, ", ");
			json_put_cstring(&r->packages, reqs[i].name);
			buf_puts(&r->packages, ": ");
			if (*version)
				json_put_cstring(&r->packages, version);
			else
				buf_puts(&r->packages, "null");
		} else if (config_installs(c)) {
			if (!r->missing)
				r->missing = xmalloc(n * sizeof *r->missing);
			char *m = xmalloc(strlen(reqs[i].name) + strlen(reqs[i].op) + strlen(reqs[i].version) + 1);
			sprintf(m, "%s%s%s", reqs[i].name, reqs[i].op, reqs[i].version);
			r->missing[r->n_missing++] = m;
		} else if (!version) {
			rc = http_fail(e, 400, "dependencies[%zu] \"%s\": %s is not installed, and this service "
				       "installs no other packages (its operator can turn installs on with "
				       "package_index_url or package_find_links); the installed ones are numpy, pandas, "
				       "scipy, scikit-learn, matplotlib, sympy, requests, httpx, beautifulsoup4, pyyaml, "
				       "toml, python-dateutil, tqdm, pillow and the standard library", i, nm, reqs[i].name);
		} else if (!*version) {
			rc = http_fail(e, 400, "dependencies[%zu] \"%s\": %s is installed with no version to "
				       "compare with %s%s", i, nm, reqs[i].name, reqs[i].op, reqs[i].version);
		} else {
			rc = http_fail(e, 400, "dependencies[%zu] \"%s\": %s %s is installed, which does not satisfy "
				       "%s%s, and this service installs no other versions (its operator can turn "
				       "installs on with package_index_url or package_find_links)", i, nm,
				       reqs[i].name, version, reqs[i].op, reqs[i].version);
		}
	}
	free(reqs);
	return rc;
}

static int parse_timeout(const struct config *c, struct run_request *r, double t, const char *src,
			 struct http_error *e)
{
	/* One too large for a double (1e309) is clamped as any past the
	 * maximum. */
	if (isnan(t) || t <= 0)
		return http_fail(e, 400, "%s must be a number of seconds above 0", src);
	if (t > c->timeout_max_s) {
		warn(r, "timeout_s %.15g is above the %u s maximum and was clamped to it", t, c->timeout_max_s);
		t = c->timeout_max_s;
	}
	/* Runs are timed in milliseconds: less than one is one. */
	r->timeout_s = t < 0.001 ? 0.001 : t;
	return 0;
}

static void defaults(const struct config *c, struct run_request *r)
{
	r->timeout_s = c->timeout_default_s;
	r->memory_mb = c->memory_default_mb;
	r->stdin_data = "";
	r->entry_point = "main.py";
}

const char *request_json_text(json_object *v)
{
	if (!json_object_is_type(v, json_type_string))
		return NULL;
	const char *s = json_object_get_string(v);
	return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

int request_json_value(const struct config *c, const char *body, size_t len, json_object **value,
		       const char *example, struct http_error *e)
{
	*value = NULL;
	/* A byte order mark, which some clients (Windows PowerShell's) put
	 * first; RFC 8259 lets a parser ignore it. */
	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0) {
		body += 3;
		len -= 3;
	}
	if (len == 0) {
		http_fail(e, 400, "the body is empty; send a JSON object such as %s", example);
		return -1;
	}
	if (memchr(body, '\0', len)) {
		http_fail(e, 400, "the body is not valid JSON: it contains a NUL byte");
		return -1;
	}
	unsigned depth;
	if (json_count_values(body, len, &depth) > c->max_json_values) {
		http_fail(e, 413, "the JSON holds more than %u values (objects, arrays, strings, numbers), "
			  "the most a request may", c->max_json_values);
		return -1;
	}
	if (depth > c->max_json_depth) {
		http_fail(e, 400, "the JSON is nested deeper than %u levels", c->max_json_depth);
		return -1;
	}
	/* json-c's levels: a number or string inside the deepest container
	 * is one more. */
	json_tokener *tok = json_tokener_new_ex((int)c->max_json_depth + 1);
	if (!tok)
		die("out of memory creating a JSON parser");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *root = json_tokener_parse_ex(tok, body, (int)len);
	/* A number at the very end may go on for all json-c knows: a space
	 * ends it (and leaves a body that is cut short unfinished). */
	size_t consumed = tok->char_offset;
	if (!root && json_tokener_get_error(tok) == json_tokener_continue) {
		root = json_tokener_parse_ex(tok, " ", 1);
		consumed = len;
	}
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	/* json-c's value for the JSON null is NULL, parsed with success. */
	if (jerr != json_tokener_success) {
		json_object_put(root);
		if (jerr == json_tokener_error_depth)
			http_fail(e, 400, "the JSON is nested deeper than %u levels", c->max_json_depth);
		else if (jerr == json_tokener_continue)
			http_fail(e, 400, "the body is not valid JSON: it ends too early");
		else
			http_fail(e, 400, "the body is not valid JSON: %s at byte %zu",
				  json_tokener_error_desc(jerr), consumed);
		return -1;
	}
	for (size_t i = consumed; i < len; i++)
		if (!isspace((unsigned char)body[i])) {
			json_object_put(root);
			http_fail(e, 400, "the body is not valid JSON: unexpected data after the value at byte %zu", i);
			return -1;
		}
	/* json-c lets through overlong UTF-8 (E0 98 94) and raw control
	 * characters inside strings, which would then be echoed into answers
	 * that are no longer JSON; RFC 8259 and our own checker do not. */
	if (!utf8_valid((const unsigned char *)body, len)) {
		json_object_put(root);
		http_fail(e, 400, "the body is not valid UTF-8");
		return -1;
	}
	bool key_nul;
	if (!json_check_keys(body, len, c->max_json_depth + 1, &key_nul)) {
		json_object_put(root);
		http_fail(e, 400, "the body is not valid JSON: a control character inside a string, an unpaired "
			  "surrogate escape, or another form RFC 8259 does not allow");
		return -1;
	}
	/* json-c cuts a key at an escaped NUL: a name "a\u0000/../x" would
	 * pass for "a". No name of any dialect may hold one. */
	if (key_nul) {
		json_object_put(root);
		http_fail(e, 400, "a key in the body holds a NUL character (\\u0000), which no name may");
		return -1;
	}
	*value = root;
	return 0;
}

json_object *request_json_object(const struct config *c, const char *body, size_t len,
				 const char *example, struct http_error *e)
{
	json_object *root;
	if (request_json_value(c, body, len, &root, example, e) < 0)
		return NULL;
	if (!json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		http_fail(e, 400, "the body must be a JSON object such as %s", example);
		return NULL;
	}
	return root;
}

int request_parse_json(const struct config *c, const char *body, size_t len,
		       struct run_request *r, struct http_error *e)
{
	defaults(c, r);
	json_object *root = request_json_object(c, body, len, "{\"script\": \"print(1)\"}", e);
	if (!root)
		return -1;
	r->json = root;

	json_object *script = NULL, *files = NULL, *entry = NULL, *context = NULL;
	json_object *timeout = NULL, *deps = NULL, *memory = NULL, *in = NULL;
	json_object_object_foreach(root, key, val) {
		json_object *v = json_object_is_type(val, json_type_null) ? NULL : val;
		if (strcmp(key, "script") == 0) script = v;
		else if (strcmp(key, "files") == 0) files = v;
		else if (strcmp(key, "entry_point") == 0) entry = v;
		else if (strcmp(key, "context") == 0) context = v;
		else if (strcmp(key, "timeout_s") == 0) timeout = v;
		else if (strcmp(key, "dependencies") == 0) deps = v;
		else if (strcmp(key, "memory_mb") == 0) memory = v;
		else if (strcmp(key, "stdin") == 0) in = v;
		else {
			char nm[80];
			const char *s = suggest(key);
			shown(key, strlen(key), nm, sizeof nm);
			if (s)
				warn(r, "unknown field \"%s\" ignored; did you mean \"%s\"?", nm, s);
			else
				warn(r, "unknown field \"%s\" ignored", nm);
		}
	}

	if (script && files)
		return http_fail(e, 400, "Cannot use both script and files: send script, or files with entry_point");
	if (!script && !files)
		return http_fail(e, 400, "script is required (or files with entry_point)");
	if (files && context)
		return http_fail(e, 400, "context cannot be used with files: put input files in files instead");
	if (entry && !files)
		return http_fail(e, 400, "entry_point is only used with files");

	struct totals t = { 0, 0 };
	if (script) {
		if (!json_object_is_type(script, json_type_string))
			return http_fail(e, 400, "script must be a string of Python source");
		r->script = json_object_get_string(script);
		r->script_len = (size_t)json_object_get_string_len(script);
		if (r->script_len > (size_t)c->max_script_kib * KIB)
			return http_fail(e, 413, "the script is %zu bytes; the limit is %u KiB", r->script_len, c->max_script_kib);
		if (r->script_len == 0)
			return http_fail(e, 400, "script is empty");
	} else {
		if (!entry)
			return http_fail(e, 400, "files needs entry_point, the file to run (such as \"main.py\")");
		if (!json_object_is_type(entry, json_type_string))
			return http_fail(e, 400, "entry_point must be a string naming a file in files");
		const char *ep = json_object_get_string(entry);
		size_t n = (size_t)json_object_get_string_len(entry);
		char nm[80];
		if (n < 4 || strcmp(ep + n - 3, ".py") != 0 || strlen(ep) != n)
			return http_fail(e, 400, "entry_point \"%s\" must name a .py file", shown(ep, n, nm, sizeof nm));
		if (json_object_is_type(files, json_type_object) && !json_object_object_get_ex(files, ep, NULL))
			return http_fail(e, 400, "entry_point \"%s\" not found: it is not one of the paths in files", shown(ep, n, nm, sizeof nm));
		r->entry_point = ep;
		if (parse_files(c, r, files, &t, e))
			return -1;
	}
	if (context && parse_context(c, r, context, &t, e))
		return -1;

	if (timeout) {
		if (!json_object_is_type(timeout, json_type_int) && !json_object_is_type(timeout, json_type_double))
			return http_fail(e, 400, "timeout_s must be a number of seconds above 0");
		if (parse_timeout(c, r, json_object_get_double(timeout), "timeout_s", e))
			return -1;
	}
	if (memory) {
		double m = json_object_get_double(memory);
		bool integral = json_object_is_type(memory, json_type_int) ||
			(json_object_is_type(memory, json_type_double) && m == floor(m));
		if (!integral || m < 64 || m > c->memory_max_mb)
			return http_fail(e, 400, "memory_mb must be a whole number from 64 to %u", c->memory_max_mb);
		r->memory_mb = (unsigned)m;
		if (r->memory_mb > run_memory_mb(r->memory_mb))
			warn(r, "memory_mb %u lowered to %u, the most a run can have on this host",
			     r->memory_mb, run_memory_mb(r->memory_mb));
	}
	if (in) {
		if (!json_object_is_type(in, json_type_string))
			return http_fail(e, 400, "stdin must be a string");
		r->stdin_data = json_object_get_string(in);
		r->stdin_len = (size_t)json_object_get_string_len(in);
		if (r->stdin_len > (size_t)c->max_entry_mib * MIB)
			return http_fail(e, 413, "stdin is %zu bytes; the limit is %u MiB", r->stdin_len, c->max_entry_mib);
	}
	if (deps && parse_dependencies(c, r, deps, e))
		return -1;
	return 0;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9') return ch - '0';
	if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
	return -1;
}

/* Percent-decode a query value into out; false if it is malformed. */
static bool url_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (o + 1 >= outlen)
			return false;
		if (s[i] == '%') {
			if (i + 2 >= n)
				return false;
			int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return false;	/* malformed, or a NUL that would end the value */
			out[o++] = (char)(h * 16 + l);
			i += 2;
		} else
			out[o++] = s[i] == '+' ? ' ' : s[i];
	}
	out[o] = '\0';
	return true;
}

/* Named one by one up to here: a query of "a&a&a..." is not to make an
 * answer of warnings. */
#define MAX_QUERY_WARNINGS 8

int request_parse_raw(const struct config *c, const char *query, const char *body, size_t len,
		      struct run_request *r, struct http_error *e)
{
	unsigned unknown = 0;
	defaults(c, r);
	for (const char *p = query ? query : ""; *p;) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t kn = eq ? (size_t)(eq - p) : n;
		if (kn == 9 && strncmp(p, "timeout_s", 9) == 0) {
			char v[512], *end;
			if (!eq || !url_decode(eq + 1, n - kn - 1, v, sizeof v) || !*v)
				return http_fail(e, 400, "timeout_s must be a number of seconds above 0");
			/* Digits, a point and an exponent only: strtod() would
			 * also take " 5", "0x10" and "inf". */
			errno = 0;
			double t = strtod(v, &end);
			if (*end || (errno == ERANGE && t != HUGE_VAL) || !(isdigit((unsigned char)v[0]) || v[0] == '.') ||
			    strspn(v, "0123456789.eE+-") != strlen(v))
				return http_fail(e, 400, "timeout_s must be a number of seconds above 0, not \"%.20s\"", v);
			if (parse_timeout(c, r, t, "timeout_s", e))
				return -1;
		} else if (n && ++unknown <= MAX_QUERY_WARNINGS) {
			char nm[48];
			warn(r, "the query parameter \"%s\" is not one this endpoint takes (only timeout_s); it was ignored",
			     shown(p, kn, nm, sizeof nm));
		}
		p += n + (amp ? 1 : 0);
	}
	if (unknown > MAX_QUERY_WARNINGS)
		warn(r, "and %u more query parameters were ignored", unknown - MAX_QUERY_WARNINGS);
	if (len == 0)
		return http_fail(e, 400, "the body is empty; send the Python script as the body");
	if (len > (size_t)c->max_script_kib * KIB)
		return http_fail(e, 413, "the script is %zu bytes; the limit is %u KiB", len, c->max_script_kib);
	if (!utf8_valid((const unsigned char *)body, len))
		return http_fail(e, 400, "the script is not valid UTF-8");
	r->script = body;
	r->script_len = len;
	return 0;
}

int request_parse(const struct config *c, const char *content_type, const char *query,
		  const char *body, size_t len, struct run_request *r, struct http_error *e)
{
	char type[128];
	size_t n = 0;
	const char *p = content_type ? content_type : "";
	while (*p == ' ' || *p == '\t')
		p++;
	while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t' && n + 1 < sizeof type) {
		type[n] = (char)tolower((unsigned char)p[n]);
		n++;
	}
	type[n] = '\0';
	if (strcmp(type, "application/json") == 0)
		return request_parse_json(c, body, len, r, e);
	if (n == 0 || strcmp(type, "text/plain") == 0)
		return request_parse_raw(c, query, body, len, r, e);
	char nm[80];
	return http_fail(e, 415, "Content-Type \"%s\" is not supported: send application/json, "
			 "or text/plain with the script as the body%s", shown(type, n, nm, sizeof nm),
			 strcmp(type, "application/x-www-form-urlencoded") == 0 ?
			 " (curl -d sends this type unless given -H 'Content-Type: text/plain')" : "");
}
