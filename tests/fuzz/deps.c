/* deps.c — fuzzes the parser of one `dependencies` entry and the PEP 440
 * comparison (fcgi/dialects/deps.c): what is accepted is a name with at most
 * one clause and nothing else, and comparing versions is a total order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/fcgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	struct requirement r;
	if (deps_parse(s, &r)) {
		/* Nothing a shell, pip or a URL would read more into. */
		if (strpbrk(s, " ;@[]/\\:,'\"$`\n\t") || !r.name[0])
			abort();
		deps_satisfies("1.24.2", &r);
		deps_satisfies("0!1.0rc1.post2.dev3", &r);
		deps_satisfies("", &r);
	}
	/* Split in two versions: compare(a, b) == -compare(b, a), a == a. */
	char *a = strndup((const char *)data, size / 2), *b = strndup((const char *)data + size / 2, size - size / 2);
	int ab = deps_version_compare(a, b), ba = deps_version_compare(b, a);
	if ((ab > 0) != (ba < 0) || (ab < 0) != (ba > 0) || deps_version_compare(a, a) != 0)
		abort();
	free(a);
	free(b);
	free(s);
	return 0;
}
