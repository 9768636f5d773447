/* config.c — the operator's file: `key = value` lines, `#` comments.
 *
 * Every key has a default (the table below is the single source of keys,
 * defaults and meanings: --help-config prints it and the README copies it).
 * A bad value stops start-up with a message naming the file, line and key,
 * so a typo never silently becomes a default. A key given twice takes its
 * last value: `echo key = value >> file` is how operators (and the tests)
 * override one.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

struct service service;

enum kind { UINT, UINT_AUTO, STRING, CGROUP, UIDS, OBSOLETE };

struct key {
	const char *name;
	enum kind kind;
	size_t offset, size;		/* size: STRING capacity */
	unsigned min, max;
	const char *def;
	const char *meaning;
};

#define U(name, min, max, def, meaning) \
	{ #name, UINT, offsetof(struct config, name), 0, min, max, def, meaning }
#define UA(name, min, max, meaning) \
	{ #name, UINT_AUTO, offsetof(struct config, name), 0, min, max, "auto", meaning }
#define S(name, def, meaning) \
	{ #name, STRING, offsetof(struct config, name), sizeof(((struct config *)0)->name), 0, 0, def, meaning }

static const struct key keys[] = {
	UA(max_runs, 1, MAX_RUN_SLOTS, "sandboxed runs at once; auto = 2 x CPUs"),
	UA(queue_size, 0, MAX_QUEUE_SLOTS, "requests that may wait for a run slot, or for another's install of the same dependencies; auto = 2 x max_runs"),
	UA(workers, 1, MAX_WORKERS, "worker processes; auto = max_runs + queue_size + 2, so health checks never wait behind runs"),
	UA(prestarted, 1, MAX_PRESTARTED, "sandboxes kept built with an interpreter started, waiting for a run; auto = CPUs"),
	U(queue_timeout_s, 0, 3600, "10", "longest wait for a run slot before 503"),
	U(retry_after_s, 1, 3600, "5", "the Retry-After header of a 503"),
	U(drain_timeout_s, 1, 3600, "480",
	  "on SIGTERM, how long in-flight runs may take before they are killed (past 480, raise the unit's TimeoutStopSec too)"),
	U(fcgi_timeout_s, 1, 3600, "30",
	  "how long a FastCGI connection may send nothing while its request is read, or take to read its answer (each part of a streamed one)"),
	S(sandbox, BINDIR "/coderunner-sandbox", "the coderunner-sandbox binary"),
	S(python, "/usr/bin/python3", "the interpreter run in the sandbox"),
	{ "template", STRING, offsetof(struct config, template_bin), sizeof(((struct config *)0)->template_bin),
	  0, 0, BINDIR "/coderunner-template", "the coderunner-template binary (warm runs)" },
	S(preload, "numpy, pandas, matplotlib.pyplot",
	  "modules a template imports once, so that runs start warm with them; none: every run starts cold"),
	S(template_cache, "/var/cache/coderunner/template",
	  "a file where the template keeps what each of its imports brings in, so that the next one starts "
	  "in seconds; none: found out at every start"),
	S(allowed_hosts, "localhost, 127.0.0.1, [::1]",
	  "host names (any port) that /mcp's Host and a browser's Origin on an endpoint that runs code may carry; * allows any"),
	S(api_keys_file, "none",
	  "a file of API keys, one per line (or sha256:HEX of one); every endpoint that runs code then wants one; none: no keys"),
	S(work_root, "/run/coderunner/work",
	  "where work directories are staged (created 0700 if missing); a change takes a restart"),
	{ "run_uids", UIDS, 0, 0, 0, 0, DEFAULT_RUN_UIDS,
	  "FIRST-LAST: every sandbox runs as a uid of its own from this range, which no account may use" },
	{ "user", OBSOLETE, 0, 0, 0, 0, "", "obsolete and ignored: runs take their uids from run_uids" },
	{ "cgroup", CGROUP, offsetof(struct config, cgroup), 0, 0, 0, "auto",
	  "auto: use a delegated cgroup v2 subtree when there is one; off: always rlimits; a change takes a restart" },
	U(timeout_default_s, 1, 86400, "30", "timeout_s when the request gives none"),
	U(timeout_max_s, 1, 86400, "300", "larger timeout_s values are clamped to this"),
	U(memory_default_mb, 64, 1048576, "1536", "memory_mb when the request gives none"),
	U(memory_max_mb, 64, 1048576, "4096", "the largest memory_mb a request may ask for"),
	U(pids, 1, 65536, "64", "processes and threads per run"),
	U(fsize_mb, 1, 1048576, "16", "largest file a run may write"),
	U(nofile, 16, 1048576, "256", "open files per run"),
	U(tmp_size_mb, 1, 1048576, "64", "size of a run's /tmp"),
	U(work_size_mb, 1, 1048576, "64", "size of a run's /work"),
	U(max_script_kib, 1, 1048576, "256", "largest script (413 above)"),
	U(max_entries, 0, 100000, "20", "most files + context entries (413 above)"),
	U(max_entry_mib, 1, 4096, "5", "largest decoded files/context entry (413 above)"),
	U(max_input_mib, 1, 4096, "10", "all decoded files/context together (413 above)"),
	U(max_body_mib, 1, 4096, "16", "largest request body (413 above); keep nginx's client_max_body_size equal"),
	U(max_artifacts_mib, 0, 4096, "10", "artifacts returned in all; the rest are named in artifacts_omitted"),
	U(max_output_kib, 1, 1048576, "1024", "stdout and stderr captured, each; the rest is dropped (a package installer's answer too)"),
	U(max_dependencies, 0, 1000, "15", "most entries in dependencies (400 above)"),
	S(package_index_url, "none",
	  "a PEP 503 simple index (a PyPI mirror, devpi) that dependencies not installed come from; none: not from an index"),
	S(package_find_links, "none",
	  "instead, a directory of wheels that dependencies not installed come from; none: not from a directory"),
	S(package_cache, "/var/cache/coderunner/packages", "where installed package sets are kept"),
	U(package_install_timeout_s, 1, 3600, "120", "longest install of a request's packages (504 above)"),
	U(package_max_mb, 1, 65536, "512", "largest package set, unpacked (413 above)"),
	U(package_cache_max_mb, 1, 1048576, "4096",
	  "package sets kept; past it the least recently used are removed, never one in use"),
	U(max_json_depth, 4, 1000, "64", "deepest nesting of a request's JSON (400 deeper)"),
	U(max_json_values, 100, 10000000, "10000",
	  "most values (objects, arrays, strings, numbers) in a request's JSON (413 more)"),
	U(execute_timeout_s, 1, 86400, "30", "POST /execute: the timeout of each run (408 when it passes)"),
	U(execute_memory_mb, 64, 1048576, "300", "POST /execute: the memory limit of each run"),
	U(execute_max_script_kib, 1, 1048576, "50", "POST /execute: largest script (413 above)"),
	U(health_interval_s, 0, 3600, "5", "GET /health: how long the answer of one sandbox self-check is reused"),
};

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static int set_value(struct config *c, const struct key *k, const char *v, char *err, size_t errlen)
{
	char *p = (char *)c + k->offset;
	switch (k->kind) {
	case STRING:
		if (!*v) {
			snprintf(err, errlen, "%s: must not be empty", k->name);
			return -1;
		}
		if (strlen(v) >= k->size) {
			snprintf(err, errlen, "%s: longer than %zu bytes", k->name, k->size - 1);
			return -1;
		}
		strcpy(p, v);
		return 0;
	case CGROUP:
		if (strcmp(v, "auto") == 0)
			c->cgroup = CGROUP_AUTO;
		else if (strcmp(v, "off") == 0)
			c->cgroup = CGROUP_OFF;
		else {
			snprintf(err, errlen, "%s: \"%s\" is neither auto nor off", k->name, v);
			return -1;
		}
		return 0;
	case UIDS: {
		char *last, *end = NULL;
		errno = 0;
		unsigned long first = strtoul(v, &last, 10), n = 0;
		if (*last == '-')
			n = strtoul(last + 1, &end, 10);
		/* 0x7fffffff: some tools read a uid as a signed number. */
		if (!isdigit((unsigned char)*v) || *last != '-' || !isdigit((unsigned char)last[1]) ||
		    *end || errno || first < 1000 || n < first || n > 0x7fffffffUL) {
			snprintf(err, errlen, "%s: \"%s\" is not FIRST-LAST, uids from 1000 to 2147483647",
				 k->name, v);
			return -1;
		}
		c->uid_first = (unsigned)first;
		c->uid_last = (unsigned)n;
		return 0;
	}
	case OBSOLETE:
		return 0;
	case UINT_AUTO:
		if (strcmp(v, "auto") == 0) {
			*(unsigned *)p = 0;	/* resolved in config_resolve() */
			return 0;
		}
		/* fall through */
	case UINT: {
		char *end;
		errno = 0;
		unsigned long n = strtoul(v, &end, 10);
		if (!isdigit((unsigned char)*v) || *end || errno || n < k->min || n > k->max) {
			snprintf(err, errlen, "%s: \"%s\" is not a whole number from %u to %u%s",
				 k->name, v, k->min, k->max, k->kind == UINT_AUTO ? " or auto" : "");
			return -1;
		}
		*(unsigned *)p = (unsigned)n;
		return 0;
	}
	}
	return -1;
}

static int config_resolve(struct config *c, char *err, size_t errlen)
{
	if (!c->max_runs)
		c->max_runs = 2 * online_cpus() > MAX_RUN_SLOTS ? MAX_RUN_SLOTS : 2 * online_cpus();
	if (c->queue_size == (unsigned)-1)
		c->queue_size = 2 * c->max_runs;
	if (!c->workers)
		c->workers = c->max_runs + c->queue_size + 2;
	/* One per CPU hides the interpreter's start behind the runs at low
	 * load; more only wait longer, and a waiting interpreter comes back
	 * with cold caches. */
	if (!c->prestarted)
		c->prestarted = online_cpus() > MAX_PRESTARTED ? MAX_PRESTARTED : online_cpus();
	if (c->timeout_default_s > c->timeout_max_s) {
		snprintf(err, errlen, "timeout_default_s: %u is above timeout_max_s (%u)",
			 c->timeout_default_s, c->timeout_max_s);
		return -1;
	}
	if (c->memory_default_mb > c->memory_max_mb) {
		snprintf(err, errlen, "memory_default_mb: %u is above memory_max_mb (%u)",
			 c->memory_default_mb, c->memory_max_mb);
		return -1;
	}
	if (c->workers <= c->max_runs + c->queue_size) {
		snprintf(err, errlen, "workers: %u leaves no worker free for health checks; "
			 "it must exceed max_runs + queue_size (%u)", c->workers,
			 c->max_runs + c->queue_size);
		return -1;
	}
	/* Sandboxes at once: runs, the pre-started ones (twice, across a
	 * reload), a health check and the start-up listing of packages. */
	unsigned sandboxes = c->max_runs + 2 * c->prestarted + 2;
	if (c->uid_last - c->uid_first + 1 < sandboxes) {
		snprintf(err, errlen, "run_uids: %u uids are fewer than the %u sandboxes that may run at "
			 "once (max_runs + 2 x prestarted + 2)", c->uid_last - c->uid_first + 1, sandboxes);
		return -1;
	}
	for (const char *p = c->preload; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_., ", *p)) {
			snprintf(err, errlen, "preload: \"%s\" is not a list of module names, or none", c->preload);
			return -1;
		}
	if (c->template_bin[0] != '/') {
		snprintf(err, errlen, "template: must be an absolute path");
		return -1;
	}
	if (strcmp(c->template_cache, "none") && c->template_cache[0] != '/') {
		snprintf(err, errlen, "template_cache: must be an absolute path, or none");
		return -1;
	}
	if (strcmp(c->package_index_url, "none") && strncmp(c->package_index_url, "http://", 7) &&
	    strncmp(c->package_index_url, "https://", 8)) {
		snprintf(err, errlen, "package_index_url: \"%s\" is not an http:// or https:// URL, or none",
			 c->package_index_url);
		return -1;
	}
	for (const char *p = c->package_index_url; *p; p++)
		if ((unsigned char)*p <= ' ' || strchr("\"'\\<>", *p)) {
			snprintf(err, errlen, "package_index_url: no spaces, quotes or control characters");
			return -1;
		}
	if (strcmp(c->package_find_links, "none") && c->package_find_links[0] != '/') {
		snprintf(err, errlen, "package_find_links: must be an absolute path, or none");
		return -1;
	}
	if (strcmp(c->package_index_url, "none") && strcmp(c->package_find_links, "none")) {
		snprintf(err, errlen, "package_index_url and package_find_links: set one of them, not both");
		return -1;
	}
	if (c->package_cache[0] != '/' || strchr(c->package_cache, ':')) {
		snprintf(err, errlen, "package_cache: must be an absolute path without \":\"");
		return -1;
	}
	if (access_load_keys(c, err, errlen) < 0)
		return -1;
	if (c->work_root[0] != '/' || c->sandbox[0] != '/' || c->python[0] != '/') {
		snprintf(err, errlen, "%s: must be an absolute path",
			 c->work_root[0] != '/' ? "work_root" : c->sandbox[0] != '/' ? "sandbox" : "python");
		return -1;
	}
	/* The pre-started sandboxes' socket lives there (pool.c). */
	struct sockaddr_un addr;
	if (strlen(c->work_root) + sizeof "/sandbox.sock.new" > sizeof addr.sun_path) {
		snprintf(err, errlen, "work_root: at most %zu characters, for the socket of the sandboxes in it",
			 sizeof addr.sun_path - sizeof "/sandbox.sock.new");
		return -1;
	}
	return 0;
}

void config_defaults(struct config *c)
{
	char err[256];
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (set_value(c, &keys[i], keys[i].def, err, sizeof err))
			die("built-in default: %s", err);
	c->queue_size = (unsigned)-1;	/* "auto", told apart from an explicit 0 */
	if (config_resolve(c, err, sizeof err))
		die("built-in defaults: %s", err);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int config_load(struct config *c, const char *path, bool must_exist, char *err, size_t errlen)
{
	char msg[512];
	config_defaults(c);
	c->max_runs = c->workers = c->prestarted = 0;
	c->queue_size = (unsigned)-1;

	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && !must_exist)
			return config_resolve(c, err, errlen);
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[8192];
	unsigned lineno = 0;
	bool queue_set = false;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line too long", path, lineno);
			fclose(f);
			return -1;
		}
		char *s = line;
		/* An editor's byte order mark, which would show in an error as
		 * an unknown key that looks right. */
		if (lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
			s += 3;
		s = trim(s);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected \"key = value\", got \"%.60s\"", path, lineno, s);
			fclose(f);
			return -1;
		}
		*eq = '\0';
		char *name = trim(s), *value = trim(eq + 1);
		const struct key *k = NULL;
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
			if (strcmp(keys[i].name, name) == 0)
				k = &keys[i];
		if (!k) {
			snprintf(err, errlen, "%s:%u: unknown key \"%.60s\"", path, lineno, name);
			fclose(f);
			return -1;
		}
		if (set_value(c, k, value, msg, sizeof msg)) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
			fclose(f);
			return -1;
		}
		if (strcmp(name, "queue_size") == 0)
			queue_set = strcmp(value, "auto") != 0;
	}
	bool failed = ferror(f);
	fclose(f);
	if (failed) {
		snprintf(err, errlen, "%s: read error", path);
		return -1;
	}
	if (!queue_set)
		c->queue_size = (unsigned)-1;
	if (config_resolve(c, msg, sizeof msg)) {
		snprintf(err, errlen, "%s: %s", path, msg);
		return -1;
	}
	return 0;
}

