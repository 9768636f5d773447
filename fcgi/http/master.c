/* master.c — keep the pool of workers, and stop or reload on a signal.
 *
 * The master never handles a request. It waits for signals on a signalfd
 * (no handlers, so no races with the loop) and for the pre-started sandboxes'
 * word that a run took one, which then is replaced at once (pool.c):
 *   SIGCHLD  reap; free what a dead worker held (run slot, queue place,
 *            staged directories, a health check in progress); count and
 *            respawn it unless stopping or it was retiring; remove the run
 *            cgroup of a sandbox that was killed (cgroup.c);
 *   SIGHUP   re-read the config; if it is valid, replace the workers one by
 *            one (each finishes its request first) so they pick it up;
 *   SIGTERM, SIGINT  stop: the socket's path goes first, so that nginx
 *            finds no service there and says so at once (the snippet's
 *            503 with Retry-After: a front end sends the request to
 *            another host) rather than queueing it where no one will take
 *            it; workers finish in-flight runs, bounded by drain_timeout_s,
 *            after which they are killed; then the idle pre-started
 *            sandboxes go.
 * It is also a child subreaper, so whatever a dying child leaves behind is
 * reaped here rather than by init.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcgiapp.h>

#include "fcgi/fcgi.h"

struct worker {
	pid_t pid;
	bool retiring;		/* asked to stop after a reload */
};

static struct worker pool[MAX_WORKERS];
static unsigned n_pool;
/* Workers that ended unasked, counted until a second passes without one:
 * a config or library that kills each at once must not become a fork
 * storm. Those a reload retires are not counted, so reloads in quick
 * succession are each replaced in full. */
static unsigned recent_deaths;
static long long last_death;
static int listen_fd, sigfd = -1;
static sigset_t handled;

static void spawn(void)
{
	pid_t master = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		log_msg("cannot fork a worker: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(sigfd);
		worker_main(listen_fd, master);
	}
	pool[n_pool++] = (struct worker){ .pid = pid };
}

static unsigned active(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < n_pool; i++)
		n += !pool[i].retiring;
	return n;
}

/* Reaps every child that ended: a worker, a sandbox of the pool, an orphan. */
static void reap(bool stopping)
{
	int status;
	pid_t pid;
	/* A sandbox says it was claimed before its run, and may have ended
	 * since: read what it said first. */
	pool_read_claims();
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (WIFSIGNALED(status))
			cgroup_killed(pid);
		if (pool_reaped(pid, status, stopping))
			continue;
		unsigned i;
		for (i = 0; i < n_pool && pool[i].pid != pid; i++)
			;
		if (i == n_pool)
			continue;	/* an orphan we adopted */
		bool retiring = pool[i].retiring;
		pool[i] = pool[--n_pool];
		slots_release_pid(pid);
		health_release_pid(pid);
		stage_remove_leftovers(service.cfg.work_root, "run", pid);
		packages_remove_leftovers(&service.cfg, pid);
		if (!retiring && !stopping) {
			metrics_worker_restart();
			long long now = now_ms();
			if (now - last_death > 1000)
				recent_deaths = 0;
			recent_deaths++;
			last_death = now;
		}
		if (WIFSIGNALED(status))
			log_msg("worker %d killed by signal %d%s", (int)pid, WTERMSIG(status),
				stopping ? "" : "; starting another");
		else if (WEXITSTATUS(status) != 0)
			log_msg("worker %d exited with status %d%s", (int)pid, WEXITSTATUS(status),
				stopping ? "" : "; starting another");
	}
}

/* The listening socket's path, unlinked: no connection can arrive from now
 * on. One that was queued and is never taken is reset when we are gone,
 * and nginx, finding no socket, answers it as it answers the next ones. */
static void unlink_socket_path(void)
{
	struct sockaddr_un addr;
	socklen_t len = sizeof addr;
	if (getsockname(listen_fd, (struct sockaddr *)&addr, &len) < 0 || addr.sun_family != AF_UNIX ||
	    len <= offsetof(struct sockaddr_un, sun_path) || addr.sun_path[0] == '\0')
		return;	/* not a named unix socket: nothing to take away */
	addr.sun_path[sizeof addr.sun_path - 1] = '\0';
	if (unlink(addr.sun_path) < 0 && errno != ENOENT)
		log_msg("cannot remove %s: %s; new requests will wait until we are gone", addr.sun_path,
			strerror(errno));
}

static void signal_all(int sig)
{
	for (unsigned i = 0; i < n_pool; i++)
		kill(pool[i].pid, sig);
}

