/* cgroup.c — where the runs' cgroups go, and how much memory a run can have.
 *
 * Each sandbox creates its run's cgroup v2 (memory.max, pids.max) in the
 * directory the service gives it with --cgroup. cgroup v2 forbids processes
 * in a cgroup whose controllers are enabled for children ("no internal
 * processes"), so the master first moves itself (and thus every worker and
 * sandbox it starts) into a leaf `supervisor`, then enables memory and pids
 * for the children. The directory is
 *   - under systemd, the service's own cgroup (Delegate=yes), ours to divide;
 *   - for root where nobody delegated one (a root shell, a container with a
 *     writable cgroup v2, a host without systemd), a subtree of our own,
 *     /sys/fs/cgroup/coderunner, capped as coderunner.slice caps the
 *     packaged service, and removed again when the master exits;
 *   - none anywhere else (cgroup v1, no privilege): the sandbox falls back to
 *     rlimits, and we say so at start-up, never silently.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define OWN_SUBTREE CGROUP_ROOT "/coderunner"
/* What a run may not have of the limits that all runs share: the service's
 * own processes and the pre-started interpreters live under them too, and
 * so does a template, whose imported libraries take about 90 MB more. Left
 * to a run, that much would push a small host into reclaiming the pages of
 * the very libraries the run executes before its own limit is reached. */
#define RESERVE_MB 128
#define TEMPLATE_RESERVE_MB 128

static char own_subtree_origin[4096];	/* where we came from, "" unless we made our own */

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

static uint64_t mem_total_bytes(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kb = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return (uint64_t)kb * 1024;
}

/* systemd hands a delegated cgroup to the service's user, so for any other
 * user write access means delegation. Root may write anywhere: for root,
 * systemd marks delegation with the xattr trusted.delegate. */
static bool delegated(const char *dir)
{
	char path[4096 + 64];
	snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	if (geteuid() != 0)
		return access(path, W_OK) == 0;
	char v[8];
	ssize_t n = getxattr(dir, "trusted.delegate", v, sizeof v);
	return n == 1 && v[0] == '1';
}

/* Moves us into DIR/supervisor and enables memory and pids for DIR's
 * children; NULL, or what failed. */
static const char *divide(const char *dir)
{
	char path[4096 + 64], pid[32];
	snprintf(path, sizeof path, "%s/supervisor", dir);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return "cannot create the supervisor cgroup";
	snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	snprintf(path, sizeof path, "%s/supervisor/cgroup.procs", dir);
	if (write_file(path, pid) < 0)
		return "cannot move into the supervisor cgroup";
	snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir);
	if (write_file(path, "+memory +pids") < 0)
		return "cannot enable the memory and pids controllers";
	return NULL;
}

/* Root without a delegated cgroup: OWN_SUBTREE, with the limits that
 * coderunner.slice gives the packaged service (MemoryMax=80%,
 * MemorySwapMax=0), so that runs together cannot take the host's memory.
 * NULL, or what failed. */
static const char *make_own_subtree(const char *own)
{
	char value[32];
	if (write_file(CGROUP_ROOT "/cgroup.subtree_control", "+memory +pids") < 0)
		return "cannot enable the memory and pids controllers in " CGROUP_ROOT;
	if (mkdir(OWN_SUBTREE, 0755) < 0 && errno != EEXIST)
		return "cannot create " OWN_SUBTREE;
	snprintf(value, sizeof value, "%" PRIu64, mem_total_bytes() / 10 * 8);
	if (write_file(OWN_SUBTREE "/memory.max", value) < 0)
		return "cannot set " OWN_SUBTREE "/memory.max";
	if (write_file(OWN_SUBTREE "/memory.swap.max", "0") < 0 && errno != ENOENT)
		return "cannot set " OWN_SUBTREE "/memory.swap.max";
	snprintf(own_subtree_origin, sizeof own_subtree_origin, "%s", own);
	return divide(OWN_SUBTREE);
}

