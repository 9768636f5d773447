/* uids.c — a uid of its own for every run (--uid-range).
 *
 * The kernel keeps several limits and permissions per uid, not per process
 * tree: RLIMIT_NPROC counts every process of the uid, kill() and ptrace()
 * check it, and so do /proc and the files a run may leave. Runs that share a
 * uid share all of these: one run's fork bomb spends every other run's
 * process budget, even where a cgroup would have kept them apart. So, as
 * isolate gives each box its own uid, each sandbox takes a uid of the range
 * that no other sandbox holds, and uses it as the run's group too.
 *
 * Holding a uid is an open-file-description lock (F_OFD_SETLK) on the byte
 * at offset uid of a lock file that every sandbox shares (the file stays
 * empty: a lock may lie past its end). The offset is the uid itself, not
 * its place in the range, so that sandboxes given different ranges (across
 * a reload) still never share a uid. The
 * kernel drops it when the last fd of the description closes: when the
 * supervisor exits, however it exits. By then init has been reaped, and a
 * PID namespace ends with its init: no process of the run is left to carry
 * the uid over to the next run. The fd is O_CLOEXEC and init closes every
 * other fd before exec, so the command never holds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

void uids_claim(struct sandbox_options *o)
{
	if (!o->uid_lock)
		return;
	int fd = open(o->uid_lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		die_errno("--uid-lock %s", o->uid_lock);
	uint64_t count = (uint64_t)o->uid_last - o->uid_first + 1;
	/* Start where our pid points, so that sandboxes starting together
	 * seldom try the same bytes. */
	uint64_t start = (uint64_t)getpid() % count;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t slot = (start + i) % count;
		uid_t uid = (uid_t)(o->uid_first + slot);
		struct flock lock = {
			.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)uid, .l_len = 1,
		};
		if (fcntl(fd, F_OFD_SETLK, &lock) == 0) {
			o->uid = uid;
			o->gid = (gid_t)o->uid;
			return;	/* fd stays open: it is the claim */
		}
		if (errno != EAGAIN && errno != EACCES)
			die_errno("lock %s", o->uid_lock);
	}
	die("every uid of --uid-range %u-%u is taken by a sandbox", (unsigned)o->uid_first,
	    (unsigned)o->uid_last);
}
