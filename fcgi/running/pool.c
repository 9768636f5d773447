/* pool.c — the pre-started sandboxes, kept by the master.
 *
 * Most of a short run's time is the sandbox's set-up and the interpreter's
 * start, and neither depends on the run. So the master keeps `prestarted`
 * sandboxes built, each with runners/prestart.py started inside and waiting
 * (coderunner-sandbox --accept-fd), all accepting on one unix socket in
 * work_root. A worker with a run connects (start/claim.c); one of the waiting
 * sandboxes takes it, tells the master so (its pid, as a datagram on its
 * stdout), runs it and exits. The master starts another at once, so that
 * `prestarted` are always built or being built while runs go on. No sandbox
 * serves two runs. When none takes a run in time (stopped, or hung), each
 * waiting one is killed and so replaced (pool_stuck()).
 *
 * With a preload list (the default), the pool is one coderunner-template
 * instead: it imports the list once and keeps `prestarted` sandboxes forked
 * from itself waiting on the same socket, so that a run starts with
 * numpy, pandas and matplotlib already imported. It says "warm PID" on
 * our notify socket once they wait; until then, and whenever it is gone
 * (it is restarted, no more than once in TEMPLATE_RETRY_S), runs start
 * sandboxes of their own, cold (start/own.c), and never wait for it. One
 * that lives but takes no run (pool_stuck()) is killed and so replaced.
 *
 * A reload makes a new socket at the same path for sandboxes of the new
 * configuration, and retires the old ones with SIGHUP: an idle one serves
 * a connection that was already queued and otherwise exits, a template
 * retires its idle sandboxes and exits once its runs are done; a sandbox
 * already claimed is left alone, to finish its run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

#define TEMPLATE_RETRY_S 10

struct member {
	pid_t pid;
	unsigned generation;
	bool claimed;		/* a run took it: it counts no longer */
	bool is_template;
};

/* What the workers read: whether runs start warm. */
struct pool_shared {
	_Atomic pid_t template;	/* a template that said it is warm, or 0 */
	char imported[8192];	/* " name name ... ": the top-level modules it imported */
	_Atomic bool cannot_start;	/* the last sandbox could not even be run */
	_Atomic unsigned generation;	/* of the configuration the pool's sandboxes have */
	_Atomic pid_t stuck;	/* a template a worker found took no run: to be killed
				 * (-1: the pre-started sandboxes) */
	_Atomic long long taken_ms;	/* when a sandbox of the template last took a run */
};
static struct pool_shared *shared;
static long long template_started_ms;

static struct member members[2 * MAX_PRESTARTED];
static unsigned n_members, generation;
static int listen_fd = -1;
static int notify[2] = { -1, -1 };	/* [0] ours, [1] the sandboxes' stdout */
static bool cannot_start;	/* the last one could not even be run, or ended unclaimed */
static bool said_ends_unclaimed;	/* the log says so, and no run has claimed one since */
static long long last_spawn_ms;

/* A new socket for the pool, listening at its path + ".new", or -1 with
 * err: nothing is changed until move_socket() puts it in place. Binding
 * takes an inode in work_root, which a full file system may not have. */
static int bind_socket(const struct config *c, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(addr.sun_path, sizeof addr.sun_path, "%s/sandbox.sock.new", c->work_root) >=
	    sizeof addr.sun_path) {
		snprintf(err, errlen, "work_root %s is too long for a unix socket path", c->work_root);
		return -1;
	}
	const char *what = "socket";
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	what = "unlink";
	if (unlink(addr.sun_path) < 0 && errno != ENOENT)
		goto fail;
	what = "bind";
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
		goto fail;
	what = "listen";
	if (listen(fd, SOMAXCONN) < 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "%s %s: %s", what, addr.sun_path, strerror(errno));
	if (fd >= 0) {
		close(fd);
		unlink(addr.sun_path);
	}
	return -1;
}

/* Renames the socket bind_socket() made over the pool's path: a connect()
 * at any moment finds one socket or the other, never none. 0, or -1 with
 * err and the new socket gone. */
static int move_socket(const struct config *c, int fd, char *err, size_t errlen)
{
	char path[sizeof service.pool_path], bound[sizeof path + 4];
	/* Never too long: bind_socket() bound the longer one. */
	if ((size_t)snprintf(path, sizeof path, "%s/sandbox.sock", c->work_root) >= sizeof path)
		die("work_root %s is too long for a unix socket path", c->work_root);
	snprintf(bound, sizeof bound, "%s.new", path);
	if (rename(bound, path) < 0) {
		snprintf(err, errlen, "rename %s: %s", bound, strerror(errno));
		close(fd);
		unlink(bound);
		return -1;
	}
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = fd;
	snprintf(service.pool_path, sizeof service.pool_path, "%s", path);
	return 0;
}

