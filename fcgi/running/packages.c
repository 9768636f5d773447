/* packages.c — a request's dependencies that no installed package
 * satisfies: installed on demand from the operator's index (or directory of
 * wheels), kept in a cache, and shown to the run read-only.
 *
 * The install is a run of its own (runners/install.py in a sandbox of its
 * own: its own uid, no capabilities, seccomp, a private /tmp, only /work
 * writable, the host's network only when the packages come from an index,
 * package_install_timeout_s, /work capped at twice package_max_mb). pip
 * takes binary wheels only, so no package's build code runs; what it
 * unpacked comes back through the sandbox's copy-out, which takes regular
 * files and directories only, and is checked again here before it is
 * published.
 *
 * The cache, under package_cache:
 *   sets/KEY/         one installed set: site/ (what goes on sys.path) and
 *                     info.json (its packages, top-level modules and size).
 *                     KEY is random, drawn as the set is published: what an
 *                     install left serves only the requirements it was made
 *                     for, never another list that resolves to the same
 *                     wheels (an install is hostile code's to change, should
 *                     any run in it), and no run can work out another's KEY.
 *                     Every sandbox sees sets/ read-only as /packages; it is
 *                     mode 0711, so a run reaches only the set it was given.
 *   requests/REQ      the KEY of the set installed for a request's
 *                     requirements; REQ is the SHA-256 of the requirements,
 *                     the index and the interpreter. A request seen before
 *                     costs a file read.
 *   locks/REQ         held (flock) by the one worker installing REQ: the same
 *                     requirements asked for at once are installed once.
 *                     Removed as it lets go; an install that failed leaves
 *                     its answer in it for those that waited.
 *   staging/          installs under way (install.WORKER.*) and sets being
 *                     removed (evicted.WORKER.KEY); emptied at start, and of
 *                     a worker's when it dies.
 *   cache.lock        held while evicting, and shared from a set's
 *                     publication to its first use, so that no eviction
 *                     takes it between.
 * A set is published with one rename(), so a run never sees half of one.
 * A run holds a shared flock on its set's directory until it ends; eviction
 * (least recently used first, past package_cache_max_mb) takes an exclusive
 * one without waiting, so a set in use is never removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fcgi/fcgi.h"
#include "sandbox/remove.h"

#define KEY_HEX 64
#define MAX_DEPTH 32

static void hex(const unsigned char digest[32], char out[KEY_HEX + 1])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static bool is_key(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n == KEY_HEX && !s[n];
}

static int make_dir(const char *path, mode_t mode, char *err, size_t errlen)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "package_cache: mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if (chmod(path, mode) < 0) {
		snprintf(err, errlen, "package_cache: chmod %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int packages_init(const struct config *c, bool at_start, char *err, size_t errlen)
{
	if (!config_installs(c))
		return 0;
	char path[4200];
	/* The parents as mkdir -p would make them; the cache's own parts with
	 * the modes the header says. */
	if (stage_make_root(c->package_cache, 0755, path, sizeof path) < 0) {
		snprintf(err, errlen, "package_cache: mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	static const struct { const char *name; mode_t mode; } parts[] = {
		{ "", 0755 }, { "/sets", 0711 }, { "/requests", 0700 }, { "/locks", 0700 }, { "/staging", 0700 },
	};
	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
		snprintf(path, sizeof path, "%s%s", c->package_cache, parts[i].name);
		if (make_dir(path, parts[i].mode, err, errlen) < 0)
			return -1;
	}
	if (strlen(c->package_cache) + sizeof "/sets" > 256) {
		snprintf(err, errlen, "package_cache: %s is longer than 250 characters", c->package_cache);
		return -1;
	}
	if (!at_start)
		return 0;
	/* Installs a stopped service left half done. */
	snprintf(path, sizeof path, "%s/staging", c->package_cache);
	DIR *d = dir_stream(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!d) {
		snprintf(err, errlen, "package_cache: %s: %s", path, strerror(errno));
		return -1;
	}
	for (struct dirent *de; (de = readdir(d));)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && remove_tree_at(dirfd(d), de->d_name) < 0)
			log_msg("cannot remove %s/%s: %s", path, de->d_name, strerror(errno));
	closedir(d);
	return 0;
}

/* A worker that died in an install or an eviction (killed at the end of a
 * reload's drain, say) leaves its staging directory, named for it. */
