#!/bin/bash
# POST /run, PyRunner's dialect, through nginx, rule by rule.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap.sh"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/http/lib.sh"
http_start

run() { post /run "$1" -H 'Content-Type: application/json'; }
run_code() { run "$(json_with code "$1" "${2:-{\}}")"; }

# ---- PyRunner's own example
run '{"code": "print(\"Hello, PyRunner!\")"}'
is "$status" 200 "PyRunner's example answers 200"
is "$(jq_ 'j["status"], j["stdout"], j["stderr"], j["error"]')" '["success", "Hello, PyRunner!\n", "", null]' \
	"status success, its stdout, empty stderr, error null"
is "$(jq_ 'sorted(j)')" '["error", "execution_time", "memory_used", "status", "stderr", "stdout"]' \
	"the response has exactly PyRunner's fields"
is "$(jq_ 'type(j["execution_time"]).__name__, type(j["memory_used"]).__name__')" '["float", "float"]' \
	"execution_time and memory_used are floats"
# Milliseconds are what the sandbox measures: a print can take less than one.
ok "$(jq_ '0 if 0 <= j["execution_time"] < 5 and 1 < j["memory_used"] < 512 else 1')" \
	"measured: $(jq_ 'j["execution_time"]') s, $(jq_ 'j["memory_used"]') MB"
like "$headers" '^X-Request-Id: [0-9a-f]{32}' "it carries nginx's request id"

# ---- errors: the exception and its line, from the runner, not from stderr
run '{"code": "print(undefined)"}'
is "$status/$(jq_ 'j["status"]')/$(jq_ 'j["error"]')" "200/error/NameError on line 1" "NameError on line 1"
like "$(jq_ 'j["stderr"]')" "NameError: name 'undefined' is not defined" "with Python's traceback in stderr"
unlike "$(jq_ 'j["stderr"]')" '<string>|runner' "without a frame of the runner"
run_code $'import sys\nprint("Traceback (most recent call last):\\nZeroDivisionError on line 9", file=sys.stderr)\n{}["missing"]'
is "$(jq_ 'j["error"]')" "KeyError on line 3" "what a script writes on stderr cannot change error"
run_code $'import sys\nprint("NameError on line 1", file=sys.stderr)'
is "$(jq_ 'j["status"], j["error"]')" '["success", null]' "nor turn a success into an error"
run_code $'def f():\n    return 1 / 0\n\nf()'
is "$(jq_ 'j["error"]')" "ZeroDivisionError on line 2" "the line is the script's last line in the traceback"
run_code $'x = 1\nif x:\nprint(x)'
is "$(jq_ 'j["status"], j["error"]')" '["error", "IndentationError on line 3"]' "a syntax error names its line"
run_code 'import sys; sys.exit(3)'
is "$(jq_ 'j["status"], j["error"]')" '["error", "exited with status 3"]' "sys.exit(3) is an error"
run_code 'import sys; print("bye"); sys.exit(0)'
is "$(jq_ 'j["status"], j["stdout"], j["error"]')" '["success", "bye\n", null]' "sys.exit(0) is a success"
run_code $'if __name__ == "__main__":\n    import pickle\n    class A: pass\n    print(len(pickle.dumps(A())) > 0)'
is "$(jq_ 'j["stdout"]')" "True" "the script runs as __main__, and pickle finds its classes"

# ---- no import allow-list: the kernel isolates instead
run_code $'import os, subprocess, socket\nprint(os.getuid() != 0, subprocess.run(["true"]).returncode)'
is "$(jq_ 'j["status"], j["stdout"]')" '["success", "True 0\n"]' "import os and subprocess work (no allow-list)"

# ---- timeout and memory
run_code 'import time; time.sleep(10)' '{"timeout": 1}'
is "$(jq_ 'j["status"]')" timeout "a script past its timeout is status timeout"
ok "$(jq_ '0 if 0.9 <= j["execution_time"] < 3 else 1')" "after about 1 s ($(jq_ 'j["execution_time"]') s)"
like "$(jq_ 'j["error"]')" 'timed out after 1 seconds' "error says so"
run_code 'x = [0]*100_000_000; print("NOT KILLED")' '{"memory_limit": 64}'
is "$(jq_ 'j["status"]')" memory_exceeded "[0]*100_000_000 with memory_limit 64 is memory_exceeded"
unlike "$(jq_ 'j["stdout"]')" 'NOT KILLED' "the script never got the memory"
run_code "class AB$(printf 'é%.0s' $(seq 60))(Exception): pass
raise AB$(printf 'é%.0s' $(seq 60))()"
like "$(jq_ 'j["status"] + " " + j["error"]')" '^error ABé{48} on line 2$' \
	"an exception's long name is cut after a whole character, not in one"
run_code 'import numpy as np
np.ones((1024, 1024, 1024))' '{"memory_limit": 256}'
is "$(jq_ 'j["status"], j["error"]')" '["memory_exceeded", "Memory limit of 256 MB exceeded"]' \
	"an 8 GiB numpy array with memory_limit 256 is memory_exceeded"
if grep -q 'limits by rlimits' "$fcgi_log"; then
	diag "no delegated cgroup v2 here: the limit is RLIMIT_AS, met as a MemoryError"
	# A warm run's RLIMIT_AS comes on top of the address space the
	# template left it, which it has at its start (less what the runner
	# and the script took since: a few MB).
	as_limit='import resource
size = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
print(resource.getrlimit(resource.RLIMIT_AS)[0] >> 20, size >> 20)'
	own() {	# what RLIMIT_AS leaves the run, in MB
		local limit size
		read -r limit size <<<"$(jq_ 'j["stdout"]')"
		curl -s "$base/" | grep -q '"warm": true' || size=0
		echo $(( limit - size ))
	}
	run_code "$as_limit"
	v=$(own); [ "$v" -ge 488 ] && [ "$v" -le 512 ]
	ok $? "memory_limit defaults to 512 MB (RLIMIT_AS leaves the run $v)"
	run_code "$as_limit" '{"memory_limit": 100}'
	v=$(own); [ "$v" -ge 76 ] && [ "$v" -le 100 ]
	ok $? "memory_limit 100 is the run's limit (RLIMIT_AS leaves it $v)"
else
	skip "under cgroup v2 the limit is memory.max, which a script cannot read" "memory_limit defaults to 512 MB"
	skip "under cgroup v2 the limit is memory.max, which a script cannot read" "memory_limit 100 is the run's limit"
fi

# ---- ranges and defaults that are accepted
for req in '{"code": "print(1)", "timeout": 1}' '{"code": "print(1)", "timeout": 300}' \
	'{"code": "print(1)", "timeout": "30"}' '{"code": "print(1)", "timeout": 30.0}' \
	'{"code": "print(1)", "memory_limit": 64}' '{"code": "print(1)", "memory_limit": 2048}' \
	'{"code": "pass"}'; do
	run "$req"
	is "$status/$(jq_ 'j["status"]')" "200/success" "accepted: $req"
done
$PY -c 'import json; print(json.dumps({"code": "#" * (1024 * 1024 - 1) + "\n"}))' >"$http_tmp/big.json"
run "$(cat "$http_tmp/big.json")"
is "$status/$(jq_ 'j["status"]')" "200/success" "code of exactly 1 MiB is accepted"

# ---- 422: FastAPI's detail list, one entry per broken rule
check_422() {	# check_422 BODY TYPE LOC MSG-REGEX
	run "$1"
	is "$status" 422 "422 for $1"
	is "$(jq_ '[(d["type"], d["loc"]) for d in j["detail"]]')" "[[\"$2\", $3]]" "  detail names $2 at $3"
	like "$(jq_ 'j["detail"][0]["msg"]')" "$4" "  with pydantic's message"
}
check_422 '{"timeout": 5}' missing '["body", "code"]' '^Field required$'
check_422 '{"code": ""}' string_too_short '["body", "code"]' 'at least 1 character'
check_422 '{"code": " \n\t "}' value_error '["body", "code"]' 'must not be empty or only whitespace'
check_422 '{"code": 5}' string_type '["body", "code"]' 'valid string'
check_422 '{"code": null}' string_type '["body", "code"]' 'valid string'
check_422 '{"code": "print(1)", "timeout": 0}' greater_than_equal '["body", "timeout"]' 'greater than or equal to 1$'
check_422 '{"code": "print(1)", "timeout": 301}' less_than_equal '["body", "timeout"]' 'less than or equal to 300$'
check_422 '{"code": "print(1)", "timeout": 2.5}' int_from_float '["body", "timeout"]' 'fractional part'
check_422 '{"code": "print(1)", "timeout": "soon"}' int_parsing '["body", "timeout"]' 'unable to parse string'
check_422 '{"code": "print(1)", "timeout": "5\u0000x"}' int_parsing '["body", "timeout"]' 'unable to parse string'
check_422 '{"code": "print(1)", "timeout": true}' int_type '["body", "timeout"]' 'valid integer'
check_422 '{"code": "print(1)", "memory_limit": 63}' greater_than_equal '["body", "memory_limit"]' 'greater than or equal to 64$'
check_422 '{"code": "print(1)", "memory_limit": 2049}' less_than_equal '["body", "memory_limit"]' 'less than or equal to 2048$'
check_422 '{"code": "print(1)", "timeout": null}' int_type '["body", "timeout"]' 'valid integer'
check_422 '{"code": "print(1)", "memory_limit": [512]}' int_type '["body", "memory_limit"]' 'valid integer'
check_422 '{"code": "print(1)"' json_invalid '["body"]' 'JSON decode error'
check_422 '["print(1)"]' json_invalid '["body"]' 'JSON decode error'
run "$(sed 's/"#/"##/' "$http_tmp/big.json")"
is "$status/$(jq_ 'j["detail"][0]["type"]')" "422/string_too_long" "code of 1 MiB + 1 byte is a 422 string_too_long"
run '{"code": "", "timeout": 0, "memory_limit": 5000, "extra": 1}'
is "$(jq_ '[d["loc"][1] for d in j["detail"]]')" '["code", "timeout", "memory_limit"]' \
	"every broken rule is listed, in the model's field order"
run '{"code": "print(1)", "language": "python"}'
is "$status/$(jq_ 'j["status"], j["stdout"]')" '200/["success", "1\n"]' \
	"a field PyRunner's model does not name is ignored, as pydantic's default does"
get /run
is "$status" 405 "GET /run is a 405"
like "$headers" '^Allow: POST' "with Allow: POST"
# Past nginx's body limit (16 MiB, as max_body_mib) the web server answers,
# in FastAPI's shape as the service would.
head -c $((17 << 20)) /dev/zero >"$http_tmp/huge"
status=$(curl -s -o "$http_tmp/resp" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$http_tmp/huge" "$base/run")
is "$status/$(jq_ 'j["detail"]')" "413/the request body is larger than the 16 MiB limit" \
	"a body past the web server's limit is a 413 with a detail"

http_stop
is "$(ls -A "$work_root" | wc -l)" 0 "no work directory is left behind"
log_clean
done_testing
