/* sandbox.h — what the stages of coderunner-sandbox share.
 *
 * The program runs in three processes:
 *   the supervisor (main.c): parses options, prepares the cgroup, clones the
 *     init process into new namespaces, waits for it and writes the report;
 *   init (init.c), PID 1 of the new PID namespace: builds the root, starts the
 *     command, reaps every orphan, enforces the wall timeout, kills what is left,
 *     copies ./output back out and tells the supervisor how the command ended;
 *   the command: rlimits, unprivileged uid, no capabilities, no_new_privs,
 *     seccomp, a clean environment, exec.
 * With --accept-fd the sandbox is pre-started (prestart.c): it is built and
 * its command started before there is a run; the run arrives later from a
 * client on a listening socket, and the wall clock starts then. With
 * --template-fd as well, the process cloned into the new namespaces only
 * builds the root; coderunner-template forks the run's init, PID 1 of a
 * PID namespace of its own, and the command, its interpreter, into it
 * (forkserver.c).
 */
#ifndef CODERUNNER_SANDBOX_H
#define CODERUNNER_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

#define SANDBOX_EXIT_FAULT 125	/* the sandbox failed, not the command */
#define SANDBOX_MAX_FDS 16
#define SANDBOX_MAX_ENV 32
#define SANDBOX_MAX_BINDS 4

struct sandbox_options {
	const char *workdir;		/* host dir copied in as /work, output copied back */
	uint64_t timeout_ms;
	uint64_t memory_mb;
	uint64_t pids;
	uint64_t fsize_mb;
	uint64_t nofile;
	uint64_t tmp_size_mb;
	uint64_t work_size_mb;
	const char *user;
	uid_t uid;
	gid_t gid;
	uint32_t uid_first, uid_last;	/* --uid-range: a uid of its own, */
	const char *uid_lock;		/* claimed under this lock file (uids.c) */
	const char *cgroup_parent;	/* delegated cgroup v2 dir, or NULL */
	int report_fd;			/* -1: no report */
	int accept_fd;			/* -1, or a listening socket: pre-started mode */
	int template_fd;		/* -1, or a socket to coderunner-template, which
					 * forks the command (forkserver.c) */
	int zygote_fd;			/* -1, or a socket on which coderunner-template
					 * asks for supervisors (zygote.c) */
	int keep_fds[SANDBOX_MAX_FDS];
	int n_keep_fds;
	const char *setenv[SANDBOX_MAX_ENV];
	int n_setenv;
	char bind_src[SANDBOX_MAX_BINDS][256];	/* --ro-bind: host dirs, */
	const char *bind_dst[SANDBOX_MAX_BINDS];	/* seen read-only at these top-level paths */
	int n_binds;
	bool share_net;			/* --share-net: the host's network, not a new one */
	char *const *argv;		/* the command */
	/* Instead of exec'ing argv: carry on in this very process (a template's
	 * interpreter, sandbox/template/python.c), once the command's limits, identity and
	 * filter are in force. env is its clean environment. */
	void (*in_process)(const struct sandbox_options *o, char **env);	/* never returns */
};

/* What init tells the supervisor, on their socket: an error (error[0] set),
 * then or else that the pre-started command is ready (ready set), and last
 * how the command ended. */
struct init_result {
	int32_t ready;
	int32_t built;			/* the root is built: a template may fork the command into it */
	int32_t wait_status;		/* waitpid() status of the command */
	int32_t timed_out;
	int64_t duration_us;		/* from the command's fork to its end */
	int64_t cpu_us;			/* user + system time of every process of the run */
	int64_t memory_peak_kb;		/* largest resident set among them */
	uint32_t omitted_len;		/* the bytes of names after it (below) */
	uint32_t omitted_unnamed;	/* files left behind past their room */
	char error[240];		/* non-empty: the sandbox failed before or around the run */
};

