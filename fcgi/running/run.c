/* run.c — run a staged directory in a sandbox and collect the result.
 *
 * A run starts one of two ways (start/): in a sandbox that waits for it on
 * the pool's socket, warm from the template or pre-started cold
 * (start/claim.c), or in a sandbox of its own (start/own.c). Either gives
 * the read ends of the script's stdout, stderr and fd 4, and an fd on
 * which the report of how the run ended comes last.
 *
 * One poll loop drains every pipe at once: a script that fills stderr while
 * we wait on stdout must never deadlock. Each stream is kept up to
 * max_output_kib and the rest is read and dropped (so the script is never
 * blocked on a full pipe), with *_truncated set.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fcgi/fcgi.h"
#include "sandbox/prestart.h"

#define REPORT_MAX (64 * 1024)
/* The sandbox enforces the timeout itself; this is our own backstop for a
 * sandbox that hangs, long enough to include its copy-back. */
#define BACKSTOP_GRACE_MS 30000
/* How long a sandbox whose client hung up has to end once told to. */
#define HANGUP_GRACE_MS 5000

void run_result_free(struct run_result *res)
{
	buf_free(&res->out);
	buf_free(&res->err);
	buf_free(&res->channel);
	buf_free(&res->left_behind);
}

/* A run that asks for more memory than the host can give it gets what it
 * can: above that it would meet a limit of all runs together (the slice's),
 * which throttles or kills runs beside it, before its own. */
unsigned run_memory_mb(unsigned asked)
{
	return asked < service.memory_ceiling_mb ? asked : service.memory_ceiling_mb;
}

enum run_outcome run_outcome(const struct run_result *res)
{
	if (res->fault[0])
		return RUN_INTERNAL;
	if (res->timed_out)
		return RUN_TIMEOUT;
	if (res->oom_killed || res->memory_error)
		return RUN_OOM;
	return res->exit_code == 0 ? RUN_OK : RUN_ERROR;
}

/* A run that ended on a MemoryError met its memory limit. Where limits
 * fall back to rlimits, the kernel kills no run for memory: Python meets
 * RLIMIT_AS as a MemoryError, or as numpy's subclass of it, and exits 1.
 * The runners of /run and /execute say so on their channel's first line
 * ("memory": true, from isinstance()), under a cgroup too, where a
 * MemoryError is an allocation the kernel refused outright. A script run
 * as it is only ends stderr with its traceback's last line, which names
 * the exception, qualified by its module for all but the builtins
 * ("numpy.core._exceptions._ArrayMemoryError: Unable to allocate ..."):
 * taken for the limit only where limits are rlimits, and only for those
 * two names, not for any class a script names so. */
static bool memory_error(const struct run_request *r, const struct run_result *res)
{
	if (res->exit_code != 1)
		return false;
	if (r->runner) {
		const char *nl = res->channel.len ? memchr(res->channel.data, '\n', res->channel.len) : NULL;
		size_t len = nl ? (size_t)(nl - res->channel.data) : res->channel.len;
		json_tokener *tok = json_tokener_new();
		if (!tok)
			die("out of memory creating a JSON parser");
		json_object *head = len ? json_tokener_parse_ex(tok, res->channel.data, (int)len) : NULL, *v;
		json_tokener_free(tok);
		bool met = json_object_is_type(head, json_type_object) &&
			   json_object_object_get_ex(head, "memory", &v) &&
			   json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
		json_object_put(head);
		return met;
	}
	if (service.cgroup_dir[0] || res->err_truncated || !res->err.len)
		return false;
	size_t end = res->err.len;	/* the last line, after the traceback */
	while (end && res->err.data[end - 1] == '\n')
		end--;
	size_t start = end;
	while (start && res->err.data[start - 1] != '\n')
		start--;
	const char *line = res->err.data + start;
	size_t named = 0;		/* the exception's name: up to ": ", or the line */
	while (start + named < end && line[named] != ':' && line[named] != ' ')
		named++;
	if (start == 0 || (start + named < end && memcmp(line + named, ": ", 2) != 0))
		return false;
	static const char builtin[] = "MemoryError", numpy[] = "numpy.core._exceptions._ArrayMemoryError";
	return (named == sizeof builtin - 1 && !memcmp(line, builtin, named)) ||
	       (named == sizeof numpy - 1 && !memcmp(line, numpy, named));
}

