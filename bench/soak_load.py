#!/usr/bin/python3
"""bench/soak_load.py BASE-URL — the load of bench/soak: CLIENTS threads, each
looping over a mix of what users send, for DURATION seconds. Checks every
answer and prints one JSON summary on stdout:
  {"requests": N, "by_status": {...}, "workloads": {name: {"n", "p50_ms",
   "p99_ms", "statuses"}}, "failures": [...], "logged": N}
"logged" counts the requests that reach coderunner-fcgi (all of them: none
is over nginx's own limits), so the service's log must hold that many lines.

A failure: no answer within 120 s, a 502 or 504, a 503 without Retry-After,
a body that is not the JSON the endpoint promises, or an answer that is not
the workload's (a print that does not print, a fork that fails while its run
is within its own limits, an out-of-memory run that is not 137...).
"""
import base64
import collections
import json
import os
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.request

BASE = sys.argv[1]
CLIENTS = int(os.environ.get("CLIENTS", "12"))
DURATION = float(os.environ.get("DURATION", "600"))
PACKAGES = os.environ.get("PACKAGES", "")  # a dependency the index has: the packages path too
# cgroup2: a run over its memory is killed (137); rlimit: its allocation fails.
LIMITS = os.environ.get("LIMITS", "cgroup2")

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "..", "tests", "scripts", "fork_twenty.py")) as f:
    FORKER = f.read()
BOMB = """
import os, time
while True:
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
    except OSError:
        time.sleep(0.05)
"""
PANDAS = """import pandas as pd, numpy as np
df = pd.DataFrame({"k": np.arange(1000) % 10, "v": np.random.rand(1000)})
print(len(df.groupby("k").v.mean().to_json()) > 10)"""
CHART = """import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.plot(range(100), [x * x for x in range(100)])
fig.savefig("output/chart.png")"""
J = {"Content-Type": "application/json"}


def ok_run(expect_exit, stdout=None):
    def check(status, headers, j):
        if status != 200:
            return "status %s: %s" % (status, j.get("error"))
        if j.get("exit_code") != expect_exit:
            return "exit_code %r (stderr %r)" % (j.get("exit_code"), (j.get("stderr") or "")[-200:])
        if stdout is not None and not re.fullmatch(stdout, j.get("stdout", "")):
            return "stdout %r" % j.get("stdout")[:200]
        return None
    return check


def out_of_memory(status, headers, j):
    if LIMITS == "rlimit" and j.get("exit_code") == 1 and "MemoryError" in j.get("stderr", ""):
        return None
    return ok_run(137)(status, headers, j)


def refused(want):
    def check(status, headers, j):
        if status != want or not j.get("error") or j.get("exit_code") != -1:
            return "wanted a %d error, got %s %r" % (want, status, str(j)[:200])
        return None
    return check


def chart(status, headers, j):
    png = ((j.get("artifacts") or {}).get("chart.png") or {}).get("content", "")
    if status != 200 or j.get("exit_code") != 0 or not png.startswith("iVBORw0K"):
        return "no chart: %s %r" % (status, str(j)[:200])
    return None


def big_artifact(status, headers, j):
    art = (j.get("artifacts") or {}).get("big.bin") or {}
    if status != 200 or len(base64.b64decode(art.get("content", ""))) != 8 << 20:
        return "big.bin: %s %r" % (status, str(j)[:200])
    return None


def flood(status, headers, j):
    if status != 200 or not j.get("stdout_truncated") or len(j.get("stdout", "")) != 1 << 20:
        return "flood: %s truncated=%r len=%d" % (status, j.get("stdout_truncated"), len(j.get("stdout", "")))
    return None


def pyrunner(status, headers, j):
    if status != 200 or j.get("status") != "success" or j.get("stdout") != "3\n":
        return "/run: %s %r" % (status, str(j)[:200])
    return None


def execute(status, headers, j):
    if status != 200 or j.get("result") != 45:
        return "/execute: %s %r" % (status, str(j)[:200])
    return None


def mcp(status, headers, j):
    sc = ((j.get("result") or {}).get("structuredContent") or {})
    if status != 200 or sc.get("stdout") != "mcp\n":
        return "/mcp: %s %r" % (status, str(j)[:200])
    return None


def body(**fields):
    return json.dumps(fields).encode()


