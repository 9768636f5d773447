/* run.c — run coderunner-sandbox on a staged directory and collect the result.
 *
 * The sandbox's stdout and stderr are the script's; its report (how the run
 * ended) comes on a pipe of its own at fd 3, so nothing the script prints can
 * forge it. A run under a runner (POST /run, /execute) gets one more pipe at
 * fd 4, left open through the sandbox with --keep-fd, on which the runner
 * answers (main()'s result, the exception that ended the script): again
 * nothing the script prints can pass for it. One poll loop drains every pipe
 * at once: a script that fills
 * stderr while we wait on stdout must never deadlock. Each stream is kept up
 * to max_output_kib and the rest is read and dropped (so the script is never
 * blocked on a full pipe), with *_truncated set. A pidfd in the same poll
 * tells us when the sandbox ended even if something still holds a pipe open.
 *
 * The child is started with vfork(): the worker's pages are not copied, which
 * keeps the cost of a run close to that of the interpreter itself. Between
 * vfork and exec it only calls async-signal-safe syscalls.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

#define REPORT_MAX (64 * 1024)
/* The sandbox enforces the timeout itself; this is our own backstop for a
 * sandbox that hangs, long enough to include its set-up and copy-back. */
#define BACKSTOP_GRACE_MS 30000

extern char **environ;

static int devnull = -1;

void run_init(void)
{
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		die_errno("open /dev/null");
}

void run_result_free(struct run_result *res)
{
	buf_free(&res->out);
	buf_free(&res->err);
	buf_free(&res->channel);
}

enum run_outcome run_outcome(const struct run_result *res)
{
	if (res->fault[0])
		return RUN_INTERNAL;
	if (res->timed_out)
		return RUN_TIMEOUT;
	if (res->oom_killed)
		return RUN_OOM;
	return res->exit_code == 0 ? RUN_OK : RUN_ERROR;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The script's stdin: a sealed memfd holding the request's "stdin", so the
 * script can read it at its own pace while we wait on its output. */
static int stdin_fd(const struct run_request *r)
{
	if (!r->stdin_len)
		return fcntl(devnull, F_DUPFD_CLOEXEC, 3);
	int fd = memfd_create("stdin", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	const char *p = r->stdin_data;
	size_t n = r->stdin_len;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			close(fd);
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct stream {
	int fd;
	struct buf *buf;
	size_t cap;
	bool *truncated;
};

/* Read what is there; false at EOF or on error. */
static bool drain(struct stream *s)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(s->fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		size_t room = s->buf->len < s->cap ? s->cap - s->buf->len : 0;
		size_t keep = (size_t)n < room ? (size_t)n : room;
		if (keep)
			buf_put(s->buf, chunk, keep);
		if ((size_t)n > keep && s->truncated)
			*s->truncated = true;
	}
}

static void parse_report(const char *text, struct run_result *res)
{
	json_object *o = json_tokener_parse(text), *v;
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		snprintf(res->fault, sizeof res->fault, "the sandbox wrote no readable report");
		return;
	}
	if (json_object_object_get_ex(o, "error", &v) && json_object_is_type(v, json_type_string)) {
		snprintf(res->fault, sizeof res->fault, "the sandbox failed: %s", json_object_get_string(v));
		json_object_put(o);
		return;
	}
	if (!json_object_object_get_ex(o, "exit_code", &v) || !json_object_is_type(v, json_type_int)) {
		snprintf(res->fault, sizeof res->fault, "the sandbox report has no exit_code");
		json_object_put(o);
		return;
	}
	res->exit_code = json_object_get_int(v);
	if (json_object_object_get_ex(o, "signal", &v))
		res->signal = json_object_get_int(v);
	if (json_object_object_get_ex(o, "timed_out", &v))
		res->timed_out = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "oom_killed", &v))
		res->oom_killed = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "duration_ms", &v))
		res->duration_ms = (long)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "memory_peak_kb", &v))
		res->memory_peak_kb = (long)json_object_get_int64(v);
	json_object_put(o);
}

/* Everything the child does between vfork() and execve(). The report and
 * channel ends are >= 5 (see move_above()), so setting fds 0-4 in order never
 * overwrites a source still to be used. */
