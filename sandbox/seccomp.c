/* seccomp.c — the system calls a script has no business making.
 *
 * The filter allows by default and denies, with EPERM, the calls that reach
 * into the kernel's machinery rather than the process's own: mounting,
 * namespaces, tracing other processes, loading code into the kernel, keys,
 * BPF, perf, userfaultfd, io_uring, time setting, rebooting. Most already
 * fail for an unprivileged user without capabilities; the filter removes the
 * kernel code behind them from the attack surface altogether.
 *
 * clone(2) is allowed only without namespace flags. clone3(2) passes its flags
 * in memory a filter cannot read, so it fails with ENOSYS: glibc then falls
 * back to clone(2), which the filter can inspect.
 * Only the native architecture is allowed; a 32-bit or x32 call kills the
 * process (libseccomp's default for foreign architectures).
 */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>

#include "sandbox/sandbox.h"

static const char *const denied[] = {
	"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
	"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
	"unshare", "setns",
	"ptrace", "process_vm_readv", "process_vm_writev", "process_madvise",
	"pidfd_getfd", "kcmp",
	"bpf", "perf_event_open", "userfaultfd",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"keyctl", "add_key", "request_key",
	"init_module", "finit_module", "delete_module",
	"kexec_load", "kexec_file_load", "reboot",
	"swapon", "swapoff", "syslog", "acct", "quotactl", "quotactl_fd",
	"open_by_handle_at", "name_to_handle_at", "lookup_dcookie",
	"settimeofday", "clock_settime",
	"iopl", "ioperm", "vhangup", "uselib",
	"fanotify_init", "nfsservctl",
};

static const unsigned long namespace_flags[] = {
	CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
	CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

void seccomp_install(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc;
	if (!ctx)
		die("seccomp_init failed");
	for (size_t i = 0; i < sizeof denied / sizeof *denied; i++) {
		int nr = seccomp_syscall_resolve_name(denied[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;	/* not on this architecture */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (rc < 0)
			die("seccomp rule for %s: error %d", denied[i], rc);
	}
	for (size_t i = 0; i < sizeof namespace_flags / sizeof *namespace_flags; i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, namespace_flags[i], namespace_flags[i]));
		if (rc < 0)
			die("seccomp rule for clone: error %d", rc);
	}
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc < 0)
		die("seccomp rule for clone3: error %d", rc);
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		die("load the seccomp filter: error %d", rc);
}
