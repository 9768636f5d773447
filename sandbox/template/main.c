/* main.c — coderunner-template: pre-started sandboxes whose interpreter
 * has already imported the libraries scripts use.
 *
 *   coderunner-template --preload numpy,pandas,matplotlib.pyplot --prestart N \
 *       --sandbox PATH [--cache FILE] [coderunner-sandbox option]... --accept-fd FD \
 *       -- /usr/bin/python3 -s -c RUNNER
 *
 * Importing numpy, pandas and matplotlib costs an agent's script most of its
 * time, every run. This program embeds the interpreter, imports the preload
 * list once, and keeps N sandboxes waiting on the listening socket FD. Each
 * is coderunner-sandbox (PATH) --template-fd with our sandbox options,
 * spawned (posix_spawn: no copy of our memory), and builds its sandbox as
 * any other: uid, cgroup, init in its namespaces, root. Where its init would
 * fork the command, it asks us (fork.c; the supervisor's side is
 * sandbox/forkserver.c): a helper on our memory
 * enters init's namespaces and makes a process there that forks the
 * command, our interpreter, and ends, so that init adopts it as its child,
 * PID 2. The command goes through the same stages as any (rlimits,
 * privilege drop, no_new_privs, seccomp, clean environment), is not
 * exec'd but carries on holding the imports, and warm.py (python.c) makes it what
 * `python3 -s -c RUNNER` would be (environment, random streams,
 * sys.modules, argv) before RUNNER runs. One copy of our memory per run:
 * the command's. When a run claims a sandbox, its supervisor says so on
 * its stdout, a socket to us, and we start the next one; no sandbox serves
 * two runs.
 *
 * Privilege: this process holds what coderunner-sandbox holds, and
 * CAP_SYS_CHROOT (setns() into a mount namespace needs it), but it runs
 * Python only with an empty effective capability set, with a private /tmp
 * (so an import that writes a cache writes nowhere shared); after the
 * imports it runs no Python at all, only this file's loop. The helper
 * raises its own effective set to enter a sandbox; the command drops every
 * set before RUNNER runs.
 *
 * Messages on stdout, for whoever keeps us (coderunner-fcgi's pool): "warm PID
 * NAME..." once the first sandboxes are started, with the top-level modules
 * the imports brought in (a run whose own packages provide one of them
 * cannot be warm). Diagnostics go to stderr.
 *
 * The parts, in the order main() calls them:
 *   cache.c   what each import brings in, kept from the last start (--cache)
 *   python.c  the interpreter, the preload list imported (in a private
 *             /tmp), warm.py loaded; later, in each command, run() called
 *   memory.c  our memory laid out for forking: the interpreter's arenas and
 *             the heap's holes filled, huge pages
 *   pages.c   what runs write, learnt once, copied ahead
 *   fork.c    a warm run's command, forked into a sandbox that asks for it
 *   main.c    the pool of pre-started sandboxes: spawned, claimed, reaped
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>	/* PY_MAJOR_VERSION */

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/template/template.h"

#define MAX_CHILDREN 512

struct child {
	pid_t pid;
	bool claimed;
};

static struct child children[MAX_CHILDREN];
static unsigned n_children;
struct sandbox_options template_options;
static const char *sandbox_path;	/* coderunner-sandbox: each child, and each waiter */
static char **supervisor_argv;		/* coderunner-sandbox --template-fd 4 OPTION... -- COMMAND */
static char **zygote_argv;		/* coderunner-sandbox --zygote 5 --template-fd 4 OPTION... */
static int requests[2] = { -1, -1 };	/* [0] ours, [1] the children's fd 4 */
static int claims[2] = { -1, -1 };	/* [0] ours, [1] the children's stdout */

