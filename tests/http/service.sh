#!/bin/bash
# The service around POST /api/run: isolation of parallel runs, the run-slot
# queue and its 503s, a worker killed mid-request, SIGHUP reload, SIGTERM
# drain, privileges, and that nothing leaks (directories, processes, fds).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap.sh"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/http/lib.sh"

fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
sandboxes() { pgrep -f "^$sandbox_bin " | wc -l; }

# ---- 8 parallel runs, each in its own sandbox
http_start max_runs=4 queue_size=8

# The snippet in a server block that sets, at its own level, what the
# snippet sets for its locations: nginx takes both (the server's for the
# server's own locations).
sed 's|^\(\t*\)include \(.*coderunner-snippet.conf\);|\1client_max_body_size 100m;\n\1client_body_buffer_size 64k;\n\1fastcgi_read_timeout 60s;\n\1fastcgi_send_timeout 60s;\n\1fastcgi_buffers 8 8k;\n\1fastcgi_buffer_size 4k;\n\1fastcgi_busy_buffers_size 16k;\n\1limit_req_status 503;\n\1include \2;|' \
	"$http_tmp/nginx.conf" >"$http_tmp/nginx-own.conf"
grep -q 'client_max_body_size 100m' "$http_tmp/nginx-own.conf" &&
	nginx -t -q -c "$http_tmp/nginx-own.conf" -e "$http_tmp/nginx-own-error.log" 2>"$http_tmp/nginx-own.err"
ok $? "nginx -t takes the snippet in a server block that sets its own body size, buffers, timeouts and limit_req_status" ||
	diag "$(cat "$http_tmp/nginx-own.err")"
w=$(fcgi_workers | head -1)
is "$(sed -n 's/^CapEff:\t//p' "/proc/$w/status")" 0000000000000000 "a worker's effective capability set is empty"
master_fds=$(fd_count "$fcgi_pid")
worker_fds=$(fd_count "$w")

for i in 1 2 3 4 5 6 7 8; do
	cat >"$http_tmp/par$i.json" <<JSON
{"script": "import os, time\nopen('output/mine.txt', 'w').write('$i')\nopen('/tmp/mine', 'w').write('$i')\ntime.sleep(0.5)\nprint(sorted(os.listdir('output')), sorted(os.listdir('/tmp')), sorted(os.listdir('input')), open('/tmp/mine').read(), open('output/mine.txt').read())", "context": {"from$i": "x"}}
JSON
	curl -s -o "$http_tmp/par$i.out" -H 'Content-Type: application/json' --data-binary "@$http_tmp/par$i.json" "$base/api/run" &
	pids+=($!)
done
wait "${pids[@]}"
seen=0
for i in 1 2 3 4 5 6 7 8; do
	got=$($PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["stdout"].strip(), j["artifacts"])' "$http_tmp/par$i.out")
	[ "$got" = "['mine.txt'] ['mine'] ['from$i'] $i $i {'mine.txt': '$i'}" ] && seen=$((seen + 1)) || diag "run $i: $got"
done
is "$seen" 8 "8 parallel runs each see only their own files, input and /tmp"
http_stop
is "$(ls -A "$work_root" | wc -l)" 0 "no work directory is left behind"

# ---- beyond the pre-started sandboxes, a run starts one of its own: the
# script cannot tell
http_start max_runs=4 prestarted=2 preload=none
probe='{"script": "import os, sys\nprint(sys.argv, sys.path[0], __file__, sorted(os.listdir(\"/proc/self/fd\")), open(\"input/a\").read())\nraise ValueError(1)", "context": {"a": "ctx"}}'
run_json "$probe"
pooled="$(jq_ 'j["exit_code"]') $(jq_ 'j["stdout"]') $(jq_ 'j["stderr"]')"
curl -s -o /dev/null -H 'Content-Type: application/json' \
	--data-binary '{"script": "import time; time.sleep(3)"}' "$base/api/run" &