/* The start of a coderunner-sandbox command line with the service's limits
 * and the given timeout and memory limit; returns the next argv index. */
int sandbox_argv(const struct config *c, struct sandbox_command *cmd, unsigned timeout_ms,
		 unsigned memory_mb)
{
	static const char *const names[7] = {
		"--timeout", "--memory", "--pids", "--fsize", "--nofile", "--tmp-size", "--work-size",
	};
	const unsigned values[7] = {
		timeout_ms, memory_mb, c->pids, c->fsize_mb, c->nofile, c->tmp_size_mb, c->work_size_mb,
	};
	int a = 0;
	cmd->argv[a++] = (char *)c->sandbox;
	for (int i = 0; i < 7; i++) {
		if (i == 0)
			snprintf(cmd->num[i], sizeof cmd->num[i], "%u.%03u", values[i] / 1000, values[i] % 1000);
		else
			snprintf(cmd->num[i], sizeof cmd->num[i], "%u", values[i]);
		cmd->argv[a++] = (char *)names[i];
		cmd->argv[a++] = cmd->num[i];
	}
	snprintf(cmd->uid_range, sizeof cmd->uid_range, "%u-%u", c->uid_first, c->uid_last);
	snprintf(cmd->uid_lock, sizeof cmd->uid_lock, "%s/uids.lock", c->work_root);
	cmd->argv[a++] = "--uid-range";
	cmd->argv[a++] = cmd->uid_range;
	cmd->argv[a++] = "--uid-lock";
	cmd->argv[a++] = cmd->uid_lock;
	if (service.cgroup_dir[0]) {
		cmd->argv[a++] = "--cgroup";
		cmd->argv[a++] = service.cgroup_dir;
	}
	/* Every sandbox sees the installed package sets (packages.c), so that
	 * a warm or pre-started one can take a run that brings a set. */
	if (config_installs(c)) {
		snprintf(cmd->packages, sizeof cmd->packages, "%s/sets:/packages", c->package_cache);
		cmd->argv[a++] = "--ro-bind";
		cmd->argv[a++] = cmd->packages;
	}
	return a;
}

/* posix_spawn() of coderunner-sandbox with every signal at its default and
 * none blocked, whatever the caller (the master, a worker) has set; 0 or
 * an errno. It shares our memory until the exec, like vfork(), and reports
 * an exec that failed. */
int sandbox_spawn(const char *path, const posix_spawn_file_actions_t *fa, char **argv, char **envp,
		  pid_t *pid)
{
	posix_spawnattr_t attr;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	int rc = posix_spawn(pid, path, fa, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	return rc;
}

/* A pre-started sandbox: its limits are the most any run may ask for;
 * each run sets its own timeout and memory limit when it claims it. */
static void sandbox_command(const struct config *c, struct sandbox_command *cmd)
{
	unsigned max_timeout = c->timeout_max_s > c->execute_timeout_s ? c->timeout_max_s : c->execute_timeout_s;
	unsigned max_memory = c->memory_max_mb > c->execute_memory_mb ? c->memory_max_mb : c->execute_memory_mb;
	if (max_timeout < HEALTH_TIMEOUT_S)
		max_timeout = HEALTH_TIMEOUT_S;
	if (max_memory < HEALTH_MEMORY_MB)
		max_memory = HEALTH_MEMORY_MB;
	max_memory = run_memory_mb(max_memory);
	int a = sandbox_argv(c, cmd, max_timeout * 1000, max_memory);
	char **argv = cmd->argv;
	argv[a++] = "--accept-fd"; argv[a++] = "3";
	argv[a++] = "--";
	argv[a++] = (char *)c->python;
	argv[a++] = "-s";	/* why not -I: see start/own.c */
	argv[a++] = "-c";
	argv[a++] = (char *)runner_prestart;
	argv[a] = NULL;
}

/* The template's command line: its own options, then a pre-started
 * sandbox's options and command. */
static void template_command(const struct config *c, struct sandbox_command *cmd)
{
	sandbox_command(c, cmd);
	int n = 0, own = strcmp(c->template_cache, "none") ? 9 : 7;
	while (cmd->argv[n])
		n++;
	memmove(cmd->argv + own, cmd->argv + 1, (size_t)n * sizeof *cmd->argv);	/* with the NULL */
	snprintf(cmd->prestart, sizeof cmd->prestart, "%u", c->prestarted);
	cmd->argv[0] = (char *)c->template_bin;
	cmd->argv[1] = "--preload";
	cmd->argv[2] = (char *)c->preload;
	cmd->argv[3] = "--prestart";
	cmd->argv[4] = cmd->prestart;
	cmd->argv[5] = "--sandbox";	/* which starts each pre-started sandbox */
	cmd->argv[6] = (char *)c->sandbox;
	if (own == 9) {
		cmd->argv[7] = "--cache";
		cmd->argv[8] = (char *)c->template_cache;
	}
}

/* Starts a pre-started sandbox (or the template) on the listening socket,
 * with our notify socket as its stdout; stderr stays ours (the log). 0 or
 * an errno. */
static int spawn_sandbox(const struct config *c, int socket, int out, pid_t *pid, bool is_template)
{
	struct sandbox_command cmd;
	if (is_template)
		template_command(c, &cmd);
	else
		sandbox_command(c, &cmd);
	char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, socket, 3);
	posix_spawn_file_actions_addclosefrom_np(&fa, 4);
	int rc = sandbox_spawn(is_template ? c->template_bin : c->sandbox, &fa, cmd.argv, envp, pid);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

static void spawn(const struct config *c, bool is_template)
{
	pid_t pid;
	const char *what = is_template ? c->template_bin : c->sandbox;
	int rc = spawn_sandbox(c, listen_fd, notify[1], &pid, is_template);
	last_spawn_ms = now_ms();
	if (is_template)	/* one that could not even be run too: no retry storm */
		template_started_ms = last_spawn_ms;
	if (rc != 0 && is_template)
		log_msg("cannot run %s: %s; runs start cold, and it is tried again in %d s", what,
			strerror(rc), TEMPLATE_RETRY_S);
	else if (rc != 0 && !cannot_start)
		log_msg("cannot run %s: %s; trying again every second", what, strerror(rc));
	cannot_start = rc != 0;
	if (!is_template)
		atomic_store(&shared->cannot_start, cannot_start);
	if (rc == 0) {
		members[n_members++] = (struct member){ pid, generation, false, is_template };
		if (is_template) {
			log_msg("template %d: importing %s; runs start cold until it is warm", (int)pid,
				c->preload);
		}
	}
}

void pool_start(const struct config *c)
{
	shared = xshared(sizeof *shared);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, notify) < 0 ||
	    fcntl(notify[0], F_SETFL, O_NONBLOCK) < 0)
		die_errno("socketpair");
	char err[512];
	int fd = bind_socket(c, err, sizeof err);
	if (fd < 0 || move_socket(c, fd, err, sizeof err) < 0)
		die("%s", err);
	pool_fill(c);
}

