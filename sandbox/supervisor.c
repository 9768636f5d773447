/* supervisor.c — the supervisor: build one sandbox, run one command, report.
 *
 * sandbox_main() is coderunner-sandbox once its options are parsed (main.c),
 * and each child of coderunner-template (sandbox/template/). It reads as the list
 * of stages:
 *   1. options and the report fd (options.c, die.c)
 *   2. the run's own uid, with --uid-range (uids.c), and its cgroup, when a
 *      delegated cgroup v2 is given (cgroup.c)
 *   3. clone init into new mount, PID, network, IPC, UTS and cgroup
 *      namespaces, straight into that cgroup (here)
 *   4. init: loopback, root file system, pivot_root, then the command with
 *      rlimits, an unprivileged uid, no capabilities, no_new_privs and
 *      seccomp (init.c, loopback.c, mounts.c, privileges.c, seccomp.c)
 *   5. pre-started (--accept-fd): wait until the command is ready, then for
 *      a client to claim the run (prestart.c); warm (--template-fd): once
 *      the root is built, coderunner-template forks the command into init's
 *      namespaces, as init's child (forkserver.c)
 *   6. wait for init, collect how the command ended, remove the cgroup and
 *      write the report (here, report.c)
 * The supervisor never runs untrusted code and needs no more than it has:
 * it stays outside every namespace it creates.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

#define NAMESPACE_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | \
			 CLONE_NEWUTS | CLONE_NEWCGROUP)
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif
#define CLONE_INTO_CGROUP_FLAG 0x200000000ULL

/* Grace after the timeout for init to kill, reap and copy out. */
#define BACKSTOP_MS 30000

/* struct clone_args of <linux/sched.h>, whose macros clash with <sched.h>. */
struct clone3_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void check_report_fd(int fd)
{
	/* The report fd belongs to the caller and must not leak into the run. */
	if (fd >= 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		die_errno("--report-fd %d", fd);
}

static void check_accept_fd(int fd)
{
	int listening = 0;
	socklen_t len = sizeof listening;
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening)
		die("--accept-fd %d is not a listening socket", fd);
	/* Should several sandboxes wake for one connection, the others must
	 * find accept() empty, not block in it. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		die_errno("--accept-fd %d", fd);
	die_set_listener(fd);
}

static int open_workdir(const char *path)
{
	if (!path)
		return -1;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die_errno("--workdir %s", path);
	return fd;
}

/* Signals that end the supervisor early are taken synchronously on an fd, so
 * the run is always torn down and the cgroup removed. */
static int block_signals(sigset_t *saved)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, saved) < 0)
		die_errno("sigprocmask");
	int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		die_errno("signalfd");
	/* If the caller dies, stop the run rather than let it go on unseen. */
	if (die_with_parent(SIGTERM, 0) < 0)
		die_errno("the process that started us");
	return fd;
}

static pid_t clone_init(const struct sandbox_options *o, const struct run_cgroup *cg, int *pidfd)
{
	uint64_t flags = NAMESPACE_FLAGS & ~(o->share_net ? (uint64_t)CLONE_NEWNET : 0);
	struct clone3_args args = {
		.flags = flags | CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)pidfd,
		.exit_signal = SIGCHLD,
	};
	if (cg->dir_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP_FLAG;
		args.cgroup = (uint64_t)cg->dir_fd;
	}
	pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
	if (pid < 0)
		die_errno("clone3 into new namespaces");
	return pid;
}

/* The supervisor's view of a run under way. */
struct supervisor {
	pid_t pid;
	int pidfd, sigfd, result_fd;
	int client_fd;			/* pre-started: the client, -1 before */
	uint64_t deadline;		/* the backstop behind init's own timeout */
	const char *cut_short;		/* why the supervisor had to kill init */
	struct init_result result;
	struct workdir_omitted omitted;	/* what came with the result */
	bool built;			/* warm: the root is built */
	bool ready;			/* pre-started: the command waits for its run */
	bool have_result;		/* a result or an error arrived */
	bool final;			/* init's last word: nothing more will come */
	bool exited;
	bool client_gone;		/* pre-started: nobody waits for the report */
	int status;
	struct rusage ru;
	/* The host out of memory (check_starved): while the run goes */
	const struct run_cgroup *cg;
	int pressure_fd;		/* its memory.pressure, -1 if not watched */
	uint64_t memory_limit_kb;	/* its memory.max */
	int64_t stall_us;		/* its stall at the last look */
	uint64_t looked, starving_since;	/* ms; 0 for not yet, not now */
	bool starved;			/* killed here for it */
};

