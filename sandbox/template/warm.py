# warm.py — makes the template's interpreter (python.c) ready to serve
# warm runs, and each forked copy of it what a fresh `python3 -s -c RUNNER`
# would be. It runs once in the template, after the preload imports, with in
# its globals:
#   BASE      the modules a bare interpreter holds, which stay
#   CLOSURES  name -> the modules a cold `import name` brings in, for each
#             preloaded name, each top-level package they imported and each
#             module the warm-up imported on its own
#   RUNNER    the runner every warm run's command line ends with
#   COPY_AHEAD  COPY_AHEAD(name) copies the pages that a run importing a
#             preloaded name will write, in one go (pages.c)
#   REGISTERED  (module, undo, redo) for each registration the imports made
#             in atexit, copyreg and warnings, in order: undo() takes it
#             back (false if it was gone already), redo() makes it again
# and leaves run(ENV, ARGV), which python.c calls in the command's process
# of each warm run, once the sandbox's limits, uid, empty capability sets and
# seccomp filter are in force:
#   ENV       the run's environment, "NAME=VALUE" strings
#   ARGV      the command line, [python3, -s, -c, RUNNER]
import _io, functools, os, sys
_WRITERS = (_io.TextIOWrapper, _io.BufferedWriter, _io.BufferedRandom)
# The runner imports resource at its start: imported here, it is hidden
# with the rest and comes back from memory instead of from disk in every run.
import resource

# The modules the template imported beyond a bare interpreter's, which the
# template takes out of sys.modules (below) and a run brings back, with everything
# its own cold import would have brought in, when the script imports it: the
# same objects, so nothing is imported twice, and sys.modules holds only
# what the script imported.
_hidden = {}
# The names a run has put back: a module comes back once per run at most.
# _hidden itself is never changed: each change would copy a page of it.
_back = set()
_ModuleSpec = type(sys.__spec__)


class _Restored:
    """The loader of a module that comes back: its own module, as it was."""

    def __init__(self, module):
        self.module, self.spec = module, module.__spec__

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        module.__spec__ = self.spec


# The top-level modules the run's own directories offer: sys.path[0] (the
# script's), and any the script put on sys.path itself. A cold run imports
# those from there, before anything installed, so such a name is not put
# back; nor is what is under it. (A directory added behind the installed
# ones counts too: what is not put back the path finder imports, from
# wherever comes first, as in a cold run.) Listed again whenever sys.path or
# a directory's time of change is not the one listed (the runner imports
# resource before the run's files are there), or after
# importlib.invalidate_caches(), as a cold run's path finder does. Which of
# the template's modules the run's own files stand in for when the run
# starts, the service looks at first: such a run starts cold, since the
# template's modules that import one of them (pandas for a numpy.py) are
# put back as the template imported them.
_PATH = frozenset(p for p in sys.path if p)
_own = _own_key = None


def _own_modules():
    global _own, _own_key
    dirs = [p or "." for p in sys.path if isinstance(p, str) and p not in _PATH]
    key = []
    for where in dirs:
        try:
            key.append((where, os.stat(where).st_mtime_ns))
        except OSError:
            key.append((where, None))
    if _own is None or key != _own_key:
        _own_key = key
        _own = set()
        for where in dirs:
            try:
                entries = os.listdir(where)
            except OSError:
                entries = ()
            for e in entries:
                stem, dot, ext = e.partition(".")
                # (A directory named numpy.py is no module, as the path
                # finder sees it, nor the service: fcgi/running/run.c.)
                if dot and (ext in ("py", "pyc") or ext.endswith("so")):
                    if os.path.isfile(os.path.join(where, e)):
                        _own.add(stem)
                elif not dot and os.path.isfile(os.path.join(where, e, "__init__.py")):
                    _own.add(e)
    return _own


