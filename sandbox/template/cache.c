/* cache.c — what each import of the preload list brings in, kept in a file
 * (--cache) from one template's start to the next.
 *
 * Finding it out takes some 140 children of a bare interpreter, a cold
 * import each (python.c): most of a template's start, during which runs
 * start cold. With the file, a template started again (a reload, a
 * restart, one that died) skips them. The file names what it was found
 * from: the interpreter, the preload list, sys.path, and every file and
 * directory of the modules imported, with its size and mtime; python.c
 * uses it only if each is as it was, and otherwise finds it all out again
 * and replaces the file. It is read before our private /tmp hides the
 * host's, and written after it is gone, whole: a new file renamed over the
 * old, since templates of several services may share it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/template/template.h"

#define CACHE_MAX (4UL << 20)

/* New files of templates killed outright while they wrote one (SIGKILL,
 * which cache_write cannot hold off): PATH.PID of a PID that is gone.
 * What cannot be looked at or removed stays, for the next start. */
static void remove_strays(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	const char *base = slash ? slash + 1 : path;
	size_t len = strlen(base);
	DIR *d = opendir(slash == path ? "/" : dir);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		if (strncmp(e->d_name, base, len) || e->d_name[len] != '.')
			continue;
		const char *pid = e->d_name + len + 1;
		if (!*pid || strspn(pid, "0123456789") != strlen(pid) || strlen(pid) > 9)
			continue;
		if (kill((pid_t)atoi(pid), 0) < 0 && errno == ESRCH && unlinkat(dirfd(d), e->d_name, 0) == 0)
			fprintf(stderr, "coderunner-template: removed %s, left by a template killed as it wrote it\n",
				e->d_name);
	}
	closedir(d);
}

/* The file's text, or NULL when there is none (or it cannot be read, or
 * is larger than any we write): then it is found out again. */
char *cache_read(const char *path)
{
	remove_strays(path);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			fprintf(stderr, "coderunner-template: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	char *text = malloc(CACHE_MAX + 1);
	size_t len = 0;
	ssize_t n = 1;
	while (text && len < CACHE_MAX && (n = read(fd, text + len, CACHE_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (!text || n < 0 || len == CACHE_MAX) {
		free(text);
		return NULL;
	}
	text[len] = '\0';
	return text;
}

/* TEXT as PATH: a new file of ours, renamed over it. */
static bool write_file(const char *path, const char *text)
{
	char tmp[4096 + 32];
	snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		fprintf(stderr, "coderunner-template: cannot keep what the imports bring in: %s: %s\n", tmp,
			strerror(errno));
		return false;
	}
	size_t len = strlen(text), done = 0;
	ssize_t n = 1;
	while (done < len && (n = write(fd, text + done, len - done)) > 0)
		done += (size_t)n;
	int err = n < 0 ? errno : 0;
	if (close(fd) < 0 && !err)
		err = errno;
	if (!err && rename(tmp, path) < 0)
		err = errno;
	if (err) {
		fprintf(stderr, "coderunner-template: cannot keep what the imports bring in: %s: %s\n", path,
			strerror(err));
		unlink(tmp);
	}
	return !err;
}

/* As the user we run as, with no capability in effect: the file belongs
 * to the service. A failure costs the next start its time, no more: it
 * is said, and false. The signals that end us until we are warm (a
 * service stopped or reloaded) wait until the new file has its name or is
 * gone, so that none of ours is left half-written in the directory. */
bool cache_write(const char *path, const char *text)
{
	sigset_t ends, before;
	sigemptyset(&ends);
	sigaddset(&ends, SIGTERM);
	sigaddset(&ends, SIGINT);
	sigaddset(&ends, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &ends, &before) < 0)
		fail("sigprocmask: %s", strerror(errno));
	bool kept = write_file(path, text);
	if (sigprocmask(SIG_SETMASK, &before, NULL) < 0)
		fail("sigprocmask: %s", strerror(errno));
	return kept;
}