sleeper=$!
for _ in $(seq 50); do [ -n "$(busy_workers)" ] && break; sleep 0.1; done
run_json "$probe"
own="$(jq_ 'j["exit_code"]') $(jq_ 'j["stdout"]') $(jq_ 'j["stderr"]')"
like "$pooled" "^1 \['main.py'\] /work /work/main.py \['0', '1', '2', '3'\] ctx" "a run in a pre-started sandbox"
is "$own" "$pooled" "and one in a sandbox of its own, started while another run holds one of the two CPUs, see the same"
wait $sleeper
http_stop

# start_slow SECONDS: a run that sleeps that long and prints "slow done",
# its curl in the background ($slow, answer in slow.out), once a worker has it
start_slow() {
	printf '{"script": "import time; time.sleep(%s); print(\x27slow done\x27)"}' "$1" >"$http_tmp/slow.json"
	curl -s -o "$http_tmp/slow.out" -H 'Content-Type: application/json' --data-binary "@$http_tmp/slow.json" "$base/api/run" &
	slow=$!
	for _ in $(seq 50); do [ -n "$(busy_workers)" ] && break; sleep 0.1; done
}

# ---- the queue: 1 slot, 1 waiting place, 1 s wait
http_start max_runs=1 queue_size=1 queue_timeout_s=1 retry_after_s=7
start_slow 3
curl -s -o "$http_tmp/queued.out" -D "$http_tmp/queued.h" -w '%{http_code} %{time_total}' -H 'Content-Type: application/json' \
	--data-binary '{"script": "print(1)"}' "$base/api/run" >"$http_tmp/queued.status" &
queued=$!
sleep 0.3
t0=$(date +%s%N)
run_json '{"script": "print(1)"}'
t1=$(date +%s%N)
is "$status" 503 "with the slot and the queue full, a run gets 503"
like "$headers" '^Retry-After: 7' "with Retry-After"
ok $(( (t1 - t0) / 1000000 < 500 ? 0 : 1 )) "at once ($(( (t1 - t0) / 1000000 )) ms)"
like "$(jq_ 'j["error"]')" 'queue are full' "saying why"
t0=$(date +%s%N)
post /health '' -X GET
t1=$(date +%s%N)
is "$status" 200 "GET /health still answers while every run slot is busy"
ok $(( (t1 - t0) / 1000000 < 500 ? 0 : 1 )) "without waiting behind the runs"
wait $queued
read -r qstatus qtime <"$http_tmp/queued.status"
is "$qstatus" 503 "a run that waited queue_timeout_s for a slot gets 503"
like "$qtime" '^(0\.9|1\.|2\.)' "after about 1 s ($qtime s)"
wait $slow
is "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["stdout"])' "$http_tmp/slow.out")" "slow done" "the running script finished normally"
run_json '{"script": "print(1)"}'
is "$status" 200 "and the slot is free again"
http_stop

# A waiting request whose client gives up leaves the queue at once, so that
# one somebody waits for gets the place (and the slot after the run).
http_start max_runs=1 queue_size=1 queue_timeout_s=20
start_slow 2
curl -s -o /dev/null --max-time 0.4 -H 'Content-Type: application/json' --data-binary '{"script": "print(1)"}' "$base/api/run"
sleep 0.4
run_json '{"script": "print(\"after a client left\")"}'
is "$status/$(jq_ 'j["stdout"]')" "200/after a client left" "a waiting request whose client hung up gave its place in the queue back"
wait $slow
like "$(grep -c 'status=499' "$fcgi_log")" '^[1-9]' "and its log line says 499, client gone"

# ---- kill -9 of the worker that runs a request
curl -s -o "$http_tmp/victim.out" -w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary '{"script": "import time; time.sleep(5)"}' "$base/api/run" >"$http_tmp/victim.status" &
victim=$!
for _ in $(seq 50); do [ -n "$(busy_workers)" ] && [ -n "$(busy_sandboxes)" ] && break; sleep 0.1; done
worker=$(busy_workers | head -1)
sb=$(busy_sandboxes | head -1)
kill -9 "$worker"
wait $victim
is "$(cat "$http_tmp/victim.status")/$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"][:39])' "$http_tmp/victim.out")" \
	"502/the coderunner service is not answering" \
	"the request of a worker killed with -9 is a 502: it may have run, so it is not one to send again on its own"
