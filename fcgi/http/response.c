/* response.c — status line, headers and the JSON error shape.
 *
 * Every error a client can get from /api/run carries the four result fields
 * as well as "error", so a client that reads only exit_code and stderr still
 * learns why its script did not run (the errors of POST /api/run).
 */
#include <fcgiapp.h>
#include <stdio.h>
#include <string.h>

#include "fcgi/fcgi.h"

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 499: return "Client Closed Request";	/* nginx's: no one reads it */
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

void response_error(struct http_response *rsp, int status, const char *message, const struct buf *warnings)
{
	rsp->status = status;
	buf_reset(&rsp->body);
	buf_puts(&rsp->body, "{\"error\": ");
	json_put_cstring(&rsp->body, message);
	buf_puts(&rsp->body, ", \"exit_code\": -1, \"stdout\": \"\", \"stderr\": ");
	json_put_cstring(&rsp->body, message);
	buf_puts(&rsp->body, ", \"artifacts\": {}");
	if (warnings && warnings->len) {
		buf_puts(&rsp->body, ", \"warnings\": [");
		buf_put(&rsp->body, warnings->data, warnings->len);
		buf_putc(&rsp->body, ']');
	}
	buf_puts(&rsp->body, "}\n");
}

/* FastAPI's shape, the one /run's clients read. */
void response_detail(struct http_response *rsp, int status, const char *message)
{
	rsp->status = status;
	buf_reset(&rsp->body);
	buf_puts(&rsp->body, "{\"detail\": ");
	json_put_cstring(&rsp->body, message);
	buf_puts(&rsp->body, "}\n");
}

/* The error of a request no dialect has read (the master's, as it stops)
 * in the shape its endpoint's clients read, as nginx's own errors are
 * (coderunner.conf): FastAPI's on /run, JSON-RPC's on /mcp (to no id: none
 * was read; an invalid request for a 4xx, as nginx's, else a server
 * error), /api/run's everywhere else. */
void response_error_at(struct http_response *rsp, const char *path, int status, const char *message)
{
	if (path && !strcmp(path, "/run")) {
		response_detail(rsp, status, message);
	} else if (path && !strcmp(path, "/mcp")) {
		rsp->status = status;
		buf_reset(&rsp->body);
		buf_printf(&rsp->body, "{\"jsonrpc\": \"2.0\", \"id\": null, \"error\": {\"code\": %d, \"message\": ",
			   status < 500 ? -32600 : -32000);
		json_put_cstring(&rsp->body, message);
		buf_puts(&rsp->body, "}}\n");
	} else {
		response_error(rsp, status, message, NULL);
	}
}

/* A body past 2 GiB (limits raised that far) goes in pieces: FCGX_PutStr()
 * takes an int. A client that went away makes it fail; nothing to do about
 * it. */
static void put_all(struct FCGX_Stream *out, const char *data, size_t len)
{
	for (size_t off = 0; off < len;) {
		int piece = len - off > (1u << 30) ? 1 << 30 : (int)(len - off);
		if (FCGX_PutStr(data + off, piece, out) != piece)
			break;
		off += (size_t)piece;
	}
}

void response_stream_start(struct request_ctx *ctx, const char *content_type)
{
	char head[512];
	/* X-Accel-Buffering: nginx passes each part on as it comes, instead
	 * of holding the answer until its end. */
	int n = snprintf(head, sizeof head,
			 "Status: 200 OK\r\n"
			 "Content-Type: %s\r\n"
			 "Cache-Control: no-store\r\n"
			 "X-Accel-Buffering: no\r\n"
			 "X-Request-Id: %s\r\n"
			 "\r\n", content_type, ctx->request_id);
	if (n < 0 || (size_t)n >= sizeof head)
		die("response header too long");
	response_stream_put(ctx, head, (size_t)n);
	ctx->rsp.status = 200;
	ctx->rsp.streamed = true;
	ctx->rsp.streamed_bytes = 0;	/* the body's, as for an answer sent whole */
}

/* A part goes out whole, the stop signals held off, and within
 * fcgi_timeout_s (worker.c says why). */
void response_stream_put(struct request_ctx *ctx, const char *data, size_t len)
{
	worker_hold_stop_signals(true);
	worker_answer_deadline(ctx->client_fd);
	put_all(ctx->out, data, len);
	FCGX_FFlush(ctx->out);
	worker_answer_deadline(-1);
	worker_hold_stop_signals(false);
	ctx->rsp.streamed_bytes += len;
}

size_t response_send(struct FCGX_Stream *out, const char *request_id, const struct http_response *rsp)
{
	if (rsp->streamed) {
		put_all(out, rsp->body.data, rsp->body.len);
		return rsp->streamed_bytes + rsp->body.len;
	}
	/* An answer with no body (/mcp's 202) has no type either. */
	char type[128] = "";
	if (rsp->body.len || rsp->status != 202)
		snprintf(type, sizeof type, "Content-Type: %s\r\n",
			 rsp->content_type ? rsp->content_type : "application/json");
	char head[5120];
	int n = snprintf(head, sizeof head,
			 "Status: %d %s\r\n"
			 "%s"
			 "Content-Length: %zu\r\n"
			 "Cache-Control: no-store\r\n"
			 "X-Request-Id: %s\r\n"
			 "%s\r\n",
			 rsp->status, http_reason(rsp->status), type,
			 rsp->body.len, request_id, rsp->extra_headers);
	if (n < 0 || (size_t)n >= sizeof head)
		die("response header too long");
	FCGX_PutStr(head, n, out);
	put_all(out, rsp->body.data, rsp->body.len);
	return rsp->body.len;
}
