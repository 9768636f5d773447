# The runner of POST /execute, run inside the sandbox as
# `python3 -s -c <this> main.py`. It imports main.py as the module "main"
# (so an `if __name__ == "__main__":` block does not run), calls main() with
# no arguments and answers on fd 4, a channel of its own, so nothing the
# script prints can pass for the result. The answer is one JSON line, and
# after it, when main() returned, the result as JSON:
#   {"ok": true}\n<result>
#   {"ok": false, "error": "...", "exception": "ValueError", "memory": false}
# It exits 0 when main() returned and 1 when it did not, so the service
# counts the run the way the client sees it.
import os, sys


def flush():
    # What the script printed is the client's "stdout", even on error; a
    # script that closed its stdout loses only that.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def send(data):
    while data:
        data = data[os.write(4, data):]


def finish(error, exc=None):
    import json
    answer = {"ok": False, "error": error}
    if exc is not None:
        answer["exception"] = type(exc).__name__
        answer["memory"] = isinstance(exc, MemoryError)
    flush()
    send(json.dumps(answer).encode())
    os._exit(1)


def describe(what, exc):
    """What went wrong and on which line of the script: the last line
    the traceback passes through, as in "main() raised ValueError: boom
    (line 3)"."""
    import traceback
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            line = frame.lineno
    text = str(exc)
    # At most 400 bytes of it, cut after a whole character: the line after
    # it must fit in the answer's error (600 bytes).
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > 400:
        text = data[:400].decode("utf-8", "ignore") + "..."
    return "%s %s%s%s" % (what, type(exc).__name__[:100], ": " + text if text else "",
                           " (line %d)" % line if line else "")


def arguments_needed(f):
    """Why main() cannot be called without arguments, or None if it can."""
    code = getattr(f, "__code__", None)
    if type(f).__name__ != "function" or code is None:
        import inspect
        try:
            inspect.signature(f).bind()
        except TypeError as e:
            return "calling it fails: %s" % e
        except ValueError:
            pass    # nothing to inspect: let the call decide
        return None
    names = code.co_varnames
    positional = names[:code.co_argcount]
    required = list(positional[:len(positional) - len(f.__defaults__ or ())])
    keyword = names[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]
    required += [n for n in keyword if n not in (f.__kwdefaults__ or {})]
    return "it requires %s" % ", ".join(required) if required else None


path = os.path.abspath(sys.argv[1])
sys.argv[:] = [path]
sys.path[0] = os.path.dirname(path)
try:
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
except SyntaxError as e:
    finish("%s: %s (line %s)" % (type(e).__name__, e.msg, e.lineno), e)
except ValueError as e:    # a NUL byte, or an undecodable source
    finish("the script cannot be compiled: %s" % e, e)

module = type(sys)("main")
module.__file__ = path
module.__builtins__ = __builtins__
sys.modules["main"] = module
try:
    exec(code, module.__dict__)
except SystemExit as e:
    finish("the script called sys.exit(%r) before main() was called" % (e.code,), e)
except BaseException as e:
    finish(describe("the script raised", e) + " before main() was called", e)

main = module.__dict__.get("main")
if main is None:
    finish("Script must contain a 'main()' function")
if not callable(main):
    finish("main is not callable: the script makes it a %s" % type(main).__name__)
needed = arguments_needed(main)
if needed:
    finish("main() must be callable without arguments, but %s" % needed)

try:
    result = main()
except SystemExit as e:
    finish("main() called sys.exit(%r) instead of returning" % (e.code,), e)
except BaseException as e:
    finish(describe("main() raised", e), e)

import json
try:
    encoded = json.dumps(result, allow_nan=False)
except ValueError as e:
    finish("main() returned a value that contains itself, which has no JSON form"
           if str(e).startswith("Circular reference") else
           "main() returned a value that is not valid JSON: %s "
           "(NaN and Infinity have no JSON form)" % e, e)
except (TypeError, RecursionError) as e:
    finish("main() returned a value that is not JSON-serialisable: %s" % e, e)
# Keys become strings: {1: "a", "1": "b"} would be an object with "1"
# twice, which parsers read as one key or refuse. Read back to find such a
# pair (the result as a whole once more, within the run's memory).


def unique(pairs):
    seen = set()
    for key, _ in pairs:
        if key in seen:
            finish("main() returned a dict with two keys that are both %s in JSON (as 1 and '1' "
                   "are): keys become strings" % json.dumps(key)[:200])
        seen.add(key)


if not isinstance(result, (str, int, float, type(None))):
    json.loads(encoded, object_pairs_hook=unique)
# A lone surrogate (as bytes decoded with surrogateescape hold) is no
# character: json.dumps writes it as an escape, which strict parsers refuse,
# and the service passes no such text on. Looked for only when the text has
# such an escape at all.
if "\\ud" in encoded:
    try:
        json.dumps(result, ensure_ascii=False).encode()
    except UnicodeEncodeError as e:
        finish("main() returned a string with a lone surrogate (U+%04X), which is no Unicode "
               "character and has no JSON form" % ord(e.object[e.start]), e)
flush()
send(b'{"ok": true}\n' + encoded.encode())
os._exit(0)