sleep 0.5
ok $(kill -0 "$sb" 2>/dev/null; [ $? -ne 0 ]; echo $?) "the sandbox running it ended with it"
run_json '{"script": "print(\"after\")"}'
is "$status/$(jq_ 'j["stdout"]')" "200/after" "the next request succeeds"
ok $(kill -0 "$worker" 2>/dev/null; [ $? -ne 0 ]; echo $?) "the killed worker is gone"
want=$("$fcgi_bin" --config "$conf" --print-config | sed -n 's/^workers = //p')
for _ in $(seq 30); do [ "$(fcgi_workers | wc -l)" -ge "$want" ] && break; sleep 0.1; done
is "$(fcgi_workers | wc -l)" "$want" "the master started a new worker"
is "$(ls -A "$work_root" | grep -vcxE "sandbox.sock|uids.lock")" 0 "the dead worker's work directory was removed"
like "$(cat "$fcgi_log")" "worker $worker killed by signal 9" "and logged it"
# /run's and /mcp's 502s come in their endpoints' own shapes.
for ep in run mcp; do
	case $ep in
	run) data='{"code": "import time; time.sleep(5)"}' ;;
	mcp) data='{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "run_python", "arguments": {"script": "import time; time.sleep(5)"}}}' ;;
	esac
	curl -s -o "$http_tmp/victim.out" -w '%{http_code}' -H 'Content-Type: application/json' \
		-H 'Accept: application/json, text/event-stream' --data-binary "$data" "$base/$ep" >"$http_tmp/victim.status" &
	victim=$!
	for _ in $(seq 50); do [ -n "$(busy_workers)" ] && [ -n "$(busy_sandboxes)" ] && break; sleep 0.1; done
	kill -9 "$(busy_workers | head -1)"
	wait $victim
	is "$(cat "$http_tmp/victim.status")/$($PY -c 'import json,sys; j=json.load(open(sys.argv[1]))
print(j["detail"][:39] if sys.argv[2] == "run" else "%s %s %s" % (j["id"], j["error"]["code"], j["error"]["message"][:39]))' \
		"$http_tmp/victim.out" $ep 2>&1)" \
		"502/$([ $ep = mcp ] && echo 'None -32000 ')the coderunner service is not answering" \
		"and to /$ep, in its own shape"
	for _ in $(seq 30); do [ "$(fcgi_workers | wc -l)" -ge "$want" ] && break; sleep 0.1; done
done

# ---- leaks after all this
is "$(fd_count "$fcgi_pid")" "$master_fds" "the master holds as many fds as at the start"
leaky=0
for w in $(fcgi_workers); do
	[ "$(fd_count "$w")" -le "$worker_fds" ] || { leaky=$((leaky + 1)); diag "worker $w: $(ls -l /proc/$w/fd)"; }
done
is "$leaky" 0 "no worker holds more fds than a fresh one ($worker_fds)"

# ---- SIGHUP reloads the configuration
echo "timeout_default_s = 1" >>"$conf"
kill -HUP "$fcgi_pid"
sleep 1
run_json '{"script": "import time; time.sleep(3)"}'
is "$(jq_ 'j["exit_code"]')" 124 "after SIGHUP the new timeout_default_s is in force"
like "$(cat "$fcgi_log")" 'SIGHUP: configuration .* reloaded' "and the reload is logged"
# A reload the moment a worker has accepted a connection and waits for its
# parameters: the worker is no longer idle, and answers before it retires.
out=$($PY "$top_srcdir/tests/http/fcgi_client.py" "$sock" "$fcgi_pid" reload)
like "$out" '"stdout": "42\\n"' "a reload between a connection's accept and its parameters loses no request"
like "$out" '^end of request' "(the FastCGI request ends properly)"
out=$($PY "$top_srcdir/tests/http/fcgi_client.py" "$sock" "$fcgi_pid" silent)
like "$out" '"stdout": "42\\n"' "a reload between a connection's accept and its first byte loses no request either"
# A web server that keeps its connections open sends its next request on one.
out=$($PY "$top_srcdir/tests/http/fcgi_client.py" "$sock" "$fcgi_pid" keep)
is "$(grep -oE '"stdout": "(42|48)\\n"|^end of request' <<<"$out" | tr '\n' ' ')" \
	'"stdout": "42\n" end of request "stdout": "48\n" end of request ' \
	"two requests on a kept connection (FCGI_KEEP_CONN) are both answered, each ending properly"
