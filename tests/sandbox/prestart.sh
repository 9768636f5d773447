#!/bin/bash
# prestart.sh — coderunner-sandbox --accept-fd: a sandbox built, with its
# interpreter started (fcgi/running/runners/prestart.py), before there is a run. It
# must be as locked down while it waits as during the run, give each run what
# `python3 -s FILE` in a fresh sandbox gives it, take its limits from the
# claim, and never outlive a client that gave up.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/sandbox/lib.sh"

# The sandbox under a name of this file's own, so that the count of its
# processes at the end leaves out those of test files running beside it.
ln -s "$SB" "$tmp_root/coderunner-sandbox"
SB=$tmp_root/coderunner-sandbox
STUB=$(cat "$top_srcdir/fcgi/running/runners/prestart.py")
CLIENT="$top_srcdir/tests/sandbox/prestart_client.py"
sock=$tmp_root/pool.sock

# launch N [OPTION]...: N pre-started sandboxes accepting on $sock; their
# pids are in $tmp_root/pids, their exit statuses go to $tmp_root/status.PID.
cat >"$tmp_root/launch.py" <<'EOF_PY'
import os, socket, subprocess, sys
path, n, pids, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(16)
os.dup2(s.fileno(), 3)
procs = [subprocess.Popen(argv, pass_fds=[3], stdin=subprocess.DEVNULL) for _ in range(n)]
open(pids, "w").write("".join(f"{p.pid}\n" for p in procs))
for p in procs:
    open(f"{pids}.status.{p.pid}", "w").write(f"{p.wait()}\n")
EOF_PY
launch() {
	local n=$1; shift
	rm -f "$tmp_root"/pids*
	"$PY" "$tmp_root/launch.py" "$sock" "$n" "$tmp_root/pids" "$SB" --accept-fd 3 \
		--user nobody "$@" -- "$PY" -s -c "$STUB" &
	launcher=$!
	for _ in $(seq 50); do [ -S "$sock" ] && [ -s "$tmp_root/pids" ] && break; sleep 0.1; done
}
# waiting_interpreter SANDBOX-PID: the interpreter under its init, once started
waiting_interpreter() {
	local init
	init=$(pgrep -P "$1" | head -1)
	[ -n "$init" ] && pgrep -P "$init" | head -1
}
stage() {	# stage: a fresh work dir in $WORK with main.py from stdin
	WORK=$(mktemp -d "$tmp_root/work.XXXXXX")
	mkdir -p "$WORK/input" "$WORK/output"
	chmod 0755 "$WORK"
	cat >"$WORK/main.py"
}
# claim [CLIENT-OPTION]... [-- ARG...]: run $WORK in a pre-started sandbox;
# the args default to those of /api/run (no RLIMIT_AS of its own to set,
# fd 4 closed, no package set, main.py)
claim() {
	local args=("$@")
	[[ " ${args[*]} " == *" -- "* ]] || args+=(-- 256 0 "" main.py)
	"$PY" "$CLIENT" "$sock" "$WORK" "$WORK" "${args[@]}"
	REPLY_=$(cat "$WORK.reply" 2>/dev/null)
	REPORT=$(cat "$WORK.report" 2>/dev/null)
	OUT=$(cat "$WORK.out" 2>/dev/null)
	ERR=$(cat "$WORK.err" 2>/dev/null)
}
# cold [SANDBOX-OPTION]...: the same $WORK run the ordinary way
cold() {
	"$SB" --workdir "$WORK" --report-fd 3 --user nobody --memory 256 "$@" -- "$PY" -s main.py \
		<"${SB_STDIN:-/dev/null}" >"$WORK.cold.out" 2>"$WORK.cold.err" 3>"$WORK.cold.report"
	COLD_OUT=$(cat "$WORK.cold.out")
	COLD_ERR=$(cat "$WORK.cold.err")
	REPORT_COLD=$(cat "$WORK.cold.report")
}
report_of() { REPORT=$1 report "$2"; }
stopped() {	# stopped PID: it is gone within 5 s
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}

