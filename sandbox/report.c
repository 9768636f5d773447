/* report.c — how a run ended, as one JSON object (the sandbox's contract).
 *
 * exit_code follows the service's rules so that every caller reads one
 * number: the command's own status; 124 when killed at the timeout; 137 when
 * killed for exceeding memory; 128+N for another fatal signal N; -1 when the
 * sandbox itself failed (then "error" says why).
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/wait.h>

#include "sandbox/sandbox.h"

int report_exit_code(int wait_status, bool timed_out, bool oom_killed, int *signal)
{
	*signal = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
	if (timed_out)
		return 124;
	if (oom_killed)
		return 137;
	if (WIFEXITED(wait_status))
		return WEXITSTATUS(wait_status);
	return 128 + *signal;
}

static void add(json_object *o, const char *key, json_object *v)
{
	json_object_object_add(o, key, v);
}

char *report_encode(const struct run_report *r)
{
	json_object *o = json_object_new_object();
	json_object *limits = json_object_new_object();
	if (!o || !limits) {
		json_object_put(o);
		json_object_put(limits);
		return NULL;
	}
	add(o, "exit_code", json_object_new_int(r->exit_code));
	add(o, "signal", json_object_new_int(r->signal));
	add(o, "timed_out", json_object_new_boolean(r->timed_out));
	add(o, "oom_killed", json_object_new_boolean(r->oom_killed));
	add(o, "memory_starved", json_object_new_boolean(r->memory_starved));
	add(o, "duration_ms", json_object_new_uint64(r->duration_ms));
	add(o, "cpu_ms", json_object_new_uint64(r->cpu_ms));
	add(o, "memory_peak_kb", json_object_new_uint64(r->memory_peak_kb));
	add(limits, "memory", json_object_new_string(r->cgroup ? "cgroup2" : "rlimit"));
	if (r->options) {
		add(limits, "memory_mb", json_object_new_uint64(r->options->memory_mb));
		add(limits, "pids", json_object_new_uint64(r->options->pids));
		add(limits, "timeout_ms", json_object_new_uint64(r->options->timeout_ms));
	}
	add(o, "limits", limits);
	if (r->omitted && r->omitted->len) {
		json_object *names = json_object_new_array();
		if (names)
			for (size_t at = 0; at < r->omitted->len; at += strlen(r->omitted->names + at) + 1)
				json_object_array_add(names, json_object_new_string(r->omitted->names + at));
		add(o, "output_omitted", names);
	}
	if (r->omitted && r->omitted->unnamed)
		add(o, "output_omitted_unnamed", json_object_new_uint64(r->omitted->unnamed));
	if (r->error)
		add(o, "error", json_object_new_string(r->error));
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE);
	char *copy = s ? strdup(s) : NULL;
	json_object_put(o);
	return copy;
}

/* The report fd may be a pipe or a client's socket, whose peer may be gone:
 * that must not raise SIGPIPE, which the command would inherit ignored. */
int report_write(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}
