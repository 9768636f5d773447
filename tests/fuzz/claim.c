/* claim.c — fuzzes what a pre-started sandbox reads from the client that
 * claims it (sandbox/prestart.c, prestart_receive(): the request struct,
 * the work dir's fd, stdin and the runner's arguments; sandbox/prestart.h).
 * A malformed claim makes the sandbox give up through die(); here die() is
 * this harness's (sandbox/die.c is left out of this target) and returns to
 * the harness instead of exiting. What is accepted is within the sandbox's
 * own bounds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include "sandbox/prestart.h"
#include "sandbox/sandbox.h"

static jmp_buf refused;

void die(const char *fmt, ...)
{
	(void)fmt;
	longjmp(refused, 1);
}

void die_errno(const char *fmt, ...)
{
	(void)fmt;
	longjmp(refused, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct init_go go;
	int sv[2], memfd = memfd_create("stdin", MFD_CLOEXEC), dir = open("/", O_RDONLY | O_DIRECTORY);
	if (memfd < 0 || dir < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* The first byte says whether a directory's fd comes with the
	 * request; the rest is what the client writes. */
	int with_fd = size && (data[0] & 1);
	const uint8_t *p = size ? data + 1 : data;
	size_t n = size ? size - 1 : 0;
	size_t first = n < sizeof(struct prestart_request) ? n : sizeof(struct prestart_request);
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
	struct iovec iov = { (void *)p, first };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (with_fd) {
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof control.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &dir, sizeof dir);
	}
	if ((first || with_fd) && sendmsg(sv[1], &msg, 0) < 0)
		abort();
	/* The rest, as much as the socket takes without a reader. */
	if (n > first && write(sv[1], p + first, n - first < 65536 ? n - first : 65536) < 0 && errno != EAGAIN)
		abort();
	shutdown(sv[1], SHUT_WR);

	struct sandbox_options o = { .timeout_ms = 30000, .memory_mb = 1536 };
	volatile int workdir = -1;
	if (!setjmp(refused)) {
		workdir = prestart_receive(sv[0], memfd, &o, &go);
		if (o.timeout_ms == 0 || o.timeout_ms > 30000 || o.memory_mb < 16 || o.memory_mb > 1536 ||
		    go.args_len > GO_ARGS_MAX)
			abort();
	}
	(void)workdir;
	/* Every fd of this input: ours, and one a refused claim left open. */
	close_range((unsigned)memfd, ~0U, 0);
	return 0;
}