# ---- while it waits, the interpreter is already confined
launch 1
sb_pid=$(head -1 "$tmp_root/pids")
for _ in $(seq 50); do py=$(waiting_interpreter "$sb_pid"); [ -n "$py" ] && break; sleep 0.1; done
status=$(cat "/proc/$py/status" 2>/dev/null)
like "$status" $'Uid:\t65534\t65534\t65534\t65534' "the waiting interpreter runs as nobody"
like "$status" $'CapEff:\t0000000000000000' "without capabilities"
like "$status" $'NoNewPrivs:\t1' "with no_new_privs"
like "$status" $'Seccomp:\t2' "under the seccomp filter"
isnt_host_ns=$([ "$(readlink "/proc/$py/ns/net")" != "$(readlink /proc/self/ns/net)" ] &&
	[ "$(readlink "/proc/$py/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] && echo yes)
is "$isnt_host_ns" yes "in the sandbox's own network and mount namespaces"

# ---- a run sees what `python3 -s main.py` in a fresh sandbox sees
cat >"$tmp_root/probe.py" <<'EOF_PY'
import os, sys
m = sys.modules["__main__"]
print(sys.argv, sys.orig_argv[1:], sys.path[0], __file__, __name__, __spec__, __cached__, __package__)
print(type(__loader__).__name__, __loader__.name, __loader__.path, sorted(vars(m)))
print(sorted(sys.modules))
print(sorted(os.listdir("/proc/self/fd")), os.getcwd(), os.getuid(), os.getpid(), sys.flags)
print(sorted(os.environ.items()), open("/proc/1/cmdline", "rb").read().rstrip(b"\0"))
print(sys.stdin.seekable(), repr(sys.stdin.read()), sys.stdin.seek(0), repr(sys.stdin.read(5)))
print(sorted(os.listdir(".")), sorted(os.listdir("input")), open("input/data.txt").read())
import resource
print(resource.getrlimit(resource.RLIMIT_AS), resource.getrlimit(resource.RLIMIT_NOFILE))
open("output/result.txt", "w").write("from the run")
def fail():
    raise ValueError("boom")
fail()
EOF_PY
stage <"$tmp_root/probe.py"
echo "data" >"$WORK/input/data.txt"
printf 'line one\nline two\n' >"$WORK.stdin"
claim --stdin "$WORK.stdin"
is "$REPLY_" "R 3" "a claimed sandbox answers with the output's three read ends"
is "$(report exit_code)" 1 "an uncaught exception ends the run with 1"
is "$(cat "$WORK/output/result.txt" 2>&1)" "from the run" "./output comes back"
WARM_OUT=$OUT WARM_ERR=$ERR
like "$WARM_OUT" "^\['main.py'\] \['-s', 'main.py'\] /work /work/main.py __main__ None None None" \
	"(argv, sys.path[0], __file__ and __name__ are those of python3 -s main.py)"
rm -rf "$WORK/output" && mkdir "$WORK/output"
SB_STDIN=$WORK.stdin cold
is "$WARM_OUT" "$COLD_OUT" "stdout is the same as a cold run's: argv, __main__, modules, fds, environment, init's command line, stdin, limits"
is "$WARM_ERR" "$COLD_ERR" "stderr too: the traceback shows no frame of the pre-started interpreter"
like "$WARM_ERR" 'File "/work/main.py", line [0-9]+, in fail' "(the traceback names the script)"
is "$(report_of "$REPORT_COLD" exit_code)" 1 "(the cold run ended the same way)"
wait "$launcher"
is "$(cat "$tmp_root/pids.status.$sb_pid")" 1 "the sandbox ends with the run, with its exit status"

# Other ways of ending, each against a cold run.
check_same() {	# check_same NAME < SCRIPT: run SCRIPT both ways, compare
	stage
	launch 1
	claim
	cold
	is "$OUT|$ERR|$(report exit_code)" "$COLD_OUT|$COLD_ERR|$(report_of "$REPORT_COLD" exit_code)" "$1"
	wait "$launcher"
}
check_same "sys.exit(3): the same exit status" <<<'import sys; print("x"); sys.exit(3)'
check_same "a syntax error: the same message and status" <<<'x = (1,'
check_same "KeyboardInterrupt: the same status" <<<'raise KeyboardInterrupt'
check_same "a pickled class of __main__ round-trips" <<<'import pickle
class A: pass
print(type(pickle.loads(pickle.dumps(A()))).__name__)'