void cgroup_setup(enum cgroup_mode mode, char *dir, size_t dirlen)
{
	char own[4096];
	struct statfs sf;
	dir[0] = '\0';
	if (mode == CGROUP_OFF) {
		log_msg("cgroup = off: memory and process limits are rlimits (RLIMIT_AS, RLIMIT_NPROC)");
		return;
	}
	const char *why = NULL;
	errno = 0;
	if (statfs(CGROUP_ROOT, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
		why = CGROUP_ROOT " is not a cgroup v2 hierarchy";
	else if (own_cgroup(own, sizeof own) < 0)
		why = "no cgroup v2 entry in /proc/self/cgroup";
	if (!why) {
		/* After a restart of only the master we may already sit in
		 * the supervisor leaf. */
		size_t n = strlen(own);
		if (n > 11 && strcmp(own + n - 11, "/supervisor") == 0)
			own[n - 11] = '\0';
		snprintf(dir, dirlen, CGROUP_ROOT "%s", strcmp(own, "/") ? own : "");
		if (strcmp(own, "/") && delegated(dir)) {
			if (!(why = divide(dir))) {
				log_msg("cgroup v2: runs get child cgroups of %s, delegated to us "
					"(memory.max, pids.max)", dir);
				return;
			}
		} else if (geteuid() == 0) {
			snprintf(dir, dirlen, "%s", OWN_SUBTREE);
			if (!(why = make_own_subtree(own))) {
				log_msg("cgroup v2: nobody delegated a cgroup to us, so runs get child "
					"cgroups of our own %s (memory.max, pids.max)", dir);
				return;
			}
		} else {
			why = "the service cgroup is not delegated to us (Delegate=yes)";
		}
	}
	dir[0] = '\0';
	log_msg("no cgroup v2 for the runs (%s%s%s): memory and process limits fall back to rlimits",
		why, errno ? ": " : "", errno ? strerror(errno) : "");
}

void cgroup_teardown(void)
{
	if (!own_subtree_origin[0])
		return;
	char path[4096 + 64], pid[32];
	snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	snprintf(path, sizeof path, CGROUP_ROOT "%s/cgroup.procs",
		 strcmp(own_subtree_origin, "/") ? own_subtree_origin : "");
	if (write_file(path, pid) < 0)
		log_msg("cannot leave the cgroup %s: %s", OWN_SUBTREE, strerror(errno));
	/* Our last processes may still be leaving it (rmdir says EBUSY until
	 * the kernel is done with them): wait a little, bounded. Another
	 * instance may still use the subtree: then it stays. */
	static const char *const dirs[] = { OWN_SUBTREE "/supervisor", OWN_SUBTREE };
	for (int d = 0; d < 2; d++)
		for (int i = 0; i < 100 && rmdir(dirs[d]) < 0 && errno == EBUSY; i++)
			nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	if (access(OWN_SUBTREE, F_OK) == 0)
		log_msg("the cgroup %s stays: it is still in use", OWN_SUBTREE);
	own_subtree_origin[0] = '\0';
}

/* A sandbox's supervisor removes its run's cgroup as it exits, but a signal
 * that ends it runs no atexit: SIGKILL, which the pool sends to pre-started
 * sandboxes that took no run in time, even stopped ones. Their cgroups are
 * removed here once their processes are gone too: init follows its
 * supervisor at once (PR_SET_PDEATHSIG), and the command with it, but
 * until then rmdir says EBUSY, and it is tried again on the next pass. A
 * pid is not taken again for millions of processes, so no later sandbox
 * makes a cgroup of the same name meanwhile. */
#define KILLED_MAX 256
#define KILLED_GIVE_UP_MS 60000
static struct { pid_t pid; long long since; } killed[KILLED_MAX];
static unsigned n_killed;

/* Whether run-PID is gone (or not ours to wait for any more). */
static bool remove_run_cgroup(pid_t pid)
{
	char path[4096 + 32];
	snprintf(path, sizeof path, "%s/run-%d", service.cgroup_dir, (int)pid);
	if (rmdir(path) == 0 || errno == ENOENT)
		return true;
	if (errno == EBUSY)
		return false;
	log_msg("cannot remove the cgroup %s of a sandbox that was killed: %s", path, strerror(errno));
	return true;
}

void cgroup_killed(pid_t pid)
{
	if (!service.cgroup_dir[0] || remove_run_cgroup(pid))
		return;
	if (n_killed == KILLED_MAX) {
		log_msg("the cgroup %s/run-%d stays: too many killed sandboxes' cgroups to wait for",
			service.cgroup_dir, (int)pid);
		return;
	}
	killed[n_killed].pid = pid;
	killed[n_killed++].since = now_ms();
}

void cgroup_remove_killed(void)
{
	for (unsigned i = 0; i < n_killed;) {
		bool done = remove_run_cgroup(killed[i].pid);
		if (!done && now_ms() - killed[i].since > KILLED_GIVE_UP_MS) {
			log_msg("the cgroup %s/run-%d stays: its processes did not end in %d s",
				service.cgroup_dir, (int)killed[i].pid, KILLED_GIVE_UP_MS / 1000);
			done = true;
		}
		if (done)
			killed[i] = killed[--n_killed];
		else
			i++;
	}
}

/* The smallest memory.max of dir and every cgroup above it. */
static uint64_t cgroup_limit_bytes(const char *dir)
{
	char path[4096 + 64], value[64];
	uint64_t limit = UINT64_MAX;
	snprintf(path, sizeof path, "%s", dir);
	while (strlen(path) > strlen(CGROUP_ROOT)) {
		size_t n = strlen(path);
		snprintf(path + n, sizeof path - n, "/memory.max");
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t got = fd < 0 ? -1 : read(fd, value, sizeof value - 1);
		if (fd >= 0)
			close(fd);
		if (got > 0) {
			value[got] = '\0';
			if (value[0] >= '0' && value[0] <= '9' && strtoull(value, NULL, 10) < limit)
				limit = strtoull(value, NULL, 10);
		}
		path[n] = '\0';
		*strrchr(path, '/') = '\0';
	}
	return limit;
}

unsigned cgroup_memory_ceiling(const char *dir, bool template)
{
	uint64_t bytes = mem_total_bytes(), limit = dir[0] ? cgroup_limit_bytes(dir) : UINT64_MAX;
	if (limit < bytes)
		bytes = limit;
	uint64_t mb = bytes >> 20;
	uint64_t reserve = RESERVE_MB + (template ? TEMPLATE_RESERVE_MB : 0);
	mb = mb > reserve + 64 ? mb - reserve : 64;
	return mb > UINT32_MAX ? UINT32_MAX : (unsigned)mb;
}
