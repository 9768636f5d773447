/* fcgi.h — what the parts of coderunner-fcgi share.
 *
 * The program is a master and a pool of worker processes (http/master.c). A
 * worker (http/worker.c, the FastCGI loop) takes one request at a time off
 * the listening socket that spawn-fcgi handed over on fd 0, checks who may
 * call (http/access.c) and routes it (http/router.c) to a dialect's handler
 * such as POST /api/run (dialects/api_run.c), which parses the request
 * (dialects/request.c), waits for a run slot (running/slots.c), stages a work
 * directory (running/stage.c), hands it to one of the pre-started sandboxes
 * the master keeps (running/run.c, running/start/, running/pool.c),
 * collects ./output (running/artifacts.c) and answers (http/response.c).
 * The other dialects share that path through run_script()
 * (running/script.c): POST /run
 * (dialects/pyrunner.c), POST /execute (dialects/execute.c), each with a small
 * Python runner (running/runners/, built into the program), and POST /mcp
 * (dialects/mcp.c) calls their handlers. GET / and /health are
 * dialects/info.c, GET /openapi.json dialects/openapi.c, GET /metrics and its
 * shared counters http/metrics.c. http/log.c writes one line per request;
 * config.c reads the operator's file; running/cgroup.c finds or makes the
 * runs' cgroup v2 subtree.
 */
#ifndef CODERUNNER_FCGI_H
#define CODERUNNER_FCGI_H

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/types.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef BINDIR
#define BINDIR "/usr/bin"
#endif
#ifndef PACKAGE_VERSION_STRING
#define PACKAGE_VERSION_STRING "0"
#endif

#define DEFAULT_CONFIG_PATH SYSCONFDIR "/coderunner/coderunner.conf"
/* Above systemd's container ranges (up to 1879048191) and below 2^31, where
 * Debian and systemd allocate no account (README: "Who a run is"). */
#define DEFAULT_RUN_UIDS "2000000000-2000000999"

/* Upper bounds the shared page is sized for; config.c keeps keys below them. */
#define MAX_RUN_SLOTS 256
#define MAX_QUEUE_SLOTS 1024
#define MAX_WORKERS (MAX_RUN_SLOTS + MAX_QUEUE_SLOTS + 16)
#define MAX_API_KEYS 256
#define MAX_PRESTARTED (MAX_RUN_SLOTS + 16)
#define MAX_ENDPOINTS 16		/* router.c's paths + "other" */