struct stream {
	int fd;
	struct buf *buf;
	size_t cap;
	bool *truncated;
};

/* Read what is there; false at EOF or on error. */
static bool drain(struct stream *s)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(s->fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		if (s->truncated && *s->truncated)
			continue;	/* cut already: the rest is read, not kept */
		size_t room = s->buf->len < s->cap ? s->cap - s->buf->len : 0;
		size_t keep = (size_t)n < room ? (size_t)n : room;
		if (keep)
			buf_put(s->buf, chunk, keep);
		if ((size_t)n > keep && s->truncated) {
			*s->truncated = true;
			/* Cut after a whole character: half of one would come
			 * out as U+FFFD (utf8.c). */
			if (s->buf->data) {
				s->buf->len = utf8_whole(s->buf->data, s->buf->len);
				s->buf->data[s->buf->len] = '\0';
			}
		}
	}
}

static void parse_report(const char *text, struct run_result *res)
{
	json_object *o = json_tokener_parse(text), *v;
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		snprintf(res->fault, sizeof res->fault, "the sandbox wrote no readable report");
		return;
	}
	if (json_object_object_get_ex(o, "error", &v) && json_object_is_type(v, json_type_string)) {
		snprintf(res->fault, sizeof res->fault, "the sandbox failed: %s", json_object_get_string(v));
		json_object_put(o);
		return;
	}
	if (!json_object_object_get_ex(o, "exit_code", &v) || !json_object_is_type(v, json_type_int)) {
		snprintf(res->fault, sizeof res->fault, "the sandbox report has no exit_code");
		json_object_put(o);
		return;
	}
	res->exit_code = json_object_get_int(v);
	if (json_object_object_get_ex(o, "signal", &v))
		res->signal = json_object_get_int(v);
	if (json_object_object_get_ex(o, "timed_out", &v))
		res->timed_out = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "oom_killed", &v))
		res->oom_killed = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "memory_starved", &v))
		res->memory_starved = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "duration_ms", &v))
		res->duration_ms = (long)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "memory_peak_kb", &v))
		res->memory_peak_kb = (long)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "output_omitted", &v) && json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			json_object *name = json_object_array_get_idx(v, i);
			if (json_object_is_type(name, json_type_string))
				buf_put(&res->left_behind, json_object_get_string(name),
					strlen(json_object_get_string(name)) + 1);
		}
	if (json_object_object_get_ex(o, "output_omitted_unnamed", &v))
		res->left_behind_unnamed = (size_t)json_object_get_int64(v);
	json_object_put(o);
}

/* Whether a module of the run's own, beside the file it runs (where a cold
 * run's sys.path looks first), has the name of one the template imported.
 * A warm run leaves that name to the run's file, but puts back the
 * template's modules that import it as the template imported them: pandas
 * with the template's numpy beside a numpy.py of the run's, which a cold
 * run would import pandas against. Such a run starts cold. The names are
 * those warm.py takes for the run's own: NAME.py, NAME.pyc, NAME.*so and
 * NAME/__init__.py. */
