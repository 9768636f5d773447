#!/bin/bash
# faults.sh — the service when the machine misbehaves: the init of a run's
# sandbox killed, nginx killed mid-request, work_root full, a worker out of
# file descriptors, reloads under load, the sandbox binary missing, and the
# master itself killed with -9 (with a run in flight, as a worker starts, as
# the template imports). Each must end in a clean answer (or a clean
# failure), leave nothing behind, and be followed by a service that works.
# (kill -9 of a worker is in service.sh, of the template in warm.sh; the
# master under systemd and a cgroup that cannot be made in the system test.)
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/http/lib.sh"

J=(-H 'Content-Type: application/json')
# Every service here takes its runs' uids from a range of this test's own:
# those of the default range may be another coderunner's (a test beside
# this one), and would be counted as left behind by ours.
FIRST=2000600000
LAST=2000600999
HTTP_CONFIG="${HTTP_CONFIG:+$HTTP_CONFIG
}run_uids = $FIRST-$LAST"
run_uid_procs() { ps -e -o uid= | awk -v a=$FIRST -v b=$LAST '$1 >= a && $1 <= b' | wc -l; }
workdirs() { ls "$work_root" | grep -c '^run\.' || true; }
# idle_like N: the pool back to N processes under the master, no run dir left
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
settled() {
	for _ in $(seq 100); do
		[ "$(descendants "$fcgi_pid" | wc -l)" = "$1" ] && [ "$(workdirs)" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
bg_run() {	# bg_run NAME BODY: POST /api/run in the background -> $http_tmp/NAME.{status,out}
	curl -s -m 120 -o "$http_tmp/$1.out" -w '%{http_code}' "${J[@]}" --data-binary "$2" "$base/api/run" \
		>"$http_tmp/$1.status" &
	bg_pid=$!
}
fd_limit_leaving() {	# fd_limit_leaving PID N: the RLIMIT_NOFILE that lets PID open N fds more
	local fd limit=0 free=0	# (a new fd takes the lowest free number below the limit)
	declare -A open_
	for fd in $(ls "/proc/$1/fd"); do open_[$fd]=1; done
	while [ $free -lt "$2" ]; do
		[ -n "${open_[$limit]:-}" ] || free=$((free + 1))
		limit=$((limit + 1))
	done
	echo $limit
}
sandbox_init_of_run() {	# the init (PID 1 inside) of the sandbox of a run: a worker's own
	local w sb	# (prestarted=1: the run itself counts, so it never claims one)
	for w in $(busy_workers); do
		for sb in $(pgrep -P "$w" -x coderunner-sand); do pgrep -P "$sb" | head -1; return; done
	done
}

http_start preload=none max_runs=4 prestarted=1
idle=$(descendants "$fcgi_pid" | wc -l)

# ---- the init of a run's sandbox killed with -9
bg_run init '{"script": "print(\"started\", flush=True)\nimport time; time.sleep(30)"}'
for _ in $(seq 100); do init=$(sandbox_init_of_run); [ -n "$init" ] && break; sleep 0.1; done
test -n "$init"; ok $? "found the init of a running sandbox ($init)"
kill -9 "$init"
wait $bg_pid
is "$(cat "$http_tmp/init.status")" 500 "a run whose sandbox init was killed answers a clean 500"
like "$(cat "$http_tmp/init.out")" '"error": "internal error: ' "with a JSON error"
settled "$idle"; ok $? "nothing of it is left: no process, no work directory"
is "$(run_uid_procs)" 1 "only the pre-started sandbox's command runs as a run uid"
run_json '{"script": "print(1)"}'
is "$status/$(jq_ 'j["stdout"]')" "200/1" "the next run works"

# ---- the same as the service stops: its SIGTERM (or the parent-death
# signal a worker gets when its master dies) comes first, and the sandbox
# ends under the run. The script was stopped and may have run in part: a
# 502 that says so, not an internal error, and not the 503 that says
# nothing ran (a front end sends a 503 on to another host).
# stop_under_run NAME PATH BODY: a run started, its worker told to stop,
# then its sandbox's init killed -> $http_tmp/NAME.{status,out}
stop_under_run() {
	curl -s -m 120 -o "$http_tmp/$1.out" -w '%{http_code}' "${J[@]}" \
		-H 'Accept: application/json, text/event-stream' --data-binary "$3" "$base$2" >"$http_tmp/$1.status" &
	bg_pid=$!
	for _ in $(seq 100); do
		init=$(sandbox_init_of_run)
		worker=$(ps -o ppid= -p "$(ps -o ppid= -p "${init:-0}" | tr -d ' ')" | tr -d ' ')
		[ -n "$init" ] && [ -n "$worker" ] && break
		sleep 0.1
	done
	test -n "$init" && test -n "$worker"; ok $? "$2: found the init of a running sandbox ($init) and its worker ($worker)"
	kill -TERM $worker
	sleep 0.2
	kill -9 "$init"
	wait $bg_pid
}
SLEEPER='print(\"started\", flush=True)\nimport time; time.sleep(30)'
stop_under_run stopped /api/run "{\"script\": \"$SLEEPER\"}"
is "$(cat "$http_tmp/stopped.status")" 502 "a run whose sandbox ended as the service stopped answers 502"
like "$(cat "$http_tmp/stopped.out")" '"error": "the service stopped while the script ran; the script was stopped, and may have run in part"' \
	"whose JSON error says the script was stopped and may have run in part"
settled "$idle"; ok $? "nothing of it is left, and the worker that stopped is replaced"
stop_under_run stopped_mcp /mcp "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {\"name\": \"run_python\", \"arguments\": {\"script\": \"$SLEEPER\"}}}"
is "$(cat "$http_tmp/stopped_mcp.status")" 200 "/mcp: the same run is a tool result"
like "$(cat "$http_tmp/stopped_mcp.out")" '"text":"The script did not finish \(HTTP 502\): the service stopped while the script ran; the script was stopped, and may have run in part' \
	"/mcp: whose text says the script did not finish, and why"
settled "$idle"; ok $? "/mcp: nothing of it is left"
run_json '{"script": "print(1)"}'
is "$(jq_ 'j["stdout"]')" "1" "the next run works"

# ---- a client that hangs up: no one will read the answer, so the run is
# stopped (nginx closes our connection) and its slot freed, long before the
# script's timeout
stopped() { curl -s "$base/metrics" | sed -n 's/^coderunner_runs_total{outcome="stopped"} //p'; }
stopped0=$(stopped)
curl -s -m 2 -o /dev/null "${J[@]}" --data-binary \
	'{"script": "import time\ntime.sleep(100)", "timeout": 120}' "$base/api/run"
for _ in $(seq 100); do grep -q "status=499.*client gone" "$fcgi_log" && break; sleep 0.1; done
like "$(grep "status=499" "$fcgi_log" | tail -1)" "client gone" "a run whose client hung up is stopped, and logged as a 499"
for _ in $(seq 100); do [ "$(run_uid_procs)" = 1 ] && break; sleep 0.1; done
is "$(run_uid_procs)" 1 "its script is gone: only the pre-started sandbox's command runs as a run uid"
settled "$idle"; ok $? "nothing of it is left: no process, no work directory"
is "$(stopped)" $((stopped0 + 1)) "/metrics counts it among the runs, as stopped"

# ---- nginx killed in the middle of a request
bg_run nginx '{"script": "import time; time.sleep(2); print(\"done\")"}'
for _ in $(seq 50); do [ -n "$(busy_workers)" ] && break; sleep 0.1; done
kill -9 "$nginx_pid" $(pgrep -P "$nginx_pid")
wait "$nginx_pid" 2>/dev/null
wait $bg_pid
is "$(cat "$http_tmp/nginx.status")" 000 "the client of a killed nginx gets no answer"
settled "$idle"; ok $? "the run leaves nothing: its worker stopped it when nginx's connection closed, and carried on"
nginx -c "$http_tmp/nginx.conf" -e "$http_tmp/nginx-error.log" &
nginx_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "$base/health" && break; sleep 0.1; done
run_json '{"script": "print(2)"}'
is "$status/$(jq_ 'j["stdout"]')" "200/2" "with nginx back, runs work"

# ---- a worker out of file descriptors: a 503, then recovery
# Each worker may open a few fds more than it holds idle: one is enough to
# take the request, not to stage it; two to stage a script, not to run it,
# nor to stage a file two directories down, nor to remove those directories
# until the request's connection is closed: the worker tries again then.
worker_fds() { local w; for w in $(fcgi_workers); do ls "/proc/$w/fd"; done | wc -l; }
nested='{"files": {"a/b/main.py": "print(3)"}, "entry_point": "a/b/main.py"}'
for spare_body in "1 script" "2 script" "2 nested"; do
	spare=${spare_body% *}; req='{"script": "print(3)"}'
	[ "${spare_body#* }" = nested ] && req=$nested
	fds_idle=$(worker_fds)
	for w in $(fcgi_workers); do prlimit --pid "$w" --nofile="$(fd_limit_leaving "$w" "$spare")":; done
	run_json "$req"
	is "$status" 503 "$spare fd spare, ${spare_body#* }: a worker that cannot stage or start the run answers 503"
	like "$headers" 'Retry-After: [0-9]+' "with Retry-After"
	like "$(jq_ 'j["error"]')" 'retry later' "saying it passes ($(jq_ 'j["error"]'))"
	settled "$idle"; ok $? "and nothing is left of the refused run, even before fds return"
	is "$(worker_fds)" "$fds_idle" "and the workers hold the fds they held before"
	for w in $(fcgi_workers); do prlimit --pid "$w" --nofile="$(prlimit --pid "$w" --nofile -o HARD --noheadings)":; done
	run_json "$req"
	is "$status/$(jq_ 'j["stdout"]')" "200/3" "with fds again, the same worker runs it"
done

# ---- big answers, then the memory given back: a worker that built an 8 MB
# artifact's answer (11 MB of base64 in JSON) keeps none of it
for i in 1 2 3 4 5 6; do
	run_json '{"script": "open(\"output/big.bin\", \"wb\").write(b\"\\0\" * (8 << 20))"}'
	[ "$status" = 200 ] || break
done
is "$status" 200 "six runs answer with an 8 MB artifact"
most=0
for w in $(fcgi_workers); do
	kb=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$w/status")
	[ "$kb" -gt "$most" ] && most=$kb
done
# (glibc's sliding mmap threshold would keep 12 MB in the worker that
# answered; AddressSanitizer's allocator keeps freed memory on purpose.)
if grep -q libasan "/proc/$(fcgi_workers | head -1)/maps"; then
	skip "AddressSanitizer's allocator holds freed memory in quarantine" "no worker keeps their memory"
else
	[ "$most" -lt 8192 ]; ok $? "no worker keeps their memory: the largest holds $((most / 1024)) MB resident"
fi

# ---- reloads under load: no request lost
pids=
for n in 1 2 3 4 5 6; do
	( end=$((SECONDS + 8)); i=0
	  while [ $SECONDS -lt $end ]; do
		s=$(curl -s -m 60 -o "$http_tmp/load.$n" -D "$http_tmp/load.$n.h" -w '%{http_code}' "${J[@]}" \
			--data-binary "{\"script\": \"print($n * 1000 + $i)\"}" "$base/api/run")
		if grep -q "\"stdout\": \"$((n * 1000 + i))\\\\n\"" "$http_tmp/load.$n" && [ "$s" = 200 ]; then echo ok
		# nginx's own backpressure while slow workers (ASan) restart: retryable
		elif [ "$s" = 503 ] && grep -qi '^Retry-After:' "$http_tmp/load.$n.h" && ! grep -q 'shutting down' "$http_tmp/load.$n"; then echo retry
		else echo "bad $s $(head -c 200 "$http_tmp/load.$n")"; fi
		i=$((i + 1))
	  done >"$http_tmp/load.$n.log" ) &
	pids="$pids $!"
done
for _ in 1 2 3; do sleep 2; kill -HUP "$fcgi_pid"; done
wait $pids
total=$(cat "$http_tmp"/load.*.log | wc -l)
is "$(cat "$http_tmp"/load.*.log | grep -vcE '^(ok|retry)$')" 0 \
	"three reloads under load: all $total requests answered right, none refused as 'shutting down'"
diag "$(cat "$http_tmp"/load.*.log | grep -c '^retry$') of them a 503 with Retry-After from nginx"
grep -hvE '^(ok|retry)$' "$http_tmp"/load.*.log | head -3 | sed 's/^/# /'
like "$(grep -c 'reloaded' "$fcgi_log")" '^[3-9]$' "and the three reloads happened"
settled "$(descendants "$fcgi_pid" | wc -l)"
is "$(workdirs)" 0 "no work directory is left"

# ---- a reload to a work_root that cannot be made, or is too long for the
# sandboxes' socket in it: the running configuration stays, and says why
# (a work_root takes a restart: one a reload could make is refused too)
cp "$conf" "$http_tmp/conf.good"
touch "$http_tmp/a-file"
for bad in "$http_tmp/a-file/work" "/var/tmp/$(printf 'w%.0s' $(seq 100))"; do
	echo "work_root = $bad" >>"$conf"
	like "$(reload_refused)" "keeping the running configuration: (work_root cannot change without a restart|$conf: work_root: at most [0-9]+ characters)" \
		"a reload to work_root = ${bad:0:40}... is refused, and the log says why"
	cp "$http_tmp/conf.good" "$conf"
	run_json '{"script": "print(\"still\")"}'
	is "$status/$(jq_ 'j["stdout"]')" "200/still" "and the service goes on as it was"
done
ok $([ ! -e "/var/tmp/$(printf 'w%.0s' $(seq 100))" ]; echo $?) "nothing was made of the long one"
# The cgroup decision is made at start: a reload that changes it would
# claim a configuration that is not in force.
echo "cgroup = off" >>"$conf"
like "$(reload_refused)" "keeping the running configuration: cgroup cannot change without a restart \\(auto, not off\\)" \
	"a reload to cgroup = off is refused, and the log says why"
cp "$http_tmp/conf.good" "$conf"
# Open files above the service's own hard limit: without CAP_SYS_RESOURCE
# (the unit keeps it out) no sandbox could set them, and every run would
# fail. (With it, as a root shell may have, a sandbox can raise them.)
if [ $(( 0x$(sed -n 's/^CapBnd:\t//p' /proc/self/status) >> 24 & 1 )) = 0 ] && [ "$(ulimit -Hn)" != unlimited ]; then
	echo "nofile = $(( $(ulimit -Hn) + 1 ))" >>"$conf"
	like "$(reload_refused)" "keeping the running configuration: nofile: [0-9]+ is above this service's hard limit of open files" \
		"a reload to nofile above the hard limit is refused, and the log says why"
	sleep 1
	run_json '{"script": "print(\"still\")"}'
	is "$status/$(jq_ 'j["stdout"]')" "200/still" "and runs go on"
	"$fcgi_bin" --check-config --config "$conf" >/dev/null 2>"$http_tmp/check.err"
	is "$?/$(cat "$http_tmp/check.err")" "1/coderunner-fcgi: nofile: $(( $(ulimit -Hn) + 1 )) is above this service's hard limit of open files ($(ulimit -Hn), LimitNOFILE= of its unit), which runs cannot pass" \
		"and --check-config says so"
	cp "$http_tmp/conf.good" "$conf"
else
	skip "CAP_SYS_RESOURCE in the bounding set: a sandbox may raise its limits" \
		"a reload to nofile above the hard limit is refused"
fi

# ---- work_root full: a 507, then recovery when space returns
http_stop
work_fs=$http_tmp/small
mkdir -p "$work_fs"
mount -t tmpfs -o size=4m tmpfs "$work_fs"
umount_small() { umount "$work_fs" 2>/dev/null; }
trap 'umount_small; cleanup' EXIT
http_start preload=none "work_root = $work_fs/work" prestarted=1
fill=$(( $(df --output=avail -k "$work_fs" | tail -1) - 200 ))
dd if=/dev/zero of="$work_fs/filler" bs=1k count="$fill" status=none
big=$($PY -c 'import json; print(json.dumps({"script": "import os; print(os.path.getsize(\"input/data\"))", "context": {"data": "x" * 1000000}}))')
run_json "$big"
is "$status" 507 "work_root full: a request that cannot be staged is a 507"
like "$headers" 'Retry-After: [0-9]+' "with Retry-After"
like "$(jq_ 'j["error"]')" 'no space left' "saying why ($(jq_ 'j["error"]'))"
is "$(ls "$work_fs/work" | grep -c '^run\.')" 0 "and leaves no half-staged directory"
# A run staged in the room left, whose output then finds none: it ran, so
# its answer is a 200, with what did not come back named.
run_json '{"script": "import os\nos.makedirs(\"output/d\")\nopen(\"output/d/big.bin\", \"wb\").write(b\"x\" * (1 << 20))\nopen(\"output/note.txt\", \"w\").write(\"hello\")\nprint(\"done\")"}'
is "$status/$(jq_ 'j["stdout"], j["artifacts"].get("note.txt"), j["artifacts_omitted"]')" \
	'200/["done\n", "hello", ["d/big.bin"]]' "work_root full as the output is copied back: a 200, the file that did not fit named"
is "$(ls "$work_fs/work" | grep -c '^run\.')" 0 "and nothing of the run is left"
rm -f "$work_fs/filler"
run_json "$big"
is "$status/$(jq_ 'j["stdout"]')" "200/1000000" "with space back, the same request runs"
http_stop
# A file that found no room gives its share of what the copy may bring
# back (/work's size: a sparse file's length is not what it holds) to the
# rest: big.bin, sparse, nearly /work's size (copied first: a directory
# lists its newest first), has no room on the host, and small.bin, past
# what would be left of /work's size without big.bin's share back, has.
http_start preload=none "work_root = $work_fs/work" prestarted=1 work_size_mb=16 fsize_mb=16
fill=$(( $(df --output=avail -k "$work_fs" | tail -1) - 500 ))
dd if=/dev/zero of="$work_fs/filler" bs=1k count="$fill" status=none
run_json '{"script": "open(\"output/small.bin\", \"wb\").write(b\"y\" * 250000)\nwith open(\"output/big.bin\", \"wb\") as f:\n    f.truncate((16 << 20) - 100000)"}'
is "$status/$(jq_ 'len(j["artifacts"].get("small.bin", "")), j["artifacts_omitted"]')" '200/[250000, ["big.bin"]]' \
	"a file with no room on the host leaves its share of the copy to the others"
rm -f "$work_fs/filler"
http_stop
umount_small

# ---- a reload with no inode left in work_root: the new sandboxes' socket
# cannot be bound, and the running configuration stays (the master died)
mount -t tmpfs -o size=4m,nr_inodes=400 tmpfs "$work_fs"
http_start preload=none "work_root = $work_fs/work" prestarted=1
mkdir "$work_fs/fill"
n=0
while touch "$work_fs/fill/$n" 2>/dev/null; do n=$((n + 1)); done
since=$(($(wc -l <"$fcgi_log") + 1))
new_log() { tail -n "+$since" "$fcgi_log"; }
kill -HUP "$fcgi_pid"
for _ in $(seq 50); do new_log | grep -q "SIGHUP: keeping" && break; sleep 0.1; done
like "$(new_log | grep 'SIGHUP')" "keeping the running configuration: the sandboxes' socket: bind .*No space left" \
	"a reload that cannot bind the sandboxes' socket keeps the running configuration"
ok $(kill -0 "$fcgi_pid"; echo $?) "and the service stays up"
rm -rf "$work_fs/fill"
run_json '{"script": "print(\"after\")"}'
is "$status/$(jq_ 'j["stdout"]')" "200/after" "with inodes back, runs go on"
kill -HUP "$fcgi_pid"
for _ in $(seq 50); do new_log | grep -q "reloaded" && break; sleep 0.1; done
run_json '{"script": "print(\"reloaded\")"}'
is "$(new_log | grep -c 'reloaded; replacing')/$status/$(jq_ 'j["stdout"]')" "1/200/reloaded" "and the next reload takes"
is "$(ls "$work_fs/work" | grep -c 'sock.new')" 0 "no half-made socket is left"
http_stop
umount_small

# ---- a reload that lowers the limits while a run waits for its slot: the
# run keeps the limits it was accepted with, though the pre-started
# sandboxes now have the new configuration's (prestarted=2: a run alone
# takes one)
http_start preload=none prestarted=2 max_runs=1 timeout_max_s=600
bg_run first '{"script": "import time; time.sleep(3); print(\"first\")"}'
first=$bg_pid
metric() { curl -s "$base/metrics" | sed -n "s/^coderunner_$1 //p"; }
for _ in $(seq 50); do [ "$(metric runs_in_flight)" = 1 ] && break; sleep 0.1; done
bg_run queued '{"script": "import time; time.sleep(0.5); print(\"queued\")", "timeout_s": 600}'
for _ in $(seq 50); do [ "$(metric queue_length)" = 1 ] && break; sleep 0.1; done
is "$(metric runs_in_flight)/$(metric queue_length)" 1/1 "a run waits for the only slot"
echo "timeout_max_s = 300" >>"$conf"
kill -HUP "$fcgi_pid"
for _ in $(seq 50); do grep -q reloaded "$fcgi_log" && break; sleep 0.1; done
wait "$first" "$bg_pid"
cp "$http_tmp/queued.out" "$http_tmp/resp"
is "$(cat "$http_tmp/queued.status")/$(jq_ 'j["stdout"]')" "200/queued" \
	"a run queued with timeout_s 600 as a reload lowers timeout_max_s to 300 runs ($(head -c 200 "$http_tmp/queued.out"))"
run_json '{"script": "print(1)", "timeout_s": 600}'
is "$status/$(jq_ 'j["stdout"]')" "200/1" "and runs asking as much after the reload run"
http_stop

# ---- the sandbox binary missing: health says so, runs fail cleanly
http_start preload=none "sandbox = $http_tmp/no-such-sandbox" health_interval_s=1
get /health
is "$status" 503 "the sandbox binary missing: GET /health is 503"
like "$(jq_ 'j["reason"]')" 'no-such-sandbox' "naming it ($(jq_ 'j["reason"]'))"
run_json '{"script": "print(1)"}'
is "$status" 500 "a run fails with a JSON 500"
http_stop

# ---- a worker out of file descriptors as it claims a pre-started sandbox
# (prestarted=2: a run alone takes one), whose reply brings three: those
# that came are closed again
snippet_sed='s/client_max_body_size [0-9a-z]*;/client_max_body_size 300m;/' \
	http_start preload=none prestarted=2 max_entry_mib=300 max_body_mib=300
for spare in 3 4 5; do
	fds_idle=$(worker_fds)
	for w in $(fcgi_workers); do prlimit --pid "$w" --nofile="$(fd_limit_leaving "$w" "$spare")":; done
	run_json '{"script": "print(3)"}'
	is "$status" 503 "$spare fds spare as a sandbox is claimed: 503 ($(jq_ 'j["error"]'))"
	for w in $(fcgi_workers); do prlimit --pid "$w" --nofile="$(prlimit --pid "$w" --nofile -o HARD --noheadings)":; done
	is "$(worker_fds)" "$fds_idle" "and the workers hold the fds they held before"
done

# ---- more stdin than a claim may bring (256 MiB), where the operator lets
# requests be that large: the run starts a sandbox of its own
$PY -c 'import json; print(json.dumps({"script": "import sys\nn = 0\nwhile b := sys.stdin.buffer.read(1 << 20):\n    n += len(b)\nprint(n)", "stdin": "x" * (260 << 20)}))' >"$http_tmp/big-stdin.json"
status=$(curl -s -o "$http_tmp/resp" -w '%{http_code}' "${J[@]}" --data-binary @"$http_tmp/big-stdin.json" "$base/api/run")
rm -f "$http_tmp/big-stdin.json"
is "$status/$(jq_ 'j["stdout"]')" "200/$((260 << 20))" "260 MiB of stdin, max_entry_mib = 300: the script reads all of it"
http_stop

# ---- a sandbox program that ends at once (the wrong program, a library
# missing): started again once a second, not in a storm, and the log says
# so once; runs start their own, which fail saying why
printf '#!/bin/sh\necho started >>"%s"\n' "$http_tmp/ends.log" >"$http_tmp/ends-at-once"
chmod 755 "$http_tmp/ends-at-once"
http_start preload=none "sandbox = $http_tmp/ends-at-once" prestarted=2
n0=$(wc -l <"$http_tmp/ends.log")
sleep 3
n=$(($(wc -l <"$http_tmp/ends.log") - n0))
[ "$n" -le 10 ]
ok $? "a sandbox that ends at once is started again about twice a second, not in a storm ($n times in 3 s)"
is "$(grep -c 'before any run took it' "$fcgi_log")" 1 "the log says so, once"
for i in 1 2 3; do
	run_json '{"script": "print(1)"}'
	is "$status" 500 "run $i: a JSON 500 at once, not a wait for a sandbox ($(jq_ 'j["error"]'))"
done
http_stop

# ---- pre-started sandboxes that take no connection (stopped): a run waits
# for one a short while, then starts its own, rather than fail at 30 s;
# and they are killed and replaced, so that no run after it waits so again
http_start preload=none prestarted=2
for _ in $(seq 100); do [ "$(pool_sandboxes | wc -l)" = 2 ] && break; sleep 0.1; done
stuck=$(pool_sandboxes)
is "$(wc -w <<<"$stuck")" 2 "both pre-started sandboxes are there to be stopped"
kill -STOP $stuck
t0=$(date +%s)
run_json '{"script": "print(1)"}'
took=$(( $(date +%s) - t0 ))
is "$status/$(jq_ 'j["stdout"]')" "200/1" "with the pre-started sandboxes stopped, a run succeeds"
[ "$took" -lt 10 ]; ok $? "in a sandbox of its own, after a short wait ($took s)"
like "$(cat "$fcgi_log")" "no pre-started sandbox took a run in time \\(are they stuck\\?\\): it starts its own, and they are to be killed" \
	"and the log says why"
for _ in $(seq 100); do [ "$(grep -c "pre-started sandbox [0-9]* took no run in time: killed" "$fcgi_log")" = 2 ] && break; sleep 0.1; done
is "$(grep -c "pre-started sandbox [0-9]* took no run in time: killed" "$fcgi_log")" 2 "both stopped sandboxes are killed"
for _ in $(seq 100); do
	fresh=$(pool_sandboxes)
	[ "$(wc -w <<<"$fresh")" = 2 ] && [ -z "$(comm -12 <(tr ' ' '\n' <<<"$stuck" | sort) <(sort <<<"$fresh"))" ] && break
	sleep 0.1
done
is "$(comm -12 <(tr ' ' '\n' <<<"$stuck" | sort) <(sort <<<"$fresh"))/$(wc -w <<<"$fresh")" "/2" "and two new ones wait in their place"
t0=$(date +%s%N)
run_json '{"script": "print(2)"}'
took=$(( ($(date +%s%N) - t0) / 1000000 ))
is "$status/$(jq_ 'j["stdout"]')/$(grep -c "are they stuck" "$fcgi_log")" "200/2/1" \
	"the next run is taken by one of them, without a wait ($took ms)"
kill -CONT $stuck 2>/dev/null
http_stop

# ---- the master killed with -9 while a run is under way
http_start preload=none prestarted=1
bg_run master '{"script": "import time; time.sleep(2); print(\"done\")"}'
for _ in $(seq 50); do [ -n "$(busy_workers)" ] && break; sleep 0.1; done
family=$(descendants "$fcgi_pid")
kill -9 "$fcgi_pid"
wait "$fcgi_pid" 2>/dev/null
wait $bg_pid
like "$(cat "$http_tmp/master.status")" '^(200|502|503)$' "the run in flight answers or fails cleanly ($(cat "$http_tmp/master.status"))"
for _ in $(seq 100); do
	left=$(for p in $family; do kill -0 "$p" 2>/dev/null && echo "$p"; done)
	[ -z "$left" ] && break
	sleep 0.1
done
is "$left" "" "every worker, sandbox and template of the master goes with it"
is "$(run_uid_procs)" 0 "no process runs as a run uid"
is "$(workdirs)" 0 "no work directory is left"
fcgi_pid=
http_stop

# ---- a worker forked just before its master is killed: each child of the
# master's fork()s waits 1 s first (a pthread_atfork handler, preloaded),
# the master dies meanwhile, and the worker must not stay on without it.
if ldd "$fcgi_bin" | grep -q libasan; then
	skip "AddressSanitizer's runtime must come first; no library is preloaded before it" \
		"a worker whose master died before it started ends"
else
	cc -shared -fPIC -o "$http_tmp/slowfork.so" -x c - <<'C'
#include <pthread.h>
#include <unistd.h>
static void slow(void) { usleep(1000000); }
__attribute__((constructor)) static void start(void) { pthread_atfork(NULL, NULL, slow); }
C
	fcgi_wrapper=(/usr/bin/env "LD_PRELOAD=$http_tmp/slowfork.so")
	http_start preload=none prestarted=1
	unset fcgi_wrapper
	before=$(fcgi_workers)
	kill -9 $(fcgi_workers | head -1)
	new=
	for _ in $(seq 100); do
		new=$(fcgi_workers | grep -vxF -f <(echo "$before") | head -1)
		[ -n "$new" ] && break
		sleep 0.02
	done
	kill -9 "$fcgi_pid"
	wait "$fcgi_pid" 2>/dev/null
	for _ in $(seq 40); do kill -0 "$new" 2>/dev/null || break; sleep 0.1; done
	[ -n "$new" ] && ! kill -0 "$new" 2>/dev/null
	ok $? "a worker whose master died before it started ends (${new:-none forked})"
	[ -n "$new" ] && kill -9 "$new" 2>/dev/null
	fcgi_pid=
	http_stop
fi

# ---- the master killed while its template imports (10 s and more): the
# template must end, not import on and then wait for ever for no one.
warm_wait=0 http_start prestarted=1
template=
for _ in $(seq 100); do template=$(pgrep -P "$fcgi_pid" -x coderunner-temp | head -1); [ -n "$template" ] && break; sleep 0.05; done
sleep 0.5
importing=$(grep -c '"warm": false' <<<"$(curl -s "$base/")")
kill -9 "$fcgi_pid"
wait "$fcgi_pid" 2>/dev/null
for _ in $(seq 50); do kill -0 "$template" 2>/dev/null || break; sleep 0.1; done
[ -n "$template" ] && [ "$importing" = 1 ] && ! kill -0 "$template" 2>/dev/null
ok $? "a template whose master died while it imported ends (${template:-none started})"
[ -n "$template" ] && kill -9 "$template" 2>/dev/null
fcgi_pid=
http_stop

# ---- a worker told to retire (SIGUSR1, as a reload does) while it writes
# an 11 MB answer, again and again: it finishes the request first, whole,
# whatever system call the signal interrupts. With nginx keeping 128 KB of
# an answer and no temporary file, and a client reading at 2 MB/s, the
# worker's writes wait on nginx. (A reload signals each old worker once and
# leaves new ones alone, so only the request's worker is signalled here.)
snippet_sed='s|^fastcgi_buffers .*|fastcgi_buffers 4 32k;|; s|^fastcgi_busy_buffers_size .*|fastcgi_busy_buffers_size 32k;\nfastcgi_max_temp_file_size 0;|' \
	http_start preload=none
curl -s -m 120 --limit-rate 2M -o "$http_tmp/big.out" -w '%{http_code}' "${J[@]}" --data-binary \
	'{"script": "import hashlib, os\nout = os.urandom(8 << 20)\nopen(\"output/big.bin\", \"wb\").write(out)\nprint(hashlib.sha256(out).hexdigest())"}' \
	"$base/api/run" >"$http_tmp/big.status" &
bg_pid=$!
w=	# the worker with the request: nginx's connection is its
while [ -z "$w" ] && kill -0 "$bg_pid" 2>/dev/null; do
	w=$(ss -xpnH state connected src "$sock" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
done
signals=0
while kill -USR1 "$w" 2>/dev/null && kill -0 "$bg_pid" 2>/dev/null; do signals=$((signals + 1)); sleep 0.001; done
wait $bg_pid
is "$(cat "$http_tmp/big.status") $($PY - "$http_tmp/big.out" <<'PY'
import base64, hashlib, json, sys
try:
    j = json.load(open(sys.argv[1]))
    got = hashlib.sha256(base64.b64decode(j["artifacts"]["big.bin"]["content"])).hexdigest()
    print("whole" if got == j["stdout"].strip() else "a wrong artifact")
except ValueError:
    print("cut short")
PY
)" "200 whole" "a worker signalled to retire $signals times as it writes a big answer writes it whole"
log_clean
http_stop

http_start preload=none prestarted=1
run_json '{"script": "print(\"again\")"}'
is "$status/$(jq_ 'j["stdout"]')" "200/again" "a new master serves at once"
log_clean

done_testing
