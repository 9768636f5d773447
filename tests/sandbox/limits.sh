#!/bin/bash
# limits.sh — scripts that try to exhaust the machine or outlive their run:
# timeouts, fork bombs, full disks, memory hogs, daemons.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/sandbox/lib.sh"

# A uid of this file's own: its process counts are not shared with other tests.
SB_USER=61234
no_sandbox_processes() {	# no process of the sandbox user is left on the host
	for _ in $(seq 20); do [ "$(sandbox_processes_left)" = 0 ] && return 0; sleep 0.1; done
	return 1
}

# --- timeouts ----------------------------------------------------------------
sb --timeout 1 <<'EOF_PY'
import signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("spinning", flush=True)
while True:
    pass
EOF_PY
is "$RC" 124 "a busy loop that ignores SIGTERM ends at the timeout with 124"
is "$(report timed_out)" true "the report says timed_out"
is "$(report exit_code)" 124 "the report's exit_code is 124"
like "$OUT" "spinning" "output written before the timeout is kept"
d=$(report duration_ms)
[ "$d" -ge 1000 ] && [ "$d" -lt 3000 ]
ok $? "the run lasted about the timeout ($d ms)"

sb --timeout 0.5 <<'EOF_PY'
import time
time.sleep(60)
EOF_PY
is "$RC" 124 "a sleeping script ends at a fractional timeout"

# CPU time counts every thread: threads on every CPU spend it faster than
# the clock, and RLIMIT_CPU, the backstop behind the timeout, must not end
# them first (with a SIGKILL that reads as 137, the code of memory).
sb --timeout 5 <<'EOF_PY'
import hashlib, os, resource, threading, time
print("limit", resource.getrlimit(resource.RLIMIT_CPU)[0])
end = time.monotonic() + 4
def spin():
    while time.monotonic() < end:
        hashlib.sha256(bytes(1 << 20)).digest()    # without the GIL
threads = [threading.Thread(target=spin) for _ in range(os.cpu_count() + 1)]
for t in threads: t.start()
for t in threads: t.join()
print("done, CPU %.1f s" % sum(os.times()[:2]))
EOF_PY
cpu_limit=$(sed -n 's/^limit //p' <<<"$OUT")
is "$cpu_limit" $(( 7 * $(nproc) )) "RLIMIT_CPU is the timeout and 2 s for each CPU the run may use"
is "$RC" 0 "threads busy on every CPU for 4 s finish within a 5 s timeout"
like "$OUT" "done, CPU" "and are not killed for CPU time"

# --- processes -----------------------------------------------------------------
sb --timeout 20 --pids 32 <<'EOF_PY'
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError as e:
    print("fork refused after", n, "children:", e.strerror)
EOF_PY
like "$OUT" "fork refused after [0-9]+ children" "a fork bomb is stopped at the process limit"
n=$(printf '%s' "$OUT" | grep -o 'after [0-9]*' | grep -o '[0-9]*')
[ -n "$n" ] && [ "$n" -le 32 ]
ok $? "no more than --pids processes ($n)"
is "$RC" 0 "the run ends when the script does, not at the timeout"
no_sandbox_processes
ok $? "none of the bomb's processes is left on the host"

sb --timeout 3 --pids 16 <<'EOF_PY'
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
EOF_PY
is "$RC" 124 "a relentless fork bomb is contained until the timeout"
no_sandbox_processes
ok $? "and every process of it is gone afterwards"

sb --timeout 20 <<'EOF_PY'
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["sleep", "987.654"])
    os._exit(0)
os.wait()
print("parent exits, daemon left behind")
EOF_PY
like "$OUT" "daemon left behind" "a script can daemonise a grandchild"
! pgrep -f 'sleep 987.654' >/dev/null
ok $? "the daemonised grandchild is dead when the run ends"
is "$RC" 0 "the run ends with the script's main process"