/* ---- die.c: the one fatal exit path ---------------------------------- */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xmalloc(size_t n);
void *xshared(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* ---- clock.c: the monotonic clock, in ms ------------------------------ */
long long now_ms(void);

/* ---- buf.c: a growable byte buffer ----------------------------------- */
struct buf {
	char *data;
	size_t len, cap;
};
void buf_reserve(struct buf *b, size_t extra);
void buf_put(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

/* ---- utf8.c ------------------------------------------------------------ */
bool utf8_valid(const unsigned char *s, size_t n);
size_t utf8_prefix(const char *s, size_t len, size_t max);
size_t utf8_whole(const char *s, size_t len);
/* Append s as a JSON string literal; invalid UTF-8 becomes U+FFFD. */
void json_put_string(struct buf *b, const void *s, size_t n);
/* The bytes json_put_string() writes for valid UTF-8, quotes left out. */
size_t json_string_len(const void *s, size_t n);
void json_put_cstring(struct buf *b, const char *s);
void base64_encode(struct buf *b, const unsigned char *s, size_t n);
/* Decode into out (at least n/4*3 bytes); returns the length or -1 if invalid. */
ssize_t base64_decode(const char *s, size_t n, unsigned char *out);

/* ---- config.c ---------------------------------------------------------- */
enum cgroup_mode { CGROUP_AUTO, CGROUP_OFF };

struct config {
	unsigned workers, max_runs, queue_size, prestarted;	/* resolved: never "auto" */
	unsigned queue_timeout_s, retry_after_s, drain_timeout_s, fcgi_timeout_s;
	char sandbox[4096], python[4096], work_root[4096];
	char template_bin[4096], preload[1024];	/* preload "none": no template */
	char template_cache[4096];		/* "none": none kept */
	char allowed_hosts[1024];	/* names a browser's Origin and /mcp's Host may carry */
	char api_keys_file[4096];	/* "none": no keys asked for */
	unsigned n_api_keys;		/* read from it by config_load() */
	unsigned char api_keys[MAX_API_KEYS][32];	/* their SHA-256 */
	unsigned uid_first, uid_last;		/* run_uids */
	enum cgroup_mode cgroup;
	unsigned timeout_default_s, timeout_max_s;
	unsigned memory_default_mb, memory_max_mb;
	unsigned pids, fsize_mb, nofile, tmp_size_mb, work_size_mb;
	unsigned max_script_kib, max_entries, max_entry_mib, max_input_mib;
	unsigned max_body_mib, max_artifacts_mib, max_output_kib;
	unsigned max_dependencies, max_json_depth, max_json_values;
	unsigned execute_timeout_s, execute_memory_mb, execute_max_script_kib;
	unsigned health_interval_s;
	/* On-demand packages (packages.c): from an index or a directory of
	 * wheels, "none" for either; off when both are. */
	char package_index_url[1024], package_find_links[4096], package_cache[4096];
	unsigned package_install_timeout_s, package_max_mb, package_cache_max_mb;
};
void config_defaults(struct config *c);
/* 0, or -1 with a message naming the file, line and key in err. */
int config_load(struct config *c, const char *path, bool must_exist, char *err, size_t errlen);
void config_print(const struct config *c, FILE *out);
/* The value in force of the number key name[0..len); false if there is none. */
bool config_uint(const struct config *c, const char *name, size_t len, unsigned *value);
void config_describe(FILE *out);	/* every key, its default and meaning */
/* Whether a request's dependencies may be installed: an index or a
 * directory of wheels is set. */
bool config_installs(const struct config *c);
/* Whether runs start warm from a template: preload is not "none". */
bool config_template(const struct config *c);
/* 0, or -1 with err naming the account or group that holds a uid of run_uids. */
int config_check_run_uids(const struct config *c, char *err, size_t errlen);
/* 0, or -1 with err naming a per-run limit above what this process may pass on. */
bool config_sandbox_has_sys_resource(void);
int config_check_limits(const struct config *c, char *err, size_t errlen);
/* 0, or -1 with err naming each program of the config that is missing (the
 * template only with a preload list), and a python no sandbox can see. */
int config_check_programs(const struct config *c, char *err, size_t errlen);
/* 0, or -1 with err saying which timeout a request may outlast (a warning). */
int config_check_timeouts(const struct config *c, char *err, size_t errlen);

/* ---- log.c ------------------------------------------------------------- */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct request_log {
	const char *request_id, *method, *path;
	int status;
	int exit_code;		/* INT32_MIN: no run */
	long duration_ms;	/* whole request */
	long run_ms;		/* the sandbox's own figure, -1 when none */
	long memory_peak_kb;	/* -1 when none */
	size_t request_bytes, response_bytes;
	char note[160];		/* a short reason for an error, or "" */
};
void log_request(const struct request_log *l);
/* Sets l->note (a copy: the reason may live in a handler's frame); NULL clears it. */
void log_note(struct request_log *l, const char *note);

/* ---- deps.c: which dependency names are already importable ------------ */
/* Asks a sandboxed interpreter, as c would run a script (under the service's cgroup). */
int deps_load(const struct config *c, char *err, size_t errlen);
bool deps_installed(const char *name);	/* name in any spelling: "PIL", "scikit_learn" */
/* The installed version of name ("" when none is known), or NULL if it is not installed. */
const char *deps_installed_version(const char *name);
/* The names the pre-installed distribution NAME's modules are imported by
 * ("PIL" for pillow), space-separated; NULL if not known. */
const char *deps_installed_modules(const char *name);
struct requirement {
	char name[256];		/* PEP 503 normal form */
	char op[3];		/* "", "==", "!=", "<=", ">=", "~=", "<", ">" */
	char version[64];
};
/* A name in PEP 503 normal form: "Scikit_Learn" -> "scikit-learn". */
void deps_normalise(const char *in, size_t n, char *out, size_t outlen);
/* A name with at most one version clause, nothing else; false if malformed. */
bool deps_parse(const char *req, struct requirement *out);
bool deps_satisfies(const char *installed, const struct requirement *r);
/* Its spelling as PEP 440 compares it: "numpy==01.0" -> "numpy==1". */
void deps_canonical(const struct requirement *r, char *out, size_t outlen);
int deps_version_compare(const char *a, const char *b);	/* PEP 440 order: <0, 0, >0 */

/* ---- slots.c: the shared page of run slots ---------------------------- */
struct run_progress;
void slots_init(void);			/* master, before the first fork */
enum slot_wait { SLOT_TAKEN, SLOT_QUEUE_FULL, SLOT_TIMED_OUT, SLOT_STOPPING, SLOT_CLIENT_GONE };
/* Takes a run slot, waiting in the queue up to timeout_ms, and no longer
 * once client_fd (the request's connection, or -1) is hung up; *slot is
 * its index. progress (or NULL) is ticked as it waits. */
enum slot_wait slots_acquire(unsigned max_runs, unsigned queue_size, unsigned timeout_ms, int client_fd,
			     struct run_progress *progress, int *slot);
void slots_release(int slot);
/* A place in the queue held while a request waits for another worker's
 * work rather than for a slot: its index, or -1 when the queue is full. */
int slots_queue_enter(unsigned queue_size);
void slots_queue_leave(int place);
/* Whether the request's connection (or -1: none) is hung up. */
bool slots_client_gone(int fd);
/* What PID holds: the master's for a dead worker, a worker's own once a
 * streamed answer is sent (script.c). */
void slots_release_pid(pid_t pid);
unsigned slots_running(void);
unsigned slots_waiting(void);

/* ---- metrics.c: counters in a shared page the master owns -------------- */
enum run_outcome { RUN_OK, RUN_ERROR, RUN_TIMEOUT, RUN_OOM, RUN_INTERNAL, RUN_STOPPED, N_RUN_OUTCOMES };
void metrics_init(void);			/* master, before the first fork */
void metrics_request(int endpoint, int status);	/* endpoint: route_endpoint() */
void metrics_run(enum run_outcome outcome, long duration_ms);
void metrics_run_start(bool warm);
enum package_event { PACKAGES_INSTALLED, PACKAGES_CACHED, PACKAGES_FAILED, PACKAGES_EVICTED, N_PACKAGE_EVENTS };
void metrics_package(enum package_event event);
void metrics_queue_wait(long waited_ms);
void metrics_rejected(void);
void metrics_worker_restart(void);

/* ---- pool.c: the pre-started sandboxes, kept by the master ------------- */
void pool_start(const struct config *c);	/* the socket, then pool_fill() */
void pool_fill(const struct config *c);		/* start what is missing */
int pool_notify_fd(void);			/* readable: runs claimed sandboxes */
/* Whether the pool's sandboxes have our configuration: not in a worker
 * that a reload retired, whose requests were checked against the old one. */
bool pool_ours(void);
bool pool_warm(void);				/* a template's sandboxes are waiting */
pid_t pool_template(void);			/* its pid, 0 when there is none */
void pool_taken(void);				/* a sandbox of the pool took a run */
/* A claim on the pool (template: the one it went to, or 0 for the
 * pre-started sandboxes), made at since, that no sandbox read: true when
 * no sandbox of the pool took any run since either, and its sandboxes, or
 * the template, are to be replaced. */
bool pool_stuck(pid_t template, long long since);
bool pool_can_start(void);			/* false: its last sandbox could not even be run */
/* Whether the template imported any of these space-separated top-level
 * modules (a run that brings its own cannot start from it); "*" stands for
 * too many to name, and is taken to be one it imported. */
bool pool_imports_any(const char *names);
void pool_read_claims(void);
/* True if pid was one of them. One that ended unclaimed while the service
 * is not stopping cannot serve: runs start their own until another is. */
bool pool_reaped(pid_t pid, int status, bool stopping);
/* A reload's new socket, the sandboxes' generation moved on; -1 with err
 * and nothing changed. Then pool_reload(): the old sandboxes retire. */
int pool_reload_socket(const struct config *c, char *err, size_t errlen);
void pool_reload(const struct config *c);
unsigned pool_stop(int sig);			/* how many are still to end */
void pool_close_in_worker(void);
struct sandbox_command {
	char *argv[64];
	char num[7][16];
	char packages[4200];	/* --ro-bind of the package sets */
	char uid_range[24], uid_lock[4096 + 16], prestart[16];
};
int sandbox_argv(const struct config *c, struct sandbox_command *cmd, unsigned timeout_ms,
		 unsigned memory_mb);	/* the next argv index */
int sandbox_spawn(const char *path, const posix_spawn_file_actions_t *fa, char **argv, char **envp,
		  pid_t *pid);	/* 0 or an errno */

/* ---- cgroup.c ---------------------------------------------------------- */
/* Master start-up: the runs' cgroup dir (delegated, or our own subtree when
 * we are root), or "" for the rlimit fallback. */
void cgroup_setup(enum cgroup_mode mode, char *dir, size_t dirlen);
void cgroup_teardown(void);		/* master exit: remove our own subtree */
/* Master: a child that a signal ended, perhaps a sandbox's supervisor,
 * whose run cgroup is then removed here (now, or by cgroup_remove_killed()
 * once the processes left in it are gone). */
void cgroup_killed(pid_t pid);
void cgroup_remove_killed(void);
/* The most memory a run can have (MB): the RAM and the memory.max of dir
 * and its ancestors, less what the service itself (and its template, if
 * there is one) needs under them. */
unsigned cgroup_memory_ceiling(const char *dir, bool template);

/* ---- the service state every worker inherits -------------------------- */
struct service {
	struct config cfg;
	char cgroup_dir[4096];		/* "" when limits fall back to rlimits */
	unsigned memory_ceiling_mb;	/* no run gets more, whatever it asks */
	char pool_path[108];		/* the pre-started sandboxes' socket */
	const char *config_path;
	bool config_must_exist;		/* named on the command line: a reload wants it too */
};
extern struct service service;

/* ---- request.c --------------------------------------------------------- */
struct http_error {
	int status;
	char message[512];
};
int http_fail(struct http_error *e, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct entry {
	char *path;			/* relative to the work dir */
	const unsigned char *data;
	size_t len;
	bool owned;			/* data was decoded into a buffer of its own */
};

struct run_request {
	const char *script;		/* script mode: points into the body or JSON tree */
	size_t script_len;
	const char *entry_point;	/* the file to run, relative to the work dir */
	struct entry *entries;		/* files, or context as input/NAME */
	size_t n_entries;
	double timeout_s;
	unsigned memory_mb;
	const char *stdin_data;
	size_t stdin_len;
	struct buf warnings;		/* a JSON array body, "" when none */
	bool has_packages;		/* dependencies given: answer with "packages" */
	struct buf packages;		/* a JSON object body: name -> installed version */
	void *json;			/* the parsed tree the pointers above point into */
	const char *runner;		/* NULL: run entry_point itself; else Python source
					 * run as `python3 -s -c RUNNER entry_point`, which
					 * answers on fd 4 (run_result.channel) */
	/* dependencies no installed package satisfies ("name>=1.0"), and the
	 * package set installed for them (packages.c) */
	char **missing;
	size_t n_missing;
	/* and those the installed packages satisfy, which a set may bring
	 * again as another's dependency: then the set's version is the one
	 * the run imports, and the one that must satisfy them */
	struct requirement *satisfied;
	size_t n_satisfied;
	char package_conflict[1024];	/* one the set's version does not satisfy, or "" */
	char package_path[160];		/* "/packages/KEY/site", or "": put on sys.path */
	char package_modules[4096];	/* its top-level modules, space-separated */
	/* The set provides a module an interpreter imports as it starts
	 * (install.py): only a run whose interpreter starts with the set on
	 * PYTHONPATH, in a sandbox of its own, imports the set's. */
	bool package_at_start;
	int package_lock;		/* held while the run uses the set, or -1 */
	/* The package installer's own run: a sandbox of its own, never
	 * pre-started or warm, with these options besides the service's. */
	bool install;
	const char *sandbox_extra[8];
	/* The health self-check's run (info.c): no one's run, so /metrics
	 * counts neither its start nor its end. */
	bool self_check;
};
void request_init(struct run_request *r);
void request_free(struct run_request *r);
/* Content-Type decides the mode; 0, or -1 with e filled in. */
int request_parse(const struct config *c, const char *content_type, const char *query,
		  const char *body, size_t len, struct run_request *r, struct http_error *e);
int request_parse_json(const struct config *c, const char *body, size_t len,
		       struct run_request *r, struct http_error *e);
int request_parse_raw(const struct config *c, const char *query, const char *body,
		      size_t len, struct run_request *r, struct http_error *e);
struct json_object;
/* The body as one JSON value (json-c, strict, UTF-8, depth-bounded, nothing
 * after it) in *value, which is NULL for the JSON null: 0; -1 with e filled
 * in (400, naming example) otherwise. The caller puts it.
 * request_json_object() wants an object. */
int request_json_value(const struct config *c, const char *body, size_t len, struct json_object **value,
		       const char *example, struct http_error *e);
struct json_object *request_json_object(const struct config *c, const char *body, size_t len,
					const char *example, struct http_error *e);
/* The text of a JSON string, or NULL for another type or a string holding
 * \u0000: json-c's C string ends there, so "numpy\u0000 @ URL" reads as
 * "numpy" and "2.0\u0000x" as "2.0". */
const char *request_json_text(struct json_object *v);
bool request_valid_context_name(const char *name, size_t len);
bool request_valid_file_path(const char *path, size_t len);

/* ---- stage.c ----------------------------------------------------------- */
int stage_create(const struct config *c, const struct run_request *r, char *dir, size_t dirlen,
		 struct http_error *e);
void stage_remove(const char *dir);
void stage_remove_leftovers(const char *dir, const char *what, pid_t pid);	/* pid 0: all */
int stage_make_root(const char *root, mode_t mode, char *failed, size_t len);
void stage_retry_removals(void);	/* after a request: what stage_remove could not */
/* fdopendir(FD), which then owns FD; NULL for FD < 0, or with FD closed
 * (where fdopendir leaves it open) and errno saying why. */
DIR *dir_stream(int fd);
int write_all(int fd, const void *data, size_t n);	/* 0, or -1 with errno */
/* write_all() on a non-blocking fd: each time it takes no more, ready(ctx)
 * waits until it does, or fails (false, errno set). */
int write_all_wait(int fd, const void *data, size_t n, bool (*ready)(void *ctx), void *ctx);

/* ---- run.c ------------------------------------------------------------- */
struct run_result {
	int exit_code, signal;
	bool timed_out, oom_killed;
	bool memory_starved;		/* killed for memory the host, not its limit, lacked */
	bool memory_error;		/* met RLIMIT_AS as a MemoryError (run.c) */
	long duration_ms, memory_peak_kb;
	struct buf out, err;
	bool out_truncated, err_truncated;
	struct buf channel;		/* what a runner wrote on fd 4 */
	bool channel_truncated;
	struct buf left_behind;		/* files the sandbox did not copy out, each '\0'-ended */
	size_t left_behind_unnamed;	/* and those it only counted */
	long wall_ms;			/* from spawn to exit, set-up and teardown included */
	char fault[512];		/* non-empty: the sandbox failed */
	int fault_errno;		/* when it could not even start: why */
	bool client_gone;		/* stopped: client_fd was hung up */
};
/* What a caller that tells its client how a long call goes (MCP's progress
 * notifications) is called with, about every interval_ms of it: of the
 * run, and of the waits before it (for a run slot, for another's install
 * of the same packages), one schedule for them all. */
struct run_progress {
	void (*tick)(void *arg);
	void *arg;
	int interval_ms;
	long long next_ms;	/* the next tick's time (now_ms()) */
};
/* Ticks P (NULL: none) if its time has come; the ms until it is due. */
long long run_progress_due(struct run_progress *p);
/* client_fd: the request's connection, whose hang-up stops the run; or -1.
 * progress: NULL, or ticked while the run goes on. */
void run_sandbox(const struct config *c, const char *dir, const struct run_request *r,
		 struct run_result *res, int client_fd, struct run_progress *progress);
void run_result_free(struct run_result *res);
unsigned run_memory_mb(unsigned asked);	/* asked, or the ceiling if lower */
enum run_outcome run_outcome(const struct run_result *res);

/* ---- start/: the ways a run starts (run.c chooses) --------------------- */
/* Each hands the run staged in dir to a sandbox and returns the fd its
 * report comes on (end of file there: the sandbox is done), with fds[] the
 * read ends of the script's stdout, stderr and fd 4 (-1 each when the
 * sandbox failed before the run: its report says why); or -1 with
 * res->fault and res->fault_errno set. */
/* claim.c: a sandbox waiting on the pool's socket, warm or pre-started. A
 * claim no sandbox took before the template ended (warm), or before the
 * pool could start no more (pre-started), or in UNTAKEN_MS, returns
 * START_UNTAKEN with res untouched: the run may start its own instead;
 * START_UNREAD if no sandbox read any of it either (none even took the
 * connection). */
#define START_UNTAKEN (-2)
#define START_UNREAD (-3)
int start_claimed(const char *dir, const struct run_request *r, bool warm, int fds[3],
		  struct run_result *res);
/* own.c: a sandbox of the run's own; *own is its pid (SIGTERM ends the
 * run), or -1. */
int start_own(const struct config *c, const char *dir, const struct run_request *r, int fds[3],
	      pid_t *own, struct run_result *res);

/* ---- script.c: one script from request to result ------------------------ */
/* Waits for a run slot, stages r into dir, runs it and frees the slot; the
 * caller reads dir (./output) and removes it with stage_remove(). 0 with res
 * filled in (res->fault set when the sandbox itself failed), or -1 with e
 * set when the script did not run: 503 (busy, or out of fds or memory) or
 * 507 (work_root full), each with Retry-After in ctx, or 500; or when no
 * one waits for its answer any more: 499 (the client hung up, and a run
 * under way was stopped). */
struct request_ctx;
int run_script(struct request_ctx *ctx, const struct run_request *r, struct run_result *res,
	       char *dir, size_t dirlen, struct http_error *e);

/* The run slot of a script, or of a package install: the slot, or -1 with
 * e set (503, and ctx gets Retry-After). Give it back with slots_release(). */
int run_slot_take(struct request_ctx *ctx, struct http_error *e);
/* A queue place for a wait that is not for a slot (an install of the same
 * packages by another worker): the place, or -1 with e set (503, and ctx
 * gets Retry-After). Give it back with slots_queue_leave(). */
int run_queue_enter(struct request_ctx *ctx, struct http_error *e);
/* Whether such a wait must end: -1 with e set (499 when the client has
 * gone, 503 when the service stops), else 0. */
int run_wait_ended(struct request_ctx *ctx, struct http_error *e);

/* ---- packages.c: dependencies installed on demand, cached ------------- */
/* Master, at start and reload: the cache's directories; at start, staging
 * emptied too. On failure, the caller turns installs off. */
int packages_init(const struct config *c, bool at_start, char *err, size_t errlen);
void packages_remove_leftovers(const struct config *c, pid_t worker);	/* a dead worker's installs */
/* r->missing installed (or found in the cache) and taken for the run:
 * r->package_path, package_modules, package_lock set, and the version each
 * got appended to r->packages. 0, or -1 with e set. */
int packages_prepare(struct request_ctx *ctx, const struct config *c, struct run_request *r,
		     struct http_error *e);
void packages_release(struct run_request *r);	/* request_free() does it */

/* ---- runners.c, generated from running/runners/ at build time ---------- */
extern const char runner_execute[];	/* POST /execute: calls main() */
extern const char runner_script[];	/* POST /run: names the exception and line */
extern const char runner_prestart[];	/* every run: the pre-started interpreter */
extern const char runner_install[];	/* a request's packages: pip, confined */

/* ---- pyrunner.c: POST /run's body ---------------------------------------- */
struct pyrunner_request {
	const char *code;		/* points into the returned tree */
	size_t code_len;
	long timeout, memory_limit;
};
/* The parsed body, with r filled in from it; every rule it breaks appended
 * to d as pydantic's "detail" entries (d empty: valid). NULL when the body is
 * not a JSON object. The caller puts the tree. */
struct json_object *pyrunner_parse(const struct config *c, const char *body, size_t len,
				   struct pyrunner_request *r, struct buf *d);

/* ---- json_check.c ------------------------------------------------------- */
/* True if s[0..n) is exactly one JSON value by RFC 8259 (valid UTF-8, no
 * NaN or Infinity, no raw control characters, no unpaired surrogate
 * escape), nested at most max_depth. */
bool json_check(const char *s, size_t n, unsigned max_depth);
/* The same, and *key_nul set if an object key holds \u0000 (json-c cuts
 * keys there: "a\u0000b" would pass for "a"). */
bool json_check_keys(const char *s, size_t n, unsigned max_depth, bool *key_nul);
/* At least as many as the values in the text s of n bytes, valid JSON or
 * not; *depth: the deepest nesting of its objects and arrays (as JSON). */
size_t json_count_values(const char *s, size_t n, unsigned *depth);
/* How many bytes of s[0..n) the JSON value at its start takes, white space
 * after it included; 0 if none is there. UTF-8 is not checked. */
size_t json_value_length(const char *s, size_t n, unsigned max_depth);

/* ---- artifacts.c ------------------------------------------------------- */
/* Appends the "artifacts" object body into json and names files left out in
 * omitted, the run's own (res) among them: those the sandbox did not copy
 * out. Returns how many more were left out past the names' room. */
size_t artifacts_collect(const char *output_dir, size_t cap, const struct run_result *res,
			 struct buf *json, struct buf *omitted);

/* ---- response.c -------------------------------------------------------- */
struct http_response {
	int status;
	const char *content_type;	/* NULL: application/json */
	char extra_headers[4096];	/* "Name: value\r\n"..., or "" */
	struct buf body;
	bool streamed;			/* its head is sent: body is its last part */
	size_t streamed_bytes;		/* and the parts before it, for the log */
};
const char *http_reason(int status);
/* {"error": ..., "exit_code": -1, "stdout": "", "stderr": ..., "artifacts": {}[, "warnings": [...]]} */
void response_error(struct http_response *rsp, int status, const char *message, const struct buf *warnings);
/* {"detail": ...} */
void response_detail(struct http_response *rsp, int status, const char *message);
/* An error in the shape of the endpoint at PATH (/run's, /mcp's, or the above). */
void response_error_at(struct http_response *rsp, const char *path, int status, const char *message);
/* An answer sent in parts as it is made (an event stream): a 200's head
 * now, without Content-Length, then each part at once; what is in the
 * body when the handler returns is the last. */
struct request_ctx;
void response_stream_start(struct request_ctx *ctx, const char *content_type);
void response_stream_put(struct request_ctx *ctx, const char *data, size_t len);
struct FCGX_Stream;
/* Writes status, headers and body; returns the bytes written. */
size_t response_send(struct FCGX_Stream *out, const char *request_id, const struct http_response *rsp);

/* ---- router.c / handlers ---------------------------------------------- */
struct request_ctx {
	const char *method, *path, *query, *content_type, *request_id;
	const char *host, *origin;	/* the Host and Origin headers, or NULL */
	const char *mcp_version;	/* MCP-Protocol-Version, or NULL */
	const char *authorization, *api_key;	/* Authorization, X-API-Key, or NULL */
	long long content_length;	/* -1 when not given */
	const char *accept;		/* the Accept header, or NULL */
	struct FCGX_Stream *in, *out;
	int client_fd;			/* the request's connection from nginx */
	struct run_progress *progress;	/* set by a dialect that streams it, or NULL */
	char *body;			/* read by the handler that wants it */
	size_t body_len;
	int endpoint;			/* route_endpoint(path), for metrics */
	struct http_response rsp;
	struct request_log log;
};
/* Reads the body into ctx->body, at most max bytes; 0, or -1 with e set. */
int request_body(struct request_ctx *ctx, size_t max, struct http_error *e);
typedef void handler_fn(struct request_ctx *ctx);
void route(struct request_ctx *ctx);
/* The routed paths, numbered 0..n-1, and n for any other: metrics' labels. */
int route_endpoint(const char *path);
const char *route_endpoint_name(int endpoint);	/* "other" for n; NULL past it */
handler_fn api_run;		/* api_run.c */
handler_fn api_pyrunner;	/* pyrunner.c */
handler_fn api_execute;		/* execute.c */
/* How deep main()'s value may be: deeper than Python's json.dumps can go
 * with its default recursion limit. */
#define EXECUTE_RESULT_MAX_DEPTH 1000
handler_fn api_info, api_health;	/* info.c */
handler_fn api_metrics;		/* metrics.c */
handler_fn api_mcp;		/* mcp.c */
handler_fn api_openapi;		/* openapi.c */
extern const char doc_openapi[];	/* fcgi/openapi.json, built in */
/* A JSON-RPC error as the whole answer; id may be NULL. */
void mcp_error(struct request_ctx *ctx, int status, struct json_object *id, int code, const char *message);

/* ---- access.c: who may call ------------------------------------------- */
/* Whether a Host header's name, or an Origin's, is one of allowed_hosts
 * (any port). */
bool access_host_allowed(const struct config *c, const char *host);
bool access_origin_allowed(const struct config *c, const char *origin);
/* Reads api_keys_file into c->api_keys: a line is a key, or sha256:HEX of
 * one; blank lines and # comments are skipped. */
int access_load_keys(struct config *c, char *err, size_t errlen);
/* Whether a request with these headers may run code: no keys are asked
 * for, or it carries one (Authorization: Bearer KEY, or X-API-Key: KEY). */
bool access_key_valid(const struct config *c, const char *authorization, const char *api_key);

/* ---- sha256.c ---------------------------------------------------------- */
void sha256(const void *data, size_t len, unsigned char out[32]);

/* ---- info.c: the sandbox self-check behind /health --------------------- */
#define HEALTH_TIMEOUT_S 10
#define HEALTH_MEMORY_MB 256
void health_init(void);			/* master, before the first fork */
void health_release_pid(pid_t pid);	/* master: a worker died mid-check */

/* ---- worker.c / master.c ---------------------------------------------- */
_Noreturn void worker_main(int listen_fd, pid_t master);
/* Holds a worker's stop signals off (or lets them through again) while it
 * reads or writes its connection, which a signal would cut short. */
void worker_hold_stop_signals(bool hold);
/* fd: the connection an answer is written to, shut if the answer is not
 * taken within fcgi_timeout_s; -1: written. */
void worker_answer_deadline(int fd);
/* FCGX_Accept_r() on req (made with no socket of its own) for the kept
 * connection, or one accepted from listen_fd: every read and write of it
 * waits at most timeout_s. 0, -errno of accept (-EAGAIN: none waiting), or
 * -ECONNABORTED: that connection brought no request. */
struct FCGX_Request;
int fcgi_accept(struct FCGX_Request *req, int listen_fd, unsigned timeout_s);
/* The request's id: given (REQUEST_ID, from nginx) when it is one, else a
 * new one written into own (at least 33 bytes). */
const char *request_id(const char *given, char *own, size_t len);
/* The request's path, from its FastCGI parameters. */
const char *request_path(char **envp);
int master_main(int listen_fd);
/* The signals the master takes on its signalfd, blocked (from start-up on). */
void master_block_signals(void);
bool worker_service_stopping(void);	/* SIGTERM: the service stops, runs not begun give up */

#endif