static void kill_init(struct supervisor *s, const char *why)
{
	if (!s->cut_short)
		s->cut_short = why;
	if (syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
		die_errno("kill init");
	s->deadline = UINT64_MAX;
}

/* init sends one result; a fault in init, or in the command's set-up, sends
 * an error first. An error wins over whatever follows it. Once init is gone
 * (GONE), all it said is in the socket, and nothing more will come: the
 * socket is read without waiting, since a warm sandbox's supervisor holds
 * init's end itself until the template has it, and would wait for ever. */
static void read_result(struct supervisor *s, bool gone)
{
	struct {
		struct init_result r;
		char names[OMITTED_ROOM];
	} m;
	struct init_result *r = &m.r;
	ssize_t n = recv(s->result_fd, &m, sizeof m, gone ? MSG_DONTWAIT : 0);
	if (n < 0 && (errno == EINTR || (errno == EAGAIN && !gone)))
		return;
	if (n < (ssize_t)sizeof *r || (size_t)n - sizeof *r != r->omitted_len) {
		s->final = true;	/* end of file, or all of it read: init is gone */
		return;
	}
	r->error[sizeof r->error - 1] = '\0';
	if (r->built && !r->error[0]) {
		s->built = true;
		return;
	}
	if (r->ready && !r->error[0]) {
		s->ready = true;
		return;
	}
	if (!s->have_result || !s->result.error[0]) {
		s->result = *r;
		/* Each name ends in '\0': init's own, ended here too. */
		s->omitted.len = r->omitted_len;
		s->omitted.unnamed = r->omitted_unnamed;
		memcpy(s->omitted.names, m.names, r->omitted_len);
		if (r->omitted_len)
			s->omitted.names[r->omitted_len - 1] = '\0';
	}
	s->have_result = true;
	if (!r->error[0])
		s->final = true;	/* init's result comes last */
}

static void take_signal(struct supervisor *s)
{
	static char msg[64];
	struct signalfd_siginfo si;
	if (read(s->sigfd, &si, sizeof si) != (ssize_t)sizeof si)
		return;
	snprintf(msg, sizeof msg, "interrupted by signal %u", si.ssi_signo);
	kill_init(s, msg);
}

/* A client that hangs up no longer wants the run. */
static void check_client(struct supervisor *s)
{
	char c;
	ssize_t n = recv(s->client_fd, &c, 1, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		kill_init(s, "the client hung up");
		s->client_fd = -1;
		s->client_gone = true;
	}
}

/* The host out of memory before the run's limit: the kernel's OOM killer
 * acts only once reclaim stops making progress, and until then a run that
 * wants more than the host has stalls in reclaim, and wears down the host's
 * page cache, the code of every other run and of the service among it: on
 * a 1 GB guest the kernel took 12 to 110 s to kill such a run, and the host
 * answered little else meanwhile. A run all of whose processes have waited
 * for memory (PSI's "full") at least half of every second for STARVED_MS,
 * while below its own limit, is killed here as the kernel's OOM killer
 * would kill it: 137, memory_starved in the report. (systemd-oomd does the
 * same for whole units, and is not on every host.) A run that spins in the
 * page allocator rather than waits in reclaim shows no such stall, and is
 * left to the kernel's OOM killer. */
#define LOOK_MS 1000
#define STARVED_MS 10000

static void check_starved(struct supervisor *s)
{
	uint64_t now = now_ms();
	if (s->pressure_fd < 0 || s->starved || now < s->looked + LOOK_MS)
		return;
	int64_t stall = cgroup_memory_stall_us(s->pressure_fd);
	if (stall < 0) {
		close(s->pressure_fd);	/* no pressure figures: nothing to watch */
		s->pressure_fd = -1;
		return;
	}
	bool stalled = s->looked && (uint64_t)(stall - s->stall_us) * 2 >= (now - s->looked) * 1000;
	if (!stalled)
		s->starving_since = 0;
	else if (!s->starving_since)
		s->starving_since = s->looked;
	s->stall_us = stall;
	s->looked = now;
	if (s->starving_since && now - s->starving_since >= STARVED_MS &&
	    cgroup_memory_current_kb(s->cg) + 4096 < s->memory_limit_kb) {
		s->starved = true;
		kill_init(s, NULL);
	}
}

enum until { UNTIL_BUILT, UNTIL_READY, UNTIL_RESULT, UNTIL_EXIT };

static bool done(const struct supervisor *s, enum until until)
{
	switch (until) {
	case UNTIL_BUILT:	return s->built || s->final;
	case UNTIL_READY:	return s->ready || s->final;
	case UNTIL_RESULT:	return s->final;
	default:		return s->exited;
	}
}

/* Waits for init to say the command is ready or how it ended (or to die, or
 * to be killed when the caller signals, the client hangs up or the backstop
 * passes). UNTIL_EXIT waits further for init itself to be gone, and reaps it. */
static void supervise(struct supervisor *s, enum until until)
{
	while (!done(s, until)) {
		struct pollfd fds[4] = {
			{ s->pidfd, POLLIN, 0 }, { s->sigfd, POLLIN, 0 },
			{ s->final ? -1 : s->result_fd, POLLIN, 0 },
			{ s->final ? -1 : s->client_fd, POLLIN | POLLRDHUP, 0 },
		};
		uint64_t now = now_ms();
		int wait = s->deadline == UINT64_MAX ? -1 :
			   now >= s->deadline ? 0 : (int)(s->deadline - now);
		if (s->pressure_fd >= 0 && !s->starved && (wait < 0 || wait > LOOK_MS))
			wait = LOOK_MS;
		int n = poll(fds, 4, wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die_errno("poll");
		if (n == 0 && now_ms() >= s->deadline)
			kill_init(s, "the sandbox did not finish after the timeout");
		check_starved(s);
		if (fds[1].revents)
			take_signal(s);
		if (fds[2].revents)
			read_result(s, false);
		if (fds[3].revents)
			check_client(s);
		if (fds[0].revents) {
			while (!s->final)
				read_result(s, true);
			while (wait4(s->pid, &s->status, 0, &s->ru) < 0)
				if (errno != EINTR)
					die_errno("wait4");
			s->exited = true;
		}
	}
}

static int write_report(const struct sandbox_options *o, struct supervisor *s,
			struct run_cgroup *cg, uint64_t start)
{
	const struct init_result *r = &s->result;
	bool usable = s->have_result && !r->error[0];
	struct run_report rep = {
		.options = o,
		.cgroup = o->cgroup_parent != NULL,
		.duration_ms = usable ? (uint64_t)r->duration_us / 1000 : now_ms() - start,
		.timed_out = usable && r->timed_out,
		.cpu_ms = usable ? (uint64_t)r->cpu_us / 1000 :
			  (uint64_t)(s->ru.ru_utime.tv_sec + s->ru.ru_stime.tv_sec) * 1000 +
			  (uint64_t)(s->ru.ru_utime.tv_usec + s->ru.ru_stime.tv_usec) / 1000,
		.memory_peak_kb = usable ? (uint64_t)r->memory_peak_kb : (uint64_t)s->ru.ru_maxrss,
		.omitted = usable ? &s->omitted : NULL,
	};
	if (o->cgroup_parent) {
		rep.oom_killed = s->starved || cgroup_oom_killed(cg);
		rep.memory_peak_kb = cgroup_memory_peak_kb(cg);
		/* Killed for memory well below its own limit: an OOM killer
		 * above the run's cgroup acted, the host (or the service's
		 * share of it) had no more. A run killed at its limit peaks at
		 * it, to the page; 4 MB leaves room for whatever was charged last. */
		rep.memory_starved = s->starved || (rep.oom_killed && rep.memory_peak_kb &&
				     rep.memory_peak_kb + 4096 < o->memory_mb * 1024);
	}
	if (s->cut_short)
		rep.error = s->cut_short;
	else if (s->have_result && r->error[0])
		rep.error = r->error;
	else if (!usable && !rep.oom_killed)
		rep.error = "the sandbox's init ended without a result";
	/* else: init itself fell to the OOM killer, and the run with it */

	int exit_status;
	if (rep.error) {
		rep.exit_code = -1;
		exit_status = SANDBOX_EXIT_FAULT;
		/* A pre-started sandbox's stderr is the service's log, where the
		 * worker that hung up has said so already, with its request. */
		if (!s->client_gone)
			fprintf(stderr, "coderunner-sandbox: %s\n", rep.error);
	} else {
		rep.exit_code = report_exit_code(usable ? r->wait_status : s->status,
						 rep.timed_out, rep.oom_killed, &rep.signal);
		exit_status = rep.exit_code & 0xff;
	}
	if (o->report_fd >= 0) {
		char *json = report_encode(&rep);
		if (!json || report_write(o->report_fd, json, strlen(json)) < 0 ||
		    report_write(o->report_fd, "\n", 1) < 0) {
			if (!s->client_gone)
				fprintf(stderr, "coderunner-sandbox: cannot write the report\n");
			exit_status = SANDBOX_EXIT_FAULT;
		}
		free(json);
		close(o->report_fd);
		die_init(-1, o);	/* its number may be reused from now on */
	}
	return exit_status;
}

/* The report is out: the caller may act on it at once. Letting go of the
 * output pipes gives it end-of-file now rather than after the namespaces'
 * teardown, which costs about a millisecond (RCU grace periods). */
static void release_caller(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		return;	/* harmless: the caller just sees end-of-file a little later */
	close(null);
}

/* The run's cgroup goes whichever way the supervisor exits: through die()
 * (exit, so atexit handlers run) as well as at the end of main(). init and
 * the command never get here: they leave by exec or _exit. */
static struct run_cgroup *cgroup_to_remove;

/* Whoever keeps a pool of pre-started sandboxes wants to build the next one
 * as soon as this one is taken: when our stdout is a socket, our pid goes
 * there. Nothing else is ever written to it. */
static void announce_claim(void)
{
	char line[24];
	int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
	if (send(1, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
	    errno != ENOTSOCK && errno != EAGAIN)
		fprintf(stderr, "coderunner-sandbox: cannot announce the claim: %s\n", strerror(errno));
}

/* SIGHUP retires a sandbox that waits for its run (a reload's, from the
 * pool or the template). They send it by what they have heard of the claims,
 * which lags behind: one that has taken its run no longer takes it. */
static void take_hangup_no_more(int sigfd)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (signalfd(sigfd, &set, 0) < 0)
		die_errno("signalfd");
}

/* Pre-started: the sandbox is built and the command started; wait for it to
 * be ready, then for a client, and hand init the run. False when told to
 * stop before any client came. A set-up that failed is still reported to the
 * first client, so that a run learns why it could not start. */
static bool claim(struct sandbox_options *o, struct supervisor *s, const struct run_cgroup *cg,
		  struct command_fds *cmd)
{
	static struct init_go go;
	supervise(s, UNTIL_READY);
	if (s->cut_short)
		return false;
	int client = prestart_accept(o->accept_fd, s->sigfd);
	if (client < 0)
		return false;
	close(o->accept_fd);
	die_set_listener(-1);
	take_hangup_no_more(s->sigfd);
	/* From now on the client is what the run lives for: it ends the run by
	 * hanging up. Whoever started us (a pool, a template) may go, and the
	 * run with it must not. */
	if (prctl(PR_SET_PDEATHSIG, 0) < 0)
		die_errno("prctl PDEATHSIG");
	announce_claim();
	o->report_fd = client;
	die_set_client(client);
	int workdir_fd = prestart_receive(client, cmd->mine[CMD_STDIN], o, &go);
	prestart_reply(client, cmd);
	die_client_replied();
	s->client_fd = client;
	if (o->cgroup_parent)
		cgroup_set_memory(cg, o->memory_mb);
	s->deadline = now_ms() + o->timeout_ms + BACKSTOP_MS;
	if (!s->final)
		prestart_send_go(s->result_fd, &go, workdir_fd);
	close(workdir_fd);
	return true;
}

/* Warm (--template-fd): once the root is built, coderunner-template forks
 * the command into init's namespaces (forkserver.c); init, told its pid,
 * carries on as in any pre-started run. */
static void fork_from_template(const struct sandbox_options *o, struct supervisor *s,
			       const struct command_fds *cmd, const struct run_cgroup *cg, int result_fd)
{
	supervise(s, UNTIL_BUILT);
	if (s->built && !s->final && !s->cut_short) {
		int32_t command = (int32_t)forkserver_request(o, s->pidfd, result_fd, cmd, cg->dir_fd);
		if (send(s->result_fd, &command, sizeof command, MSG_NOSIGNAL) != (ssize_t)sizeof command)
			die_errno("tell init its command");
	}
	close(result_fd);
	close(o->template_fd);
}

static void remove_cgroup(void)
{
	if (!cgroup_to_remove)
		return;
	cgroup_kill(cgroup_to_remove);
	cgroup_remove(cgroup_to_remove);
	cgroup_to_remove = NULL;
}

int sandbox_main(struct sandbox_options *options)
{
	struct sandbox_options o = *options;
	die_init(o.report_fd, &o);
	check_report_fd(o.report_fd);
	check_accept_fd(o.accept_fd);
	check_report_fd(o.template_fd);	/* the template's, as the report fd is the caller's */
	bool prestarted = o.accept_fd >= 0;
	privileges_check();
	uids_claim(&o);
	int workdir_fd = open_workdir(o.workdir);
	struct command_fds cmd;
	if (prestarted)
		prestart_open_fds(&cmd);

	/* Blocked before there is anything to clean up: a SIGHUP from a
	 * reload that came between the cgroup's mkdir and the blocking ended
	 * us by its default action, leaving the cgroup behind. */
	sigset_t saved;
	int sigfd = block_signals(&saved);

	struct run_cgroup cg = { .dir_fd = -1 };
	if (o.cgroup_parent) {
		cgroup_to_remove = &cg;
		if (atexit(remove_cgroup) != 0)
			die("atexit");
		cgroup_create(&cg, &o);
	}

	/* init's messages come one at a time, and a pre-started sandbox's run
	 * goes the other way with the work dir's fd: a datagram socket pair. */
	int result[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, result) < 0)
		die_errno("socketpair");

	uint64_t start = now_ms();
	int pidfd = -1;
	pid_t pid = clone_init(&o, &cg, &pidfd);
	if (pid == 0) {
		close(result[0]);
		close(sigfd);
		if (prestarted)
			close(o.accept_fd);
		if (o.template_fd >= 0)
			close(o.template_fd);
		if (sigprocmask(SIG_SETMASK, &saved, NULL) < 0)
			die_errno("sigprocmask");
		init_main(&o, result[1], workdir_fd, prestarted ? &cmd : NULL);
	}
	/* init has its own dispositions now, and nothing we start later
	 * inherits ours: a caller gone from the far end of our stderr or of
	 * the report pipe (its client hung up) makes our writes fail, rather
	 * than end us before the cgroup is removed. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die_errno("signal SIGPIPE");
	if (o.template_fd < 0)	/* warm: the template's command gets it */
		close(result[1]);

	struct supervisor s = {
		.pid = pid, .pidfd = pidfd, .sigfd = sigfd, .result_fd = result[0], .client_fd = -1,
		.pressure_fd = -1,
		.deadline = prestarted ? UINT64_MAX : start + o.timeout_ms + BACKSTOP_MS,
	};
	if (prestarted) {
		if (o.template_fd >= 0)
			fork_from_template(&o, &s, &cmd, &cg, result[1]);
		prestart_close_theirs(&cmd);
		if (!claim(&o, &s, &cg, &cmd)) {
			/* Retired unclaimed: nothing to report, nothing failed. */
			kill_init(&s, "retired");
			supervise(&s, UNTIL_EXIT);
			remove_cgroup();
			return 0;
		}
		start = now_ms();
	}
	if (o.cgroup_parent) {
		s.cg = &cg;
		s.memory_limit_kb = o.memory_mb * 1024;
		s.pressure_fd = cgroup_open_pressure(&cg);
	}
	supervise(&s, UNTIL_RESULT);
	if (s.pressure_fd >= 0)
		close(s.pressure_fd);
	s.pressure_fd = -1;
	int exit_status = write_report(&o, &s, &cg, start);
	if (!prestarted)
		release_caller();
	supervise(&s, UNTIL_EXIT);
	remove_cgroup();
	return exit_status;
}
