/* python.c — coderunner-template's interpreter: started as `python3 -s`
 * would be, the preload list imported in a private /tmp (refused if it
 * leaves an fd open), warm.py loaded; and in each warm run's command,
 * handed to warm.py's run(), which makes it the fresh interpreter a cold
 * run has.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/template/template.h"

extern const char runner_warm[];
extern char **environ;

static PyObject *warm_globals;	/* warm.py's: BASE, CLOSURES, run() */
static char imported[IMPORTED_MAX];	/* the top-level modules the imports brought in */

/* The imports run in namespaces of our own: a mount namespace with a
 * private /tmp, and a UTS namespace named as every sandbox is. The /tmp:
 * what one writes there (matplotlib's font cache) is nobody else's, and no
 * file another user planted in the host's /tmp is read or written. The
 * namespace is a copy of the host's that host mounts still propagate into
 * (a slave); once the imports are done the private /tmp goes, and the
 * host's is there again for the children, which build their sandboxes
 * from the host's file system. (Going back with setns() would want a
 * handle on the host's namespace kept open all the while, for nothing: the
 * detached /tmp is all there is to undo.) */
void python_enter_namespaces(void)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
	    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777") < 0)
		fail("a private /tmp for the imports: %s", strerror(errno));
	/* The host name every sandbox has (init.c), for good: what an import
	 * keeps of uname() (platform's cache, filled by Debian's pandas as it
	 * is imported) is then what a run would find, not the host's name. */
	if (unshare(CLONE_NEWUTS) < 0 || sethostname("sandbox", strlen("sandbox")) < 0 ||
	    setdomainname("sandbox", strlen("sandbox")) < 0)
		fail("the sandboxes' host name for the imports: %s", strerror(errno));
}

void python_leave_private_tmp(void)
{
	if (umount2("/tmp", MNT_DETACH) < 0)
		fail("the private /tmp of the imports: %s", strerror(errno));
}

/* The interpreter, as `python3 -s` would start (the same executable, no
 * user site directory, unbuffered, no bytecode writing), with the run's
 * environment, so that what an import reads from it is what a run's would. */
/* Python builds sys.stdout and sys.stderr over fds 1 and 2 as it starts,
 * and keeps whether each can seek. A run's are pipes, and ours are not
 * (/dev/null, a log file): so they are built over a pipe, and our fds are
 * put back after, with what the interpreter said meanwhile. (A run's stdin
 * is a file, as our /dev/null is.) */