echo "bogus_key = 1" >>"$conf"
kill -HUP "$fcgi_pid"
sleep 0.5
like "$(cat "$fcgi_log")" 'keeping the running configuration.*bogus_key' "a broken file on SIGHUP is refused, naming the key"
post /health '' -X GET
is "$status" 200 "and the service keeps running"
sed -i '/^bogus_key/d' "$conf"
# The runs under way and the uid locks are under the work_root it started
# with; a new one that could not hold the pool's socket ended the service.
echo "work_root = $http_tmp/afile" >>"$conf"
: >"$http_tmp/afile"
kill -HUP "$fcgi_pid"
sleep 0.5
like "$(cat "$fcgi_log")" 'keeping the running configuration: work_root cannot change without a restart' \
	"a reload that changes work_root is refused"
post /health '' -X GET
is "$status" 200 "and the service keeps running"
sed -i '/afile/d' "$conf"
# Reloads in quick succession: each replaces every worker, the last ones
# too (a guard against workers that die at once took the replacements for
# a fork storm, and left none taking requests for a second).
before=$(grep -c 'SIGHUP: configuration .* reloaded' "$fcgi_log")
for _ in $(seq 8); do kill -HUP "$fcgi_pid"; sleep 0.15; done
sleep 0.3
replaced=$(grep -o 'reloaded; replacing [0-9]* workers' "$fcgi_log" | tail -n +$((before + 1)) | awk '{print $3}' | sort -u)
like "$(wc -l <<<"$replaced")/$replaced" '^1/[1-9][0-9]*$' \
	"eight reloads 0.15 s apart each replace every worker ($(tr '\n' ' ' <<<"$replaced"))"
post /health '' -X GET
is "$status" 200 "and the service answers after them"
# A program the file names that is not there: refused as systemctl reload
# refuses it (its --check-config), not taken for every run to fail.
echo "python = /usr/bin/python3-nowhere" >>"$conf"
lines=$(wc -l <"$fcgi_log")
kill -HUP "$fcgi_pid"
for _ in $(seq 50); do tail -n +$((lines + 1)) "$fcgi_log" | grep -q 'SIGHUP' && break; sleep 0.1; done
like "$(tail -n +$((lines + 1)) "$fcgi_log" | grep 'SIGHUP')" \
	'keeping the running configuration: python: /usr/bin/python3-nowhere: No such file' \
	"a reload naming a python that is not there is refused"
run_json '{"script": "print(7)"}'
is "$status/$(jq_ 'j["stdout"]')" "200/7" "and runs go on with the running one"
sed -i '/python3-nowhere/d' "$conf"

# ---- SIGTERM lets a run in flight finish, then exits
curl -s -o "$http_tmp/drain.out" -H 'Content-Type: application/json' \
	--data-binary '{"script": "import time; time.sleep(0.8); print(\"finished\")", "timeout_s": 5}' "$base/api/run" &
drain=$!
for _ in $(seq 50); do [ -n "$(busy_workers)" ] && break; sleep 0.1; done
kill -TERM "$fcgi_pid"
t0=$(date +%s)
wait $drain
is "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["stdout"])' "$http_tmp/drain.out")" "finished" "SIGTERM lets the run in flight finish"
for _ in $(seq 50); do kill -0 "$fcgi_pid" 2>/dev/null || break; sleep 0.1; done
ok $(kill -0 "$fcgi_pid" 2>/dev/null; [ $? -ne 0 ]; echo $?) "then the master exits"
wait "$fcgi_pid"
is "$?" 0 "with status 0"
fcgi_pid=
is "$(sandboxes)" 0 "no sandbox process is left"
is "$(ls -A "$work_root" | wc -l)" 0 "no work directory is left"
# nginx still up, the service gone: nothing can have run, a 503 to retry.
post /api/run 'print(1)' -H 'Content-Type: text/plain'
is "$status/$(jq_ 'j["error"][:40]')" "503/the coderunner service cannot be reached" "with the service stopped, nginx answers 503"
like "$headers" '^Retry-After: [0-9]' "with Retry-After"
post /run '{"code": "print(1)"}' -H 'Content-Type: application/json'
is "$status/$(jq_ 'j["detail"][:40]')" "503/the coderunner service cannot be reached" "and in FastAPI's shape to /run"
like "$headers" '^Retry-After: [0-9]' "with Retry-After"
post /mcp '{"jsonrpc": "2.0", "id": 1, "method": "ping"}' -H 'Content-Type: application/json' \
	-H 'Accept: application/json, text/event-stream'
