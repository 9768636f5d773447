/* worker.c — one process, one request at a time, off the shared listening socket.
 *
 * The kernel wakes one of the workers waiting on the listening socket for
 * each connection (EPOLLEXCLUSIVE), so the pool needs no dispatcher. A
 * worker first gives up its effective capabilities: it parses hostile JSON,
 * and only coderunner-sandbox (which regains what it needs at execve as the
 * root service user, or from the ambient set) should ever use a privilege.
 *
 * Stopping: SIGTERM (the service stops) or SIGUSR1 (a reload retires the
 * worker) sets a flag; a worker idle in epoll_wait() exits at once, a busy
 * one finishes its request first (the master bounds how long). Busy starts
 * before accept(): libfcgi reads a connection's parameters inside
 * FCGX_Accept_r, and a worker that exited there would drop the request.
 * Only when the service stops does a request still waiting for a run slot
 * give up (503): a retired worker's request runs, so a reload loses none.
 *
 * Each read and write of a connection waits at most fcgi_timeout_s: libfcgi
 * reads a request's parameters, and we its body, with blocking calls, and a
 * process that connected to the socket and went quiet would hold the worker
 * for good. nginx never does: it sends a request whole as it connects and
 * reads the answer as it comes. (One that trickles a byte within each
 * timeout still holds a worker that long; only the socket's group, nginx's,
 * can connect.)
 */
#include <arpa/inet.h>
#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <fcgiapp.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

static volatile sig_atomic_t stopping, service_stopping, idle;
static sigset_t stop_signals;
static volatile sig_atomic_t answer_fd = -1;

/* An answer, or a part of one, that the web server has not taken whole
 * within fcgi_timeout_s: no one reads it (nginx passes a stream on as the
 * client takes it, and a client may take a byte now and then, each of
 * which starts the socket's send timeout anew). The connection is shut,
 * so that the write fails at once, and the run of a stream's progress
 * part is stopped as for a client gone. */
static void on_answer_overdue(int sig)
{
	(void)sig;
	int saved = errno;	/* of whatever the signal interrupted */
	if (answer_fd >= 0)
		shutdown(answer_fd, SHUT_RDWR);
	errno = saved;
}

void worker_answer_deadline(int fd)
{
	struct itimerval t = { .it_value = { .tv_sec = fd >= 0 ? (time_t)service.cfg.fcgi_timeout_s : 0 } };
	answer_fd = -1;
	if (setitimer(ITIMER_REAL, &t, NULL) < 0)
		die_errno("setitimer");
	answer_fd = fd;
}

/* The stop signals are held off while the connection is read or written:
 * with a timeout on the socket, the kernel restarts no read or write a
 * handler interrupted, SA_RESTART or not, and libfcgi takes an EINTR for
 * an error: a reload would cut a body or an answer short. The flag the
 * handler sets is seen once they are let through. */
void worker_hold_stop_signals(bool hold)
{
	if (sigprocmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &stop_signals, NULL) < 0)
		die_errno("sigprocmask");
}

/* On a TCP listener (spawn-fcgi -p) a connection is taken as libfcgi's
 * own accept took it: with Nagle off, since a FastCGI answer is written
 * in records that wait for no reply, and only from an address listed in
 * FCGI_WEB_SERVER_ADDRS when that is set (comma-separated, as libfcgi
 * reads it; IPv6 ones too, which libfcgi let through unchecked). Any
 * other process that can reach the port could otherwise run scripts
 * past nginx's access rules and limits. */
