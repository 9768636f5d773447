/* metrics.c — counters every worker adds to, and GET /metrics.
 *
 * The counters live in an anonymous shared mapping that the master makes
 * before its first fork, so every worker, and every worker that replaces a
 * dead one, adds to the same numbers: they are the service's, not a
 * process's, and a kill -9 loses none of them. Each update is one relaxed
 * atomic add; nothing is ever locked. GET /metrics renders them in
 * Prometheus' text format (nginx serves it to loopback only).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/fcgi.h"

#define MAX_STATUS 600		/* HTTP statuses are 100..599 */

static const char *const outcomes[N_RUN_OUTCOMES] = { "ok", "error", "timeout", "oom", "internal", "stopped" };

/* Upper bounds of the run duration histogram, in milliseconds. */
static const unsigned buckets_ms[] = {
	25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000,
};
#define N_BUCKETS (sizeof buckets_ms / sizeof buckets_ms[0] + 1)	/* + +Inf */

struct metrics {
	_Atomic uint64_t requests[MAX_ENDPOINTS][MAX_STATUS];
	_Atomic uint64_t runs[N_RUN_OUTCOMES];
	_Atomic uint64_t duration[N_BUCKETS];	/* per bucket; made cumulative when shown */
	_Atomic uint64_t duration_ms_sum;
	_Atomic uint64_t queue_waits, queue_wait_ms_sum, rejected_busy;
	_Atomic uint64_t worker_restarts;
	_Atomic uint64_t starts[2];		/* cold, warm */
	_Atomic uint64_t packages[N_PACKAGE_EVENTS];
};

static struct metrics *m;

void metrics_init(void)
{
	m = xshared(sizeof *m);
}

