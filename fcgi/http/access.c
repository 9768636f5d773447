/* access.c — who may call an endpoint that runs code.
 *
 * A web page the user visits can make their browser POST to a service on
 * localhost, and with DNS rebinding even read the answer. So a request
 * that carries a browser's Origin is refused unless that origin's host is
 * one the operator allowed (allowed_hosts, by default the loopback names),
 * and /mcp, which the MCP specification asks to validate, refuses a Host
 * that is not allowed either. Requests without an Origin are not from a
 * browser's page and pass. Ports are not compared: an allowed name is
 * allowed on any port.
 *
 * With api_keys_file, every such endpoint also wants a key. The file is
 * read by the master at start and on reload; only digests are kept.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fcgi/fcgi.h"

/* Whether name[0..len) is an entry of the comma- or space-separated list. */
static bool listed(const char *list, const char *name, size_t len)
{
	for (const char *p = list; *p;) {
		p += strspn(p, ", \t");
		size_t n = strcspn(p, ", \t");
		if (n == 1 && *p == '*')
			return true;
		if (n && n == len && strncasecmp(p, name, len) == 0)
			return true;
		p += n;
	}
	return false;
}

/* host[:port], where host may be [v6]: the length of host. */
static size_t host_length(const char *s)
{
	if (*s == '[') {
		const char *end = strchr(s, ']');
		return end ? (size_t)(end - s) + 1 : 0;
	}
	return strcspn(s, ":/");
}

bool access_host_allowed(const struct config *c, const char *host)
{
	if (!host || !*host)
		return false;
	size_t n = host_length(host);
	/* After the name only a port may follow. */
	if (!n || (host[n] && (host[n] != ':' || strspn(host + n + 1, "0123456789") != strlen(host + n + 1))))
		return false;
	return listed(c->allowed_hosts, host, n);
}

bool access_origin_allowed(const struct config *c, const char *origin)
{
	const char *p = origin ? strstr(origin, "://") : NULL;
	if (!p)
		return false;	/* "null" and anything that is not scheme://host */
	return access_host_allowed(c, p + 3);
}

/* ---- API keys ----------------------------------------------------------- */

static int hex_digest(const char *s, unsigned char out[32])
{
	if (strlen(s) != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		unsigned v;
		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

int access_load_keys(struct config *c, char *err, size_t errlen)
{
	c->n_api_keys = 0;
	if (strcmp(c->api_keys_file, "none") == 0)
		return 0;
	FILE *f = fopen(c->api_keys_file, "re");
	if (!f) {
		snprintf(err, errlen, "api_keys_file %s: %s", c->api_keys_file, strerror(errno));
		return -1;
	}
	/* A line of any length: cut into pieces of a fixed buffer, one long
	 * key became two, each of them a key that ran code. The keys are
	 * read unbuffered into line alone, which is wiped before it is freed:
	 * no copy of them is left in freed memory (unless a line outgrows
	 * line's first size, when getline leaves one in the buffer it gave up). */
	setvbuf(f, NULL, _IONBF, 0);
	size_t cap = 1024;
	char *line = xmalloc(cap);
	unsigned lineno = 0;
	int rc = 0;
	errno = 0;
	while (rc == 0 && getline(&line, &cap, f) >= 0) {
		lineno++;
		char *s = line + strspn(line, " \t");
		s[strcspn(s, "\r\n")] = '\0';
		for (char *e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t');)
			*--e = '\0';
		if (!*s || *s == '#')
			continue;
		if (c->n_api_keys == MAX_API_KEYS) {
			snprintf(err, errlen, "api_keys_file %s: more than %d keys", c->api_keys_file, MAX_API_KEYS);
			rc = -1;
		} else if (strncmp(s, "sha256:", 7) == 0) {
			if (hex_digest(s + 7, c->api_keys[c->n_api_keys++]) < 0) {
				snprintf(err, errlen, "api_keys_file %s:%u: sha256: must be followed by 64 hex digits",
					 c->api_keys_file, lineno);
				rc = -1;
			}
		} else if (strlen(s) < 16) {
			snprintf(err, errlen, "api_keys_file %s:%u: a key of fewer than 16 characters is too easy to guess",
				 c->api_keys_file, lineno);
			rc = -1;
		} else
			sha256(s, strlen(s), c->api_keys[c->n_api_keys++]);
	}
	if (rc == 0 && (ferror(f) || errno == ENOMEM)) {
		/* Stopped short: the keys after it would be refused. */
		snprintf(err, errlen, "api_keys_file %s: %s", c->api_keys_file, strerror(errno));
		rc = -1;
	}
	explicit_bzero(line, cap);
	free(line);
	fclose(f);
	if (rc == 0 && c->n_api_keys == 0) {
		snprintf(err, errlen, "api_keys_file %s: holds no key (to ask for none, say api_keys_file = none)",
			 c->api_keys_file);
		rc = -1;
	}
	return rc;
}

bool access_key_valid(const struct config *c, const char *authorization, const char *api_key)
{
	if (c->n_api_keys == 0)
		return true;
	const char *key = api_key;
	if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0)
		key = authorization + 7 + strspn(authorization + 7, " ");
	if (!key || !*key)
		return false;
	unsigned char digest[32];
	sha256(key, strlen(key), digest);
	/* Every key compared in full: the time taken says nothing of which
	 * one came closest. */
	unsigned char found = 0;
	for (unsigned i = 0; i < c->n_api_keys; i++) {
		unsigned char diff = 0;
		for (int j = 0; j < 32; j++)
			diff |= digest[j] ^ c->api_keys[i][j];
		found |= (unsigned char)(diff == 0);
	}
	return found;
}
