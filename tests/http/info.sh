#!/bin/bash
# GET /, GET /health and /api/health, GET /metrics through nginx: what the
# service says about itself, a sandbox self-check that can fail, counters
# that move by exactly the requests made and survive a worker's death, and
# /metrics for loopback only.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap.sh"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/http/lib.sh"

# metrics: the /metrics text as "name{labels} value" lines, sorted
metrics() { curl -s "$base/metrics" | grep -v '^#' | sort; }
# delta BEFORE AFTER: the series that changed, as "series +N", sorted
delta() {
	$PY - "$1" "$2" <<'PY'
import sys
def parse(text):
    return {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.strip()}
a, b = parse(sys.argv[1]), parse(sys.argv[2])
for k in sorted(set(a) | set(b)):
    if k.endswith("_sum") or "duration_seconds_bucket" in k or "wait_seconds" in k:
        continue    # times: checked apart
    d = b.get(k, 0) - a.get(k, 0)
    if d:
        print("%s %+g" % (k, d))
PY
}

http_start health_interval_s=2 execute_timeout_s=1
# Where the sandbox will not hold CAP_SYS_RESOURCE (root: the bounding set),
# a script's OOM score of 1000 is no floor: the log says so at start-up.
adj=$(cat /proc/self/oom_score_adj)
if (( 0x$(awk '$1 == "CapBnd:" { print $2 }' /proc/self/status) >> 24 & 1 )) || [ "$adj" -ge 1000 ]; then
	unlike "$(cat "$fcgi_log")" "may lower its OOM score" "the sandbox holds CAP_SYS_RESOURCE: no word of the OOM score"
else
	like "$(cat "$fcgi_log")" "warning: the sandbox has no CAP_SYS_RESOURCE, so a script may lower its OOM score from 1000 to this service's $adj " \
		"without CAP_SYS_RESOURCE for the sandbox, the log says a script may lower its OOM score"
fi

# ---- GET /
get /
is "$status" 200 "GET / answers 200"
is "$(jq_ 'j["service"], j["status"], sorted(j["capabilities"])')" \
	'["coderunner", "healthy", ["dialects", "libraries", "max_memory_mb", "max_timeout", "packages", "sandbox"]]' \
	"service, status and PyRunner's capabilities"
like "$(jq_ 'j["version"]')" '^[0-9]+\.[0-9]+' "a version"
is "$(jq_ 'j["capabilities"]["max_timeout"], j["capabilities"]["max_memory_mb"]')" '[300, 2048]' \
	"max_timeout and max_memory_mb are POST /run's bounds"
is "$(jq_ '[d["endpoint"] for d in j["capabilities"]["dialects"]]')" '["POST /api/run", "POST /run", "POST /execute"]' \
	"dialects lists every way to run a script"
is "$(jq_ 'j["capabilities"]["sandbox"]["seccomp"], j["capabilities"]["sandbox"]["capabilities"]')" '[true, []]' \
	"the sandbox: seccomp, no capabilities"
limits=rlimit; grep -q 'limits by cgroup v2' "$fcgi_log" && limits=cgroup2
is "$(jq_ 'j["capabilities"]["sandbox"]["memory_limit"]')" "$limits" "memory limits by $limits, as the service said at start-up"
listed=$(jq_ 'j["capabilities"]["libraries"]')
supported='["numpy", "pandas", "scipy", "sklearn", "matplotlib", "seaborn", "sympy", "requests", "httpx", "bs4", "yaml", "toml", "dateutil", "tqdm", "PIL"]'
run_json "$(json_with script "import importlib.util, json; print(json.dumps([m for m in $supported if importlib.util.find_spec(m)]))")"
is "$listed" "$(jq_ 'j["stdout"].strip()')" "libraries are exactly the supported libraries a script can import in the sandbox"
like "$listed" '"numpy"' "numpy among them"

