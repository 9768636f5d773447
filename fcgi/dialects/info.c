/* info.c — GET / (what this service is and can do) and GET /health.
 *
 * /health answers 200 only when a sandbox can really be created: a check
 * stages a work directory and runs `python3 main.py` on `pass` through
 * coderunner-sandbox, exactly the path of a run, but without a run slot (a
 * busy service is still a healthy one) and without counting as a run. Its
 * answer lives in a shared page and is reused for health_interval_s, so a
 * load balancer that polls every second, on whichever worker, costs one
 * sandbox every few seconds; one worker checks at a time, the others answer
 * from the last result meanwhile.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fcgi/fcgi.h"


/* The supported library list, by the name a script imports. */
static const char *const libraries[] = {
	"numpy", "pandas", "scipy", "sklearn", "matplotlib", "seaborn", "sympy", "requests",
	"httpx", "bs4", "yaml", "toml", "dateutil", "tqdm", "PIL",
};

struct health {
	_Atomic uint32_t seq;		/* odd while the answer below is written */
	_Atomic pid_t checking;		/* the worker running a check, 0: none */
	_Atomic long long checked_ms;	/* when the answer was made, 0: never */
	bool healthy;
	char reason[512];
};

static struct health *h;

void health_init(void)
{
	h = xshared(sizeof *h);
}

void health_release_pid(pid_t pid)
{
	pid_t expect = pid;
	atomic_compare_exchange_strong(&h->checking, &expect, 0);
}

/* The first line of what the sandbox or python said on stderr, if anything. */
static void first_line(const struct buf *err, char *out, size_t len)
{
	size_t n = 0;
	while (n < err->len && err->data[n] != '\n')
		n++;
	snprintf(out, len, "%s%.*s", n ? ": " : "", (int)(n < 200 ? n : 200), err->data ? err->data : "");
}

static bool self_check(const struct config *c, char *reason, size_t len)
{
	struct run_request r;
	request_init(&r);
	r.script = "pass\n";
	r.script_len = 5;
	r.entry_point = "main.py";
	r.timeout_s = HEALTH_TIMEOUT_S;
	r.memory_mb = HEALTH_MEMORY_MB;
	r.self_check = true;

	struct http_error e = { 0, "" };
	char dir[4200] = "";
	if (stage_create(c, &r, dir, sizeof dir, &e) < 0) {
		snprintf(reason, len, "cannot stage a work directory: %s", e.message);
		stage_remove(dir);
		return false;
	}
	struct run_result res;
	run_sandbox(c, dir, &r, &res, -1, NULL);
	stage_remove(dir);
	char said[210];
	first_line(&res.err, said, sizeof said);
	bool healthy = !res.fault[0] && res.exit_code == 0;
	if (res.fault[0])
		snprintf(reason, len, "cannot create a sandbox: %.200s%s", res.fault, said);
	else if (!healthy)
		snprintf(reason, len, "%.120s in a sandbox ended with status %d%s", c->python, res.exit_code, said);
	else
		reason[0] = '\0';
	run_result_free(&res);
	return healthy;
}

/* The last answer, read consistently; false if there is none yet. */
static bool read_answer(bool *healthy, char *reason, size_t len)
{
	if (!atomic_load(&h->checked_ms))
		return false;
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t before = atomic_load_explicit(&h->seq, memory_order_acquire);
		if (before & 1)
			continue;
		*healthy = h->healthy;
		snprintf(reason, len, "%s", h->reason);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&h->seq, memory_order_relaxed) == before)
			return true;
	}
	return false;
}

