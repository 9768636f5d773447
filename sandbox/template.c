/* template.c — coderunner-template: pre-started sandboxes whose interpreter
 * has already imported the libraries scripts use.
 *
 *   coderunner-template --preload numpy,pandas,matplotlib.pyplot --prestart N \
 *       --sandbox PATH [coderunner-sandbox option]... --accept-fd FD \
 *       -- /usr/bin/python3 -s -c RUNNER
 *
 * Importing numpy, pandas and matplotlib costs an agent's script most of its
 * time, every run. This program embeds the interpreter, imports the preload
 * list once, and keeps N sandboxes waiting on the listening socket FD. Each
 * is coderunner-sandbox (PATH) --template-fd with our sandbox options,
 * spawned (posix_spawn: no copy of our memory), and builds its sandbox as
 * any other: uid, cgroup, init in its namespaces, root. Where its init would
 * fork the command, it asks us (forkserver.c): a helper on our memory
 * enters init's namespaces and makes a process there that forks the
 * command, our interpreter, and ends, so that init adopts it as its child,
 * PID 2. The command goes through the same stages as any (rlimits,
 * privilege drop, no_new_privs, seccomp, clean environment), is not
 * exec'd but carries on holding the imports, and warm.py makes it what
 * `python3 -s -c RUNNER` would be (environment, random streams,
 * sys.modules, argv) before RUNNER runs. One copy of our memory per run:
 * the command's. When a run claims a sandbox, its supervisor says so on
 * its stdout, a socket to us, and we start the next one; no sandbox serves
 * two runs.
 *
 * Privilege: this process holds what coderunner-sandbox holds, and
 * CAP_SYS_CHROOT (setns() into a mount namespace needs it), but it runs
 * Python only with an empty effective capability set, with a private /tmp
 * (so an import that writes a cache writes nowhere shared); after the
 * imports it runs no Python at all, only this file's loop. The helper
 * raises its own effective set to enter a sandbox; the command drops every
 * set before RUNNER runs.
 *
 * Messages on stdout, for whoever keeps us (coderunner-fcgi's pool): "warm PID
 * NAME..." once the first sandboxes are started, with the top-level modules
 * the imports brought in (a run whose own packages provide one of them
 * cannot be warm). Diagnostics go to stderr.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cap-ng.h>
#include <linux/capability.h>
#include <linux/prctl.h>
#include <dirent.h>
#include <malloc.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25	/* Linux 6.1 */
#endif

extern const char runner_warm[];
extern char **environ;

#define MAX_CHILDREN 512

struct child {
	pid_t pid;
	bool claimed;
};

static struct child children[MAX_CHILDREN];
static unsigned n_children;
static struct sandbox_options options;	/* a pre-started sandbox's, with the command in process */
static const char *sandbox_path;	/* coderunner-sandbox: each child, and each waiter */
static char **supervisor_argv;		/* coderunner-sandbox --template-fd 4 OPTION... -- COMMAND */
static int requests[2] = { -1, -1 };	/* [0] ours, [1] the children's fd 4 */
static PyObject *warm_globals;	/* warm.py's: BASE, CLOSURES */
static char imported[8000];	/* the top-level modules the imports brought in */
static int claims[2] = { -1, -1 };	/* [0] ours, [1] the children's stdout */

