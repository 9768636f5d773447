/* workdir.c — the run's work directory: copied in, and its output copied out.
 *
 * The caller stages a host directory; the run works on a copy of it in a
 * size-capped tmpfs, so a script can fill neither the host's disk nor the
 * caller's directory. When the run is over — every process of it dead, so
 * nothing can race the walk — init copies /work/output back into the host
 * directory's output/, which it replaces. Only directories and regular
 * files are copied, each opened with O_NOFOLLOW and checked with fstat: a
 * symbolic link to a host file, a FIFO that would block, or a device is
 * skipped, never followed or read. Depth is bounded; the tmpfs's inode cap
 * bounds the number of files.
 * Its size cap does not bound what comes out: a sparse file or a hard link
 * takes no room in /work, but its copy takes all its length. So what comes
 * out is counted by length, each link as a file, against /work's size, and
 * a file beyond that is not copied, nor a directory beyond the depth bound:
 * their paths go back with init's report, for the caller to name. So does
 * what finds the host's file system full: the run happened, and the rest
 * of its answer comes back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/remove.h"
#include "sandbox/sandbox.h"

#define MAX_DEPTH 32

/* The copy out: what may still come back, and what did not. */
struct copy_out {
	off_t budget;			/* the bytes still to be copied */
	char path[MAX_DEPTH * (NAME_MAX + 1) + NAME_MAX + 1];	/* of the directory walked, under output/ */
	size_t path_len;
	struct workdir_omitted *omitted;
};

/* path_len: the length of out->path once this entry is off it again. */
static size_t enter(struct copy_out *out, const char *name)
{
	size_t len = out->path_len;
	out->path_len += (size_t)snprintf(out->path + len, sizeof out->path - len, "%s%s",
					  len ? "/" : "", name);
	return len;
}

static void leave_behind(struct copy_out *out, const char *name)
{
	struct workdir_omitted *o = out->omitted;
	size_t len = enter(out, name), n = out->path_len + 1;
	if (n <= sizeof o->names - o->len) {
		memcpy(o->names + o->len, out->path, n);
		o->len += (uint32_t)n;
	} else {
		o->unnamed++;
	}
	out->path[out->path_len = len] = '\0';
}

/* Whether a copy out failed for want of room on the host, not of ours. */
static bool no_room(const struct copy_out *out, int err)
{
	return out && (err == ENOSPC || err == EDQUOT);
}

/* bound: NULL for the copy in, which is not bounded. */
static void copy_file(int src_dir, int dst_dir, const char *name, uid_t uid, gid_t gid,
		      struct copy_out *bound)
{
	struct stat st;
	int in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (in < 0)
		return;	/* vanished, unreadable, or a link: not ours to copy */
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return;
	}
	if (bound && st.st_size > bound->budget) {
		leave_behind(bound, name);
		close(in);
		return;
	}
	if (bound)
		bound->budget -= st.st_size;
	int out = openat(dst_dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			 (st.st_mode & 0111) ? 0755 : 0644);
	if (out < 0) {
		if (!no_room(bound, errno))
			die_errno("create %s", name);
		bound->budget += st.st_size;	/* not copied: room for the rest */
		leave_behind(bound, name);
		close(in);
		return;
	}
	if (uid != (uid_t)-1 && fchown(out, uid, gid) < 0)
		die_errno("chown %s", name);
	off_t off = 0;
	while (off < st.st_size) {
		ssize_t n = sendfile(out, in, &off, (size_t)(st.st_size - off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && !no_room(bound, errno))
			die_errno("copy %s", name);
		if (n < 0) {	/* what was copied goes, and makes room for the rest */
			close(out);
			if (unlinkat(dst_dir, name, 0) < 0)
				die_errno("remove %s", name);
			bound->budget += st.st_size;
			leave_behind(bound, name);
			close(in);
			return;
		}
		if (n == 0)
			break;	/* the file shrank: keep what there was */
	}
	close(in);
	close(out);
}

/* Copies the entries of src_dir into dst_dir; uid (unless -1) owns the copies. */
static void copy_tree(int src_dir, int dst_dir, uid_t uid, gid_t gid, int depth,
		      struct copy_out *out)
{
	int fd = dup(src_dir);
	if (fd < 0)
		die_errno("dup");
	DIR *d = fdopendir(fd);
	if (!d)
		die_errno("fdopendir");
	struct dirent *e;
	while ((errno = 0, e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(src_dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			copy_file(src_dir, dst_dir, e->d_name, uid, gid, out);
		} else if (S_ISDIR(st.st_mode) && depth >= MAX_DEPTH) {
			if (out)
				leave_behind(out, e->d_name);
		} else if (S_ISDIR(st.st_mode)) {
			int sub_src = openat(src_dir, e->d_name,
					     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub_src < 0)
				continue;
			if (mkdirat(dst_dir, e->d_name, 0755) < 0 && errno != EEXIST) {
				if (!no_room(out, errno))
					die_errno("mkdir %s", e->d_name);
				leave_behind(out, e->d_name);
				close(sub_src);
				continue;
			}
			int sub_dst = openat(dst_dir, e->d_name,
					     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub_dst < 0)
				die_errno("open %s", e->d_name);
			size_t len = out ? enter(out, e->d_name) : 0;
			copy_tree(sub_src, sub_dst, uid, gid, depth + 1, out);
			if (out)
				out->path[out->path_len = len] = '\0';
			/* Given away only once filled: without CAP_DAC_OVERRIDE we
			 * could not write into a directory that is no longer ours. */
			if (uid != (uid_t)-1 && fchown(sub_dst, uid, gid) < 0)
				die_errno("chown %s", e->d_name);
			close(sub_src);
			close(sub_dst);
		}
	}
	if (errno)
		die_errno("readdir");
	closedir(d);
}

void workdir_copy_in(int workdir_fd, const char *work, uid_t uid, gid_t gid)
{
	int dst = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dst < 0)
		die_errno("open %s", work);
	if (workdir_fd >= 0)
		copy_tree(workdir_fd, dst, uid, gid, 0, NULL);
	if (fchown(dst, uid, gid) < 0)
		die_errno("chown %s", work);
	close(dst);
}

void workdir_copy_out(const char *output, int workdir_fd, uint64_t max_bytes,
		      struct workdir_omitted *omitted)
{
	static struct copy_out out;
	out = (struct copy_out){ .budget = (off_t)max_bytes, .omitted = omitted };
	omitted->len = omitted->unnamed = 0;
	/* output/ becomes what the run left and only that. What the caller
	 * put there was copied in with the rest, the run's to keep or remove;
	 * left in place, a file the script removed would come back, and one
	 * it replaced by a directory (or the reverse) would stop the copy. */
	if (remove_tree_at(workdir_fd, "output") < 0)
		die_errno("remove output");
	if (mkdirat(workdir_fd, "output", 0755) < 0)
		die_errno("mkdir output");
	int dst = openat(workdir_fd, "output", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dst < 0)
		die_errno("open output");
	int src = open(output, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0) {
		close(dst);
		return;	/* the script removed or replaced ./output: nothing to return */
	}
	copy_tree(src, dst, (uid_t)-1, (gid_t)-1, 0, &out);
	close(src);
	close(dst);
}