static void write_answer(bool healthy, const char *reason)
{
	atomic_fetch_add_explicit(&h->seq, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	h->healthy = healthy;
	snprintf(h->reason, sizeof h->reason, "%s", reason);
	atomic_fetch_add_explicit(&h->seq, 1, memory_order_release);
	atomic_store(&h->checked_ms, now_ms());
}

static bool healthy_now(const struct config *c, char *reason, size_t len)
{
	bool healthy;
	long long last = atomic_load(&h->checked_ms);
	if (last && now_ms() - last < (long long)c->health_interval_s * 1000 &&
	    read_answer(&healthy, reason, len))
		return healthy;
	pid_t none = 0;
	if (atomic_compare_exchange_strong(&h->checking, &none, getpid())) {
		healthy = self_check(c, reason, len);
		write_answer(healthy, reason);
		atomic_store(&h->checking, 0);
		return healthy;
	}
	/* Another worker is checking: its last answer stands until it is done. */
	if (read_answer(&healthy, reason, len))
		return healthy;
	return self_check(c, reason, len);
}

void api_health(struct request_ctx *ctx)
{
	char reason[512];
	struct buf *b = &ctx->rsp.body;
	buf_reset(b);
	bool healthy = healthy_now(&service.cfg, reason, sizeof reason);
	/* CodeRunner's own health check answers the text OK, and its clients
	 * compare with it; the main() runners' /health is JSON. */
	if (strcmp(ctx->path, "/api/health") == 0) {
		ctx->rsp.status = healthy ? 200 : 503;
		ctx->rsp.content_type = "text/plain; charset=utf-8";
		buf_puts(b, healthy ? "OK" : "unhealthy: ");
		if (!healthy) {
			buf_puts(b, reason);
			log_note(&ctx->log, reason);
		}
		return;
	}
	if (healthy) {
		ctx->rsp.status = 200;
		buf_puts(b, "{\"status\": \"healthy\"}\n");
		return;
	}
	ctx->rsp.status = 503;
	buf_puts(b, "{\"status\": \"unhealthy\", \"reason\": ");
	json_put_cstring(b, reason);
	buf_puts(b, "}\n");
	log_note(&ctx->log, reason);
}

static unsigned at_most(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

void api_info(struct request_ctx *ctx)
{
	const struct config *c = &service.cfg;
	struct buf *b = &ctx->rsp.body;
	char reason[512];
	bool healthy = healthy_now(c, reason, sizeof reason);
	const char *limits = service.cgroup_dir[0] ? "cgroup2" : "rlimit";
	/* PyRunner's GET / is its health check too: its Docker and Kubernetes
	 * probes (curl -f, httpGet) go by the status alone. */
	ctx->rsp.status = healthy ? 200 : 503;
	buf_reset(b);
	/* max_timeout and max_memory_mb are PyRunner's fields: the bounds of
	 * POST /run, which its clients read before they send. */
	buf_printf(b, "{\"service\": \"coderunner\", \"status\": \"%s\", \"version\": ",
		   healthy ? "healthy" : "unhealthy");
	json_put_cstring(b, PACKAGE_VERSION_STRING);
	/* What a run can really have: the host's ceiling, not only the config's. */
	unsigned memory_max = run_memory_mb(c->memory_max_mb);
	buf_printf(b, ", \"capabilities\": {\"max_timeout\": %u, \"max_memory_mb\": %u, \"libraries\": [",
		   at_most(c->timeout_max_s, 300), at_most(memory_max, 2048));
	const char *sep = "";
	for (size_t i = 0; i < sizeof libraries / sizeof libraries[0]; i++)
		if (deps_installed(libraries[i])) {
			buf_printf(b, "%s\"%s\"", sep, libraries[i]);
			sep = ", ";
		}
	buf_printf(b, "], \"dialects\": ["
		   "{\"name\": \"coderunner\", \"endpoint\": \"POST /api/run\", \"max_timeout\": %u, \"max_memory_mb\": %u}, "
		   "{\"name\": \"pyrunner\", \"endpoint\": \"POST /run\", \"max_timeout\": %u, \"max_memory_mb\": %u}, "
		   "{\"name\": \"main\", \"endpoint\": \"POST /execute\", \"max_timeout\": %u, \"max_memory_mb\": %u}], ",
		   c->timeout_max_s, memory_max,
		   at_most(c->timeout_max_s, 300), at_most(memory_max, 2048),
		   c->execute_timeout_s, run_memory_mb(c->execute_memory_mb));
	/* Where a request's other dependencies come from; an index URL's
	 * credentials (user:password@) are the operator's, not shown. */
	buf_printf(b, "\"packages\": {\"installs\": %s, \"index_url\": ", config_installs(c) ? "true" : "false");
	if (strcmp(c->package_index_url, "none")) {
		const char *host = strstr(c->package_index_url, "://") + 3;
		const char *at = strchr(host, '@'), *slash = strchr(host, '/');
		char shown[sizeof c->package_index_url];
		snprintf(shown, sizeof shown, "%.*s%s", (int)(host - c->package_index_url), c->package_index_url,
			 at && (!slash || at < slash) ? at + 1 : host);
		json_put_cstring(b, shown);
	} else {
		buf_puts(b, "null");
	}
	buf_puts(b, ", \"find_links\": ");
	if (strcmp(c->package_find_links, "none"))
		json_put_cstring(b, c->package_find_links);
	else
		buf_puts(b, "null");
	buf_printf(b, ", \"max_mb\": %u, \"install_timeout_s\": %u}, ", c->package_max_mb,
		   c->package_install_timeout_s);
	bool warm = pool_warm();
	buf_printf(b, "\"sandbox\": {\"namespaces\": [\"mount\", \"pid\", \"network\", \"ipc\", \"uts\", \"cgroup\"], "
		   "\"seccomp\": true, \"capabilities\": [], \"memory_limit\": \"%s\", \"process_limit\": \"%s\", "
		   "\"memory_per_run_mb\": %u, \"run_uids\": \"%u-%u\", \"warm\": %s, \"preload\": [",
		   limits, limits, service.memory_ceiling_mb, c->uid_first, c->uid_last, warm ? "true" : "false");
	/* What a warm run finds already imported (once the script imports it):
	 * nothing while no template has imported the list (starting, or one
	 * that cannot import it). */
	char list[sizeof c->preload], *save = NULL;
	snprintf(list, sizeof list, "%s", config_template(c) && warm ? c->preload : "");
	sep = "";
	for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		buf_printf(b, "%s", sep);
		json_put_cstring(b, t);
		sep = ", ";
	}
	buf_puts(b, "]}}");
	if (!healthy) {
		buf_puts(b, ", \"reason\": ");
		json_put_cstring(b, reason);
	}
	buf_puts(b, "}\n");
}
