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
#include <sys/prctl.h>
#include <sys/resource.h>

#include "sandbox/sandbox.h"

static void set_limit(int resource, const char *name, rlim_t value)
{
	struct rlimit rl = { value, value };
	if (setrlimit(resource, &rl) < 0)
		die_errno("setrlimit %s", name);
}

void privileges_set_rlimits(const struct sandbox_options *o, bool cgroup)
{
	set_limit(RLIMIT_CORE, "CORE", 0);	/* no core dumps of hostile code */
	set_limit(RLIMIT_FSIZE, "FSIZE", (rlim_t)o->fsize_mb << 20);
	set_limit(RLIMIT_NOFILE, "NOFILE", (rlim_t)o->nofile);
	/* CPU time is a backstop behind the wall timeout that init enforces. */
	set_limit(RLIMIT_CPU, "CPU", (rlim_t)(o->timeout_ms / 1000 + 2));
	/* Without a cgroup RLIMIT_NPROC is the process limit: it counts the
	 * user's processes. */
	if (!cgroup)
		set_limit(RLIMIT_NPROC, "NPROC", (rlim_t)o->pids);
}

/* Without a cgroup the memory limit is RLIMIT_AS, set at the very last moment
 * before exec: once set, this process itself can map no more memory, and the
 * set-up steps before it (libcap-ng, libseccomp, a sanitizer's allocator)
 * still allocate. */
void privileges_limit_memory(const struct sandbox_options *o, bool cgroup)
{
	if (!cgroup)
		set_limit(RLIMIT_AS, "AS", (rlim_t)o->memory_mb << 20);
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
