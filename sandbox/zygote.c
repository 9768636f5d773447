/* zygote.c — coderunner-sandbox --zygote FD: the supervisors of
 * coderunner-template's sandboxes, forked rather than each executed.
 *
 * The template keeps a sandbox waiting for every run it expects, and
 * starts the next as soon as one is claimed: a supervisor per run. An exec
 * of this program, with the dynamic linking of its libraries, costs about
 * 1.3 ms of CPU here, more than a run of print(1) spends in the rest of
 * the supervisor; a fork of a process this small costs a fraction of it.
 * So the template executes us once, with the options every one of its
 * sandboxes has, and asks for each supervisor with a byte on FD.
 *
 * Each is a clone with CLONE_PARENT: the template's child, as an executed
 * supervisor is, so the template reaps it, counts it and signals it as
 * before, and it dies with the template (supervisor.c). It goes on as
 * coderunner-sandbox with our options; its pid goes back on FD. Nothing
 * here changes from one child to the next: each is what an exec with these
 * options would make, but for where the libraries lie in its memory, and
 * for its command line, which still names --zygote. End of file on FD, or
 * the template's end, ends us.
 *
 * A child goes on only once its pid is sent. The template waits 5 s for an
 * answer, then kills us; a child forked whose pid never reached it would
 * be a sandbox it does not know of: one it neither retires nor waits for,
 * killed mid-run when it ends. So a child waits for a byte that we send
 * after the answer, and ends on end of file: we were killed before we
 * answered. What we did send, the template reads once it has reaped us.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

static int fault(const char *what)
{
	fprintf(stderr, "coderunner-sandbox --zygote: %s: %s\n", what, strerror(errno));
	return SANDBOX_EXIT_FAULT;
}

/* A child: from here on, once our parent said its pid, the supervisor an
 * exec would have started. Named so at once, not to pass for a zygote. */
static int supervisor(struct sandbox_options *o, int go)
{
	if (prctl(PR_SET_NAME, "coderunner-sandbox") < 0)
		return fault("prctl PR_SET_NAME");
	char byte;
	ssize_t n;
	while ((n = read(go, &byte, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		_exit(0);	/* the template never heard of us */
	close(go);
	close(o->zygote_fd);
	o->zygote_fd = -1;
	return sandbox_main(o);
}

int zygote_main(struct sandbox_options *o)
{
	if (die_with_parent(SIGKILL, 0) < 0)
		return errno == ESRCH ? 0 : fault("prctl PR_SET_PDEATHSIG");	/* ESRCH: the template is gone */
	if (prctl(PR_SET_NAME, "sandbox-zygote") < 0)
		return fault("prctl PR_SET_NAME");
	for (;;) {
		char byte;
		ssize_t n = recv(o->zygote_fd, &byte, 1, 0);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fault("recv");
		}
		/* A socket, not a pipe: a child killed before it read its byte
		 * must not kill us with SIGPIPE. */
		int go[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, go) < 0)
			return fault("socketpair");
		/* fork() with CLONE_PARENT, which fork() cannot ask for. */
		pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), 0UL, NULL, NULL, 0UL);
		if (pid == 0) {
			close(go[1]);
			return supervisor(o, go[0]);
		}
		int32_t answer = pid > 0 ? (int32_t)pid : -errno;
		close(go[0]);
		if (send(o->zygote_fd, &answer, sizeof answer, MSG_NOSIGNAL) != (ssize_t)sizeof answer)
			return fault("send");
		if (pid > 0 && send(go[1], "g", 1, MSG_NOSIGNAL) != 1 && errno != EPIPE && errno != ECONNRESET)
			return fault("send");	/* (EPIPE: the child is gone, and reaped by the template) */
		close(go[1]);
	}
}
