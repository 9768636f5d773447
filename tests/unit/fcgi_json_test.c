/* fcgi_json_test.c — json_check(): what POST /execute copies into a response
 * must be exactly one RFC 8259 JSON value, whatever a script wrote; and the
 * keys with a NUL that json-c would cut short. */
#include <string.h>

#include "fcgi/fcgi.h"
#include "tests/tap.h"

static int check(const char *s)
{
	return json_check(s, strlen(s), 8);
}

/* 1 if a key holds \u0000, 0 if none does, -1 if s is no JSON. */
static int keys_nul(const char *s)
{
	bool nul = false;
	return json_check_keys(s, strlen(s), 8, &nul) ? nul : -1;
}

static int value_length(const char *s)
{
	return (int)json_value_length(s, strlen(s), 8);
}

int main(void)
{
	const char *good[] = {
		"null", "true", "false", "0", "-0", "42", "-1.5e+10", "1E3", "0.30000000000000004",
		"1000000000000000000000000000000", "\"\"", "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\"",
		"\"h\xc3\xa9\"", "[]", "{}", " [1, \"two\", {\"k\": [null]}] ", "{\"a\": {\"b\": []}}",
		"\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\"", "\"\\u0000\"",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ok(check(good[i]), "valid: %s", good[i]);

	const char *bad[] = {
		"", " ", "NaN", "[NaN]", "Infinity", "-Infinity", "01", "1.", ".5", "+1", "-", "1e", "0x10",
		"\"a\tb\"", "\"\\x41\"", "\"\\u00\"", "\"unterminated", "[1,]", "[1 2]", "{\"a\":1,}",
		"{a: 1}", "{\"a\" 1}", "'x'", "tru", "nul", "1 2", "{\"ok\": true}\n1", "[", "]",
		"\"\xff\"", "\"\xc0\xaf\"", "/*c*/1", "[1]x",
		"\"\\ud800\"", "\"\\udc00\"", "\"\\udcff\\ud800\"", "\"\\ud800\\u0041\"", "\"\\ud800x\"",
		"\"\\ud800\\\"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(!check(bad[i]), "invalid: %s", bad[i]);
	ok(!json_check("\"a\0b\"", 5, 8), "invalid: a raw NUL in a string");
	ok(json_check("1\0", 1, 8), "only the given length is read");

	is_int(keys_nul("{\"a\": \"b\\u0000\"}"), 0, "a NUL in a value is no NUL in a key");
	is_int(keys_nul("{\"a\": {\"\\u0061\\u0000/x\": 1}}"), 1, "a NUL in a nested key is seen, however spelt");
	is_int(keys_nul("{\"a\\\\u0000\": 1}"), 0, "an escaped backslash before u0000 is no NUL");
	is_int(value_length("[1, {\"a\": 2}] , \"x\""), 14, "the length of the value at the start, with its space");
	is_int(value_length("[1, "), 0, "0 for a value cut short");

	unsigned depth;
	is_int((int)json_count_values("{\"a\": [1, {}, \"x\"]}", 19, &depth), 5, "five values counted");
	is_int((int)depth, 3, "nested three deep");
	is_int((int)json_count_values("[\"[,{\\\"[,\"]", 11, &depth), 2, "brackets, commas and escaped quotes in a string are not values");
	is_int((int)depth, 1, "nor levels");
	is_int((int)json_count_values("{}, {}, {", 9, &depth), 3, "counted in what is no JSON too");
	json_count_values("[[[1]]]", 7, &depth);
	is_int((int)depth, 3, "a number inside the deepest array is no level");
	json_count_values("[[[]]]", 6, &depth);
	is_int((int)depth, 3, "nor is an empty array's inside");
	ok(check("[[[[[[[[1]]]]]]]]"), "8 levels deep is within a depth of 8");
	ok(!check("[[[[[[[[[1]]]]]]]]]"), "9 levels deep is refused");
	ok(!check("{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}}}}"), "objects count as levels too");
	return done_testing();
}
