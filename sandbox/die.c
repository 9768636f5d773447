/* die.c — the single exit path for the sandbox's own faults.
 *
 * A fault is never the command's: it ends as exit status 125 and a report with
 * "error". In the supervisor the report goes to --report-fd (and stderr); in
 * init, the message travels to the supervisor on the result pipe, which then
 * reports it; in the command's process before exec it goes the same way,
 * since that process still shares init's pipe.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

static int report_fd = -1;
static int pipe_fd = -1;
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
	if (report_fd >= 0) {
		struct run_report r = { .exit_code = -1, .options = options, .error = msg };
		char *json = report_encode(&r);
		if (json) {
			dprintf(report_fd, "%s\n", json);
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
