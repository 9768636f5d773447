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
 */
#ifndef CODERUNNER_SANDBOX_H
#define CODERUNNER_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define SANDBOX_EXIT_FAULT 125	/* the sandbox failed, not the command */
#define SANDBOX_MAX_FDS 16
#define SANDBOX_MAX_ENV 32

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
	const char *cgroup_parent;	/* delegated cgroup v2 dir, or NULL */
	int report_fd;			/* -1: no report */
	int keep_fds[SANDBOX_MAX_FDS];
	int n_keep_fds;
	const char *setenv[SANDBOX_MAX_ENV];
	int n_setenv;
	char *const *argv;		/* the command */
};

/* How the command ended, as init saw it; sent to the supervisor on a pipe. */
struct init_result {
	int32_t wait_status;		/* waitpid() status of the command */
	int32_t timed_out;
	int64_t duration_us;		/* from the command's fork to its end */
	int64_t cpu_us;			/* user + system time of every process of the run */
	int64_t memory_peak_kb;		/* largest resident set among them */
	char error[240];		/* non-empty: the sandbox failed before or around the run */
};

/* What the supervisor reports; report.c turns it into JSON. */
struct run_report {
	int exit_code;			/* status, 124 timeout, 137 oom, 128+N, -1 fault */
	int signal;
	bool timed_out;
	bool oom_killed;
	uint64_t duration_ms;
	uint64_t cpu_ms;
	uint64_t memory_peak_kb;
	bool cgroup;			/* limits enforced by cgroup v2 rather than rlimits */
	const struct sandbox_options *options;
	const char *error;		/* NULL unless the sandbox failed */
};

/* options.c */
int options_parse(struct sandbox_options *o, int argc, char **argv, char *err, size_t errlen);
void options_usage(FILE *out);

/* die.c: the one exit path for a fatal error in whichever process meets it. */
void die_init(int report_fd, const struct sandbox_options *o);
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die_set_pipe(int fd);	/* in init: faults go to the supervisor on this pipe */

/* cgroup.c */
struct run_cgroup {
	char path[4096];
	int dir_fd;			/* for CLONE_INTO_CGROUP, -1 when not in use */
};
void cgroup_create(struct run_cgroup *cg, const struct sandbox_options *o);
bool cgroup_oom_killed(const struct run_cgroup *cg);
uint64_t cgroup_memory_peak_kb(const struct run_cgroup *cg);
void cgroup_kill(const struct run_cgroup *cg);
void cgroup_remove(struct run_cgroup *cg);

/* init.c */
_Noreturn void init_main(const struct sandbox_options *o, int result_fd, int workdir_fd);

/* mounts.c */
void mounts_build_root(const struct sandbox_options *o, int workdir_fd);

/* loopback.c */
void loopback_up(void);

/* workdir.c */
void workdir_copy_in(int workdir_fd, const char *work, uid_t uid, gid_t gid);
void workdir_copy_out(const char *output, int workdir_fd);

/* privileges.c */
void privileges_check(void);
void privileges_set_rlimits(const struct sandbox_options *o, bool cgroup);
void privileges_drop(const struct sandbox_options *o);
void privileges_limit_memory(const struct sandbox_options *o, bool cgroup);

/* seccomp.c */
void seccomp_install(void);

/* report.c */
char *report_encode(const struct run_report *r);	/* malloc'd JSON */
int report_exit_code(int wait_status, bool timed_out, bool oom_killed, int *signal);

#endif
