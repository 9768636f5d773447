/* script.c — one script from a parsed request to its result: wait for a run
 * slot, stage the work directory, run the sandbox, free the slot.
 *
 * Every dialect (POST /api/run, /run, /execute) runs through here, so a run
 * slot, the queue, the 503s and the run metrics mean the same for all of
 * them. What the result becomes is the dialect's business.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fcgi/fcgi.h"

/* A 503 that nothing ran: the client may send it again, after Retry-After. */
static int busy(struct request_ctx *ctx)
{
	snprintf(ctx->rsp.extra_headers, sizeof ctx->rsp.extra_headers, "Retry-After: %u\r\n",
		 service.cfg.retry_after_s);
	log_note(&ctx->log, "busy");
	return -1;
}

int run_slot_take(struct request_ctx *ctx, struct http_error *e)
{
	const struct config *c = &service.cfg;
	int slot;
	switch (slots_acquire(c->max_runs, c->queue_size, c->queue_timeout_s * 1000u, ctx->client_fd,
			      ctx->progress, &slot)) {
	case SLOT_TAKEN:
		return slot;
	case SLOT_CLIENT_GONE:
		/* No one reads the answer; nginx logs 499 for it. */
		http_fail(e, 499, "the client closed the connection while the run waited for a slot");
		log_note(&ctx->log, "client gone");
		return -1;
	case SLOT_STOPPING:
		http_fail(e, 503, "the service is shutting down; retry in a moment");
		return busy(ctx);
	case SLOT_QUEUE_FULL:
		http_fail(e, 503, "every run slot and the queue are full; retry after %u s", c->retry_after_s);
		return busy(ctx);
	case SLOT_TIMED_OUT:
		http_fail(e, 503, "no run slot became free within %u s; retry after %u s",
			  c->queue_timeout_s, c->retry_after_s);
		return busy(ctx);
	}
	return -1;
}

int run_queue_enter(struct request_ctx *ctx, struct http_error *e)
{
	int place = slots_queue_enter(service.cfg.queue_size);
	if (place >= 0)
		return place;
	/* Run slots may be free: it is the queue the wait needs. */
	http_fail(e, 503, "another request is installing the same dependencies, and every place in the "
		  "queue is taken; retry after %u s", service.cfg.retry_after_s);
	return busy(ctx);
}

/* As a wait for a slot ends: a request nobody waits for must not keep its
 * place from one somebody does, and a stop takes no new run. */
int run_wait_ended(struct request_ctx *ctx, struct http_error *e)
{
	if (worker_service_stopping()) {
		http_fail(e, 503, "the service is shutting down; retry in a moment");
		return busy(ctx);
	}
	if (slots_client_gone(ctx->client_fd)) {
		http_fail(e, 499, "the client closed the connection while the request waited for an install");
		log_note(&ctx->log, "client gone");
		return -1;
	}
	return 0;
}

int run_script(struct request_ctx *ctx, const struct run_request *r, struct run_result *res,
	       char *dir, size_t dirlen, struct http_error *e)
{
	const struct config *c = &service.cfg;
	dir[0] = '\0';
	int slot = run_slot_take(ctx, e);
	if (slot < 0)
		return -1;
	if (stage_create(c, r, dir, dirlen, e) < 0) {
		slots_release(slot);
		goto host;
	}
	run_sandbox(c, dir, r, res, ctx->client_fd, ctx->progress);
	/* An answer that may be streamed (MCP's progress) goes to the client
	 * at its pace, nginx buffering none of it: its slot is kept until it
	 * is sent (worker.c), so that clients slow to read hold run slots,
	 * never the workers past max_runs + queue_size that health checks
	 * are answered by. */
	if (!ctx->progress)
		slots_release(slot);
	if (res->client_gone) {
		/* Every run counted as started is counted as ended, in one
		 * outcome: this one as stopped, one that could not start as
		 * internal, below. */
		metrics_run(RUN_STOPPED, res->wall_ms);
		http_fail(e, 499, "the client closed the connection while the script ran; it was stopped");
		log_note(&ctx->log, "client gone");
		run_result_free(res);
		return -1;
	}
	/* A stop (the service's, or its master gone) that ended the sandbox
	 * under a run: not an internal error, and not a 503 either, which
	 * says nothing ran and which a front end sends on to another host.
	 * The script may have run in part, as when nginx loses the service
	 * mid-run (its 502). */
	if (res->fault[0] && worker_service_stopping()) {
		metrics_run(RUN_STOPPED, res->wall_ms);
		http_fail(e, 502, "the service stopped while the script ran; the script was stopped, and may "
			  "have run in part");
		log_note(&ctx->log, res->fault);
		run_result_free(res);
		return -1;
	}
	/* Out of fds or memory before the sandbox even started: the script
	 * did not run, and a retry will find them again. */
	if (res->fault[0] && (res->fault_errno == EMFILE || res->fault_errno == ENFILE ||
			      res->fault_errno == ENOMEM || res->fault_errno == EAGAIN)) {
		metrics_run(RUN_INTERNAL, res->wall_ms);
		http_fail(e, 503, "the service could not start a sandbox (%s); retry later", strerror(res->fault_errno));
		run_result_free(res);
		goto host;
	}
	metrics_run(run_outcome(res), res->wall_ms);
	ctx->log.run_ms = res->duration_ms;
	ctx->log.memory_peak_kb = res->memory_peak_kb;
	if (res->fault[0])
		log_note(&ctx->log, res->fault);
	else
		ctx->log.exit_code = res->exit_code;
	return 0;
host:
	if (e->status == 503 || e->status == 507)
		snprintf(ctx->rsp.extra_headers, sizeof ctx->rsp.extra_headers, "Retry-After: %u\r\n",
			 c->retry_after_s);
	log_note(&ctx->log, e->status >= 500 ? e->message : NULL);
	return -1;
}
