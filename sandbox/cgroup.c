/* cgroup.c — the run's own cgroup v2, inside a delegated subtree.
 *
 * Given --cgroup DIR (a cgroup v2 directory this process may write, with the
 * memory and pids controllers enabled in its cgroup.subtree_control), each run
 * gets DIR/run-PID with memory.max, memory.swap.max = 0 and pids.max. init is
 * cloned straight into it (CLONE_INTO_CGROUP), so not one page is allocated
 * outside the limit. memory.oom.group makes an OOM kill take the whole run at
 * once, which is what the caller expects of "killed for memory". Afterwards
 * memory.events says whether the OOM killer acted and memory.peak how much
 * was used; then the cgroup is killed (nothing may outlive the run) and
 * removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

static void write_file(const struct run_cgroup *cg, const char *name, const char *value,
		       bool optional)
{
	char path[sizeof cg->path + 64];
	snprintf(path, sizeof path, "%s/%s", cg->path, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && optional && errno == ENOENT)
		return;	/* e.g. memory.swap.max where swap accounting is off */
	if (fd < 0)
		die_errno("open %s", path);
	ssize_t n = write(fd, value, strlen(value));
	if (n < 0 || (size_t)n != strlen(value))
		die_errno("write %s to %s", value, path);
	close(fd);
}

/* Reads a file of the run's cgroup; returns bytes read or -1. */
static ssize_t read_file(const struct run_cgroup *cg, const char *name, char *buf, size_t len)
{
	char path[sizeof cg->path + 64];
	snprintf(path, sizeof path, "%s/%s", cg->path, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* Pre-started: set at the start to --memory, lowered to the run's own limit
 * when it is claimed (a limit below what is in use would reclaim or kill, but
 * a waiting interpreter holds far less than the smallest limit allowed). */
void cgroup_set_memory(const struct run_cgroup *cg, uint64_t memory_mb)
{
	char value[32];
	snprintf(value, sizeof value, "%" PRIu64, memory_mb << 20);
	write_file(cg, "memory.max", value, false);
}

void cgroup_create(struct run_cgroup *cg, const struct sandbox_options *o)
{
	char value[32];
	cg->dir_fd = -1;
	int n = snprintf(cg->path, sizeof cg->path, "%s/run-%d", o->cgroup_parent, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof cg->path)
		die("--cgroup path too long");
	/* No live process has our pid: a cgroup named for it is what a
	 * supervisor of that pid left when it was killed (SIGKILL runs no
	 * atexit), perhaps with processes still in it. They go with it. */
	if (mkdir(cg->path, 0755) < 0) {
		if (errno != EEXIST)
			die_errno("create cgroup %s", cg->path);
		fprintf(stderr, "coderunner-sandbox: removing %s, left by a supervisor that was killed\n", cg->path);
		cgroup_remove(cg);
		if (mkdir(cg->path, 0755) < 0)
			die_errno("create cgroup %s", cg->path);
	}
	cgroup_set_memory(cg, o->memory_mb);
	write_file(cg, "memory.swap.max", "0", true);
	write_file(cg, "memory.oom.group", "1", true);
	snprintf(value, sizeof value, "%" PRIu64, o->pids);
	write_file(cg, "pids.max", value, false);
	cg->dir_fd = open(cg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->dir_fd < 0)
		die_errno("open cgroup %s", cg->path);
}

bool cgroup_oom_killed(const struct run_cgroup *cg)
{
	char buf[1024];
	if (read_file(cg, "memory.events", buf, sizeof buf) < 0)
		return false;
	const char *p = strstr(buf, "oom_kill ");
	return p && strtoull(p + strlen("oom_kill "), NULL, 10) > 0;
}

uint64_t cgroup_memory_peak_kb(const struct run_cgroup *cg)
{
	char buf[64];
	if (read_file(cg, "memory.peak", buf, sizeof buf) < 0)
		return 0;	/* kernels before 5.19 have no memory.peak */
	return strtoull(buf, NULL, 10) / 1024;
}

uint64_t cgroup_memory_current_kb(const struct run_cgroup *cg)
{
	char buf[64];
	if (read_file(cg, "memory.current", buf, sizeof buf) < 0)
		return 0;
	return strtoull(buf, NULL, 10) / 1024;
}

/* memory.pressure, kept open for the run: how long all of its processes
 * at once have waited for memory (PSI's "full" line), read as often as the
 * supervisor looks. -1 where the kernel keeps no pressure figures. */
int cgroup_open_pressure(const struct run_cgroup *cg)
{
	char path[sizeof cg->path + 64];
	snprintf(path, sizeof path, "%s/memory.pressure", cg->path);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* The run's total stall in microseconds ("full ... total=N"), or -1. */
int64_t cgroup_memory_stall_us(int pressure_fd)
{
	char buf[256];
	ssize_t n = pread(pressure_fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *full = strstr(buf, "full ");
	const char *total = full ? strstr(full, "total=") : NULL;
	return total ? (int64_t)strtoull(total + strlen("total="), NULL, 10) : -1;
}

void cgroup_kill(const struct run_cgroup *cg)
{
	char path[sizeof cg->path + 64];
	snprintf(path, sizeof path, "%s/cgroup.kill", cg->path);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;	/* before 5.14: init's death already took the namespace down */
	ssize_t n = write(fd, "1", 1);
	(void)n;
	close(fd);
}

/* rmdir fails with EBUSY while killed tasks are still being torn down: wait a
 * little for them, bounded, rather than leave a cgroup behind. */
void cgroup_remove(struct run_cgroup *cg)
{
	if (cg->dir_fd >= 0)
		close(cg->dir_fd);
	cg->dir_fd = -1;
	for (int i = 0; i < 200; i++) {
		if (rmdir(cg->path) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY)
			break;
		cgroup_kill(cg);
		nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000 * 1000 }, NULL);
	}
	fprintf(stderr, "coderunner-sandbox: cannot remove cgroup %s: %s\n", cg->path, strerror(errno));
}
