/* prestart.h — what a client says to a pre-started coderunner-sandbox.
 *
 * A sandbox started with --accept-fd builds itself, starts its command and
 * then accepts one connection on that listening unix socket. The client
 * sends, on the connection:
 *   struct prestart_request, with the run's work dir fd attached
 *     (SCM_RIGHTS): the dir is copied in as /work and ./output back into it;
 *   stdin_len bytes: the command's stdin;
 *   args_len bytes: given to the command on its fd 3, after a field init
 *                   puts first: the run's CPU seconds and a NUL, which the
 *                   command sets as its RLIMIT_CPU (it was started with the
 *                   sandbox's --timeout's).
 * The sandbox answers with one byte and, when the run can start, the read
 * ends of the command's stdout, stderr and fd 4 attached (SCM_RIGHTS). Then
 * comes the report (one JSON line, as --report-fd writes it) and end-of-file.
 * A client that hangs up before the report ends the run.
 */
#ifndef CODERUNNER_PRESTART_H
#define CODERUNNER_PRESTART_H

#include <stdint.h>

#define PRESTART_MAGIC 0x31305243u	/* "CR01" */
#define PRESTART_STDIN_MAX (256u << 20)

struct prestart_request {
	uint32_t magic;
	uint32_t timeout_ms;		/* at most --timeout */
	uint32_t memory_mb;		/* at most --memory */
	uint32_t stdin_len;
	uint32_t args_len;		/* at most 60 KiB */
};

#endif
