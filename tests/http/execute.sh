#!/bin/bash
# POST /execute, the main() runners' dialect, through nginx.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap.sh"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/http/lib.sh"
http_start execute_timeout_s=2

execute() { post /execute "$(json_with script "$1")" -H 'Content-Type: application/json'; }
result() { jq_ 'j.get("result", j)'; }

# ---- the original runners' examples
post /execute '{"script": "def main():\n    return {\"message\": \"Hello from Cloud Run!\", \"value\": 42}"}' \
	-H 'Content-Type: application/json'
is "$status" 200 "the original basic example answers 200"
is "$body" '{"result": {"message": "Hello from Cloud Run!", "value": 42}, "stdout": ""}' "with result and stdout"
like "$headers" '^[Cc]ontent-[Tt]ype: application/json' "as JSON"
execute $'def main():\n    print("Starting calculation...")\n    result = sum(range(100))\n    print(f"Sum of 0-99: {result}")\n    print("Calculation complete!")\n    return {"sum": result, "count": 100}'
is "$(jq_ 'j["result"], j["stdout"]')" '[{"sum": 4950, "count": 100}, "Starting calculation...\nSum of 0-99: 4950\nCalculation complete!\n"]' \
	"the stdout capture example: result and what main() printed"

# ---- any JSON value, exactly
execute $'def main():\n    return None'
is "$body" '{"result": null, "stdout": ""}' "main() returning None is result null"
execute $'def main():\n    return [1, "two", 3.5, True, {"k": []}]'
is "$(result)" '[1, "two", 3.5, true, {"k": []}]' "a list of mixed values"
execute $'def main():\n    return "h\\u00e9llo \\U0001F600"'
is "$(jq_ 'j["result"] == "h\u00e9llo \U0001F600"')" true "a string with non-ASCII characters"
execute $'def main():\n    return 10**30'
is "$body" '{"result": 1000000000000000000000000000000, "stdout": ""}' "an integer beyond 64 bits keeps every digit"
execute $'def main():\n    return 0.1 + 0.2'
is "$body" '{"result": 0.30000000000000004, "stdout": ""}' "a float keeps every digit"

# ---- result travels on its own channel: printed text cannot forge it
execute $'import json\ndef main():\n    print(json.dumps({"result": "forged"}))\n    print("__RESULT__ {\\"forged\\": true}")\n    return 1'
is "$(jq_ 'j["result"]')" 1 "a script printing a JSON-looking last line and a result marker cannot change result"
like "$(jq_ 'j["stdout"]')" 'forged' "what it printed is in stdout"
execute $'import sys\nprint("{\\"result\\": 2}")\nsys.stdout.flush()\ndef main():\n    print("{\\"result\\": 3}", end="")\n    return None'
is "$(jq_ 'j["result"]')" null "nor can one whose output ends in a JSON object without a newline"
execute $'import os\nos.write(4, b\'{"ok": true}\\n[NaN, "\\x01"]\')\nos._exit(0)'
is "$status" 400 "a script that writes a malformed answer on fd 4 itself gets a 400"
is "$(jq_ 'sorted(j)')" '["error", "stdout"]' "and the response is still well-formed JSON"
execute $'import os\nos.write(4, b\'{"ok": true}\\n{"a": 1}\')\ndef main():\n    return 2'
is "$status/$(jq_ 'j["error"]')" "400/the answer of main() could not be read: did the script write on fd 4?" \
	"a script that writes on fd 4 before main() returns gets a 400, not a mixed answer"

