/* stage.c — the work directory a run starts from, and its removal.
 *
 * A run gets a fresh directory under work_root, made by mkdtemp (mode 0700,
 * an unguessable name) and named after the worker's pid, so that when a
 * worker dies mid-request the master can find and remove what it left.
 * It holds the script (main.py) or the files, input/ with the context and an
 * empty output/; coderunner-sandbox copies it into the run's /work and copies
 * /work/output back. Everything is written with *at() calls relative to the
 * directory's fd, O_NOFOLLOW and O_EXCL, so nothing in a request can make
 * us write outside it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcgi/fcgi.h"
#include "sandbox/remove.h"

int write_all_wait(int fd, const void *data, size_t n, bool (*ready)(void *ctx), void *ctx)
{
	const char *p = data;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN && ready) {
			if (!ready(ctx))
				return -1;
			continue;
		}
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int write_all(int fd, const void *data, size_t n)
{
	return write_all_wait(fd, data, n, NULL, NULL);
}

/* A failure of the host's, not of the request's: the work_root's file
 * system full is a 507, the service out of fds or memory a 503 (each with
 * Retry-After: they pass), anything else a 500. */
static int host_fail(struct http_error *e, int err, const char *what)
{
	if (err == ENOSPC || err == EDQUOT)
		return http_fail(e, 507, "no space left to stage the run (%s); retry later", what);
	if (err == EMFILE || err == ENFILE || err == ENOMEM)
		return http_fail(e, 503, "the service is out of %s (%s); retry later",
				 err == ENOMEM ? "memory" : "file descriptors", what);
	return http_fail(e, 500, "cannot %s: %s", what, strerror(err));
}

/* Make the parent directories of path (relative to dirfd), then the file. */
static int write_file_at(int dirfd, const char *path, const unsigned char *data, size_t len,
			 struct http_error *e)
{
	char tmp[1100];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *slash = strchr(tmp, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdirat(dirfd, tmp, 0755) < 0 && errno != EEXIST)
			return host_fail(e, errno, "create a directory");
		struct stat st;
		if (fstatat(dirfd, tmp, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			return http_fail(e, 400, "\"%.*s\" is both a file and a directory in files",
					 (int)utf8_prefix(tmp, strlen(tmp), 100), tmp);
		*slash = '/';
	}
	int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			return http_fail(e, 400, "\"%.*s\" is both a file and a directory in files",
					 (int)utf8_prefix(path, strlen(path), 100), path);
		return host_fail(e, errno, "create a file");
	}
	if (write_all(fd, data, len) < 0) {
		int err = errno;
		close(fd);
		return host_fail(e, err, "write a file");
	}
	if (close(fd) < 0)
		return host_fail(e, errno, "write a file");
	return 0;
}

int stage_create(const struct config *c, const struct run_request *r, char *dir, size_t dirlen,
		 struct http_error *e)
{
	if ((size_t)snprintf(dir, dirlen, "%s/run.%d.XXXXXX", c->work_root, (int)getpid()) >= dirlen)
		return http_fail(e, 500, "work_root is too long");
	if (!mkdtemp(dir)) {
		int err = errno;
		dir[0] = '\0';
		return host_fail(e, err, "create a work directory");
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return host_fail(e, errno, "open the work directory");
	/* The sandbox copies the directory in as root; 0755 so that directory
	 * listing inside the run (as the unprivileged user) works too. */
	if (fchmod(dfd, 0755) < 0 || mkdirat(dfd, "input", 0755) < 0 || mkdirat(dfd, "output", 0755) < 0) {
		host_fail(e, errno, "prepare the work directory");
		close(dfd);
		return -1;
	}
	int rc = 0;
	if (r->script)
		rc = write_file_at(dfd, r->entry_point, (const unsigned char *)r->script, r->script_len, e);
	for (size_t i = 0; rc == 0 && i < r->n_entries; i++)
		rc = write_file_at(dfd, r->entries[i].path, r->entries[i].data, r->entries[i].len, e);
	close(dfd);
	return rc;
}

/* A work directory this worker could not remove: out of fds, say, which
 * is just when a run is refused. Once the request is answered its
 * connection's fd is free again, and stage_retry_removals() tries anew.
 * (Should a second fail meanwhile, the master removes it when the worker
 * exits, as it does all a worker leaves.) */
static char retry_dir[PATH_MAX];

void stage_remove(const char *dir)
{
	if (!dir || !*dir)
		return;
	if (remove_tree_at(AT_FDCWD, dir) < 0) {
		log_msg("cannot remove work directory %s (%s): %s", dir,
			retry_dir[0] ? "left until this worker exits" : "trying again after the request",
			strerror(errno));
		if (!retry_dir[0])
			snprintf(retry_dir, sizeof retry_dir, "%s", dir);
	}
}

void stage_retry_removals(void)
{
	if (retry_dir[0] && remove_tree_at(AT_FDCWD, retry_dir) == 0)
		retry_dir[0] = '\0';
}

/* ROOT (work_root, the package cache) with MODE and the directories above
 * it as mkdir -p would make them; -1 with errno and *failed (the one that
 * could not be made) set. */
int stage_make_root(const char *root, mode_t mode, char *failed, size_t len)
{
	snprintf(failed, len, "%s", root);
	for (char *p = failed + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(failed, 0755) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(failed, mode) < 0 && errno != EEXIST ? -1 : 0;
}

DIR *dir_stream(int fd)
{
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return d;
}

/* After a worker died (pid) or at start-up (pid 0): the WHAT.PID.* dirs it
 * made in DIR (run, in work_root; install, in the package cache's staging). */
void stage_remove_leftovers(const char *dir, const char *what, pid_t pid)
{
	DIR *d = dir_stream(open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!d)
		return;
	char prefix[64];
	int plen = pid ? snprintf(prefix, sizeof prefix, "%s.%d.", what, (int)pid) :
			 snprintf(prefix, sizeof prefix, "%s.", what);
	struct dirent *de;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, prefix, (size_t)plen) == 0 &&
		    remove_tree_at(dirfd(d), de->d_name) < 0)
			log_msg("cannot remove %s/%s: %s", dir, de->d_name, strerror(errno));
	closedir(d);
}
