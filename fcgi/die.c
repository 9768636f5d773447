/* die.c — the one way coderunner-fcgi gives up.
 *
 * A worker that meets an impossible state (out of memory, a failed syscall
 * that cannot fail) exits; the master respawns it and only that request is
 * lost. The master dies the same way at start-up, with a message for the
 * journal that names what went wrong.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

static _Noreturn void vdie(int err, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (err)
		fprintf(stderr, "coderunner-fcgi[%d]: %s: %s\n", (int)getpid(), msg, strerror(err));
	else
		fprintf(stderr, "coderunner-fcgi[%d]: %s\n", (int)getpid(), msg);
	exit(1);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdie(0, fmt, ap);
}

void die_errno(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vdie(err, fmt, ap);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory allocating %zu bytes", n);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		die("out of memory allocating %zu bytes", n);
	return q;
}

/* A zeroed mapping shared by the master and every worker it forks after it:
 * where the run slots, the counters and the health answer live. */
void *xshared(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die_errno("cannot map %zu bytes of shared memory", n);
	return p;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}