static void reload(void)
{
	struct config next;
	char err[1024];
	/* A file that start-up needed is needed here too: gone (moved away
	 * while edited, a typo in a drop-in's --config), it must not become
	 * the built-in defaults, which drop api_keys_file and every limit. */
	if (config_load(&next, service.config_path, service.config_must_exist, err, sizeof err) < 0 ||
	    config_check_run_uids(&next, err, sizeof err) < 0 ||
	    config_check_limits(&next, err, sizeof err) < 0 ||
	    config_check_programs(&next, err, sizeof err) < 0) {
		log_msg("SIGHUP: keeping the running configuration: %s", err);
		return;
	}
	/* The runs under way, the uid locks every sandbox takes (one file
	 * for all generations, or two runs could share a uid) and what a dead
	 * worker leaves are under the work_root the service started with; and
	 * a new one that cannot hold the pool's socket would end the service. */
	if (strcmp(next.work_root, service.cfg.work_root) != 0) {
		log_msg("SIGHUP: keeping the running configuration: work_root cannot change without a "
			"restart (%s, not %s)", service.cfg.work_root, next.work_root);
		return;
	}
	/* The cgroup decision is made once, at start (main.c): a reload
	 * that took the new value would say "reloaded" while the runs stay
	 * as they were. */
	if (next.cgroup != service.cfg.cgroup) {
		log_msg("SIGHUP: keeping the running configuration: cgroup cannot change without a "
			"restart (%s, not %s)", service.cfg.cgroup == CGROUP_OFF ? "off" : "auto",
			next.cgroup == CGROUP_OFF ? "off" : "auto");
		return;
	}
	char failed[4096];
	if (stage_make_root(next.work_root, 0700, failed, sizeof failed) < 0) {
		log_msg("SIGHUP: keeping the running configuration: work_root: cannot create %s: %s", failed,
			strerror(errno));
		return;
	}
	/* The last step that can fail, before anything of the reload is in
	 * force (deps_load() sets the list of packages): a work_root with no
	 * inode left for the sandboxes' new socket. */
	if (pool_reload_socket(&next, err, sizeof err) < 0) {
		log_msg("SIGHUP: keeping the running configuration: the sandboxes' socket: %s", err);
		return;
	}
	if (packages_init(&next, false, err, sizeof err) < 0) {
		log_msg("SIGHUP: %s; dependencies will not be installed", err);
		strcpy(next.package_index_url, "none");
		strcpy(next.package_find_links, "none");
	}
	if (deps_load(&next, err, sizeof err) < 0)
		log_msg("SIGHUP: %s; dependencies will be refused", err);
	service.cfg = next;
	/* A template's memory is set aside from what a run may have: a reload
	 * that starts or ends one moves the ceiling the new workers enforce. */
	service.memory_ceiling_mb = cgroup_memory_ceiling(service.cgroup_dir, config_template(&service.cfg));
	pool_reload(&service.cfg);
	/* Those a reload before retired are being replaced already. */
	unsigned replacing = 0;
	for (unsigned i = 0; i < n_pool; i++) {
		replacing += !pool[i].retiring;
		pool[i].retiring = true;
		kill(pool[i].pid, SIGUSR1);	/* finish what you took, take nothing new */
	}
	log_msg("SIGHUP: configuration %s reloaded; replacing %u workers", service.config_path, replacing);
	if (config_check_timeouts(&service.cfg, err, sizeof err) < 0)
		log_msg("warning: %s", err);
}

/* Connections nginx made before the socket's path went away wait in the
 * backlog, and no worker takes them any more (idle ones have gone, busy ones
 * leave after their request): they would wait for the last run in flight.
 * Each is answered now, as a worker would, with a 503 and Retry-After:
 * nothing ran, so a front end sends it to another host. (Closed without an
 * answer, it would be a connection lost, which nginx must take for a run
 * that may have started.) The socket is non-blocking from the stop on, so
 * an empty backlog ends this; nginx sends a request's parameters as it
 * connects, and a connection that sends none is dropped. At most
 * REFUSE_AT_ONCE per call, or for REFUSE_FOR_MS, and true once the backlog
 * is empty: a TCP listener has no path to take away, and while nginx keeps
 * connecting the backlog never empties, so the master would answer 503s
 * for as long as the load lasts and never get back to reaping its workers,
 * to drain_timeout_s or to its own exit. */