# ---- GET /health and /api/health
get /health
is "$status/$body" '200/{"status": "healthy"}' "GET /health: 200 healthy"
like "$headers" '^[Cc]ontent-[Tt]ype: application/json' "as JSON"
get /api/health
is "$status/$body" '200/OK' "GET /api/health: 200 and the text OK, as CodeRunner answers"
like "$headers" '^[Cc]ontent-[Tt]ype: text/plain' "as text"
post /health ''
is "$status" 405 "POST /health is a 405"

# ---- /metrics moves by exactly the requests made
m1=$(metrics)
post /run '{"code": "print(1)"}' -H 'Content-Type: application/json'
post /run '{"code": "print(2)"}' -H 'Content-Type: application/json'
post /run '{"code": 3}' -H 'Content-Type: application/json'
post /execute '{"script": "def main():\n    return 1"}' -H 'Content-Type: application/json'
post /execute '{"script": "def main():\n    raise ValueError(1)"}' -H 'Content-Type: application/json'
post /execute '{"script": "import time\ndef main():\n    time.sleep(5)"}' -H 'Content-Type: application/json'
run_json '{"script": "import sys; sys.exit(4)"}'
run_json '{"script": "import numpy as np\nnp.ones((1024, 1024, 1024))", "memory_mb": 256}'
get /no/such/path
m2=$(metrics)
is "$(delta "$m1" "$m2")" 'coderunner_requests_total{endpoint="/api/run",status="200"} +2
coderunner_requests_total{endpoint="/execute",status="200"} +1
coderunner_requests_total{endpoint="/execute",status="400"} +1
coderunner_requests_total{endpoint="/execute",status="408"} +1
coderunner_requests_total{endpoint="/metrics",status="200"} +1
coderunner_requests_total{endpoint="/run",status="200"} +2
coderunner_requests_total{endpoint="/run",status="422"} +1
coderunner_requests_total{endpoint="other",status="404"} +1
coderunner_run_duration_seconds_count +7
coderunner_run_starts_total{start="warm"} +7
coderunner_runs_total{outcome="error"} +2
coderunner_runs_total{outcome="ok"} +3
coderunner_runs_total{outcome="oom"} +1
coderunner_runs_total{outcome="timeout"} +1' "every counter moved by exactly the requests made (a run past its memory an oom), and nothing else did"
inf() { printf '%s\n' "$1" | sed -n 's/^coderunner_run_duration_seconds_bucket{le="+Inf"} //p'; }
is "$(( $(inf "$m2") - $(inf "$m1") ))" 7 "the histogram's +Inf bucket counts them too"
curl -s "$base/metrics" | $PY -c '
import sys
b = [float(l.split()[-1]) for l in sys.stdin if "_bucket" in l]
sys.exit(0 if b == sorted(b) and b[-1] > 0 else 1)'
ok $? "the histogram's buckets are cumulative"
like "$(printf '%s\n' "$m2" | grep '^coderunner_runs_in_flight ')" ' 0$' "no run in flight now"
get /metrics
like "$headers" '^[Cc]ontent-[Tt]ype: text/plain; version=0.0.4' "/metrics is Prometheus' text format"
like "$body" '# TYPE coderunner_run_duration_seconds histogram' "with TYPE lines"
for family in requests_total runs_total run_duration_seconds runs_in_flight queue_length queue_waits_total \
	queue_wait_seconds_total rejected_busy_total worker_restarts_total; do
	like "$body" "# TYPE coderunner_$family " "  coderunner_$family"
done

# ---- a health check is no one's run: it moves no run counter
m1=$(metrics)
sleep 2.5	# past health_interval_s: this GET /health runs a check of its own
get /health
m2=$(metrics)
is "$(delta "$m1" "$m2")" 'coderunner_requests_total{endpoint="/health",status="200"} +1
coderunner_requests_total{endpoint="/metrics",status="200"} +1' \
	"a GET /health that runs its sandbox check counts no run and no run start"