static _Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("coderunner-template: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(SANDBOX_EXIT_FAULT);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Raises or empties the effective set, keeping the permitted one. */
static void set_effective(bool raised)
{
	if (capng_get_caps_process() < 0)
		fail("cannot read our capabilities");
	for (unsigned cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (capng_have_capability(CAPNG_PERMITTED, cap))
			capng_update(raised ? CAPNG_ADD : CAPNG_DROP, CAPNG_EFFECTIVE, cap);
	if (capng_apply(CAPNG_SELECT_CAPS) < 0)
		fail("cannot %s our effective capabilities", raised ? "raise" : "empty");
}

/* The imports run with a private /tmp, in a mount namespace of our own:
 * what one writes there (matplotlib's font cache) is nobody else's, and no
 * file another user planted in the host's /tmp is read or written. The
 * namespace is a copy of the host's that host mounts still propagate into
 * (a slave); once the imports are done the private /tmp goes, and the
 * host's is there again for the children, which build their sandboxes
 * from the host's file system. (Going back to the host's namespace with
 * setns() would take CAP_SYS_CHROOT as well, which the service does not
 * hold.) */
static void enter_private_tmp(void)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
	    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777") < 0)
		fail("a private /tmp for the imports: %s", strerror(errno));
}

static void leave_private_tmp(void)
{
	if (umount2("/tmp", MNT_DETACH) < 0)
		fail("the private /tmp of the imports: %s", strerror(errno));
}

/* The interpreter, as `python3 -s` would start (the same executable, no
 * user site directory, unbuffered, no bytecode writing), with the run's
 * environment, so that what an import reads from it is what a run's would. */
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

static void start_python(const struct sandbox_options *o)
{
	PyObjectArenaAllocator arenas = { NULL, arena_alloc, arena_free };
	PyObject_SetArenaAllocator(&arenas);
	char **env = sandbox_environment(o);
	clearenv();
	for (char **e = env; *e; e++)
		putenv(*e);
	/* One thread: forking a process with a BLAS thread pool running
	 * can deadlock the child. */
	setenv("OPENBLAS_NUM_THREADS", "1", 1);
	setenv("OMP_NUM_THREADS", "1", 1);
	setenv("MKL_NUM_THREADS", "1", 1);

	PyConfig config;
	PyConfig_InitPythonConfig(&config);
	config.user_site_directory = 0;
	config.buffered_stdio = 0;
	config.write_bytecode = 0;
	config.parse_argv = 0;
	PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, o->argv[0]);
	if (!PyStatus_Exception(st))
		st = PyConfig_SetBytesString(&config, &config.executable, o->argv[0]);
	if (!PyStatus_Exception(st))
		st = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(st))
		fail("cannot start the interpreter: %s", st.err_msg ? st.err_msg : "?");
}

/* The preload list imported, and what warm.py needs to hide it again:
 * BASE (a bare interpreter's modules) and CLOSURES, computed in children
 * forked before the imports, so that each is what a cold import brings in.
 * With matplotlib.pyplot, the template loads the font list and draws and
 * saves a chart: what the first chart of an interpreter sets up is then
 * ready in every run (a chart's run takes about 6 ms less; the template's
 * RSS grows by 1.5 MiB). Then it lets go of what would make a run differ
 * from a cold one: the figure, the fonts (each holds its file open, and a
 * run has no fd but its own), pyplot's backend and PIL's plugin flag, which
 * a run's first chart sets up again, as a cold run's does. What the drawing
 * imported comes back with its closure (_first, computed in a child), and
 * the formats PIL's plugins registered come back with them (warm.py).
 * While the template imports, what each module registers in atexit,
 * copyreg and warnings is recorded in REGISTERED, so that warm.py can take
 * it back and make it again when that module comes back. */