void config_print(const struct config *c, FILE *out)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key *k = &keys[i];
		const char *p = (const char *)c + k->offset;
		switch (k->kind) {
		case STRING: fprintf(out, "%s = %s\n", k->name, p); break;
		case CGROUP: fprintf(out, "%s = %s\n", k->name, c->cgroup == CGROUP_OFF ? "off" : "auto"); break;
		case UIDS: fprintf(out, "%s = %u-%u\n", k->name, c->uid_first, c->uid_last); break;
		case OBSOLETE: break;
		default: fprintf(out, "%s = %u\n", k->name, *(const unsigned *)p); break;
		}
	}
}

void config_describe(FILE *out)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i].kind != OBSOLETE)
			fprintf(out, "| `%s` | `%s` | %s |\n", keys[i].name, keys[i].def, keys[i].meaning);
}

bool config_installs(const struct config *c)
{
	return strcmp(c->package_index_url, "none") || strcmp(c->package_find_links, "none");
}

bool config_template(const struct config *c)
{
	return strcmp(c->preload, "none") != 0;
}

/* A run's uid must be nobody else's: no account or group of the host, and
 * not the service's own, may have a number of run_uids. Otherwise a run
 * could signal that account's processes or own its files. */
int config_check_run_uids(const struct config *c, char *err, size_t errlen)
{
	char clash[256] = "";
	struct passwd *pw;
	struct group *gr;
	setpwent();
	while (!*clash && (pw = getpwent()))
		if (pw->pw_uid >= c->uid_first && pw->pw_uid <= c->uid_last)
			snprintf(clash, sizeof clash, "user %s (uid %u)", pw->pw_name, (unsigned)pw->pw_uid);
	endpwent();
	setgrent();
	while (!*clash && (gr = getgrent()))
		if (gr->gr_gid >= c->uid_first && gr->gr_gid <= c->uid_last)
			snprintf(clash, sizeof clash, "group %s (gid %u)", gr->gr_name, (unsigned)gr->gr_gid);
	endgrent();
	if (!*clash && getuid() >= c->uid_first && getuid() <= c->uid_last)
		snprintf(clash, sizeof clash, "this service (uid %u)", (unsigned)getuid());
	if (!*clash)
		return 0;
	snprintf(err, errlen, "run_uids: %u-%u holds %s; choose a range no account uses",
		 c->uid_first, c->uid_last, clash);
	return -1;
}

