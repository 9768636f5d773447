# The pre-started interpreter. coderunner-sandbox --accept-fd starts it as
# `python3 -s -c <this>` before there is a run, so that a run does not wait
# for the interpreter to start. It says it is ready on fd 3 and then reads
# its run there, up to end-of-file, as NUL-separated fields:
#   cpu_s       the RLIMIT_CPU to set, from the sandbox's init (init.c)
#   memory_mb   the RLIMIT_AS to set (0: a cgroup limits memory instead)
#   channel     1: keep fd 4, a runner's channel; 0: close it
#   packages    the run's package set to put on sys.path, as PYTHONPATH
#               would (packages.c), or nothing
#   and then the rest of a python3 -s command line: FILE ARG... or -c CODE ARG...
# which it runs as `python3 -s` would have run it from the start: a fresh
# __main__, the same sys.argv, sys.path[0], __file__ and __loader__, and an
# uncaught exception printed by sys.excepthook without this frame.
import os, sys, resource

os.write(3, b"r")
go = b""
while True:
    chunk = os.read(3, 65536)
    if not chunk:
        break
    go += chunk
os.close(3)
# resource was imported while /work was still empty, so no file of the run
# could stand in for it; the run imports its own if it wants one.
del sys.modules["resource"]
sys.path_importer_cache.pop("", None)

cpu_s, memory_mb, channel, packages, *argv = go.decode("utf-8", "surrogateescape").split("\0")
# Never above what the command was started with (CPUs added since then).
hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
cpu_s = int(cpu_s) if hard == resource.RLIM_INFINITY else min(int(cpu_s), hard)
resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
limit = int(memory_mb) << 20
if limit:
    # In a warm run (WARM, from the template's warm.py) the address space
    # and data the template left are not the run's: the limits come on top
    # of them, up to what the sandbox allows (privileges.c does the same,
    # and says why the data too).
    if globals().get("WARM"):
        with open("/proc/self/statm") as f:
            statm = f.read().split()
        data = limit + int(statm[5]) * resource.getpagesize()
        hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
        data = data if hard == resource.RLIM_INFINITY else min(data, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (data, data))
        limit += int(statm[0]) * resource.getpagesize()
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        limit = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
if channel != "1":
    os.close(4)
if packages:
    sys.path.insert(1, packages)
    os.environ["PYTHONPATH"] = packages
sys.orig_argv[2:] = argv
main = type(sys)("__main__")
main.__builtins__ = __builtins__
main.__annotations__ = {}
if argv[0] == "-c":
    filename, source = "<string>", argv[1]
    sys.argv[:] = ["-c"] + argv[2:]
else:
    filename = os.path.abspath(argv[0])
    sys.argv[:] = argv
    sys.path[0] = os.path.dirname(filename)
    main.__file__ = filename
    main.__cached__ = None
    main.__loader__ = sys.modules["_frozen_importlib_external"].SourceFileLoader(
        "__main__", filename)
    try:
        with open(filename, "rb") as f:
            source = f.read()
    except OSError as e:
        print(f"{sys.executable}: can't open file {filename!r}: [Errno {e.errno}] {e.strerror}",
              file=sys.stderr)
        raise SystemExit(2)
del go, chunk, cpu_s, hard, memory_mb, channel, packages, resource, limit
sys.modules["__main__"] = main
try:
    exec(compile(source, filename, "exec"), main.__dict__)
except SystemExit:
    raise
except BaseException as e:
    tb = e.__traceback__.tb_next
    sys.excepthook(type(e), e.with_traceback(tb), tb)
    raise SystemExit(130 if isinstance(e, KeyboardInterrupt) else 1)
