/* run.c — run a staged directory in a pre-started sandbox and collect the result.
 *
 * The sandboxes wait, built, on the pool's socket (pool.c); a run connects,
 * sends its request with the work dir's fd (sandbox/prestart.h) and gets
 * back the read ends of the script's stdout and stderr, and of fd 4, on
 * which a runner (POST /run, /execute) answers (main()'s result, the
 * exception that ended the script): nothing the script prints can pass for
 * it. How the run ended (the report) comes last on the connection itself,
 * so nothing the script prints can forge that either, and end-of-file there
 * means the sandbox is done. Hanging up ends the run. When every
 * pre-started sandbox is taken, a run starts a sandbox of its own in the
 * ordinary mode instead (start_own()): the same fds, from pipes, and the
 * report on a pipe at its fd 3.
 *
 * One poll loop drains every pipe at once: a script that fills stderr while
 * we wait on stdout must never deadlock. Each stream is kept up to
 * max_output_kib and the rest is read and dropped (so the script is never
 * blocked on a full pipe), with *_truncated set.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <linux/sockios.h>
#include <unistd.h>

#include "fcgi/fcgi.h"
#include "sandbox/prestart.h"

extern char **environ;

#define REPORT_MAX (64 * 1024)
/* The sandbox enforces the timeout itself; this is our own backstop for a
 * sandbox that hangs, long enough to include its copy-back. */
#define BACKSTOP_GRACE_MS 30000
/* How long a run may wait for a pre-started sandbox to take it: one is
 * normally waiting, or being built after the last run. */
#define CLAIM_TIMEOUT_S 30
/* How often a warm claim not yet taken looks whether the template lives. */
#define CLAIM_CHECK_MS 100
/* claim()'s answer for a warm claim no sandbox took before the template
 * ended: the run may start cold instead. */
#define CLAIM_UNTAKEN (-2)

void run_result_free(struct run_result *res)
{
	buf_free(&res->out);
	buf_free(&res->err);
	buf_free(&res->channel);
}

/* A run that asks for more memory than the host can give it gets what it
 * can: above that it would meet a limit of all runs together (the slice's),
 * which throttles or kills runs beside it, before its own. */
unsigned run_memory_mb(unsigned asked)
{
	return asked < service.memory_ceiling_mb ? asked : service.memory_ceiling_mb;
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
	if (json_object_object_get_ex(o, "memory_starved", &v))
		res->memory_starved = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "duration_ms", &v))
		res->duration_ms = (long)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "memory_peak_kb", &v))
		res->memory_peak_kb = (long)json_object_get_int64(v);
	json_object_put(o);
}

/* What prestart.py is told: the RLIMIT_AS to set (0 under a cgroup, which
 * the sandbox sets itself), whether fd 4 stays open, the package set to put
 * on sys.path (as PYTHONPATH would), and the rest of the python3 -s command
 * line. */