/* The files the copy-out of ./output left behind for /work's size: their
 * paths under output/, each ending in '\0'. init's last result carries
 * them after itself in the same message; those past OMITTED_ROOM are only
 * counted. The room is small enough that the report stays within what the
 * service reads of it (64 KiB) with every byte escaped as \u00XX. */
#define OMITTED_ROOM (8 * 1024)
struct workdir_omitted {
	uint32_t len, unnamed;
	char names[OMITTED_ROOM];
};

/* What the supervisor hands init when a pre-started sandbox is claimed,
 * with the work dir's fd attached. args go to the command on fd 3. */
#define GO_ARGS_MAX (60 * 1024)
struct init_go {
	uint64_t timeout_ms;
	uint32_t args_len;
	char args[GO_ARGS_MAX];
};

/* The pre-started command's own fds, made by the supervisor before the
 * clone: its stdin (a memfd the client's stdin is written into), stdout,
 * stderr and fd 4 (pipes whose read ends go to the client), and fd 3, a
 * socket on which it says it is ready and init gives it its arguments. */
enum { CMD_STDIN, CMD_STDOUT, CMD_STDERR, CMD_CHANNEL, N_CMD_PIPES };
struct command_fds {
	int mine[N_CMD_PIPES];		/* the supervisor's ends (stdin: the memfd) */
	int theirs[N_CMD_PIPES];	/* the command's ends */
	int control[2];			/* [0] init's end, [1] the command's fd 3 */
};

/* What the supervisor reports; report.c turns it into JSON. */
struct run_report {
	int exit_code;			/* status, 124 timeout, 137 oom, 128+N, -1 fault */
	int signal;
	bool timed_out;
	bool oom_killed;
	bool memory_starved;		/* OOM-killed below its own limit: the host ran out */
	uint64_t duration_ms;
	uint64_t cpu_ms;
	uint64_t memory_peak_kb;
	bool cgroup;			/* limits enforced by cgroup v2 rather than rlimits */
	const struct sandbox_options *options;
	const char *error;		/* NULL unless the sandbox failed */
	const struct workdir_omitted *omitted;	/* output_omitted, or NULL */
};

/* main.c: build the sandbox o describes, run its command, report; the exit status. */
int sandbox_main(struct sandbox_options *o);

/* zygote.c: --zygote, supervisors forked for coderunner-template; the exit status. */
int zygote_main(struct sandbox_options *o);

/* options.c */
int options_parse(struct sandbox_options *o, int argc, char **argv, char *err, size_t errlen);
void options_usage(FILE *out);

/* die.c: the one exit path for a fatal error in whichever process meets it. */
void die_init(int report_fd, const struct sandbox_options *o);
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die_set_pipe(int fd);	/* in init: faults go to the supervisor on this pipe */
int die_pipe(void);		/* that pipe, or -1 */
/* Pre-started: a fault before a client is there waits for one to tell. */
void die_set_listener(int listen_fd);
void die_set_client(int fd);	/* the report goes here; a reply is still owed */
void die_client_replied(void);
int die_with_parent(int sig, pid_t parent);	/* PR_SET_PDEATHSIG; -1 (ESRCH) if it is gone already */

/* cgroup.c */
struct run_cgroup {
	char path[4096];
	int dir_fd;			/* for CLONE_INTO_CGROUP, -1 when not in use */
};
void cgroup_create(struct run_cgroup *cg, const struct sandbox_options *o);
void cgroup_set_memory(const struct run_cgroup *cg, uint64_t memory_mb);
bool cgroup_oom_killed(const struct run_cgroup *cg);
uint64_t cgroup_memory_peak_kb(const struct run_cgroup *cg);
uint64_t cgroup_memory_current_kb(const struct run_cgroup *cg);
int cgroup_open_pressure(const struct run_cgroup *cg);
int64_t cgroup_memory_stall_us(int pressure_fd);
void cgroup_kill(const struct run_cgroup *cg);
void cgroup_remove(struct run_cgroup *cg);

/* init.c */
void init_move_arguments(int argc, char **argv);	/* first thing in main() */
/* In a process forked from one that moved them, about to run code that may
 * read its memory: the arguments and their copy, zeroed. */
