/* remove.c — removing a tree a run left (remove.h).
 *
 * What a script leaves is hostile: a symbolic link is removed, never
 * followed; a directory it made unreadable or unwritable is ours (we made
 * the copy), so its mode is given back rather than a capability used.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/remove.h"

int remove_tree_at(int parent, const char *name)
{
	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	/* An empty directory goes without an fd: the run refused for want
	 * of fds still leaves nothing behind. */
	if (unlinkat(parent, name, AT_REMOVEDIR) == 0)
		return 0;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == EACCES && fchmodat(parent, name, 0700, 0) == 0)
		fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* A script may leave a directory without write permission; we own
	 * it, so we may give ourselves back the right to empty it (we hold no
	 * capability that would let us ignore its mode). */
	if (fchmod(fd, 0700) < 0) {
		close(fd);
		return -1;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (remove_tree_at(dirfd(d), de->d_name) < 0)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}