void packages_remove_leftovers(const struct config *c, pid_t worker)
{
	if (!config_installs(c))
		return;
	char path[4200];
	snprintf(path, sizeof path, "%s/staging", c->package_cache);
	stage_remove_leftovers(path, "install", worker);
	stage_remove_leftovers(path, "evicted", worker);
}

/* cache.lock, held HOW (LOCK_EX or LOCK_SH); -1 if it cannot be. */
static int cache_lock(const struct config *c, int how)
{
	char path[4300];
	snprintf(path, sizeof path, "%s/cache.lock", c->package_cache);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600), rc = 0;
	while (fd >= 0 && (rc = flock(fd, how)) < 0 && errno == EINTR)
		;
	if (fd >= 0 && rc < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* REQ: what the requirements, the source of packages and the interpreter
 * hash to. The requirements count as PEP 440 compares them, sorted, so
 * neither their spelling nor their order makes another set. */
static int by_string(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void request_key(const struct config *c, struct run_request *r, char out[KEY_HEX + 1])
{
	char (*canonical)[512] = xmalloc((r->n_missing ? r->n_missing : 1) * sizeof *canonical);
	for (size_t i = 0; i < r->n_missing; i++) {
		struct requirement q;
		if (deps_parse(r->missing[i], &q))
			deps_canonical(&q, canonical[i], sizeof canonical[i]);
		else
			snprintf(canonical[i], sizeof canonical[i], "%s", r->missing[i]);
	}
	qsort(canonical, r->n_missing, sizeof *canonical, by_string);
	/* The interpreter by the file it resolves to (python3 -> python3.11):
	 * an upgrade to another version, whose wheels differ, installs anew. */
	char real[PATH_MAX];
	if (!realpath(c->python, real))
		snprintf(real, sizeof real, "%s", c->python);
	struct buf b = { 0 };
	buf_printf(&b, "index %s\nlinks %s\npython %s\n", c->package_index_url, c->package_find_links, real);
	for (size_t i = 0; i < r->n_missing; i++)
		buf_printf(&b, "%s\n", canonical[i]);
	free(canonical);
	unsigned char digest[32];
	sha256(b.data, b.len, digest);
	buf_free(&b);
	hex(digest, out);
}

/* The most a set's info.json may hold: what reads it reads no more. */
#define INFO_MAX (1u << 20)

static json_object *read_json_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct buf b = { 0 };
	char chunk[16384];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof chunk)) > 0 && b.len < INFO_MAX)
		buf_put(&b, chunk, (size_t)n);
	close(fd);
	json_object *o = b.len ? json_tokener_parse(b.data) : NULL;
	buf_free(&b);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* Whether WORD is one of the space-separated LIST. */
