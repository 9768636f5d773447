/* deps.c — which `dependencies` a request may name at no cost.
 *
 * Until on-demand installation exists, a dependency is accepted when the
 * interpreter can already import it. Asking Python per request would cost a
 * start-up each time, so the master asks once (at start and on SIGHUP) for
 * every top-level module and installed distribution name, and workers inherit
 * the sorted list (GET / shows the supported libraries from it too). The
 * interpreter is asked inside a sandbox, as a script would run, so the list
 * is what a script can really import, not what the service's own view of
 * the file system holds. Names compare in PEP 503 normal form (lower case, runs of
 * "-", "_", "." as one "-"), so "scikit-learn", "Scikit_Learn" and "sklearn"
 * all match what Debian's python3-sklearn installs.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

extern char **environ;

static char **names;
static size_t n_names;

static const char list_script[] =
	"import sys, pkgutil\n"
	"import importlib.metadata as md\n"
	"out = set(sys.builtin_module_names)\n"
	"out.update(m.name for m in pkgutil.iter_modules())\n"
	"for d in md.distributions():\n"
	"    try:\n"
	"        n = d.metadata['Name']\n"
	"        if n: out.add(n)\n"
	"        tl = d.read_text('top_level.txt')\n"
	"        if tl: out.update(tl.split())\n"
	"    except Exception:\n"
	"        pass\n"
	"sys.stdout.write('\\n'.join(sorted(out)))\n";

static void normalise(const char *in, size_t n, char *out, size_t outlen)
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
	return strcmp(*(char *const *)a, *(char *const *)b);
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
	int rc = sandbox_spawn(c, &fa, cmd.argv, envp, &pid);
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

	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	names = NULL;
	n_names = 0;
	size_t cap = 0;
	for (char *line = out.data, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		size_t n = next ? (size_t)(next - line) : strlen(line);
		if (next)
			next++;
		char norm[256];
		normalise(line, n, norm, sizeof norm);
		if (!*norm)
			continue;
		if (n_names == cap) {
			cap = cap ? cap * 2 : 1024;
			names = xrealloc(names, cap * sizeof *names);
		}
		names[n_names++] = xstrdup(norm);
	}
	buf_free(&out);
	if (n_names)
		qsort(names, n_names, sizeof *names, cmp);
	return 0;
}

bool deps_name(const char *req, char *name, size_t namelen)
{
	/* PEP 508: a name is letters, digits, "-", "_", "." and starts and ends
	 * with a letter or digit; what follows (extras, versions, markers) is
	 * not checked here. */
	size_t n = 0;
	while (req[n] && (isalnum((unsigned char)req[n]) || req[n] == '-' || req[n] == '_' || req[n] == '.'))
		n++;
	if (n == 0 || n > 200 || !isalnum((unsigned char)req[0]) || !isalnum((unsigned char)req[n - 1]))
		return false;
	for (const char *p = req + n; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	const char *rest = req + n;
	while (*rest == ' ')
		rest++;
	if (*rest && !strchr("[<>=!~;@(", *rest))
		return false;
	normalise(req, n, name, namelen);
	return true;
}

bool deps_installed(const char *name)
{
	char norm[256];
	normalise(name, strlen(name), norm, sizeof norm);
	const char *key = norm;
	return n_names && bsearch(&key, names, n_names, sizeof *names, cmp) != NULL;
}
