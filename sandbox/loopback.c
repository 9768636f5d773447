/* loopback.c — bring up "lo" in the run's new network namespace.
 *
 * A new network namespace holds only a loopback device, and it starts down:
 * without this step even 127.0.0.1 would be unreachable, and programs that
 * talk to themselves over loopback (multiprocessing managers, local servers
 * in tests) would fail. No other interface exists, so every connect to any
 * other address fails at once with ENETUNREACH.
 */
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

void loopback_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die_errno("socket for loopback");
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		die_errno("get flags of lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		die_errno("bring up lo");
	close(fd);
}
