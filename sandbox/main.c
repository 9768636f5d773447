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

int main(int argc, char **argv)
{
	struct sandbox_options o;
	char err[256];
	ensure_standard_fds();
	if (options_parse(&o, argc, argv, err, sizeof err) < 0) {
		bool help = !strcmp(err, "help");
		if (!help)
			fprintf(stderr, "coderunner-sandbox: %s\n", err);
		options_usage(help ? stdout : stderr);
		return help ? 0 : SANDBOX_EXIT_FAULT;
	}
	return o.zygote_fd >= 0 ? zygote_main(&o) : sandbox_main(&o);
}