static void build_args(const struct run_request *r, struct buf *args)
{
	buf_printf(args, "%u", service.cgroup_dir[0] ? 0 : run_memory_mb(r->memory_mb));
	buf_put(args, "\0", 1);
	buf_puts(args, r->runner ? "1" : "0");
	buf_put(args, "\0", 1);
	buf_puts(args, r->package_path);
	buf_put(args, "\0", 1);
	if (r->runner) {
		buf_puts(args, "-c");
		buf_put(args, "\0", 1);
		buf_puts(args, r->runner);
		buf_put(args, "\0", 1);
	}
	buf_puts(args, r->entry_point);
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

/* The script's stdin: a memfd holding the request's "stdin", as in a
 * pre-started sandbox. */
static int stdin_memfd(const struct run_request *r)
{
	int fd = memfd_create("stdin", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (r->stdin_len && pwrite(fd, r->stdin_data, r->stdin_len, 0) != (ssize_t)r->stdin_len) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A sandbox of our own, in the ordinary mode: started for this run, with
 * the work dir copied in before the interpreter starts, so that it runs
 * from start to end without waiting. Sets fds[] and returns the report
 * pipe, or -1 with errno set. */
static int start_own(const struct config *c, const char *dir, const struct run_request *r,
		     int fds[3], pid_t *own)
{
	struct sandbox_command cmd;
	int a = sandbox_argv(c, &cmd, (unsigned)(r->timeout_s * 1000 + 0.5), run_memory_mb(r->memory_mb));
	char **argv = cmd.argv, entry[1100], pythonpath[sizeof r->package_path + 16];
	snprintf(entry, sizeof entry, "%s", r->entry_point);
	for (int i = 0; i < (int)(sizeof r->sandbox_extra / sizeof *r->sandbox_extra) && r->sandbox_extra[i]; i++)
		argv[a++] = (char *)r->sandbox_extra[i];
	if (r->package_path[0]) {
		snprintf(pythonpath, sizeof pythonpath, "PYTHONPATH=%s", r->package_path);
		argv[a++] = "--setenv";
		argv[a++] = pythonpath;
	}
	argv[a++] = "--workdir"; argv[a++] = (char *)dir;
	argv[a++] = "--report-fd"; argv[a++] = "3";
	if (r->runner) {	/* the runner's channel; a script alone has no fd 4 */
		argv[a++] = "--keep-fd";
		argv[a++] = "4";
	}
	argv[a++] = "--";
	argv[a++] = (char *)c->python;
	argv[a++] = "-s";
	if (r->runner) {
		argv[a++] = "-c";
		argv[a++] = (char *)r->runner;
	}
	argv[a++] = entry;
	argv[a] = NULL;

	enum { OUT, ERR, CHANNEL, REPORT, N_PIPES };
	int p[N_PIPES][2], in = stdin_memfd(r), rc = in < 0 ? errno : 0;
	for (int i = 0; i < N_PIPES; i++)
		p[i][0] = p[i][1] = -1;
	for (int i = 0; !rc && i < N_PIPES; i++)
		if (pipe2(p[i], O_CLOEXEC) < 0 || move_above(&p[i][1]) < 0)
			rc = errno;
	if (!rc && move_above(&in) < 0)
		rc = errno;
	if (!rc) {
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, in, 0);
		posix_spawn_file_actions_adddup2(&fa, p[OUT][1], 1);
		posix_spawn_file_actions_adddup2(&fa, p[ERR][1], 2);
		posix_spawn_file_actions_adddup2(&fa, p[REPORT][1], 3);
		posix_spawn_file_actions_adddup2(&fa, p[CHANNEL][1], 4);
		posix_spawn_file_actions_addclosefrom_np(&fa, 5);
		rc = sandbox_spawn(c->sandbox, &fa, argv, environ, own);
		posix_spawn_file_actions_destroy(&fa);
	}
	if (in >= 0)
		close(in);
	for (int i = 0; i < N_PIPES; i++) {
		if (p[i][1] >= 0)
			close(p[i][1]);
		if (rc && p[i][0] >= 0)
			close(p[i][0]);
	}
	if (rc) {
		*own = -1;
		errno = rc;
		return -1;
	}
	fds[0] = p[OUT][0];
	fds[1] = p[ERR][0];
	fds[2] = p[CHANNEL][0];
	return p[REPORT][0];
}

/* Waits until sock is ready for events (POLLOUT while the request is
 * sent, POLLIN for the reply) or give_up passes; false with errno when it
 * did not come in time (EAGAIN), and with *untaken when a warm claim's
 * template ended with the claim still queued. A sandbox replies only once
 * it has read the whole request, and starts the run only once its reply is
 * sent; so while some of what we sent is unread (SIOCOUTQ), and all the
 * more while we are still sending, no sandbox has the run, and hanging up
 * can end none. Its template gone, such a claim would wait for the next
 * template's sandboxes, which may never come. */
static bool wait_claim(int sock, short events, bool warm, long long give_up, bool *untaken)
{
	for (;;) {
		struct pollfd p = { sock, events, 0 };
		long long left = give_up - now_ms();
		int rc = poll(&p, 1, (int)(warm && left > CLAIM_CHECK_MS ? CLAIM_CHECK_MS : left > 0 ? left : 0));
		if (rc > 0)
			return true;
		if (rc < 0 && errno != EINTR)
			return false;
		int unread = 0;
		if (warm && !pool_warm() && ioctl(sock, SIOCOUTQ, &unread) == 0 && unread > 0) {
			*untaken = true;
			return false;
		}
		if (now_ms() >= give_up) {
			errno = EAGAIN;
			return false;
		}
	}
}

/* A claim's request larger than the socket's buffer waits for a sandbox to
 * read it as the reply is waited for. */
struct claim_wait {
	int sock;
	bool warm;
	long long give_up;
	bool *untaken;
};

static bool claim_writable(void *ctx)
{
	struct claim_wait *w = ctx;
	return wait_claim(w->sock, POLLOUT, w->warm, w->give_up, w->untaken);
}

/* Connects to a sandbox and hands over the run; returns the connection with
 * fds[] set to the script's stdout, stderr and fd 4 (or -1 each when the
 * sandbox failed before the run, and says why in the report), -1 with
 * res->fault set, or for a warm claim CLAIM_UNTAKEN (wait_claim). */
static int claim(const char *dir, const struct run_request *r, bool warm, int fds[3],
		 struct run_result *res)
{
	fds[0] = fds[1] = fds[2] = -1;
	long long give_up = now_ms() + CLAIM_TIMEOUT_S * 1000LL;
	struct buf args = { 0 };
	build_args(r, &args);
	struct timeval tv = { CLAIM_TIMEOUT_S, 0 };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof addr.sun_path, "%s", service.pool_path);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool untaken = false;
	const char *step = "open the work directory";
	if (dfd < 0 || sock < 0)
		goto fail;
	/* SO_SNDTIMEO bounds connect()'s wait while the pool's backlog is
	 * full; from then on the socket is non-blocking, and wait_claim()
	 * keeps to give_up. */
	step = "connect to the pre-started sandboxes";
	if (setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
	    connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0 ||
	    fcntl(sock, F_SETFL, O_NONBLOCK) < 0)
		goto fail;

	struct prestart_request req = {
		.magic = PRESTART_MAGIC,
		.timeout_ms = (uint32_t)(r->timeout_s * 1000 + 0.5),
		.memory_mb = run_memory_mb(r->memory_mb),
		.stdin_len = (uint32_t)r->stdin_len,
		.args_len = (uint32_t)args.len,
	};
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} control;
	memset(&control, 0, sizeof control);
	struct iovec iov = { &req, sizeof req };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = CMSG_SPACE(sizeof(int)),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &dfd, sizeof dfd);
	/* A sandbox whose set-up failed may hang up without reading all this;
	 * its reply then still says why. */
	int send_errno = 0;
	struct claim_wait sending = { sock, warm, give_up, &untaken };
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof req ||
	    write_all_wait(sock, r->stdin_data, r->stdin_len, claim_writable, &sending) < 0 ||
	    write_all_wait(sock, args.data, args.len, claim_writable, &sending) < 0)
		send_errno = errno ? errno : EPROTO;
	step = "hand the run to a sandbox";
	if (untaken || send_errno == EAGAIN)
		goto fail;	/* nothing to hear: none read it all in time */

	/* The reply: one byte, with the output's read ends when the run starts. */
	step = "hear from the sandbox";
	if (!send_errno && !wait_claim(sock, POLLIN, warm, give_up, &untaken))
		goto fail;
	char byte;
	iov = (struct iovec){ &byte, 1 };
	msg = (struct msghdr){
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof control.buf,
	};
	ssize_t n;
	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	step = send_errno ? "hand the run to a sandbox" : "hear from the sandbox";
	if (n <= 0) {
		errno = send_errno ? send_errno : n == 0 ? ECONNRESET : errno;
		goto fail;
	}
	/* Out of fds here, the kernel drops the output's read ends: the run
	 * would go unread. Hanging up ends it. */
	if (msg.msg_flags & MSG_CTRUNC) {
		errno = EMFILE;
		step = "take the run's output";
		goto fail;
	}
	cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(3 * sizeof(int)))
		memcpy(fds, CMSG_DATA(cm), 3 * sizeof(int));
	close(dfd);
	buf_free(&args);
	return sock;

