/* own.c — a run in a sandbox of its own: coderunner-sandbox in the ordinary
 * mode, executed for this run, with the work dir copied in before the
 * interpreter starts, so that it runs from start to end without waiting.
 * It gives what a claimed sandbox gives (claim.c), from pipes: the
 * script's stdout, stderr and fd 4, and the report on a pipe at its fd 3.
 * Its pid is the caller's to signal: SIGTERM ends the run (a claimed
 * sandbox ends it when the connection is hung up).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

extern char **environ;

/* Moves *fd to a number >= 5, where the child's dup2() onto 0-4 cannot
 * clobber it; -1 on failure. */
static int move_above(int *fd)
{
	if (*fd >= 5)
		return 0;
	int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 5);
	if (moved < 0)
		return -1;
	close(*fd);
	*fd = moved;
	return 0;
}

/* The script's stdin: a memfd holding the request's "stdin", sealed as in
 * a pre-started sandbox (prestart.c says why). */
static int stdin_memfd(const struct run_request *r)
{
	int fd = memfd_create("stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	/* write_all: one write() moves at most 2 GiB. */
	if (write_all(fd, r->stdin_data, r->stdin_len) < 0 || lseek(fd, 0, SEEK_SET) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int start_own(const struct config *c, const char *dir, const struct run_request *r, int fds[3],
	      pid_t *own, struct run_result *res)
{
	struct sandbox_command cmd;
	int a = sandbox_argv(c, &cmd, (unsigned)(r->timeout_s * 1000 + 0.5), run_memory_mb(r->memory_mb));
	char **argv = cmd.argv, entry[1100], pythonpath[sizeof r->package_path + 16];
	snprintf(entry, sizeof entry, "%s", r->entry_point);
	for (int i = 0; i < (int)(sizeof r->sandbox_extra / sizeof *r->sandbox_extra) && r->sandbox_extra[i]; i++)
		argv[a++] = (char *)r->sandbox_extra[i];
	if (r->package_path[0]) {
		snprintf(pythonpath, sizeof pythonpath, "PYTHONPATH=%s", r->package_path);
		argv[a++] = "--setenv";
		argv[a++] = pythonpath;
	}
	argv[a++] = "--workdir"; argv[a++] = (char *)dir;
	argv[a++] = "--report-fd"; argv[a++] = "3";
	if (r->runner) {	/* the runner's channel; a script alone has no fd 4 */
		argv[a++] = "--keep-fd";
		argv[a++] = "4";
	}
	argv[a++] = "--";
	argv[a++] = (char *)c->python;
	/* No -I: it would drop the script's own directory from sys.path, and
	 * files mode needs `import utils` to work; it would also ignore
	 * PYTHONUNBUFFERED, and a script killed at its timeout would lose what
	 * it printed. The sandbox's environment is already clean; -s keeps a
	 * user site-packages out all the same. */
	argv[a++] = "-s";
	if (r->runner) {
		argv[a++] = "-c";
		argv[a++] = (char *)r->runner;
	}
	argv[a++] = entry;
	argv[a] = NULL;

	enum { OUT, ERR, CHANNEL, REPORT, N_PIPES };
	int p[N_PIPES][2], in = stdin_memfd(r), rc = in < 0 ? errno : 0;
	for (int i = 0; i < N_PIPES; i++)
		p[i][0] = p[i][1] = -1;
	for (int i = 0; !rc && i < N_PIPES; i++)
		if (pipe2(p[i], O_CLOEXEC) < 0 || move_above(&p[i][1]) < 0)
			rc = errno;
	if (!rc && move_above(&in) < 0)
		rc = errno;
	if (!rc) {
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, in, 0);
		posix_spawn_file_actions_adddup2(&fa, p[OUT][1], 1);
		posix_spawn_file_actions_adddup2(&fa, p[ERR][1], 2);
		posix_spawn_file_actions_adddup2(&fa, p[REPORT][1], 3);
		posix_spawn_file_actions_adddup2(&fa, p[CHANNEL][1], 4);
		posix_spawn_file_actions_addclosefrom_np(&fa, 5);
		rc = sandbox_spawn(c->sandbox, &fa, argv, environ, own);
		posix_spawn_file_actions_destroy(&fa);
	}
	if (in >= 0)
		close(in);
	for (int i = 0; i < N_PIPES; i++) {
		if (p[i][1] >= 0)
			close(p[i][1]);
		if (rc && p[i][0] >= 0)
			close(p[i][0]);
	}
	if (rc) {
		*own = -1;
		res->fault_errno = rc;
		snprintf(res->fault, sizeof res->fault, "cannot start the sandbox %.200s: %s", c->sandbox,
			 strerror(rc));
		return -1;
	}
	fds[0] = p[OUT][0];
	fds[1] = p[ERR][0];
	fds[2] = p[CHANNEL][0];
	return p[REPORT][0];
}