/* Whether coderunner-sandbox will hold CAP_SYS_RESOURCE: as root, what the
 * bounding set allows; otherwise only what the ambient set carries across
 * its execve (coderunner.service grants it). */
bool config_sandbox_has_sys_resource(void)
{
	return getuid() == 0 ? prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE) == 1
			     : prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_SYS_RESOURCE, 0, 0) == 1;
}

/* Whether a path lies in what a sandbox's root holds of the host: /usr and
 * the top-level entries beside it (sandbox/mounts.c). */
static bool in_sandbox_root(const char *path)
{
	static const char *const tops[] = { "/usr/", "/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/" };
	for (size_t i = 0; i < sizeof tops / sizeof *tops; i++)
		if (strncmp(path, tops[i], strlen(tops[i])) == 0)
			return true;
	return false;
}

/* The programs the config names must exist, and the interpreter, which
 * runs inside the sandbox, must be found there. Every problem is said, in
 * one pass, "; " between them. */
int config_check_programs(const struct config *c, char *err, size_t errlen)
{
	size_t len = 0;
	err[0] = '\0';
	const char *progs[] = { c->sandbox, c->python, c->template_bin };
	const char *keys[] = { "sandbox", "python", "template" };
	for (int i = 0; i < (config_template(c) ? 3 : 2); i++)
		if (access(progs[i], X_OK) < 0 && len < errlen)
			len += (size_t)snprintf(err + len, errlen - len, "%s%s: %s: %s", len ? "; " : "",
						keys[i], progs[i], strerror(errno));
	char *real = realpath(c->python, NULL);
	if (real && (!in_sandbox_root(c->python) || !in_sandbox_root(real)) && len < errlen)
		len += (size_t)snprintf(err + len, errlen - len, "%spython: %s -> %s: a sandbox sees only /usr, "
					"/bin, /sbin and /lib* of the host, so no run could start it",
					len ? "; " : "", c->python, real);
	free(real);
	return len ? -1 : 0;
}