fail:
	if (!untaken) {
		res->fault_errno = errno;
		snprintf(res->fault, sizeof res->fault, "cannot %s: %s", step,
			 errno == EAGAIN ? "none took the run in time (see the service log)" : strerror(errno));
	}
	if (dfd >= 0)
		close(dfd);
	if (sock >= 0)
		close(sock);
	buf_free(&args);
	return untaken ? CLAIM_UNTAKEN : -1;
}

void run_sandbox(const struct config *c, const char *dir, const struct run_request *r,
		 struct run_result *res, int client_fd)
{
	memset(res, 0, sizeof *res);
	res->exit_code = -1;
	res->duration_ms = -1;
	res->memory_peak_kb = -1;
	res->wall_ms = -1;

	long long started = now_ms();
	enum { OUT, ERR, CHANNEL, REPORT, N_STREAMS };
	/* A warm sandbox (forked from the template, the libraries imported)
	 * always pays off. Without a template, a pre-started sandbox pays off
	 * while a CPU is free to build the next one (there is one per CPU):
	 * take one while fewer runs than that are under way, this one
	 * included. Beyond, a sandbox of our own started now is no slower, and
	 * cheaper than one that waited: an interpreter that sat waiting while
	 * others ran comes back to cold caches. While a template is wanted but
	 * not warm (starting, or restarting after it died), runs start their
	 * own, cold, rather than wait for it; so do they while the pool cannot
	 * run a sandbox at all (a wrong path), and fail saying why. */
	int fds[3] = { -1, -1, -1 };
	pid_t own = -1;
	int sock;
	bool warm = !r->install && pool_warm() &&
		    !(r->package_modules[0] && pool_imports_any(r->package_modules));
	bool pooled = warm || (!r->install && !config_template(c) && pool_can_start() &&
			       slots_running() < c->prestarted);
	sock = pooled ? claim(dir, r, warm, fds, res) : -1;
	if (sock == CLAIM_UNTAKEN) {
		log_msg("template gone before a sandbox took a run: it starts cold");
		warm = pooled = false;
	}
	if (!r->install)
		metrics_run_start(warm);
	if (!pooled && (sock = start_own(c, dir, r, fds, &own)) < 0) {
		res->fault_errno = errno;
		snprintf(res->fault, sizeof res->fault, "cannot start the sandbox %.200s: %s", c->sandbox,
			 strerror(errno));
	}

