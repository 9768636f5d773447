/* main.c — coderunner-sandbox: build one sandbox, run one command, report.
 *
 *   coderunner-sandbox [OPTION]... -- COMMAND [ARG]...
 *
 * The options (options.c), then the supervisor's stages (supervisor.c); or,
 * with --zygote, supervisors forked for coderunner-template (zygote.c).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "sandbox/sandbox.h"

/* With 0, 1 or 2 closed, the next open would take its place and the command
 * would write its output into, say, the report pipe. */
static void ensure_standard_fds(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			die_errno("open /dev/null as fd %d", fd);
}

/* An fd named on the command line must be the caller's, open now: one that is
 * not would be one the sandbox opens for itself later (the work dir, the uid
 * lock), and --keep-fd would hand the command a directory of the host's tree,
 * from which ".." leads out of the sandbox. */
static int check_given_fds(const struct sandbox_options *o, char *err, size_t errlen)
{
	struct given { const char *name; int fd; } given[SANDBOX_MAX_FDS + 4] = {
		{ "--report-fd", o->report_fd }, { "--accept-fd", o->accept_fd },
		{ "--template-fd", o->template_fd }, { "--zygote", o->zygote_fd },
	};
	int n = 4;
	for (int i = 0; i < o->n_keep_fds; i++)
		given[n++] = (struct given){ "--keep-fd", o->keep_fds[i] };
	for (int i = 0; i < n; i++)
		if (given[i].fd >= 0 && fcntl(given[i].fd, F_GETFD) < 0) {
			snprintf(err, errlen, "%s %d: the fd is not open", given[i].name, given[i].fd);
			return -1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	struct sandbox_options o;
	char err[256];
	init_move_arguments(argc, argv);
	ensure_standard_fds();
	if (options_parse(&o, argc, argv, err, sizeof err) < 0 ||
	    check_given_fds(&o, err, sizeof err) < 0) {
		bool help = !strcmp(err, "help");
		if (!help)
			fprintf(stderr, "coderunner-sandbox: %s\n", err);
		options_usage(help ? stdout : stderr);
		return help ? 0 : SANDBOX_EXIT_FAULT;
	}
	return o.zygote_fd >= 0 ? zygote_main(&o) : sandbox_main(&o);
}
