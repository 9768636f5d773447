#!/bin/bash
# warm.sh — warm runs through nginx: the template starts with the service,
# runs start from it once it is warm and cold until then or while it is gone,
# and it can die under load, be reloaded or fail to start without one run
# failing.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/http/lib.sh"

starts() { curl -s "$base/metrics" | sed -n "s/^coderunner_run_starts_total{start=\"$1\"} //p"; }
template_pid() { pgrep -P "$fcgi_pid" -x coderunner-temp | head -1; }
is_warm() { curl -s "$base/" | grep -q '"warm": true'; }
PANDAS=$(json_with script 'import pandas as pd, numpy as np
df = pd.DataFrame({"k": np.arange(1000) % 7, "v": np.arange(1000)})
print(df.groupby("k").v.sum().to_json())')
# What a script sees of its standard streams; Python sets most of it as it
# builds them, in a warm run when the template started.
STDIO=$(json_with script 'import sys
print([(f.mode, f.encoding, f.errors, f.line_buffering, f.write_through, f.isatty(), f.seekable(),
        f.buffer.seekable()) for f in (sys.stdin, sys.stdout, sys.stderr)])' '{"stdin": "x"}')
# A module of the run's own named as one the template imported (json) is the
# run's, as sys.path[0] makes it in a cold run; and __builtins__ is the module.
# The script writes it itself, so that the service cannot see it coming (see
# SHADOW), nor the one in a directory it puts on sys.path.
OWN=$($PY -c 'import json; print(json.dumps({"entry_point": "main.py", "files": {
    "main.py": "import sys\nsys.path.insert(0, \"lib\")\nopen(\"json.py\", \"w\").write(\"X = 0\")\nimport json, csv\n"
               "print(json.X, json.__file__, csv.X, type(__builtins__).__name__, __builtins__.len([1]))",
    "lib/csv.py": "X = \"mine\""}}))')
# A numpy.py beside a script that imports pandas: a cold run imports pandas
# against it, and so must a warm one, not put back the template's pandas
# with the template's numpy.
SHADOW=$($PY -c 'import json; print(json.dumps({"entry_point": "main.py", "files": {
    "main.py": "import pandas, numpy\nprint(numpy.X, pandas.__name__)", "numpy.py": "X = \"mine\""}}))')
# A directory named numpy.py is no module: a cold run imports the installed
# numpy, and so must a warm one.
DIRNAMED=$($PY -c 'import json; print(json.dumps({"entry_point": "main.py", "files": {
    "main.py": "import pandas, numpy\nprint(numpy.__file__, numpy.ndarray is pandas.DataFrame([1]).values.__class__)",
    "numpy.py/x.txt": "x"}}))')