static bool shadows_template(const struct run_request *r)
{
	if (!r->entry_point)
		return false;
	const char *slash = strrchr(r->entry_point, '/');
	size_t dir_len = slash ? (size_t)(slash - r->entry_point) + 1 : 0;
	for (size_t i = 0; i <= r->n_entries; i++) {
		const char *path = i < r->n_entries ? r->entries[i].path : r->entry_point;
		if (strncmp(path, r->entry_point, dir_len) != 0)
			continue;
		const char *name = path + dir_len;
		size_t len = strcspn(name, "./"), rest_len = strlen(name + len);
		const char *rest = name + len;
		bool module = rest[0] == '.' && !strchr(rest, '/') &&
			      (!strcmp(rest, ".py") || !strcmp(rest, ".pyc") ||
			       (rest_len > 2 && !strcmp(rest + rest_len - 2, "so")));
		bool package = !strcmp(rest, "/__init__.py");
		char word[256];
		if (len && len < sizeof word && (module || package)) {
			snprintf(word, sizeof word, "%.*s", (int)len, name);
			if (pool_imports_any(word))
				return true;
		}
	}
	return false;
}

long long run_progress_due(struct run_progress *p)
{
	if (!p)
		return LLONG_MAX;
	long long now = now_ms();
	if (now >= p->next_ms) {
		p->tick(p->arg);
		p->next_ms = (now = now_ms()) + p->interval_ms;
	}
	return p->next_ms - now;
}

void run_sandbox(const struct config *c, const char *dir, const struct run_request *r,
		 struct run_result *res, int client_fd, struct run_progress *progress)
{
	memset(res, 0, sizeof *res);
	res->exit_code = -1;
	res->duration_ms = -1;
	res->memory_peak_kb = -1;
	res->wall_ms = -1;

	long long started = now_ms();
	enum { OUT, ERR, CHANNEL, REPORT, N_STREAMS };
	/* A warm sandbox (forked from the template, the libraries imported)
	 * always pays off. Without a template, a pre-started sandbox pays off
	 * while a CPU is free to build the next one (there is one per CPU):
	 * take one while fewer runs than that are under way, this one
	 * included. Beyond, a sandbox of our own started now is no slower, and
	 * cheaper than one that waited: an interpreter that sat waiting while
	 * others ran comes back to cold caches. While a template is wanted but
	 * not warm (starting, or restarting after it died), runs start their
	 * own, cold, rather than wait for it; so do they while the pool cannot
	 * run a sandbox at all (a wrong path), and fail saying why; and so
	 * do those of a worker a reload retired: the pool's sandboxes have
	 * the new configuration's limits, not those the run was checked
	 * against; and so do runs with more stdin than a claim may bring, and
	 * runs of a package set that provides a module an interpreter imports
	 * as it starts (only an interpreter started with the set on PYTHONPATH
	 * imports the set's). */
	int fds[3] = { -1, -1, -1 };
	pid_t own = -1;
	int sock;
	bool ours = !r->install && !r->package_at_start && r->stdin_len <= PRESTART_STDIN_MAX && pool_ours();
	pid_t template = ours ? pool_template() : 0;
	bool warm = template &&
		    !(r->package_modules[0] && pool_imports_any(r->package_modules)) &&
		    !shadows_template(r);
	bool pooled = warm || (ours && !config_template(c) && pool_can_start() &&
			       slots_running() < c->prestarted);
	long long claimed_at = now_ms();
	sock = pooled ? start_claimed(dir, r, warm, fds, res) : -1;
	if (pooled && sock >= 0)
		pool_taken();
	if (sock == START_UNTAKEN || sock == START_UNREAD) {
		bool alive = warm && pool_template() == template;
		bool stuck = (alive || (!warm && pool_can_start())) && sock == START_UNREAD && pool_stuck(warm ? template : 0, claimed_at);
		log_msg(stuck && warm ? "the template's sandboxes took no run in time (is it stuck?): it starts cold, and the template is to be killed" :
			alive ? "the template's sandboxes took no run in time: it starts cold" :
			warm ? "template gone before a sandbox took a run: it starts cold" :
			stuck ? "no pre-started sandbox took a run in time (are they stuck?): it starts its own, and they are to be killed" :
			pool_can_start() ? "no pre-started sandbox took a run in time (are they stuck?): it starts its own" :
			"no pre-started sandbox took a run, and none can start: it starts its own");
		warm = pooled = false;
	}
	if (!r->install && !r->self_check)
		metrics_run_start(warm);
	if (!pooled)
		sock = start_own(c, dir, r, fds, &own, res);

