/* deps.c — which `dependencies` a request may name at no cost.
 *
 * An entry is a package name with at most one version clause ("numpy",
 * "numpy>=1.20"); anything else (extras, markers, URLs, paths, options,
 * spaces) is refused. Until on-demand installation exists, an entry is
 * accepted when the interpreter can already import it and its installed
 * version satisfies the clause. Asking Python per request would cost a
 * start-up each time, so the master asks once (at start and on SIGHUP) for
 * every top-level module and installed distribution, with its version, and
 * workers inherit the sorted list (GET / shows the supported libraries from
 * it too). The
 * interpreter is asked inside a sandbox, as a script would run, so the list
 * is what a script can really import, not what the service's own view of
 * the file system holds. Names compare in PEP 503 normal form (lower case, runs of
 * "-", "_", "." as one "-"), so "scikit-learn", "Scikit_Learn" and "sklearn"
 * all match what Debian's python3-sklearn installs.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <strings.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

extern char **environ;

/* A name a request may give, normalised, and the version of the
 * distribution that provides it ("" for a module of no distribution, such
 * as the standard library's); for a distribution's own name, the names its
 * modules are imported by ("" if not known), space-separated. */
struct package {
	char *name, *version, *modules;
};
static struct package *names;
static size_t n_names;

static const char list_script[] =
	"import sys, pkgutil\n"
	"import importlib.metadata as md\n"
	"out = dict.fromkeys(sys.builtin_module_names, '')\n"
	"out.update((m.name, '') for m in pkgutil.iter_modules())\n"
	"mods = {}\n"
	"for d in md.distributions():\n"
	"    try:\n"
	"        n, v = d.metadata['Name'], d.version or ''\n"
	"        tl = (d.read_text('top_level.txt') or '').split() or \\\n"
	"             {f.parts[0].partition('.')[0] for f in d.files or () if len(f.parts) > 1 or f.suffix in ('.py', '.so')}\n"
	"        tl = sorted(m for m in tl if m.isidentifier() and m != '__pycache__')\n"
	"        mods.setdefault(n, tl)\n"
	"        for k in [n] + tl:\n"
	"            if k and not out.get(k): out[k] = v\n"
	"    except Exception:\n"
	"        pass\n"
	"sys.stdout.write('\\n'.join(k + '\\t' + v + '\\t' + ' '.join(mods.get(k, ())) for k, v in sorted(out.items())))\n";

void deps_normalise(const char *in, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	bool sep = false;
	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		char c = in[i];
		if (c == '-' || c == '_' || c == '.') {
			sep = true;
			continue;
		}
		if (sep && o > 0)
			out[o++] = '-';
		sep = false;
		if (o + 1 < outlen)
			out[o++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	out[o] = '\0';
}

static int cmp(const void *a, const void *b)
{
	return strcmp(((const struct package *)a)->name, ((const struct package *)b)->name);
}

int deps_load(const struct config *c, char *err, size_t errlen)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe2: %s", strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	struct sandbox_command cmd;
	int a = sandbox_argv(c, &cmd, 60000, run_memory_mb(1024));
	cmd.argv[a++] = "--";
	cmd.argv[a++] = (char *)c->python;
	cmd.argv[a++] = "-I";
	cmd.argv[a++] = "-c";
	cmd.argv[a++] = (char *)list_script;
	cmd.argv[a] = NULL;
	char *envp[] = { "PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL };
	pid_t pid;
	int rc = sandbox_spawn(c->sandbox, &fa, cmd.argv, envp, &pid);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc) {
		close(fds[0]);
		snprintf(err, errlen, "cannot run %s: %s", c->sandbox, strerror(rc));
		return -1;
	}
	struct buf out = { 0 };
	char chunk[65536];
	for (;;) {
		ssize_t r = read(fds[0], chunk, sizeof chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		buf_put(&out, chunk, (size_t)r);
	}
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !out.len) {
		buf_free(&out);
		snprintf(err, errlen, "%s in a sandbox could not list its installed packages", c->python);
		return -1;
	}

	for (size_t i = 0; i < n_names; i++) {
		free(names[i].name);
		free(names[i].version);
		free(names[i].modules);
	}
	free(names);
	names = NULL;
	n_names = 0;
	size_t cap = 0;
	for (char *line = out.data, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		size_t n = next ? (size_t)(next - line) : strlen(line);
		if (next)
			next++;
		/* NAME TAB VERSION TAB MODULES */
		const char *tab = memchr(line, '\t', n);
		size_t name_len = tab ? (size_t)(tab - line) : n;
		const char *tab2 = tab ? memchr(tab + 1, '\t', n - name_len - 1) : NULL;
		size_t version_len = tab ? (size_t)((tab2 ? tab2 : line + n) - tab - 1) : 0;
		char norm[256], version[64] = "";
		deps_normalise(line, name_len, norm, sizeof norm);
		if (tab)
			snprintf(version, sizeof version, "%.*s", (int)version_len, tab + 1);
		if (!*norm)
			continue;
		if (n_names == cap) {
			cap = cap ? cap * 2 : 1024;
			names = xrealloc(names, cap * sizeof *names);
		}
		size_t modules_len = tab2 ? (size_t)(line + n - tab2 - 1) : 0;
		char *modules = xmalloc(modules_len + 1);
		memcpy(modules, tab2 ? tab2 + 1 : "", modules_len);
		modules[modules_len] = '\0';
		names[n_names++] = (struct package){ xstrdup(norm), xstrdup(version), modules };
	}
	buf_free(&out);
	if (n_names)
		qsort(names, n_names, sizeof *names, cmp);
	return 0;
}