# ---- what main is
execute $'x = "def main():\\n    return 1"\n# def main():\n#     return 1\n'
is "$status/$(jq_ 'j["error"]')" "400/Script must contain a 'main()' function" "def main inside a string or a comment is not a main"
execute 'print("no main here")'
is "$status/$(jq_ 'j["stdout"]')" "400/no main here" "a script without main is a 400, with what it printed"
execute 'main = 42'
like "$status/$(jq_ 'j["error"]')" '^400/main is not callable' "main that is not callable is a 400"
execute $'def main(x):\n    return x'
is "$status/$(jq_ 'j["error"]')" "400/main() must be callable without arguments, but it requires x" "main(x) with a required argument is a 400"
execute $'def main(*, key):\n    return key'
like "$status/$(jq_ 'j["error"]')" '^400/.*requires key$' "so is a required keyword-only argument"
execute $'def main(x=1, *args, **kwargs):\n    return x'
is "$status/$(result)" "200/1" "main with only optional arguments is called"
execute $'class main:\n    def __init__(self, a):\n        pass'
like "$status/$(jq_ 'j["error"]')" "^400/main\\(\\) must be callable without arguments" "a class main needing an argument is a 400"
execute $'print("at import")\nif __name__ == "__main__":\n    print("as __main__")\ndef main():\n    return __name__'
is "$(jq_ 'j["result"], j["stdout"]')" '["main", "at import\n"]' "the script is imported as the module main: its __main__ block does not run"

# ---- the 400s, each with a precise message
execute $'def main():\n    return 1\n  oops'
like "$status/$(jq_ 'j["error"]')" '^400/IndentationError: unindent does not match any outer indentation level \(line 3\)$' "a syntax error names its line"
execute $'def main():\n    print("working")\n    raise ValueError("boom")'
is "$status/$(jq_ 'j["error"]')/$(jq_ 'j["stdout"]')" "400/main() raised ValueError: boom (line 3)/working" \
	"main() raising names the exception, its message and line, and keeps stdout"
execute $'import nosuchmodule\ndef main():\n    return 1'
is "$status/$(jq_ 'j["error"]')" "400/the script raised ModuleNotFoundError: No module named 'nosuchmodule' (line 1) before main() was called" \
	"an exception at import names itself too"
execute $'import sys\nsys.exit(2)'
like "$status/$(jq_ 'j["error"]')" '^400/the script called sys.exit\(2\)' "sys.exit at import is a 400"
execute $'def main():\n    return float("nan")'
like "$status/$(jq_ 'j["error"]')" '^400/main\(\) returned a value that is not valid JSON.*NaN' "NaN is a 400"
execute $'def main():\n    return {"x": [float("inf")]}'
like "$status/$(jq_ 'j["error"]')" '^400/main\(\) returned a value that is not valid JSON.*Infinity' "Infinity is a 400"
execute $'def main():\n    return {"ok": "\\U0001f600", "bad": b"\\xff".decode("utf-8", "surrogateescape")}'
is "$status/$(jq_ 'j["error"]')" "400/main() returned a string with a lone surrogate (U+DCFF), which is no Unicode character and has no JSON form" \
	"a lone surrogate is a 400 (strict parsers refuse its escape)"
execute $'def main():\n    return ["\\U0001f600", "\\\\ud800"]'
is "$status/$(jq_ 'j["result"] == ["\U0001f600", "\\ud800"]')" '200/true' "a pair is one character, and a backslash before ud800 no escape"
execute $'def main():\n    return {1, 2}'
like "$status/$(jq_ 'j["error"]')" '^400/main\(\) returned a value that is not JSON-serialisable: Object of type set' "a set is a 400"
execute $'def main():\n    return object()'
like "$status/$(jq_ 'j["error"]')" 'not JSON-serialisable' "an object is a 400"
execute $'import os\ndef main():\n    os._exit(3)'
is "$status/$(jq_ 'j["error"]')" "400/the script ended with exit status 3 before main() returned" "os._exit in main() is a 400"
execute $'import os, signal\ndef main():\n    os.kill(os.getpid(), signal.SIGSEGV)'
is "$status/$(jq_ 'j["error"]')" "400/the script was killed by signal 11 before main() returned" "a signal is a 400"

