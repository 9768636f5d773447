# The runner of POST /run, run inside the sandbox as
# `python3 -s -c <this> main.py`. It runs main.py as __main__, as
# `python3 main.py` would, and when an exception ends it prints the usual
# traceback (without this runner's frame) and writes on fd 4, a channel of its
# own, which exception it was and on which line of the script:
#   {"exception": "NameError", "line": 1, "memory": false}
# ("memory": a MemoryError, or a subclass such as numpy's), so the
# service never has to guess that from stderr, which the script owns.
import os, sys

path = os.path.abspath(sys.argv[1])
sys.argv[:] = [path]
# -c put "" (the cwd) first on sys.path; `python3 main.py` puts its directory.
sys.path[0] = os.path.dirname(path)
module = type(sys)("__main__")
module.__file__ = path
module.__builtins__ = __builtins__
# Replacing the runner's own __main__ lets pickle and multiprocessing find
# what the script defines, as they would under `python3 main.py`.
sys.modules["__main__"] = module
try:
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    exec(code, module.__dict__)
except SystemExit:
    raise
except BaseException as e:
    import json, traceback
    line = e.lineno if isinstance(e, SyntaxError) and e.filename == path else None
    for frame in traceback.extract_tb(e.__traceback__):
        if frame.filename == path:
            line = frame.lineno
    os.write(4, json.dumps({"exception": type(e).__name__, "line": line,
                            "memory": isinstance(e, MemoryError)}).encode())
    # The traceback as Python prints it, less the runner's own frame.
    tb = e.__traceback__.tb_next if e.__traceback__ else None
    traceback.print_exception(type(e), e, tb)
    raise SystemExit(1)