	struct buf report = { 0 };
	size_t output_cap = (size_t)c->max_output_kib * 1024;
	struct stream streams[N_STREAMS] = {
		[OUT] = { fds[0], &res->out, output_cap, &res->out_truncated },
		[ERR] = { fds[1], &res->err, output_cap, &res->err_truncated },
		[CHANNEL] = { fds[2], &res->channel, output_cap, &res->channel_truncated },
		[REPORT] = { sock, &report, REPORT_MAX, NULL },
	};
	bool open_[N_STREAMS];
	for (int i = 0; i < N_STREAMS; i++) {
		open_[i] = streams[i].fd >= 0;
		if (open_[i] && fcntl(streams[i].fd, F_SETFL, O_NONBLOCK) < 0)
			die_errno("fcntl O_NONBLOCK");
	}
	long long deadline = now_ms() + (long long)(r->timeout_s * 1000) + BACKSTOP_GRACE_MS;

	/* The report's end-of-file means the sandbox is done; the pipes'
	 * end-of-file came before it (init closes them first), or will not
	 * come at all if the sandbox failed: then what they hold is read. */
	while (open_[REPORT]) {
		struct pollfd pfd[N_STREAMS + 1];
		int map[N_STREAMS], n = 0;
		for (int i = 0; i < N_STREAMS; i++)
			if (open_[i]) {
				pfd[n] = (struct pollfd){ .fd = streams[i].fd, .events = POLLIN };
				map[n++] = i;
			}
		/* No one will read the answer of a client that hung up (nginx
		 * closes our connection then): the run stops, and frees its slot
		 * for one that is still wanted. A pre-started sandbox ends the
		 * run when we stop writing to it; our own is told so. Then we
		 * wait for its end (its report's end-of-file), a short while:
		 * its init may still be copying ./output back into the work
		 * dir, which our caller removes next. */
		bool watch_client = client_fd >= 0 && !res->client_gone;
		pfd[n] = (struct pollfd){ .fd = client_fd, .events = POLLRDHUP };
		long long left = deadline - now_ms();
		if (left <= 0) {
			if (!res->client_gone)
				snprintf(res->fault, sizeof res->fault,
					 "the sandbox did not finish %d s after the timeout", BACKSTOP_GRACE_MS / 1000);
			/* A pre-started sandbox kills the run when we hang up
			 * below; our own is told so. */
			if (own > 0)
				kill(own, SIGTERM);
			break;
		}
		long long wait = left, tick = res->client_gone ? LLONG_MAX : run_progress_due(progress);
		if (tick < wait)
			wait = tick;
		int rc = poll(pfd, (nfds_t)n + watch_client, (int)wait);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			die_errno("poll");
		if (watch_client && pfd[n].revents) {
			res->client_gone = true;
			snprintf(res->fault, sizeof res->fault, "the client hung up");
			if (own > 0)
				kill(own, SIGTERM);
			else
				shutdown(sock, SHUT_WR);
			if (deadline > now_ms() + HANGUP_GRACE_MS)
				deadline = now_ms() + HANGUP_GRACE_MS;
			continue;
		}
		for (int k = 0; k < n; k++)
			if (pfd[k].revents && !drain(&streams[map[k]]))
				open_[map[k]] = false;
	}
	for (int i = 0; i < N_STREAMS; i++) {
		if (streams[i].fd < 0)
			continue;
		if (open_[i] && i != REPORT)
			drain(&streams[i]);
		close(streams[i].fd);
	}
	res->wall_ms = (long)(now_ms() - started);
	if (!res->fault[0]) {
		if (!report.len)
			snprintf(res->fault, sizeof res->fault, "the sandbox ended without a report");
		else
			parse_report(report.data, res);
	}
	res->memory_error = !res->fault[0] && memory_error(r, res);
	buf_free(&report);
}