# ---- the request
for bad in '' '{}' '{"script": null}' '{"script": 5}' '{"script": ""}' '["def main(): pass"]' 'def main(): pass' '{"script": "x"'; do
	post /execute "$bad" -H 'Content-Type: application/json'
	is "$status/$(jq_ 'sorted(j)')" '400/["error"]' "400 {\"error\"} for body: $bad"
done
post /execute '{}' -H 'Content-Type: application/json'
is "$(jq_ 'j["error"]')" "script is required: Python source that defines main()" "  naming what is missing"
$PY -c 'import json; print(json.dumps({"script": "def main():\n    return 1\n" + "#" * (50 * 1024 - 26) + "\n"}))' >"$http_tmp/max.json"
post /execute "$(cat "$http_tmp/max.json")" -H 'Content-Type: application/json'
is "$status/$(result)" "200/1" "a script of exactly 50 KiB runs"
post /execute "$(sed 's/##/###/' "$http_tmp/max.json")" -H 'Content-Type: application/json'
is "$status/$(jq_ 'j["error"]')" "413/Invalid script size: 51201 bytes; the limit is 50 KiB" "one byte more is a 413"
post /execute "$(json_with script $'def main():\n    return 1')"
is "$status/$(result)" "200/1" "a JSON body without a Content-Type still runs (curl -d sends a form type)"
get /execute
is "$status" 405 "GET /execute is a 405"

# ---- limits
t0=$(date +%s%N)
execute $'import time\ndef main():\n    print("started")\n    time.sleep(30)'
t1=$(date +%s%N)
is "$status/$(jq_ 'j["error"]')" "408/Script execution timed out (2 s limit)" "past execute_timeout_s: 408 with the original message"
is "$(jq_ 'j["stdout"]')" "started" "with what it printed before"
ok $(( (t1 - t0) / 1000000 < 6000 ? 0 : 1 )) "after about 2 s ($(( (t1 - t0) / 1000000 )) ms)"
execute $'def main():\n    x = [0] * 100_000_000\n    return len(x)'
is "$status/$(jq_ 'j["error"]')" "400/Script exceeded the memory limit (300 MB)" "an 800 MB list under the 300 MB default is a 400 naming the limit"
execute $'import numpy as np\ndef main():\n    return np.ones((1024, 1024, 1024)).size'
is "$status/$(jq_ 'j["error"]')" "400/Script exceeded the memory limit (300 MB)" "so is an 8 GiB numpy array"
# A long message is cut, not a character of it, and the line still comes.
execute $'def main():\n    raise ValueError("\u00e9" * 400)'
like "$status/$(jq_ 'j["error"]')" '^400/main\(\) raised ValueError: é{200}\.\.\. \(line 2\)$' \
	"a long exception's text is cut at 400 bytes, after a whole character, and the error still names its line"
execute $'def main():\n    x = []\n    x.append(x)\n    return x'
is "$status/$(jq_ 'j["error"]')" "400/main() returned a value that contains itself, which has no JSON form" \
	"a result that contains itself is a 400 that says so"
execute $'def main():\n    return [{"a": 1}, {1: "x", True: "y", "1": "z"}]'
is "$status/$(jq_ 'j["error"]')" "400/main() returned a dict with two keys that are both \"1\" in JSON (as 1 and '1' are): keys become strings" \
	"a dict whose keys are one string in JSON is a 400 that says so, not an object with a key twice"
execute $'def main():\n    return {1: "x", 2.5: "y", None: "z", False: 0, "a": {"b": [1, {"c": 2}]}}'
is "$status/$(result)" '200/{"1": "x", "2.5": "y", "null": "z", "false": 0, "a": {"b": [1, {"c": 2}]}}' \
	"keys that stay apart as strings are kept, in their order"
execute $'import os\ndef main():\n    return [os.getuid() != 0, len(os.listdir("/"))> 0]'
is "$status/$(result)" "200/[true, true]" "import os works: there is no allow-list, the kernel isolates"

http_stop
is "$(ls -A "$work_root" | wc -l)" 0 "no work directory is left behind"
log_clean
done_testing
