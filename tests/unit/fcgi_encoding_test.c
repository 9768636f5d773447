/* fcgi_encoding_test.c — UTF-8 validation, the JSON string encoder, base64
 * and the log's lines. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcgi/fcgi.h"
#include "tests/tap.h"

static const char *enc(const char *s, size_t n)
{
	static struct buf b;
	buf_reset(&b);
	json_put_string(&b, s, n);
	return b.data;
}

/* What log_msg(FMT, ARG) writes to stderr. */
static const char *logged(const char *fmt, const char *arg)
{
	static char out[4096];
	int p[2], saved = dup(STDERR_FILENO);
	if (saved < 0 || pipe(p) < 0 || dup2(p[1], STDERR_FILENO) < 0)
		abort();
	log_msg(fmt, arg);
	if (dup2(saved, STDERR_FILENO) < 0)
		abort();
	close(saved);
	close(p[1]);
	ssize_t n = read(p[0], out, sizeof out - 1);
	close(p[0]);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

static const char *b64(const char *s, size_t n)
{
	static struct buf b;
	buf_reset(&b);
	base64_encode(&b, (const unsigned char *)s, n);
	return b.data ? b.data : "";
}

static ssize_t unb64(const char *s, char *out)
{
	return base64_decode(s, strlen(s), (unsigned char *)out);
}

int main(void)
{
	ok(utf8_valid((const unsigned char *)"plain", 5), "ASCII is valid UTF-8");
	ok(utf8_valid((const unsigned char *)"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12), "2, 3 and 4 byte sequences are valid");
	ok(!utf8_valid((const unsigned char *)"\xc0\xaf", 2), "an overlong '/' is invalid");
	ok(!utf8_valid((const unsigned char *)"\xed\xa0\x80", 3), "a UTF-16 surrogate is invalid");
	ok(!utf8_valid((const unsigned char *)"\xf4\x90\x80\x80", 4), "above U+10FFFF is invalid");
	ok(!utf8_valid((const unsigned char *)"\xe2\x82", 2), "a truncated sequence is invalid");
	ok(!utf8_valid((const unsigned char *)"\xff", 1), "0xFF is invalid");
	/* Cutting to a size: never in the middle of a character. */
	is_int((long)utf8_prefix("h\xc3\xa9llo", 6, 2), 1, "a cut inside a 2-byte character falls before it");
	is_int((long)utf8_prefix("h\xc3\xa9llo", 6, 3), 3, "a cut after it keeps it");
	is_int((long)utf8_prefix("\xf0\x9f\x98\x80x", 5, 3), 0, "a cut inside a 4-byte character falls before it");
	is_int((long)utf8_prefix("abc", 3, 10), 3, "a string within the size is whole");
	is_int((long)utf8_prefix("a\x80\x80\x80\x80\x80", 6, 5), 5, "bytes that are no UTF-8 are cut where asked");
	is_int((long)utf8_whole("ab\xe2\x82", 4), 2, "a stream ending in half a 3-byte character loses that half");
	is_int((long)utf8_whole("ab\xe2\x82\xac", 5), 5, "and keeps a whole one");
	is_int((long)utf8_whole("ab\xf0", 3), 2, "a lone lead byte goes");
	is_int((long)utf8_whole("ab\x80", 3), 3, "a stray continuation byte, no character's, stays (the encoder marks it)");
	is_int((long)utf8_whole("", 0), 0, "nothing stays nothing");
	is_int((long)utf8_prefix("ab\x80\x80xyz", 7, 3), 3, "stray continuation bytes at a cut take no character before them");
	is_int((long)utf8_whole("ab\xff", 3), 3, "a byte UTF-8 never uses is no character's start: it stays");

	is_str(enc("a\"b\\c\n\t\r", 8), "\"a\\\"b\\\\c\\n\\t\\r\"", "quotes, backslashes and controls are escaped");
	is_str(enc("\x01\x1f", 2), "\"\\u0001\\u001f\"", "other control characters become \\u00XX");
	is_str(enc("a\0b", 3), "\"a\\u0000b\"", "NUL is escaped, not a terminator");
	is_str(enc("\xff" "ok", 3), "\"\xef\xbf\xbdok\"", "an invalid byte becomes U+FFFD");
	is_str(enc("\xe2\x82" "x", 3), "\"\xef\xbf\xbdx\"", "a truncated sequence becomes one U+FFFD");
	is_str(enc("\xc0\xaf", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"", "each byte of an overlong form becomes U+FFFD");
	is_str(enc("\xe2\x82\xac", 3), "\"\xe2\x82\xac\"", "valid UTF-8 passes through");
	is_str(enc("", 0), "\"\"", "the empty string");
	char ascii[128 + 3];
	for (int i = 0; i < 128; i++)
		ascii[i] = (char)i;
	memcpy(ascii + 128, "\xe2\x82\xac", 3);
	is_int((long)json_string_len(ascii, sizeof ascii), (long)strlen(enc(ascii, sizeof ascii)) - 2,
	       "json_string_len is the length json_put_string writes for every ASCII byte and UTF-8");
	is_int((long)json_string_len("\x01\x01", 2), 12, "a control character escapes to six bytes");

	is_str(b64("", 0), "", "base64 of nothing");
	is_str(b64("f", 1), "Zg==", "base64 pads one byte");
	is_str(b64("fo", 2), "Zm8=", "base64 pads two bytes");
	is_str(b64("foo", 3), "Zm9v", "base64 of three bytes");
	is_str(b64("\x00\xff\xfe", 3), "AP/+", "base64 of binary bytes");

	char out[64];
	ssize_t n = unb64("Zm9vYmFy", out);
	ok(n == 6 && memcmp(out, "foobar", 6) == 0, "base64 decodes");
	n = unb64("Zm9v\nYmE=", out);
	ok(n == 5 && memcmp(out, "fooba", 5) == 0, "base64 with a line break and padding decodes");
	is_int(unb64("Zm9", out), -1, "base64 missing its padding is refused");
	is_int(unb64("Zm9v!", out), -1, "a character outside the alphabet is refused");
	is_int(unb64("Zg==Zg==", out), -1, "data after padding is refused");
	is_int(unb64("Zh==", out), -1, "non-zero bits in the padding are refused");
	is_int(unb64("", out), 0, "empty base64 is empty");

	/* Round trip over every byte value. */
	char all[256], back[256];
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	struct buf b = { 0 };
	base64_encode(&b, (unsigned char *)all, 256);
	n = base64_decode(b.data, b.len, (unsigned char *)back);
	ok(n == 256 && memcmp(all, back, 256) == 0, "base64 round-trips every byte value");
	buf_free(&b);

	const char *line = logged("package install failed; stderr: %s", "pip said\ncoderunner-fcgi[1]: SIGTERM\r\x1b[2K");
	ok(strchr(line, '\n') == line + strlen(line) - 1, "a log entry is one line, whatever it quotes");
	const char *text = strstr(line, "]: ");
	ok(!strncmp(line, "coderunner-fcgi[", 16) && text &&
	   !strcmp(text, "]: package install failed; stderr: pip said coderunner-fcgi[1]: SIGTERM  [2K\n"),
	   "its control characters are spaces");
	return done_testing();
}