is "$status/$(jq_ '[j["jsonrpc"], j["id"], j["error"]["code"], j["error"]["message"][:40]]')" \
	'503/["2.0", null, -32000, "the coderunner service cannot be reached"]' "and as a JSON-RPC error to /mcp"
get /health
is "$status/$(jq_ 'sorted(j.items())')" \
	'503/[["reason", "the coderunner service cannot be reached (restarting, or stopped)"], ["status", "unhealthy"]]' \
	"and to /health as an unhealthy service, in its own shape"

# ---- a SIGHUP while the service starts (systemd sends one as soon as it
# has exec'd us) is a reload once it has started, not the end of it
# (Sent once its first words are logged: before main() nothing can block it.)
seen=$(grep -c 'a run may have at most' "$fcgi_log")
spawn-fcgi -n -s "$sock" -M 0600 -- "$fcgi_bin" --config "$conf" 2>>"$fcgi_log" &
fcgi_pid=$!
for _ in $(seq 500); do [ "$(grep -c 'a run may have at most' "$fcgi_log")" -gt "$seen" ] && break; sleep 0.01; done
kill -HUP "$fcgi_pid"
for _ in $(seq 100); do grep -q 'SIGHUP: configuration .* reloaded' <(tail -n 5 "$fcgi_log") && break; sleep 0.1; done
ok "$(kill -0 "$fcgi_pid" 2>/dev/null; echo $?)" "a SIGHUP at start-up leaves the service running"
post /health '' -X GET
is "$status" 200 "and it answers"
http_stop

# ---- SIGTERM with a connection waiting in the listen backlog: every worker
# busy (one in a run, one waiting on a connection nginx keeps), so none took
# it, and it waited for the last run to end. Now the master refuses it at
# once: nginx finds the socket's path gone and answers 503.
http_start max_runs=1 queue_size=0 workers=2 preload=none
$PY "$top_srcdir/tests/http/fcgi_client.py" "$sock" "$fcgi_pid" hold >"$http_tmp/hold.out" &
holder=$!
for _ in $(seq 50); do grep -q 'end of request' "$http_tmp/hold.out" && break; sleep 0.1; done
curl -s -o "$http_tmp/long.out" -H 'Content-Type: application/json' \
	--data-binary '{"script": "import time; time.sleep(8); print(\"finished\")", "timeout_s": 20}' "$base/api/run" &
long=$!
for _ in $(seq 50); do [ -n "$(busy_sandboxes)" ] && break; sleep 0.1; done
start=$(date +%s%N)
curl -s -o "$http_tmp/backlog.out" -w '%{http_code}' "$base/health" >"$http_tmp/backlog.code" &
waiting=$!
# And two that wait with it get the 503 in their endpoints' own shapes.
curl -s -o "$http_tmp/backlog-run.out" -w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary '{"code": "print(1)"}' "$base/run" >"$http_tmp/backlog-run.code" &
waiting_run=$!
curl -s -o "$http_tmp/backlog-mcp.out" -w '%{http_code}' -H 'Content-Type: application/json' \
	-H 'Accept: application/json, text/event-stream' \
	--data-binary '{"jsonrpc": "2.0", "id": 1, "method": "ping"}' "$base/mcp" >"$http_tmp/backlog-mcp.code" &