/* coderunner-sandbox sets each run's open files and file size as both soft
 * and hard limit; above the hard limit it inherits from us (the unit's
 * LimitNOFILE=) that takes CAP_SYS_RESOURCE. Where the sandbox has none,
 * a value past it would fail every run and every health check with
 * "setrlimit: Operation not permitted": refuse it here. (So --check-config
 * in a root shell checks nothing here; the service, under its unit, does
 * where a drop-in took the capability away.) */
int config_check_limits(const struct config *c, char *err, size_t errlen)
{
	if (config_sandbox_has_sys_resource())
		return 0;	/* the sandbox may raise its limits */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && c->nofile > rl.rlim_max) {
		snprintf(err, errlen, "nofile: %u is above this service's hard limit of open files (%llu, "
			 "LimitNOFILE= of its unit), which runs cannot pass", c->nofile,
			 (unsigned long long)rl.rlim_max);
		return -1;
	}
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    ((rlim_t)c->fsize_mb << 20) > rl.rlim_max) {
		snprintf(err, errlen, "fsize_mb: %u is above this service's hard limit of file size (%llu MiB, "
			 "LimitFSIZE= of its unit), which runs cannot pass", c->fsize_mb,
			 (unsigned long long)(rl.rlim_max >> 20));
		return -1;
	}
	return 0;
}

