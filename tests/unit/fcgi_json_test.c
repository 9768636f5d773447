/* fcgi_json_test.c — json_check(): what POST /execute copies into a response
 * must be exactly one RFC 8259 JSON value, whatever a script wrote. */
#include <string.h>

#include "fcgi/fcgi.h"
#include "tests/tap.h"

static int check(const char *s)
{
	return json_check(s, strlen(s), 8);
}

int main(void)
{
	const char *good[] = {
		"null", "true", "false", "0", "-0", "42", "-1.5e+10", "1E3", "0.30000000000000004",
		"1000000000000000000000000000000", "\"\"", "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\"",
		"\"h\xc3\xa9\"", "[]", "{}", " [1, \"two\", {\"k\": [null]}] ", "{\"a\": {\"b\": []}}",
		"\"\\ud800\"",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ok(check(good[i]), "valid: %s", good[i]);

	const char *bad[] = {
		"", " ", "NaN", "[NaN]", "Infinity", "-Infinity", "01", "1.", ".5", "+1", "-", "1e", "0x10",
		"\"a\tb\"", "\"\\x41\"", "\"\\u00\"", "\"unterminated", "[1,]", "[1 2]", "{\"a\":1,}",
		"{a: 1}", "{\"a\" 1}", "'x'", "tru", "nul", "1 2", "{\"ok\": true}\n1", "[", "]",
		"\"\xff\"", "\"\xc0\xaf\"", "/*c*/1", "[1]x",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(!check(bad[i]), "invalid: %s", bad[i]);
	ok(!json_check("\"a\0b\"", 5, 8), "invalid: a raw NUL in a string");
	ok(json_check("1\0", 1, 8), "only the given length is read");

	ok(check("[[[[[[[[1]]]]]]]]"), "8 levels deep is within a depth of 8");
	ok(!check("[[[[[[[[[1]]]]]]]]]"), "9 levels deep is refused");
	ok(!check("{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}}}}"), "objects count as levels too");
	return done_testing();
}