waiting_mcp=$!
sleep 0.5
kill -TERM "$fcgi_pid"
wait "$waiting" "$waiting_run" "$waiting_mcp"
is "$(cat "$http_tmp/backlog.code")/$((($(date +%s%N) - start) / 1000000000 < 4))" "503/1" \
	"a request waiting in the backlog at SIGTERM is a 503 at once, not after the runs in flight"
like "$(cat "$http_tmp/backlog.out")" '"error": "the coderunner service is stopping' "the service's own 503: nothing ran"
is "$(cat "$http_tmp/backlog-run.code")/$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["detail"][:34])' "$http_tmp/backlog-run.out")" \
	"503/the coderunner service is stopping" "to /run in FastAPI's shape"
is "$(cat "$http_tmp/backlog-mcp.code")/$($PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["id"], j["error"]["code"], j["error"]["message"][:34])' "$http_tmp/backlog-mcp.out")" \
	"503/None -32000 the coderunner service is stopping" "to /mcp as a JSON-RPC error"
wait "$long"
like "$(cat "$http_tmp/long.out")" '"stdout": "finished\\n"' "and the run in flight still finishes"
wait "$holder"
wait "$fcgi_pid"; fcgi_pid=
http_stop

# ---- connections that go quiet, one after its first record, one inside its
# body, as only a process other than nginx makes them: each held a worker
# for good, so with two of them on the two workers nothing was answered, and
# a stop waited for drain_timeout_s. Each is now dropped after fcgi_timeout_s.
http_start max_runs=1 queue_size=0 workers=2 fcgi_timeout_s=2 drain_timeout_s=30 preload=none
$PY "$top_srcdir/tests/http/fcgi_client.py" "$sock" "$fcgi_pid" quiet >"$http_tmp/quiet1.out" &
quiet1=$!
$PY "$top_srcdir/tests/http/fcgi_client.py" "$sock" "$fcgi_pid" quiet-body >"$http_tmp/quiet2.out" &
quiet2=$!
sleep 0.5
is "$(curl -s -m 20 -o /dev/null -w '%{http_code}' "$base/health")" 200 \
	"two connections gone quiet on the two workers: a request is still answered"
wait "$quiet1" "$quiet2"
like "$(cat "$http_tmp/quiet1.out")" '^no end of request' "the one quiet after its first record is closed"
like "$(cat "$http_tmp/quiet2.out")" 'the request body ended after 5 of [0-9]+ bytes' \
	"the one quiet inside its body is answered 400"
$PY "$top_srcdir/tests/http/fcgi_client.py" "$sock" "$fcgi_pid" quiet >"$http_tmp/quiet3.out" &
quiet3=$!
sleep 0.5
stop_timed
is "$((stopped_s < 10))" 1 \
	"a stop with a quiet connection open ends after fcgi_timeout_s, not drain_timeout_s"
wait "$quiet3"
http_stop

# ---- a streamed answer (/mcp's progress) that its client takes a little at a
# time: nginx passes a stream on as the client takes it, so the worker's
# writes wait on the client, each byte taken starting the socket's timeout
# anew, so that a byte taken now and then held it for good. A part not
# taken whole in fcgi_timeout_s ends the request, logged as a 499 (it was
# a 200, for an answer no one had).
http_start max_runs=1 queue_size=0 workers=2 fcgi_timeout_s=2 preload=none
$PY - "$port" >/dev/null <<'EOF_PY' &
import json, socket, sys, time
script = 'import os, time\ntime.sleep(6)\nfor i in range(2): open(f"output/f{i}.bin", "wb").write(os.urandom(3 << 20))'
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": "run_python", "arguments": {"script": script}, "_meta": {"progressToken": "t"}}}).encode()
s = socket.socket()
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
          b"Accept: application/json, text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
for _ in range(1200):
    time.sleep(0.25)
    if not s.recv(65536):
        break
EOF_PY
trickle=$!
for _ in $(seq 200); do grep -q "path=/mcp status=" "$fcgi_log" && break; sleep 0.1; done
line=$(grep "path=/mcp status=" "$fcgi_log")
like "$line" "status=499 .*client gone" "a stream its client takes slowly ends after fcgi_timeout_s, logged as a 499" ||
	diag "${line:-no log line after 20 s}"
