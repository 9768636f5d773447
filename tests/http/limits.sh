#!/bin/bash
# limits.sh — every run inside its own limits, through nginx: runs at once
# each get a uid of their own, so a fork bomb in one cannot stop its
# neighbours from forking (here, where no cgroup separates runs, the process
# limit is RLIMIT_NPROC, which counts per uid); a run asking for more memory
# than the host can give gets what it can, and says so; and a run whose
# interpreter could not even start is the service's fault, never an exit
# status the script did not produce. Each is tried on every way a run
# starts: warm from the template, cold in a pre-started sandbox, and cold in
# a sandbox of its own (the interpreter that cannot start, cold only: a warm
# run executes nothing).
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/http/lib.sh"

FIRST=2000200000
LAST=2000200099

# uid_procs UID: how many processes of UID run on the host
uid_procs() { ps -e -o uid= | awk -v u="$1" '$1 == u' | wc -l; }
# busiest_run_uid: the uid of the range with the most processes, and their count
busiest_run_uid() {
	ps -e -o uid= | awk -v a=$FIRST -v b=$LAST '$1 >= a && $1 <= b { n[$1]++ }
		END { for (u in n) if (n[u] > best) { best = n[u]; who = u }; print who, best + 0 }'
}

scripts=$top_srcdir/tests/scripts
BOMB=$(json_with script "$(cat "$scripts/fork_and_hold.py")" '{"timeout_s": 30}')
FORKER=$(json_with script "$(cat "$scripts/fork_twenty.py")" '{"timeout_s": 20}')

# Every way a run starts: warm, all four forked from the template; cold with
# prestarted = 1, the bomb in the pre-started sandbox and its neighbours in
# their own; cold with prestarted = 4, every one of them pre-started.
for way in warm "cold, prestarted = 1" "cold, prestarted = 4"; do
	case $way in
	warm) http_start "max_runs = 4" "prestarted = 2" "run_uids = $FIRST-$LAST" ;;
	*) http_start "max_runs = 4" "prestarted = ${way##* }" "preload = none" "run_uids = $FIRST-$LAST" ;;
	esac
	pre=$way
	printf '%s' "$BOMB" >"$http_tmp/bomb.json"
	curl -s -m 60 -H 'Content-Type: application/json' --data-binary "@$http_tmp/bomb.json" \
		"$base/api/run" >"$http_tmp/bomb.out" &
	bomb=$!
	for _ in $(seq 100); do
		read -r bomb_uid held < <(busiest_run_uid)
		[ "${held:-0}" -ge 60 ] && break
		sleep 0.1
	done
	[ "${held:-0}" -ge 60 ]
	ok $? "$pre: the fork bomb holds every process it may have ($held)"
	printf '%s' "$FORKER" >"$http_tmp/forker.json"
	forkers=
	for i in 1 2 3; do
		curl -s -m 60 -H 'Content-Type: application/json' --data-binary "@$http_tmp/forker.json" \
			"$base/api/run" >"$http_tmp/fork$i.out" &
		forkers="$forkers $!"
	done
	wait $forkers
	# stdin, a memfd the script holds open for writing, is sealed: written
	# to, it would hold memory outside RLIMIT_AS. (With prestarted = 1 and
	# the bomb under way, this run too is in a sandbox of its own.)
	run_json "$(json_with script 'import errno, mmap, os, sys