static PyStatus initialize_over_a_pipe(const PyConfig *config)
{
	int out = fcntl(1, F_DUPFD_CLOEXEC, 3), err = fcntl(2, F_DUPFD_CLOEXEC, 3), p[2];
	if (out < 0 || err < 0 || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
		fail("build the standard streams over a pipe: %s", strerror(errno));
	PyStatus st = Py_InitializeFromConfig(config);
	if (dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(125);	/* no stderr to say so on */
	close(out);
	close(err);
	close(p[1]);
	char said[4096];
	ssize_t n;
	while ((n = read(p[0], said, sizeof said)) > 0)
		if (write(2, said, (size_t)n) < 0)
			break;
	close(p[0]);
	return st;
}

void python_start(const struct sandbox_options *o)
{
	memory_use_huge_arenas();
	char **env = sandbox_environment(o);
	/* Our keeper's environment lies on our stack as the kernel laid it
	 * out, and every warm run's memory is a copy of ours: wiped, as a
	 * cold run's exec leaves nothing of its caller's environment. */
	for (char **e = environ; e && *e; e++)
		explicit_bzero(*e, strlen(*e));
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
		st = initialize_over_a_pipe(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(st))
		fail("cannot start the interpreter: %s", st.err_msg ? st.err_msg : "?");
}

/* The preload list imported, and what warm.py needs to hide it again:
 * BASE (a bare interpreter's modules) and CLOSURES, computed in children
 * forked before the imports, so that each is what a cold import brings in.
 * There are some 140 of them, a cold import each, and they take most of
 * the template's start: they run side by side, one per CPU (four at most,
 * since each may hold the whole list), in the order asked for, and those
 * that depend on the warm-ups' findings (below) join the queue as those
 * two are done. What they found (FOUND_OUT) is kept in a file for the next
 * template (cache.c), which takes it from there (CACHED) instead if every
 * file and directory it was found from is as it was (_identity).
 * With pandas, the template then works a small DataFrame as agents' scripts
 * do (build, group, sort, describe, merge, write as JSON and CSV): the
 * interpreter's method cache, the bytecode it specialised and numpy's loop
 * caches are then ready for a run's pandas, which writes less to the
 * template's memory (the pandas script of bench/http copies about 120 pages
 * fewer, 5% less CPU per run); the functools caches it filled are emptied
 * again, as a cold run finds them. With matplotlib.pyplot, the template
 * loads the font list and draws and saves a chart: what the first chart of
 * an interpreter sets up is then ready in every run (a chart's run takes
 * about 6 ms less; the template's RSS grows by 1.5 MiB). Then it lets go of
 * what would make a run differ from a cold one: the figure, the fonts (each
 * holds its file open, and a run has no fd but its own), pyplot's backend
 * and PIL's plugin flag, which a run's first chart sets up again, as a cold
 * run's does. What each of these imported comes back with its closure
 * (_first, computed in children), and the formats PIL's plugins registered
 * come back with them (warm.py).
 * While the template imports, what each module registers in atexit,
 * copyreg and warnings is recorded in REGISTERED, so that warm.py can take
 * it back and make it again when that module comes back. */
static const char preload_source[] =
	"import sys\n"
	"BASE = frozenset(sys.modules)\n"
	"import os, gc\n"
	"_width = min(4, len(os.sched_getaffinity(0)))\n"
	"_running = []\n"
	"def _spawn(fn, since):\n"
	"    if len(_running) == _width:\n"
	"        _finish(_running.pop(0))\n"
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
	"    child = [r, pid, None]\n"
	"    _running.append(child)\n"
	"    return child\n"
	"def _finish(child):\n"
	"    out = b''\n"
	"    while chunk := os.read(child[0], 1 << 16):\n"
	"        out += chunk\n"
	"    os.close(child[0])\n"
	"    os.waitpid(child[1], 0)\n"
	"    child[2] = [n for n in out.decode().split('\\n') if n]\n"
	"def _added(child):\n"
	"    if child in _running:\n"
	"        _running.remove(child)\n"
	"        _finish(child)\n"
	"    return child[2]\n"
	"def _imports(names):\n"
	"    def fn():\n"
	"        for n in names:\n"
	"            try:\n"
	"                __import__(n)\n"
	"            except BaseException:\n"
	"                pass\n"
	"    return fn\n"
	"def _chart():\n"
	"    import io, matplotlib.pyplot as plt\n"
	"    fig, ax = plt.subplots()\n"
	"    ax.plot([0, 1], [0, 1])\n"
	"    fig.savefig(io.BytesIO(), format='png')\n"
	"def _frame():\n"
	"    import io, numpy as np, pandas as pd\n"
	"    df = pd.DataFrame({'k': np.arange(200) % 5, 'v': np.arange(200) * 0.5, 's': ['a', 'b'] * 100})\n"
	"    df['w'] = df.v * 2 + 1\n"
	"    df.groupby('k').agg({'v': ['mean', 'sum'], 'w': 'max'})\n"
	"    df['r'] = np.random.rand(len(df))\n"
	"    df.groupby('k').r.mean().to_json()\n"
	"    df.groupby('s').v.sum().to_dict()\n"
	"    df.sort_values('v', ascending=False).head(3).to_string()\n"
	"    df.describe().to_dict()\n"
	"    df.merge(df[['k', 's']].drop_duplicates(), on='k')\n"
	"    df.to_csv(io.StringIO())\n"
	"    df.to_json(orient='records')\n"
	"    repr(df), str(df.v)\n"
	"def _identity(paths):\n"
	"    out = ['coderunner-template imports 1', repr(sys.version), ' '.join(PRELOAD), repr(sys.path)]\n"
	"    for p in paths:\n"
	"        try:\n"
	"            st = os.stat(p)\n"
	"            out.append('%s %d %d' % (p, st.st_size, st.st_mtime_ns))\n"
	"        except OSError:\n"
	"            out.append(p + ' - -')\n"
	"    return out\n"
	"def _from_cache():\n"
	"    head, _, body = (CACHED or '').partition('\\n\\n')\n"
	"    lines = head.split('\\n')\n"
	"    if not CACHED or _identity([l.rsplit(' ', 2)[0] for l in lines[4:]]) != lines:\n"
	"        return None\n"
	"    found = {'closure': {}}\n"
	"    for line in body.split('\\n'):\n"
	"        kind, name, *names = line.split(' ') + ['']\n"
	"        found.setdefault(kind, {})[name] = [n for n in names if n]\n"
	"    if '-' in found.get('all', ()) and '-' in found.get('first', ()):\n"
	"        return found['all']['-'], found['first']['-'], found['closure']\n"
	"_hit = _from_cache()\n"
	"if _hit:\n"
	"    _all, _first, CLOSURES = _hit\n"
	"    SAMPLES = {n: w for n, w in (('pandas', _frame), ('matplotlib.pyplot', _chart)) if n in _all}\n"
	"else:\n"
	"    _all = _added(_spawn(_imports(PRELOAD), BASE))\n"
	"    SAMPLES = {n: w for n, w in (('pandas', _frame), ('matplotlib.pyplot', _chart)) if n in _all}\n"
	"    _warm_ups = [_spawn(w, BASE | set(_all)) for w in SAMPLES.values()]\n"
	"    _closures = {n: _spawn(_imports([n]), BASE) for n in sorted({m.split('.')[0] for m in _all} | set(PRELOAD))}\n"
	"    _first = sorted(set().union(*map(_added, _warm_ups)))\n"
	"    _closures.update({n: _spawn(_imports([n]), BASE)\n"
	"                      for n in sorted(({m.split('.')[0] for m in _first} | set(_first)) - set(_closures))})\n"
	"    CLOSURES = {n: _added(_closures[n]) for n in sorted(_closures)}\n"
	"    del _warm_ups, _closures\n"
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
	"_caches = [f for f in gc.get_objects() if isinstance(f, functools._lru_cache_wrapper) and not f.cache_info().currsize]\n"
	"if 'pandas' in SAMPLES:\n"
	"    try:\n"
	"        _frame()\n"
	"    except Exception as e:\n"
	"        print('coderunner-template: the pandas warm-up failed:', repr(e), file=sys.stderr)\n"
	"[c.cache_clear() for c in _caches]\n"
	"if 'matplotlib.pyplot' in SAMPLES:\n"
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
	"FOUND_OUT, FROM_CACHE = None, bool(_hit)\n"
	"if not _hit:\n"
	"    _files = {f for m in list(sys.modules.values())\n"
	"              if isinstance(f := (getattr(m, '__dict__', None) or {}).get('__file__'), str)}\n"
	"    _files |= {os.path.dirname(f) for f in _files} | {p for p in sys.path if p} | {os.readlink('/proc/self/exe')}\n"
	"    if not any('\\n' in f for f in _files):\n"
	"        FOUND_OUT = '\\n'.join(_identity(sorted(_files)) + ['', 'all - ' + ' '.join(_all), 'first - ' + ' '.join(_first)] +\n"
	"                              ['closure %s %s' % (n, ' '.join(v)) for n, v in CLOSURES.items()]) + '\\n'\n"
	"    del _files\n"
	"del _all, _width, _running, _spawn, _finish, _added, _imports, _chart, _frame, _identity, _from_cache, _hit\n"
	"del _caches, _first, _recording, _filter, _calls\n"
	"sys.stdout.flush(); sys.stderr.flush()\n";

/* COPY_AHEAD(name), which warm.py calls as a run's import brings NAME
 * back: the pages that import will write, copied now. */
static PyObject *copy_ahead(PyObject *self, PyObject *name)
{
	(void)self;
	const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
	if (s)
		pages_copy_ahead(s);
	PyErr_Clear();
	Py_RETURN_NONE;
}

/* The children the preload forks to see what each import brings in must
 * not outlive us: a service stopped while we import would find them still
 * in its cgroup. */
static bool preloading;
static pid_t template_pid;

static void preload_child(void)
{
	if (preloading && die_with_parent(SIGKILL, template_pid) < 0)
		_exit(1);
}

static char *found_out;	/* for the cache, when it was not from it */
static bool from_cache;

void python_preload(const char *list, const char *cached)
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
	PyObject *runner = PyUnicode_DecodeFSDefault(template_options.argv[3]);
	if (!warm_globals || !runner || PyDict_SetItemString(warm_globals, "__builtins__", PyEval_GetBuiltins()) < 0 ||
	    PyDict_SetItemString(warm_globals, "PRELOAD", names) < 0 ||
	    PyDict_SetItemString(warm_globals, "RUNNER", runner) < 0)
		fail("out of memory");
	Py_DECREF(names);
	Py_DECREF(runner);
	PyObject *text_cached = cached ? PyUnicode_DecodeUTF8(cached, (Py_ssize_t)strlen(cached), "replace") : Py_None;
	if (!text_cached || PyDict_SetItemString(warm_globals, "CACHED", text_cached) < 0)
		fail("out of memory");
	if (cached)
		Py_DECREF(text_cached);
	static PyMethodDef copy_ahead_def = { "copy_ahead", copy_ahead, METH_O, NULL };
	PyObject *ahead = PyCFunction_New(&copy_ahead_def, NULL);
	if (!ahead || PyDict_SetItemString(warm_globals, "COPY_AHEAD", ahead) < 0)
		fail("out of memory");
	Py_DECREF(ahead);
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
	/* What the imports brought in, for the cache (cache.c). */
	PyObject *found = PyDict_GetItemString(warm_globals, "FOUND_OUT");
	const char *found_text = found && PyUnicode_Check(found) ? PyUnicode_AsUTF8(found) : NULL;
	if (found_text && !(found_out = strdup(found_text)))
		fail("out of memory");
	PyObject *hit = PyDict_GetItemString(warm_globals, "FROM_CACHE");
	from_cache = hit && PyObject_IsTrue(hit) == 1;
	PyErr_Clear();
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

/* In a child of the finished template: what every run that imports NAME
 * does with our memory: the import, brought back by warm.py. Not the
 * package worked as the warm-up works it (SAMPLES): a run writes those
 * pages only if its script does the same work, and a page copied ahead
 * that the run never writes costs more than the fault it saves on another
 * (bench/FINDINGS.md). */
static void sample(const char *name)
{
	PyOS_AfterFork_Child();
	if (!PyImport_ImportModule(name))
		_exit(1);
}

/* A list of str from a NULL-ended array of C strings, or NULL. */
static PyObject *str_list(char *const *p)
{
	PyObject *list = PyList_New(0);
	for (; list && *p; p++) {
		PyObject *s = PyUnicode_DecodeFSDefault(*p);
		if (!s || PyList_Append(list, s) < 0)
			Py_CLEAR(list);
		Py_XDECREF(s);
	}
	return list;
}

/* In a child of the finished template: what every run does with our
 * memory, from the fork on (warm.py's sample_run): the runner of a
 * pre-started sandbox reads its run on fd 3 (prestart.py), here a print(1)
 * with an hour of CPU time, no memory limit and no channel (fd 4). */
static void sample_run(const char *name)
{
	(void)name;
	static const char go[] = "3600\0" "0\0" "0\0" "\0" "-c\0" "print(1)";
	int s[2], null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) < 0 ||
	    dup2(s[0], 3) < 0 || dup2(null, 4) < 0 ||
	    write(s[1], go, sizeof go - 1) != (ssize_t)(sizeof go - 1) || shutdown(s[1], SHUT_WR) < 0)
		_exit(1);
	PyOS_AfterFork_Child();
	PyObject *fn = PyDict_GetItemString(warm_globals, "sample_run");
	PyObject *argv = str_list(template_options.argv);
	PyObject *r = fn && argv ? PyObject_CallOneArg(fn, argv) : NULL;
	if (!r)
		_exit(1);
	Py_DECREF(r);
}

