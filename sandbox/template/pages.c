/* pages.c — the pages of the template that every run, and a run that
 * imports a preloaded package, copies or maps: learnt once, and copied or
 * mapped ahead in one go.
 *
 * A warm run is a copy-on-write copy of the template, and a run that
 * imports pandas writes to some 1500 of its pages: each first write a page
 * fault, a copy and a return. On a virtual machine every fault is an exit
 * to the hypervisor as well, and the faults of a pandas run take a third
 * of its CPU. madvise(MADV_POPULATE_WRITE) makes the same copies in one
 * system call per range of pages, without a fault each; for the pages of
 * its files that a child maps anew as it reads them (a fault for every 16),
 * MADV_POPULATE_READ. Which pages: those a child of the finished template
 * touches when it imports the package (python.c), or as it runs a print(1)
 * from its fork to its end, read from its /proc/self/pagemap: the pages
 * every such run writes. Not those of any work after the import, which
 * a script may or may not do: where faults cost less than on the slowest
 * days, copying pages a run never writes lost more than the faults it
 * saved (bench/FINDINGS.md). Learnt here, in this template, because ASLR puts
 * every template's memory elsewhere. The every-run set is copied as a
 * run's command is forked (fork.c), before any of it is written; a
 * package's when a run's import brings it back (warm.py), so a run that
 * imports nothing of it copies nothing more.
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
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
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
	bool read;		/* mapped from a file, not copied */
};

static struct set {
	char name[64];
	struct range *ranges;
	unsigned n;
	unsigned long pages;
} sets[MAX_SETS];
static unsigned n_sets;

/* The template's private writable mappings, whose pages a run copies, and
 * its read-only mappings of files, whose pages a forked child finds
 * unmapped (fork copies no page table of a mapping it can fault in again)
 * and maps as it reads them, a fault for every 16 pages: read before a
 * learning child is forked. What it touches outside them (its own new
 * memory) a run would find unmapped. */
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
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &from, &to, perms, path) < 3)
			continue;
		if (!strcmp(perms, "rw-p") && strcmp(path, "[stack]"))
			maps[n_maps++] = (struct range){ from, (uint32_t)((to - from) / PAGE), false };
		else if (perms[0] == 'r' && perms[1] == '-' && path[0] == '/')
			maps[n_maps++] = (struct range){ from, (uint32_t)((to - from) / PAGE), true };
	}
	fclose(f);
}

/* In the learning child, before and after its work: the pages of the
 * template's mappings it has copied (present, mapped by it alone,
 * anonymous) or, of its read-only file mappings, mapped at all, one byte
 * each, all mappings end to end. Memory of its own, outside those
 * mappings, so looking does not add to what it finds. */
static uint8_t *pages_touched(void)
{
	size_t total = 0, cap = 1UL << 16, at_byte = 0;
	for (unsigned m = 0; m < n_maps; m++)
		total += maps[m].pages;
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t *entries = mmap(NULL, cap * sizeof *entries, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *touched = mmap(NULL, total + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pm < 0 || entries == MAP_FAILED || touched == MAP_FAILED)
		return NULL;
	for (unsigned m = 0; m < n_maps; m++)
		for (uintptr_t page = 0; page < maps[m].pages; page += cap) {
			size_t want = maps[m].pages - page < cap ? maps[m].pages - page : cap;
			off_t at = (off_t)((maps[m].start / PAGE + page) * sizeof *entries);
			ssize_t got = pread(pm, entries, want * sizeof *entries, at);
			if (got != (ssize_t)(want * sizeof *entries))
				return NULL;
			for (size_t i = 0; i < want; i++)
				touched[at_byte++] = maps[m].read ? (entries[i] & PM_PRESENT) != 0 :
					(entries[i] & (PM_PRESENT | PM_EXCLUSIVE | PM_FILE)) == (PM_PRESENT | PM_EXCLUSIVE);
		}
	close(pm);
	munmap(entries, cap * sizeof *entries);
	return touched;
}

/* Writes to OUT the start of each page the work touched (pages_touched),
 * the lowest bit set for a page mapped rather than copied. */
static int report_pages(int out, const uint8_t *before)
{
	const uint8_t *after = pages_touched();
	if (!before || !after)
		return -1;
	uint64_t found[512];
	size_t at_byte = 0, n = 0;
	for (unsigned m = 0; m < n_maps; m++)
		for (uintptr_t page = 0; page < maps[m].pages; page++, at_byte++) {
			if (after[at_byte] && !before[at_byte])
				found[n++] = (maps[m].start + page * PAGE) | maps[m].read;
			if (n == 512 && write(out, found, sizeof found) != (ssize_t)sizeof found)
				return -1;
			n %= 512;
		}
	return n && write(out, found, n * sizeof *found) != (ssize_t)(n * sizeof *found) ? -1 : 0;
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
		bool read = page[i] & 1;
		uintptr_t start = (uintptr_t)(page[i] & ~(uint64_t)1);
		if (last && last->read == read && last->start + last->pages * PAGE == start)
			last->pages++;
		else
			s->ranges[s->n++] = (struct range){ start, 1, read };
		s->pages += !read;
	}
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
		/* Out of the way of the fds the work sets up (a run's 3 and 4). */
		int out = fcntl(p[1], F_DUPFD_CLOEXEC, 64);
		if (out < 0 || die_with_parent(SIGKILL, parent) < 0)
			_exit(1);
		close(p[0]);
		close(p[1]);
		const uint8_t *before = pages_touched();
		work(name);
		_exit(report_pages(out, before) < 0 ? 1 : 0);
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
				    sets[i].ranges[r].read ? MADV_POPULATE_READ : MADV_POPULATE_WRITE) < 0 &&
			    errno == EINVAL) {
				refused = true;
				break;
			}
		return;
	}
}