static const char preload_source[] =
	"import sys\n"
	"BASE = frozenset(sys.modules)\n"
	"import os, gc\n"
	"def _added(fn, since):\n"
	"    r, w = os.pipe()\n"
	"    pid = os.fork()\n"
	"    if pid == 0:\n"
	"        os.close(r)\n"
	"        try:\n"
	"            fn()\n"
	"        except BaseException:\n"
	"            pass\n"
	"        os.write(w, '\\n'.join(sorted(set(sys.modules) - since)).encode())\n"
	"        os._exit(0)\n"
	"    os.close(w)\n"
	"    out = b''\n"
	"    while chunk := os.read(r, 1 << 16):\n"
	"        out += chunk\n"
	"    os.close(r)\n"
	"    os.waitpid(pid, 0)\n"
	"    return [n for n in out.decode().split('\\n') if n]\n"
	"def _imports(names):\n"
	"    def fn():\n"
	"        for n in names:\n"
	"            try:\n"
	"                __import__(n)\n"
	"            except BaseException:\n"
	"                pass\n"
	"    return fn\n"
	"_all = _added(_imports(PRELOAD), BASE)\n"
	"def _chart():\n"
	"    import io, matplotlib.pyplot as plt\n"
	"    fig, ax = plt.subplots()\n"
	"    ax.plot([0, 1], [0, 1])\n"
	"    fig.savefig(io.BytesIO(), format='png')\n"
	"_first = _added(_chart, BASE | set(_all)) if 'matplotlib.pyplot' in _all else []\n"
	"CLOSURES = {n: _added(_imports([n]), BASE)\n"
	"            for n in sorted({m.split('.')[0] for m in _all + _first} | set(PRELOAD) | set(_first))}\n"
	"import atexit, copyreg, functools, warnings\n"
	"REGISTERED = []\n"
	"def _recording(fn, made):\n"
	"    def record(*args, **kwargs):\n"
	"        r = fn(*args, **kwargs)\n"
	"        REGISTERED.append((sys._getframe(1).f_globals.get('__name__'),) + made(fn, *args, **kwargs))\n"
	"        return r\n"
	"    return record\n"
	"def _filter(fn, *args, append=False, **kwargs):\n"
	"    item = warnings.filters[-1 if append else 0]\n"
	"    def undo():\n"
	"        for i, f in enumerate(warnings.filters):\n"
	"            if f is item:\n"
	"                del warnings.filters[i]\n"
	"                warnings._filters_mutated()\n"
	"                return True\n"
	"        return False\n"
	"    return undo, functools.partial(warnings._add_filter, *item, append=append)\n"
	"_calls = [(atexit, 'register', lambda fn, f, *a, **k:\n"
	"              (lambda: atexit.unregister(f) or True, functools.partial(fn, f, *a, **k))),\n"
	"          (copyreg, 'pickle', lambda fn, c, *a:\n"
	"              (lambda: copyreg.dispatch_table.pop(c, None) is not None, functools.partial(fn, c, *a))),\n"
	"          (warnings, 'filterwarnings', _filter), (warnings, 'simplefilter', _filter)]\n"
	"_calls = [(m, name, getattr(m, name), made) for m, name, made in _calls]\n"
	"for m, name, fn, made in _calls:\n"
	"    setattr(m, name, _recording(fn, made))\n"
	"for n in PRELOAD + _first:\n"
	"    __import__(n)\n"
	"for m, name, fn, made in _calls:\n"
	"    setattr(m, name, fn)\n"
	"if 'matplotlib.pyplot' in sys.modules:\n"
	"    import matplotlib.font_manager\n"
	"    matplotlib.font_manager.fontManager\n"
	"    _chart()\n"
	"    import matplotlib.pyplot as plt, PIL.Image\n"
	"    plt.close('all')\n"
	"    matplotlib.font_manager._get_font.cache_clear()\n"
	"    plt._backend_mod = None\n"
	"    PIL.Image._initialized = 0\n"
	"    del plt, PIL\n"
	"IMPORTED = ' '.join(sorted({m.split('.')[0] for m in sys.modules} - BASE))\n"
	"del _all, _added, _imports, _chart, _first, _recording, _filter, _calls\n"
	"sys.stdout.flush(); sys.stderr.flush()\n";

/* The children the preload forks to see what each import brings in must
 * not outlive us: a service stopped while we import would find them still
 * in its cgroup. */
static bool preloading;
static pid_t template_pid;

static void preload_child(void)
{
	if (preloading && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != template_pid))
		_exit(1);
}