	struct buf report = { 0 };
	size_t output_cap = (size_t)c->max_output_kib * 1024;
	struct stream streams[N_STREAMS] = {
		[OUT] = { fds[0], &res->out, output_cap, &res->out_truncated },
		[ERR] = { fds[1], &res->err, output_cap, &res->err_truncated },
		[CHANNEL] = { fds[2], &res->channel, output_cap, &res->channel_truncated },
		[REPORT] = { sock, &report, REPORT_MAX, NULL },
	};
	bool open_[N_STREAMS];
	for (int i = 0; i < N_STREAMS; i++) {
		open_[i] = streams[i].fd >= 0;
		if (open_[i] && fcntl(streams[i].fd, F_SETFL, O_NONBLOCK) < 0)
			die_errno("fcntl O_NONBLOCK");
	}
	long long deadline = now_ms() + (long long)(r->timeout_s * 1000) + BACKSTOP_GRACE_MS;

	/* The report's end-of-file means the sandbox is done; the pipes'
	 * end-of-file came before it (init closes them first), or will not
	 * come at all if the sandbox failed: then what they hold is read. */
	while (open_[REPORT]) {
		struct pollfd pfd[N_STREAMS + 1];
		int map[N_STREAMS], n = 0;
		for (int i = 0; i < N_STREAMS; i++)
			if (open_[i]) {
				pfd[n] = (struct pollfd){ .fd = streams[i].fd, .events = POLLIN };
				map[n++] = i;
			}
		/* No one will read the answer of a client that hung up (nginx
		 * closes our connection then): the run stops, and frees its slot
		 * for one that is still wanted. A pre-started sandbox ends the
		 * run when we hang up below; our own is told so. */
		pfd[n] = (struct pollfd){ .fd = client_fd, .events = POLLRDHUP };
		long long left = deadline - now_ms();
		if (left <= 0) {
			snprintf(res->fault, sizeof res->fault, "the sandbox did not finish %d s after the timeout",
				 BACKSTOP_GRACE_MS / 1000);
			/* A pre-started sandbox kills the run when we hang up
			 * below; our own is told so. */
			if (own > 0)
				kill(own, SIGTERM);
			break;
		}
		int rc = poll(pfd, (nfds_t)n + (client_fd >= 0), (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			die_errno("poll");
		if (client_fd >= 0 && pfd[n].revents) {
			res->client_gone = true;
			snprintf(res->fault, sizeof res->fault, "the client hung up");
			if (own > 0)
				kill(own, SIGTERM);
			break;
		}
		for (int k = 0; k < n; k++)
			if (pfd[k].revents && !drain(&streams[map[k]]))
				open_[map[k]] = false;
	}
	for (int i = 0; i < N_STREAMS; i++) {
		if (streams[i].fd < 0)
			continue;
		if (open_[i] && i != REPORT)
			drain(&streams[i]);
		close(streams[i].fd);
	}
	res->wall_ms = (long)(now_ms() - started);
	if (!res->fault[0]) {
		if (!report.len)
			snprintf(res->fault, sizeof res->fault, "the sandbox ended without a report");
		else
			parse_report(report.data, res);
	}
	buf_free(&report);
}
