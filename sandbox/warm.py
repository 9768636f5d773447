# warm.py — makes the template's interpreter (template.c) ready to serve
# warm runs, and each forked copy of it what a fresh `python3 -s -c RUNNER`
# would be. It runs once in the template, after the preload imports, with in
# its globals:
#   BASE      the modules a bare interpreter holds, which stay
#   CLOSURES  name -> the modules a cold `import name` brings in, for each
#             preloaded name, each top-level package they imported and each
#             module the warm-up imported on its own
# and leaves run(ENV, ARGV), which template.c calls in the command's process
# of each warm run, once the sandbox's limits, uid, empty capability sets and
# seccomp filter are in force:
#   ENV       the run's environment, "NAME=VALUE" strings
#   ARGV      the command line, [python3, -s, -c, RUNNER]
import os, sys

# The modules the template imported beyond a bare interpreter's, which the
# template takes out of sys.modules (below) and a run brings back, with everything
# its own cold import would have brought in, when the script imports it: the
# same objects, so nothing is imported twice, and sys.modules holds only
# what the script imported.
_hidden = {}
_ModuleSpec = type(sys.__spec__)


class _Restored:
    """The loader of a module that comes back: its own module, as it was."""

    def __init__(self, module):
        self.module, self.spec = module, module.__spec__

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        module.__spec__ = self.spec


class _Hidden:
    """The first finder: puts a hidden module (and its closure) back."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name not in _hidden:
            return None
        # The module itself the import system puts back, from our loader:
        # found in sys.modules already, it would be imported again.
        module = _hidden.pop(name)
        for n in CLOSURES.get(name, ()):
            if n in _hidden:
                sys.modules[n] = _hidden.pop(n)
        return _ModuleSpec(name, _Restored(module))

    @staticmethod
    def invalidate_caches():
        pass


sys.meta_path.insert(0, _Hidden)

# Hidden here, once, in the template: a run that hid them itself would
# touch every module object and copy the pages they are on (about 1.5 ms
# of each run's CPU).
_hidden.update((n, m) for n, m in sys.modules.items() if n not in BASE)
for _n in _hidden:
    del sys.modules[_n]


def _finish(code):
    """What python3 does at its end, without tearing down the template's
    modules: wait for the script's threads, run its atexit functions,
    flush, exit with SystemExit's status."""
    if "threading" in sys.modules:
        sys.modules["threading"]._shutdown()
    import atexit
    atexit._run_exitfuncs()
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code & 0xff
    else:
        print(code, file=sys.stderr)
        status = 1
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass
    os._exit(status)


# Every object there is goes out of the collector's sight, so that no
# collection in a run touches (and copies) the pages of the template's.
_gc = _hidden.get("gc") or sys.modules["gc"]
_gc.collect()
_gc.freeze()


def run(ENV, ARGV):
    # The run's environment, not the template's.
    os.environ.clear()
    for kv in ENV:
        k, _, v = kv.partition("=")
        os.environ[k] = v
    # Random streams of its own. random reseeds itself in a forked child (an
    # os.register_at_fork hook, run by PyOS_AfterFork_Child); numpy's legacy
    # global RandomState and tempfile's name sequence do not.
    numpy_random = _hidden.get("numpy.random") or sys.modules.get("numpy.random")
    if numpy_random:
        numpy_random.seed()
    tempfile = _hidden.get("tempfile") or sys.modules.get("tempfile")
    if tempfile:
        tempfile._name_sequence = None
    sys.argv[:] = ["-c"]
    sys.orig_argv[:] = ARGV
    sys.path.insert(0, "")
    try:
        exec(compile(ARGV[3], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    except SystemExit as e:
        _finish(e.code)
    _finish(0)