static void preload(const char *list)
{
	template_pid = getpid();
	preloading = true;
	if (pthread_atfork(NULL, NULL, preload_child) != 0)
		fail("pthread_atfork");
	PyObject *names = PyList_New(0);
	char *copy = strdup(list), *save = NULL;
	if (!names || !copy)
		fail("out of memory");
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		PyObject *s = PyUnicode_FromString(t);
		if (!s || PyList_Append(names, s) < 0)
			fail("out of memory");
		Py_DECREF(s);
	}
	free(copy);
	warm_globals = PyDict_New();
	PyObject *runner = PyUnicode_DecodeFSDefault(options.argv[3]);
	if (!warm_globals || !runner || PyDict_SetItemString(warm_globals, "__builtins__", PyEval_GetBuiltins()) < 0 ||
	    PyDict_SetItemString(warm_globals, "PRELOAD", names) < 0 ||
	    PyDict_SetItemString(warm_globals, "RUNNER", runner) < 0)
		fail("out of memory");
	Py_DECREF(names);
	Py_DECREF(runner);
	PyObject *r = PyRun_String(preload_source, Py_file_input, warm_globals, warm_globals);
	if (!r) {
		PyErr_Print();
		fail("cannot import the preload list %s", list);
	}
	Py_DECREF(r);
	PyObject *names_imported = PyDict_GetItemString(warm_globals, "IMPORTED");
	const char *text = names_imported ? PyUnicode_AsUTF8(names_imported) : NULL;
	if (!text || strlen(text) >= sizeof imported)
		fail("the preload list imported more modules than we can name");
	snprintf(imported, sizeof imported, "%s", text);
	/* warm.py hides what was imported, defines run() and freezes the
	 * collector's view of the template's objects. */
	r = PyRun_String(runner_warm, Py_file_input, warm_globals, warm_globals);
	if (!r) {
		PyErr_Print();
		fail("warm.py failed in the template");
	}
	Py_DECREF(r);
	preloading = false;
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
static void fill_heap_holes(void)
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
static void fill_pool_holes(void)
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
static void collapse_to_huge_pages(void)
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

/* The fds open now, as a set of up to 1024. */
static void open_fds(bool set[1024])
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		fail("/proc/self/fd: %s", strerror(errno));
	memset(set, 0, 1024 * sizeof *set);
	for (struct dirent *e; (e = readdir(d));) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd != dirfd(d) && fd < 1024)
			set[fd] = true;
	}
	closedir(d);
}

/* A run has no fd but its own: whatever the imports left open (a module
 * that holds a file) would be closed under them in every run, so such a
 * preload list is refused. */
static void check_no_fds_left(const bool before[1024])
{
	bool now[1024];
	open_fds(now);
	for (int fd = 0; fd < 1024; fd++)
		if (now[fd] && !before[fd]) {
			char link[64], target[PATH_MAX] = "?";
			snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
			ssize_t n = readlink(link, target, sizeof target - 1);
			target[n > 0 ? n : 1] = '\0';
			fail("the preload list left fd %d open (%s), which no run could use; runs go cold",
			     fd, target);
		}
}

/* What execve() would have made of the command's /proc/self/cmdline and
 * environ: the command line and environment of the run, where the template's
 * would show (with the sandbox's options, its uid range among them). The
 * strings go into memory of the command's own, which the kernel is pointed
 * at: PR_SET_MM_MAP, which takes no privilege, with every other field as
 * it is. */
static void show_command_line(char *const *argv, char *const *env)
{
	size_t arg_len = 0, env_len = 0;
	for (char *const *p = argv; *p; p++)
		arg_len += strlen(*p) + 1;
	for (char *const *p = env; *p; p++)
		env_len += strlen(*p) + 1;
	char *area = malloc(arg_len + env_len), *at = area;	/* for the process's life */
	if (!area)
		die("out of memory");
	for (char *const *p = argv; *p; p++)
		at = stpcpy(at, *p) + 1;
	for (char *const *p = env; *p; p++)
		at = stpcpy(at, *p) + 1;

	/* The fields as they are: /proc/self/stat's 26-28 and 45-51. */
	char buf[2048];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd >= 0)
		close(fd);
	char *field = n > 0 ? (buf[n] = '\0', strrchr(buf, ')')) : NULL;
	if (!field)
		die("read /proc/self/stat");
	unsigned long long v[52] = { 0 };
	for (int i = 3; i < 52 && (field = strchr(field + 1, ' ')); i++)
		v[i] = strtoull(field + 1, NULL, 10);
	struct prctl_mm_map map = {
		.start_code = v[26], .end_code = v[27], .start_stack = v[28],
		.start_data = v[45], .end_data = v[46], .start_brk = v[47],
		.brk = (uintptr_t)sbrk(0),
		.arg_start = (uintptr_t)area, .arg_end = (uintptr_t)area + arg_len,
		.env_start = (uintptr_t)area + arg_len, .env_end = (uintptr_t)area + arg_len + env_len,
		.exe_fd = (__u32)-1,
	};
	if (prctl(PR_SET_MM, PR_SET_MM_MAP, &map, sizeof map, 0) < 0)
		die_errno("prctl PR_SET_MM_MAP");
}

