/* cgroup.c — use a delegated cgroup v2 subtree when systemd gives us one.
 *
 * Under `Delegate=yes` the service's cgroup is ours to manage. cgroup v2
 * forbids processes in a cgroup whose controllers are enabled for children
 * ("no internal processes"), so the master first moves itself (and thus every
 * worker it will fork) into a leaf child `supervisor`, then enables memory and
 * pids for children; each sandbox then creates its run's cgroup beside it.
 * Anywhere else (a developer's shell, a CI container, cgroup v1) the sandbox
 * falls back to rlimits, and we say so once at start-up, never silently.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* The "0::/path" line of /proc/self/cgroup: our cgroup v2 path. */
static int own_cgroup(char *path, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -1;
	char line[4096];
	int rc = -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(path, len, "%s", line + 3);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

void cgroup_setup(enum cgroup_mode mode, char *dir, size_t dirlen)
{
	char own[4096], path[4096 + 64];
	struct statfs sf;
	dir[0] = '\0';
	if (mode == CGROUP_OFF) {
		log_msg("cgroup = off: memory and process limits are rlimits (RLIMIT_AS, RLIMIT_NPROC)");
		return;
	}
	const char *why = NULL;
	errno = 0;
	if (statfs("/sys/fs/cgroup", &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
		why = "/sys/fs/cgroup is not a cgroup v2 hierarchy";
	else if (own_cgroup(own, sizeof own) < 0)
		why = "no cgroup v2 entry in /proc/self/cgroup";
	else if (strcmp(own, "/") == 0)
		why = "we run in the root cgroup, which is not ours to divide";
	if (!why) {
		/* systemd moves us to the service cgroup; after a restart of only
		 * the master we may already sit in our own supervisor leaf. */
		size_t n = strlen(own);
		if (n > 11 && strcmp(own + n - 11, "/supervisor") == 0)
			own[n - 11] = '\0';
		snprintf(dir, dirlen, "/sys/fs/cgroup%s", own);
		snprintf(path, sizeof path, "%s/cgroup.procs", dir);
		if (access(path, W_OK) < 0)
			why = "the service cgroup is not delegated to us (Delegate=yes)";
	}
	if (!why) {
		snprintf(path, sizeof path, "%s/supervisor", dir);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			why = "cannot create the supervisor cgroup";
	}
	if (!why) {
		char pid[32];
		snprintf(pid, sizeof pid, "%d\n", (int)getpid());
		snprintf(path, sizeof path, "%s/supervisor/cgroup.procs", dir);
		if (write_file(path, pid) < 0)
			why = "cannot move into the supervisor cgroup";
	}
	if (!why) {
		snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir);
		if (write_file(path, "+memory +pids") < 0)
			why = "cannot enable the memory and pids controllers";
	}
	if (why) {
		dir[0] = '\0';
		log_msg("no delegated cgroup v2 (%s%s%s): memory and process limits fall back to rlimits",
			why, errno ? ": " : "", errno ? strerror(errno) : "");
		return;
	}
	log_msg("cgroup v2: runs get child cgroups of %s (memory.max, pids.max)", dir);
}
