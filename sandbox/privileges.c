/* privileges.c — the command's limits and identity, applied just before exec.
 *
 * Order matters: rlimits first (lowering needs no privilege), then the switch
 * to the unprivileged user with libcap-ng, which also empties the bounding
 * set while CAP_SETPCAP is still held; ambient capabilities are cleared
 * explicitly, and then no_new_privs, so that no exec can ever grant a
 * capability back (setuid binaries, file capabilities).
 */
#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

/* What building a sandbox takes, checked up front so that an operator who
 * runs the sandbox without them (a unit missing AmbientCapabilities=) reads
 * which are missing rather than a failed mount. */
static const struct { int cap; const char *name; } required[] = {
	{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN" },		/* namespaces, mounts, pivot_root */
	{ CAP_NET_ADMIN, "CAP_NET_ADMIN" },		/* bring up loopback */
	{ CAP_SETUID, "CAP_SETUID" },			/* become the run's user */
	{ CAP_SETGID, "CAP_SETGID" },
	{ CAP_SETPCAP, "CAP_SETPCAP" },			/* empty the bounding set */
	{ CAP_CHOWN, "CAP_CHOWN" },			/* give /work to the run's user */
	{ CAP_KILL, "CAP_KILL" },			/* kill what the run leaves behind */
	{ CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH" },	/* copy back output it made unreadable */
};

void privileges_check(void)
{
	char missing[256] = "";
	for (size_t i = 0; i < sizeof required / sizeof *required; i++)
		if (!capng_have_capability(CAPNG_EFFECTIVE, (unsigned)required[i].cap)) {
			strncat(missing, " ", sizeof missing - strlen(missing) - 1);
			strncat(missing, required[i].name, sizeof missing - strlen(missing) - 1);
		}
	if (*missing)
		die("missing capabilities:%s (run as root, or grant them as ambient capabilities)",
		    missing);
}

static void set_limit(int resource, const char *name, rlim_t value)
{
	struct rlimit rl = { value, value };
	if (setrlimit(resource, &rl) < 0)
		die_errno("setrlimit %s", name);
}

/* CPU time is a backstop behind the wall timeout that init enforces. It
 * counts every thread of a process: a run on all the CPUs (numpy's BLAS
 * threads) spends the timeout's seconds that many times over. The CPUs it
 * may use are its affinity mask, one system call (with no /sys here,
 * sysconf() would read /proc/stat), or on a host with more CPUs than a
 * cpu_set_t holds, sysconf()'s count. */
rlim_t privileges_cpu_seconds(uint64_t timeout_ms)
{
	cpu_set_t set;
	long cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) :
		    sysconf(_SC_NPROCESSORS_ONLN);	/* more than CPU_SETSIZE */
	return (rlim_t)(timeout_ms / 1000 + 2) * (rlim_t)(cpus > 0 ? cpus : 1);
}

void privileges_set_rlimits(const struct sandbox_options *o, bool cgroup)
{
	set_limit(RLIMIT_CORE, "CORE", 0);	/* no core dumps of hostile code */
	set_limit(RLIMIT_FSIZE, "FSIZE", (rlim_t)o->fsize_mb << 20);
	set_limit(RLIMIT_NOFILE, "NOFILE", (rlim_t)o->nofile);
	set_limit(RLIMIT_CPU, "CPU", privileges_cpu_seconds(o->timeout_ms));
	/* Without a cgroup RLIMIT_NPROC is the process limit: it counts the
	 * user's processes. */
	if (!cgroup)
		set_limit(RLIMIT_NPROC, "NPROC", (rlim_t)o->pids);
}

/* What this process has now, in bytes, from /proc/self/statm: its address
 * space (VmSize, the kernel's count that RLIMIT_AS bounds), and its data
 * and stack (what RLIMIT_DATA bounds, and the stack). */
static void statm_bytes(rlim_t *address_space, rlim_t *data)
{
	char line[128];
	unsigned long size = 0, data_pages = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (!f)
		die_errno("open /proc/self/statm");
	bool read = fgets(line, sizeof line, f) &&
		    sscanf(line, "%lu %*u %*u %*u %*u %lu", &size, &data_pages) == 2;
	fclose(f);
	if (!read)
		die("cannot read /proc/self/statm");
	*address_space = (rlim_t)size * (rlim_t)sysconf(_SC_PAGESIZE);
	*data = (rlim_t)data_pages * (rlim_t)sysconf(_SC_PAGESIZE);
}

/* Without a cgroup the memory limit is RLIMIT_AS, set at the very last moment
 * before exec: once set, this process itself can map no more memory, and the
 * set-up steps before it (libcap-ng, libseccomp, a sanitizer's allocator)
 * still allocate. A warm command starts with the template's address space,
 * none of it the run's own memory (under a cgroup the template's pages are
 * charged to the template): its limit comes on top of what it has, or a run
 * would have 200 MB less than a cold one. But it could unmap the template's
 * mappings that hold no data of its own (code, the reserve of malloc's
 * arenas: 100 MB and more) and use their room for its own memory, so its
 * data (its private writable memory, where every allocation goes) is
 * bounded too, on top of the template's. Its runner, which lowers the
 * limits to the run's, does the same (prestart.py). */
void privileges_limit_memory(const struct sandbox_options *o, bool cgroup)
{
	if (cgroup)
		return;
	rlim_t memory = (rlim_t)o->memory_mb << 20, address_space = 0, data = 0;
	if (o->in_process) {
		statm_bytes(&address_space, &data);
		set_limit(RLIMIT_DATA, "DATA", memory + data);
	}
	set_limit(RLIMIT_AS, "AS", memory + address_space);
}

/* CAP in the effective set, where it is permitted; false where it is not.
 * Every command has its capabilities effective today (a cold sandbox from
 * the ambient set, a warm command from the helper that raised them to
 * enter the sandbox, fork.c): this keeps a write that needs one from
 * depending on that. privileges_drop() drops it with the rest. With the
 * system calls themselves: libcap-ng would read /proc for the bounding
 * set, on every run's path. */
bool privileges_raise(unsigned cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (cap > CAP_LAST_CAP || syscall(SYS_capget, &h, d) < 0)
		die_errno("capget");
	uint32_t bit = 1u << (cap % 32);
	if (!(d[cap / 32].permitted & bit))
		return false;
	d[cap / 32].effective |= bit;
	if (syscall(SYS_capset, &h, d) < 0)
		die_errno("capset");
	return true;
}

void privileges_drop(const struct sandbox_options *o)
{
	capng_clear(CAPNG_SELECT_ALL);
	/* Changes gid, drops supplementary groups, changes uid, and applies the
	 * empty sets above, bounding set included. */
	int rc = capng_change_id((int)o->uid, (int)o->gid,
				 CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
	if (rc < 0)
		die("switch to uid %u gid %u and drop capabilities (libcap-ng error %d)",
		    (unsigned)o->uid, (unsigned)o->gid, rc);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		die_errno("clear ambient capabilities");
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
		die("capabilities remain after dropping them");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die_errno("set no_new_privs");
}