/* The command of a warm run: this process, forked from the template, now
 * unprivileged and filtered. warm.py gets the run's environment and command
 * line and runs RUNNER; a SystemExit ends the process as it would python3. */
static void warm_command(const struct sandbox_options *o, char **env)
{
	environ = env;
	show_command_line(o->argv, env);
	/* As an exec'd python3 is: its /proc/self files its own, not root's
	 * (the change of uid made it undumpable). */
	if (prctl(PR_SET_DUMPABLE, 1) < 0)
		die_errno("prctl PR_SET_DUMPABLE");
	PyOS_AfterFork_Child();
	PyObject *run = PyDict_GetItemString(warm_globals, "run");
	PyObject *e = PyList_New(0), *a = PyList_New(0);
	if (!run || !e || !a)
		_exit(SANDBOX_EXIT_FAULT);
	for (char **p = env; *p; p++)
		PyList_Append(e, PyUnicode_DecodeFSDefault(*p));
	for (char *const *p = o->argv; *p; p++)
		PyList_Append(a, PyUnicode_DecodeFSDefault(*p));
	/* run() ends the process itself, as python3 would end it. */
	if (!PyObject_CallFunctionObjArgs(run, e, a, NULL))
		PyErr_Print();
	_exit(1);
}

/* Each pre-started sandbox is coderunner-sandbox --template-fd, spawned
 * (no copy of our memory: posix_spawn shares it until the exec), with our
 * claims socket as its stdout and the requests socket as fd 4. */
static bool spawn(void)
{
	if (n_children == MAX_CHILDREN)
		return false;
	char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", NULL };
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, options.accept_fd, options.accept_fd);	/* inherited */
	posix_spawn_file_actions_adddup2(&fa, claims[1], 1);
	posix_spawn_file_actions_adddup2(&fa, requests[1], 4);
	posix_spawn_file_actions_addclosefrom_np(&fa, 5);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	/* Raised for the exec: the path may need CAP_DAC_READ_SEARCH to reach. */
	set_effective(true);
	int rc = posix_spawn(&pid, sandbox_path, &fa, &attr, supervisor_argv, envp);
	set_effective(false);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "coderunner-template: spawn %s: %s\n", sandbox_path, strerror(rc));
		return false;
	}
	children[n_children++] = (struct child){ pid, false };
	return true;
}

/* ---- a warm run's command, forked into a sandbox (forkserver.c) ---- */

struct fork_job {
	const struct forkserver_request *req;
	const int *fds;
	pid_t maker;			/* the command's maker, our child */
	pid_t command;			/* its pid in the run's PID namespace; 0 if none */
	int err;
};

/* The helpers run on our memory while we wait (CLONE_VFORK): stacks of
 * their own, and nothing of ours touched but the job. No exit(), no
 * malloc, no libcap-ng (whose state is ours). */
static char helper_stack[64 * 1024] __attribute__((aligned(64)));
/* The command's maker forks it on its stack, and the command, our
 * interpreter, runs the script on it: as large as a main thread's, with a
 * guard page below. Only what a run touches of it is ever resident. */
#define COMMAND_STACK (8UL << 20)
static char *command_stack;

static void map_command_stack(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, COMMAND_STACK + (size_t)page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (p == MAP_FAILED || mprotect(p, (size_t)page, PROT_NONE) < 0)
		fail("map a stack for the runs: %s", strerror(errno));
	command_stack = p + page;
}

static int raise_effective_raw(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	d[0].effective = d[0].permitted;
	d[1].effective = d[1].permitted;
	return (int)syscall(SYS_capset, &h, d);
}