void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("coderunner-template: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(SANDBOX_EXIT_FAULT);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Raises or empties the effective set, keeping the permitted one. */
void set_effective(bool raised)
{
	if (capng_get_caps_process() < 0)
		fail("cannot read our capabilities");
	for (unsigned cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (capng_have_capability(CAPNG_PERMITTED, cap))
			capng_update(raised ? CAPNG_ADD : CAPNG_DROP, CAPNG_EFFECTIVE, cap);
	if (capng_apply(CAPNG_SELECT_CAPS) < 0)
		fail("cannot %s our effective capabilities", raised ? "raise" : "empty");
}

/* coderunner-sandbox with ARGV, spawned (no copy of our memory: posix_spawn
 * shares it until the exec), with our claims socket as its stdout, the
 * requests socket as fd 4 and ZYGOTE_END, if any, as fd 5. */
static pid_t exec_sandbox(char **argv, int zygote_end)
{
	char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", NULL };
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	int accept_fd = template_options.accept_fd;
	posix_spawn_file_actions_adddup2(&fa, accept_fd, accept_fd);	/* inherited */
	posix_spawn_file_actions_adddup2(&fa, claims[1], 1);
	posix_spawn_file_actions_adddup2(&fa, requests[1], 4);
	if (zygote_end >= 0)
		posix_spawn_file_actions_adddup2(&fa, zygote_end, 5);
	posix_spawn_file_actions_addclosefrom_np(&fa, zygote_end >= 0 ? 6 : 5);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	/* Raised for the exec: the path may need CAP_DAC_READ_SEARCH to reach. */
	set_effective(true);
	int rc = posix_spawn(&pid, sandbox_path, &fa, &attr, argv, envp);
	set_effective(false);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "coderunner-template: spawn %s: %s\n", sandbox_path, strerror(rc));
		return -1;
	}
	return pid;
}

/* The zygote (sandbox/zygote.c): coderunner-sandbox --zygote 5 with the
 * supervisors' options, which forks each supervisor, as our child, for a
 * byte on our end of a socket pair: an exec of each would cost about 1 ms
 * of CPU more per run. Without it (it could not start, or it ended), each
 * supervisor is executed as before, and a new zygote is tried once a
 * second at most. */
static int zygote = -1;			/* our end, or -1 */
static pid_t zygote_pid;
static long long zygote_tried;

static void start_zygote(void)
{
	zygote_tried = now_ms();
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "coderunner-template: the zygote's socket: %s\n", strerror(errno));
		return;
	}
	/* Its answers are waited for 5 s at most: a zygote that hangs must
	 * not hold up the pool. */
	struct timeval limit = { .tv_sec = 5 };
	pid_t pid = setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) < 0 ? -1 :
		exec_sandbox(zygote_argv, sv[1]);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return;
	}
	zygote = sv[0];
	zygote_pid = pid;
}

/* Our end closed: the zygote reads end of file and ends (or, stuck, is
 * killed); reap() collects it. */
static void stop_zygote(void)
{
	if (zygote < 0)
		return;
	close(zygote);
	zygote = -1;
}

/* Kills the zygote that did not answer, and reads the answer it may have
 * sent since: its pid, or -1. A supervisor it forked goes on only once its
 * pid was sent (zygote.c), so once the zygote is reaped, all it sent is
 * here to read, and what it forked and did not name ends. (One it named
 * just before it died may end too, unclaimed: reap() takes that as a
 * set-up that failed.) Reaping is waited for 1 s at most, as its answer
 * was for 5: a zygote that cannot die at once is left to reap(), and what
 * it sent, unread. */
static pid_t kill_zygote(void)
{
	int32_t pid = -1;
	int pidfd = (int)syscall(SYS_pidfd_open, zygote_pid, 0);
	kill(zygote_pid, SIGKILL);
	struct pollfd p = { pidfd, POLLIN, 0 };
	if (pidfd >= 0 && poll(&p, 1, 1000) == 1 && waitpid(zygote_pid, NULL, WNOHANG) == zygote_pid) {
		zygote_pid = 0;
		if (recv(zygote, &pid, sizeof pid, MSG_DONTWAIT) != (ssize_t)sizeof pid || pid <= 0)
			pid = -1;
	}
	if (pidfd >= 0)
		close(pidfd);
	stop_zygote();
	return pid;
}

/* A supervisor from the zygote: its pid, or -1. */
static pid_t fork_supervisor(void)
{
	int32_t pid = 0;
	ssize_t n = send(zygote, "s", 1, MSG_NOSIGNAL) != 1 ? -1 : recv(zygote, &pid, sizeof pid, 0);
	if (n != (ssize_t)sizeof pid) {
		int err = n < 0 ? errno : ECONNRESET;
		pid = kill_zygote();
		fprintf(stderr, "coderunner-template: the zygote does not answer (%s); a new one is started%s\n",
			strerror(err), pid > 0 ? ", and the sandbox it answered with late is kept" : "");
		return pid;
	}
	if (pid < 0) {
		fprintf(stderr, "coderunner-template: the zygote cannot fork: %s\n", strerror(-pid));
		return -1;
	}
	return pid;
}

/* Each pre-started sandbox is coderunner-sandbox --template-fd: its
 * supervisor forked by the zygote, or executed. */
