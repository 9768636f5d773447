/* artifacts.c — the files a run left in ./output, as JSON.
 *
 * The sandbox copies back only regular files and directories, but the
 * directory is still the script's work and is read as hostile: every open is
 * relative to an fd we hold, with O_NOFOLLOW, and a file is read only when
 * fstat() on the opened fd says it is regular (O_NONBLOCK so a FIFO could
 * never block us). Symbolic links, FIFOs, sockets and devices are skipped.
 * Names are sorted so the same run gives the same response. Files beyond the
 * size budget, and names that are not UTF-8, are left out and named in
 * artifacts_omitted, after them those the sandbox left in the run for
 * /work's size (its report's output_omitted).
 *
 * The response must stay as small as the budget says, whatever the script
 * left: a returned file's path counts against the budget with its content
 * (32 levels of 255-byte names make an 8 KiB key), text counts as what it
 * becomes once escaped if that is more than its base64 would be (a control
 * character takes six bytes), and the names of files left
 * out stop at OMITTED_NAMES bytes, past which they are only counted. Without
 * that, a /work full of empty files under long names made a response of
 * 133 MB.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

#define MAX_DEPTH 32
#define MAX_FILES 1000
#define OMITTED_NAMES (64 * 1024)

struct walk {
	size_t cap, used, files, unnamed;
	struct buf *json, *omitted;
	bool first;
	struct buf content;
};

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void omit(struct walk *w, const char *path)
{
	if (w->omitted->len >= OMITTED_NAMES) {
		w->unnamed++;
		return;
	}
	if (w->omitted->len)
		buf_puts(w->omitted, ", ");
	json_put_cstring(w->omitted, path);
}

static bool read_fd(int fd, size_t size, struct buf *out)
{
	buf_reset(out);
	buf_reserve(out, size);
	while (out->len < size) {
		ssize_t n = read(fd, out->data + out->len, size - out->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		if (n == 0)
			break;		/* shrank while we read: send what is there */
		out->len += (size_t)n;
	}
	return true;
}

static void add_file(struct walk *w, int dirfd, const char *name, const char *path)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	/* A file the script made unreadable (chmod 000) is still ours to
	 * read: we own it, and we hold no capability to ignore its mode. */
	if (fd < 0 && errno == EACCES && fchmodat(dirfd, name, 0600, 0) == 0)
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	/* The key goes out escaped too: a name of control characters takes six
	 * bytes for each. */
	size_t size = (size_t)st.st_size, key = json_string_len(path, strlen(path));
	if (w->files >= MAX_FILES || size > w->cap - w->used || key > w->cap - w->used - size) {
		omit(w, path);
		close(fd);
		return;
	}
	bool ok = read_fd(fd, size, &w->content);
	close(fd);
	if (!ok)
		return;
	const unsigned char *p = (const unsigned char *)w->content.data;
	bool text = !memchr(p, '\0', w->content.len) && utf8_valid(p, w->content.len);
	/* Text goes out escaped, each control character as six bytes: a
	 * file of them would come back six times its size. It costs what it
	 * would as base64 at least, so that the artifacts stay within 4/3 of
	 * the budget however they are encoded. */
	size_t cost = w->content.len;
	if (text) {
		size_t escaped = json_string_len(p, w->content.len), as_base64 = escaped - escaped / 4;
		if (as_base64 > cost)	/* the length whose base64 is as long */
			cost = as_base64;
	}
	if (cost > w->cap - w->used || key > w->cap - w->used - cost) {
		omit(w, path);
		return;
	}
	w->used += cost + key;
	w->files++;
	if (!w->first)
		buf_puts(w->json, ", ");
	w->first = false;
	json_put_cstring(w->json, path);
	buf_puts(w->json, ": ");
	if (text)
		json_put_string(w->json, p, w->content.len);
	else {
		buf_puts(w->json, "{\"content\": \"");
		base64_encode(w->json, p, w->content.len);
		buf_puts(w->json, "\", \"encoding\": \"base64\"}");
	}
}

static void walk_dir(struct walk *w, int fd, const char *prefix, int depth)
{
	DIR *d = dir_stream(fd);
	if (!d)
		return;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof *names);
		}
		names[n++] = xstrdup(de->d_name);
	}
	if (n)
		qsort(names, n, sizeof *names, cmp);
	for (size_t i = 0; i < n; i++) {
		struct buf path = { 0 };
		if (*prefix) {
			buf_puts(&path, prefix);
			buf_putc(&path, '/');
		}
		buf_puts(&path, names[i]);
		struct stat st;
		/* A name JSON cannot hold: written as U+FFFD, \xff and \xfe
		 * would be one key. Named (so) among those left out. */
		if (!utf8_valid((const unsigned char *)names[i], strlen(names[i])))
			omit(w, path.data);
		else if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISREG(st.st_mode))
				add_file(w, dirfd(d), names[i], path.data);
			else if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
				int sub = openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (sub < 0 && errno == EACCES && fchmodat(dirfd(d), names[i], 0700, 0) == 0)
					sub = openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (sub >= 0)
					walk_dir(w, sub, path.data, depth + 1);
			}
		}
		buf_free(&path);
		free(names[i]);
	}
	free(names);
	closedir(d);
}

size_t artifacts_collect(const char *output_dir, size_t cap, const struct run_result *res,
			 struct buf *json, struct buf *omitted)
{
	struct walk w = { .cap = cap, .json = json, .omitted = omitted, .first = true };
	int fd = open(output_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		walk_dir(&w, fd, "", 0);
	buf_free(&w.content);
	const struct buf *left = &res->left_behind;
	for (size_t at = 0; at < left->len; at += strlen(left->data + at) + 1)
		omit(&w, left->data + at);
	return w.unnamed + res->left_behind_unnamed;
}