like "$(curl -s "$base/health")" '"healthy"' "and the worker answers again"
kill "$trickle" 2>/dev/null; wait "$trickle" 2>/dev/null
# The same for any answer, read by a FastCGI client straight from the socket
# at 64 KiB a second: every write goes on within the socket's timeout, and
# the 8 MB would take two minutes.
out=$($PY "$top_srcdir/tests/http/fcgi_client.py" "$sock" "$fcgi_pid" trickle)
like "$out" '^no end of request after [0-9] s' "an answer read slower than fcgi_timeout_s allows is cut off ($out)"
like "$(grep "path=/api/run" "$fcgi_log" | tail -1)" "status=499 .*client gone" "and logged as a 499"
http_stop

# ---- a TCP listener (spawn-fcgi -p): only the web servers named in
# FCGI_WEB_SERVER_ADDRS may connect, as libfcgi's accept allowed, since any
# process that reaches the port would otherwise run scripts past nginx. The
# addresses are read as libfcgi read them (127.1 is 127.0.0.1).
fcgi_tcp=1
FCGI_WEB_SERVER_ADDRS="10.9.9.9, fe80::1,127.1" http_start max_runs=1 queue_size=0 workers=2 preload=none
run_json '{"script": "print(6 * 7)"}'
is "$status/$(jq_ 'j["stdout"]')" "200/42" \
	"over TCP, from an address FCGI_WEB_SERVER_ADDRS lists: the run is answered"
like "$($PY "$top_srcdir/tests/http/fcgi_client.py" "tcp:127.0.0.1:$fcgi_port" "$fcgi_pid" keep)" \
	'"stdout": "48\\n"' "and a FastCGI client's kept connection too"
http_stop
FCGI_WEB_SERVER_ADDRS=10.9.9.9 http_start max_runs=1 queue_size=0 workers=2 preload=none
# (nginx sees its connection closed as it connects, a 503, or once it has
# sent the request, a 502: which comes first is a matter of timing.)
get /health
like "$status" '^50[23]$' "over TCP, from an address FCGI_WEB_SERVER_ADDRS does not list: nothing is answered"
out=$($PY "$top_srcdir/tests/http/fcgi_client.py" "tcp:127.0.0.1:$fcgi_port" "$fcgi_pid" keep)
is "$(printf '%s' "$out" | grep -c '"stdout"')" 0 "nor a FastCGI client that connects directly" ||
	diag "$out"
ok "$(kill -0 "$fcgi_pid" && [ "$(pgrep -P "$fcgi_pid" -c)" -ge 2 ]; echo $?)" "and the service stays up, its workers with it"
http_stop
# A stop under load: a TCP listener has no path to take away, so
# connections keep coming. Each is refused with a 503, and the stop ends
# soon after the run in flight has: not when the load does, nor at
# drain_timeout_s.
http_start max_runs=1 queue_size=0 workers=2 drain_timeout_s=30 preload=none
curl -s -o "$http_tmp/tcp-run.out" -H 'Content-Type: application/json' \
	--data-binary '{"script": "import time; time.sleep(2); print(\"finished\")"}' "$base/api/run" &
tcp_run=$!
for _ in $(seq 50); do [ -n "$(busy_sandboxes)" ] && break; sleep 0.1; done
$PY "$top_srcdir/tests/http/fcgi_client.py" "tcp:127.0.0.1:$fcgi_port" "$fcgi_pid" flood >"$http_tmp/flood.out" &
flood=$!
sleep 0.5
stop_timed
ok "$([ "$stopped_s" -lt 8 ]; echo $?)" \
	"a stop on a TCP listener under a flood of connections ends after its run ($stopped_s s), not with the flood (12 s) nor at drain_timeout_s (30 s)"
wait "$tcp_run" "$flood"
like "$(cat "$http_tmp/tcp-run.out")" '"stdout": "finished\\n"' "the run in flight finished"
like "$(cat "$http_tmp/flood.out")" '(^| )503-stopping:[1-9]' \
	"the connections of the flood that came in the stop were answered 503 by the master ($(cat "$http_tmp/flood.out"))"
http_stop
fcgi_tcp=
log_clean
done_testing
