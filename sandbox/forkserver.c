/* forkserver.c — a warm run's command, forked by coderunner-template.
 *
 * A warm run's command is a copy of the template's interpreter, which holds
 * the imported libraries; nothing else of the sandbox needs them. So the
 * template starts each pre-started sandbox as coderunner-sandbox
 * --template-fd (an exec, not a copy of itself), and that supervisor builds
 * the sandbox as any other: its uid, its cgroup, its init in new mount,
 * PID, network, IPC, UTS and cgroup namespaces, the root built by that init
 * (init.c). Then it asks the template, on the socket FD, for the command:
 * here is init (a pidfd), the run's cgroup, the command's fds, its uid. A
 * helper of the template, sharing its memory, enters init's namespaces and
 * makes a process there that joins the cgroup and forks the command (which
 * carries on as init_exec_command() has it: limits, uid, capabilities,
 * no_new_privs, seccomp), then ends: the command, orphaned, is init's child,
 * as in a cold run, and PID 2. One copy of the template's memory per run,
 * the command's; no exec but the supervisor's.
 *
 * The request is one datagram with the fds attached; the reply, on a
 * socket pair of the request's own, the command's pid in the run's PID
 * namespace, or a negative errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

pid_t forkserver_request(const struct sandbox_options *o, int init_pidfd, int result_fd,
			 const struct command_fds *cmd, int cgroup_fd)
{
	int reply[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, reply) < 0)
		die_errno("socketpair");
	int fds[FORK_FDS_MAX] = {
		[FORK_FD_REPLY] = reply[1], [FORK_FD_INIT] = init_pidfd, [FORK_FD_RESULT] = result_fd,
		[FORK_FD_STDIN] = cmd->theirs[CMD_STDIN], [FORK_FD_STDOUT] = cmd->theirs[CMD_STDOUT],
		[FORK_FD_STDERR] = cmd->theirs[CMD_STDERR], [FORK_FD_CHANNEL] = cmd->theirs[CMD_CHANNEL],
		[FORK_FD_CONTROL] = cmd->control[1], [FORK_FD_CGROUP] = cgroup_fd,
	};
	int n = cgroup_fd >= 0 ? FORK_FDS_MAX : FORK_FD_CGROUP;
	struct forkserver_request req = { FORKSERVER_MAGIC, (uint32_t)o->uid, (uint32_t)o->gid, n };
	ssize_t r = send_with_fds(o->template_fd, &req, sizeof req, fds, n);
	if (r != (ssize_t)sizeof req)
		die_errno("ask the template for the command");
	close(reply[1]);

	int32_t answer = 0;
	while ((r = recv(reply[0], &answer, sizeof answer, 0)) < 0 && errno == EINTR)
		;
	close(reply[0]);
	if (r != (ssize_t)sizeof answer)
		die("the template did not fork the command (it is gone)");
	if (answer <= 0) {
		errno = -answer;
		die_errno("the template could not fork the command");
	}
	return (pid_t)answer;
}

/* The template's side: one request and its fds (moved above 9, so that
 * placing the command's onto 0-4 overwrites none of them); the number of
 * fds, or -1 for a message that is not a request (its fds closed). */
int forkserver_receive(int sock, struct forkserver_request *req, int fds[FORK_FDS_MAX])
{
	union {
		char buf[CMSG_SPACE(FORK_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { req, sizeof *req };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof control.buf,
	};
	ssize_t n;
	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -1;
	/* The buffer's padding lets a sender pass one fd more than we take:
	 * every fd that came is ours to close. */
	int all[(sizeof control.buf - CMSG_LEN(0)) / sizeof(int)];
	int got = 0;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
		got = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (got > (int)(sizeof all / sizeof *all))
			got = (int)(sizeof all / sizeof *all);
		memcpy(all, CMSG_DATA(c), (size_t)got * sizeof(int));
	}
	bool valid = n == (ssize_t)sizeof *req && !(msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) &&
		     req->magic == FORKSERVER_MAGIC && req->n_fds == got &&
		     (got == FORK_FD_CGROUP || got == FORK_FDS_MAX);
	for (int i = 0; i < got; i++) {
		int high = valid ? fcntl(all[i], F_DUPFD_CLOEXEC, 10) : -1;
		if (valid && high < 0)
			valid = false;
		close(all[i]);
		all[i] = high;
	}
	if (!valid) {
		for (int i = 0; i < got; i++)
			if (all[i] >= 0)
				close(all[i]);
		return -1;
	}
	memcpy(fds, all, (size_t)got * sizeof(int));
	if (got == FORK_FD_CGROUP)
		fds[FORK_FD_CGROUP] = -1;
	return got;
}