void init_wipe_arguments(void);
char **sandbox_environment(const struct sandbox_options *o);	/* the command's, static */
_Noreturn void init_main(const struct sandbox_options *o, int result_fd, int workdir_fd,
			 const struct command_fds *cmd);

/* uids.c: with --uid-range, sets o->uid and o->gid to a uid no other
 * sandbox of the range holds, and holds it until this process exits. */
void uids_claim(struct sandbox_options *o);

/* prestart.c: the pre-started mode's side of the supervisor. */
ssize_t send_with_fds(int sock, const void *data, size_t len, const int *fds, int n);
ssize_t recv_with_fd(int sock, void *data, size_t len, int flags, int *fd);	/* *fd -1: none */
void prestart_open_fds(struct command_fds *cmd);
void prestart_close_theirs(struct command_fds *cmd);
int prestart_accept(int listen_fd, int sigfd);	/* -1: told to stop first */
int prestart_receive(int client, int stdin_memfd, struct sandbox_options *o,
		     struct init_go *go);	/* the work dir's fd */
void prestart_reply(int client, struct command_fds *cmd);
void prestart_send_go(int result_fd, const struct init_go *go, int workdir_fd);
int prestart_receive_go(int result_fd, struct init_go *go);	/* init: the work dir fd */

/* forkserver.c: a warm sandbox's command, forked by coderunner-template
 * into the namespaces of a supervisor's init (--template-fd). */
#define FORKSERVER_MAGIC 0x636b726fU	/* "ofkc" */
struct forkserver_request {
	uint32_t magic;
	uint32_t uid, gid;
	int32_t n_fds;			/* FORK_FD_* in this order, the cgroup's last if any */
};
enum { FORK_FD_REPLY, FORK_FD_INIT, FORK_FD_RESULT, FORK_FD_STDIN, FORK_FD_STDOUT, FORK_FD_STDERR,
       FORK_FD_CHANNEL, FORK_FD_CONTROL, FORK_FD_CGROUP, FORK_FDS_MAX };
/* The command's pid in the run's PID namespace (2, init's child). */
pid_t forkserver_request(const struct sandbox_options *o, int init_pidfd, int result_fd,
			 const struct command_fds *cmd, int cgroup_fd);
int forkserver_receive(int sock, struct forkserver_request *req, int fds[FORK_FDS_MAX]);
_Noreturn void init_exec_command(const struct sandbox_options *o, const sigset_t *mask,
				 const struct command_fds *cmd);
_Noreturn void init_run(const struct sandbox_options *o, int result_fd, int workdir_fd,
			const struct command_fds *cmd, pid_t command, const sigset_t *chld);

/* mounts.c */
void mounts_build_root(const struct sandbox_options *o);

/* loopback.c */
void loopback_up(void);

/* workdir.c */
void workdir_copy_in(int workdir_fd, const char *work, uid_t uid, gid_t gid);
void workdir_copy_out(const char *output, int workdir_fd, uint64_t max_bytes,
		      struct workdir_omitted *omitted);

/* privileges.c */
void privileges_check(void);
void privileges_set_rlimits(const struct sandbox_options *o, bool cgroup);
rlim_t privileges_cpu_seconds(uint64_t timeout_ms);
bool privileges_raise(unsigned cap);
void privileges_drop(const struct sandbox_options *o);
void privileges_limit_memory(const struct sandbox_options *o, bool cgroup);

/* seccomp.c */
bool seccomp_prepare(void);	/* once, before forking sandboxes; false with errno */
void seccomp_install(bool cgroup);	/* cgroup: the run has one (SysV IPC allowed) */

/* report.c */
char *report_encode(const struct run_report *r);	/* malloc'd JSON */
int report_exit_code(int wait_status, bool timed_out, bool oom_killed, int *signal);
int report_write(int fd, const char *data, size_t len);	/* -1 on failure */

#endif
