/* clock.c — the one clock every deadline of the service is kept on.
 *
 * CLOCK_MONOTONIC, in milliseconds: a timeout, a backoff or an uptime must
 * not jump when an operator or NTP sets the time of day.
 */
#include <time.h>

#include "fcgi/fcgi.h"

long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
