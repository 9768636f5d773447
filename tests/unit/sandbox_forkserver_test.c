/* Unit tests of the template's side of a warm run's request
 * (forkserver_receive): what a sandbox's supervisor sends is taken, and
 * anything else is refused with every fd that came with it closed. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "tests/tap.h"

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* Sends a request naming `claimed` fds with `sent` fds (of /dev/null)
 * attached, and returns what forkserver_receive() makes of it. */
static int receive(int claimed, int sent, int fds[FORK_FDS_MAX])
{
	int sv[2], null[FORK_FDS_MAX + 8];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -2;
	for (int i = 0; i < sent; i++)
		null[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct forkserver_request req = { FORKSERVER_MAGIC, 65534, 65534, claimed };
	ssize_t n = send_with_fds(sv[1], &req, sizeof req, null, sent);
	for (int i = 0; i < sent; i++)
		close(null[i]);
	int got = n == (ssize_t)sizeof req ? forkserver_receive(sv[0], &req, fds) : -2;
	close(sv[0]);
	close(sv[1]);
	return got;
}

int main(void)
{
	int fds[FORK_FDS_MAX], before = open_fds();

	is_int(receive(FORK_FDS_MAX, FORK_FDS_MAX, fds), FORK_FDS_MAX, "a request with the run's cgroup is taken");
	int above = 1;
	for (int i = 0; i < FORK_FDS_MAX; i++)
		above &= fds[i] >= 10;
	ok(above, "its fds are moved above 9");
	for (int i = 0; i < FORK_FDS_MAX; i++)
		close(fds[i]);
	is_int(open_fds(), before, "and are all the caller's");

	is_int(receive(FORK_FD_CGROUP, FORK_FD_CGROUP, fds), FORK_FD_CGROUP, "one without a cgroup is taken");
	is_int(fds[FORK_FD_CGROUP], -1, "its cgroup fd is -1");
	for (int i = 0; i < FORK_FD_CGROUP; i++)
		close(fds[i]);

	/* The control buffer's padding fits a tenth fd without MSG_CTRUNC. */
	int bad[][2] = { { FORK_FDS_MAX, FORK_FDS_MAX + 1 }, { FORK_FDS_MAX + 1, FORK_FDS_MAX + 1 },
			 { FORK_FDS_MAX, 1 }, { 0, 0 }, { FORK_FDS_MAX, FORK_FDS_MAX + 4 } };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		is_int(receive(bad[i][0], bad[i][1], fds), -1, "a request naming more or fewer fds than came is refused");
		is_int(open_fds(), before, "and none of its fds is left open");
	}
	return done_testing();
}
