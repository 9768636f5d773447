#!/bin/bash
# valgrind.sh — the long-lived process leaks nothing: coderunner-fcgi runs
# under valgrind's memcheck (master and workers; the sandbox it executes runs
# natively) while every endpoint answers successes and errors, then stops on
# SIGTERM. Any memory error, or any block definitely or indirectly lost in
# the master or a worker, fails the test.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/http/lib.sh"
trap cleanup EXIT

if ldd "$fcgi_bin" | grep -q libasan; then
	echo "1..0 # SKIP valgrind cannot run a sanitizer build"
	exit 0
fi
command -v valgrind >/dev/null || { echo "1..0 # SKIP valgrind is not installed"; exit 0; }

fcgi_wrapper=("$(command -v valgrind)" --quiet --leak-check=full --show-leak-kinds=definite,indirect
	--errors-for-leak-kinds=definite,indirect --error-exitcode=99
	--log-file="$http_tmp/valgrind.%p.log")
# Packages from a directory of wheels: an install, a cache hit, a refusal.
mkdir -p "$http_tmp/markers"
$PY "$top_srcdir/tests/http/wheels.py" "$http_tmp/wheels" "$http_tmp/markers"
start_tries=600 http_start workers=4 max_runs=2 queue_size=1 health_interval_s=0 \
	"package_find_links = $http_tmp/wheels/links" "package_cache = $http_tmp/packages"

run_json '{"script": "import os\nprint(open(\"input/a.txt\").read())\nopen(\"output/o.bin\", \"wb\").write(bytes(range(256)))", "context": {"a.txt": "hi", "b.bin": {"content": "AAEC", "encoding": "base64"}}, "timeoutt": 3}'
is "$status" 200 "JSON mode with context, artifacts and a warning"
post /api/run 'print(1)' -H 'Content-Type: text/plain'
is "$status" 200 "raw mode"
run_json '{"files": {"main.py": "import pkg.m\nprint(pkg.m.X)", "pkg/__init__.py": "", "pkg/m.py": "X = 1"}, "entry_point": "main.py"}'
is "$status" 200 "files mode"
run_json '{"script": "import sys\nsys.stdout.buffer.write(b\"\\xff\" * 2000000)"}'
is "$status" 200 "an output flood with invalid UTF-8"
run_json '{"script": "import time\ntime.sleep(5)", "timeout_s": 0.5}'
is "$(jq_ 'j["exit_code"]')" 124 "a timeout"
run_json '{"script": 1}'
is "$status" 400 "a wrong type"
run_json '{"script": "x", "context": {"../a": "x"}}'
is "$status" 400 "a bad context name"
run_json "$(printf '[%.0s' $(seq 200))"
is "$status" 400 "deep nesting"
post /run '{"code": "print(undefined)"}' -H 'Content-Type: application/json'
is "$status" 200 "POST /run"
post /run '{"code": "", "timeout": 0, "extra": 1}' -H 'Content-Type: application/json'
is "$status" 422 "POST /run with bad fields"
post /execute '{"script": "def main():\n    return {\"a\": [1, 2.5, None]}"}' -H 'Content-Type: application/json'
is "$status" 200 "POST /execute"
post /execute '{"script": "def main(x): pass"}' -H 'Content-Type: application/json'
is "$status" 400 "POST /execute with a bad main"
for i in 1 2; do
	run_json '{"script": "import greet; print(greet.VERSION)", "dependencies": ["greet==1.0", "numpy"]}'
	is "$status/$(jq_ 'j["stdout"]')" "200/1.0" "a package installed on demand (run $i)"
done
run_json '{"script": "1", "dependencies": ["nosuch-package"]}'
is "$status" 400 "a package the wheels do not have"
get /
is "$status" 200 "GET /"
get /health
is "$status" 200 "GET /health"
get /metrics
is "$status" 200 "GET /metrics"
get /nope
is "$status" 404 "an unknown path"
get /api/run
is "$status" 405 "a wrong method"

http_stop
# Errors are the "==PID==" lines; "--PID--" lines are valgrind's own notes
# (not errors of the program).
logs=$(cat "$http_tmp"/valgrind.*.log 2>/dev/null | grep '^==')
n=$(ls "$http_tmp"/valgrind.*.log 2>/dev/null | wc -l)
[ "$n" -ge 4 ]
ok $? "valgrind watched the master and its workers ($n processes)"
is "$logs" "" "no memory error and no lost block in any of them"

# The master reads api_keys_file at start and on each reload, and wipes
# what it read the keys into before freeing it.
printf '%s\n' 0123456789abcdef0123456789abcdef "sha256:$(printf %064d 0)" >"$http_tmp/keys"
{ cat "$conf"; printf 'api_keys_file = %s\n' "$http_tmp/keys"; } >"$http_tmp/keys.conf"
"${fcgi_wrapper[@]}" "$fcgi_bin" --config "$http_tmp/keys.conf" --check-config >/dev/null 2>&1
is "$?/$(cat "$http_tmp"/valgrind.*.log | grep '^==')" "0/" "reading api_keys_file: no memory error, no lost block"
done_testing