/* How long a stop answers the backlog once its runs are done. */
#define BACKLOG_GRACE_MS 1000
#define REFUSE_AT_ONCE 64
#define REFUSE_FOR_MS 200
static bool refuse_backlog(void)
{
	static FCGX_Request req;
	static bool ready;
	if (!ready) {
		if (FCGX_Init() != 0 || FCGX_InitRequest(&req, -1, 0) != 0)
			die("FCGX_InitRequest failed");
		ready = true;
	}
	/* A connection that brings no request within 2 s is not nginx's,
	 * which sends one as it connects: it is dropped, and the next taken. */
	long long until = now_ms() + REFUSE_FOR_MS;
	for (int n = 0; n < REFUSE_AT_ONCE && now_ms() < until; n++) {
		int rc = fcgi_accept(&req, listen_fd, 2);
		if (rc == -ECONNABORTED)
			continue;
		if (rc < 0)
			return true;	/* EAGAIN: the backlog is empty */
		char own[40];
		const char *id = request_id(FCGX_GetParam("REQUEST_ID", req.envp), own, sizeof own);
		struct http_response rsp = { 0 };
		response_error_at(&rsp, request_path(req.envp), 503,
				  "the coderunner service is stopping; retry in a moment");
		snprintf(rsp.extra_headers, sizeof rsp.extra_headers, "Retry-After: %u\r\n",
			 service.cfg.retry_after_s);
		response_send(req.out, id, &rsp);
		buf_free(&rsp.body);
		log_msg("request_id=%s: refused, the service is stopping", id);
		/* Never kept (FCGI_KEEP_CONN): the next accept would wait on it. */
		req.keepConnection = 0;
		FCGX_Finish_r(&req);	/* frees the parameters, id among them */
	}
	return false;
}

void master_block_signals(void)
{
	sigemptyset(&handled);
	sigaddset(&handled, SIGCHLD);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &handled, NULL) < 0)
		die_errno("sigprocmask");
}

int master_main(int fd)
{
	listen_fd = fd;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		die_errno("prctl PR_SET_CHILD_SUBREAPER");
	master_block_signals();
	sigfd = signalfd(-1, &handled, SFD_CLOEXEC);
	if (sigfd < 0)
		die_errno("signalfd");
	/* A reload's SIGUSR1 may reach a worker forked a moment before, not
	 * yet with its handler: blocked from the fork, it waits for it. (The
	 * sandboxes we spawn get an empty mask; workers set theirs.) */
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &usr1, NULL) < 0)
		die_errno("sigprocmask");
	struct sigaction ign = { .sa_handler = SIG_IGN };
	sigaction(SIGPIPE, &ign, NULL);

	bool stopping = false, backlog_empty = true, overdue = false;
	long long deadline = 0, workers_gone = 0;
	for (;;) {
		/* Keep the pool full, but a worker that dies at once (a broken
		 * config, a missing library) must not become a fork storm. */
		if (now_ms() - last_death > 1000)
			recent_deaths = 0;
		while (!stopping && active() < service.cfg.workers && n_pool < MAX_WORKERS &&
		       recent_deaths < 2 * service.cfg.workers + 10)
			spawn();
		if (!stopping)
			pool_fill(&service.cfg);
		/* The workers are gone, and with them every client of a sandbox:
		 * the pool is told to stop, and past drain_timeout_s killed, as
		 * the workers were (a template stopped or stuck would not end).
		 * What waits in the backlog is answered first, for
		 * BACKLOG_GRACE_MS at most: a TCP listener has no path to take
		 * away, and nginx connects for as long as it has requests. Once
		 * we are gone its connect() is refused, which it knows reached
		 * no one. */
		if (stopping && n_pool == 0) {
			if (!workers_gone)
				workers_gone = now_ms();
			if (pool_stop(overdue ? SIGKILL : SIGTERM) == 0 &&
			    (backlog_empty || now_ms() - workers_gone >= BACKLOG_GRACE_MS))
				break;
		}
		struct pollfd fds[3] = { { sigfd, POLLIN, 0 }, { pool_notify_fd(), POLLIN, 0 },
					 { stopping ? listen_fd : -1, POLLIN, 0 } };
		if (poll(fds, 3, 200) < 0 && errno != EINTR)
			die_errno("poll");
		if (fds[1].revents)
			pool_read_claims();
		backlog_empty = !fds[2].revents || refuse_backlog();
		struct signalfd_siginfo si;
		int sig = 0;
		if (fds[0].revents && read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
			sig = (int)si.ssi_signo;
		switch (sig) {
		case SIGCHLD:
			break;
		case SIGHUP:
			if (!stopping)
				reload();
			break;
		case SIGTERM:
		case SIGINT:
			if (!stopping) {
				stopping = true;
				deadline = now_ms() + (long long)service.cfg.drain_timeout_s * 1000;
				log_msg("%s: taking no more requests; finishing %u runs in flight, then exiting",
					sig == SIGTERM ? "SIGTERM" : "SIGINT", slots_running());
				unlink_socket_path();
				backlog_empty = false;	/* not looked at yet */
				int fl = fcntl(listen_fd, F_GETFL);
				if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
					die_errno("fcntl on the listening socket");
				signal_all(SIGTERM);
			}
			break;
		}
		reap(stopping);
		cgroup_remove_killed();
		if (stopping && deadline && now_ms() > deadline) {
			log_msg("drain_timeout_s passed: killing %u workers and what is left of the sandboxes' pool",
				n_pool);
			signal_all(SIGKILL);
			deadline = 0;
			overdue = true;
		}
	}
	refuse_backlog();	/* any that came since the last look */
	/* Orphaned sandboxes, if any, are ours to reap too. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	log_msg("stopped");
	return 0;
}
