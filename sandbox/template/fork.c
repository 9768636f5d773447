/* fork.c — coderunner-template's side of sandbox/forkserver.c: a warm
 * run's command, forked from our memory into the sandbox that asks for it.
 *
 * A pre-started sandbox's supervisor sends one request (init's pidfd, the
 * run's cgroup, the command's fds, its uid) once init has built the root.
 * A helper on our memory enters init's namespaces; its child, the
 * command's maker, joins the run's cgroup, forks the command as PID 2 and
 * ends, so that init adopts the command as in a cold run. The command then
 * goes through init's stages (init_exec_command) and is handed to
 * python.c. The answer: the command's pid, or a negative errno.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/template/template.h"

struct fork_job {
	const struct forkserver_request *req;
	const int *fds;
	pid_t maker;			/* the command's maker, our child */
	pid_t command;			/* its pid in the run's PID namespace; 0 if none */
	int err;
};

/* The helpers run on our memory while we wait (CLONE_VFORK): stacks of
 * their own, and nothing of ours touched but the job. No exit(), no
 * malloc, no libcap-ng (whose state is ours). */
static char helper_stack[64 * 1024] __attribute__((aligned(64)));
/* The command's maker forks it on its stack, and the command, our
 * interpreter, runs the script on it: as large as a main thread's, with a
 * guard page below. Only what a run touches of it is ever resident. */
#define COMMAND_STACK (8UL << 20)
static char *command_stack;

void fork_map_command_stack(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, COMMAND_STACK + (size_t)page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (p == MAP_FAILED || mprotect(p, (size_t)page, PROT_NONE) < 0)
		fail("map a stack for the runs: %s", strerror(errno));
	command_stack = p + page;
}

static int raise_effective_raw(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	d[0].effective = d[0].permitted;
	d[1].effective = d[1].permitted;
	return (int)syscall(SYS_capset, &h, d);
}

