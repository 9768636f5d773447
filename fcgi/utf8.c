/* utf8.c — UTF-8 validation, JSON string encoding and base64.
 *
 * Script output is arbitrary bytes, but every response is UTF-8 JSON, so the
 * encoder replaces each maximal invalid subsequence with U+FFFD (as the
 * Unicode standard recommends) instead of passing bytes through raw.
 */
#include <string.h>

#include "fcgi/fcgi.h"

/* How many bytes the character a byte starts has (2..4), or 0 for a
 * byte that starts none of more than one (ASCII, a continuation byte, a
 * byte UTF-8 never uses). */
static size_t utf8_lead_length(unsigned char c)
{
	return c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
}

/* The most of s's len bytes, up to max, that cuts no character in two: a
 * message cut to a size ends with its last whole character, not with the
 * U+FFFD the encoder would make of half of one. */
size_t utf8_prefix(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	/* Back from the cut over at most 3 continuation bytes (10xxxxxx), to
	 * the first byte of the character the cut falls in, if it is one. */
	size_t n = max;
	while (n > 0 && max - n < 3 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n + utf8_lead_length((unsigned char)s[n]) > max ? n : max;
}

/* len, less a character s ends in the middle of: what a stream cut to a
 * size keeps whole. */
size_t utf8_whole(const char *s, size_t len)
{
	size_t i = len;
	while (i > 0 && len - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	return i > 0 && i - 1 + utf8_lead_length((unsigned char)s[i - 1]) > len ? i - 1 : len;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes at s do
 * not start one; *bad is then how many bytes form the invalid subsequence. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;		/* no overlong forms */
		else if (c == 0xED)
			hi = 0x9F;		/* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;		/* nothing above U+10FFFF */
	} else {
		*bad = 1;
		return 0;
	}
	for (size_t i = 1; i <= need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return need + 1;
}

bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, bad;
	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = utf8_seq(s + i, n - i, &bad);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

void json_put_string(struct buf *b, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	size_t i = 0, run = 0, bad;

	buf_reserve(b, n + 2);
	buf_putc(b, '"');
	while (i < n) {
		unsigned char c = s[i];
		/* Copy runs of plain characters in one go. */
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			run++;
			i++;
			continue;
		}
		if (run) {
			buf_put(b, s + i - run, run);
			run = 0;
		}
		if (c >= 0x80) {
			size_t k = utf8_seq(s + i, n - i, &bad);
			if (k) {
				buf_put(b, s + i, k);
				i += k;
			} else {
				buf_put(b, "\xEF\xBF\xBD", 3);
				i += bad;
			}
			continue;
		}
		switch (c) {
		case '"': buf_put(b, "\\\"", 2); break;
		case '\\': buf_put(b, "\\\\", 2); break;
		case '\n': buf_put(b, "\\n", 2); break;
		case '\r': buf_put(b, "\\r", 2); break;
		case '\t': buf_put(b, "\\t", 2); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			buf_put(b, u, 6);
		}
		}
		i++;
	}
	if (run)
		buf_put(b, s + i - run, run);
	buf_putc(b, '"');
}

size_t json_string_len(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t len = n;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '"' || s[i] == '\\' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')
			len += 1;
		else if (s[i] < 0x20)
			len += 5;	/* \u00XX */
	return len;
}

void json_put_cstring(struct buf *b, const char *s)
{
	json_put_string(b, s, strlen(s));
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(struct buf *b, const unsigned char *s, size_t n)
{
	buf_reserve(b, (n + 2) / 3 * 4);
	char *o = b->data + b->len;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)s[i] << 16;
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8;
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = '=';
	}
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
}

/* Strict RFC 4648 base64, padding required, except that ASCII whitespace
 * (line breaks from encoders that wrap) is skipped. */
ssize_t base64_decode(const char *s, size_t n, unsigned char *out)
{
	static signed char val[256];
	static bool ready;
	if (!ready) {
		memset(val, -1, sizeof val);
		for (int i = 0; i < 64; i++)
			val[(unsigned char)b64[i]] = (signed char)i;
		ready = true;
	}
	unsigned acc = 0;
	int bits = 0, pad = 0;
	size_t o = 0, digits = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			digits++;
			continue;
		}
		if (pad || val[c] < 0)
			return -1;		/* data after padding, or not base64 */
		acc = acc << 6 | (unsigned)val[c];
		bits += 6;
		digits++;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (digits % 4 || pad > 2 || acc != 0)
		return -1;
	if ((pad == 1 && bits != 2) || (pad == 2 && bits != 4) || (pad == 0 && bits != 0))
		return -1;
	return (ssize_t)o;
}