int pool_notify_fd(void)
{
	return notify[0];
}

bool pool_warm(void)
{
	return shared && atomic_load(&shared->template) != 0;
}

/* A worker keeps the generation it was forked with, and its config. */
bool pool_ours(void)
{
	return shared && atomic_load(&shared->generation) == generation;
}

bool pool_can_start(void)
{
	return shared && !atomic_load(&shared->cannot_start);
}

pid_t pool_template(void)
{
	return shared ? atomic_load(&shared->template) : 0;
}

bool pool_imports_any(const char *names)
{
	if (!pool_warm())
		return false;
	if (!strcmp(names, "*"))	/* too many to name: any could be one */
		return true;
	char word[260];
	for (const char *p = names; *p;) {
		size_t n = strcspn(p, " ");
		if (n && n < sizeof word - 2) {
			snprintf(word, sizeof word, " %.*s ", (int)n, p);
			if (strstr(shared->imported, word))
				return true;
		}
		p += n + (p[n] == ' ');
	}
	return false;
}

void pool_taken(void)
{
	atomic_store(&shared->taken_ms, now_ms());
}

/* A warm claim that no sandbox took, or even read, in UNTAKEN_MS, while
 * the template that said it was warm still lives, and no sandbox of it
 * took any other run meanwhile: it is stuck (stopped, or hung), not slow
 * to replace its sandboxes in a burst, and would hold every later warm
 * run for the same wait. From now on runs start cold, and the master
 * kills it (pool_fill()), after which it is replaced as after any end.
 * Nothing is done if another template has taken its place since.
 * So too for the pre-started sandboxes (template 0): each waiting one is
 * killed, and replaced as after any end. */
bool pool_stuck(pid_t template, long long since)
{
	pid_t expect = template;
	if (atomic_load(&shared->taken_ms) >= since)
		return false;
	if (template == 0) {
		expect = 0;
		return atomic_compare_exchange_strong(&shared->stuck, &expect, -1);
	}
	if (template < 0 || !atomic_compare_exchange_strong(&shared->template, &expect, 0))
		return false;
	atomic_store(&shared->stuck, template);
	return true;
}