/* The longest a request can take: where installs are configured, a wait
 * for a slot, an install and 30 s more (for another worker's install of
 * the same set), then a wait for a slot and a run; for POST /execute, a
 * wait for a slot and its own timeout. nginx's shipped
 * fastcgi_read_timeout must exceed it, or nginx answers 504 while the run
 * goes on; so must drain_timeout_s, or a stop cuts it off. Neither is an
 * error (a service that never installs, or whose operator raised nginx's
 * timeout, is right), so it is said, not refused. */
#define NGINX_READ_TIMEOUT_S 500
int config_check_timeouts(const struct config *c, char *err, size_t errlen)
{
	unsigned run = (config_installs(c) ? c->queue_timeout_s + c->package_install_timeout_s + 30 : 0) +
		       c->queue_timeout_s + c->timeout_max_s;
	unsigned execute = c->queue_timeout_s + c->execute_timeout_s;
	unsigned longest = run > execute ? run : execute;
	bool nginx = longest >= NGINX_READ_TIMEOUT_S, drain = c->drain_timeout_s < longest;
	if (!nginx && !drain)
		return 0;
	int n = snprintf(err, errlen, "a request may take up to %u s (%s)", longest,
			 run >= execute ? (config_installs(c) ? "queue_timeout_s + package_install_timeout_s + 30 + "
							       "queue_timeout_s + timeout_max_s"
							     : "queue_timeout_s + timeout_max_s")
					: "queue_timeout_s + execute_timeout_s");
	if (nginx && n >= 0 && (size_t)n < errlen)
		n += snprintf(err + n, errlen - (size_t)n, ": raise fastcgi_read_timeout (%u s) in the nginx "
			      "snippet above it", NGINX_READ_TIMEOUT_S);
	if (drain && n >= 0 && (size_t)n < errlen)
		snprintf(err + n, errlen - (size_t)n, "%s a stop waits only drain_timeout_s = %u s for it",
			 nginx ? "; and" : ", and", c->drain_timeout_s);
	return -1;
}

bool config_uint(const struct config *c, const char *name, size_t len, unsigned *value)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if ((keys[i].kind == UINT || keys[i].kind == UINT_AUTO) && strlen(keys[i].name) == len &&
		    strncmp(keys[i].name, name, len) == 0) {
			*value = *(const unsigned *)((const char *)c + keys[i].offset);
			return true;
		}
	return false;
}