class _Hidden:
    """The first finder: puts a hidden module (and its closure) back."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name not in _hidden or name in _back:
            return None
        own = _own_modules()
        if name.partition(".")[0] in own:
            return None
        # The module itself the import system puts back, from our loader:
        # found in sys.modules already, it would be imported again.
        _back.add(name)
        for n in _AHEAD.get(name, ()):
            COPY_AHEAD(n)
        back = [name]
        for n in CLOSURES.get(name, ()):
            if n in _hidden and n not in _back and n.partition(".")[0] not in own:
                _back.add(n)
                sys.modules[n] = _hidden[n]
                _bind(n)
                back.append(n)
        _redo(back)
        return _ModuleSpec(name, _Restored(_hidden[name]))

    @staticmethod
    def invalidate_caches():
        global _own
        _own = None


sys.meta_path.insert(0, _Hidden)

# Hidden here, once, in the template: a run that hid them itself would
# touch every module object and copy the pages they are on (about 1.5 ms
# of each run's CPU). Keyed by names of our own, made one after another,
# which CLOSURES then names too, their hashes computed here: a run putting
# back a package's hundreds of modules writes to the few pages these
# strings fill, not to the page of each import's own name (putting
# pandas back copied 869 pages, now 755).
_hidden.update((n.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass"), m)
               for n, m in sys.modules.items() if n not in BASE)
for _n in _hidden:
    del sys.modules[_n]
_names = {_n: _n for _n in _hidden}
CLOSURES = {_k: tuple(_names.get(_n, _n) for _n in _v) for _k, _v in CLOSURES.items()}
frozenset().union(*CLOSURES.values())

# The pages a run importing a preloaded name will write (pages.c) are
# copied as the first hidden module of its import comes back: for
# `import matplotlib.pyplot`, as matplotlib does, whose closure would
# otherwise be put back a fault at a time first (some 260 faults).
_AHEAD = {}
for _p in PRELOAD:
    _parts = _p.split(".")
    for _i in range(1, len(_parts) + 1):
        _first = ".".join(_parts[:_i])
        if _first in _hidden:
            _AHEAD.setdefault(_names[_first], []).append(_p)
            break
_AHEAD = {_k: tuple(_v) for _k, _v in _AHEAD.items()}

# A package holds each submodule imported as an attribute, which lets
# `from package import submodule` skip the import (and sys.modules would
# never show it) and `package.submodule` work where a cold run's would fail.
# So a hidden submodule is unbound from its package here, and bound again
# when it comes back, as its import would bind it: unless it comes back
# whenever its package does, which is so when every closure that holds the
# package holds it too and the package itself is in the closure of its
# top-level one (so that it never comes back alone). Such a submodule is
# bound in every run in which its package is there, as in a cold one, and
# stays bound here: binding it again would write to its package's dict and
# to the module. (Of the 674 modules hidden, 116 are unbound; importing
# pandas, which binds none of them, went from 3.1 to 1.3 ms, and a pandas
# run copies about 300 pages fewer.)
_with = {}
for _v in CLOSURES.values():
    _s = frozenset(_v)
    for _n in _v:
        _with[_n] = _with[_n] & _s if _n in _with else _s
_unbound = {}
for _n, _m in _hidden.items():
    _parent, _, _attr = _n.rpartition(".")
    _pm = sys.modules.get(_parent) or _hidden.get(_parent)
    if not _parent or _pm is None or _pm.__dict__.get(_attr) is not _m:
        continue
    if _parent in CLOSURES.get(_parent.partition(".")[0], ()) and _n in _with.get(_parent, ()):
        continue
    del _pm.__dict__[_attr]
    _unbound[_n] = _pm, _attr
del _with


# What the imports registered in other modules (atexit functions, copyreg
# reducers, warning filters, import hooks; formats in PIL.Image's tables)
# is there in a cold run only once the module that registered it is
# imported: so it is taken back here, and made again when that module comes
# back, in the order the template's imports made it.
# _redone: module -> (rank, [redo, ...]).
_redone = {}


def _made_by(module, redo):
    _redone.setdefault(_names[module], (len(_redone), []))[1].append(redo)


for _m, _undo, _again in REGISTERED:
    if _m in _hidden and _undo():
        _made_by(_m, _again)
# An import hook a package installed in sys.meta_path (six's) is there once
# the package is imported, at the end.
for _f in list(sys.meta_path):
    _m = getattr(_f, "__module__", None)
    if _m in _hidden:
        sys.meta_path.remove(_f)
        _made_by(_m, functools.partial(sys.meta_path.append, _f))
# PIL.Image's tables of image formats, filled by its plugins: each entry
# belongs to the plugin that defines its reader or writer.
_pil = _hidden.get("PIL.Image")
if _pil is not None:
    def _owner(t, k, v):
        if t in ("ID", "MIME", "EXTENSION"):
            id = v if t == "EXTENSION" else k
            v = _pil.OPEN.get(id, (None,))[0] or _pil.SAVE.get(id) or _pil.SAVE_ALL.get(id)
        elif t == "OPEN":
            v = v[0]
        return getattr(v, "__module__", None)
    _taken = []
    for _t in ("ID", "OPEN", "SAVE", "SAVE_ALL", "MIME", "EXTENSION", "DECODERS", "ENCODERS"):
        _table = getattr(_pil, _t)
        for _k, _v in zip(_table, _table) if _t == "ID" else _table.items():
            _m = _owner(_t, _k, _v)
            if _m in _hidden:
                _taken.append((_table, _k))
                _made_by(_m, functools.partial(_table.append, _k) if _t == "ID"
                         else functools.partial(_table.__setitem__, _k, _v))
    for _table, _k in _taken:
        if isinstance(_table, list):
            _table.remove(_k)
        else:
            del _table[_k]


def _redo(back):
    for _, redos in sorted(_redone[n] for n in back if n in _redone):
        for redo in redos:
            redo()


def _bind(name):
    if name in _unbound:
        parent, attr = _unbound[name]
        setattr(parent, attr, sys.modules[name])


def _flush_std():
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass


def _finish(code, runner_globals, exit=os._exit):
    """What python3 does at its end, without tearing down the template's
    modules: wait for the script's threads, run its atexit functions,
    flush, finalize what the script made, exit with SystemExit's status."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code & 0xff
    else:
        print(code, file=sys.stderr)
        status = 1
    if "threading" in sys.modules:
        sys.modules["threading"]._shutdown()
    import atexit
    atexit._run_exitfuncs()
    _flush_std()
    # As python3's teardown: every file the script wrote and never closed is
    # flushed (the collector below may close a file's raw stream before its
    # buffer), __main__ leaves sys.modules, and a collection finalizes what
    # only the script held, its globals still in place (a __del__ runs). The
    # template's objects are frozen, out of the collector's sight: what it
    # lists is the run's own.
    for o in _gc.get_objects():
        if isinstance(o, _WRITERS):
            try:
                o.flush()
            except Exception:
                pass
    runner_globals.clear()
    sys.modules.pop("__main__", None)
    _gc.collect()
    _flush_std()
    exit(status)