static _Noreturn void child(int in, int out, int err, int report, int channel, char **argv,
			    const sigset_t *mask)
{
	/* Die with the worker: a worker killed mid-request must not leave a
	 * sandbox writing into a directory the master is about to remove. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 || dup2(report, 3) < 0)
		_exit(127);
	if (channel >= 0 && dup2(channel, 4) < 0)
		_exit(127);
	/* libfcgi's connection fd is not O_CLOEXEC: close everything else. */
	syscall(SYS_close_range, channel >= 0 ? 5U : 4U, ~0U, 0U);
	sigprocmask(SIG_SETMASK, mask, NULL);
	execve(argv[0], argv, environ);
	_exit(127);
}

/* Kept out of line so that nothing of run_sandbox()'s frame lives in
 * registers the vfork child could clobber. */
static __attribute__((noinline)) pid_t spawn(int in, int out, int err, int report, int channel,
					     char **argv, int *spawn_errno)
{
	/* No signal handler may run in the child while it shares our memory. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = vfork();
	if (pid == 0)
		child(in, out, err, report, channel, argv, &old);
	*spawn_errno = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return pid;
}

/* Moves *fd to a number >= 5, where the child's dup2() onto 0-4 cannot
 * clobber it; -1 on failure. */
static int move_above(int *fd)
{
	if (*fd >= 5)
		return 0;
	int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 5);
	if (moved < 0)
		return -1;
	close(*fd);
	*fd = moved;
	return 0;
}

void run_sandbox(const struct config *c, const char *dir, const struct run_request *r,
		 struct run_result *res)
{
	char timeout[32], memory[16], pids[16], fsize[16], nofile[16], tmp[16], work[16], entry[1100];
	snprintf(timeout, sizeof timeout, "%.3f", r->timeout_s);
	snprintf(memory, sizeof memory, "%u", r->memory_mb);
	snprintf(pids, sizeof pids, "%u", c->pids);
	snprintf(fsize, sizeof fsize, "%u", c->fsize_mb);
	snprintf(nofile, sizeof nofile, "%u", c->nofile);
	snprintf(tmp, sizeof tmp, "%u", c->tmp_size_mb);
	snprintf(work, sizeof work, "%u", c->work_size_mb);
	snprintf(entry, sizeof entry, "%s", r->entry_point);
	char *argv[40];
	int a = 0;
	argv[a++] = (char *)c->sandbox;
	argv[a++] = "--workdir"; argv[a++] = (char *)dir;
	argv[a++] = "--timeout"; argv[a++] = timeout;
	argv[a++] = "--memory"; argv[a++] = memory;
	argv[a++] = "--pids"; argv[a++] = pids;
	argv[a++] = "--fsize"; argv[a++] = fsize;
	argv[a++] = "--nofile"; argv[a++] = nofile;
	argv[a++] = "--tmp-size"; argv[a++] = tmp;
	argv[a++] = "--work-size"; argv[a++] = work;
	argv[a++] = "--user"; argv[a++] = (char *)c->user;
	if (service.cgroup_dir[0]) {
		argv[a++] = "--cgroup";
		argv[a++] = service.cgroup_dir;
	}
	argv[a++] = "--report-fd"; argv[a++] = "3";
	if (r->runner) {
		argv[a++] = "--keep-fd";
		argv[a++] = "4";
	}
	argv[a++] = "--";
	argv[a++] = (char *)c->python;
	/* No -I: it would drop the script's own directory from sys.path, and
	 * files mode needs `import utils` to work; it would also ignore
	 * PYTHONUNBUFFERED, and a script killed at its timeout would lose what
	 * it printed. The sandbox's environment is already clean; -s keeps a
	 * user site-packages out all the same. */
	argv[a++] = "-s";
	if (r->runner) {
		argv[a++] = "-c";
		argv[a++] = (char *)r->runner;
	}
	argv[a++] = entry;
	argv[a] = NULL;

	memset(res, 0, sizeof *res);
	res->exit_code = -1;
	res->duration_ms = -1;
	res->memory_peak_kb = -1;
	res->wall_ms = -1;

	enum { OUT, ERR, REPORT, CHANNEL, N_STREAMS };
	int n_streams = r->runner ? N_STREAMS : CHANNEL;
	int in = stdin_fd(r), p[N_STREAMS][2];
	for (int i = 0; i < N_STREAMS; i++)
		p[i][0] = p[i][1] = -1;
	bool ready = in >= 0;
	for (int i = 0; ready && i < n_streams; i++)
		ready = pipe2(p[i], O_CLOEXEC) == 0;
	ready = ready && move_above(&p[REPORT][1]) == 0 && (!r->runner || move_above(&p[CHANNEL][1]) == 0);
	if (!ready) {
		snprintf(res->fault, sizeof res->fault, "cannot set up the run: %s", strerror(errno));
		if (in >= 0)
			close(in);
		for (int i = 0; i < N_STREAMS; i++)
			for (int k = 0; k < 2; k++)
				if (p[i][k] >= 0)
					close(p[i][k]);
		return;
	}

