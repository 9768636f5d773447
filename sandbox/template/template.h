/* template.h — what the parts of coderunner-template share (main.c). */
#ifndef CODERUNNER_TEMPLATE_H
#define CODERUNNER_TEMPLATE_H

#include <stdbool.h>

#include "sandbox/sandbox.h"

/* main.c */
extern struct sandbox_options template_options;	/* a pre-started sandbox's, the command in process */
_Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void set_effective(bool raised);

/* python.c: the interpreter and its imports */
#define IMPORTED_MAX 8000	/* the top-level modules' names, space-separated */
void python_enter_namespaces(void);
void python_leave_private_tmp(void);
void python_open_fds(bool set[1024]);
void python_check_no_fds_left(const bool before[1024]);
void python_start(const struct sandbox_options *o);
void python_preload(const char *list, const char *cached);
const char *python_found_out(void);	/* for the cache, if not from it */
bool python_from_cache(void);
void python_learn_pages(void);
const char *python_imported(void);
void python_warm_command(const struct sandbox_options *o, char **env);

/* cache.c: what each import brings in, kept between starts */
char *cache_read(const char *path);
bool cache_write(const char *path, const char *text);

/* memory.c: our memory, laid out for forking */
void memory_use_huge_arenas(void);
void memory_fill_pool_holes(void);
void memory_fill_heap_holes(void);
void memory_collapse_to_huge_pages(void);
void memory_clear_stack(void);

/* pages.c: what a run importing a package writes, copied ahead; and what
 * every run writes, under a name no module has */
#define EVERY_RUN "(every run)"
void pages_learn(const char *name, void (*work)(const char *name));
unsigned long pages_learnt(const char *name);
void pages_copy_ahead(const char *name);

/* fork.c: a warm run's command, forked into a sandbox */
void fork_map_command_stack(void);
void fork_handle_requests(int sock);

#endif