# Every object there is goes out of the collector's sight, so that no
# collection in a run touches (and copies) the pages of the template's.
_gc = _hidden.get("gc") or sys.modules["gc"]
_builtins = sys.modules["builtins"]
# The runner is the same in every run: compiled once, here.
_runner = (RUNNER, compile(RUNNER, "<string>", "exec"))
_gc.collect()
_gc.freeze()


def sample_run(ARGV):
    """What every run does with the template's memory, as far as a child of
    the template can do it: run() up to python3's end, its runner given a
    print(1) on fd 3 (python.c). pages.c learns from it which pages every
    run writes."""
    run(["PATH=/usr/bin:/bin", "HOME=/work", "LANG=C.UTF-8"], ARGV, exit=lambda status: None)


def run(ENV, ARGV, exit=os._exit):
    # The run's environment, not the template's.
    os.environ.clear()
    for kv in ENV:
        k, _, v = kv.partition("=")
        os.environ[k] = v
    # Random streams of its own. random reseeds itself in a forked child (an
    # os.register_at_fork hook, run by PyOS_AfterFork_Child); numpy's legacy
    # global RandomState and tempfile's name sequence do not.
    # numpy's state is set as its import seeds it (the first word 0x80000000,
    # the other 623 random, no Gaussian cached), from os.urandom rather than
    # through a SeedSequence: 93 pages copied instead of 155.
    numpy = _hidden.get("numpy") or sys.modules.get("numpy")
    numpy_random = _hidden.get("numpy.random") or sys.modules.get("numpy.random")
    if numpy and numpy_random:
        key = numpy.frombuffer(os.urandom(2496), numpy.uint32).copy()
        key[0] = 0x80000000
        numpy_random.set_state(("MT19937", key, 624, 0, 0.0))
    tempfile = _hidden.get("tempfile") or sys.modules.get("tempfile")
    if tempfile:
        tempfile._name_sequence = None
    # threading's main thread keeps the native id it was made with, ours
    # (3.11's fork hook gives it its new ident, not that): a cold run's is
    # its own.
    threading = _hidden.get("threading") or sys.modules.get("threading")
    if threading and hasattr(threading._main_thread, "_native_id"):
        threading._main_thread._native_id = threading.get_native_id()
    sys.argv[:] = ["-c"]
    sys.orig_argv[:] = ARGV
    sys.path.insert(0, "")
    code = _runner[1] if ARGV[3] == _runner[0] else compile(ARGV[3], "<string>", "exec")
    # The builtins module, as a cold run's __main__ has it (ours, imported
    # as a module, has its dict).
    runner_globals = {"__name__": "__main__", "__builtins__": _builtins, "WARM": True}
    status = 0
    try:
        exec(code, runner_globals)
    except SystemExit as e:
        status = e.code
    _finish(status, runner_globals, exit)