static int join_cgroup(int dir_fd)
{
	int fd = openat(dir_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = write(fd, "0", 1) == 1 ? 0 : -1;
	close(fd);
	return rc;
}

/* The command: our own copy of the template (the one copy a run makes).
 * Its maker ends at once, and init adopts it: from then on it is init's
 * child, PID 2, as in a cold run; from /work on, the stages every command
 * goes through (init.c). */
static _Noreturn void command_child(const struct fork_job *j)
{
	/* The pages of ours that every run writes, copied in one go rather
	 * than a fault at a time, before any of them is written (pages.c). */
	pages_copy_ahead(EVERY_RUN);
	die_set_pipe(j->fds[FORK_FD_RESULT]);
	for (int i = 0; getppid() != 1; i++) {
		if (i == 100000)
			die("the command's maker did not end");
		sched_yield();
	}
	if (chdir("/work") < 0)
		die_errno("chdir /work");
	/* Named as an exec'd python3 is, not as the template. */
	const char *slash = strrchr(template_options.argv[0], '/');
	if (prctl(PR_SET_NAME, slash ? slash + 1 : template_options.argv[0]) < 0)
		die_errno("prctl PR_SET_NAME");
	struct sandbox_options o = template_options;
	o.uid = (uid_t)j->req->uid;
	o.gid = (gid_t)j->req->gid;
	struct command_fds cmd = {
		.mine = { -1, -1, -1, -1 },
		.theirs = { j->fds[FORK_FD_STDIN], j->fds[FORK_FD_STDOUT], j->fds[FORK_FD_STDERR],
			    j->fds[FORK_FD_CHANNEL] },
		.control = { -1, j->fds[FORK_FD_CONTROL] },
	};
	sigset_t none;
	sigemptyset(&none);
	init_exec_command(&o, &none, &cmd);
}

/* The next PID of the PID namespace of whoever writes it: 2 (init set it
 * past us). The sandbox's own /proc: we are in its mount namespace. */
static int free_pid_2(void)
{
	int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = write(fd, "1", 1) == 1 ? 0 : -1;
	close(fd);
	return rc;
}

/* The command's maker, a process of the run's PID namespace, still on our
 * memory: into the run's cgroup (while our cgroup namespace sees both ends
 * of the move) and cgroup namespace; PID 2 made the next; the command
 * forked; and gone, so that init adopts it. */
static int make_command(void *arg)
{
	struct fork_job *j = arg;
	if ((j->req->n_fds == FORK_FDS_MAX && join_cgroup(j->fds[FORK_FD_CGROUP]) < 0) ||
	    setns(j->fds[FORK_FD_INIT], CLONE_NEWCGROUP) < 0 || free_pid_2() < 0) {
		j->err = errno;
		_exit(SANDBOX_EXIT_FAULT);
	}
	pid_t pid = fork();
	if (pid == 0)
		command_child(j);
	if (pid < 0)
		j->err = errno;
	else
		j->command = pid;
	_exit(0);
}

/* The helper: enters init's namespaces (with the capabilities we hold,
 * raised for it alone), so that its child, the command's maker, is a
 * process of the run's PID namespace, whose parent we make ours. */
static int enter_sandbox(void *arg)
{
	struct fork_job *j = arg;
	if (raise_effective_raw() < 0 ||
	    setns(j->fds[FORK_FD_INIT], CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID) < 0) {
		j->err = errno;
		_exit(0);
	}
	pid_t pid = clone(make_command, command_stack + COMMAND_STACK,
			  CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD, j);
	if (pid < 0)
		j->err = errno;
	else
		j->maker = pid;
	_exit(0);
}

/* One request: the command's pid in the run's PID namespace, once it is
 * init's child, or a negative errno. One thread only. The interpreter's
 * fork hooks run in the command alone (PyOS_AfterFork_Child): those of the
 * parent side (PyOS_BeforeFork, PyOS_AfterFork_Parent) take and give back
 * locks against other threads, of which we have none, and would run the
 * libraries' Python here for every run, writing to our memory that the
 * runs share (each write splits a huge page of ours). (The maker's fork()
 * still runs the C library's pthread_atfork handlers on our memory: with
 * one thread they find no lock held.) */
static int32_t fork_command(const struct forkserver_request *req, const int *fds)
{
	/* Not counted (no fd left, say): this run is refused, the next asks
	 * again. A second thread is ours for good: we end, and runs go cold. */
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -errno;
	unsigned threads = 0;
	for (struct dirent *t; (t = readdir(d));)
		threads += t->d_name[0] != '.';
	closedir(d);
	if (threads != 1)
		fail("%u threads: a fork now could deadlock its child; runs go cold", threads);
	struct fork_job job = { req, fds, 0, 0, 0 };
	pid_t helper_pid = clone(enter_sandbox, helper_stack + sizeof helper_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &job);
	if (helper_pid < 0)
		return -errno;
	while (waitpid(helper_pid, NULL, 0) < 0 && errno == EINTR)
		;
	/* The maker's end, which follows its adoption of the command. */
	while (job.maker > 0 && waitpid(job.maker, NULL, 0) < 0 && errno == EINTR)
		;
	if (!job.command)
		return -(job.err ? job.err : EIO);
	return (int32_t)job.command;
}

/* Our answer: the command's pid, or a negative errno. */
static void answer(int sock, int32_t value)
{
	if (send(sock, &value, sizeof value, MSG_NOSIGNAL) != (ssize_t)sizeof value)
		fprintf(stderr, "coderunner-template: cannot answer a sandbox: %s\n", strerror(errno));
}

void fork_handle_requests(int sock)
{
	struct forkserver_request req;
	int fds[FORK_FDS_MAX];
	int n;
	while ((n = forkserver_receive(sock, &req, fds)) >= 0) {
		answer(fds[FORK_FD_REPLY], fork_command(&req, fds));
		for (int i = 0; i < n; i++)
			close(fds[i]);
	}
}