static bool listed(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; n && (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* The version of the set's wheel that brings a top-level module imported
 * as one of NAME's, a pre-installed distribution the set does not name
 * (another wheel's numpy/, or PIL/ for pillow): the run imports that module
 * instead. *wheel names the wheel, *module the module. A distribution
 * whose modules are not known is taken to be imported by its own name. NULL
 * where the set has no such module, or cannot say whose it is (installed
 * before it kept its providers). */
static const char *stand_in(json_object *info, json_object *modules, json_object *packages, const char *name,
			    const char **wheel, const char **module)
{
	json_object *providers, *by, *v;
	if (!json_object_object_get_ex(info, "providers", &providers))
		return NULL;
	const char *own = deps_installed_modules(name);
	for (size_t i = 0; i < json_object_array_length(modules); i++) {
		const char *m = json_object_get_string(json_object_array_get_idx(modules, i));
		char norm[256];
		deps_normalise(m ? m : "", m ? strlen(m) : 0, norm, sizeof norm);
		if (!m || (own ? !listed(own, m) : strcmp(norm, name)) || !json_object_object_get_ex(providers, m, &by) ||
		    !json_object_is_type(by, json_type_array))
			continue;
		for (size_t j = 0; j < json_object_array_length(by); j++) {
			const char *d = json_object_get_string(json_object_array_get_idx(by, j));
			if (d && json_object_object_get_ex(packages, d, &v) && json_object_is_type(v, json_type_string)) {
				*wheel = d;
				*module = m;
				return json_object_get_string(v);
			}
		}
	}
	return NULL;
}

/* The run takes set KEY: a shared lock on it, its path and modules, and
 * the version each missing requirement got. -1 if the set is not there
 * (never installed, or evicted). */
static int use_set(const struct config *c, const char *key, struct run_request *r)
{
	char path[4300];
	snprintf(path, sizeof path, "%s/sets/%s", c->package_cache, key);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc;
	while ((rc = flock(fd, LOCK_SH)) < 0 && errno == EINTR)
		;
	/* Evicted between the open and the lock: renamed away, then removed. */
	struct stat held, now;
	json_object *info = NULL, *packages, *modules, *at_start;
	if (rc < 0 || fstat(fd, &held) < 0 || stat(path, &now) < 0 || held.st_ino != now.st_ino ||
	    !(info = read_json_at(fd, "info.json")) ||
	    !json_object_object_get_ex(info, "packages", &packages) ||
	    !json_object_object_get_ex(info, "top_level", &modules) ||
	    !json_object_is_type(modules, json_type_array)) {
		json_object_put(info);
		close(fd);
		return -1;
	}
	/* A set installed before at_start was kept may provide such a module
	 * as well as not. */
	r->package_at_start = !json_object_object_get_ex(info, "at_start", &at_start) ||
			      !json_object_is_type(at_start, json_type_array) ||
			      json_object_array_length(at_start) > 0;
	futimens(fd, NULL);	/* the least recently used go first */
	r->package_lock = fd;
	snprintf(r->package_path, sizeof r->package_path, "/packages/%s/site", key);
	r->package_modules[0] = '\0';
	size_t used = 0;
	for (size_t i = 0; i < json_object_array_length(modules); i++) {
		const char *m = json_object_get_string(json_object_array_get_idx(modules, i));
		int n = snprintf(r->package_modules + used, sizeof r->package_modules - used, "%s%s",
				 used ? " " : "", m ? m : "");
		if (n < 0 || (size_t)n >= sizeof r->package_modules - used) {
			/* Too many to name: the run cannot be warm. */
			snprintf(r->package_modules, sizeof r->package_modules, "*");
			break;
		}
		used += (size_t)n;
	}
	/* What the run imports: a pre-installed package the set brings again
	 * (another's dependency), or a module of its name another of the set's
	 * wheels brings, comes from the set, ahead on sys.path. */
	r->packages.len = 0;
	r->package_conflict[0] = '\0';
	for (size_t i = 0; i < r->n_satisfied; i++) {
		const struct requirement *s = &r->satisfied[i];
		const char *have = deps_installed_version(s->name), *wheel = s->name, *module = s->name, *brought;
		json_object *v = NULL;
		if (json_object_object_get_ex(packages, s->name, &v) && json_object_is_type(v, json_type_string))
			brought = json_object_get_string(v);
		else
			brought = stand_in(info, modules, packages, s->name, &wheel, &module);
		if (brought) {
			have = brought;
			bool other = wheel != s->name;	/* a wheel of another name brings it */
			if (!deps_satisfies(have, s) && !r->package_conflict[0])
				snprintf(r->package_conflict, sizeof r->package_conflict,
					 "%s%s%s: the packages installed for the other dependencies bring %.100s %.100s%s%.100s, "
					 "which does not satisfy it", s->name, s->op, s->version, wheel, have,
					 other ? ", whose module the run would import as " : "", other ? module : "");
		}
		if (r->packages.len)
			buf_puts(&r->packages, ", ");
		json_put_cstring(&r->packages, s->name);
		buf_puts(&r->packages, ": ");
		if (have && *have)
			json_put_cstring(&r->packages, have);
		else
			buf_puts(&r->packages, "null");
	}
	for (size_t i = 0; i < r->n_missing; i++) {
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)strcspn(r->missing[i], "=!<>~"), r->missing[i]);
		json_object *v = NULL;
		if (r->packages.len)
			buf_puts(&r->packages, ", ");
		json_put_cstring(&r->packages, name);
		buf_puts(&r->packages, ": ");
		if (json_object_object_get_ex(packages, name, &v) && json_object_is_type(v, json_type_string))
			json_put_cstring(&r->packages, json_object_get_string(v));
		else
			buf_puts(&r->packages, "null");
	}
	json_object_put(info);
	return 0;
}

/* The set a request resolved to before, if it is still there. */
static int lookup(const struct config *c, const char *req, struct run_request *r)
{
	char path[4300], key[KEY_HEX + 2] = "";
	snprintf(path, sizeof path, "%s/requests/%s", c->package_cache, req);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat read_st, now_st;
	ssize_t n = read(fd, key, KEY_HEX + 1);
	bool have_st = fstat(fd, &read_st) == 0;
	close(fd);
	key[n > 0 ? n : 0] = '\0';
	if (is_key(key) && use_set(c, key, r) == 0)
		return 0;
	/* Its set was evicted: install again. Not if another worker has put
	 * a new entry in its place meanwhile (a rename: another inode). */
	if (have_st && stat(path, &now_st) == 0 && now_st.st_ino == read_st.st_ino && now_st.st_dev == read_st.st_dev)
		unlink(path);
	return -1;
}

/* What an entry takes on disk: its blocks, and at least a block per file
 * or directory whatever its length (an inode, a directory entry), so that
 * many small files count for what they cost, not for their bytes. */
static off_t footprint(const struct stat *st)
{
	off_t rounded = (st->st_size + 4095) & ~(off_t)4095, blocks = (off_t)st->st_blocks * 512;
	rounded = rounded > 4096 ? rounded : 4096;
	return blocks > rounded ? blocks : rounded;
}

/* Regular files and directories only, each link count 1 and depth bounded,
 * given the modes a run needs to read them and nothing more; *size: what
 * they take on disk. */
static int check_tree(int dirfd, int depth, off_t *size, char *why, size_t whylen)
{
	DIR *d = dir_stream(dup(dirfd));
	if (!d) {
		snprintf(why, whylen, "cannot read the installed tree: %s", strerror(errno));
		return -1;
	}
	int rc = 0;
	for (struct dirent *de; !rc && (de = readdir(d));) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			snprintf(why, whylen, "%s: %s", de->d_name, strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
			*size += footprint(&st);
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			rc = sub < 0 || fchmod(sub, 0755) < 0 ? -1 : check_tree(sub, depth + 1, size, why, whylen);
			if (sub < 0)
				snprintf(why, whylen, "%s: %s", de->d_name, strerror(errno));
			if (sub >= 0)
				close(sub);
		} else if (S_ISREG(st.st_mode) && st.st_nlink == 1) {
			*size += footprint(&st);
			if (fchmodat(dirfd, de->d_name, st.st_mode & 0111 ? 0755 : 0644, 0) < 0) {
				snprintf(why, whylen, "%s: %s", de->d_name, strerror(errno));
				rc = -1;
			}
		} else {
			snprintf(why, whylen, "the installed tree holds %.200s, which is not a plain file or directory",
				 de->d_name);
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

/* Writes name in dirfd whole or not at all: a temporary file renamed. */
static int write_atomically(int dirfd, const char *name, const char *data, size_t len)
{
	char tmp[200];
	snprintf(tmp, sizeof tmp, ".%s.%d", name, (int)getpid());
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int rc = write_all(fd, data, len);
	if (close(fd) < 0)
		rc = -1;
	if (rc == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		rc = -1;
	if (rc < 0)
		unlinkat(dirfd, tmp, 0);
	return rc;
}

/* What the installer said went wrong, as the status an agent can act on. */
static int install_failed(const struct run_result *res, const struct config *c, struct http_error *e)
{
	metrics_package(PACKAGES_FAILED);
	if (res->timed_out)
		return http_fail(e, 504, "installing the dependencies took longer than %u s "
				 "(package_install_timeout_s); nothing was kept", c->package_install_timeout_s);
	if (res->oom_killed)
		return http_fail(e, 413, "installing the dependencies ran out of memory; nothing was kept");
	json_object *o = res->channel.len ? json_tokener_parse(res->channel.data) : NULL, *v;
	const char *kind = o && json_object_object_get_ex(o, "error", &v) ? json_object_get_string(v) : NULL;
	const char *detail = o && json_object_object_get_ex(o, "detail", &v) ? json_object_get_string(v) : NULL;
	if (!kind || !detail) {
		/* The installer itself failed: its stderr's last line says why. */
		size_t end = res->err.len;
		while (end && res->err.data[end - 1] == '\n')
			end--;
		size_t start = end;
		while (start && res->err.data[start - 1] != '\n')
			start--;
		http_fail(e, 500, "the package installer failed (exit %d): %.*s", res->exit_code,
			  (int)(end - start > 300 ? 300 : end - start), res->err.data ? res->err.data + start : "");
	} else if (!strcmp(kind, "not_found")) {
		http_fail(e, 400, "dependencies: %s", detail);
	} else if (!strcmp(kind, "unreachable")) {
		http_fail(e, 502, "dependencies: %s; retry later", detail);
	} else if (!strcmp(kind, "refused")) {
		http_fail(e, 502, "dependencies: %s", detail);	/* the operator's to mend: no retry */
	} else if (!strcmp(kind, "too_big")) {
		http_fail(e, 413, "dependencies: %s (package_max_mb)", detail);
	} else {
		http_fail(e, 400, "dependencies cannot be installed: %s", detail);
	}
	json_object_put(o);
	return -1;
}

/* Publishes what the installer left in staging/output as sets/KEY, and
 * points requests/REQ at it. *HELD: cache.lock, shared from before the
 * rename, for the caller to let go once the run holds the set. *VERDICT:
 * set when the failure is the packages' own (what they hold, their size). */
static int publish(const struct config *c, const char *staging, const char *req,
		   const struct run_result *res, struct http_error *e, int *held, bool *verdict)
{
	json_object *o = json_tokener_parse(res->channel.data ? res->channel.data : ""), *v;
	char path[4400], why[300] = "", key[KEY_HEX + 1] = "";
	unsigned char name[32];
	int rc = -1, out = -1, site = -1;
	off_t size = 0;
	snprintf(path, sizeof path, "%s/output", staging);
	if (getrandom(name, sizeof name, 0) != (ssize_t)sizeof name) {
		http_fail(e, 500, "cannot draw a name for the packages: %s", strerror(errno));
		goto done;
	}
	hex(name, key);
	if (!o || !json_object_object_get_ex(o, "ok", &v)) {
		http_fail(e, 500, "the package installer gave no result");
		goto done;
	}
	/* A file the sandbox could not copy out of the installer's work dir
	 * (package_cache's file system full) would be missing from the set,
	 * for every run that asks for it after: nothing is kept. */
	if (res->left_behind.len || res->left_behind_unnamed) {
		http_fail(e, 507, "the installed packages could not all be copied into package_cache "
			  "(is its file system full?); nothing was kept");
		goto done;
	}
	if ((out = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    (site = openat(out, "site", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		http_fail(e, 500, "the package installer left no packages");
		goto done;
	}
	rc = fchmod(out, 0755) < 0 || fchmod(site, 0755) < 0 ? -1 : check_tree(site, 1, &size, why, sizeof why);
	close(site);
	if (rc < 0) {
		http_fail(e, 400, "dependencies cannot be installed: %s", why[0] ? why : strerror(errno));
		*verdict = why[0] != '\0';
		goto done;
	}
	if (size > (off_t)c->package_max_mb << 20) {
		*verdict = true;
		rc = http_fail(e, 413, "dependencies: the packages take %lld MB, more than %u MB (package_max_mb)",
			       (long long)(size >> 20), c->package_max_mb);
		goto done;
	}
	json_object_object_add(o, "size", json_object_new_int64(size));
	json_object_object_del(o, "ok");
	const char *info = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	/* Its modules as many as max_output_kib let the installer name: past
	 * INFO_MAX no run could read the set, nor an eviction count it. */
	if (strlen(info) > INFO_MAX) {
		*verdict = true;
		metrics_package(PACKAGES_FAILED);
		rc = http_fail(e, 413, "dependencies: the packages bring more modules than a set's record may "
			       "name (%u KiB); nothing was kept", INFO_MAX >> 10);
		goto done;
	}
	char set[4300];
	snprintf(set, sizeof set, "%s/sets/%s", c->package_cache, key);
	/* The lock keeps an eviction from taking the set before its use. */
	*held = cache_lock(c, LOCK_SH);
	if (write_atomically(out, "info.json", info, strlen(info)) < 0 || rename(path, set) < 0) {
		rc = http_fail(e, 500, "cannot publish the packages in %s: %s", set, strerror(errno));
		goto done;
	}
	snprintf(path, sizeof path, "%s/requests", c->package_cache);
	int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = dir < 0 ? -1 : write_atomically(dir, req, key, strlen(key));
	if (dir >= 0)
		close(dir);
	if (rc < 0)
		http_fail(e, 500, "cannot record the packages in %s: %s", path, strerror(errno));
	else
		metrics_package(PACKAGES_INSTALLED);
done:
	if (out >= 0)
		close(out);
	json_object_put(o);
	return rc;
}

/* The installer's request, on its stdin. */
static void install_request(const struct config *c, const struct run_request *r, struct buf *b)
{
	buf_puts(b, "{\"requirements\": [");
	for (size_t i = 0; i < r->n_missing; i++) {
		if (i)
			buf_puts(b, ", ");
		json_put_cstring(b, r->missing[i]);
	}
	buf_puts(b, "], \"index_url\": ");
	if (strcmp(c->package_index_url, "none"))
		json_put_cstring(b, c->package_index_url);
	else
		buf_puts(b, "null");
	buf_printf(b, ", \"find_links\": %s, \"max_mb\": %u}",
		   strcmp(c->package_find_links, "none") ? "\"/links\"" : "null", c->package_max_mb);
}

/* Installs the missing requirements of R as the set REQ resolves to;
 * *HELD as publish() leaves it. *VERDICT: set when the failure is the
 * requirements' or the index's (not found, unreachable, too big, past its
 * time limit, refused), which the same requirements would meet again now;
 * not for the service's own failures, nor for memory, which a host short
 * of it may have taken. */
static int install(struct request_ctx *ctx, const struct config *c, const char *req,
		   const struct run_request *r, struct http_error *e, int *held, bool *verdict)
{
	char staging[4300], work_mb[16], links[4200];
	snprintf(staging, sizeof staging, "%s/staging/install.%d.XXXXXX", c->package_cache, (int)getpid());
	if (!mkdtemp(staging))
		return http_fail(e, 500, "cannot make a staging directory in %s/staging: %s", c->package_cache,
				 strerror(errno));
	struct buf in = { 0 };
	install_request(c, r, &in);
	struct run_request ir;
	request_init(&ir);
	ir.install = true;
	ir.runner = runner_install;
	ir.entry_point = "install";
	ir.timeout_s = c->package_install_timeout_s;
	ir.memory_mb = 1024;
	ir.stdin_data = in.data;
	ir.stdin_len = in.len;
	/* Room for the wheels and what they unpack to, in files of any size
	 * that fits (numpy's wheel alone is 18 MB): the run's limits are made
	 * for scripts. */
	snprintf(work_mb, sizeof work_mb, "%u", 2 * c->package_max_mb + 16);
	int a = 0;
	ir.sandbox_extra[a++] = "--work-size";
	ir.sandbox_extra[a++] = work_mb;
	ir.sandbox_extra[a++] = "--fsize";
	ir.sandbox_extra[a++] = work_mb;
	if (strcmp(c->package_index_url, "none")) {
		ir.sandbox_extra[a++] = "--share-net";
	} else {
		snprintf(links, sizeof links, "%s:/links", c->package_find_links);
		ir.sandbox_extra[a++] = "--ro-bind";
		ir.sandbox_extra[a++] = links;
	}

	int rc = -1, slot = run_slot_take(ctx, e);
	if (slot >= 0) {
		struct run_result res;
		run_sandbox(c, staging, &ir, &res, -1, ctx->progress);
		slots_release(slot);
		if (res.fault[0]) {
			rc = http_fail(e, 500, "the package installer could not run: %s", res.fault);
		} else if (res.channel_truncated) {
			/* Its answer names each top-level module the wheels bring,
			 * as many as they choose: one cut at the cap cannot be
			 * read, and the same wheels would be cut again. */
			metrics_package(PACKAGES_FAILED);
			rc = http_fail(e, 413, "dependencies: the packages bring more modules than their installer's "
				       "answer may name (max_output_kib); nothing was kept");
			*verdict = true;
		} else if (res.timed_out || res.oom_killed || res.exit_code != 0 ||
			 !strstr(res.channel.data ? res.channel.data : "", "\"ok\"")) {
			rc = install_failed(&res, c, e);
			*verdict = !res.oom_killed && e->status != 500;
		} else {
			rc = publish(c, staging, req, &res, e, held, verdict);
		}
		if (rc < 0 && e->status >= 500)
			log_msg("package install failed: %s%s%.*s", e->message, res.err.len ? "; stderr: " : "",
				(int)(res.err.len > 2000 ? 2000 : res.err.len), res.err.data ? res.err.data : "");
		run_result_free(&res);
	}
	buf_free(&in);
	request_free(&ir);
	stage_remove(staging);
	return rc;
}

/* Evicts the least recently used sets while they take more than
 * package_cache_max_mb, skipping any a run holds. */
struct set_entry {
	char key[KEY_HEX + 1];
	time_t used;
	long long size;
};

static int by_use(const void *a, const void *b)
{
	const struct set_entry *x = a, *y = b;
	return x->used < y->used ? -1 : x->used > y->used;
}

/* Removes the requests/ entries whose set is gone. A request only finds
 * that out when it comes again, and one spelled once never does: without
 * this, each install would leave a file behind for good. Called with
 * cache.lock held exclusively, so no entry is being written (publish()
 * writes under it, shared, after its set). */
static void forget_requests(const struct config *c, int sets)
{
	char path[4300], key[KEY_HEX + 2];
	snprintf(path, sizeof path, "%s/requests", c->package_cache);
	int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dir >= 0 ? dir_stream(dup(dir)) : NULL;
	for (struct dirent *de; d && (de = readdir(d));) {
		if (!is_key(de->d_name))
			continue;
		int fd = openat(dir, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		ssize_t len = fd >= 0 ? read(fd, key, KEY_HEX + 1) : -1;
		if (fd >= 0)
			close(fd);
		key[len > 0 ? len : 0] = '\0';
		struct stat st;
		if (fd >= 0 && (!is_key(key) || fstatat(sets, key, &st, AT_SYMLINK_NOFOLLOW) < 0) &&
		    unlinkat(dir, de->d_name, 0) < 0 && errno != ENOENT)
			log_msg("cannot remove %s/%s: %s", path, de->d_name, strerror(errno));
	}
	if (d)
		closedir(d);
	if (dir >= 0)
		close(dir);
}

static void evict(const struct config *c)
{
	char path[4300];
	int lock = cache_lock(c, LOCK_EX);
	if (lock < 0)
		return;
	snprintf(path, sizeof path, "%s/sets", c->package_cache);
	int sets = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = sets >= 0 ? dir_stream(dup(sets)) : NULL;
	struct set_entry *all = NULL;
	size_t n = 0, cap = 0;
	long long total = 0;
	for (struct dirent *de; d && (de = readdir(d));) {
		struct stat st;
		if (!is_key(de->d_name) || fstatat(sets, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		int fd = openat(sets, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		json_object *info = fd >= 0 ? read_json_at(fd, "info.json") : NULL, *v;
		if (fd >= 0)
			close(fd);
		if (n == cap)
			all = xrealloc(all, (cap = cap ? 2 * cap : 64) * sizeof *all);
		all[n] = (struct set_entry){ .used = st.st_mtime };
		snprintf(all[n].key, sizeof all[n].key, "%.64s", de->d_name);
		all[n].size = info && json_object_object_get_ex(info, "size", &v) ? json_object_get_int64(v) : 0;
		total += all[n++].size;
		json_object_put(info);
	}
	if (d)
		closedir(d);
	if (n)
		qsort(all, n, sizeof *all, by_use);
	long long max = (long long)c->package_cache_max_mb << 20;
	bool evicted = false;
	for (size_t i = 0; i < n && total > max; i++) {
		int fd = openat(sets, all[i].key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			/* Out of sets/ first, so no run finds it half removed. */
			char gone[4400];
			snprintf(gone, sizeof gone, "%s/staging/evicted.%d.%s", c->package_cache, (int)getpid(),
				 all[i].key);
			snprintf(path, sizeof path, "%s/sets/%s", c->package_cache, all[i].key);
			if (rename(path, gone) == 0) {
				stage_remove(gone);
				evicted = true;
				total -= all[i].size;
				metrics_package(PACKAGES_EVICTED);
				log_msg("package set %.12s evicted (%lld MB)", all[i].key, all[i].size >> 20);
			}
		}
		close(fd);
	}
	free(all);
	if (evicted && sets >= 0)
		forget_requests(c, sets);
	if (sets >= 0)
		close(sets);
	close(lock);
}

/* An install's verdict on its requirements or the index (install()'s
 * *verdict), left in its lock file for those that waited on it: the same
 * requirements would fail the same way again, and each waiter trying the
 * index anew held its queue place for up to package_install_timeout_s
 * more, one after the other. Other failures (the service's own, the
 * installing client's) are not left, and the next holder tries again. */
static bool verdict_status(int status)
{
	return status == 400 || status == 413 || status == 502 || status == 504;
}

static void verdict_leave(int lock, const struct http_error *e)
{
	char text[sizeof e->message + 16];
	int len = snprintf(text, sizeof text, "%d %s", e->status, e->message);
	if (len > 0 && pwrite(lock, text, (size_t)len, 0) != len)
		log_msg("cannot leave an install's failure for its waiters: %s", strerror(errno));
}

/* 0 and E filled: the install LOCK was held for failed, as it said. */
static int verdict_read(int lock, struct http_error *e)
{
	char text[sizeof e->message + 16];
	ssize_t len = pread(lock, text, sizeof text - 1, 0);
	if (len <= 0)
		return -1;
	text[len] = '\0';
	char *end;
	long status = strtol(text, &end, 10);
	if (!verdict_status((int)status) || *end != ' ')
		return -1;
	metrics_package(PACKAGES_FAILED);
	http_fail(e, (int)status, "%s", end + 1);
	return 0;
}

static int prepare(struct request_ctx *ctx, const struct config *c, struct run_request *r,
		   struct http_error *e)
{
	char req[KEY_HEX + 1], path[4300];
	request_key(c, r, req);
	if (lookup(c, req, r) == 0) {
		metrics_package(PACKAGES_CACHED);
		return 0;
	}
	/* One install per set of requirements: the others wait for it, then
	 * find its set. Each waits in a place of the run queue, as a request
	 * waiting for a slot does: past queue_size, a 503 at once rather than
	 * one more worker held. */
	snprintf(path, sizeof path, "%s/locks/%s", c->package_cache, req);
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	unsigned waited_ms = 0;
	int lock, place = -1;
	for (;;) {
		if ((lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
			slots_queue_leave(place);
			return http_fail(e, 500, "cannot open %s: %s", path, strerror(errno));
		}
		for (; flock(lock, LOCK_EX | LOCK_NB) < 0; waited_ms += 50) {
			if (place < 0 && (place = run_queue_enter(ctx, e)) < 0) {
				close(lock);
				return -1;
			}
			if (waited_ms > (c->package_install_timeout_s + 30) * 1000u) {
				close(lock);
				slots_queue_leave(place);
				return http_fail(e, 504, "another install of the same dependencies did not finish in time");
			}
			if (run_wait_ended(ctx, e) < 0) {
				close(lock);
				slots_queue_leave(place);
				return -1;
			}
			run_progress_due(ctx->progress);
			nanosleep(&pause, NULL);
		}
		/* The holder before us removes the file as it lets go (or the
		 * directory would keep one per set ever asked for): a lock on
		 * a file no longer at PATH is no lock. */
		struct stat held, now;
		if (fstat(lock, &held) == 0 && stat(path, &now) == 0 && held.st_ino == now.st_ino)
			break;
		if (verdict_read(lock, e) == 0) {
			close(lock);
			slots_queue_leave(place);
			return -1;
		}
		close(lock);
	}
	slots_queue_leave(place);	/* the install takes a run slot of its own */
	/* A holder killed after its verdict and before the unlink left it. */
	if (ftruncate(lock, 0) < 0)
		log_msg("cannot empty %s: %s", path, strerror(errno));
	int rc = 0, held = -1;
	bool verdict = false;
	if (lookup(c, req, r) == 0) {
		metrics_package(PACKAGES_CACHED);
	} else if ((rc = install(ctx, c, req, r, e, &held, &verdict)) == 0) {
		rc = lookup(c, req, r);
		if (held >= 0)
			close(held);	/* before evict() takes it whole */
		if (rc < 0)
			http_fail(e, 500, "the installed packages vanished from %s", c->package_cache);
		else
			evict(c);
	} else {
		if (held >= 0)
			close(held);
		if (verdict && verdict_status(e->status))
			verdict_leave(lock, e);
	}
	unlink(path);
	close(lock);
	return rc;
}

int packages_prepare(struct request_ctx *ctx, const struct config *c, struct run_request *r,
		     struct http_error *e)
{
	if (!r->n_missing)
		return 0;
	if (prepare(ctx, c, r, e) == 0) {
		if (!r->package_conflict[0])
			return 0;
		packages_release(r);
		return http_fail(e, 400, "dependencies: %s", r->package_conflict);
	}
	/* A 502 or 504 of the service's own: nothing ran. A fleet's front end
	 * tells it by this header from the 502 and 504 of a host's nginx,
	 * after which the script may have run (nginx/coderunner-fleet.conf);
	 * the body is gone once it intercepts them, so the message goes in
	 * a header too, as the inside of a JSON string (no CR or LF). */
	if (e->status == 502 || e->status == 504) {
		struct buf m = { 0 };
		json_put_cstring(&m, e->message);
		snprintf(ctx->rsp.extra_headers, sizeof ctx->rsp.extra_headers,
			 "X-Coderunner-Error: dependencies\r\nX-Coderunner-Message: %.*s\r\n",
			 (int)(m.len - 2), m.data + 1);
		buf_free(&m);
	}
	return -1;
}

void packages_release(struct run_request *r)
{
	if (r->package_lock >= 0)
		close(r->package_lock);
	r->package_lock = -1;
}