MIX = [
    ("print", "/api/run", body(script="print(6 * 7)"), J, ok_run(0, "42\n")),
    ("pandas", "/api/run", body(script=PANDAS), J, ok_run(0, "True\n")),
    ("chart", "/api/run", body(script=CHART), J, chart),
    ("fails", "/api/run", body(script="raise ValueError('no')"), J, ok_run(1)),
    ("timeout", "/api/run", body(script="import time; time.sleep(30)", timeout_s=1), J, ok_run(124)),
    ("oom", "/api/run", body(script="b = bytearray(512 << 20); b[::4096] = b'x' * len(b[::4096])", memory_mb=128),
     J, out_of_memory),
    ("fork bomb", "/api/run", body(script=BOMB, timeout_s=2), J, ok_run(124)),
    ("forks 20", "/api/run", body(script=FORKER, timeout_s=20), J, ok_run(0, r"\d+ 20 forked, 0 refused\n")),
    ("stdout flood", "/api/run", body(script="import sys\nfor _ in range(64): sys.stdout.write('x' * 65536)"),
     J, flood),
    ("big artifact", "/api/run", body(script="open('output/big.bin', 'wb').write(b'\\x00' * (8 << 20))"),
     J, big_artifact),
    ("raw mode", "/api/run?timeout_s=5", b"print('raw')", {"Content-Type": "text/plain"}, ok_run(0, "raw\n")),
    ("malformed", "/api/run", b'{"script": "print(1)"', J, refused(400)),
    ("bad entry", "/api/run", body(script="1", dependencies=["numpy; rm -rf /"]), J, refused(400)),
    ("oversized", "/api/run", body(script="#" * (300 << 10)), J, refused(413)),
    ("/run", "/run", body(code="print(1 + 2)"), J, pyrunner),
    ("/execute", "/execute", body(script="def main():\n    return sum(range(10))"), J, execute),
    ("/mcp", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                                 "params": {"name": "run_python", "arguments": {"script": "print('mcp')"}}}).encode(),
     dict(J, Accept="application/json, text/event-stream"), mcp),
]
if PACKAGES:
    MIX.append(("packages", "/api/run", body(script="import greet; print(greet.VERSION)", dependencies=[PACKAGES]),
                J, ok_run(0, r"\d+\.\d+\n")))

stats = collections.defaultdict(list)
statuses = collections.defaultdict(collections.Counter)
by_status = collections.Counter()
failures = []
lock = threading.Lock()


def send(path, data, headers):
    req = urllib.request.Request(BASE + path, data, headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def client(n, deadline):
    rnd = random.Random(n)
    while time.monotonic() < deadline:
        name, path, data, headers, check = MIX[rnd.randrange(len(MIX))]
        t = time.monotonic()
        why = None
        try:
            status, h, raw = send(path, data, headers)
            ms = (time.monotonic() - t) * 1000
            try:
                j = json.loads(raw)
            except ValueError:
                j, why = {}, "not JSON: %r" % raw[:200]
            if status in (502, 504):
                why = "a %d" % status
            elif status == 503:
                if not h.get("Retry-After"):
                    why = "a 503 without Retry-After"
            elif not why:
                why = check(status, h, j)
        except Exception as e:  # no answer, or a broken connection
            status, ms, why = "none", (time.monotonic() - t) * 1000, "%s: %s" % (type(e).__name__, e)
        with lock:
            by_status[str(status)] += 1
            statuses[name][str(status)] += 1
            if status != 503:
                stats[name].append(ms)
            if why:
                failures.append("%s: %s" % (name, why))


deadline = time.monotonic() + DURATION
threads = [threading.Thread(target=client, args=(n, deadline)) for n in range(CLIENTS)]
for t in threads:
    t.start()
for t in threads:
    t.join()


def pct(xs, q):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 1) if xs else None


total = sum(by_status.values())
print(json.dumps({
    "requests": total,
    "logged": total - by_status.get("none", 0),
    "by_status": dict(by_status),
    "workloads": {name: {"n": sum(statuses[name].values()), "p50_ms": pct(stats[name], 0.5),
                         "p99_ms": pct(stats[name], 0.99), "statuses": dict(statuses[name])}
                  for name, *_ in MIX},
    "failures": failures[:50],
    "n_failures": len(failures),
}))
