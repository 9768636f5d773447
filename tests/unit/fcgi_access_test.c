/* fcgi_access_test.c — SHA-256, allowed hosts and origins, API keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcgi/fcgi.h"
#include "tests/tap.h"

static struct config c;

static const char *hex(const char *s, size_t n)
{
	static char out[65];
	unsigned char d[32];
	sha256(s, n, d);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return out;
}

/* Loads a keys file holding text; the error, or "" */
static const char *load(const char *text)
{
	static char err[512];
	char path[] = "/tmp/coderunner-keys.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
	snprintf(c.api_keys_file, sizeof c.api_keys_file, "%s", path);
	err[0] = '\0';
	access_load_keys(&c, err, sizeof err);
	unlink(path);
	return err;
}

int main(void)
{
	/* FIPS 180-4's examples, and the padding's edges */
	is_str(hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256 of nothing");
	is_str(hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256 of abc");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	is_str(hex(two, strlen(two)), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	       "sha256 of 56 bytes: the length spills into a second block");
	char a[1000];
	memset(a, 'a', sizeof a);
	is_str(hex(a, 64), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb", "sha256 of 64 bytes");

	config_defaults(&c);
	/* hosts and origins */
	ok(access_host_allowed(&c, "localhost") && access_host_allowed(&c, "localhost:8080") &&
	   access_host_allowed(&c, "127.0.0.1:1") && access_host_allowed(&c, "[::1]:8080") &&
	   access_host_allowed(&c, "LOCALHOST"), "the loopback names, with any port, by default");
	ok(!access_host_allowed(&c, "localhost.attacker.example") && !access_host_allowed(&c, "attacker.example") &&
	   !access_host_allowed(&c, "localhost:80x") && !access_host_allowed(&c, "localhost@evil") &&
	   !access_host_allowed(&c, "[::1") && !access_host_allowed(&c, "") && !access_host_allowed(&c, NULL) &&
	   !access_host_allowed(&c, "127.0.0.1.nip.io"), "nothing else");
	ok(access_origin_allowed(&c, "http://localhost:3000") && access_origin_allowed(&c, "https://[::1]"),
	   "an origin from an allowed host");
	ok(!access_origin_allowed(&c, "null") && !access_origin_allowed(&c, "http://attacker.example") &&
	   !access_origin_allowed(&c, "http://localhost.attacker.example") && !access_origin_allowed(&c, "localhost"),
	   "no other origin, nor null");
	snprintf(c.allowed_hosts, sizeof c.allowed_hosts, "*");
	ok(access_host_allowed(&c, "anything.example:9"), "* allows any host");

	/* keys */
	ok(access_key_valid(&c, NULL, NULL), "no keys asked for: every request may run code");
	is_str(load("# the agents' key\n  correct-horse-battery-staple  \n\n"
		    "sha256:A6A1D2F3A4E6C0E9E8FA8D0F7C5B6C1E1B5B3A8D9F0E7C6B5A4D3C2B1A0F9E8D\n"), "",
	       "a file of a key and a digest loads");
	is_int((int)c.n_api_keys, 2, "two keys");
	ok(access_key_valid(&c, "Bearer correct-horse-battery-staple", NULL) &&
	   access_key_valid(&c, "bearer correct-horse-battery-staple", NULL) &&
	   access_key_valid(&c, NULL, "correct-horse-battery-staple"), "the key, as a Bearer token or X-API-Key");
	ok(!access_key_valid(&c, NULL, NULL) && !access_key_valid(&c, "Bearer wrong-horse-battery-staple", NULL) &&
	   !access_key_valid(&c, "Basic Y29ycmVjdA==", NULL) && !access_key_valid(&c, NULL, "") &&
	   !access_key_valid(&c, "Bearer correct-horse-battery-stapl", NULL) &&
	   !access_key_valid(&c, NULL, "sha256:a6a1d2f3a4e6c0e9e8fa8d0f7c5b6c1e1b5b3a8d9f0e7c6b5a4d3c2b1a0f9e8d"),
	   "no key, a wrong one, a prefix of one, or a digest itself is refused");
	char key_digest[80];
	snprintf(key_digest, sizeof key_digest, "sha256:%s\n", hex("digest-only-key-123", 19));
	load(key_digest);
	ok(c.n_api_keys == 1 && access_key_valid(&c, NULL, "digest-only-key-123"), "a key listed only by its digest");
	ok(strstr(load("short\n"), "fewer than 16") != NULL, "a short key is refused at load");
	ok(strstr(load("sha256:abc\n"), "64 hex digits") != NULL, "a digest that is not 64 hex digits is refused");
	ok(strstr(load("# nothing\n\n"), "holds no key") != NULL, "a file without keys is refused");
	/* A file read in growing pieces: a key across their edges is one key,
	 * and the lines past it are read too. */
	static char big[20000];
	memset(big, '#', 9000);
	big[9000] = '\n';
	memset(big + 9001, 'k', 5000);
	snprintf(big + 14001, sizeof big - 14001, "\r\nsecond-key-of-the-file");
	is_str(load(big), "", "a file of 14 KB, with a key of 5000 characters and CRLF lines, loads");
	static char long_key[5001];
	memset(long_key, 'k', 5000);
	ok(c.n_api_keys == 2 && access_key_valid(&c, NULL, long_key) &&
	   !access_key_valid(&c, NULL, long_key + 1) && access_key_valid(&c, NULL, "second-key-of-the-file"),
	   "both keys whole, the last without a newline");
	char *huge = malloc((1 << 20) + 1);
	if (!huge)
		abort();
	memset(huge, '#', 1 << 20);
	huge[1 << 20] = '\0';
	ok(strstr(load(huge), "1 MiB or larger") != NULL, "a file of 1 MiB is refused");
	free(huge);
	snprintf(c.api_keys_file, sizeof c.api_keys_file, "/nonexistent/keys");
	char err[256] = "";
	ok(access_load_keys(&c, err, sizeof err) < 0 && strstr(err, "No such file"), "a missing file is refused");
	snprintf(c.api_keys_file, sizeof c.api_keys_file, "none");
	ok(access_load_keys(&c, err, sizeof err) == 0 && c.n_api_keys == 0, "none: no keys");
	return done_testing();
}