/* The pages that every run writes, and those that each module of the
 * preload list writes in a run that imports it, learnt (pages.c) and said
 * in our log. */
void python_learn_pages(void)
{
	PyObject *names = PyDict_GetItemString(warm_globals, "PRELOAD");
	pages_learn(EVERY_RUN, sample_run);
	char said[512] = "";
	size_t len = (size_t)snprintf(said, sizeof said, "every run %lu", pages_learnt(EVERY_RUN));
	for (Py_ssize_t i = 0; names && i < PyList_Size(names); i++) {
		const char *name = PyUnicode_AsUTF8(PyList_GetItem(names, i));
		if (!name)
			fail("out of memory");
		pages_learn(name, sample);
		if (len < sizeof said)
			len += (size_t)snprintf(said + len, sizeof said - len, ", %s %lu",
						name, pages_learnt(name));
	}
	fprintf(stderr, "coderunner-template: pages copied ahead: %s\n", said);
}

const char *python_imported(void)
{
	return imported;
}

/* What each import brings in, as found out by this start's children; NULL
 * when it came from the cache (or names a path no file can hold). */
const char *python_found_out(void)
{
	return found_out;
}

bool python_from_cache(void)
{
	return from_cache;
}

/* The fds open now, as a set of up to 1024. */
void python_open_fds(bool set[1024])
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
void python_check_no_fds_left(const bool before[1024])
{
	bool now[1024];
	python_open_fds(now);
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
void python_warm_command(const struct sandbox_options *o, char **env)
{
	environ = env;
	show_command_line(o->argv, env);
	/* As an exec'd python3 is: its /proc/self files its own, not root's
	 * (the change of uid made it undumpable). */
	if (prctl(PR_SET_DUMPABLE, 1) < 0)
		die_errno("prctl PR_SET_DUMPABLE");
	/* Nothing from here on is the sandbox's fault to tell: the pipe to
	 * the supervisor goes before the run's code can reach it. */
	if (die_pipe() >= 5)
		close(die_pipe());
	die_set_pipe(-1);
	PyOS_AfterFork_Child();
	PyObject *run = PyDict_GetItemString(warm_globals, "run");
	PyObject *e = str_list(env), *a = str_list(o->argv);
	if (!run || !e || !a)
		_exit(SANDBOX_EXIT_FAULT);
	/* The template's command line, which is ours as a copy of its memory,
	 * names host paths: a cold run's memory holds none, and init hides
	 * its own. o->argv pointed into it. */
	init_wipe_arguments();
	/* run() ends the process itself, as python3 would end it. */
	if (!PyObject_CallFunctionObjArgs(run, e, a, NULL))
		PyErr_Print();
	_exit(1);
}
