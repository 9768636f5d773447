/* mounts.c — the run's file system: a read-only root built from scratch.
 *
 * Runs in init, in the new mount namespace, before anything untrusted exists.
 * The new root is a small tmpfs that holds only mount points and a handful of
 * generated files; it is made read-only before pivot_root. Into it go:
 *   /usr and the top-level links (/bin, /lib, /lib64, /sbin) — read-only binds;
 *   /etc — only the entries Python, numpy (BLAS via /etc/alternatives) and
 *          matplotlib (/etc/matplotlibrc, /etc/fonts) need, read-only, plus a
 *          generated passwd/group/hosts naming nobody but the run's user;
 *   /proc  — a fresh procfs of the new PID namespace: no host process shows,
 *            and /proc/locks (the host's OFD locks) masked;
 *   /dev   — null zero full random urandom, bound from the host, and links;
 *   /tmp   — a tmpfs of --tmp-size, also seen as /dev/shm;
 *   /work  — a tmpfs of --work-size, the cwd, which init fills with a copy
 *            of --workdir (workdir.c);
 *   /NAME  — each --ro-bind DIR:/NAME, read-only, no devices, no setuid
 *            (the package cache's sets, a package installer's wheels).
 * No /sys, /home, /root, /run or host /tmp. The old root is detached, so not
 * one host path remains reachable.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

/* The new root is assembled on top of /tmp: private to this mount namespace,
 * so the host's /tmp is neither changed nor visible. */
#define NEWROOT "/tmp"

static const char *const top_level_links[] = {
	"bin", "sbin", "lib", "lib32", "lib64", "libx32",
};

static const char *const etc_entries[] = {
	"ld.so.cache",		/* the dynamic loader's search cache */
	"alternatives",		/* libblas.so.3 and liblapack.so.3 resolve through it */
	"localtime", "timezone",
	"os-release",
	"python3", "python3.11", "python3.12",	/* sitecustomize.py links here */
	"matplotlibrc", "fonts",
	"ssl", "ca-certificates",
	"mime.types", "protocols", "services", "nsswitch.conf", "gai.conf",
};

static void path_join(char *buf, size_t len, const char *a, const char *b)
{
	int n = snprintf(buf, len, "%s/%s", a, b);
	if (n < 0 || (size_t)n >= len)
		die("path too long: %s/%s", a, b);
}

static void make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		die_errno("mkdir %s", path);
}

static void make_file(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		die_errno("create %s", path);
	size_t len = strlen(content);
	if (write(fd, content, len) != (ssize_t)len)
		die_errno("write %s", path);
	close(fd);
}

static void bind_readonly(const char *src, const char *dst)
{
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		die_errno("bind %s", src);
	/* A bind inherits the source's flags, and MS_REC brings the mounts
	 * under it (a /usr/local of its own, say) with theirs, writable ones
	 * included: read-only goes on every one of them. */
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
	if (mount_setattr(AT_FDCWD, dst, AT_RECURSIVE, &attr, sizeof attr) == 0)
		return;
	if (errno != ENOSYS)
		die_errno("make %s read-only", dst);
	/* Before Linux 5.12, the top mount only. */
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		die_errno("remount %s read-only", dst);
}

/* Recreate host entry /DIR/NAME at NEWROOT/DIR/NAME: a symbolic link is copied
 * as a link (so /bin -> usr/bin keeps working), a directory or file is bound
 * read-only, and a missing entry is skipped. */
static void mirror_entry(const char *dir, const char *name)
{
	char src[PATH_MAX], dst[PATH_MAX], target[PATH_MAX];
	struct stat st;
	path_join(src, sizeof src, dir, name);
	path_join(dst, sizeof dst, NEWROOT, src);
	if (lstat(src, &st) < 0) {
		if (errno == ENOENT)
			return;
		die_errno("lstat %s", src);
	}
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlink(src, target, sizeof target - 1);
		if (n < 0)
			die_errno("readlink %s", src);
		target[n] = '\0';
		if (symlink(target, dst) < 0)
			die_errno("symlink %s", dst);
		return;
	}
	if (S_ISDIR(st.st_mode))
		make_dir(dst, 0755);
	else
		make_file(dst, "");
	bind_readonly(src, dst);
}