# --- disk --------------------------------------------------------------------
before=$(df --output=avail -k /tmp | tail -1)
sb --tmp-size 8 --work-size 8 <<'EOF_PY'
import errno
for path in ["/tmp/fill", "/work/fill"]:
    n = 0
    try:
        with open(path, "wb") as f:
            while True:
                f.write(b"\0" * 65536); f.flush(); n += 65536
    except OSError as e:
        print(path, errno.errorcode[e.errno], "after", n // 1048576, "MiB")
n = 0
try:
    for i in range(100000):
        open("/tmp/f%d" % i, "w").close(); n += 1
except OSError as e:
    print("inodes", errno.errorcode[e.errno], "after", n)
EOF_PY
like "$OUT" "/tmp/fill ENOSPC after [0-8] MiB" "filling /tmp stops with ENOSPC at --tmp-size"
like "$OUT" "/work/fill ENOSPC after [0-8] MiB" "filling the work dir stops with ENOSPC at --work-size"
like "$OUT" "inodes ENOSPC after" "creating files without end stops at the inode cap"
after=$(df --output=avail -k /tmp | tail -1)
[ $((before - after)) -lt 4096 ]
ok $? "the host's disk is untouched (free before ${before}k, after ${after}k)"

sb --fsize 2 <<'EOF_PY'
import errno
try:
    with open("/tmp/big", "wb") as f:
        f.write(b"\0" * (3 << 20))
except OSError as e:
    print("big file", errno.errorcode[e.errno])
EOF_PY
like "$OUT" "big file EFBIG" "a file larger than --fsize fails with EFBIG"

# --- memory --------------------------------------------------------------------
sb --memory 128 <<'EOF_PY'
x = bytearray(512 << 20)
print("allocated 512 MiB")
EOF_PY
unlike "$OUT" "allocated" "a memory hog is stopped at the limit"
isnt_zero=$([ "$RC" -ne 0 ] && echo yes)
is "$isnt_zero" yes "and its run fails (exit $RC)"
if dir=$(cgroup_v2_dir); then
	sb --memory 64 --cgroup "$dir" <<'EOF_PY'
x = bytearray(512 << 20)
for i in range(0, len(x), 4096):
    x[i] = 1
EOF_PY
	is "$(report limits.memory)" cgroup2 "with a delegated cgroup the limit is cgroup v2"
	is "$(report oom_killed)" true "the report says oom_killed"
	is "$RC" 137 "an OOM kill exits 137"
else
	is "$(report limits.memory)" rlimit "without a delegated cgroup v2 the report says the limit is an rlimit"
	like "$ERR" "MemoryError" "the rlimit surfaces as MemoryError"
	skip "no delegated cgroup v2 here (tested in tests/system)" "OOM kill under cgroup v2 reported as oom_killed and 137"
fi
# Under RLIMIT_AS, a warm run's limit comes on top of the template's address
# space: one that unmapped what of it holds no data (the reserve of malloc's
# arenas) had that room for its own memory as well, 63 MB more than its
# limit here. Its data is bounded too now, on top of the template's.
sb --memory 300 <<'EOF_PY'
import ctypes
libc = ctypes.CDLL(None)
libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
freed = 0
for line in open("/proc/self/maps").read().splitlines():
    f = line.split()
    if f[1] == "---p" and len(f) == 5:
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        if libc.munmap(lo, hi - lo) == 0:
            freed += hi - lo
held = []
try:
    while True:
        held.append(bytearray(1 << 20))
except MemoryError:
    pass
print("unmapped MB", freed >> 20, "allocated MB", len(held))
EOF_PY
allocated=$(sed -n 's/.*allocated MB \([0-9]*\)$/\1/p' <<<"$OUT")
ok $([ "${allocated:-999}" -le 312 ]; echo $?) \
	"without a cgroup, unmapping what holds no data frees no room past --memory 300 ($OUT)"
# SysV shared memory, message queues and semaphores hold memory outside
# RLIMIT_AS (a detached segment stays until the run ends): without a cgroup
# to charge them to, a run has none; with one, they work.
sysv_probe='import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
held = 0
for _ in range(16):
    if libc.shmget(0, ctypes.c_size_t(64 << 20), 0o1600) < 0:   # IPC_PRIVATE, IPC_CREAT|0600
        print("shmget", errno.errorcode[ctypes.get_errno()])
        break
    held += 64
print("shm held MB", held)
print("msgget", "ok" if libc.msgget(0, 0o1600) >= 0 else errno.errorcode[ctypes.get_errno()])
print("semget", "ok" if libc.semget(0, 1, 0o1600) >= 0 else errno.errorcode[ctypes.get_errno()])
import os
try:
    fd = os.memfd_create("held")
    os.write(fd, bytes(1 << 20))
    print("memfd ok")
except OSError as e:
    print("memfd", errno.errorcode[e.errno])
r, w = os.pipe()
page = ctypes.create_string_buffer(4096)
iov = (ctypes.c_void_p * 2)(ctypes.cast(page, ctypes.c_void_p), 4096)
print("vmsplice", "ok" if libc.vmsplice(w, iov, 1, 0) == 4096 else errno.errorcode[ctypes.get_errno()])'
sb --memory 64 <<<"$sysv_probe"
is "$(report limits.memory)" rlimit "(a run without --cgroup has rlimits)"
like "$OUT" "shm held MB 0" "without a cgroup, no SysV shared memory segment can be made (it would hold memory past RLIMIT_AS)"
like "$OUT" "msgget EPERM" "nor a SysV message queue"
like "$OUT" "semget EPERM" "nor a SysV semaphore set"
like "$OUT" "memfd EPERM" "nor a memfd (written to, it holds memory past RLIMIT_AS)"
like "$OUT" "vmsplice EPERM" "nor a vmsplice (a pipe would keep whole huge pages the run unmapped)"
if dir=$(cgroup_v2_dir); then
	sb --memory 64 --cgroup "$dir" <<<"$sysv_probe"
	is "$OUT" "shm held MB 1024
msgget ok
semget ok
memfd ok
vmsplice ok" "with a cgroup, which charges them to the run, SysV IPC, memfds and vmsplice work"
else
	skip "no delegated cgroup v2 here (tested in tests/system)" "with a cgroup, SysV IPC, memfds and vmsplice work"
fi

# --- exit statuses ------------------------------------------------------------------
sb <<'EOF_PY'
import sys; sys.exit(3)
EOF_PY
is "$RC" 3 "the command's exit code passes through"
sb <<'EOF_PY'
import os, signal; os.kill(os.getpid(), signal.SIGSEGV)
EOF_PY
is "$RC" 139 "death by signal N exits 128+N"
is "$(report signal)" 11 "the report names the signal"
SB_STDIN=<(printf 'from stdin\n') sb <<'EOF_PY'
import sys; print(sys.stdin.read().upper())
EOF_PY
like "$OUT" "FROM STDIN" "standard input passes through"

no_sandbox_processes
ok $? "no process of the sandbox user is left after the whole file"
done_testing