# What the template's imports keep of where they ran: the host name in
# platform's uname() cache (Debian's pandas fills it as it is imported), and
# the native id of threading's main thread.
HOST=$(json_with script 'import platform, threading, pandas
print(platform.node(), platform.uname().node, threading.main_thread().native_id, threading.get_native_id())')
SLOW=$(json_with script 'import time, pandas
time.sleep(2)
print("slow done")')

# Run uids of this test's own, outside the default range: a run of another
# coderunner on the machine (a test beside this one) is not one of ours.
FIRST=2000500000
LAST=2000500999
http_start health_interval_s=0 "run_uids = $FIRST-$LAST"
get /
is "$(jq_ 'j["capabilities"]["sandbox"]["warm"], j["capabilities"]["sandbox"]["preload"]')" \
	'[true, ["numpy", "pandas", "matplotlib.pyplot"]]' "GET / says runs are warm, and what is pre-imported"
like "$(cat "$fcgi_log")" "template [0-9]+: warm; runs start from it" "the log says when the template is warm"
warm0=$(starts warm)
run_json "$PANDAS"
is "$status/$(jq_ 'j["exit_code"]')" "200/0" "a pandas script runs warm"
like "$(jq_ 'j["stdout"]')" '^\{"0":' "and answers"
is "$(( $(starts warm) - warm0 ))" 1 "counted as a warm start"
diag "a warm pandas run took $(jq_ 'j["duration_ms"]') ms in its sandbox"
run_json "$STDIO"
warm_stdio=$(jq_ 'j["stdout"]')
warm0=$(starts warm)
run_json "$OWN"
warm_own="$status/$(jq_ 'j["stdout"]')"
is "$(( $(starts warm) - warm0 ))" 1 "a run that makes its own json.py itself starts warm"
run_json "$DIRNAMED"
warm_dirnamed="$status/$(jq_ '[j["exit_code"], j["stdout"], j["stderr"].strip().splitlines()[-1:]]')"
run_json "$SHADOW"
warm_shadow="$status/$(jq_ '[j["exit_code"], j["stdout"], j["stderr"].strip().splitlines()[-1:]]')"
run_json "$HOST"
warm_host="$status/$(jq_ 'j["stdout"]')"
rss=$(curl -s "$base/metrics" | sed -n 's/^coderunner_template_resident_bytes //p')
[ "${rss:-0}" -gt $((20 << 20)) ]; ok $? "/metrics reports the template's resident memory ($((rss >> 20)) MB)"
# A warm run maps the template's pages from its start; its memory peak is
# its own (memory.peak, or without a cgroup what its resident set grew by).
run_json '{"script": "x = bytearray(40 << 20)"}'
peak=$(jq_ 'int(j["memory_peak_mb"])')
[ "$peak" -ge 40 ] && [ "$peak" -lt $((40 + (rss >> 21))) ]; ok $? \
	"a warm run of 40 MB reports a memory peak of its own: $peak MB, not counting the template's $((rss >> 20))"

# Every dialect, every mode of /api/run and the health check run warm.
warm0=$(starts warm)
post /run '{"code": "import numpy; print(numpy.arange(3).sum())"}' -H 'Content-Type: application/json'
is "$status/$(jq_ '[j["status"], j["stdout"]]')" '200/["success", "3\n"]' "POST /run runs warm"
post /execute '{"script": "import pandas\ndef main():\n    return int(pandas.Series([1, 2]).sum())"}' -H 'Content-Type: application/json'
is "$status/$(jq_ 'j["result"]')" "200/3" "POST /execute runs warm"
run_json '{"files": {"main.py": "import sys, helper\nprint(helper.X, sys.stdin.read(), open(\"data.txt\").read())", "helper.py": "X = 42", "data.txt": "d"}, "entry_point": "main.py", "stdin": "in"}'
is "$status/$(jq_ 'j["stdout"].strip()')" "200/42 in d" "files mode with stdin runs warm"
run_json '{"script": "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.savefig(\"output/chart.png\")\nprint(open(\"input/note\").read())", "context": {"note": "ctx"}}'
is "$status/$(jq_ 'j["stdout"].strip()') $(jq_ 'j["artifacts"]["chart.png"]["content"][:8]')" "200/ctx iVBORw0K" \
	"a matplotlib chart with context runs warm, and its PNG comes back"
is "$(( $(starts warm) - warm0 ))" 4 "each of them was a warm start"
# The health check is no one's run and counts as no start: warm, it takes
# one of the template's waiting sandboxes, as a run does (a cold one would
# start its own).
for _ in $(seq 100); do [ "$(pool_sandboxes | wc -l)" -ge 2 ] && break; sleep 0.1; done
waiting=$(pool_sandboxes)
still() { comm -12 <(echo "$waiting" | sort) <(pool_sandboxes | sort) | wc -l; }
get /health
for _ in $(seq 50); do [ "$(still)" -lt "$(echo "$waiting" | wc -l)" ] && break; sleep 0.1; done
is "$status/$(still)" "200/$(( $(echo "$waiting" | wc -l) - 1 ))" \
	"and so does the health check: one of the template's waiting sandboxes took it"

# The template dies under load: the runs in it finish, the runs after it go
# cold until a new one is warm, and none fails.
old=$(template_pid)
pids=
for i in 1 2; do
	printf '%s' "$SLOW" >"$http_tmp/slow.json"
	curl -s -o "$http_tmp/slow$i.out" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "@$http_tmp/slow.json" "$base/api/run" >"$http_tmp/slow$i.status" &
	pids="$pids $!"
done
sleep 0.7
kill -9 "$old"
cold0=$(starts cold)
run_json '{"script": "print(\"meanwhile\")"}'
is "$status/$(jq_ 'j["stdout"].strip()')" "200/meanwhile" "with the template killed, a run still succeeds"
is "$(( $(starts cold) - cold0 ))" 1 "cold"
wait $pids
for i in 1 2; do
	is "$(cat "$http_tmp/slow$i.status") $($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["stdout"].strip())' "$http_tmp/slow$i.out")" \
		"200 slow done" "run $i, under way in a sandbox of the killed template, finishes"
done
for _ in $(seq 300); do is_warm && break; sleep 0.1; done
is_warm; ok $? "a new template is started and is warm again"
ok $([ "$(template_pid)" != "$old" ]; echo $?) "a new process"
like "$(cat "$fcgi_log")" "template $old ended \\(signal 9\\); runs start cold" "the log says runs went cold meanwhile"
warm0=$(starts warm)
run_json "$PANDAS"
is "$status/$(( $(starts warm) - warm0 ))" "200/1" "and runs start from it"

# The memory a run asks for is its own, as in a cold run: without a cgroup
# its RLIMIT_AS comes on top of the 200 MB of address space the template left.
warm0=$(starts warm)
run_json "$(json_with script 'print(len(bytearray(200 << 20)))' '{"memory_mb": 300}')"
is "$status/$(jq_ 'j["exit_code"], j["stdout"]')" '200/[0, "209715200\n"]' "a warm run has 200 MB of a 300 MB limit"
run_json "$(json_with script 'print(len(bytearray(400 << 20)))' '{"memory_mb": 300}')"
is "$status/$(jq_ 'j["exit_code"] != 0')/$(( $(starts warm) - warm0 ))" "200/true/2" "but not 400, and both ran warm"

# A client that hangs up: its warm run is stopped, and the sandbox with it.
curl -s -m 2 -o /dev/null -H 'Content-Type: application/json' --data-binary \
	'{"script": "import time\ntime.sleep(100)", "timeout": 120}' "$base/api/run"
for _ in $(seq 100); do grep -q "status=499.*client gone" "$fcgi_log" && break; sleep 0.1; done
like "$(grep "status=499" "$fcgi_log" | tail -1)" "client gone" "a warm run whose client hung up is stopped, and logged as a 499"
sleeping() { ps -e -o uid=,wchan:32= | awk -v a=$FIRST -v b=$LAST '$1 >= a && $1 <= b && /nanosleep/' | wc -l; }
for _ in $(seq 100); do [ "$(sleeping)" = 0 ] && break; sleep 0.1; done
is "$(sleeping)" 0 "and its script is gone"
is "$(grep -c 'coderunner-sandbox: .*hung up\|cannot write the report' "$fcgi_log")" 0 \
	"the sandbox wrote no line of its own, without the request's id, to the service's log"

# A reload: a new template, the old one retires once its runs are done.
old=$(template_pid)
printf '%s' "$SLOW" >"$http_tmp/slow.json"
curl -s -o "$http_tmp/slow.out" -H 'Content-Type: application/json' --data-binary "@$http_tmp/slow.json" "$base/api/run" &
slow=$!
sleep 0.7
kill -HUP "$fcgi_pid"
wait $slow
like "$(cat "$http_tmp/slow.out")" '"stdout": "slow done\\n"' "a run under way through a reload finishes"
for _ in $(seq 300); do is_warm && [ "$(template_pid)" != "$old" ] && ! kill -0 "$old" 2>/dev/null && break; sleep 0.1; done
ok $(kill -0 "$old" 2>/dev/null; [ $? -ne 0 ]; echo $?) "the old template has retired"
is_warm; ok $? "and a new one is warm"

# A reload to preload = none: no template, and the memory set aside for one
# goes back to the runs.
per_run() { curl -s "$base/" | $PY -c 'import json, sys; print(json.load(sys.stdin)["capabilities"]["sandbox"]["memory_per_run_mb"])'; }
with_template=$(per_run)
echo "preload = none" >>"$conf"
kill -HUP "$fcgi_pid"
for _ in $(seq 100); do [ "$(per_run)" != "$with_template" ] && break; sleep 0.1; done
is "$(( $(per_run) - with_template ))" 128 "a reload that ends the template gives its memory reserve back to the runs"
is_warm; ok $(( ! $? )) "and runs are cold"
http_stop
is "$(pgrep -f "$top_builddir/coderunner-template" | wc -l)" 0 "stopping the service stops the template and its sandboxes"
log_clean

# SIGHUP retires a sandbox that waits for a run: the master's and the
# template's on a reload, sent by what it knows of the claims, which lags.
# A sandbox that has taken its run is no longer retired by it. Sent to every
# sandbox, pre-started by the master and forked from the template.
for pool in preload=none ""; do
	http_start prestarted=2 $pool
	curl -s -o "$http_tmp/slow.out" -H 'Content-Type: application/json' \
		--data-binary '{"script": "import time\ntime.sleep(2)\nprint(\"slow done\")"}' "$base/api/run" &
	slow=$!
	sleep 1
	# Each supervisor has its init as a child (the template's zygote has none).
	for p in $(pool_sandboxes); do [ -n "$(pgrep -P "$p")" ] && kill -HUP "$p"; done
	wait $slow
	like "$(cat "$http_tmp/slow.out")" '"stdout": "slow done\\n"' \
		"${pool:-warm}: a run under way is not ended by the SIGHUP that retires waiting sandboxes"
	run_json '{"script": "print(1)"}'
	is "$status/$(jq_ 'j["stdout"]')" "200/1" "${pool:-warm}: and the retired ones are replaced"
	http_stop
done
log_clean

# A run still queued on the pool's socket when the template dies (the
# template stopped, so that its one sandbox, taken by a slow run, is not
# replaced) starts cold rather than wait for a template that, its binary
# gone, will not come back; the slow run finishes in its sandbox. Once with
# a request that fits the socket's buffer, once with a 1 MB stdin that is
# still being sent when the template dies.
mkdir -p "$http_tmp/bin"
$PY -c 'import json; print(json.dumps({"script": "import sys; print(\"queued\", len(sys.stdin.read()))", "stdin": "x" * 1000000}))' \
	>"$http_tmp/queued-big.json"
printf '%s' '{"script": "import sys; print(\"queued\", len(sys.stdin.read()))"}' >"$http_tmp/queued-small.json"
for size in small big; do
	cp "$top_builddir/coderunner-template" "$http_tmp/bin/"
	http_start prestarted=1 "template = $http_tmp/bin/coderunner-template"
	tpl=$(template_pid)
	kill -STOP "$tpl"
	curl -s -o "$http_tmp/slow.out" -H 'Content-Type: application/json' \
		--data-binary '{"script": "import time\ntime.sleep(3)\nprint(\"slow done\")"}' "$base/api/run" &
	slow=$!
	for _ in $(seq 50); do [ -n "$(busy_sandboxes)" ] && break; sleep 0.1; done
	cold0=$(starts cold)
	said0=$(grep -c "template gone before a sandbox took a run: it starts cold" "$fcgi_log")
	curl -s -o "$http_tmp/queued.out" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "@$http_tmp/queued-$size.json" "$base/api/run" >"$http_tmp/queued.status" &
	queued=$!
	# Killed once the run is queued: a connection waits on the pool's socket.
	for _ in $(seq 100); do
		[ "$(ss -xlH | awk -v p="$work_root/sandbox.sock" 'index($5, p) == 1 { print $3 }')" = 1 ] && break
		sleep 0.1
	done
	rm "$http_tmp/bin/coderunner-template"
	kill -9 "$tpl"
	wait $queued
	want=0; [ $size = big ] && want=1000000
	is "$(cat "$http_tmp/queued.status") $($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["stdout"].strip())' "$http_tmp/queued.out" 2>&1 | tail -1)" \
		"200 queued $want" "$size request: a run queued for a template that dies starts cold, not after a template that never comes"
	is "$(( $(starts cold) - cold0 ))" 1 "$size request: (counted as a cold start)"
	is "$(( $(grep -c "template gone before a sandbox took a run: it starts cold" "$fcgi_log") - said0 ))" 1 \
		"$size request: and the log says so"
	wait $slow
	like "$(cat "$http_tmp/slow.out")" '"stdout": "slow done\\n"' "$size request: the run the dead template's sandbox had taken finishes"
	http_stop
	log_clean
done

# A template that lives but is stuck (stopped here) replaces no sandbox: once
# its waiting one is taken, the next run starts cold after a short wait,
# rather than fail when the claim's 30 s run out; and the template is
# killed and replaced, so that no run after it waits so again.
http_start prestarted=1
tpl=$(template_pid)
kill -STOP "$tpl"
run_json '{"script": "print(1)"}'
is "$status/$(jq_ 'j["stdout"]')" "200/1" "with the template stopped, a run is answered (by its waiting sandbox, if one was ready)"
cold0=$(starts cold)
t0=$(date +%s)
run_json '{"script": "print(2)"}'
is "$status/$(jq_ 'j["stdout"]')" "200/2" "and the next run, which no sandbox of the stopped template takes, succeeds"
took=$(( $(date +%s) - t0 ))
[ "$took" -lt 10 ]; ok $? "cold, after a short wait ($took s)"
is "$(( $(starts cold) - cold0 ))" 1 "(counted as a cold start)"
like "$(cat "$fcgi_log")" "the template's sandboxes took no run in time \\(is it stuck\\?\\): it starts cold, and the template is to be killed" \
	"and the log says why"
for _ in $(seq 50); do grep -q "template $tpl ended" "$fcgi_log" && break; sleep 0.1; done
like "$(cat "$fcgi_log")" "template $tpl took no run in time: killed, to be replaced" "the stuck template is killed"
like "$(cat "$fcgi_log")" "template $tpl ended \\(signal 9\\)" "(and reaped)"
for i in 3 4 5; do
	run_json "{\"script\": \"print($i)\"}"
	is "$status/$(jq_ 'j["stdout"]')" "200/$i" "a run while it is replaced is answered"
done
is "$(grep -c "is it stuck" "$fcgi_log")" 1 "without waiting for a sandbox that does not come"
for _ in $(seq 600); do is_warm && break; sleep 0.1; done
new=$(template_pid)
ok "$(is_warm && [ -n "$new" ] && [ "$new" != "$tpl" ]; echo $?)" "another template is warm ($tpl, then ${new:-none})"
warm0=$(starts warm)
run_json "$PANDAS"
is "$status/$(jq_ 'j["exit_code"]')/$(( $(starts warm) - warm0 ))" "200/0/1" "and runs start from it"
http_stop
log_clean

# A stop does not wait for a stuck template past drain_timeout_s.
http_start prestarted=1 drain_timeout_s=2
tpl=$(template_pid)
kill -STOP "$tpl"
kill -TERM "$fcgi_pid"
ended() { [ ! -e "/proc/$1" ] || grep -q '^State:.Z' "/proc/$1/status"; }	# (the master: our zombie)
for _ in $(seq 100); do ended "$fcgi_pid" && break; sleep 0.1; done
ended "$fcgi_pid" && ended "$tpl"
ok $? "a stop ends the stopped template once drain_timeout_s has passed, and ends"
kill -CONT "$tpl" 2>/dev/null	# (or the stop would wait for it)
http_stop
log_clean

# A template that cannot start: runs start cold, and the log says why.
warm_wait=0 http_start "template = /bin/false"
for _ in $(seq 50); do grep -q "ended (status 1)" "$fcgi_log" && break; sleep 0.1; done
like "$(cat "$fcgi_log")" "template [0-9]+ ended \\(status 1\\); runs start cold" "a template that cannot start is logged"
run_json "$PANDAS"
is "$status/$(jq_ 'j["exit_code"]')" "200/0" "and runs start cold"
get /
is "$(jq_ 'j["capabilities"]["sandbox"]["warm"]')" "false" "GET / says runs are not warm"
run_json "$STDIO"
is "$warm_stdio" "$(jq_ 'j["stdout"]')" "a warm run's standard streams are a cold run's: mode, encoding, buffering, not seekable"
run_json "$OWN"
is "$warm_own" "$status/$(jq_ 'j["stdout"]')" \
	"a warm run's own json.py and lib/csv.py are its json and csv, as a cold run's, and its __builtins__ the module ($warm_own)"
run_json "$SHADOW"
is "$warm_shadow" "$status/$(jq_ '[j["exit_code"], j["stdout"], j["stderr"].strip().splitlines()[-1:]]')" \
	"a pandas import beside a numpy.py of the run's is a cold run's ($warm_shadow)"
run_json "$DIRNAMED"
is "$warm_dirnamed" "$status/$(jq_ '[j["exit_code"], j["stdout"], j["stderr"].strip().splitlines()[-1:]]')" \
	"beside a directory named numpy.py, a warm run's numpy is a cold run's ($warm_dirnamed)"
run_json "$HOST"
is "$warm_host" "$status/$(jq_ 'j["stdout"]')" \
	"a warm run's host name (platform's cache too) and main thread's native id are a cold run's, not the template's"
http_stop

# A preload list the template cannot import: runs are cold, and GET / names
# nothing as pre-imported (it named the list, as if imported).
warm_wait=0 http_start "preload = numpy, no_such_module_here"
for _ in $(seq 150); do grep -q 'cannot import the preload list' "$fcgi_log" && break; sleep 0.1; done
get /
is "$(jq_ 'j["capabilities"]["sandbox"]["warm"], j["capabilities"]["sandbox"]["preload"]')" '[false, []]' \
	"a preload list that cannot be imported: GET / says runs are cold, and names nothing pre-imported"
http_stop

# One that cannot even be run is tried again after 10 s, not on every turn
# of the master's loop.
warm_wait=0 http_start "template = /nonexistent/coderunner-template"
run_json '{"script": "print(1)"}'
is "$status/$(jq_ 'j["stdout"]')" "200/1" "a template that cannot be run: runs start cold"
sleep 3
is "$(grep -c "cannot run /nonexistent/coderunner-template: No such file or directory; runs start cold" "$fcgi_log")" 1 \
	"it is logged, and not tried again within 3 s"
http_stop

done_testing
