/* seccomp.c — the system calls a script has no business making.
 *
 * The filter allows by default and denies, with EPERM, the calls that reach
 * into the kernel's machinery rather than the process's own: mounting,
 * namespaces, tracing other processes, loading code into the kernel, keys,
 * BPF, perf, userfaultfd, io_uring, time setting, rebooting; watching
 * files (inotify, fanotify), which would show one run what others open;
 * and the host's one pool of asynchronous I/O contexts. Most already
 * fail for an unprivileged user without capabilities; the filter removes the
 * kernel code behind them from the attack surface altogether.
 *
 * Sockets are allowed only of the local, IP and netlink families, and
 * netlink only for NETLINK_ROUTE, which libc asks for the interfaces and
 * addresses: the others are the kernel's, and some speak for the host
 * whatever the network namespace (NETLINK_KOBJECT_UEVENT: its devices).
 *
 * clone(2) is allowed only without namespace flags. clone3(2) passes its flags
 * in memory a filter cannot read, so it fails with ENOSYS: glibc then falls
 * back to clone(2), which the filter can inspect.
 * Only the native architecture is allowed; a 32-bit or x32 call kills the
 * process (libseccomp's default for foreign architectures).
 *
 * Without a cgroup, SysV IPC and memfds are refused as well (uncharged
 * below), so the filter comes in two forms.
 *
 * libseccomp builds the rules and compiles them to BPF once per process
 * (seccomp_prepare): the template does so, both forms, before its first
 * fork, and each warm run's command, its fork, only loads the program
 * (libseccomp's work cost a run 0.2 ms and 34 page faults, in a fork copies
 * of the template's pages).
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

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
	/* Every sandbox sees the same host inodes (/usr, /etc), and a watch
	 * on one reports, by name, what any process opens there: the other
	 * runs' imports and files, as they open them. */
	"inotify_init", "inotify_init1", "inotify_add_watch",
	/* Asynchronous I/O contexts count against fs.aio-max-nr, one limit
	 * for the whole host: a run could take them all. */
	"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
	/* Its pages leave the kernel's direct map, which splits it for the
	 * whole host; and a file of it holds memory outside any mapping, as
	 * a memfd does. */
	"memfd_secret",
};

/* The address families a script may open sockets of: local, IP (which
 * the network namespace confines to loopback), and netlink, which libc's
 * getaddrinfo() and if_nameindex() use. Every other family is refused,
 * with EAFNOSUPPORT: vsock and Hyper-V sockets reach the hypervisor past
 * any network namespace, and the rest (AF_ALG, AF_PACKET, Bluetooth, TIPC,
 * RDS, XDP and more) are kernel code a script has no use for. */
static bool family_allowed(unsigned long family)
{
	return family == AF_UNIX || family == AF_INET || family == AF_INET6 || family == AF_NETLINK;
}

static const unsigned long namespace_flags[] = {
	CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
	CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

/* Without a cgroup the memory limit is RLIMIT_AS, and SysV shared memory,
 * message queues and semaphores hold memory outside any address space (a
 * detached segment stays, and an IPC namespace's defaults let one run keep
 * all of the host's RAM that way): where they would not be charged to the
 * run, it cannot make them. So for memfd_create(): a memfd written to
 * rather than mapped holds up to RLIMIT_FSIZE each, as many as the run has
 * fds, in no address space and on no capped file system. (Python's
 * multiprocessing uses the POSIX ones, in /dev/shm, the run's capped /tmp.)
 * And for vmsplice(): a pipe keeps the pages given to it, whole huge pages
 * of 2 MiB for a 4 KiB slot, after the run has unmapped them. (Python has
 * no call for it.) */
static const char *const uncharged[] = { "shmget", "msgget", "semget", "memfd_create", "vmsplice" };

/* The compiled filters, under a cgroup and without one: what seccomp_load()
 * would load, exported once. */
static struct sock_filter programs[2][BPF_MAXINSNS];
static unsigned short program_lens[2];

/* Builds the filter with libseccomp; false, with errno, on failure. */
static bool build(scmp_filter_ctx ctx, bool cgroup)
{
	for (size_t i = 0; !cgroup && i < sizeof uncharged / sizeof *uncharged; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), seccomp_syscall_resolve_name(uncharged[i]), 0) < 0)
			return false;
	for (size_t i = 0; i < sizeof denied / sizeof *denied; i++) {
		int nr = seccomp_syscall_resolve_name(denied[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;	/* not on this architecture */
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0) < 0)
			return false;
	}
	for (size_t i = 0; i < sizeof namespace_flags / sizeof *namespace_flags; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, namespace_flags[i], namespace_flags[i])) < 0)
			return false;
	/* One rule per family refused, and one for the families to come. */
	static const int calls[] = { SCMP_SYS(socket), SCMP_SYS(socketpair) };
	for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
		for (unsigned long family = 0; family < AF_MAX; family++)
			if (!family_allowed(family) &&
			    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), calls[i], 1,
					     SCMP_A0(SCMP_CMP_EQ, family)) < 0)
				return false;
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), calls[i], 1,
				     SCMP_A0(SCMP_CMP_GE, AF_MAX)) < 0)
			return false;
	}
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPROTONOSUPPORT), SCMP_SYS(socket), 2,
			     SCMP_A0(SCMP_CMP_EQ, AF_NETLINK), SCMP_A2(SCMP_CMP_NE, NETLINK_ROUTE)) < 0)
		return false;
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) == 0;
}

/* One filter, compiled into PROGRAM; 0, or an errno. */
static int compile(bool cgroup, struct sock_filter *program, unsigned short *len)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int fd = memfd_create("seccomp", MFD_CLOEXEC);	/* libseccomp 2.5 exports to an fd */
	int err = !ctx ? ENOMEM : fd < 0 ? errno : !build(ctx, cgroup) ? EINVAL : -seccomp_export_bpf(ctx, fd);
	ssize_t n = err ? -1 : pread(fd, program, BPF_MAXINSNS * sizeof *program, 0);
	if (!err && (n <= 0 || n % (ssize_t)sizeof *program || n == BPF_MAXINSNS * (ssize_t)sizeof *program))
		err = n < 0 ? errno : EINVAL;
	if (fd >= 0)
		close(fd);
	if (ctx)
		seccomp_release(ctx);
	if (!err)
		*len = (unsigned short)(n / (ssize_t)sizeof *program);
	return err;
}

/* The filter for runs with a cgroup or without, compiled once. */
static bool ensure(bool cgroup)
{
	int err = program_lens[cgroup] ? 0 : compile(cgroup, programs[cgroup], &program_lens[cgroup]);
	errno = err;
	return !err;
}

bool seccomp_prepare(void)
{
	return ensure(false) && ensure(true);
}

void seccomp_install(bool cgroup)
{
	if (!ensure(cgroup))
		die_errno("build the seccomp filter");
	struct sock_fprog prog = { .len = program_lens[cgroup], .filter = programs[cgroup] };
	/* As seccomp_load() does: no_new_privs (privileges.c set it already),
	 * then the filter, with no flags. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		die_errno("load the seccomp filter");
}
