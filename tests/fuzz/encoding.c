/* encoding.c — fuzzes what turns hostile bytes into the response's JSON
 * (fcgi/utf8.c, used by the response encoder and the artifact encoder):
 * any bytes become a valid JSON string of valid UTF-8, and base64 decodes
 * what it encoded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/fcgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b = { 0 };
	json_put_string(&b, data, size);
	if (!json_check(b.data, b.len, 2) || !utf8_valid((const unsigned char *)b.data, b.len))
		abort();
	if (utf8_valid(data, size) && json_string_len(data, size) != b.len - 2)
		abort();
	buf_reset(&b);
	base64_encode(&b, data, size);
	unsigned char *back = malloc(size + 3);
	if (base64_decode(b.data, b.len, back) != (ssize_t)size || memcmp(back, data, size))
		abort();
	/* And base64 from a client: any bytes, decoded or refused. */
	unsigned char *out = malloc(size / 4 * 3 + 3);
	base64_decode((const char *)data, size, out);
	free(out);
	free(back);
	buf_free(&b);
	return 0;
}