# An entry point in a package directory, importing a sibling module.
stage <<<'print("unused")'
mkdir -p "$WORK/pkg"
echo 'import helper, sys; print(helper.X, sys.path[0], sys.argv, __file__)' >"$WORK/pkg/app.py"
echo 'X = 7' >"$WORK/pkg/helper.py"
launch 1
claim -- 256 0 "" pkg/app.py
is "$OUT" "7 /work/pkg ['pkg/app.py'] /work/pkg/app.py" "an entry point in a subdirectory runs with its directory first on sys.path"
wait "$launcher"
launch 1
claim -- 256 0 "" missing.py
is "$(report exit_code)" 2 "a missing entry point: status 2, as python3 gives"
like "$ERR" "can't open file '/work/missing.py'" "with python3's message"
wait "$launcher"

# ---- the limits are the run's, from the claim on
stage <<<'import time; time.sleep(0.5); print("done")'
launch 1 --timeout 60
sleep 1.5
claim --timeout 1000
is "$OUT/$(report exit_code)" "done/0" "the wall clock starts at the claim, not when the sandbox was built"
is "$(report limits.timeout_ms)" 1000 "the report gives the run's own timeout"
wait "$launcher"
stage <<<'import time; time.sleep(30)'
launch 1 --timeout 60
claim --timeout 500
is "$(report exit_code)/$(report timed_out)" "124/true" "the run's timeout is enforced"
wait "$launcher"
stage <<<'b = bytearray(400 << 20); print("NOT LIMITED")'
launch 1 --memory 1024
claim --memory 256
unlike "$OUT" "NOT LIMITED" "the run's memory limit is enforced, below the sandbox's"
like "$ERR" "MemoryError" "(as MemoryError under rlimits)"
wait "$launcher"

# ---- bad claims are refused, and the sandbox does not stay behind
stage <<<'print("never")'
launch 1 --timeout 5 --memory 512
claim --timeout 6000
is "$REPLY_" "E 0" "a claim for more time than the sandbox allows gets no fds"
like "$(report error)" "out of bounds" "and a report saying why"
is "$(report exit_code)" -1 "with exit_code -1"
wait "$launcher"
ok $? "and the sandbox exits"
launch 1
claim --magic 0x1234
like "$(report error)" "out of bounds" "a claim in another protocol is refused"
wait "$launcher"

# ---- a client that hangs up ends the run
stage <<<'import time; time.sleep(60)'
launch 1
sb_pid=$(head -1 "$tmp_root/pids")
for _ in $(seq 50); do py=$(waiting_interpreter "$sb_pid"); [ -n "$py" ] && break; sleep 0.1; done
claim --hang-up-after 0.5
stopped "$sb_pid"
ok $? "a client that hangs up mid-run: the sandbox kills the run and exits"
ok $(kill -0 "$py" 2>/dev/null; [ $? -ne 0 ]; echo $?) "and the run's process is gone"
wait "$launcher"

# ---- stopping an idle sandbox
for sig in HUP TERM; do
	launch 1
	sb_pid=$(head -1 "$tmp_root/pids")
	for _ in $(seq 50); do [ -n "$(waiting_interpreter "$sb_pid")" ] && break; sleep 0.1; done
	py=$(waiting_interpreter "$sb_pid")
	kill -"$sig" "$sb_pid"
	wait "$launcher"
	is "$(cat "$tmp_root/pids.status.$sb_pid")" 0 "SIG$sig retires an idle sandbox: exit status 0"
	ok $(kill -0 "$py" 2>/dev/null; [ $? -ne 0 ]; echo $?) "and its waiting interpreter is gone"
done

# ---- a set-up that fails waits for a run to tell it why
stage <<<'print("never")'
launch 1 --cgroup /nonexistent-cgroup-dir
claim
is "$REPLY_" "E 0" "a sandbox whose set-up failed answers a claim without fds"
like "$(report error)" "nonexistent-cgroup-dir" "and its report says what failed"
wait "$launcher"

# ---- several sandboxes on one socket: each claim gets its own
launch 3
for i in 1 2 3; do
	stage <<EOF_PY
import os, time
open("/tmp/mine", "w").write("$i")
time.sleep(0.5)
print(open("/tmp/mine").read(), sorted(os.listdir("/tmp")))
EOF_PY
	claim &
	w[$i]=$WORK
done
wait
seen=0
for i in 1 2 3; do [ "$(cat "${w[$i]}.out")" = "$i ['mine']" ] && seen=$((seen + 1)); done
is "$seen" 3 "three claims at once run in three sandboxes, each with its own /tmp"
is "$(pgrep -f "^$SB " | wc -l)" 0 "no sandbox process is left"
done_testing