def tried(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
print(sys.stdin.read(), tried(lambda: os.pwrite(0, b"x", 0)), tried(lambda: os.ftruncate(0, 4096)),
      tried(lambda: os.ftruncate(0, 0)), tried(lambda: mmap.mmap(0, 5)))' '{"stdin": "hello"}')"
	is "$status/$(jq_ 'j["stdout"]')" "200/hello EPERM EPERM EPERM EPERM" \
		"$pre: stdin cannot be written, grown, shrunk or mapped for writing"
	# (else the neighbours had the processes the bomb let go)
	held=$(uid_procs "$bomb_uid")
	[ "$held" -ge 60 ]
	ok $? "$pre: the bomb still holds them when its neighbours are done ($held)"
	uids="$bomb_uid"
	for i in 1 2 3; do
		got=$($PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["exit_code"], j["stdout"].strip())' \
			"$http_tmp/fork$i.out" 2>&1)
		like "$got" "^0 [0-9]+ 20 forked, 0 refused$" "$pre: neighbour $i of the fork bomb forks 20 children"
		uids="$uids $(echo "$got" | awk '{ print $2 }')"
	done
	wait "$bomb"
	like "$(cat "$http_tmp/bomb.out")" '"exit_code": 0, "stdout": "bomb held [0-9]+\\n"' \
		"$pre: and the bomb itself ends normally"
	is "$(echo $uids | tr ' ' '\n' | sort -u | wc -l)" 4 "$pre: the four runs had four uids"
	inside=0
	for u in $uids; do [ "$u" -ge $FIRST ] && [ "$u" -le $LAST ] && inside=$((inside + 1)); done
	is "$inside" 4 "$pre: all from run_uids"
	http_stop
	is "$(ps -e -o uid= | awk -v a=$FIRST -v b=$LAST '$1 >= a && $1 <= b' | wc -l)" 0 \
		"$pre: once the service has stopped, no process of run_uids is left"
	log_clean
done

# ---- the range must be nobody's --------------------------------------------------
nobody=$(id -u nobody)
echo "run_uids = $((nobody - 50))-$((nobody + 50))" >"$http_tmp/clash.conf"
out=$("$fcgi_bin" --config "$http_tmp/clash.conf" --check-config 2>&1); rc=$?
is "$rc" 1 "--check-config refuses a run_uids range that holds an account"
like "$out" "run_uids: $((nobody - 50))-$((nobody + 50)) holds user nobody \\(uid $nobody\\)" "and names it"

# ---- memory: what the host can give ---------------------------------------------
http_start "memory_max_mb = 1048576" "run_uids = $FIRST-$LAST"
get /
ceiling=$(jq_ 'j["capabilities"]["sandbox"]["memory_per_run_mb"]')
total=$(awk '$1 == "MemTotal:" { print int($2 / 1024) }' /proc/meminfo)
[ "$ceiling" -gt 0 ] && [ "$ceiling" -lt "$total" ]
ok $? "GET / reports the memory a run can really have ($ceiling MB of $total MB of RAM)"
is "$(jq_ 'j["capabilities"]["dialects"][0]["max_memory_mb"]')" "$ceiling" "and /api/run's largest memory_mb is that, not memory_max_mb"
is "$(jq_ 'j["capabilities"]["sandbox"]["run_uids"]')" "$FIRST-$LAST" "and the range of run uids"
like "$(cat "$fcgi_log")" "a run may have at most $ceiling MB of memory on this host" "the service says so at start-up"
run_json '{"script": "print(1)", "memory_mb": 1048576}'
is "$status/$(jq_ 'j["stdout"].strip()')" "200/1" "a run asking for more memory than the host has runs"
is "$(jq_ 'j["warnings"]')" "[\"memory_mb 1048576 lowered to $ceiling, the most a run can have on this host\"]" \
	"with a warning that says what it got"
http_stop

# ---- a run that could not start ----------------------------------------------------
# An interpreter that cannot be executed: the sandbox is built, the exec fails.
for pre in 1 4; do
	http_start "python = /etc/hostname" "prestarted = $pre" "preload = none" "run_uids = $FIRST-$LAST"
	way=$([ $pre = 1 ] && echo "in a sandbox of its own" || echo "in a pre-started sandbox")
	run_json '{"script": "print(1)"}'
	is "$status/$(jq_ 'j["exit_code"]')" "500/-1" "$way: a run whose interpreter cannot start is a 500 with exit_code -1"
	like "$(jq_ 'j["error"]')" "exec /etc/hostname: Permission denied" "$way: and the error says why"
	post /run '{"code": "print(1)"}' -H 'Content-Type: application/json'
	is "$status/$(jq_ 'j["status"]')" "500/error" "$way: POST /run answers 500 with status error"
	like "$(jq_ 'j["error"]')" "exec /etc/hostname" "$way: and the reason"
	post /execute '{"script": "def main():\n    return 1"}' -H 'Content-Type: application/json'
	is "$status" 500 "$way: POST /execute answers 500"
	like "$(jq_ 'j["error"]')" "exec /etc/hostname" "$way: and the reason"
	http_stop
done

done_testing
