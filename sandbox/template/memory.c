/* memory.c — coderunner-template's memory, laid out for forking: each run
 * is a copy-on-write copy of it, so what a fork copies, what a run's writes
 * copy and what its exit frees is decided here, once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sandbox/template/template.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25	/* Linux 6.1 */
#endif

/* The interpreter's arenas (1 MiB each) come from 2 MiB-aligned chunks of
 * 8 MiB, in huge pages, rather than each from an mmap() of its own between
 * the libraries the imports load, where no huge page fits. Once the
 * imports are done, no arena takes huge pages any more (below): a run's new
 * arenas must not cost it a huge page each. */
#define HUGE_PAGE (2UL << 20)
#define ARENA_CHUNK (8UL << 20)
static char *chunk_next, *chunk_end;
static bool huge_arenas = true;

static void *arena_alloc(void *ctx, size_t size)
{
	(void)ctx;
	if (size > ARENA_CHUNK)
		return NULL;
	if ((size_t)(chunk_end - chunk_next) < size) {
		char *p = mmap(NULL, ARENA_CHUNK + HUGE_PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		char *a = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
		if ((a > p && munmap(p, (size_t)(a - p)) < 0) ||
		    munmap(a + ARENA_CHUNK, (size_t)(p + HUGE_PAGE - a)) < 0)
			return NULL;
		if (huge_arenas)
			(void)madvise(a, ARENA_CHUNK, MADV_HUGEPAGE);
		chunk_next = a;
		chunk_end = a + ARENA_CHUNK;
	}
	void *r = chunk_next;
	chunk_next += size;
	return r;
}

static void arena_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	munmap(ptr, size);
}

/* Before the interpreter starts: its arenas from the chunks above. */
void memory_use_huge_arenas(void)
{
	PyObjectArenaAllocator arenas = { NULL, arena_alloc, arena_free };
	PyObject_SetArenaAllocator(&arenas);
}

/* What the fillers below take, kept reachable: each block's first word
 * points to the one taken before it. */
static void *held_blocks;

static void hold(void *p)
{
	*(void **)p = held_blocks;
	held_blocks = p;
}

/* A run allocates from fresh memory, not from the holes the imports left
 * in the heap: every hole a run's malloc() reused, split or unlinked would
 * copy its page, and the holes lie scattered over the whole heap (about a
 * thousand, a third of a run's page faults). So the template takes every
 * hole itself, once: the smallest allocation carves each free chunk until
 * one comes from the top of the heap, and each size the thread cache holds
 * is drained the same way. At most as much as the heap has free is taken. */
void memory_fill_heap_holes(void)
{
	struct mallinfo2 m = mallinfo2();
	char *top = (char *)sbrk(0) - m.keepcost;
	size_t taken = 0;
	for (size_t size = 16; size <= 1032 && taken <= m.fordblks; size += 16) {
		char *p;
		do {
			if (!(p = malloc(size)))
				fail("out of memory");
			hold(p);
			taken += size;
		} while (p < top && taken <= m.fordblks);
	}
}

/* The same for the interpreter's allocator of small objects: each size
 * class's partly used pools are filled, so that a run's objects go into
 * pools of their own. The first block of a fresh pool lies right after its
 * header, where the filling of that class stops (CPython 3.11's obmalloc:
 * 16 KiB pools, a 48-byte header); at most 64 KiB is taken per class, in
 * case a block there was only a hole. */
void memory_fill_pool_holes(void)
{
	enum { POOL = 16384, FIRST = 48, MOST = 65536 };
	for (size_t size = 16; size <= 512; size += 16)
		for (size_t n = 0; n * size < MOST; n++) {
			void *p = PyObject_Malloc(size);
			if (!p)
				fail("out of memory");
			hold(p);
			if (((uintptr_t)p & (POOL - 1)) == FIRST)
				break;
		}
}

/* The template's anonymous memory (the interpreter's arenas, the heap) in
 * huge pages where whole ones fit: a fork then copies one entry per 2 MiB
 * instead of 512, and a run's exit frees as few. A page a run writes to
 * splits only the run's mapping of it. Then every such mapping is marked
 * no-huge-page: the huge pages stay, but a run's faults there ask for no
 * huge page and nothing collapses the ones it split (without the mark, a
 * memory bomb at its memory.max in a 1 GB guest went unkilled for half a
 * minute), and a run's own heap grows in small pages. Advice, not a
 * condition: a kernel without MADV_COLLAPSE (before 6.1) or without free
 * huge pages leaves small ones. */
void memory_collapse_to_huge_pages(void)
{
	enum { MOST = 4096 };
	static unsigned long from[MOST], to[MOST];
	const unsigned long huge = 2UL << 20;
	unsigned n = 0;
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		fail("/proc/self/maps: %s", strerror(errno));
	char line[512];
	while (n < MOST && fgets(line, sizeof line, f)) {
		char perms[8], path[256] = "";
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &from[n], &to[n], perms, path) >= 3 &&
		    !strcmp(perms, "rw-p") && (!path[0] || !strcmp(path, "[heap]")))
			n++;
	}
	fclose(f);
	/* The maps change under madvise(): read first, then act. */
	for (unsigned i = 0; i < n; i++) {
		unsigned long start = (from[i] + huge - 1) & ~(huge - 1), end = to[i] & ~(huge - 1);
		if (end > start)
			(void)madvise((void *)start, end - start, MADV_COLLAPSE);
		(void)madvise((void *)from[i], to[i] - from[i], MADV_NOHUGEPAGE);
	}
	huge_arenas = false;
}

/* What calls deeper than the caller's left on the stack, zeroed: every
 * run's stack is a copy of ours. Before main() that is the dynamic
 * linker's frames, with pieces of our command line (host paths: the
 * sandbox, the cache) in vector registers it saved there, where our own
 * frames would leave them in the holes between their variables; after the
 * imports, their frames. From the lowest page the stack ever reached up to
 * our own variables (OURS bytes are set aside for them; they take less);
 * the lowest 512 bytes and more are left for explicit_bzero()'s frame,
 * which must not grow the stack past them. */
void memory_clear_stack(void)
{
	unsigned long low = 0, high, here = (unsigned long)__builtin_frame_address(0);
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		fail("/proc/self/maps: %s", strerror(errno));
	char line[512];
	while (!low && fgets(line, sizeof line, f)) {
		char path[256] = "";
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255s", &low, &high, path) < 3 || strcmp(path, "[stack]"))
			low = 0;
	}
	fclose(f);
	enum { OURS = 2048, ITS = 512 };	/* our variables' room, explicit_bzero()'s */
	if (!low || here <= low + OURS + ITS || here > high)
		return;
	size_t n = here - low - OURS - ITS;
	char below[n];		/* just under our frame, down to the stack's lowest page */
	explicit_bzero(below, n);
}
