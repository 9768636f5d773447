/* die.c — the single exit path for the sandbox's own faults.
 *
 * A fault is never the command's: it ends as exit status 125 and a report with
 * "error". In the supervisor the report goes to --report-fd (and stderr); in
 * init, the message travels to the supervisor on the result pipe, which then
 * reports it; in the command's process before exec it goes the same way,
 * since that process still shares init's pipe. A pre-started sandbox reports
 * to its client; a fault before any client came waits for one, so that the
 * next run to claim this sandbox learns why it cannot start (and a broken
 * set-up costs one sandbox per request, not a restart loop).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

static int report_fd = -1;
static int pipe_fd = -1;
static int listen_fd = -1;
static bool reply_owed;
static const struct sandbox_options *options;

void die_init(int fd, const struct sandbox_options *o)
{
	report_fd = fd;
	options = o;
}

void die_set_pipe(int fd)
{
	pipe_fd = fd;
}

int die_pipe(void)
{
	return pipe_fd;
}

void die_set_listener(int fd)
{
	listen_fd = fd;
}

void die_set_client(int fd)
{
	report_fd = fd;
	reply_owed = true;
}

void die_client_replied(void)
{
	reply_owed = false;
}

/* The first client of a sandbox that failed first: taken the way any client
 * is, so that the stop signals still stop us. */
static void find_client(int fd)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sigfd < 0 || sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return;
	int client = prestart_accept(fd, sigfd);
	close(sigfd);
	if (client >= 0)
		die_set_client(client);
}

static _Noreturn void die_message(const char *msg)
{
	if (pipe_fd >= 0) {
		struct init_result r = { .wait_status = -1 };
		snprintf(r.error, sizeof r.error, "%s", msg);
		/* Best effort: nothing better can be done if this write fails. */
		ssize_t n = write(pipe_fd, &r, sizeof r);
		(void)n;
		_exit(SANDBOX_EXIT_FAULT);
	}
	fprintf(stderr, "coderunner-sandbox: %s\n", msg);
	if (report_fd < 0 && listen_fd >= 0) {
		int fd = listen_fd;
		listen_fd = -1;	/* a fault while waiting must not wait again */
		find_client(fd);
	}
	if (report_fd >= 0) {
		if (reply_owed)	/* the reply byte, without fds: there is no run */
			report_write(report_fd, "E", 1);
		struct run_report r = { .exit_code = -1, .options = options, .error = msg };
		char *json = report_encode(&r);
		if (json) {
			report_write(report_fd, json, strlen(json));
			report_write(report_fd, "\n", 1);
			free(json);
		}
	}
	exit(SANDBOX_EXIT_FAULT);
}

void die(const char *fmt, ...)
{
	char msg[sizeof ((struct init_result *)0)->error];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	die_message(msg);
}

void die_errno(const char *fmt, ...)
{
	int saved = errno;
	char msg[sizeof ((struct init_result *)0)->error];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof msg)
		snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(saved));
	die_message(msg);
}

/* The other way we end: with the process that spawned us, by SIG
 * (PR_SET_PDEATHSIG). A parent that died before this call sends nothing,
 * and we would go on unseen (a template importing for no one, a sandbox
 * waiting on a socket no one serves). So the parent is checked after:
 * PARENT, its pid as it took it before forking us, or, for 0, the process
 * that made the socket pair on our stdout, our keeper, which spawned us and
 * reads what we say there (SO_PEERCRED names it). A socket pair's peer has
 * no address; a stdout connected to a named socket (journald's, under
 * systemd) is no keeper's. Spawned otherwise (a cold run's supervisor, a
 * test), there is no one to compare with. 0, or -1 with errno (ESRCH:
 * gone). */
int die_with_parent(int sig, pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, sig) < 0)
		return -1;
	struct ucred keeper;
	struct sockaddr_un peer;
	socklen_t len = sizeof keeper, peer_len = sizeof peer;
	if (!parent && getsockopt(STDOUT_FILENO, SOL_SOCKET, SO_PEERCRED, &keeper, &len) == 0 &&
	    getpeername(STDOUT_FILENO, (struct sockaddr *)&peer, &peer_len) == 0 &&
	    peer.sun_family == AF_UNIX && peer_len == sizeof peer.sun_family)
		parent = keeper.pid;
	if (parent > 0 && getppid() != parent) {
		errno = ESRCH;
		return -1;
	}
	return 0;
}