static bool spawn(void)
{
	if (n_children == MAX_CHILDREN)
		return false;
	if (zygote < 0 && now_ms() - zygote_tried > 1000)
		start_zygote();
	pid_t pid = zygote >= 0 ? fork_supervisor() : -1;
	if (pid < 0)
		pid = exec_sandbox(supervisor_argv, -1);
	if (pid < 0)
		return false;
	children[n_children++] = (struct child){ pid, false };
	return true;
}

static unsigned waiting(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < n_children; i++)
		n += !children[i].claimed;
	return n;
}

static void read_claims(void)
{
	char msg[32];
	ssize_t n;
	while ((n = recv(claims[0], msg, sizeof msg - 1, MSG_DONTWAIT)) > 0) {
		msg[n] = '\0';
		pid_t pid = (pid_t)atoi(msg);
		for (unsigned i = 0; i < n_children; i++)
			if (children[i].pid == pid)
				children[i].claimed = true;
	}
}

/* Reaps what ended; true if a child ended before any run claimed it. */
static bool reap(void)
{
	bool unclaimed = false;
	pid_t pid;
	/* A child says it was claimed before its run, and may have ended
	 * since: read what it said first. */
	read_claims();
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
		if (pid == zygote_pid) {
			stop_zygote();
			zygote_pid = 0;
		}
		for (unsigned i = 0; i < n_children; i++)
			if (children[i].pid == pid) {
				unclaimed |= !children[i].claimed;
				children[i] = children[--n_children];
				break;
			}
	}
	return unclaimed;
}

static void signal_children(int sig, bool idle_only)
{
	for (unsigned i = 0; i < n_children; i++)
		if (!idle_only || !children[i].claimed)
			kill(children[i].pid, sig);
}