static bool tcp_peer_allowed(int fd, const struct sockaddr_storage *sa)
{
	/* The peer as 16 bytes, an IPv4 one (a dual-stack listener's too)
	 * as an IPv4-mapped address. */
	struct in6_addr peer;
	if (sa->ss_family == AF_INET) {
		memset(&peer, 0, sizeof peer);
		peer.s6_addr[10] = peer.s6_addr[11] = 0xff;
		memcpy(&peer.s6_addr[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->ss_family == AF_INET6) {
		peer = ((const struct sockaddr_in6 *)sa)->sin6_addr;
	} else {
		return true;
	}
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		return false;
	const char *list = getenv("FCGI_WEB_SERVER_ADDRS");
	if (!list || !*list)
		return true;
	for (const char *p = list; *p;) {
		p += strspn(p, ", \t");
		size_t len = strcspn(p, ", \t");
		/* Each as libfcgi read it (inet_addr(): 127.1 and 0177.0.0.1
		 * too), or an IPv6 address in any of its spellings. */
		char text[INET6_ADDRSTRLEN];
		struct in_addr v4;
		struct in6_addr v6;
		if (len && len < sizeof text) {
			snprintf(text, sizeof text, "%.*s", (int)len, p);
			bool parsed = inet_aton(text, &v4) != 0;
			if (parsed) {
				memset(&v6, 0, sizeof v6);
				v6.s6_addr[10] = v6.s6_addr[11] = 0xff;
				memcpy(&v6.s6_addr[12], &v4, 4);
			} else {
				parsed = inet_pton(AF_INET6, text, &v6) == 1;
			}
			if (parsed && memcmp(&v6, &peer, sizeof peer) == 0)
				return true;
		}
		p += len;
	}
	return false;
}

int fcgi_accept(FCGX_Request *req, int listen_fd, unsigned timeout_s)
{
	if (req->ipcFd < 0) {
		struct sockaddr_storage sa;
		socklen_t sa_len = sizeof sa;
		int fd = accept4(listen_fd, (struct sockaddr *)&sa, &sa_len, SOCK_CLOEXEC);
		/* A connection that failed before we took it (on a TCP
		 * listener, spawn-fcgi -p) is one that brought no request. */
		if (fd < 0 && (errno == ECONNRESET || errno == ETIMEDOUT || errno == EHOSTUNREACH ||
			       errno == ENETUNREACH || errno == ENETDOWN || errno == EHOSTDOWN))
			return -ECONNABORTED;
		if (fd < 0)
			return -errno;
		if (!tcp_peer_allowed(fd, &sa)) {
			close(fd);
			return -ECONNABORTED;
		}
		struct timeval tv = { .tv_sec = timeout_s };
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		/* Taken as a kept connection: FCGX_Accept_r() first finishes
		 * the request before, which closes its connection unless
		 * kept, and then reads this one's from it. */
		req->ipcFd = fd;
		req->keepConnection = 1;
	}
	/* When the first record cannot be read, libfcgi closes the
	 * connection and accepts another on the request's own socket, which
	 * is none: it comes back with an error, never with a connection
	 * unbounded. Parameters cut short by a timeout it takes for all
	 * there are: such a request is dropped, not answered as one that
	 * named no endpoint. */
	if (FCGX_Accept_r(req) < 0)
		return -ECONNABORTED;
	if (FCGX_GetError(req->in) != 0) {
		FCGX_Free(req, 1);
		return -ECONNABORTED;
	}
	return 0;
}

static void on_term(int sig)
{
	stopping = 1;
	if (sig != SIGUSR1)
		service_stopping = 1;
	if (idle)
		_exit(0);
}

bool worker_service_stopping(void)
{
	return service_stopping;
}

static void drop_effective_caps(void)
{
	capng_get_caps_process();
	/* Drop from the effective set only: permitted and ambient stay, so
	 * the exec'd sandbox still gets what it needs. */
	for (unsigned cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (capng_have_capability(CAPNG_EFFECTIVE, cap) &&
		    capng_update(CAPNG_DROP, CAPNG_EFFECTIVE, cap) < 0)
			die("cannot drop capability %u", cap);
	if (capng_apply(CAPNG_SELECT_CAPS) < 0)
		die("cannot apply the empty effective capability set");
}

/* The path of the request whose parameters are ENVP: nginx's DOCUMENT_URI
 * (the URI after its rewrites, without the query), else SCRIPT_NAME. */
const char *request_path(char **envp)
{
	const char *path = FCGX_GetParam("DOCUMENT_URI", envp);
	return path ? path : FCGX_GetParam("SCRIPT_NAME", envp);
}

/* The snippet passes nginx's $request_id, or a client's X-Request-Id of
 * [0-9A-Za-z_-]{1,64} (one id across a front end's log and ours): the same
 * rule here, so nginx's pages and ours name a request alike. Anything else
 * (or nothing, when run without nginx) gets an id of our own, so every log
 * line can be followed and no other client text reaches a header. */
const char *request_id(const char *given, char *own, size_t len)
{
	static const char id_chars[] = "0123456789abcdefghijklmnopqrstuvwxyz"
				       "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_";
	if (given && *given && strlen(given) <= 64 && strspn(given, id_chars) == strlen(given))
		return given;
	unsigned char r[16];
	if (getrandom(r, sizeof r, GRND_NONBLOCK) != sizeof r)
		memset(r, 0, sizeof r);
	for (size_t i = 0; i < sizeof r && 2 * i + 2 < len; i++)
		snprintf(own + 2 * i, 3, "%02x", r[i]);
	return own;
}

int request_body(struct request_ctx *ctx, size_t max, struct http_error *e)
{
	if (ctx->body)
		return 0;
	if (ctx->content_length < 0)
		ctx->content_length = 0;
	if ((unsigned long long)ctx->content_length > max)
		return http_fail(e, 413, "the request body is %lld bytes; the limit is %zu MiB",
				 ctx->content_length, max / (1024 * 1024));
	size_t n = (size_t)ctx->content_length;
	ctx->body = xmalloc(n + 1);
	size_t got = 0;
	worker_hold_stop_signals(true);
	while (got < n) {
		int chunk = n - got > (1 << 30) ? 1 << 30 : (int)(n - got);
		int r = FCGX_GetStr(ctx->body + got, chunk, ctx->in);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	worker_hold_stop_signals(false);
	ctx->body[got] = '\0';
	ctx->body_len = got;
	if (got != n)
		return http_fail(e, 400, "the request body ended after %zu of %zu bytes", got, n);
	return 0;
}

static void handle(FCGX_Request *req)
{
	long long start = now_ms();
	char own_id[40];
	struct request_ctx ctx = { 0 };
	ctx.method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	ctx.path = request_path(req->envp);
	ctx.query = FCGX_GetParam("QUERY_STRING", req->envp);
	ctx.content_type = FCGX_GetParam("CONTENT_TYPE", req->envp);
	ctx.host = FCGX_GetParam("HTTP_HOST", req->envp);
	ctx.origin = FCGX_GetParam("HTTP_ORIGIN", req->envp);
	ctx.mcp_version = FCGX_GetParam("HTTP_MCP_PROTOCOL_VERSION", req->envp);
	ctx.authorization = FCGX_GetParam("HTTP_AUTHORIZATION", req->envp);
	ctx.api_key = FCGX_GetParam("HTTP_X_API_KEY", req->envp);
	ctx.request_id = request_id(FCGX_GetParam("REQUEST_ID", req->envp), own_id, sizeof own_id);
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", req->envp);
	char *end;
	ctx.content_length = cl && *cl ? strtoll(cl, &end, 10) : -1;
	if (cl && *cl && (*end || ctx.content_length < 0))
		ctx.content_length = -1;
	ctx.accept = FCGX_GetParam("HTTP_ACCEPT", req->envp);
	ctx.in = req->in;
	ctx.out = req->out;
	ctx.client_fd = req->ipcFd;
	ctx.log = (struct request_log){
		.request_id = ctx.request_id, .method = ctx.method, .path = ctx.path,
		.exit_code = INT32_MIN, .run_ms = -1, .memory_peak_kb = -1,
	};

	route(&ctx);

	ctx.log.status = ctx.rsp.status;
	ctx.log.request_bytes = ctx.body_len;
	worker_hold_stop_signals(true);	/* until FCGX_Finish_r() has sent the end */
	worker_answer_deadline(req->ipcFd);	/* and taken back once it has */
	ctx.log.response_bytes = response_send(req->out, ctx.request_id, &ctx.rsp);
	/* An answer that could not be written whole was read by no one. */
	if (FCGX_FFlush(req->out) < 0 || FCGX_GetError(req->out)) {
		ctx.rsp.status = ctx.log.status = 499;
		log_note(&ctx.log, "client gone");
	}
	slots_release_pid(getpid());	/* a run slot a streamed answer kept (script.c) */
	ctx.log.duration_ms = (long)(now_ms() - start);
	log_request(&ctx.log);
	metrics_request(ctx.endpoint, ctx.rsp.status);
	free(ctx.body);
	buf_free(&ctx.rsp.body);
}

/* The listening socket, shared by every worker, turns non-blocking: a
 * worker accepts only once woken for a connection, and finds EAGAIN, not a
 * wait it cannot leave, when another worker took it first. EPOLLEXCLUSIVE
 * wakes one worker per connection rather than all of them. */
static int wait_on_listener(int listen_fd)
{
	int flags = fcntl(listen_fd, F_GETFL);
	if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0)
		die_errno("make the listening socket non-blocking");
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die_errno("epoll_create1");
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
		die_errno("epoll_ctl the listening socket");
	return epfd;
}

void worker_main(int listen_fd, pid_t master)
{
	/* A worker outliving its master would hold the socket forever. The
	 * master's pid comes from the master: read here with getppid(), it
	 * would be init's already if the master died before this line, and
	 * the check below would pass with no signal ever to come. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
		die_errno("prctl PR_SET_PDEATHSIG");
	if (getppid() != master)
		_exit(0);

	/* SA_RESTART for the calls that are restarted; a busy worker's reads
	 * and writes of its connection, which has a timeout and so are not,
	 * have the stop signals held off instead (worker_hold_stop_signals). An idle
	 * one never comes back to its wait: the handler ends it there. */
	struct sigaction sa = { .sa_handler = on_term, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
	    sigaction(SIGUSR1, &sa, NULL) < 0)
		die_errno("sigaction");
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGUSR1);
	struct sigaction overdue = { .sa_handler = on_answer_overdue };
	sigemptyset(&overdue.sa_mask);
	if (sigaction(SIGALRM, &overdue, NULL) < 0)
		die_errno("sigaction");
	struct sigaction ign = { .sa_handler = SIG_IGN };
	if (sigaction(SIGPIPE, &ign, NULL) < 0 || sigaction(SIGHUP, &ign, NULL) < 0)
		die_errno("sigaction");
	/* A sandbox a run started of its own (start/own.c) is reaped by the kernel:
	 * the report says how it ended, and its teardown need not be waited
	 * for. */
	if (sigaction(SIGCHLD, &ign, NULL) < 0)
		die_errno("sigaction");
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		die_errno("sigprocmask");

	pool_close_in_worker();
	drop_effective_caps();
	/* A request's buffers (a body, artifacts, their base64) run to tens of
	 * MB. With glibc's sliding mmap threshold, one such request would move
	 * the threshold up and every later one would grow the heap instead,
	 * which is never given back: a worker's resident memory would climb to
	 * its largest request and stay. A fixed threshold keeps each big
	 * buffer a mapping of its own, returned when it is freed.
	 * (An allocator that is not glibc's, such as a sanitizer's, refuses
	 * mallopt(); that costs memory, not correctness.) */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
	if (FCGX_Init() != 0)
		die("FCGX_Init failed");
	FCGX_Request req;
	/* No listening socket of its own: fcgi_accept() takes the connections. */
	if (FCGX_InitRequest(&req, -1, 0) != 0)
		die("FCGX_InitRequest failed");
	int epfd = wait_on_listener(listen_fd);

	while (!stopping) {
		/* Idle only while nothing is accepted: epoll_wait() is never
		 * restarted after a signal, and its handler exits here. */
		idle = 1;
		if (stopping)
			break;
		struct epoll_event ev;
		struct pollfd kept = { req.ipcFd, POLLIN, 0 };
		/* A web server that keeps its connection (FCGI_KEEP_CONN)
		 * sends the next request on it, not to the listener. */
		int ready = req.ipcFd >= 0 ? poll(&kept, 1, -1) : epoll_wait(epfd, &ev, 1, -1);
		idle = 0;
		if (ready < 0 && errno != EINTR)
			die_errno("wait for a request");
		if (ready <= 0 || stopping)
			continue;
		worker_hold_stop_signals(true);
		int rc = fcgi_accept(&req, listen_fd, service.cfg.fcgi_timeout_s);
		worker_hold_stop_signals(false);
		if (rc < 0) {
			if (stopping)
				break;
			/* EAGAIN: another worker woken for the same connection
			 * took it. */
			if (rc == -EAGAIN || rc == -EINTR || rc == -ECONNABORTED || rc == -EPROTO)
				continue;
			die("accepting a FastCGI request failed (%d)", rc);
		}
		handle(&req);
		FCGX_Finish_r(&req);
		worker_answer_deadline(-1);
		worker_hold_stop_signals(false);
		stage_retry_removals();
	}
	exit(0);
}