/* PEP 508's name: letters, digits, "-", "_" and ".", starting and ending
 * with a letter or digit; its length, or 0. */
static size_t name_length(const char *s)
{
	size_t n = 0;
	while (isalnum((unsigned char)s[n]) || s[n] == '-' || s[n] == '_' || s[n] == '.')
		n++;
	if (n == 0 || n > 200 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return 0;
	return n;
}

/* A public version as PEP 440 spells it (packaging's VERSION_PATTERN, less
 * what deps_parse refuses before: "v", "-", "_", a local label); with a
 * wildcard, release numbers only. */
static bool pep440(const char *v, bool wildcard)
{
	static regex_t full, release;
	static bool compiled;
	if (!compiled) {
		if (regcomp(&full, "^([0-9]+!)?[0-9]+(\\.[0-9]+)*"
			    "(\\.?(alpha|a|beta|b|preview|pre|c|rc)\\.?[0-9]*)?"
			    "(\\.?(post|rev|r)\\.?[0-9]*)?"
			    "(\\.?dev\\.?[0-9]*)?$", REG_EXTENDED | REG_ICASE | REG_NOSUB) ||
		    regcomp(&release, "^([0-9]+!)?[0-9]+(\\.[0-9]+)*$", REG_EXTENDED | REG_NOSUB))
			die("cannot compile the version grammar");
		compiled = true;
	}
	return regexec(wildcard ? &release : &full, v, 0, NULL, 0) == 0;
}

bool deps_parse(const char *req, struct requirement *out)
{
	static const char *const ops[] = { "==", "!=", "<=", ">=", "~=", "<", ">" };
	size_t n = name_length(req);
	if (!n)
		return false;
	deps_normalise(req, n, out->name, sizeof out->name);
	out->op[0] = out->version[0] = '\0';
	const char *rest = req + n;
	if (!*rest)
		return true;
	size_t op_len = 0;
	for (size_t i = 0; i < sizeof ops / sizeof *ops && !op_len; i++)
		if (strncmp(rest, ops[i], strlen(ops[i])) == 0)
			op_len = strlen(ops[i]);
	if (!op_len)
		return false;	/* extras, markers, URLs, spaces, a second name... */
	snprintf(out->op, sizeof out->op, "%.*s", (int)op_len, rest);
	const char *v = rest + op_len;
	size_t vlen = strlen(v);
	/* A public version: digits first, then digits, letters and dots, with an
	 * optional epoch ("1!"); ".*" only at the end of == and != (PEP 440). */
	if (vlen == 0 || vlen >= sizeof out->version || !isdigit((unsigned char)v[0]))
		return false;
	bool wildcard = vlen > 2 && !strcmp(v + vlen - 2, ".*");
	if (wildcard && strcmp(out->op, "==") && strcmp(out->op, "!="))
		return false;
	for (size_t i = 0; i < vlen - (wildcard ? 2 : 0); i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '.' && v[i] != '!')
			return false;
	/* And PEP 440's grammar, not just its characters: pip takes a whole
	 * entry that ends like an archive ("x==1.zip", "x==1.tar.gz") for a
	 * file's path. */
	char bare[sizeof out->version];
	snprintf(bare, sizeof bare, "%.*s", (int)(vlen - (wildcard ? 2 : 0)), v);
	if (!pep440(bare, wildcard))
		return false;
	if (!strcmp(out->op, "~=")) {
		/* ~= needs at least two release numbers: 1.0, not 1 nor 1.rc1 */
		const char *r = strchr(v, '!') ? strchr(v, '!') + 1 : v;
		int numbers = 0;
		for (;;) {
			numbers++;
			r += strspn(r, "0123456789");
			if (*r != '.' || !isdigit((unsigned char)r[1]))
				break;
			r++;
		}
		if (numbers < 2)
			return false;
	}
	memcpy(out->version, v, vlen + 1);
	return true;
}

/* A version as PEP 440 orders it: epoch, release numbers, then a pre-release
 * (a, b, rc) before the release itself, a post-release after it, and a
 * development release before all of those. Local labels ("+...") and what
 * does not parse compare as nothing. Each number is its digits, without
 * leading zeros (none: 0), in the string parsed: PEP 440 bounds no number,
 * and two that a long could not tell apart ("==99999999999999999998" and
 * "==99999999999999999999") must not be taken for one. */
#define MAX_RELEASE 32	/* as many as a version string of fewer than 64 bytes holds */
struct number {
	const char *digits;
	int len;
};
struct version {
	struct number epoch, release[MAX_RELEASE];
	int n_release;
	int pre_kind;		/* 1 a, 2 b, 3 rc, 4 none (0: a development release of a final one) */
	struct number pre, post, dev;
	bool has_post, has_dev;
};

/* S starts with a digit; returns what follows the number. */
static const char *parse_number(const char *s, struct number *n)
{
	while (*s == '0')
		s++;
	n->digits = s;
	n->len = (int)strspn(s, "0123456789");
	return s + n->len;
}

static void parse_version(const char *s, struct version *v)
{
	memset(v, 0, sizeof *v);
	v->pre_kind = 4;
	const char *bang = strchr(s, '!');
	if (bang) {
		if (isdigit((unsigned char)*s))
			parse_number(s, &v->epoch);
		s = bang + 1;
	}
	while (isdigit((unsigned char)*s) && v->n_release < MAX_RELEASE) {
		s = parse_number(s, &v->release[v->n_release++]);
		if (*s == '.' && isdigit((unsigned char)s[1]))
			s++;
		else
			break;
	}
	/* Each spelling PEP 440 allows, any case, the longer before those it
	 * starts with: "1.0pre1" is 1.0rc1, not 1.0 (which it was, taken for
	 * an unknown suffix). */
	enum { POST = 5, DEV };
	static const struct { const char *word; int kind; } words[] = {
		{ "alpha", 1 }, { "a", 1 }, { "beta", 2 }, { "b", 2 }, { "preview", 3 }, { "pre", 3 },
		{ "post", POST }, { "rev", POST }, { "rc", 3 }, { "r", POST }, { "c", 3 }, { "dev", DEV },
	};
	while (*s && *s != '+') {
		while (*s == '.' || *s == '-' || *s == '_')
			s++;
		size_t i = 0, n = sizeof words / sizeof *words;
		while (i < n && strncasecmp(s, words[i].word, strlen(words[i].word)) != 0)
			i++;
		if (i == n)
			break;
		s += strlen(words[i].word);
		struct number *slot = words[i].kind == POST ? &v->post : words[i].kind == DEV ? &v->dev : &v->pre;
		if (words[i].kind < POST)
			v->pre_kind = words[i].kind;
		else if (words[i].kind == POST)
			v->has_post = true;
		else
			v->has_dev = true;
		/* "1.0alpha.1" is 1.0a1: a separator may come before the number. */
		if ((*s == '.' || *s == '-' || *s == '_') && isdigit((unsigned char)s[1]))
			s++;
		*slot = (struct number){ s, 0 };
		if (isdigit((unsigned char)*s))
			s = parse_number(s, slot);
	}
}

/* The requirement as PEP 440 compares it, so that two spellings of one
 * ask for one install: "numpy==01.0.0", "numpy==1.0" and "NumPy==1" are all
 * "numpy==1", "x>=1.0alpha1" is "x>=1a1". Release numbers keep their count
 * where it counts: in ~= and in a prefix ("==1.0.*"). */
void deps_canonical(const struct requirement *r, char *out, size_t outlen)
{
	size_t vlen = strlen(r->version), o = 0;
	bool wildcard = vlen > 2 && !strcmp(r->version + vlen - 2, ".*");
	char bare[sizeof r->version];
	snprintf(bare, sizeof bare, "%.*s", (int)(vlen - (wildcard ? 2 : 0)), r->version);
	struct version v;
	parse_version(bare, &v);
	int n = v.n_release;
	if (!wildcard && strcmp(r->op, "~="))
		while (n > 1 && v.release[n - 1].len == 0)
			n--;
#define PUT(...) (o += (size_t)snprintf(out + o, o < outlen ? outlen - o : 0, __VA_ARGS__))
#define NUMBER(x) (x).len ? (x).len : 1, (x).len ? (x).digits : "0"
	PUT("%s%s", r->name, r->op);
	if (r->op[0]) {
		if (v.epoch.len)
			PUT("%.*s!", NUMBER(v.epoch));
		for (int i = 0; i < n; i++)
			PUT("%s%.*s", i ? "." : "", NUMBER(v.release[i]));
		if (v.pre_kind < 4)
			PUT("%s%.*s", v.pre_kind == 1 ? "a" : v.pre_kind == 2 ? "b" : "rc", NUMBER(v.pre));
		if (v.has_post)
			PUT(".post%.*s", NUMBER(v.post));
		if (v.has_dev)
			PUT(".dev%.*s", NUMBER(v.dev));
		if (wildcard)
			PUT(".*");
	}
#undef NUMBER
#undef PUT
}

static int sign(long a, long b)
{
	return a < b ? -1 : a > b;
}

static int number_compare(const struct number *a, const struct number *b)
{
	if (a->len != b->len)
		return sign(a->len, b->len);
	int c = a->len ? memcmp(a->digits, b->digits, (size_t)a->len) : 0;
	return sign(c, 0);
}

/* Compares the first n release numbers only when n > 0 (for prefixes). */
static int compare(const struct version *a, const struct version *b, int prefix)
{
	static const struct number zero;
	int c = number_compare(&a->epoch, &b->epoch);
	int n = prefix ? prefix : (a->n_release > b->n_release ? a->n_release : b->n_release);
	for (int i = 0; !c && i < n; i++)
		c = number_compare(i < a->n_release ? &a->release[i] : &zero,
				   i < b->n_release ? &b->release[i] : &zero);
	if (c || prefix)
		return c;
	/* A development release of a final release sorts before its pre-releases. */
	int ak = a->pre_kind == 4 && !a->has_post && a->has_dev ? 0 : a->pre_kind;
	int bk = b->pre_kind == 4 && !b->has_post && b->has_dev ? 0 : b->pre_kind;
	if ((c = sign(ak, bk)) || (c = number_compare(&a->pre, &b->pre)))
		return c;
	/* No post-release sorts before any; no development release after any. */
	if ((c = sign(a->has_post, b->has_post)) || (a->has_post && (c = number_compare(&a->post, &b->post))))
		return c;
	if ((c = sign(b->has_dev, a->has_dev)) || (a->has_dev && (c = number_compare(&a->dev, &b->dev))))
		return c;
	return 0;
}

int deps_version_compare(const char *a, const char *b)
{
	struct version va, vb;
	parse_version(a, &va);
	parse_version(b, &vb);
	return compare(&va, &vb, 0);
}

bool deps_satisfies(const char *installed, const struct requirement *r)
{
	if (!r->op[0])
		return true;
	if (!*installed)
		return false;	/* no version known: no clause can be checked */
	struct version have, want;
	parse_version(installed, &have);
	size_t vlen = strlen(r->version);
	if (vlen > 2 && !strcmp(r->version + vlen - 2, ".*")) {
		char prefix[sizeof r->version];
		snprintf(prefix, sizeof prefix, "%.*s", (int)(vlen - 2), r->version);
		parse_version(prefix, &want);
		bool same = compare(&have, &want, want.n_release) == 0;
		return r->op[0] == '=' ? same : !same;
	}
	parse_version(r->version, &want);
	int c = compare(&have, &want, 0);
	if (!strcmp(r->op, "=="))
		return c == 0;
	if (!strcmp(r->op, "!="))
		return c != 0;
	if (!strcmp(r->op, "<="))
		return c <= 0;
	if (!strcmp(r->op, ">="))
		return c >= 0;
	if (!strcmp(r->op, "<"))
		return c < 0;
	if (!strcmp(r->op, ">"))
		return c > 0;
	/* ~=X.Y.Z: >= X.Y.Z and the same X.Y */
	return c >= 0 && compare(&have, &want, want.n_release - 1) == 0;
}

/* The entry of NAME, in any spelling, or NULL. */
static const struct package *lookup(const char *name)
{
	char norm[256];
	deps_normalise(name, strlen(name), norm, sizeof norm);
	struct package key = { norm, NULL, NULL };
	return n_names ? bsearch(&key, names, n_names, sizeof *names, cmp) : NULL;
}

const char *deps_installed_version(const char *name)
{
	const struct package *p = lookup(name);
	return p ? p->version : NULL;
}

const char *deps_installed_modules(const char *name)
{
	const struct package *p = lookup(name);
	return p && *p->modules ? p->modules : NULL;
}

bool deps_installed(const char *name)
{
	return deps_installed_version(name) != NULL;
}