static int join_cgroup(int dir_fd)
{
	int fd = openat(dir_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = write(fd, "0", 1) == 1 ? 0 : -1;
	close(fd);
	return rc;
}

/* The command: our own copy of the template (the one copy a run makes).
 * Its maker ends at once, and init adopts it: from then on it is init's
 * child, PID 2, as in a cold run; from /work on, the stages every command
 * goes through (init.c). */
static _Noreturn void command_child(const struct fork_job *j)
{
	die_set_pipe(j->fds[FORK_FD_RESULT]);
	for (int i = 0; getppid() != 1; i++) {
		if (i == 100000)
			die("the command's maker did not end");
		sched_yield();
	}
	if (chdir("/work") < 0)
		die_errno("chdir /work");
	/* Named as an exec'd python3 is, not as the template. */
	const char *slash = strrchr(options.argv[0], '/');
	if (prctl(PR_SET_NAME, slash ? slash + 1 : options.argv[0]) < 0)
		die_errno("prctl PR_SET_NAME");
	struct sandbox_options o = options;
	o.uid = (uid_t)j->req->uid;
	o.gid = (gid_t)j->req->gid;
	struct command_fds cmd = {
		.mine = { -1, -1, -1, -1 },
		.theirs = { j->fds[FORK_FD_STDIN], j->fds[FORK_FD_STDOUT], j->fds[FORK_FD_STDERR],
			    j->fds[FORK_FD_CHANNEL] },
		.control = { -1, j->fds[FORK_FD_CONTROL] },
	};
	sigset_t none;
	sigemptyset(&none);
	init_exec_command(&o, &none, &cmd);
}

/* The next PID of the PID namespace of whoever writes it: 2 (init set it
 * past us). The sandbox's own /proc: we are in its mount namespace. */
static int free_pid_2(void)
{
	int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = write(fd, "1", 1) == 1 ? 0 : -1;
	close(fd);
	return rc;
}

/* The command's maker, a process of the run's PID namespace, still on our
 * memory: into the run's cgroup (while our cgroup namespace sees both ends
 * of the move) and cgroup namespace; PID 2 made the next; the command
 * forked; and gone, so that init adopts it. */
static int make_command(void *arg)
{
	struct fork_job *j = arg;
	if ((j->req->n_fds == FORK_FDS_MAX && join_cgroup(j->fds[FORK_FD_CGROUP]) < 0) ||
	    setns(j->fds[FORK_FD_INIT], CLONE_NEWCGROUP) < 0 || free_pid_2() < 0) {
		j->err = errno;
		_exit(SANDBOX_EXIT_FAULT);
	}
	pid_t pid = fork();
	if (pid == 0)
		command_child(j);
	if (pid < 0)
		j->err = errno;
	else
		j->command = pid;
	_exit(0);
}

/* The helper: enters init's namespaces (with the capabilities we hold,
 * raised for it alone), so that its child, the command's maker, is a
 * process of the run's PID namespace, whose parent we make ours. */
static int enter_sandbox(void *arg)
{
	struct fork_job *j = arg;
	if (raise_effective_raw() < 0 ||
	    setns(j->fds[FORK_FD_INIT], CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID) < 0) {
		j->err = errno;
		_exit(0);
	}
	pid_t pid = clone(make_command, command_stack + COMMAND_STACK,
			  CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD, j);
	if (pid < 0)
		j->err = errno;
	else
		j->maker = pid;
	_exit(0);
}

/* One request: the command's pid in the run's PID namespace, once it is
 * init's child, or a negative errno. One thread only. The interpreter's
 * fork hooks run in the command alone (PyOS_AfterFork_Child): those of the
 * parent side (PyOS_BeforeFork, PyOS_AfterFork_Parent) take and give back
 * locks against other threads, of which we have none, and would run the
 * libraries' Python here for every run, writing to our memory that the
 * runs share (each write splits a huge page of ours). */
static int32_t fork_command(const struct forkserver_request *req, const int *fds)
{
	DIR *d = opendir("/proc/self/task");
	unsigned threads = 0;
	for (struct dirent *t; d && (t = readdir(d));)
		threads += t->d_name[0] != '.';
	if (d)
		closedir(d);
	if (threads != 1)
		fail("%u threads: a fork now could deadlock its child; runs go cold", threads);
	struct fork_job job = { req, fds, 0, 0, 0 };
	pid_t helper_pid = clone(enter_sandbox, helper_stack + sizeof helper_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &job);
	if (helper_pid < 0)
		return -errno;
	while (waitpid(helper_pid, NULL, 0) < 0 && errno == EINTR)
		;
	/* The maker's end, which follows its adoption of the command. */
	while (job.maker > 0 && waitpid(job.maker, NULL, 0) < 0 && errno == EINTR)
		;
	if (!job.command)
		return -(job.err ? job.err : EIO);
	return (int32_t)job.command;
}

/* Our answer: the command's pid, or a negative errno. */
static void answer(int sock, int32_t value)
{
	if (send(sock, &value, sizeof value, MSG_NOSIGNAL) != (ssize_t)sizeof value)
		fprintf(stderr, "coderunner-template: cannot answer a sandbox: %s\n", strerror(errno));
}

static void handle_requests(void)
{
	struct forkserver_request req;
	int fds[FORK_FDS_MAX];
	int n;
	while ((n = forkserver_receive(requests[0], &req, fds)) >= 0) {
		answer(fds[FORK_FD_REPLY], fork_command(&req, fds));
		for (int i = 0; i < n; i++)
			close(fds[i]);
	}
}

static unsigned waiting(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < n_children; i++)
		n += !children[i].claimed;
	return n;
}

