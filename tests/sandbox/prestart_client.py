"""A client of coderunner-sandbox --accept-fd, for the sandbox tests.

prestart_client.py SOCKET WORKDIR OUT [--timeout MS] [--memory MB]
    [--stdin FILE] [--magic N] [--hang-up-after S] [--] ARG...

Claims one pre-started sandbox on SOCKET with WORKDIR, the given stdin and
the NUL-joined ARGs for the command's fd 3 (sandbox/prestart.h), and writes
OUT.reply (the reply byte and how many fds came with it), OUT.report,
OUT.out, OUT.err and OUT.chan. With --hang-up-after it hangs up that many
seconds after the claim, without waiting for the report.
"""
import argparse, array, os, socket, struct, sys, time

p = argparse.ArgumentParser()
p.add_argument("socket")
p.add_argument("workdir")
p.add_argument("out")
p.add_argument("--timeout", type=int, default=10000)
p.add_argument("--memory", type=int, default=256)
p.add_argument("--stdin", default=None)
p.add_argument("--magic", type=lambda s: int(s, 0), default=0x31305243)
p.add_argument("--hang-up-after", type=float, default=None)
argv = sys.argv[1:]
rest = argv.index("--") if "--" in argv else len(argv)
a = p.parse_args(argv[:rest])
a.args = argv[rest + 1:]

stdin = open(a.stdin, "rb").read() if a.stdin else b""
args = "\0".join(a.args).encode()
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
# No sandbox ever taking the claim is a failure, not a hang of the suite.
c.settimeout(a.timeout / 1000 + 60)
c.connect(a.socket)
dfd = os.open(a.workdir, os.O_RDONLY | os.O_DIRECTORY)
header = struct.pack("5I", a.magic, a.timeout, a.memory, len(stdin), len(args))
try:
    c.sendmsg([header], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [dfd]))])
    c.sendall(stdin + args)
except OSError:
    pass  # a sandbox that failed may hang up unread: its reply says why
msg, anc, _, _ = c.recvmsg(1, socket.CMSG_SPACE(3 * 4))
fds = []
for level, kind, data in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds = list(array.array("i", data[: len(data) - len(data) % 4]))
open(a.out + ".reply", "w").write(f"{msg.decode()} {len(fds)}\n")
if a.hang_up_after is not None:
    time.sleep(a.hang_up_after)
    sys.exit(0)

report = b""
while True:
    try:
        b = c.recv(65536)
    except ConnectionResetError:
        b = b""
    if not b:
        break
    report += b
open(a.out + ".report", "wb").write(report)
for fd, name in zip(fds, ("out", "err", "chan")):
    data = b""
    os.set_blocking(fd, False)
    try:
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            data += b
    except BlockingIOError:
        pass
    open(a.out + "." + name, "wb").write(data)
