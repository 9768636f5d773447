/* claim.c — a run in a sandbox that waits for it on the pool's socket
 * (pool.c): forked from the template, warm, or pre-started cold; the
 * protocol is the same (sandbox/prestart.h).
 *
 * A run connects, sends its request with the work dir's fd, its stdin and
 * its runner's arguments, and gets back the read ends of the script's
 * stdout and stderr, and of fd 4, on which a runner (POST /run, /execute)
 * answers (main()'s result, the exception that ended the script): nothing
 * the script prints can pass for it. How the run ended (the report) comes
 * last on the connection itself, so nothing the script prints can forge
 * that either, and end-of-file there means the sandbox is done. Hanging up
 * ends the run.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <linux/sockios.h>
#include <unistd.h>

#include "fcgi/fcgi.h"
#include "sandbox/prestart.h"

/* How long a run may wait for a pre-started sandbox to take it: one is
 * normally waiting, or being built after the last run. */
#define CLAIM_TIMEOUT_S 30
/* How often a claim not yet taken looks whether what would take it lives:
 * the template, or a pool that can start sandboxes. */
#define CLAIM_CHECK_MS 100

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

/* A claim: how long it may wait in all, and how long it may stay unread
 * before the run starts a sandbox of its own. The template, or the
 * master, replaces a taken sandbox in well under a second, even with every
 * run slot starting at once; one that takes longer is stuck (stopped, or
 * waiting on a zygote that hangs), as is a waiting sandbox that takes no
 * connection, and would fail every run at give_up, while a sandbox of the
 * run's own costs a second or two at most. */
#define UNTAKEN_MS 3000

struct claim_wait {
	int sock;
	bool warm;
	long long give_up, cold_after;
	int *untaken;		/* START_UNTAKEN, or START_UNREAD */
	int sent;		/* SIOCOUTQ once all of it is sent: nothing read yet */
	bool read;		/* a sandbox has read some of it */
};

/* Waits until the socket is ready for events (POLLOUT while the request
 * is sent, POLLIN for the reply) or give_up passes; false with errno when
 * it did not come in time (EAGAIN), and with *untaken when, the claim
 * still queued, a warm claim's template ended, the pool can start no more
 * sandboxes, or none took it by cold_after; START_UNREAD there when none
 * read any of it (a write that had to wait went on only once a sandbox
 * read, and all that was sent is still unread: SIOCOUTQ counts the
 * buffers' sizes, not bytes, so it is compared with itself). A sandbox replies
 * only once it has read the whole request, and starts the run only once
 * its reply is sent; so while some of what we sent is unread (SIOCOUTQ),
 * and all the more while we are still sending, no sandbox has the run, and
 * hanging up can end none. Such a claim would wait for sandboxes that may
 * never come. Between that look and the hang-up, though, a sandbox may
 * read the rest and reply: the socket is first shut for reading, after
 * which a reply fails (EPIPE on a unix socket) and its sandbox starts
 * nothing, and a reply already come means the run was taken after all. Its
 * report can no longer come, so it fails (ECONNABORTED), rather than run
 * a second time elsewhere. */
static bool wait_claim(struct claim_wait *w, short events)
{
	for (;;) {
		struct pollfd p = { w->sock, events, 0 };
		long long left = w->give_up - now_ms();
		int rc = poll(&p, 1, (int)(left > CLAIM_CHECK_MS ? CLAIM_CHECK_MS : left > 0 ? left : 0));
		if (rc > 0) {
			w->read |= events == POLLOUT;
			return true;
		}
		if (rc < 0 && errno != EINTR)
			return false;
		bool hopeless = !(w->warm ? pool_warm() : pool_can_start()) || now_ms() >= w->cold_after;
		int unread = 0;
		if (hopeless && ioctl(w->sock, SIOCOUTQ, &unread) == 0 && unread > 0) {
			char byte;
			if (shutdown(w->sock, SHUT_RD) < 0)
				return false;
			if (recv(w->sock, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
				errno = ECONNABORTED;
				return false;
			}
			bool read = w->read || (events == POLLIN && unread < w->sent);
			*w->untaken = read ? START_UNTAKEN : START_UNREAD;
			return false;
		}
		if (now_ms() >= w->give_up) {
			errno = EAGAIN;
			return false;
		}
	}
}

/* A claim's request larger than the socket's buffer waits for a sandbox to
 * read it as the reply is waited for. */
static bool claim_writable(void *ctx)
{
	return wait_claim(ctx, POLLOUT);
}

int start_claimed(const char *dir, const struct run_request *r, bool warm, int fds[3],
		  struct run_result *res)
{
	fds[0] = fds[1] = fds[2] = -1;
	int untaken = 0;
	struct claim_wait waiting = {
		.warm = warm, .give_up = now_ms() + CLAIM_TIMEOUT_S * 1000LL,
		.cold_after = now_ms() + UNTAKEN_MS, .untaken = &untaken,
	};
	struct buf args = { 0 };
	build_args(r, &args);
	struct timeval tv = { CLAIM_TIMEOUT_S, 0 };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof addr.sun_path, "%s", service.pool_path);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	waiting.sock = sock;
	const char *step = dfd < 0 ? "open the work directory" : "make a socket";
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
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof req ||
	    write_all_wait(sock, r->stdin_data, r->stdin_len, claim_writable, &waiting) < 0 ||
	    write_all_wait(sock, args.data, args.len, claim_writable, &waiting) < 0)
		send_errno = errno ? errno : EPROTO;
	step = "hand the run to a sandbox";
	if (untaken || send_errno == EAGAIN)
		goto fail;	/* nothing to hear: none read it all in time */
	if (!send_errno && ioctl(sock, SIOCOUTQ, &waiting.sent) < 0)
		waiting.sent = INT_MAX;	/* then taken to have been read */

	/* The reply: one byte, with the output's read ends when the run starts. */
	step = "hear from the sandbox";
	if (!send_errno && !wait_claim(&waiting, POLLIN))
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
	/* Every fd that came is ours to close unless it is one of the three
	 * (the buffer's padding has room for a fourth). */
	cm = CMSG_FIRSTHDR(&msg);
	int got[(sizeof control.buf - CMSG_LEN(0)) / sizeof(int)];
	size_t n_got = cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS ?
		(cm->cmsg_len - CMSG_LEN(0)) / sizeof(int) : 0;
	if (n_got > sizeof got / sizeof *got)
		n_got = sizeof got / sizeof *got;
	if (n_got)
		memcpy(got, CMSG_DATA(cm), n_got * sizeof(int));
	/* Out of fds here, the kernel passes the read ends it could install
	 * and drops the rest: the run would go unread. Hanging up ends it. */
	bool cut = msg.msg_flags & MSG_CTRUNC;
	if (!cut && n_got == 3)
		memcpy(fds, got, 3 * sizeof(int));
	else
		for (size_t i = 0; i < n_got; i++)
			close(got[i]);
	if (cut) {
		errno = EMFILE;
		step = "take the run's output";
		goto fail;
	}
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
	return untaken ? untaken : -1;
}