# ---- counters survive a worker's death; the restart is counted
m1=$(metrics)
victim=$(fcgi_workers | head -1)
kill -9 "$victim"
want=$("$fcgi_bin" --config "$conf" --print-config | sed -n 's/^workers = //p')
sleep 0.3
for _ in $(seq 30); do [ "$(fcgi_workers | wc -l)" -ge "$want" ] && break; sleep 0.1; done
m2=$(metrics)
is "$(delta "$m1" "$m2")" 'coderunner_requests_total{endpoint="/metrics",status="200"} +1
coderunner_worker_restarts_total +1' "kill -9 of a worker: worker_restarts +1, every other counter kept"

# ---- /metrics is for loopback only (nginx): another address gets a JSON 403
get /metrics --interface 127.0.0.2
is "$status" 403 "GET /metrics from 127.0.0.2 is refused by nginx"
like "$(jq_ 'j["error"]')" 'loopback' "with a JSON reason"
get /%6Detrics --interface 127.0.0.2
is "$status" 403 "so is an escaped /%6Detrics"
get //metrics --interface 127.0.0.2
is "$status" 403 "and //metrics"
get /metrics
is "$status" 200 "from 127.0.0.1 it answers"
get / --interface 127.0.0.2
is "$status" 200 "GET / from 127.0.0.2 is not restricted"
http_stop
log_clean

# ---- a sandbox that cannot be created: /health says so, and caches its check
# A stand-in for coderunner-sandbox --accept-fd whose set-up failed: as the
# real one does then, it waits for a run and tells it why.
cat >"$http_tmp/broken-sandbox" <<SH
#!$PY
import os, select, socket
listener = socket.socket(fileno=3)
while True:
    select.select([listener], [], [])
    try:
        client, _ = listener.accept()
        break
    except BlockingIOError:
        pass
with open("$http_tmp/sandbox-calls", "a") as f:
    f.write("called\\n")
client.sendall(b'E{"exit_code": -1, "error": "clone: Operation not permitted"}\\n')
os._exit(125)
SH
chmod 0755 "$http_tmp/broken-sandbox"
# health_interval_s: long enough for the checks below on a busy machine.
http_start "sandbox = $http_tmp/broken-sandbox" health_interval_s=5 preload=none
get /health
is "$status" 503 "a sandbox that cannot be created: GET /health is 503"
is "$(jq_ 'j["status"]')" unhealthy "status unhealthy"
like "$(jq_ 'j["reason"]')" 'clone: Operation not permitted' "with the reason ($(jq_ 'j["reason"]'))"
get /api/health
is "$status/${body%%:*}" "503/unhealthy" "GET /api/health too, as text"
calls=$(wc -l <"$http_tmp/sandbox-calls")
for _ in 1 2 3 4 5; do get /health; done
is "$(wc -l <"$http_tmp/sandbox-calls")" "$calls" "five more checks within health_interval_s create no sandbox: the answer is shared"
get /
is "$status/$(jq_ 'j["status"]')" "503/unhealthy" "GET / says unhealthy, with a 503 for probes that go by the status (PyRunner's)"
like "$(jq_ 'j["reason"]')" 'Operation not permitted' "and why"
is "$(jq_ 'j["capabilities"]["libraries"]')" '[]' "no library is listed when no sandbox can list them"
# Counted again here: on a busy machine the requests above may have taken
# past health_interval_s, and then GET / ran a check of its own.
calls=$(wc -l <"$http_tmp/sandbox-calls")
sleep 5.2
get /health
is "$(wc -l <"$http_tmp/sandbox-calls")" "$((calls + 1))" "after health_interval_s one new check runs"
post /execute '{"script": "def main():\n    return 1"}' -H 'Content-Type: application/json'
is "$status" 500 "a run then fails as an internal error (500)"
is "$(metrics | grep 'outcome="internal"')" 'coderunner_runs_total{outcome="internal"} 1' "counted as outcome internal"
http_stop
log_clean
done_testing
