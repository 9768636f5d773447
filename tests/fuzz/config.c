/* config.c — fuzzes the configuration parser (fcgi/config.c) with the
 * file's bytes: a file loads, or is refused with a message naming it. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

static int fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fd < 0 && (fd = memfd_create("coderunner.conf", 0)) < 0)
		abort();
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	char path[64], err[1024] = "";
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	struct config c;
	if (config_load(&c, path, true, err, sizeof err) < 0 && !strstr(err, path))
		abort();
	return 0;
}