static void read_claims(void)
{
	char msg[32];
	ssize_t n;
	while ((n = recv(claims[0], msg, sizeof msg - 1, MSG_DONTWAIT)) > 0) {
		msg[n] = '\0';
		pid_t pid = (pid_t)atoi(msg);
		for (unsigned i = 0; i < n_children; i++)
			if (children[i].pid == pid)
				children[i].claimed = true;
	}
}

/* Reaps what ended; true if a child ended before any run claimed it. */
static bool reap(void)
{
	bool unclaimed = false;
	pid_t pid;
	/* A child says it was claimed before its run, and may have ended
	 * since: read what it said first. */
	read_claims();
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		for (unsigned i = 0; i < n_children; i++)
			if (children[i].pid == pid) {
				unclaimed |= !children[i].claimed;
				children[i] = children[--n_children];
				break;
			}
	return unclaimed;
}

static void signal_children(int sig, bool idle_only)
{
	for (unsigned i = 0; i < n_children; i++)
		if (!idle_only || !children[i].claimed)
			kill(children[i].pid, sig);
}

int main(int argc, char **argv)
{
	const char *list = NULL;
	unsigned prestart = 1;
	int i = 1;
	for (; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--preload"))
			list = argv[i + 1];
		else if (!strcmp(argv[i], "--prestart"))
			prestart = (unsigned)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--sandbox"))
			sandbox_path = argv[i + 1];
		else
			break;
	}
	if (!list || !*list || prestart < 1 || prestart > MAX_CHILDREN / 2 || !sandbox_path)
		fail("usage: coderunner-template --preload LIST --prestart N --sandbox PATH "
		     "[coderunner-sandbox option]... --accept-fd FD -- PYTHON -s -c RUNNER");
	/* Each child: coderunner-sandbox --template-fd 4, then our sandbox
	 * options and command as they are. */
	supervisor_argv = calloc((size_t)(argc - i + 4), sizeof *supervisor_argv);
	if (!supervisor_argv)
		fail("out of memory");
	supervisor_argv[0] = (char *)sandbox_path;
	supervisor_argv[1] = "--template-fd";
	supervisor_argv[2] = "4";
	for (int k = i; k < argc; k++)
		supervisor_argv[k - i + 3] = argv[k];
	struct sandbox_options o;
	char err[256];
	argv[i - 1] = argv[0];
	if (options_parse(&o, argc - i + 1, argv + i - 1, err, sizeof err) < 0)
		fail("%s", err);
	options = o;
	options.in_process = warm_command;
	map_command_stack();
	/* Only our sandboxes' supervisors take the listening socket, not the
	 * runs' inits we exec. */
	if (fcntl(o.accept_fd, F_SETFD, FD_CLOEXEC) < 0)
		fail("--accept-fd %d: %s", o.accept_fd, strerror(errno));
	if (o.accept_fd < 0 || !o.argv[0] || !o.argv[1] || strcmp(o.argv[1], "-s") || !o.argv[2] ||
	    strcmp(o.argv[2], "-c") || !o.argv[3] || o.argv[4])
		fail("the command must be pre-started (--accept-fd) and PYTHON -s -c RUNNER");
	/* Only the interpreter we embed can stand in for the one asked for. */
	char want[PATH_MAX], have[PATH_MAX];
	if (!realpath(o.argv[0], want) || !realpath("/usr/bin/python" Py_STRINGIFY(PY_MAJOR_VERSION) "."
						   Py_STRINGIFY(PY_MINOR_VERSION), have) || strcmp(want, have))
		fail("%s is not the interpreter this template embeds (python%d.%d); runs go cold",
		     o.argv[0], PY_MAJOR_VERSION, PY_MINOR_VERSION);
	privileges_check();
	/* setns() into a mount namespace takes CAP_SYS_CHROOT besides. */
	if (capng_get_caps_process() < 0 || !capng_have_capability(CAPNG_PERMITTED, CAP_SYS_CHROOT))
		fail("without CAP_SYS_CHROOT no command can be forked into a sandbox; runs go cold");

	/* Our stdout is for our keeper's messages; children say "claimed" to
	 * us, and ask for their commands. */
	int keeper = fcntl(1, F_DUPFD_CLOEXEC, 3);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (keeper < 0 || null < 0 || dup2(null, 1) < 0 ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, claims) < 0 ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, requests) < 0)
		fail("set up our fds: %s", strerror(errno));
	close(null);

	bool fds_before[1024];
	open_fds(fds_before);
	enter_private_tmp();
	set_effective(false);
	start_python(&o);
	preload(list);
	check_no_fds_left(fds_before);
	fill_pool_holes();
	fill_heap_holes();
	collapse_to_huge_pages();
	set_effective(true);
	leave_private_tmp();
	set_effective(false);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	int sigfd;
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 || (sigfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0)
		fail("signalfd: %s", strerror(errno));
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
		fail("prctl: %s", strerror(errno));

	bool stopping = false, said_warm = false;
	long long last_failure = 0;
	for (;;) {
		/* A child that ends unclaimed (a set-up that fails) is
		 * replaced once a second at most, never in a storm. */
		while (!stopping && waiting() < prestart && now_ms() - last_failure > 1000)
			if (!spawn())
				last_failure = now_ms();
		if (!said_warm && !stopping && n_children) {
			char msg[sizeof imported + 32];
			int len = snprintf(msg, sizeof msg, "warm %d %s\n", (int)getpid(), imported);
			if (write(keeper, msg, (size_t)len) < 0)
				fprintf(stderr, "coderunner-template: cannot tell our keeper: %s\n", strerror(errno));
			said_warm = true;
		}
		if (stopping && n_children == 0)
			_exit(0);	/* the interpreter needs no teardown */
		struct pollfd fds[3] = { { sigfd, POLLIN, 0 }, { claims[0], POLLIN, 0 }, { requests[0], POLLIN, 0 } };
		if (poll(fds, 3, 1000) < 0 && errno != EINTR)
			fail("poll: %s", strerror(errno));
		if (fds[2].revents)
			handle_requests();
		if (fds[1].revents)
			read_claims();
		struct signalfd_siginfo si;
		if (fds[0].revents && read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
			if (si.ssi_signo == SIGHUP && !stopping) {
				/* Retire: the idle go, runs under way finish. */
				stopping = true;
				signal_children(SIGHUP, true);
			} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
				stopping = true;
				signal_children(SIGTERM, false);
			}
		}
		if (reap())
			last_failure = now_ms();
	}
}
