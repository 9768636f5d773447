/* options.c — the command line of coderunner-sandbox.
 *
 * Parsing is kept free of side effects (no exit, no printing) so that the unit
 * tests can feed it every malformed line; main() decides what to do with an
 * error.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox.h"

enum {
	OPT_WORKDIR = 256, OPT_TIMEOUT, OPT_MEMORY, OPT_PIDS, OPT_FSIZE, OPT_NOFILE,
	OPT_TMP_SIZE, OPT_WORK_SIZE, OPT_USER, OPT_CGROUP, OPT_REPORT_FD,
	OPT_SETENV, OPT_KEEP_FD, OPT_ACCEPT_FD, OPT_UID_RANGE, OPT_UID_LOCK, OPT_RO_BIND, OPT_SHARE_NET, OPT_TEMPLATE_FD, OPT_ZYGOTE, OPT_HELP,
};

static const struct option long_options[] = {
	{ "workdir", required_argument, NULL, OPT_WORKDIR },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "pids", required_argument, NULL, OPT_PIDS },
	{ "fsize", required_argument, NULL, OPT_FSIZE },
	{ "nofile", required_argument, NULL, OPT_NOFILE },
	{ "tmp-size", required_argument, NULL, OPT_TMP_SIZE },
	{ "work-size", required_argument, NULL, OPT_WORK_SIZE },
	{ "user", required_argument, NULL, OPT_USER },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "report-fd", required_argument, NULL, OPT_REPORT_FD },
	{ "setenv", required_argument, NULL, OPT_SETENV },
	{ "keep-fd", required_argument, NULL, OPT_KEEP_FD },
	{ "accept-fd", required_argument, NULL, OPT_ACCEPT_FD },
	{ "uid-range", required_argument, NULL, OPT_UID_RANGE },
	{ "uid-lock", required_argument, NULL, OPT_UID_LOCK },
	{ "ro-bind", required_argument, NULL, OPT_RO_BIND },
	{ "share-net", no_argument, NULL, OPT_SHARE_NET },
	{ "template-fd", required_argument, NULL, OPT_TEMPLATE_FD },
	{ "zygote", required_argument, NULL, OPT_ZYGOTE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

void options_usage(FILE *out)
{
	fputs("usage: coderunner-sandbox [OPTION]... -- COMMAND [ARG]...\n"
	      "  --workdir DIR        copied in as /work (the cwd); /work/output copied back\n"
	      "  --timeout SEC        wall-clock limit (default 30)\n"
	      "  --memory MB          memory limit (default 1536)\n"
	      "  --pids N             processes and threads (default 64)\n"
	      "  --fsize MB           largest file written (default 16)\n"
	      "  --nofile N           open files (default 256)\n"
	      "  --tmp-size MB        size of /tmp (default 64)\n"
	      "  --work-size MB       size of /work (default 64)\n"
	      "  --user USER|UID      run the command as this user (default nobody)\n"
	      "  --uid-range FIRST-LAST  instead, run it as a uid of this range that no other\n"
	      "                       sandbox holds (its group: the same number); needs\n"
	      "  --uid-lock FILE      the lock file shared by every sandbox of the range\n"
	      "  --cgroup DIR         delegated cgroup v2 dir to create the run's cgroup in\n"
	      "  --report-fd FD       write the JSON report on FD\n"
	      "  --setenv NAME=VALUE  add to the clean environment (repeatable)\n"
	      "  --keep-fd FD         leave FD open in the command (repeatable)\n"
"  --ro-bind DIR:/NAME  show host dir DIR read-only as /NAME (repeatable, up to 4)\n"
	      "  --share-net          keep the host's network instead of an empty one of its own\n"
	      "  --accept-fd FD       pre-start: build the sandbox and start the command, then\n"
	      "                       take the run from a client on listening socket FD\n"
	      "                       (--timeout and --memory are then the most it may ask)\n"
	      "  --template-fd FD     with --accept-fd: coderunner-template, on socket FD, forks\n"
	      "                       the command into the sandbox instead of an exec\n"
	      "  --zygote FD          with --template-fd: for each byte read on socket FD, fork\n"
	      "                       a supervisor with these options as its sibling, and\n"
	      "                       answer its pid (coderunner-template)\n", out);
}

/* A whole decimal number in [min, max]; nothing else, no trailing text. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_fd(const char *s, int *out)
{
	uint64_t v;
	if (parse_u64(s, 0, INT_MAX, &v))
		return -1;
	*out = (int)v;
	return 0;
}

/* Seconds, decimals allowed, at most a day: kept in milliseconds. */
static int parse_seconds(const char *s, uint64_t *ms)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v <= 0 || v > 86400)
		return -1;
	*ms = (uint64_t)llround(v * 1000);
	if (*ms == 0)
		*ms = 1;
	return 0;
}

