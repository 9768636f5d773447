/* json_check.c — is this text exactly one JSON value (RFC 8259)?
 *
 * POST /execute answers with the JSON text main()'s return value became
 * inside the sandbox, copied as it is so that big integers and floats keep
 * every digit (json-c would clamp 10**30 to 2**64-1). The text comes from the
 * run, so the script could have written anything there; it is copied into a
 * response only if it passes this check. json-c's own parser is too lenient
 * for that (it takes NaN, Infinity and raw control characters), hence this
 * small recursive-descent checker, bounded in depth.
 */
#include <string.h>

#include "fcgi/fcgi.h"

struct cursor {
	const unsigned char *p, *end;
	unsigned depth_left;
	bool key_nul;		/* an object key holds \u0000 */
};

static void skip_space(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool take(struct cursor *c, char ch)
{
	if (c->p < c->end && *c->p == (unsigned char)ch) {
		c->p++;
		return true;
	}
	return false;
}

static bool literal(struct cursor *c, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return false;
	c->p += n;
	return true;
}

static bool digits(struct cursor *c)
{
	const unsigned char *start = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > start;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static bool number(struct cursor *c)
{
	take(c, '-');
	if (take(c, '0')) {
		if (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			return false;	/* no leading zeros */
	} else if (!digits(c))
		return false;
	if (take(c, '.') && !digits(c))
		return false;
	if (take(c, 'e') || take(c, 'E')) {
		if (!take(c, '+'))
			take(c, '-');
		if (!digits(c))
			return false;
	}
	return true;
}

static bool is_hex(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Four hex digits after \u: the code unit, or -1. */
static long hex4(struct cursor *c)
{
	if (c->end - c->p < 4)
		return -1;
	long u = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char ch = *c->p++;
		if (!is_hex(ch))
			return -1;
		u = u * 16 + (ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
	}
	return u;
}

/* The input was checked to be UTF-8 as a whole, so bytes >= 0x80 are parts
 * of valid characters; only controls, quotes and escapes matter here. A
 * surrogate escape must be half of a pair: a lone one is no character, and
 * strict parsers refuse the whole text over it (RFC 8259, section 8.2). */
static bool string(struct cursor *c, bool key)
{
	if (!take(c, '"'))
		return false;
	while (c->p < c->end) {
		unsigned char ch = *c->p++;
		if (ch == '"')
			return true;
		if (ch < 0x20)
			return false;
		if (ch != '\\')
			continue;
		if (c->p >= c->end)
			return false;
		ch = *c->p++;
		if (ch == 'u') {
			long u = hex4(c);
			if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
				return false;
			if (u >= 0xD800 && u <= 0xDBFF) {
				long low = take(c, '\\') && take(c, 'u') ? hex4(c) : -1;
				if (low < 0xDC00 || low > 0xDFFF)
					return false;
			}
			c->key_nul |= key && u == 0;
		} else if (!strchr("\"\\/bfnrt", ch) || ch == '\0')
			return false;
	}
	return false;
}

static bool value(struct cursor *c);

/* An object (open '{', close '}', members "key": value) or an array. */
static bool container(struct cursor *c, char open, char close, bool keys)
{
	if (!take(c, open))
		return false;
	if (c->depth_left == 0)
		return false;
	c->depth_left--;
	skip_space(c);
	if (!take(c, close)) {
		do {
			skip_space(c);
			if (keys) {
				if (!string(c, true))
					return false;
				skip_space(c);
				if (!take(c, ':'))
					return false;
			}
			if (!value(c))
				return false;
		} while (take(c, ','));
		if (!take(c, close))
			return false;
	}
	c->depth_left++;
	return true;
}

/* A value with the white space around it. */
static bool value(struct cursor *c)
{
	skip_space(c);
	if (c->p >= c->end)
		return false;
	bool good;
	switch (*c->p) {
	case '{': good = container(c, '{', '}', true); break;
	case '[': good = container(c, '[', ']', false); break;
	case '"': good = string(c, false); break;
	case 't': good = literal(c, "true"); break;
	case 'f': good = literal(c, "false"); break;
	case 'n': good = literal(c, "null"); break;
	default: good = number(c); break;
	}
	skip_space(c);
	return good;
}

bool json_check_keys(const char *s, size_t n, unsigned max_depth, bool *key_nul)
{
	if (!utf8_valid((const unsigned char *)s, n))
		return false;
	struct cursor c = { (const unsigned char *)s, (const unsigned char *)s + n, max_depth, false };
	bool good = value(&c) && c.p == c.end;
	if (key_nul)
		*key_nul = c.key_nul;
	return good;
}

bool json_check(const char *s, size_t n, unsigned max_depth)
{
	return json_check_keys(s, n, max_depth, NULL);
}

size_t json_value_length(const char *s, size_t n, unsigned max_depth)
{
	struct cursor c = { (const unsigned char *)s, (const unsigned char *)s + n, max_depth, false };
	return value(&c) ? (size_t)(c.p - (const unsigned char *)s) : 0;
}

/* An upper bound on the values in a text, without parsing it: each value but
 * the first follows a comma, a colon or a '[' outside a string. json-c
 * builds every value before anything else can look at them, some 800 bytes
 * for a "{}" of three bytes on the wire, so a 16 MiB body of them took a
 * worker to 4 GB; this is counted before json-c sees the body, whatever else
 * is wrong with it. And the deepest nesting of objects and arrays, which
 * json-c's own limit does not give: it counts a number or string inside
 * the deepest one as a level more, an empty one not. */
size_t json_count_values(const char *s, size_t n, unsigned *depth)
{
	size_t count = 1;
	unsigned open = 0;
	bool in_string = false;
	*depth = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (in_string) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_string = false;
		} else if (ch == '"') {
			in_string = true;
		} else if (ch == ',' || ch == ':') {
			count++;
		} else if (ch == '[' || ch == '{') {
			count += ch == '[';
			open++;
			*depth = open > *depth ? open : *depth;
		} else if ((ch == ']' || ch == '}') && open) {
			open--;
		}
	}
	return count;
}