	int spawn_errno = 0;
	long long started = now_ms();
	pid_t pid = spawn(in, p[OUT][1], p[ERR][1], p[REPORT][1], p[CHANNEL][1], argv, &spawn_errno);
	close(in);
	for (int i = 0; i < n_streams; i++)
		close(p[i][1]);
	if (pid < 0) {
		snprintf(res->fault, sizeof res->fault, "cannot start the sandbox: %s", strerror(spawn_errno));
		for (int i = 0; i < n_streams; i++)
			close(p[i][0]);
		return;
	}

	struct buf report = { 0 };
	size_t output_cap = (size_t)c->max_output_kib * 1024;
	struct stream streams[N_STREAMS] = {
		[OUT] = { p[OUT][0], &res->out, output_cap, &res->out_truncated },
		[ERR] = { p[ERR][0], &res->err, output_cap, &res->err_truncated },
		[REPORT] = { p[REPORT][0], &report, REPORT_MAX, NULL },
		[CHANNEL] = { p[CHANNEL][0], &res->channel, output_cap, &res->channel_truncated },
	};
	for (int i = 0; i < n_streams; i++)
		if (fcntl(streams[i].fd, F_SETFL, O_NONBLOCK) < 0)
			die_errno("fcntl O_NONBLOCK");
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	long long deadline = now_ms() + (long long)(r->timeout_s * 1000) + BACKSTOP_GRACE_MS;
	bool open_[N_STREAMS] = { true, true, true, true }, exited = false, killed = false;
	int status = 0;

	while (!exited) {
		struct pollfd pfd[N_STREAMS + 1];
		int map[N_STREAMS + 1], n = 0;
		for (int i = 0; i < n_streams; i++)
			if (open_[i]) {
				pfd[n] = (struct pollfd){ .fd = streams[i].fd, .events = POLLIN };
				map[n++] = i;
			}
		if (pidfd >= 0) {
			pfd[n] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
			map[n++] = -1;
		}
		long long left = deadline - now_ms();
		if (left <= 0 && !killed) {
			kill(pid, SIGKILL);
			killed = true;
			snprintf(res->fault, sizeof res->fault, "the sandbox did not finish %d s after the timeout",
				 BACKSTOP_GRACE_MS / 1000);
			left = 5000;
			deadline = now_ms() + left;
		} else if (left <= 0)
			break;		/* killed and still not gone: give up waiting */
		if (pidfd < 0 && n == 0)
			break;		/* every pipe closed: waitpid() below */
		int rc = poll(pfd, (nfds_t)n, pidfd < 0 && left > 1000 ? 1000 : (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			die_errno("poll");
		for (int k = 0; k < n; k++) {
			if (!pfd[k].revents)
				continue;
			if (map[k] < 0)
				exited = true;
			else if (!drain(&streams[map[k]]))
				open_[map[k]] = false;
		}
		bool any_open = false;
		for (int i = 0; i < n_streams; i++)
			any_open |= open_[i];
		if (pidfd < 0 && !any_open)
			break;
	}
	/* The child ended: what it wrote is already in the pipes. */
	for (int i = 0; i < n_streams; i++) {
		if (open_[i])
			drain(&streams[i]);
		close(streams[i].fd);
	}
	if (pidfd >= 0)
		close(pidfd);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = 0;
			break;
		}
	}
	res->wall_ms = (long)(now_ms() - started);

	if (!res->fault[0]) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !report.len)
			snprintf(res->fault, sizeof res->fault, "cannot run %.400s", c->sandbox);
		else if (!report.len && WIFSIGNALED(status))
			snprintf(res->fault, sizeof res->fault, "the sandbox was killed by signal %d and wrote no report",
				 WTERMSIG(status));
		else if (!report.len)
			snprintf(res->fault, sizeof res->fault, "the sandbox ended with status %d and no report",
				 WEXITSTATUS(status));
		else
			parse_report(report.data, res);
	}
	buf_free(&report);
}
