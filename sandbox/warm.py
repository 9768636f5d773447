# warm.py — makes a forked template interpreter (template.c) what a fresh
# `python3 -s -c RUNNER` would be, in the command's process of each warm run:
# the sandbox's limits, uid, empty capability sets and seccomp filter are
# already in force. Given in its own globals (never __main__'s):
#   ENV       the run's environment, "NAME=VALUE" strings
#   ARGV      the command line, [python3, -s, -c, RUNNER]
#   BASE      the modules a bare interpreter holds, which stay
#   CLOSURES  name -> the modules a cold `import name` brings in, for each
#             preloaded name and each top-level package they imported
# Then it runs RUNNER (the pre-started runner) as `python3 -s -c` would.
import os, sys

# The run's environment, not the template's.
os.environ.clear()
for _kv in ENV:
    _k, _, _v = _kv.partition("=")
    os.environ[_k] = _v

# Random streams of its own. random reseeds itself in a forked child (an
# os.register_at_fork hook, run by PyOS_AfterFork_Child); numpy's legacy
# global RandomState and tempfile's name sequence do not.
if "numpy.random" in sys.modules:
    sys.modules["numpy.random"].seed()
if "tempfile" in sys.modules:
    sys.modules["tempfile"]._name_sequence = None

# Every module the template imported beyond a bare interpreter's goes out of
# sys.modules, and comes back, with everything its own cold import would
# have brought in, when the script imports it: the same objects, so nothing
# is imported twice, and sys.modules holds only what the script imported.
_hidden = {_n: _m for _n, _m in sys.modules.items() if _n not in BASE}
for _n in _hidden:
    del sys.modules[_n]


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


_ModuleSpec = type(sys.__spec__)
sys.meta_path.insert(0, _Hidden)



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


sys.argv[:] = ["-c"]
sys.orig_argv[:] = ARGV
sys.path.insert(0, "")
try:
    exec(compile(ARGV[3], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
except SystemExit as e:
    _finish(e.code)
_finish(0)