__attribute__((noinline)) static int template_main(int argc, char **argv)
{
	/* Our options name host paths (the sandbox, the cache, the uid lock):
	 * moved to a copy each warm run wipes before its code can read its
	 * memory (python_warm_command). */
	init_move_arguments(argc, argv);
	/* Ended by our keeper's end from the start: a service killed while we
	 * import (10 s and more) must not leave us to import for no one, and
	 * then wait for ever. SIGTERM ends us at once until the imports are
	 * done; from then on our signalfd takes it, and we stop with our
	 * sandboxes. */
	if (die_with_parent(SIGTERM, 0) < 0)
		fail("our keeper: %s", strerror(errno));
	const char *list = NULL, *cache_path = NULL;
	unsigned prestart = 1;
	int i = 1;
	for (; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--preload"))
			list = argv[i + 1];
		else if (!strcmp(argv[i], "--prestart"))
			prestart = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--sandbox"))
			sandbox_path = argv[i + 1];
		else if (!strcmp(argv[i], "--cache"))
			cache_path = argv[i + 1];
		else
			break;
	}
	if (!list || !*list || prestart < 1 || prestart > MAX_CHILDREN / 2 || !sandbox_path)
		fail("usage: coderunner-template --preload LIST --prestart N --sandbox PATH [--cache FILE] "
		     "[coderunner-sandbox option]... --accept-fd FD -- PYTHON -s -c RUNNER");
	/* Each child: coderunner-sandbox --template-fd 4, then our sandbox
	 * options and command as they are; the zygote: --zygote 5 before them. */
	supervisor_argv = calloc((size_t)(argc - i + 4), sizeof *supervisor_argv);
	zygote_argv = calloc((size_t)(argc - i + 6), sizeof *zygote_argv);
	if (!supervisor_argv || !zygote_argv)
		fail("out of memory");
	supervisor_argv[0] = (char *)sandbox_path;
	supervisor_argv[1] = "--template-fd";
	supervisor_argv[2] = "4";
	for (int k = i; k < argc; k++)
		supervisor_argv[k - i + 3] = argv[k];
	zygote_argv[0] = (char *)sandbox_path;
	zygote_argv[1] = "--zygote";
	zygote_argv[2] = "5";
	for (int k = 1; supervisor_argv[k]; k++)
		zygote_argv[k + 2] = supervisor_argv[k];
	struct sandbox_options o;
	char err[256];
	argv[i - 1] = argv[0];
	if (options_parse(&o, argc - i + 1, argv + i - 1, err, sizeof err) < 0)
		fail("%s", err);
	template_options = o;
	template_options.in_process = python_warm_command;
	fork_map_command_stack();
	/* Only our sandboxes' supervisors take the listening socket, not the
	 * runs' inits we exec. */
	if (fcntl(o.accept_fd, F_SETFD, FD_CLOEXEC) < 0)
		fail("--accept-fd %d: %s", o.accept_fd, strerror(errno));
	if (o.accept_fd < 0 || !o.argv[0] || !o.argv[1] || strcmp(o.argv[1], "-s") || !o.argv[2] ||
	    strcmp(o.argv[2], "-c") || !o.argv[3] || o.argv[4])
		fail("the command must be pre-started (--accept-fd) and PYTHON -s -c RUNNER");
	/* Only the interpreter we embed can stand in for the one asked for. */
	char want[PATH_MAX], have[PATH_MAX];
	if (!realpath(o.argv[0], want) || !realpath("/usr/bin/python" Py_STRINGIFY(PY_MAJOR_VERSION) "."
						   Py_STRINGIFY(PY_MINOR_VERSION), have) || strcmp(want, have))
		fail("%s is not the interpreter this template embeds (python%d.%d); runs go cold",
		     o.argv[0], PY_MAJOR_VERSION, PY_MINOR_VERSION);
	privileges_check();
	if (!seccomp_prepare())
		fail("build the seccomp filter: %s", strerror(errno));
	/* setns() into a mount namespace takes CAP_SYS_CHROOT besides. */
	if (capng_get_caps_process() < 0 || !capng_have_capability(CAPNG_PERMITTED, CAP_SYS_CHROOT))
		fail("without CAP_SYS_CHROOT no command can be forked into a sandbox; runs go cold");

	/* Our stdout is for our keeper's messages; children say "claimed" to
	 * us, and ask for their commands. */
	int keeper = fcntl(1, F_DUPFD_CLOEXEC, 3);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (keeper < 0 || null < 0 || dup2(null, 1) < 0 ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, claims) < 0 ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, requests) < 0)
		fail("set up our fds: %s", strerror(errno));
	close(null);

	bool fds_before[1024];
	python_open_fds(fds_before);
	set_effective(false);	/* the file is read as the user we run as */
	char *cached = cache_path ? cache_read(cache_path) : NULL;
	set_effective(true);
	python_enter_namespaces();
	set_effective(false);
	python_start(&o);
	python_preload(list, cached);
	free(cached);
	python_check_no_fds_left(fds_before);
	memory_fill_pool_holes();
	memory_fill_heap_holes();
	memory_collapse_to_huge_pages();
	python_learn_pages();
	set_effective(true);
	python_leave_private_tmp();
	set_effective(false);
	if (cache_path && python_from_cache())
		fprintf(stderr, "coderunner-template: what each import brings in: as kept in %s\n", cache_path);
	else if (cache_path && python_found_out() && cache_write(cache_path, python_found_out()))
		fprintf(stderr, "coderunner-template: what each import brings in: found out, kept in %s\n", cache_path);
	memory_clear_stack();

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	int sigfd;
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 || (sigfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0)
		fail("signalfd: %s", strerror(errno));

	bool stopping = false, said_warm = false;
	long long last_failure = 0;
	for (;;) {
		/* A child that ends unclaimed (a set-up that fails) is
		 * replaced once a second at most, never in a storm. */
		while (!stopping && waiting() < prestart && now_ms() - last_failure > 1000)
			if (!spawn())
				last_failure = now_ms();
		if (!said_warm && !stopping && n_children) {
			const char *imported = python_imported();
			char msg[IMPORTED_MAX + 32];
			int len = snprintf(msg, sizeof msg, "warm %d %s\n", (int)getpid(), imported);
			if (write(keeper, msg, (size_t)len) < 0)
				fprintf(stderr, "coderunner-template: cannot tell our keeper: %s\n", strerror(errno));
			said_warm = true;
		}
		if (stopping && n_children == 0)
			_exit(0);	/* the interpreter needs no teardown */
		struct pollfd fds[3] = { { sigfd, POLLIN, 0 }, { claims[0], POLLIN, 0 }, { requests[0], POLLIN, 0 } };
		if (poll(fds, 3, 1000) < 0 && errno != EINTR)
			fail("poll: %s", strerror(errno));
		if (fds[2].revents)
			fork_handle_requests(requests[0]);
		if (fds[1].revents)
			read_claims();
		struct signalfd_siginfo si;
		if (fds[0].revents && read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
			if (si.ssi_signo == SIGHUP && !stopping) {
				/* Retire: the idle go, runs under way finish. */
				stopping = true;
				stop_zygote();
				signal_children(SIGHUP, true);
			} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
				stopping = true;
				stop_zygote();
				signal_children(SIGTERM, false);
			}
		}
		if (reap())
			last_failure = now_ms();
	}
}

int main(int argc, char **argv)
{
	/* Before template_main()'s frame takes the place of what ran before
	 * us: that frame is large, and what it never writes stays as it was. */
	memory_clear_stack();
	return template_main(argc, argv);
}
