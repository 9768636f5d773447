/* log.c — one line per request on stderr, which systemd sends to the journal.
 *
 * logfmt (key=value), so `journalctl -u coderunner | grep status=500` works.
 * It records what an operator needs to follow a request (the id nginx gave
 * it, the endpoint, status, exit code, time, memory, sizes) and never the
 * script, its input or its output: those may hold a user's data.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

void log_msg(const char *fmt, ...)
{
	char line[2048];
	int n = snprintf(line, sizeof line, "coderunner-fcgi[%d]: ", (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	/* One entry, one line: what a message quotes (an installer's stderr,
	 * which may hold an index's words) cannot start a line of its own
	 * that would pass for the service's. */
	for (char *p = line + n; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	strcat(line, "\n");
	/* One write(2) per line: lines from many workers never interleave. */
	ssize_t w = write(STDERR_FILENO, line, strlen(line));
	(void)w;
}

/* Only characters that cannot break the line format; the path is the
 * client's, so anything else becomes '?'. */
static void put_token(struct buf *b, const char *s)
{
	if (!s || !*s) {
		buf_putc(b, '-');
		return;
	}
	for (size_t i = 0; s[i] && i < 200; i++) {
		unsigned char c = (unsigned char)s[i];
		buf_putc(b, c > 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?');
	}
}

void log_note(struct request_log *l, const char *note)
{
	snprintf(l->note, sizeof l->note, "%s", note ? note : "");
}

void log_request(const struct request_log *l)
{
	char tmp[64];
	struct buf b = { 0 };
	buf_printf(&b, "coderunner-fcgi[%d]: request_id=", (int)getpid());
	put_token(&b, l->request_id);
	buf_puts(&b, " method=");
	put_token(&b, l->method);
	buf_puts(&b, " path=");
	put_token(&b, l->path);
	buf_printf(&b, " status=%d", l->status);
	if (l->exit_code != INT32_MIN)
		buf_printf(&b, " exit_code=%d", l->exit_code);
	else
		buf_puts(&b, " exit_code=-");
	buf_printf(&b, " duration_ms=%ld", l->duration_ms);
	if (l->run_ms >= 0)
		buf_printf(&b, " run_ms=%ld", l->run_ms);
	if (l->memory_peak_kb >= 0) {
		snprintf(tmp, sizeof tmp, "%.1f", (double)l->memory_peak_kb / 1024.0);
		buf_printf(&b, " memory_peak_mb=%s", tmp);
	}
	buf_printf(&b, " request_bytes=%zu response_bytes=%zu", l->request_bytes, l->response_bytes);
	if (l->note[0]) {
		buf_puts(&b, " note=");
		/* The note is ours, never the client's text: keep it readable. */
		json_put_cstring(&b, l->note);
	}
	buf_putc(&b, '\n');
	ssize_t w = write(STDERR_FILENO, b.data, b.len);
	(void)w;
	buf_free(&b);
}
