/* prestart.c — the supervisor's side of a pre-started sandbox (--accept-fd).
 *
 * Building a sandbox and starting an interpreter take most of a short run's
 * time, and neither depends on the run. So the sandbox is built and its
 * command started ahead, as the unprivileged user under seccomp, and waits;
 * the run's own parts (work dir, stdin, arguments, timeout, memory limit)
 * arrive from a client on a listening socket (prestart.h). Several
 * pre-started sandboxes may accept on one socket: the kernel wakes the one
 * that has waited longest for each connection, and a sandbox only waits
 * once its command said it is ready.
 *
 * The command's fds are made here, before init is cloned, so that the
 * client can be handed the read ends: fd 0 is a memfd the client's stdin is
 * written into (seekable, as a file would be), fds 1, 2 and 4 are pipes, and
 * fd 3 is a socket to init, on which the command writes one byte when it is
 * ready and then reads its arguments up to end-of-file.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "sandbox/prestart.h"
#include "sandbox/sandbox.h"

/* How long a client may take to send its request once connected. */
#define RECEIVE_TIMEOUT_S 10

/* One message with n (at most SANDBOX_MAX_FDS) fds attached, or none;
 * sendmsg()'s result. */
ssize_t send_with_fds(int sock, const void *data, size_t len, const int *fds, int n)
{
	union {
		char buf[CMSG_SPACE(SANDBOX_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} control;
	memset(&control, 0, sizeof control);
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (n > 0) {
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
	}
	ssize_t r;
	while ((r = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	return r;
}

/* One message and the one fd that came with it (-1 if none, or if it was
 * cut off); recvmsg()'s result. */
ssize_t recv_with_fd(int sock, void *data, size_t len, int flags, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { data, len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof control.buf,
	};
	ssize_t n;
	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags)) < 0 && errno == EINTR)
		;
	*fd = -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (n >= 0 && !(msg.msg_flags & MSG_CTRUNC) && c && c->cmsg_level == SOL_SOCKET &&
	    c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(c), sizeof *fd);
	return n;
}

/* Above the command's fd numbers, so that init's dup2() onto 0-4 never
 * overwrites one still to be placed. */
static int move_high(int fd)
{
	int high = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	if (high < 0)
		die_errno("fcntl F_DUPFD_CLOEXEC");
	close(fd);
	return high;
}

void prestart_open_fds(struct command_fds *cmd)
{
	int memfd = memfd_create("stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0)
		die_errno("memfd_create");
	cmd->mine[CMD_STDIN] = move_high(memfd);
	cmd->theirs[CMD_STDIN] = fcntl(cmd->mine[CMD_STDIN], F_DUPFD_CLOEXEC, 10);
	if (cmd->theirs[CMD_STDIN] < 0)
		die_errno("fcntl F_DUPFD_CLOEXEC");
	for (int i = CMD_STDOUT; i < N_CMD_PIPES; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			die_errno("pipe2");
		cmd->mine[i] = move_high(p[0]);
		cmd->theirs[i] = move_high(p[1]);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cmd->control) < 0)
		die_errno("socketpair");
	cmd->control[0] = move_high(cmd->control[0]);
	cmd->control[1] = move_high(cmd->control[1]);
}

/* After the clone: only init (and through it the command) needs these. */
void prestart_close_theirs(struct command_fds *cmd)
{
	for (int i = 0; i < N_CMD_PIPES; i++)
		close(cmd->theirs[i]);
	close(cmd->control[0]);
	close(cmd->control[1]);
}

/* Waits for a client on the (non-blocking) listening socket; -1 when a
 * signal says stop first. EPOLLEXCLUSIVE: of the sandboxes waiting on one
 * socket, a connection wakes one (the one that has waited longest), not
 * all of them. SIGHUP means "retire": a client already queued on the
 * socket is still served, since the caller may have connected just before
 * it stopped using the socket. */
int prestart_accept(int listen_fd, int sigfd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die_errno("epoll_create1");
	struct epoll_event on_listen = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = listen_fd };
	struct epoll_event on_signal = { .events = EPOLLIN, .data.fd = sigfd };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &on_listen) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, sigfd, &on_signal) < 0)
		die_errno("epoll_ctl");
	int client = -1;
	for (;;) {
		struct epoll_event ev[2];
		int n = epoll_wait(ep, ev, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die_errno("epoll_wait");
		bool retire = false, stop = false;
		for (int i = 0; i < n; i++) {
			struct signalfd_siginfo si;
			if (ev[i].data.fd == sigfd && read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
				retire |= si.ssi_signo == SIGHUP;
				stop |= si.ssi_signo != SIGHUP;
			}
		}
		if (stop)
			break;
		/* Another sandbox may still take the connection first. */
		client = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (client >= 0 || retire)
			break;
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			die_errno("accept");
	}
	close(ep);
	return client;
}

