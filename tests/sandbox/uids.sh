#!/bin/bash
# uids.sh — every run a uid of its own (--uid-range): runs at once never share
# one, so one run's fork bomb cannot spend another's process limit, which
# RLIMIT_NPROC counts per uid wherever no cgroup separates runs.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/sandbox/lib.sh"

# A range of this file's own, far from any account.
FIRST=2000100000
LAST=2000100015
LOCK=$tmp_root/uids.lock
range() { echo --uid-range "$FIRST-$LAST" --uid-lock "$LOCK"; }

# --- the options --------------------------------------------------------------
for bad in "0-5" "9-3" "5" "a-b" "1-4294967295"; do
	out=$("$SB" --uid-range "$bad" --uid-lock "$LOCK" -- /bin/true 2>&1); rc=$?
	is "$rc" 125 "--uid-range $bad is refused"
done
out=$("$SB" --uid-range "$FIRST-$LAST" -- /bin/true 2>&1); rc=$?
is "$rc" 125 "--uid-range without --uid-lock is refused"
out=$("$SB" $(range) --user nobody -- /bin/true 2>&1); rc=$?
is "$rc" 125 "--uid-range with --user is refused"
like "$out" "exclude --user" "and the message says why"

# --- one uid per run ------------------------------------------------------------
# bg NAME [OPTION]... <<'PY': starts the script in a sandbox in the background;
# its stdout goes to $tmp_root/NAME.out, its report to NAME.report.
bg() {
	local name=$1; shift
	local w=$tmp_root/$name
	mkdir -p "$w/output"
	cat >"$w/main.py"
	"$SB" --workdir "$w" --report-fd 3 $(range) "$@" -- "$PY" main.py \
		</dev/null >"$w.out" 2>"$w.err" 3>"$w.report" &
}
for i in 1 2 3 4; do
	bg "id$i" <<'EOF_PY'
import os, time
print(os.getuid(), os.getgid(), os.getgroups())
time.sleep(1.5)
EOF_PY
done
wait
uids=$(cat "$tmp_root"/id[1-4].out | awk '{ print $1 }' | sort -u | wc -l)
is "$uids" 4 "four runs at once get four different uids"
in_range=1
while read -r uid gid groups; do
	[ "$uid" -ge $FIRST ] && [ "$uid" -le $LAST ] && [ "$gid" = "$uid" ] && [ "$groups" = "[]" ] || in_range=0
done < <(cat "$tmp_root"/id[1-4].out)
is "$in_range" 1 "each from the range, with the same number as its only group"

# A range of one: held while a run lasts, free again when it ends.
"$SB" --uid-range "$FIRST-$FIRST" --uid-lock "$tmp_root/one.lock" -- /bin/sleep 3 2>/dev/null &
holder=$!
sleep 1
rep=$("$SB" --uid-range "$FIRST-$FIRST" --uid-lock "$tmp_root/one.lock" --report-fd 3 -- /bin/true 3>&1 2>/dev/null); rc=$?
is "$rc" 125 "with every uid of the range held, a sandbox does not start"
like "$rep" 'every uid of --uid-range [0-9-]+ is taken' "and says so"
wait $holder
rep=$("$SB" --uid-range "$FIRST-$FIRST" --uid-lock "$tmp_root/one.lock" --report-fd 3 -- /bin/true 3>&1 2>/dev/null); rc=$?
is "$rc" 0 "once the run holding it has ended, its uid is free again"
wait

# --- a fork bomb beside three runs that fork -----------------------------------
# Without a cgroup the process limit is RLIMIT_NPROC, which counts per uid.
# The bomb holds every process it may have; each neighbour then forks 20
# children of its own, which it can only do with a uid of its own.
scripts=$top_srcdir/tests/scripts
bg bomb --timeout 20 --pids 32 <"$scripts/fork_and_hold.py"
busiest() {	# the most processes any uid of the range has
	ps -e -o uid= | awk -v a=$FIRST -v b=$LAST '$1 >= a && $1 <= b { n[$1]++ }
		END { for (u in n) if (n[u] > m) m = n[u]; print m + 0 }'
}
for _ in $(seq 100); do [ "$(busiest)" -ge 32 ] && break; sleep 0.1; done
is "$(busiest)" 32 "the fork bomb holds every process it may have"
forkers=
for i in 1 2 3; do
	bg "fork$i" --timeout 20 --pids 32 <"$scripts/fork_twenty.py"
	forkers="$forkers $!"
done
wait $forkers
# (else the neighbours had the processes the bomb let go)
is "$(busiest)" 32 "the bomb still holds them when its neighbours are done"
for i in 1 2 3; do
	like "$(cat "$tmp_root/fork$i.out")" "^[0-9]+ 20 forked, 0 refused$" "neighbour $i of the fork bomb forks 20 children"
	like "$(cat "$tmp_root/fork$i.report")" '"exit_code":0' "and ends as it should"
done
wait
like "$(cat "$tmp_root/bomb.out")" "^bomb held 3[01]$" "the bomb ends normally, having held its processes"

# --- one run cannot reach another -----------------------------------------------
bg victim --timeout 10 <<'EOF_PY'
import time
time.sleep(3)
print("survived")
EOF_PY
sleep 0.5
bg attacker --timeout 10 <<'EOF_PY'
import os, signal
try:
    os.kill(-1, signal.SIGKILL)	# every process it may signal, but itself
    print("signalled another process")
except ProcessLookupError:
    print("none to signal")
print([p for p in os.listdir("/proc") if p.isdigit()])
EOF_PY
wait
is "$(cat "$tmp_root/victim.out")" "survived" "kill(-1, SIGKILL) in one run does not reach a run beside it"
is "$(cat "$tmp_root/attacker.out")" "none to signal
['1', '2']" "a run finds no process to signal but its own, and /proc shows only its init and itself"

done_testing
