/* pages.c — the pages of the template that a run copies when it imports a
 * preloaded package, learnt once and copied ahead in one go.
 *
 * A warm run is a copy-on-write copy of the template, and a run that
 * imports pandas writes to some 1500 of its pages: each first write a page
 * fault, a copy and a return. On a virtual machine every fault is an exit
 * to the hypervisor as well, and the faults of a pandas run take a third
 * of its CPU. madvise(MADV_POPULATE_WRITE) makes the same copies in one
 * system call per range of pages, without a fault each. Which pages: those
 * a child of the finished template writes when it imports the package and
 * works it as the warm-up does (python.c), read from its /proc/self/pagemap.
 * Learnt here, in this template, because ASLR puts every template's memory
 * elsewhere; copied ahead when a run's import brings the package back
 * (warm.py), so a run that imports nothing of it copies nothing more.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/template/template.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* Linux 5.14 */
#endif

#define PAGE 4096UL
#define MAX_SETS 32
#define MAX_MAPS 4096

/* pagemap entries: present, mapped by this process alone, anonymous */
#define PM_PRESENT (1ULL << 63)
#define PM_FILE (1ULL << 61)
#define PM_EXCLUSIVE (1ULL << 56)

struct range {
	uintptr_t start;
	uint32_t pages;
};

static struct set {
	char name[64];
	struct range *ranges;
	unsigned n;
	unsigned long pages;
} sets[MAX_SETS];
static unsigned n_sets;

/* The template's private writable mappings, read before a learning child
 * is forked: what it writes outside them (its own new memory) a run would
 * find unmapped. */
static struct range maps[MAX_MAPS];
static unsigned n_maps;

static void read_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		fail("/proc/self/maps: %s", strerror(errno));
	char line[512];
	n_maps = 0;
	while (n_maps < MAX_MAPS && fgets(line, sizeof line, f)) {
		unsigned long from, to;
		char perms[8], path[256] = "";
		/* Not the main stack: a run's command has a stack of its own (fork.c). */
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &from, &to, perms, path) >= 3 &&
		    !strcmp(perms, "rw-p") && strcmp(path, "[stack]"))
			maps[n_maps++] = (struct range){ from, (uint32_t)((to - from) / PAGE) };
	}
	fclose(f);
}

/* In the learning child: writes the start of each page it alone maps, of
 * the template's mappings, to OUT. Its buffers are memory of its own,
 * outside those mappings, so reading does not add to what it reports. */
static int report_pages(int out)
{
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		return -1;
	size_t cap = 1UL << 16;
	uint64_t *entries = mmap(NULL, cap * sizeof *entries, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *found = mmap(NULL, cap * sizeof *found, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (entries == MAP_FAILED || found == MAP_FAILED)
		return -1;
	for (unsigned m = 0; m < n_maps; m++)
		for (uintptr_t page = 0; page < maps[m].pages; page += cap) {
			size_t want = maps[m].pages - page < cap ? maps[m].pages - page : cap;
			off_t at = (off_t)((maps[m].start / PAGE + page) * sizeof *entries);
			ssize_t got = pread(pm, entries, want * sizeof *entries, at);
			if (got < 0)
				return -1;
			size_t n_found = 0;
			for (size_t i = 0; i < (size_t)got / sizeof *entries; i++)
				if ((entries[i] & (PM_PRESENT | PM_EXCLUSIVE | PM_FILE)) == (PM_PRESENT | PM_EXCLUSIVE))
					found[n_found++] = maps[m].start + (page + i) * PAGE;
			size_t len = n_found * sizeof *found;
			if (len && write(out, found, len) != (ssize_t)len)
				return -1;
		}
	return 0;
}

/* Ranges of consecutive pages, from page addresses in ascending order. */
static void add_set(const char *name, const uint64_t *page, size_t n)
{
	struct set *s = &sets[n_sets];
	snprintf(s->name, sizeof s->name, "%s", name);
	s->ranges = malloc((n ? n : 1) * sizeof *s->ranges);
	if (!s->ranges)
		fail("out of memory");
	for (size_t i = 0; i < n; i++) {
		struct range *last = s->n ? &s->ranges[s->n - 1] : NULL;
		if (last && last->start + last->pages * PAGE == page[i])
			last->pages++;
		else
			s->ranges[s->n++] = (struct range){ (uintptr_t)page[i], 1 };
	}
	s->pages = n;
	n_sets++;
}

/* Learns what a run importing NAME writes: WORK(NAME) in a child, which
 * then reports the pages it has copied. Once the template's memory is
 * final (memory.c), as every run will find it. A child that fails leaves
 * no set, and runs importing NAME fault as before. */
void pages_learn(const char *name, void (*work)(const char *name))
{
	if (n_sets == MAX_SETS || strlen(name) >= sizeof sets[0].name)
		return;
	read_maps();
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		fail("pipe: %s", strerror(errno));
	pid_t parent = getpid(), pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		if (die_with_parent(SIGKILL, parent) < 0)
			_exit(1);
		work(name);
		_exit(report_pages(p[1]) < 0 ? 1 : 0);
	}
	close(p[1]);
	size_t cap = 4096, n = 0;
	uint64_t *page = malloc(cap * sizeof *page);
	ssize_t got = 0;
	for (;;) {
		if (!page)
			fail("out of memory");
		got = read(p[0], (char *)page + n, cap * sizeof *page - n);
		if (got <= 0 && !(got < 0 && errno == EINTR))
			break;
		if (got > 0 && (n += (size_t)got) == cap * sizeof *page)
			page = realloc(page, (cap *= 2) * sizeof *page);
	}
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			fail("waitpid: %s", strerror(errno));
	if (got == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		add_set(name, page, n / sizeof *page);
	else
		fprintf(stderr, "coderunner-template: cannot learn the pages an import of %s writes\n", name);
	free(page);
}

unsigned long pages_learnt(const char *name)
{
	for (unsigned i = 0; i < n_sets; i++)
		if (!strcmp(sets[i].name, name))
			return sets[i].pages;
	return 0;
}

/* In a run, as its import brings NAME back: the pages it will write,
 * copied now. Advice: a kernel before 5.14 refuses it, and the run faults
 * them in as before; a page the run has copied already costs a look. */
void pages_copy_ahead(const char *name)
{
	static bool refused;
	for (unsigned i = 0; i < n_sets && !refused; i++) {
		if (strcmp(sets[i].name, name))
			continue;
		for (unsigned r = 0; r < sets[i].n; r++)
			if (madvise((void *)sets[i].ranges[r].start, sets[i].ranges[r].pages * PAGE,
				    MADV_POPULATE_WRITE) < 0 && errno == EINVAL) {
				refused = true;
				break;
			}
		return;
	}
}