void pool_read_claims(void)
{
	char msg[sizeof shared->imported + 32];
	ssize_t n;
	while ((n = recv(notify[0], msg, sizeof msg - 1, 0)) > 0) {
		msg[n] = '\0';
		bool warm = strncmp(msg, "warm ", 5) == 0;
		pid_t pid = (pid_t)atoi(warm ? msg + 5 : msg);
		for (unsigned i = 0; i < n_members; i++) {
			if (members[i].pid != pid)
				continue;
			if (warm && members[i].is_template && members[i].generation == generation) {
				const char *names = strchr(msg + 5, ' ');
				snprintf(shared->imported, sizeof shared->imported, " %.*s ",
					 names ? (int)strcspn(names + 1, "\n") : 0, names ? names + 1 : "");
				atomic_store(&shared->template, pid);
				log_msg("template %d: warm; runs start from it", (int)pid);
			} else if (!warm) {
				members[i].claimed = true;
				said_ends_unclaimed = false;
			}
		}
	}
}

void pool_fill(const struct config *c)
{
	/* Still a member, the stuck template is not reaped: the pid is its. */
	pid_t stuck = atomic_exchange(&shared->stuck, 0);
	for (unsigned i = 0; stuck && i < n_members; i++) {
		struct member *m = &members[i];
		if (stuck > 0 ? m->pid == stuck && m->is_template :
		    !m->is_template && !m->claimed && m->generation == generation) {
			log_msg("%s %d took no run in time: killed, to be replaced",
				m->is_template ? "template" : "pre-started sandbox", (int)m->pid);
			if (kill(m->pid, SIGKILL) < 0)
				log_msg("kill %d: %s", (int)m->pid, strerror(errno));
		}
	}
	unsigned current = 0;
	for (unsigned i = 0; i < n_members; i++)
		current += members[i].generation == generation && !members[i].claimed;
	if (config_template(c)) {
		/* One template; one that failed is tried again only later, and
		 * meanwhile runs start cold. */
		if (current == 0 && n_members < sizeof members / sizeof *members &&
		    (!template_started_ms || now_ms() - template_started_ms > TEMPLATE_RETRY_S * 1000))
			spawn(c, true);
		return;
	}
	while (current < c->prestarted && n_members < sizeof members / sizeof *members) {
		/* A sandbox that cannot even be run (a wrong path), or that
		 * ends before any run took it (a wrong program, a library
		 * missing), is tried once a second, not in a fork storm. One
		 * whose set-up fails waits for a run to tell it why. */
		if (cannot_start && now_ms() - last_spawn_ms < 1000)
			return;
		spawn(c, false);
		current++;
	}
}

bool pool_reaped(pid_t pid, int status, bool stopping)
{
	for (unsigned i = 0; i < n_members; i++)
		if (members[i].pid == pid) {
			if (members[i].is_template) {
				pid_t expect = pid;
				atomic_compare_exchange_strong(&shared->template, &expect, 0);
				if (members[i].generation == generation)
					log_msg("template %d ended (%s %d); runs start cold until another is warm",
						(int)pid, WIFSIGNALED(status) ? "signal" : "status",
						WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			} else if (WIFSIGNALED(status)) {
				log_msg("sandbox %d killed by signal %d", (int)pid, WTERMSIG(status));
			} else if (!members[i].claimed && members[i].generation == generation && !stopping) {
				/* Not retired (another generation's) nor stopped:
				 * it cannot serve. Runs start their own meanwhile,
				 * which fail saying why. */
				if (!said_ends_unclaimed)
					log_msg("sandbox %d ended with status %d before any run took it; runs start "
						"sandboxes of their own, and it is tried again every second",
						(int)pid, WEXITSTATUS(status));
				said_ends_unclaimed = true;
				cannot_start = true;
				atomic_store(&shared->cannot_start, true);
			}
			members[i] = members[--n_members];
			return true;
		}
	return false;
}

int pool_reload_socket(const struct config *c, char *err, size_t errlen)
{
	int fd = bind_socket(c, err, errlen);
	if (fd < 0)
		return -1;
	/* Before the new socket is found: a worker of the old configuration
	 * must not claim a sandbox of the new one. */
	generation++;
	atomic_store(&shared->generation, generation);
	if (move_socket(c, fd, err, errlen) < 0) {
		generation--;
		atomic_store(&shared->generation, generation);
		return -1;
	}
	return 0;
}

void pool_reload(const struct config *c)
{
	atomic_store(&shared->template, 0);	/* until the new one is warm */
	template_started_ms = 0;
	/* A claimed sandbox is left to finish its run: SIGHUP would end it. */
	for (unsigned i = 0; i < n_members; i++)
		if (members[i].generation != generation && !members[i].claimed)
			kill(members[i].pid, SIGHUP);
	pool_fill(c);
}

unsigned pool_stop(int sig)
{
	for (unsigned i = 0; i < n_members; i++)
		kill(members[i].pid, sig);
	if (listen_fd >= 0) {
		close(listen_fd);
		listen_fd = -1;
		unlink(service.pool_path);
	}
	return n_members;
}

void pool_close_in_worker(void)
{
	close(listen_fd);
	close(notify[0]);
	close(notify[1]);
	listen_fd = notify[0] = notify[1] = -1;
}