static void add(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static unsigned long long get(_Atomic uint64_t *counter)
{
	return (unsigned long long)atomic_load_explicit(counter, memory_order_relaxed);
}

void metrics_request(int endpoint, int status)
{
	if (endpoint >= 0 && endpoint < MAX_ENDPOINTS && status >= 100 && status < MAX_STATUS)
		add(&m->requests[endpoint][status], 1);
}

void metrics_run(enum run_outcome outcome, long duration_ms)
{
	uint64_t ms = duration_ms > 0 ? (uint64_t)duration_ms : 0;
	size_t b = 0;
	while (b < N_BUCKETS - 1 && ms > buckets_ms[b])
		b++;
	add(&m->runs[outcome], 1);
	add(&m->duration[b], 1);
	add(&m->duration_ms_sum, ms);
}

void metrics_run_start(bool warm)
{
	add(&m->starts[warm], 1);
}

void metrics_package(enum package_event event)
{
	add(&m->packages[event], 1);
}

/* A line of /proc/PID/status, in bytes ("VmRSS"), or 0. */
static unsigned long long proc_status_bytes(pid_t pid, const char *key)
{
	char path[64], line[256];
	unsigned long long kb = 0;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = pid > 0 ? fopen(path, "re") : NULL;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':') {
			kb = strtoull(line + strlen(key) + 1, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return kb * 1024;
}

void metrics_queue_wait(long waited_ms)
{
	add(&m->queue_waits, 1);
	add(&m->queue_wait_ms_sum, waited_ms > 0 ? (uint64_t)waited_ms : 0);
}

void metrics_rejected(void)
{
	add(&m->rejected_busy, 1);
}

void metrics_worker_restart(void)
{
	add(&m->worker_restarts, 1);
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void api_metrics(struct request_ctx *ctx)
{
	struct buf *b = &ctx->rsp.body;
	ctx->rsp.status = 200;
	ctx->rsp.content_type = "text/plain; version=0.0.4; charset=utf-8";
	buf_reset(b);

	/* Only the pairs seen so far: 600 statuses x every endpoint would be
	 * mostly zeros. */
	family(b, "coderunner_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
	const char *name;
	for (int e = 0; e < MAX_ENDPOINTS && (name = route_endpoint_name(e)); e++)
		for (int s = 100; s < MAX_STATUS; s++) {
			unsigned long long n = get(&m->requests[e][s]);
			if (n)
				buf_printf(b, "coderunner_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n",
					   name, s, n);
		}

	family(b, "coderunner_runs_total", "counter",
	       "Sandboxed runs by how they ended: ok (exit 0), error (another exit status or signal), "
	       "timeout, oom (past its memory limit: killed by the kernel, or ended by a MemoryError), internal (the sandbox itself failed), "
	       "stopped (its client hung up).");
	for (int o = 0; o < N_RUN_OUTCOMES; o++)
		buf_printf(b, "coderunner_runs_total{outcome=\"%s\"} %llu\n", outcomes[o], get(&m->runs[o]));

	family(b, "coderunner_run_starts_total", "counter",
	       "Runs by how their sandbox started: warm (forked from the template, the preload list "
	       "imported) or cold (an interpreter of its own).");
	buf_printf(b, "coderunner_run_starts_total{start=\"cold\"} %llu\n", get(&m->starts[0]));
	buf_printf(b, "coderunner_run_starts_total{start=\"warm\"} %llu\n", get(&m->starts[1]));
	family(b, "coderunner_template_warm", "gauge", "1 while runs start warm from a template, else 0.");
	buf_printf(b, "coderunner_template_warm %d\n", pool_warm());
	family(b, "coderunner_template_resident_bytes", "gauge",
	       "Resident memory of the template, which its sandboxes share copy-on-write.");
	buf_printf(b, "coderunner_template_resident_bytes %llu\n", proc_status_bytes(pool_template(), "VmRSS"));

	family(b, "coderunner_package_sets_total", "counter",
	       "Requests' package sets by what became of them: installed (from the index), cached (found "
	       "installed already), failed (could not be installed), evicted (removed from the cache).");
	static const char *const events[N_PACKAGE_EVENTS] = { "installed", "cached", "failed", "evicted" };
	for (int i = 0; i < N_PACKAGE_EVENTS; i++)
		buf_printf(b, "coderunner_package_sets_total{event=\"%s\"} %llu\n", events[i], get(&m->packages[i]));

	family(b, "coderunner_run_duration_seconds", "histogram",
	       "Wall time of each sandboxed run, sandbox set-up and teardown included.");
	unsigned long long cumulative = 0;
	for (size_t i = 0; i < N_BUCKETS; i++) {
		cumulative += get(&m->duration[i]);
		if (i < N_BUCKETS - 1)
			buf_printf(b, "coderunner_run_duration_seconds_bucket{le=\"%g\"} %llu\n",
				   buckets_ms[i] / 1000.0, cumulative);
		else
			buf_printf(b, "coderunner_run_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cumulative);
	}
	buf_printf(b, "coderunner_run_duration_seconds_sum %.3f\n", get(&m->duration_ms_sum) / 1000.0);
	buf_printf(b, "coderunner_run_duration_seconds_count %llu\n", cumulative);

	family(b, "coderunner_runs_in_flight", "gauge", "Runs holding a run slot now.");
	buf_printf(b, "coderunner_runs_in_flight %u\n", slots_running());
	family(b, "coderunner_queue_length", "gauge", "Requests waiting for a run slot now.");
	buf_printf(b, "coderunner_queue_length %u\n", slots_waiting());
	family(b, "coderunner_queue_waits_total", "counter", "Requests that had to wait for a run slot.");
	buf_printf(b, "coderunner_queue_waits_total %llu\n", get(&m->queue_waits));
	family(b, "coderunner_queue_wait_seconds_total", "counter", "Time requests spent waiting for a run slot.");
	buf_printf(b, "coderunner_queue_wait_seconds_total %.3f\n", get(&m->queue_wait_ms_sum) / 1000.0);
	family(b, "coderunner_rejected_busy_total", "counter",
	       "Requests answered 503 because every run slot and the queue were full, or no slot freed in time.");
	buf_printf(b, "coderunner_rejected_busy_total %llu\n", get(&m->rejected_busy));
	family(b, "coderunner_worker_restarts_total", "counter", "Workers that died and were replaced.");
	buf_printf(b, "coderunner_worker_restarts_total %llu\n", get(&m->worker_restarts));
}
