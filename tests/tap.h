/* tap.h — a minimal Test Anything Protocol emitter for C unit tests.
 *
 * Usage: plan(n) or done_testing() at the end; ok(cond, fmt, ...);
 * is_int(got, want, name); is_str(got, want, name). Each failure prints
 * what was expected as a TAP diagnostic ("# ...") so a log reads alone.
 * The exit status is non-zero when any test failed.
 */
#ifndef CODERUNNER_TAP_H
#define CODERUNNER_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_run, tap_failed;

static inline void plan(int n) { printf("1..%d\n", n); }

static inline int tap_vok(int cond, const char *fmt, va_list ap)
{
	tap_run++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	return cond;
}

static inline int ok(int cond, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = tap_vok(cond, fmt, ap);
	va_end(ap);
	return r;
}

static inline void diag(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
}

#define is_int(got, want, name) do { \
	long long g_ = (got), w_ = (want); \
	if (!ok(g_ == w_, "%s", name)) \
		diag("got %lld, want %lld", g_, w_); \
} while (0)

#define is_str(got, want, name) do { \
	const char *g_ = (got), *w_ = (want); \
	int same_ = g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_; \
	if (!ok(same_, "%s", name)) \
		diag("got \"%s\", want \"%s\"", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
} while (0)

static inline int done_testing(void)
{
	printf("1..%d\n", tap_run);
	return tap_failed ? 1 : 0;
}

#endif