/* FIRST-LAST, both uids that are neither root nor -1, FIRST <= LAST. */
static int parse_uid_range(const char *s, struct sandbox_options *o)
{
	char first[16];
	const char *dash = strchr(s, '-');
	uint64_t a, b;
	if (!dash || (size_t)(dash - s) >= sizeof first)
		return -1;
	memcpy(first, s, (size_t)(dash - s));
	first[dash - s] = '\0';
	if (parse_u64(first, 1, 0xfffffffe, &a) || parse_u64(dash + 1, a, 0xfffffffe, &b))
		return -1;
	o->uid_first = (uint32_t)a;
	o->uid_last = (uint32_t)b;
	return 0;
}

/* DIR:/NAME: an absolute host dir, and a new top-level name that none of
 * the root's own entries (mounts.c) takes. */
static int parse_bind(const char *s, struct sandbox_options *o)
{
	static const char *const taken[] = {
		"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "dev", "tmp", "work",
	};
	const char *colon = strrchr(s, ':');
	if (o->n_binds == SANDBOX_MAX_BINDS || *s != '/' || !colon || colon[1] != '/' || !colon[2])
		return -1;
	const char *name = colon + 2;
	for (const char *p = name; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') && *p != '-' && *p != '_')
			return -1;
	for (size_t i = 0; i < sizeof taken / sizeof *taken; i++)
		if (!strcmp(name, taken[i]))
			return -1;
	for (int i = 0; i < o->n_binds; i++)
		if (!strcmp(o->bind_dst[i], colon + 1))
			return -1;
	if ((size_t)(colon - s) >= sizeof o->bind_src[0])
		return -1;
	memcpy(o->bind_src[o->n_binds], s, (size_t)(colon - s));
	o->bind_src[o->n_binds][colon - s] = '\0';
	o->bind_dst[o->n_binds++] = colon + 1;
	return 0;
}

static int resolve_user(struct sandbox_options *o)
{
	uint64_t id;
	struct passwd *pw = getpwnam(o->user);
	if (pw) {
		o->uid = pw->pw_uid;
		o->gid = pw->pw_gid;
	} else if (parse_u64(o->user, 1, 0xfffffffe, &id) == 0) {
		/* a bare uid without a passwd entry: its own number as group */
		o->uid = (uid_t)id;
		o->gid = (gid_t)id;
	} else {
		return -1;
	}
	/* The command must never run as root, whatever the caller asked. */
	return o->uid == 0 || o->gid == 0 ? -1 : 0;
}

int options_parse(struct sandbox_options *o, int argc, char **argv, char *err, size_t errlen)
{
	*o = (struct sandbox_options){
		.timeout_ms = 30000, .memory_mb = 1536, .pids = 64, .fsize_mb = 16,
		.nofile = 256, .tmp_size_mb = 64, .work_size_mb = 64,
		.user = "nobody", .report_fd = -1, .accept_fd = -1, .template_fd = -1, .zygote_fd = -1,
	};
	int c, bad = 0, index = 0;
	const char *arg = NULL;
	bool user_given = false, range_given = false;

	optind = 0;	/* reset getopt, so that tests may call us repeatedly */
	opterr = 0;
	while (!bad && (c = getopt_long(argc, argv, "+", long_options, &index)) != -1) {
		arg = optarg;
		switch (c) {
		case OPT_WORKDIR:	o->workdir = optarg; bad = !*optarg; break;
		case OPT_TIMEOUT:	bad = parse_seconds(optarg, &o->timeout_ms); break;
		case OPT_MEMORY:	bad = parse_u64(optarg, 16, 1 << 20, &o->memory_mb); break;
		case OPT_PIDS:		bad = parse_u64(optarg, 1, 1 << 20, &o->pids); break;
		case OPT_FSIZE:		bad = parse_u64(optarg, 1, 1 << 20, &o->fsize_mb); break;
		case OPT_NOFILE:	bad = parse_u64(optarg, 8, 1 << 20, &o->nofile); break;
		case OPT_TMP_SIZE:	bad = parse_u64(optarg, 1, 1 << 20, &o->tmp_size_mb); break;
		case OPT_WORK_SIZE:	bad = parse_u64(optarg, 1, 1 << 20, &o->work_size_mb); break;
		case OPT_USER:		o->user = optarg; user_given = true; break;
		case OPT_UID_RANGE:	bad = parse_uid_range(optarg, o); range_given = !bad; break;
		case OPT_UID_LOCK:	o->uid_lock = optarg; bad = !*optarg; break;
		case OPT_CGROUP:	o->cgroup_parent = optarg; bad = *optarg != '/'; break;
		case OPT_REPORT_FD:	bad = parse_fd(optarg, &o->report_fd) || o->report_fd < 3; break;
		case OPT_SETENV:
			bad = o->n_setenv == SANDBOX_MAX_ENV || !strchr(optarg, '=') || *optarg == '=';
			if (!bad)
				o->setenv[o->n_setenv++] = optarg;
			break;
		case OPT_KEEP_FD:
			bad = o->n_keep_fds == SANDBOX_MAX_FDS ||
			      parse_fd(optarg, &o->keep_fds[o->n_keep_fds]) ||
			      o->keep_fds[o->n_keep_fds] < 3;
			if (!bad)
				o->n_keep_fds++;
			break;
		case OPT_RO_BIND:	bad = parse_bind(optarg, o); break;
		case OPT_SHARE_NET:	o->share_net = true; break;
		case OPT_ACCEPT_FD:	bad = parse_fd(optarg, &o->accept_fd) || o->accept_fd < 3; break;
		case OPT_TEMPLATE_FD:	bad = parse_fd(optarg, &o->template_fd) || o->template_fd < 3; break;
		case OPT_ZYGOTE:	bad = parse_fd(optarg, &o->zygote_fd) || o->zygote_fd < 3; break;
		case OPT_HELP:
			snprintf(err, errlen, "help");
			return -1;
		default:
			snprintf(err, errlen, "unknown option %s", argv[optind - 1]);
			return -1;
		}
	}
	if (bad) {
		snprintf(err, errlen, "bad value for --%s: \"%s\"", long_options[index].name,
			 arg ? arg : "");
		return -1;
	}
	if (optind >= argc) {
		snprintf(err, errlen, "no command given (expected: [OPTION]... -- COMMAND [ARG]...)");
		return -1;
	}
	if (range_given != (o->uid_lock != NULL) || (range_given && user_given)) {
		snprintf(err, errlen, "--uid-range and --uid-lock go together, and exclude --user");
		return -1;
	}
	if (!range_given && resolve_user(o)) {
		snprintf(err, errlen, "--user %s: no such user, or root", o->user);
		return -1;
	}
	for (int i = 0; i < o->n_keep_fds; i++)
		if (o->keep_fds[i] == o->report_fd) {
			snprintf(err, errlen, "--keep-fd %d is the report fd", o->report_fd);
			return -1;
		}
	/* A pre-started sandbox gets its work dir and gives its report and
	 * output through the client's connection. */
	if (o->accept_fd >= 0 && (o->workdir || o->report_fd >= 0 || o->n_keep_fds)) {
		snprintf(err, errlen, "--accept-fd excludes --workdir, --report-fd and --keep-fd");
		return -1;
	}
	if (o->template_fd >= 0 && (o->accept_fd < 0 || o->template_fd == o->accept_fd)) {
		snprintf(err, errlen, "--template-fd needs --accept-fd, another fd");
		return -1;
	}
	if (o->zygote_fd >= 0 && (o->template_fd < 0 || o->zygote_fd == o->template_fd ||
				  o->zygote_fd == o->accept_fd)) {
		snprintf(err, errlen, "--zygote needs --template-fd, another fd");
		return -1;
	}
	o->argv = argv + optind;
	return 0;
}
