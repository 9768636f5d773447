/* fcgi_request_test.c — POST /api/run request validation, without HTTP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/fcgi.h"
#include "tests/tap.h"

static struct config cfg;
static struct run_request req;
static struct http_error err;

/* 0 when the body is accepted, else the HTTP status it gets. */
static int json(const char *body)
{
	request_free(&req);
	request_init(&req);
	memset(&err, 0, sizeof err);
	return request_parse(&cfg, "application/json; charset=utf-8", NULL, body, strlen(body), &req, &err) ? err.status : 0;
}

static int raw(const char *ctype, const char *query, const char *body)
{
	request_free(&req);
	request_init(&req);
	memset(&err, 0, sizeof err);
	return request_parse(&cfg, ctype, query, body, strlen(body), &req, &err) ? err.status : 0;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static int json_script_of(size_t n)
{
	char *s = repeat('x', n);
	size_t len = n + 32;
	char *body = malloc(len);
	snprintf(body, len, "{\"script\": \"%s\"}", s);
	int rc = json(body);
	free(s);
	free(body);
	return rc;
}

/* context with one entry of n decoded bytes (base64 when b64) */
static int context_of(size_t n, bool b64)
{
	struct buf b = { 0 };
	buf_puts(&b, "{\"script\": \"pass\", \"context\": {\"d.bin\": ");
	char *raw_ = repeat('a', n);
	if (b64) {
		buf_puts(&b, "{\"content\": \"");
		base64_encode(&b, (unsigned char *)raw_, n);
		buf_puts(&b, "\", \"encoding\": \"base64\"}");
	} else {
		buf_putc(&b, '"');
		buf_puts(&b, raw_);
		buf_putc(&b, '"');
	}
	buf_puts(&b, "}}");
	int rc = json(b.data);
	free(raw_);
	buf_free(&b);
	return rc;
}

static int context_count(int n)
{
	struct buf b = { 0 };
	buf_puts(&b, "{\"script\": \"pass\", \"context\": {");
	for (int i = 0; i < n; i++)
		buf_printf(&b, "%s\"f%d\": \"x\"", i ? ", " : "", i);
	buf_puts(&b, "}}");
	int rc = json(b.data);
	buf_free(&b);
	return rc;
}

static int nested(int depth)
{
	struct buf b = { 0 };
	buf_puts(&b, "{\"script\": \"pass\", \"x\": ");
	for (int i = 0; i < depth; i++)
		buf_putc(&b, '[');
	for (int i = 0; i < depth; i++)
		buf_putc(&b, ']');
	buf_putc(&b, '}');
	int rc = json(b.data);
	buf_free(&b);
	return rc;
}

int main(void)
{
	config_defaults(&cfg);
	request_init(&req);

	/* modes */
	is_int(json("{\"script\": \"print(1)\"}"), 0, "JSON script mode");
	ok(req.script_len == 8 && strcmp(req.entry_point, "main.py") == 0, "the script runs as main.py");
	ok(req.timeout_s == 30 && req.memory_mb == 1536, "timeout_s and memory_mb default to 30 and 1536");
	is_int(raw(NULL, NULL, "print(1)"), 0, "no Content-Type is raw mode");
	is_int(raw("text/plain", "timeout_s=2.5", "print(1)"), 0, "text/plain is raw mode with ?timeout_s");
	ok(req.timeout_s == 2.5, "raw timeout_s is read from the query string");
	is_int(raw("text/plain", "a=1&timeout_s=900", "print(1)"), 0, "raw timeout_s above the maximum is accepted");
	ok(req.timeout_s == 300, "and clamped to 300");
	is_int(raw("text/plain", "timeout_s=0", "x"), 400, "raw timeout_s=0 is a 400");
	is_int(raw("text/plain", "timeout_s=abc", "x"), 400, "raw timeout_s=abc is a 400");
	is_int(raw("text/plain", "timeout_s=", "x"), 400, "raw empty timeout_s is a 400");
	is_int(raw("text/plain", "timeout_s=-1", "x"), 400, "raw negative timeout_s is a 400");
	is_int(raw("text/plain", "timeout_s=nan", "x"), 400, "raw timeout_s=nan is a 400");
	is_int(raw("text/plain", NULL, "print('\xff')"), 400, "raw mode with invalid UTF-8 is a 400");
	is_int(raw("text/plain", NULL, ""), 400, "raw mode with an empty body is a 400");
	is_int(raw("application/xml", NULL, "x"), 415, "another Content-Type is a 415");
	is_int(raw("application/x-www-form-urlencoded", NULL, "x"), 415, "a form is a 415");
	ok(strstr(err.message, "text/plain") != NULL, "and the message says what to send");
	is_int(raw("Application/JSON", NULL, "{\"script\": \"1\"}"), 0, "media types compare without case");

	/* malformed */
	is_int(json("{\"script\": "), 400, "truncated JSON is a 400");
	is_int(json("{'script': 1}"), 400, "single quotes are a 400");
	is_int(json("[1, 2]"), 400, "a top-level array is a 400");
	is_int(json("\"print(1)\""), 400, "a top-level string is a 400");
	is_int(json("{\"script\": \"1\"} x"), 400, "trailing data is a 400");
	is_int(json("{\"script\": \"1\"} \n"), 0, "trailing whitespace is fine");
	is_int(json("{\"script\": \"\xff\"}"), 400, "invalid UTF-8 in JSON is a 400");
	is_int(json(""), 400, "an empty JSON body is a 400");
	is_int(nested(60), 0, "nesting 60 deep is accepted");
	is_int(nested(9000), 400, "nesting 9000 deep is a 400, not a crash");
	ok(strstr(err.message, "nested") != NULL, "and says it is nested too deep");
	is_int(nested(100000), 413, "100000 levels are more values than a request may hold");

	/* fields and types */
	is_int(json("{}"), 400, "no script is a 400");
	is_int(json("{\"script\": 5}"), 400, "a numeric script is a 400");
	is_int(json("{\"script\": \"\"}"), 400, "an empty script is a 400");
	is_int(json("{\"script\": null}"), 400, "a null script counts as missing");
	is_int(json("{\"script\": \"1\", \"timeout_s\": \"5\"}"), 400, "a string timeout_s is a 400");
	is_int(json("{\"script\": \"1\", \"timeout_s\": true}"), 400, "a boolean timeout_s is a 400");
	is_int(json("{\"script\": \"1\", \"timeout_s\": 0}"), 400, "timeout_s 0 is a 400");
	is_int(json("{\"script\": \"1\", \"timeout_s\": -3}"), 400, "a negative timeout_s is a 400");
	is_int(json("{\"script\": \"1\", \"timeout_s\": 0.001}"), 0, "a tiny positive timeout_s is fine");
	is_int(json("{\"script\": \"1\", \"timeout_s\": 0.0001}"), 0, "so is one below a millisecond");
	ok(req.timeout_s == 0.001, "which is one millisecond (the sandbox counts no less)");
	is_int(json("{\"script\": \"1\", \"timeout_s\": 300}"), 0, "timeout_s 300 is fine");
	ok(req.timeout_s == 300 && req.warnings.len == 0, "without a warning");
	is_int(json("{\"script\": \"1\", \"timeout_s\": 301}"), 0, "timeout_s 301 is accepted");
	ok(req.timeout_s == 300 && strstr(req.warnings.data, "clamped"), "clamped to 300 with a warning");
	is_int(json("{\"script\": \"1\", \"timeout_s\": 300.0001}"), 0, "timeout_s 300.0001 is accepted");
	ok(req.timeout_s == 300 && strstr(req.warnings.data, "timeout_s 300.0001 is above"),
	   "and the warning names it as sent, not rounded to 300");
	is_int(json("{\"script\": \"1\", \"timeout_s\": 1e309}"), 0, "a timeout_s too large for a double is accepted");
	ok(req.timeout_s == 300 && strstr(req.warnings.data, "clamped"), "and clamped too");
	is_int(raw("text/plain", "timeout_s=1e309", "print(1)"), 0, "so in the query");
	ok(req.timeout_s == 300 && strstr(req.warnings.data, "clamped"), "clamped");
	char query[128] = "timeout_s=1";
	memset(query + strlen(query), '0', 80);
	is_int(raw("text/plain", query, "print(1)"), 0, "and one of 81 digits");
	ok(req.timeout_s == 300 && strstr(req.warnings.data, "clamped"), "clamped as well");
	is_int(raw("text/plain", "timeout_s=1e-400", "print(1)"), 400, "one too small for a double is not above 0");
	is_int(json("\xef\xbb\xbf{\"script\": \"print(1)\"}"), 0, "a byte order mark before the JSON is ignored");
	is_int(json("\xef\xbb\xbf"), 400, "and a body of only one is empty");
	is_int(json("{\"script\": \"1\", \"memory_mb\": 64}"), 0, "memory_mb 64 is fine");
	is_int(json("{\"script\": \"1\", \"memory_mb\": 63}"), 400, "memory_mb 63 is a 400");
	is_int(json("{\"script\": \"1\", \"memory_mb\": 4096}"), 0, "memory_mb at the maximum is fine");
	is_int(json("{\"script\": \"1\", \"memory_mb\": 4097}"), 400, "memory_mb above the maximum is a 400");
	is_int(json("{\"script\": \"1\", \"memory_mb\": 100.5}"), 400, "a fractional memory_mb is a 400");
	is_int(json("{\"script\": \"1\", \"stdin\": 1}"), 400, "a numeric stdin is a 400");
	is_int(json("{\"script\": \"1\", \"stdin\": \"a\\nb\"}"), 0, "stdin is a string");
	ok(req.stdin_len == 3, "stdin keeps its bytes");

	/* unknown fields */
	is_int(json("{\"script\": \"1\", \"timeout\": 5}"), 0, "an unknown field is not an error");
	is_str(req.warnings.data, "\"unknown field \\\"timeout\\\" ignored; did you mean \\\"timeout_s\\\"?\"",
	       "it is named in warnings with a suggestion");
	is_int(json("{\"script\": \"1\", \"contxt\": {}}"), 0, "a misspelt field");
	ok(req.warnings.data && strstr(req.warnings.data, "did you mean \\\"context\\\""), "gets the closest name");
	is_int(json("{\"script\": \"1\", \"zzzzzzzz\": 1}"), 0, "an unrelated field");
	ok(req.warnings.data && !strstr(req.warnings.data, "did you mean"), "gets no suggestion");

	/* script size */
	is_int(json_script_of(256 * 1024), 0, "a 256 KiB script is fine");
	is_int(json_script_of(256 * 1024 + 1), 413, "a script one byte over 256 KiB is a 413");
	char *big = repeat('x', 256 * 1024 + 1);
	is_int(raw("text/plain", NULL, big), 413, "a raw script over 256 KiB is a 413");
	big[256 * 1024] = '\0';
	is_int(raw("text/plain", NULL, big), 0, "a raw script of 256 KiB is fine");
	free(big);

	/* context */
	is_int(json("{\"script\": \"1\", \"context\": {\"a.csv\": \"x,y\", \"b.bin\": {\"content\": \"AAEC\", \"encoding\": \"base64\"}}}"),
	       0, "context with text and base64");
	ok(req.n_entries == 2 && strcmp(req.entries[0].path, "input/a.csv") == 0 && req.entries[0].len == 3,
	   "text context goes to input/");
	ok(req.entries[1].len == 3 && memcmp(req.entries[1].data, "\0\1\2", 3) == 0, "base64 context is decoded");
	is_int(json("{\"script\": \"1\", \"context\": {\"a\": {\"content\": \"hi\", \"encoding\": \"utf-8\"}}}"), 0,
	       "an explicit utf-8 encoding");
	is_int(json("{\"script\": \"1\", \"context\": {\"a\": {\"content\": \"!!!\", \"encoding\": \"base64\"}}}"), 400,
	       "bad base64 is a 400");
	is_int(json("{\"script\": \"1\", \"context\": {\"a\": {\"content\": \"x\", \"encoding\": \"rot13\"}}}"), 400,
	       "an unknown encoding is a 400");
	is_int(json("{\"script\": \"1\", \"context\": {\"a\": {\"encoding\": \"base64\"}}}"), 400, "missing content is a 400");
	is_int(json("{\"script\": \"1\", \"context\": {\"a\": 5}}"), 400, "a numeric content is a 400");
	is_int(json("{\"script\": \"1\", \"context\": [\"a\"]}"), 400, "a context array is a 400");
	is_int(json("{\"script\": \"1\", \"context\": {\"\": \"x\"}}"), 400, "an empty context name is a 400");
	is_int(json("{\"script\": \"1\", \"context\": {\"a/b\": \"x\"}}"), 400, "a context name with / is a 400");
	is_int(json("{\"script\": \"1\", \"context\": {\"a\\\\b\": \"x\"}}"), 400, "a context name with \\ is a 400");
	is_int(json("{\"script\": \"1\", \"context\": {\".env\": \"x\"}}"), 400, "a dot-leading context name is a 400");
	is_int(json("{\"script\": \"1\", \"context\": {\"..\": \"x\"}}"), 400, "a context name .. is a 400");
	is_int(json("{\"script\": \"1\", \"context\": {\"a\\u0000b\": \"x\"}}"), 400, "a context name with NUL is a 400");
	is_int(json("{\"script\": \"1\", \"context\": {\"\\u0061\\u0000/../x\": \"1\"}}"), 400,
	       "so is one whose NUL is spelt with other escapes before it");
	is_int(json("{\"script\": \"1\", \"context\": {\"data\": \"more data\\u0000\"}}"), 0,
	       "a NUL in a content is no NUL in a name, though it follows the name's letters");
	is_int(json("{\"script\": \"1\", \"note\\u0000\": 1}"), 400, "a NUL in any key is a 400");
	ok(strstr(err.message, "NUL") != NULL, "saying so");
	is_int(json("12"), 400, "a number is no request");
	ok(strstr(err.message, "must be a JSON object") != NULL, "and is said to be valid JSON of the wrong kind");
	is_int(json("{\"script\": \"\\ud800\"}"), 400, "an unpaired surrogate escape is a 400");
	char name[300];
	memset(name, 'n', 255);
	name[255] = '\0';
	char body[400];
	snprintf(body, sizeof body, "{\"script\": \"1\", \"context\": {\"%s\": \"x\"}}", name);
	is_int(json(body), 0, "a 255-byte context name is fine");
	name[255] = 'n';
	name[256] = '\0';
	snprintf(body, sizeof body, "{\"script\": \"1\", \"context\": {\"%s\": \"x\"}}", name);
	is_int(json(body), 400, "a 256-byte context name is a 400");
	is_int(context_count(20), 0, "20 context entries are fine");
	is_int(context_count(21), 413, "21 context entries are a 413");
	is_int(context_of(5 * 1024 * 1024, false), 0, "a 5 MiB text entry is fine");
	is_int(context_of(5 * 1024 * 1024 + 1, false), 413, "a text entry over 5 MiB is a 413");
	is_int(context_of(5 * 1024 * 1024, true), 0, "a 5 MiB base64 entry is fine");
	is_int(context_of(5 * 1024 * 1024 + 1, true), 413, "a base64 entry decoding to over 5 MiB is a 413");
	{
		struct buf b = { 0 };
		char *chunk = repeat('z', 5 * 1024 * 1024);
		buf_printf(&b, "{\"script\": \"1\", \"context\": {\"a\": \"%s\", \"b\": \"%s\"}}", chunk, chunk);
		is_int(json(b.data), 0, "two 5 MiB entries (10 MiB in all) are fine");
		buf_reset(&b);
		buf_printf(&b, "{\"script\": \"1\", \"context\": {\"a\": \"%s\", \"b\": \"%s\", \"c\": \"z\"}}", chunk, chunk);
		is_int(json(b.data), 413, "one byte over 10 MiB in all is a 413");
		free(chunk);
		buf_free(&b);
	}

	/* files mode */
	is_int(json("{\"files\": {\"main.py\": \"import pkg.mod\", \"pkg/__init__.py\": \"\", \"pkg/mod.py\": \"x=1\"}, "
		    "\"entry_point\": \"main.py\"}"), 0, "files mode with a package");
	ok(req.n_entries == 3 && strcmp(req.entry_point, "main.py") == 0 && !req.script, "files are entries, entry_point runs");
	is_int(json("{\"files\": {\"main.py\": \"1\"}}"), 400, "files without entry_point is a 400");
	is_int(json("{\"files\": {\"main.py\": \"1\"}, \"entry_point\": \"other.py\"}"), 400, "an entry_point not in files is a 400");
	is_int(json("{\"files\": {\"main.txt\": \"1\"}, \"entry_point\": \"main.txt\"}"), 400, "an entry_point not .py is a 400");
	is_int(json("{\"files\": {\"main.py\": \"1\"}, \"entry_point\": 3}"), 400, "a numeric entry_point is a 400");
	is_int(json("{\"script\": \"1\", \"files\": {\"main.py\": \"1\"}, \"entry_point\": \"main.py\"}"), 400,
	       "script with files is a 400");
	is_int(json("{\"files\": {\"main.py\": \"1\"}, \"entry_point\": \"main.py\", \"context\": {\"a\": \"b\"}}"), 400,
	       "context with files is a 400");
	is_int(json("{\"script\": \"1\", \"entry_point\": \"main.py\"}"), 400, "entry_point without files is a 400");
	is_int(json("{\"files\": {}, \"entry_point\": \"main.py\"}"), 400, "empty files is a 400");
	is_int(json("{\"files\": {\"../x.py\": \"1\"}, \"entry_point\": \"../x.py\"}"), 400, "a .. path is a 400");
	is_int(json("{\"files\": {\"/x.py\": \"1\"}, \"entry_point\": \"/x.py\"}"), 400, "an absolute path is a 400");
	is_int(json("{\"files\": {\"a//x.py\": \"1\"}, \"entry_point\": \"a//x.py\"}"), 400, "an empty component is a 400");
	is_int(json("{\"files\": {\"a/.x.py\": \"1\"}, \"entry_point\": \"a/.x.py\"}"), 400, "a dot-leading component is a 400");
	is_int(json("{\"files\": {\"a\\\\x.py\": \"1\"}, \"entry_point\": \"a\\\\x.py\"}"), 400, "a backslash is a 400");
	is_int(json("{\"files\": {\"m.py\": \"1\", \"d.bin\": {\"content\": \"AA==\", \"encoding\": \"base64\"}}, \"entry_point\": \"m.py\"}"),
	       0, "files may be base64");

	/* What json-c lets through and RFC 8259 does not (found by tests/fuzz/mcp). */
	is_int(json("{\"script\": \"print('\xe0\x98\x94')\"}"), 400, "overlong UTF-8 (E0 98 94) is a 400");
	is_int(json("{\"script\": \"print(1)\x1f\"}"), 400, "a raw control character in a string is a 400");
	is_int(json("{\"script\": \"print('\xe0\xa0\x89')\"}"), 0, "while U+0809 (E0 A0 89) is fine");
	/* dependencies (no packages are loaded in this test: none is installed) */
	is_int(json("{\"script\": \"1\", \"dependencies\": []}"), 0, "no dependencies");
	is_int(json("{\"script\": \"1\", \"dependencies\": \"numpy\"}"), 400, "dependencies as a string is a 400");
	is_int(json("{\"script\": \"1\", \"dependencies\": [3]}"), 400, "a numeric dependency is a 400");
	is_int(json("{\"script\": \"1\", \"dependencies\": [\"$(rm)\"]}"), 400, "a malformed dependency is a 400");
	is_int(json("{\"script\": \"1\", \"dependencies\": [\"surely-not-installed\"]}"), 400, "a missing package is a 400");
	ok(strstr(err.message, "surely-not-installed is not installed") != NULL, "saying it is not installed");
	is_int(json("{\"script\": \"1\", \"dependencies\": [\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}"),
	       400, "16 dependencies are a 400");
	is_int(json("{\"script\": \"1\", \"dependencies\": [\"Foo.Bar\", \"foo_bar\"]}"), 400,
	       "one package named twice, in two spellings, is a 400");
	ok(strstr(err.message, "dependencies[1] \"foo_bar\" names foo-bar again (dependencies[0])") != NULL,
	   "naming both entries");
	is_int(json("{\"script\": \"1\", \"dependencies\": [\"numpy; rm -rf /\"]}"), 400, "a marker is a 400");
	ok(strstr(err.message, "dependencies[0] \"numpy; rm -rf /\" is not a package name") != NULL, "naming the entry");

	request_free(&req);
	return done_testing();
}
