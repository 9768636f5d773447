/* fcgi-exec.c — the baseline bench/http measures coderunner-fcgi against:
 * a FastCGI program that, for every request, fork+execs a fixed command
 * (bwrap + python3, or bare python3) and answers with its stdout as JSON.
 * Same prefork shape as coderunner-fcgi (N processes on spawn-fcgi's fd 0),
 * no validation, no staging, no limits: the floor of "exec per request".
 *
 *   spawn-fcgi -n -s SOCK -- fcgi-exec WORKERS -- COMMAND [ARG]...
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcgiapp.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void serve(char **cmd)
{
	FCGX_Request req;
	FCGX_Init();
	FCGX_InitRequest(&req, 0, 0);
	while (FCGX_Accept_r(&req) >= 0) {
		char buf[65536];
		while (FCGX_GetStr(buf, sizeof buf, req.in) > 0)
			;
		int p[2];
		if (pipe(p) < 0)
			exit(1);
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
		posix_spawn_file_actions_addclose(&fa, p[0]);
		posix_spawn_file_actions_addclose(&fa, p[1]);
		posix_spawn_file_actions_addclosefrom_np(&fa, 3);
		pid_t pid;
		int rc = posix_spawnp(&pid, cmd[0], &fa, NULL, cmd, environ);
		posix_spawn_file_actions_destroy(&fa);
		close(p[1]);
		size_t n = 0;
		ssize_t r;
		while ((r = read(p[0], buf + n, sizeof buf - 1 - n)) > 0)
			n += (size_t)r;
		close(p[0]);
		int status = 0;
		if (rc == 0)
			waitpid(pid, &status, 0);
		buf[n] = '\0';
		/* A failed run is a 500, so wrk counts it as an error. */
		bool good = rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
		FCGX_FPrintF(req.out, "Status: %s\r\nContent-Type: application/json\r\n\r\n"
			     "{\"exit_code\": %d, \"stdout_bytes\": %lu}\n",
			     good ? "200 OK" : "500 Internal Server Error",
			     rc ? -1 : WEXITSTATUS(status), (unsigned long)n);
		FCGX_Finish_r(&req);
	}
}

int main(int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[2], "--") != 0) {
		fprintf(stderr, "usage: fcgi-exec WORKERS -- COMMAND [ARG]...\n");
		return 2;
	}
	int workers = atoi(argv[1]);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < workers; i++)
		if (fork() == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);	/* libfcgi catches SIGTERM */
			serve(argv + 3);
			_exit(0);
		}
	while (wait(NULL) > 0)
		;
	return 0;
}