/* /etc/NAME, a symbolic link followed: the file it names is bound in its
 * place. systemd-resolved makes /etc/resolv.conf a link into /run, which
 * the sandbox has not; mirrored as a link, it would name nothing. A link
 * that names nothing here either is skipped. */
static void mirror_followed(const char *name)
{
	char src[PATH_MAX], real[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	path_join(src, sizeof src, "/etc", name);
	path_join(dst, sizeof dst, NEWROOT, src);
	if (!realpath(src, real) || stat(real, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	make_file(dst, "");
	bind_readonly(real, dst);
}

static void stop_propagation(void)
{
	/* Without this, mounts made here would propagate to the host (systemd
	 * makes / shared) and the host's later mounts would show up inside. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die_errno("make / private");
}

static void mount_root_tmpfs(void)
{
	if (mount("coderunner", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV,
		  "mode=0755,size=1m,nr_inodes=4096") < 0)
		die_errno("mount tmpfs for the new root");
}

static void mount_usr_and_links(void)
{
	make_dir(NEWROOT "/usr", 0755);
	bind_readonly("/usr", NEWROOT "/usr");
	for (size_t i = 0; i < sizeof top_level_links / sizeof *top_level_links; i++)
		mirror_entry("", top_level_links[i]);
}

static void mount_etc(const struct sandbox_options *o)
{
	char buf[512];
	make_dir(NEWROOT "/etc", 0755);
	for (size_t i = 0; i < sizeof etc_entries / sizeof *etc_entries; i++)
		mirror_entry("/etc", etc_entries[i]);
	/* Who's who inside: root, the run's user (home /tmp, writable) and
	 * nothing of the host's accounts. */
	snprintf(buf, sizeof buf,
		 "root:x:0:0:root:/root:/usr/sbin/nologin\n"
		 "sandbox:x:%u:%u:sandbox:/tmp:/usr/sbin/nologin\n",
		 (unsigned)o->uid, (unsigned)o->gid);
	make_file(NEWROOT "/etc/passwd", buf);
	snprintf(buf, sizeof buf, "root:x:0:\nsandbox:x:%u:\n", (unsigned)o->gid);
	make_file(NEWROOT "/etc/group", buf);
	/* With the host's network, its names too; otherwise only our own. */
	if (o->share_net) {
		mirror_followed("hosts");
		mirror_followed("resolv.conf");
	} else {
		make_file(NEWROOT "/etc/hosts", "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost\n");
	}
	make_file(NEWROOT "/etc/hostname", "sandbox\n");
}

/* A procfs shows the PID namespace of whoever mounts it: ours. But
 * /proc/locks lists, with its inode, every lock of an open file description
 * on the host (F_OFD_SETLK: such a lock has no process to hide), so a run
 * would count the runs under way by the service's per-uid locks. The host's
 * /dev/null stands over it, as container runtimes mask such files; the run
 * can neither unmount it nor write anything through it. */
static void mount_proc(void)
{
	make_dir(NEWROOT "/proc", 0555);
	if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		die_errno("mount /proc");
	if (mount("/dev/null", NEWROOT "/proc/locks", NULL, MS_BIND, NULL) < 0)
		die_errno("mask /proc/locks");
}

static void mount_dev(void)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom" };
	static const char *const links[][2] = {
		{ "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
	};
	char src[64], dst[128];
	make_dir(NEWROOT "/dev", 0755);
	if (mount("dev", NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
		  "mode=0755,size=64k,nr_inodes=64") < 0)
		die_errno("mount /dev");
	/* Binding the host's nodes needs no CAP_MKNOD and cannot create others. */
	for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
		snprintf(src, sizeof src, "/dev/%s", nodes[i]);
		snprintf(dst, sizeof dst, NEWROOT "/dev/%s", nodes[i]);
		make_file(dst, "");
		if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
			die_errno("bind %s", src);
	}
	for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
		snprintf(dst, sizeof dst, NEWROOT "/dev/%s", links[i][0]);
		if (symlink(links[i][1], dst) < 0)
			die_errno("symlink %s", dst);
	}
	make_dir(NEWROOT "/dev/shm", 0755);
}

/* Files cost the kernel an inode and a directory entry each, which the size
 * does not count: a tmpfs holds one file per 4 KiB of its size, and at
 * least 16384 (a small one's files would be few otherwise). A package
 * installer's /work, made for hundreds of MB, holds as many as it has room. */
static void mount_scratch(const char *path, uint64_t size_mb, const char *owner)
{
	char opts[128];
	uint64_t inodes = size_mb * 256 > 16384 ? size_mb * 256 : 16384;
	make_dir(path, 0755);
	snprintf(opts, sizeof opts, "size=%llum,nr_inodes=%llu,%s",
		 (unsigned long long)size_mb, (unsigned long long)inodes, owner);
	if (mount("coderunner", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		die_errno("mount tmpfs on %s", path);
}

static void mount_tmp_and_work(const struct sandbox_options *o)
{
	mount_scratch(NEWROOT "/tmp", o->tmp_size_mb, "mode=1777");
	/* POSIX shared memory and semaphores (multiprocessing) live in /dev/shm;
	 * sharing /tmp's tmpfs keeps them under the same size cap. */
	if (mount(NEWROOT "/tmp", NEWROOT "/dev/shm", NULL, MS_BIND, NULL) < 0)
		die_errno("bind /dev/shm");
	/* /work stays root's until init has filled it (workdir_copy_in). */
	mount_scratch(NEWROOT "/work", o->work_size_mb, "mode=0755");
}

/* The --ro-bind dirs, opened before the new root covers the host's /tmp
 * (where a test's or tools/serve's may be). */
static void open_binds(const struct sandbox_options *o, int fds[SANDBOX_MAX_BINDS])
{
	for (int i = 0; i < o->n_binds; i++)
		if ((fds[i] = open(o->bind_src[i], O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			die_errno("open %s", o->bind_src[i]);
}

static void mount_binds(const struct sandbox_options *o, const int fds[SANDBOX_MAX_BINDS])
{
	char src[64], dst[PATH_MAX];
	for (int i = 0; i < o->n_binds; i++) {
		snprintf(src, sizeof src, "/proc/self/fd/%d", fds[i]);
		path_join(dst, sizeof dst, NEWROOT, o->bind_dst[i]);
		make_dir(dst, 0755);
		bind_readonly(src, dst);
		close(fds[i]);
	}
}

static void make_readonly(const char *path, unsigned long flags)
{
	if (mount(NULL, path, NULL, MS_REMOUNT | MS_RDONLY | flags, NULL) < 0)
		die_errno("remount %s read-only", path);
}

static void switch_root(void)
{
	/* pivot_root(".", ".") stacks the old root on top of the new one; the
	 * detach then drops it, and with it every path to the host's files. */
	if (chdir(NEWROOT) < 0)
		die_errno("chdir to the new root");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die_errno("pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		die_errno("detach the old root");
	if (chdir("/work") < 0)
		die_errno("chdir /work");
}

void mounts_build_root(const struct sandbox_options *o)
{
	int binds[SANDBOX_MAX_BINDS];
	stop_propagation();
	open_binds(o, binds);
	mount_root_tmpfs();
	mount_usr_and_links();
	mount_etc(o);
	mount_proc();
	mount_dev();
	mount_tmp_and_work(o);
	mount_binds(o, binds);
	make_readonly(NEWROOT "/dev", MS_NOSUID | MS_NOEXEC);
	make_readonly(NEWROOT, MS_NOSUID | MS_NODEV);
	switch_root();
}