static void receive_all(int fd, void *buf, size_t len, const char *what)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die_errno("receive the %s", what);
		if (n == 0)
			die("the client hung up before sending the %s", what);
		p += n;
		len -= (size_t)n;
	}
}

/* Reads the request into o (timeout, memory) and go, writes its stdin into
 * the command's memfd, and returns the work dir's fd. */
int prestart_receive(int client, int stdin_memfd, struct sandbox_options *o, struct init_go *go)
{
	struct timeval tv = { RECEIVE_TIMEOUT_S, 0 };
	if (setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
		die_errno("setsockopt SO_RCVTIMEO");

	struct prestart_request req;
	int workdir_fd;
	ssize_t n = recv_with_fd(client, &req, sizeof req, MSG_WAITALL, &workdir_fd);
	if (n < 0)
		die_errno("receive the request");
	if (n != (ssize_t)sizeof req || workdir_fd < 0)
		die("the request is malformed: %zd bytes, %s work dir", n,
		    workdir_fd < 0 ? "no" : "a");
	struct stat st;
	if (fstat(workdir_fd, &st) < 0 || !S_ISDIR(st.st_mode))
		die("the request's work dir is not a directory");
	if (req.magic != PRESTART_MAGIC || req.timeout_ms == 0 || req.timeout_ms > o->timeout_ms ||
	    req.memory_mb < 16 || req.memory_mb > o->memory_mb ||
	    req.stdin_len > PRESTART_STDIN_MAX || req.args_len > GO_ARGS_MAX)
		die("the request is out of bounds (timeout %u ms of %llu, memory %u MB of %llu)",
		    req.timeout_ms, (unsigned long long)o->timeout_ms, req.memory_mb,
		    (unsigned long long)o->memory_mb);

	char chunk[65536];
	for (off_t off = 0; off < (off_t)req.stdin_len;) {
		size_t want = req.stdin_len - (size_t)off < sizeof chunk ? req.stdin_len - (size_t)off : sizeof chunk;
		receive_all(client, chunk, want, "stdin");
		/* pwrite: the command shares this file's offset, which stays 0. */
		for (size_t done = 0; done < want;) {
			ssize_t w = pwrite(stdin_memfd, chunk + done, want - done, off + (off_t)done);
			if (w < 0 && errno != EINTR)
				die_errno("write stdin");
			if (w > 0)
				done += (size_t)w;
		}
		off += (off_t)want;
	}
	/* Read-only from here, and its size fixed: the command's fd 0 is this
	 * file, opened for writing, and what a script wrote to it would be
	 * memory outside RLIMIT_AS, the rlimit fallback's only memory limit. */
	if (fcntl(stdin_memfd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		die_errno("seal stdin");
	receive_all(client, go->args, req.args_len, "arguments");
	go->args_len = req.args_len;
	go->timeout_ms = req.timeout_ms;
	o->timeout_ms = req.timeout_ms;
	o->memory_mb = req.memory_mb;
	return workdir_fd;
}

/* The client gets the read ends of the command's output; ours close, so
 * that the client alone sees end-of-file when the run's processes are gone. */
void prestart_reply(int client, struct command_fds *cmd)
{
	int fds[3] = { cmd->mine[CMD_STDOUT], cmd->mine[CMD_STDERR], cmd->mine[CMD_CHANNEL] };
	if (send_with_fds(client, "R", 1, fds, 3) != 1)
		die_errno("reply to the client");
	for (int i = CMD_STDOUT; i < N_CMD_PIPES; i++) {
		close(cmd->mine[i]);
		cmd->mine[i] = -1;
	}
}

/* Hands init the run. A failure means init is gone, which supervise()
 * finds out and reports. */
void prestart_send_go(int result_fd, const struct init_go *go, int workdir_fd)
{
	send_with_fds(result_fd, go, offsetof(struct init_go, args) + go->args_len, &workdir_fd, 1);
}

/* In init: waits for the run; returns the work dir's fd. The supervisor
 * closing its end instead means there will be no run. */
int prestart_receive_go(int result_fd, struct init_go *go)
{
	int fd;
	ssize_t n = recv_with_fd(result_fd, go, sizeof *go, 0, &fd);
	if (n == 0)
		_exit(0);
	if (n < 0)
		die_errno("receive the run");
	if (fd < 0 || n < (ssize_t)offsetof(struct init_go, args) ||
	    (size_t)n != offsetof(struct init_go, args) + go->args_len)
		die("the run's message is malformed");
	return fd;
}
