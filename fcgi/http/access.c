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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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

/* The keys file may be a pipe (--check-config --config <(...)) and may hold
 * comments; none has any reason to be this large. */
#define KEYS_FILE_MAX (1 << 20)

/* Reads all of fd into *text, NUL-terminated: *len bytes in a buffer of
 * *cap; 0, or -1 with errno (EFBIG from KEYS_FILE_MAX on). The text is
 * keys: a buffer it outgrows is wiped before it is freed, so no copy is
 * left in freed memory, as getline's and stdio's buffers would leave one. */
static int read_keys_file(int fd, char **text, size_t *len, size_t *cap_out)
{
	size_t cap = 4096, n = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (n + 1 == cap) {
			if (2 * cap > KEYS_FILE_MAX) {
				explicit_bzero(buf, cap);
				free(buf);
				errno = EFBIG;
				return -1;
			}
			char *bigger = xmalloc(2 * cap);
			memcpy(bigger, buf, n);
			explicit_bzero(buf, cap);
			free(buf);
			buf = bigger;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			/* Stopped short: the keys after it would be refused. */
			int e = errno;
			explicit_bzero(buf, cap);
			free(buf);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	*cap_out = cap;
	return 0;
}

/* One line of the keys file, its newline gone: a key, sha256:HEX, a
 * comment or blank. 0, or -1 with err. */
static int add_key(struct config *c, char *line, unsigned lineno, char *err, size_t errlen)
{
	char *s = line + strspn(line, " \t");
	s[strcspn(s, "\r")] = '\0';
	for (char *e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t');)
		*--e = '\0';
	if (!*s || *s == '#')
		return 0;
	if (c->n_api_keys == MAX_API_KEYS) {
		snprintf(err, errlen, "api_keys_file %s: more than %d keys", c->api_keys_file, MAX_API_KEYS);
		return -1;
	}
	if (strncmp(s, "sha256:", 7) == 0) {
		if (hex_digest(s + 7, c->api_keys[c->n_api_keys++]) < 0) {
			snprintf(err, errlen, "api_keys_file %s:%u: sha256: must be followed by 64 hex digits",
				 c->api_keys_file, lineno);
			return -1;
		}
		return 0;
	}
	if (strlen(s) < 16) {
		snprintf(err, errlen, "api_keys_file %s:%u: a key of fewer than 16 characters is too easy to guess",
			 c->api_keys_file, lineno);
		return -1;
	}
	sha256(s, strlen(s), c->api_keys[c->n_api_keys++]);
	return 0;
}

int access_load_keys(struct config *c, char *err, size_t errlen)
{
	c->n_api_keys = 0;
	if (strcmp(c->api_keys_file, "none") == 0)
		return 0;
	int fd = open(c->api_keys_file, O_RDONLY | O_CLOEXEC);
	char *text = NULL;
	size_t len = 0, cap = 0;
	if (fd < 0 || read_keys_file(fd, &text, &len, &cap) < 0) {
		if (errno == EFBIG)
			snprintf(err, errlen, "api_keys_file %s: 1 MiB or larger", c->api_keys_file);
		else
			snprintf(err, errlen, "api_keys_file %s: %s", c->api_keys_file, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	/* A line of any length is one key: cut into pieces of a fixed
	 * buffer, one long key became two, each of them a key that ran code. */
	int rc = 0;
	unsigned lineno = 0;
	for (size_t at = 0; rc == 0 && at < len;) {
		char *line = text + at, *nl = memchr(line, '\n', len - at);
		size_t n = nl ? (size_t)(nl - line) : len - at;
		line[n] = '\0';
		rc = add_key(c, line, ++lineno, err, errlen);
		at += n + 1;
	}
	explicit_bzero(text, cap);
	free(text);
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
