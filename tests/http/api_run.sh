#!/bin/bash
# POST /api/run through nginx + spawn-fcgi + coderunner-fcgi, rule by rule.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap.sh"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/http/lib.sh"
http_start

# ---- JSON mode, the contract's first example
run_json '{"script": "print(2 + 2)"}'
is "$status" 200 "JSON mode answers 200"
is "$(jq_ 'j["exit_code"], j["stdout"], j["artifacts"]')" '[0, "4\n", {}]' "exit_code, stdout and artifacts"
is "$(jq_ 'sorted(j)')" '["artifacts", "duration_ms", "exit_code", "memory_peak_mb", "stderr", "stderr_truncated", "stdout", "stdout_truncated"]' \
	"the response has exactly the documented fields"
like "$(jq_ 'j["duration_ms"], j["memory_peak_mb"]')" '^\[[0-9]+, [0-9.]+\]$' "duration_ms and memory_peak_mb are numbers"
like "$headers" '^[Cc]ontent-[Tt]ype: application/json' "the response is JSON"
like "$headers" '^X-Request-Id: [0-9a-f]{32}' "it carries nginx's request id"
rid=$(printf '%s' "$headers" | sed -n 's/^X-Request-Id: //p')
sleep 0.2
like "$(grep "request_id=$rid" "$fcgi_log")" "path=/api/run status=200 exit_code=0 duration_ms=[0-9]+ run_ms=[0-9]+ memory_peak_mb=[0-9.]+ request_bytes=[0-9]+ response_bytes=[0-9]+" \
	"one log line with id, endpoint, status, exit code, duration, memory and sizes"
unlike "$(cat "$fcgi_log")" 'print\(2' "the log never holds the script"

# ---- raw mode
post /api/run 'print("raw")' -H 'Content-Type: text/plain'
is "$status/$(jq_ 'j["stdout"]')" "200/raw" "raw mode with text/plain"
post /api/run 'print("bare")' -H 'Content-Type:'
is "$status/$(jq_ 'j["stdout"]')" "200/bare" "raw mode with no Content-Type at all"
post '/api/run?timeout_s=1' 'import time; time.sleep(5)' -H 'Content-Type: text/plain'
is "$status/$(jq_ 'j["exit_code"]')" "200/124" "raw mode honours ?timeout_s"
post '/api/run?timeout_s=0.0001' 'import time; time.sleep(5)' -H 'Content-Type: text/plain'
is "$status/$(jq_ 'j["exit_code"]')" "200/124" "a timeout below a millisecond is one millisecond, not an error"
for bad in 0 -1 abc '' 5%00junk 0x10 %205 inf; do
	post "/api/run?timeout_s=$bad" 'print(1)' -H 'Content-Type: text/plain'
	is "$status" 400 "raw mode with timeout_s=$bad is a 400"
done
post "/api/run?timeout_s=1e999" 'print(1)' -H 'Content-Type: text/plain'
is "$status/$(jq_ 'j["stdout"]')" "200/1" "raw mode with timeout_s=1e999, past any double, runs"
like "$(jq_ 'j["warnings"][0]')" "clamped" "clamped to timeout_max_s, as any past it"
post '/api/run?timeout_s=5&timeout=9' 'print(1)' -H 'Content-Type: text/plain'
is "$status/$(jq_ 'j["stdout"], j["warnings"]')" \
	'200/["1\n", ["the query parameter \"timeout\" is not one this endpoint takes (only timeout_s); it was ignored"]]' \
	"an unknown query parameter is named in warnings, as an unknown field of JSON mode is"
post "/api/run?$(printf 'a&%.0s' $(seq 500))" 'print(1)' -H 'Content-Type: text/plain'
is "$status/$(jq_ 'len(j["warnings"]), j["warnings"][-1]')" '200/[9, "and 492 more query parameters were ignored"]' \
	"past eight, they are counted, not each named"
post /api/run $'print("\xff")' -H 'Content-Type: text/plain'
is "$status" 400 "raw mode with invalid UTF-8 is a 400"
post /api/run 'print(1)' -H 'Content-Type: application/xml'
is "$status" 415 "another Content-Type is a 415"
is "$(jq_ 'j["exit_code"], j["stdout"], j["artifacts"], j["stderr"] == j["error"]')" '[-1, "", {}, true]' \
	"errors carry exit_code -1, empty stdout, the message in stderr, no artifacts"

# ---- exit codes
run_json '{"script": "import sys; sys.exit(3)"}'
is "$status/$(jq_ 'j["exit_code"]')" "200/3" "a script's exit status is its exit_code, still 200"
run_json '{"script": "raise ValueError(\"boom\")"}'
is "$(jq_ 'j["exit_code"]')" 1 "an exception exits 1"
like "$(jq_ 'j["stderr"]')" 'ValueError: boom' "and its traceback is in stderr"
run_json '{"script": "import time\nwhile True: time.sleep(0.05)", "timeout_s": 1}'
is "$(jq_ 'j["exit_code"]')" 124 "a timeout is 124"
like "$(jq_ 'j["stderr"]')" 'timed out: it was killed after the 1 s timeout' "with a reason in stderr that says it timed out"
run_json '{"script": "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"}'
is "$(jq_ 'j["exit_code"]')" 139 "death by signal N is 128+N"
run_json '{"script": "print(1)", "timeout_s": 1000}'
is "$status/$(jq_ 'j["exit_code"]')" "200/0" "timeout_s above 300 is clamped, not refused"
like "$(jq_ 'j["warnings"][0]')" 'clamped' "and the clamp is reported in warnings"

# ---- warnings
run_json '{"script": "print(1)", "timeout": 5}'
is "$(jq_ 'j["warnings"]')" '["unknown field \"timeout\" ignored; did you mean \"timeout_s\"?"]' \
	"an unknown field is named in warnings with a suggestion"

# ---- stdin (extension)
run_json '{"script": "import sys; print(sys.stdin.read().upper())", "stdin": "hello"}'
is "$(jq_ 'j["stdout"]')" "HELLO" "stdin is fed to the script"

# ---- context and input
run_json '{"script": "print(open(\"input/data.csv\").read()); print(open(\"input/b.bin\",\"rb\").read())", "context": {"data.csv": "a,b\n1,2", "b.bin": {"content": "AAEC/w==", "encoding": "base64"}}}'
is "$(jq_ 'j["stdout"]')" $'a,b\n1,2\nb\'\\x00\\x01\\x02\\xff\'' "context text and base64 land in ./input/"
run_json '{"script": "1", "context": {"../x": "y"}}'
is "$status" 400 "a context name with / is a 400"
run_json '{"script": "1", "context": {".hidden": "y"}}'
is "$status" 400 "a dot-leading context name is a 400"
run_json '{"script": "1", "context": {"a": {"content": "%%%", "encoding": "base64"}}}'
is "$status" 400 "bad base64 is a 400"
like "$(jq_ 'j["error"]')" 'base64' "and the error says so"
# json-c's C strings end at \u0000: what follows must not be dropped unseen.
run_json '{"script": "1", "context": {"a": {"content": "AAEC", "encoding": "base64\u0000junk"}}}'
like "$status/$(jq_ 'j["error"]')" '^400/.*unknown encoding "base64.junk"' "an encoding holding a NUL is unknown"
run_json '{"script": "1", "dependencies": ["numpy\u0000 @ https://example.invalid/x.whl"]}'
like "$status/$(jq_ 'j["error"]')" '^400/dependencies\[0\] "numpy. @ https' "a dependency holding a NUL is no package name"

# ---- files mode
run_json '{"files": {"main.py": "from pkg.util import f\nimport helper\nprint(f(), helper.X)", "pkg/__init__.py": "", "pkg/util.py": "def f(): return 42", "helper.py": "X = 7"}, "entry_point": "main.py"}'
is "$status/$(jq_ 'j["stdout"]')" "200/42 7" "files mode runs entry_point with packages and sibling imports"
run_json '{"files": {"app/run.py": "import os; print(os.path.exists(\"app/run.py\"))"}, "entry_point": "app/run.py"}'
is "$(jq_ 'j["stdout"]')" "True" "an entry_point in a subdirectory, cwd at the root"
run_json '{"files": {"main.py": "1"}, "entry_point": "main.py", "context": {"a": "b"}}'
is "$status" 400 "files with context is a 400"
run_json '{"files": {"../evil.py": "1"}, "entry_point": "../evil.py"}'
is "$status" 400 "a .. file path is a 400"
# The sandbox copies no directory 33 levels down into the run: such a
# file was staged, then missing from the run, with a 200.
run_json "$($PY -c 'import json; d = "/".join(["d"] * 33); print(json.dumps({"files": {"main.py": "print(1)", d + "/x.txt": "hi"}, "entry_point": "main.py"}))')"
like "$status/$(jq_ 'j["error"]')" '^400/file path ".*" is in 33 nested directories; at most 32' \
	"a file deeper than the sandbox copies is a 400 that says so"
run_json "$($PY -c 'import json; d = "/".join(["d"] * 32); print(json.dumps({"files": {"main.py": "import os; print(os.path.exists(%r))" % (d + "/x.txt"), d + "/x.txt": "hi"}, "entry_point": "main.py"}))')"
is "$status/$(jq_ 'j["stdout"]')" "200/True" "one 32 directories down reaches the run"
# The words CodeRunner's own clients look for.
run_json '{"script": "print(1)", "files": {"main.py": "1"}, "entry_point": "main.py"}'
like "$status/$(jq_ 'j["error"]')" '^400/Cannot use both script and files' "script with files: a 400 that says Cannot use both"
run_json '{"files": {"main.py": "1"}, "entry_point": "app.py"}'
like "$status/$(jq_ 'j["error"]')" '^400/entry_point "app.py" not found' "an entry_point missing from files: a 400 that says not found"
run_json '{"script": "import os, sys\nprint(os.environ[\"PYTHONIOENCODING\"], sys.stdout.encoding)"}'
is "$(jq_ 'j["stdout"]')" "utf-8 utf-8" "a run's environment has PYTHONIOENCODING=utf-8"

# ---- artifacts
run_json '{"script": "import os\nos.makedirs(\"output/sub/deeper\")\nopen(\"output/r.txt\",\"w\").write(\"hi\")\nopen(\"output/sub/deeper/b.bin\",\"wb\").write(bytes(range(256)))\nopen(\"output/nul.txt\",\"wb\").write(b\"a\\x00b\")"}'
is "$(jq_ 'j["artifacts"]["r.txt"]')" "hi" "a text artifact is a string"
is "$(jq_ 'j["artifacts"]["sub/deeper/b.bin"]["encoding"], len(__import__("base64").b64decode(j["artifacts"]["sub/deeper/b.bin"]["content"]))')" '["base64", 256]' \
	"a binary artifact in a nested directory is base64 under its relative path"
is "$(jq_ 'j["artifacts"]["nul.txt"]["encoding"]')" "base64" "a file with NUL is base64"
run_json '{"script": "import os\nos.symlink(\"/etc/passwd\", \"output/passwd\")\nos.mkfifo(\"output/fifo\")\nopen(\"output/ok.txt\",\"w\").write(\"ok\")"}'
is "$(jq_ 'sorted(j["artifacts"])')" '["ok.txt"]' "a symlink to a host file and a FIFO are never followed or read"
run_json '{"script": "for n in (b\"output/\\xff\", b\"output/\\xfe\", b\"output/ok\"): open(n, \"w\").write(\"x\")"}'
is "$(jq_ 'sorted(j["artifacts"]), j["artifacts_omitted"]')" '[["ok"], ["\ufffd", "\ufffd"]]' \
	"names that are not UTF-8 are left out (as one JSON key, two would be one file) and named"
run_json '{"script": "import os\nfor i in range(3): open(f\"output/f{i}.bin\",\"wb\").write(os.urandom(4*1024*1024))"}'
is "$(jq_ 'sorted(j["artifacts"]), j["artifacts_omitted"]')" '[["f0.bin", "f1.bin"], ["f2.bin"]]' \
	"artifacts beyond 10 MiB are left out and named in artifacts_omitted"
# Five sparse files of 15 MiB fit in the 64 MiB /work, but only four copies
# do: the fifth stays behind in the run, and is named all the same.
run_json '{"script": "for n in \"abcde\":\n    with open(\"output/\" + n, \"wb\") as f: f.truncate(15 << 20)\nopen(\"output/ok\", \"w\").write(\"ok\")"}'
is "$(jq_ 'sorted(j["artifacts"]), sorted(j["artifacts_omitted"])')" '[["ok"], ["a", "b", "c", "d", "e"]]' \
	"a file the sandbox did not copy out for /work's size is named in artifacts_omitted"
run_json '{"script": "open(\"output/big.bin\", \"wb\").write(b\"x\" * (10 * 1024 * 1024 - 3))"}'
is "$(jq_ 'sorted(j["artifacts"]), j["artifacts_omitted"]')" '[[], ["big.bin"]]' \
	"an artifact's path counts against the 10 MiB with its content"
# Control characters are valid UTF-8, each escaped as six bytes (\u0001):
# 9 MiB of them made a 54 MiB string of a 10 MiB budget.
run_json '{"script": "open(\"output/ctl.txt\", \"wb\").write(b\"\\x01\" * (9 << 20))\nopen(\"output/ok.txt\", \"w\").write(\"a\\tb\\n\" * 1000)"}'
is "$status/$(jq_ 'sorted(j["artifacts"]), j["artifacts_omitted"]')" '200/[["ok.txt"], ["ctl.txt"]]' \
	"text that escaping would blow up counts against the 10 MiB as its base64 would"
[ "$(stat -c %s "$http_tmp/resp")" -lt $((14 << 20)) ]
ok $? "and the response stays within 4/3 of the budget"
# 1100 files 8 KB deep: 1000 returned, the names of the 100 left out would be
# 800 KB; 16384 such files made a response of 133 MB.
run_json '{"script": "import os\nos.chdir(\"output\")\nfor i in range(31):\n    os.mkdir(\"d\" * 250); os.chdir(\"d\" * 250)\nfor i in range(1100):\n    open(\"%04d\" % i + \"f\" * 236, \"w\").close()"}'
is "$status/$(jq_ 'len(j["artifacts"]), len(j["artifacts_omitted"]) + j.get("artifacts_omitted_unnamed", 0), len(json.dumps(j["artifacts_omitted"])) < 80 * 1024, j["artifacts_omitted"][0][-240:-236]')" \
	'200/[1000, 100, true, "1000"]' \
	"the names of files left out stop at 64 KiB; the rest are counted in artifacts_omitted_unnamed"
# The same in names of control characters: each key 48 KB once escaped, and
# 1000 of them made a response of 48 MB.
run_json '{"script": "import os\nos.chdir(\"output\")\nfor i in range(31):\n    os.mkdir(\"\\x01\" * 250); os.chdir(\"\\x01\" * 250)\nfor i in range(1000):\n    open(\"%04d\" % i + \"\\x01\" * 236, \"w\").close()"}'
[ "$status" = 200 ] && [ "$(stat -c %s "$http_tmp/resp")" -lt $((14 << 20)) ]
ok $? "names of control characters count as escaped: the response stays within 4/3 of the budget ($(stat -c %s "$http_tmp/resp") bytes)"

# Files sent under output/ are the script's to change: what it removed or
# replaced (a file by a directory, a directory by a file) is not returned.
run_json "$($PY -c 'import json; print(json.dumps({"files": {"main.py": "import os, shutil\nos.remove(\"output/a\"); os.mkdir(\"output/a\"); open(\"output/a/x\", \"w\").write(\"new\")\nshutil.rmtree(\"output/d\"); open(\"output/d\", \"w\").write(\"file\")\nos.remove(\"output/gone\")\nprint(\"ran\")", "output/a": "x", "output/d/e": "y", "output/gone": "z", "output/kept": "k"}, "entry_point": "main.py"}))')"
is "$status/$(jq_ 'j["stdout"], j["artifacts"]')" '200/["ran\n", {"a/x": "new", "d": "file", "kept": "k"}]' \
	"files sent under output/ that the script replaced or removed are not returned"

# ---- output capture
run_json '{"script": "import sys\nsys.stdout.write(\"o\" * (1024*1024))\nsys.stderr.write(\"e\" * (1024*1024))\nprint(\"done\", file=sys.stderr)"}'
is "$status/$(jq_ 'j["exit_code"], len(j["stdout"]), j["stdout_truncated"], j["stderr_truncated"]')" '200/[0, 1048576, false, true]' \
	"1 MiB to both streams does not deadlock; the limit is exact"
run_json '{"script": "import sys\nfor i in range(200): sys.stdout.write(\"x\" * 65536); sys.stderr.write(\"y\" * 65536)"}'
is "$(jq_ 'j["exit_code"], len(j["stdout"]), len(j["stderr"]), j["stdout_truncated"], j["stderr_truncated"]')" '[0, 1048576, 1048576, true, true]' \
	"an output flood is read to the end and capped at 1 MiB each"
run_json '{"script": "print(\"o\" * (1024 * 1024 - 1) + \"\u00e9\")"}'
is "$(jq_ 'len(j["stdout"]), j["stdout"][-3:], j["stdout_truncated"]')" '[1048575, "ooo", true]' \
	"output cut at the cap in the middle of a character ends before it, with no U+FFFD"
run_json '{"script": "import sys; sys.stdout.buffer.write(b\"ok \\xff\\xfe end\")"}'
is "$(jq_ 'j["stdout"]')" "ok �� end" "invalid UTF-8 in stdout becomes U+FFFD"

# ---- dependencies
run_json '{"script": "import numpy; print(numpy.__name__)", "dependencies": ["numpy", "scikit-learn", "PyYAML", "python-dateutil", "beautifulsoup4", "pillow"]}'
is "$status/$(jq_ 'j["stdout"]')" "200/numpy" "installed dependencies are accepted"
numpy_version=$($PY -c 'import importlib.metadata as m; print(m.version("numpy"))')
is "$(jq_ 'j["packages"]["numpy"]')" "$numpy_version" "the response names the version each entry got"
is "$(jq_ 'sorted(j["packages"])')" '["beautifulsoup4", "numpy", "pillow", "python-dateutil", "pyyaml", "scikit-learn"]' \
	"for every entry, by its normalised name"
run_json '{"script": "print(1)", "dependencies": ["numpy>=1.0", "pandas<1000", "scipy!=0.1", "surely-absent~=1.0"]}'
is "$status" 400 "an entry not installed among satisfied ones is a 400"
run_json "{\"script\": \"print(1)\", \"dependencies\": [\"numpy>=1.0\", \"NumPy==$numpy_version\"]}"
is "$status" 400 "numpy and NumPy are one package named twice: a 400"
run_json '{"script": "print(1)", "dependencies": ["numpy>=1.0", "pandas<1000", "scipy!=0.1"]}'
is "$status/$(jq_ 'j["stdout"].strip()')" "200/1" "clauses the installed versions satisfy run at no cost"
run_json '{"script": "1", "dependencies": ["numpy==0.1"]}'
is "$status" 400 "numpy==0.1, which the installed numpy does not satisfy, is a 400 (nothing is installed on demand)"
is "$(jq_ 'j["error"]')" "dependencies[0] \"numpy==0.1\": numpy $numpy_version is installed, which does not satisfy ==0.1, and this service installs no other versions (its operator can turn installs on with package_index_url or package_find_links)" \
	"saying what is installed"
is "$(jq_ 'j["exit_code"], j["stdout"]')" '[-1, ""]' "and the script did not run"
# Every release number counts, the ninth too (1.2.3.0.0.0.0.0.1 is above 1.2.3).
run_json "{\"script\": \"print(1)\", \"dependencies\": [\"numpy==$numpy_version.0.0.0.0.0.0.0.1\"]}"
is "$status" 400 "numpy==$numpy_version.0.0.0.0.0.0.0.1 is not the installed $numpy_version: a 400"
run_json "{\"script\": \"print(1)\", \"dependencies\": [\"numpy<$numpy_version.0.0.0.0.0.0.0.1\"]}"
is "$status/$(jq_ 'j["stdout"].strip()')" "200/1" "and numpy<$numpy_version.0.0.0.0.0.0.0.1 is satisfied by it"
for bad in 'numpy; rm -rf /' 'numpy[extra]' 'numpy >=1.0' 'numpy>=1.0,<2' 'git+https://example.org/x.git' \
	'./pkg' '--index-url=http://127.0.0.1:1/' 'numpy @ https://example.org/numpy.whl' 'numpy=1.0'; do
	run_json "$($PY -c 'import json, sys; print(json.dumps({"script": "1", "dependencies": ["numpy", sys.argv[1]]}))' "$bad")"
	want=$($PY -c 'import json, sys; print(json.dumps("dependencies[1] \"%s\" is not a package name" % sys.argv[1]))' "$bad")
	is "$status/$(jq_ "j['error'].startswith($want)")" "400/true" "\"$bad\" is a 400 that names the entry"
done
run_json '{"script": "1", "dependencies": ["surely-not-a-package"]}'
is "$status" 400 "a package that is not installed is a 400"
like "$(jq_ 'j["error"]')" '^dependencies\[0\] "surely-not-a-package": surely-not-a-package is not installed' "saying so"
run_json '{"script": "1", "dependencies": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p"]}'
is "$status" 400 "16 dependencies are a 400"

# ---- limits, both sides
s256=$($PY -c 'import json; print(json.dumps({"script": "#" * (256*1024 - 1) + "\n"}))')
run_json "$s256"
is "$status" 200 "a 256 KiB script runs"
s256=$($PY -c 'import json; print(json.dumps({"script": "#" * (256*1024) + "\n"}))')
run_json "$s256"
is "$status" 413 "a script one byte over 256 KiB is a 413"
ctx=$($PY -c 'import json; print(json.dumps({"script": "import os; print(len(os.listdir(\"input\")))", "context": {f"f{i}": "x" for i in range(20)}}))')
run_json "$ctx"
is "$status/$(jq_ 'j["stdout"]')" "200/20" "20 context entries are fine"
ctx=$($PY -c 'import json; print(json.dumps({"script": "1", "context": {f"f{i}": "x" for i in range(21)}}))')
run_json "$ctx"
is "$status" 413 "21 are a 413"
$PY -c 'import json,base64; print(json.dumps({"script": "import os; print(os.path.getsize(\"input/a\"))", "context": {"a": {"content": base64.b64encode(b"x"*(5*1024*1024)).decode(), "encoding": "base64"}}}))' >"$http_tmp/big.json"
status=$(curl -s -o "$http_tmp/resp" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$http_tmp/big.json" "$base/api/run")
is "$status/$(jq_ 'j["stdout"]')" "200/5242880" "a 5 MiB context entry arrives whole"
$PY -c 'import json,base64; print(json.dumps({"script": "1", "context": {"a": {"content": base64.b64encode(b"x"*(5*1024*1024+1)).decode(), "encoding": "base64"}}}))' >"$http_tmp/big.json"
status=$(curl -s -o "$http_tmp/resp" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$http_tmp/big.json" "$base/api/run")
is "$status" 413 "one byte over 5 MiB is a 413"
head -c $((16 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$http_tmp/huge"
status=$(curl -s -o "$http_tmp/resp" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$http_tmp/huge" "$base/api/run")
is "$status/$(jq_ 'j["exit_code"]')" "413/-1" "a body over 16 MiB is a JSON 413"

# ---- malformed requests
run_json '{"script": '
is "$status" 400 "truncated JSON is a 400"
run_json '["print(1)"]'
is "$status" 400 "a JSON array is a 400"
for taken in "input/context" "output/artifacts"; do
	run_json "{\"files\": {\"main.py\": \"1\", \"${taken%/*}\": \"x\"}, \"entry_point\": \"main.py\"}"
	is "$status/$(jq_ 'j["error"]')" "400/file path \"${taken%/*}\" is taken: ./${taken%/*} is the directory of the run's ${taken#*/}" \
		"a file named ${taken%/*} is a 400 that says the name is the service's"
done
long=a$(printf 'é%.0s' $(seq 60))
run_json "{\"files\": {\"main.py\": \"1\", \"$long\": \"1\", \"$long/x\": \"2\"}, \"entry_point\": \"main.py\"}"
like "$status/$(jq_ 'j["error"]')" '^400/"aé{49}" is both a file and a directory in files$' \
	"a long name in an error is cut after a whole character, not in one"
run_json 'null'
is "$status/$(jq_ 'j["error"]')" '400/the body must be a JSON object such as {"script": "print(1)"}' \
	"and null is a 400 that asks for an object, as for any value that is no object"
run_json '{"script": 42}'
is "$status" 400 "a script of the wrong type is a 400"
run_json '{"script": "1", "timeout_s": "10"}'
is "$status" 400 "a timeout_s of the wrong type is a 400"
# A run past its memory limit: killed by the kernel under cgroup v2, a
# MemoryError at RLIMIT_AS where limits fall back to rlimits; 137 either way.
run_json '{"script": "x = b\"x\" * (400 << 20)", "memory_mb": 64}'
like "$status/$(jq_ 'j["exit_code"], j["stderr"].splitlines()[-1]')" \
	'^200/\[137, "coderunner: the script (was killed for exceeding|exceeded) the 64 MB memory limit"\]$' \
	"a script past memory_mb exits 137, with the reason on stderr's last line"
# numpy's own MemoryError (_ArrayMemoryError, a subclass, named with its
# module on the traceback's last line) is the limit too.
run_json '{"script": "import numpy as np\nnp.ones((1024, 1024, 1024))", "memory_mb": 256}'
like "$status/$(jq_ 'j["exit_code"], j["stderr"].splitlines()[-1]')" \
	'^200/\[137, "coderunner: the script (was killed for exceeding|exceeded) the 256 MB memory limit"\]$' \
	"an 8 GiB numpy array past memory_mb exits 137, with the reason"
run_json '{"script": "import sys\nsys.stderr.write(\"MemoryErrorish\\n\")\nsys.exit(1)"}'
is "$(jq_ 'j["exit_code"]')" 1 "a script's own exit 1 stays 1"
run_json '{"script": "class MemoryErrorish(Exception): pass\nraise MemoryErrorish(1)"}'
is "$(jq_ 'j["exit_code"]')" 1 "and so does an exception whose name only starts with MemoryError"
run_json '{"script": "raise SystemExit(1)"}'
is "$(jq_ 'j["exit_code"], j["stderr"]')" '[1, ""]' "and so does one with nothing on stderr"
run_json '{"script": "1", "memory_mb": 32}'
is "$status" 400 "memory_mb below 64 is a 400"
deep=$($PY -c 'print("{\"script\": \"1\", \"x\": " + "[" * 9000 + "]" * 9000 + "}")')
run_json "$deep"
is "$status" 400 "JSON nested 9000 deep is a 400"
like "$(jq_ 'j["error"]')" 'nested deeper' "and says why"
for inner in "" 1 '"s"'; do	# 64 levels (max_json_depth), whatever the deepest holds
	run_json "$($PY -c 'import sys; print("{\"script\": \"1\", \"x\": " + "[" * 63 + sys.argv[1] + "]" * 63 + "}")' "$inner")"
	is "$status" 200 "JSON nested 64 deep, holding '$inner' innermost, is taken"
	run_json "$($PY -c 'import sys; print("{\"script\": \"1\", \"x\": " + "[" * 64 + sys.argv[1] + "]" * 64 + "}")' "$inner")"
	is "$status/$(jq_ 'j["error"]')" "400/the JSON is nested deeper than 64 levels" "and 65 deep is a 400"
done
# Each value costs json-c some 800 bytes: 16 MiB of "{}," took a worker to 4 GB.
wide=$($PY -c 'print("{\"script\": \"print(1)\", \"x\": [" + "{}," * 10000 + "{}]}")')
run_json "$wide"
is "$status/$(jq_ 'j["exit_code"]')" "413/-1" "JSON of more than max_json_values values is a 413"
like "$(jq_ 'j["error"]')" 'more than 10000 values' "and says why"
wide=$($PY -c 'import json; print(json.dumps({"script": "print(1)", "x": [{}] * 9990 + ["[,:\"" * 10]}))')
run_json "$wide"
is "$status/$(jq_ 'j["warnings"][0][:13]')" "200/unknown field" "brackets and commas inside strings are not counted as values"

# ---- routing
post /nope '' -X GET
is "$status/$(jq_ 'j["exit_code"]')" "404/-1" "an unknown path is a JSON 404"
post /api/run '' -X GET
is "$status" 405 "GET /api/run is a 405"
like "$headers" '^Allow: POST' "with an Allow header"
post /health '' -X GET
is "$status/$(jq_ 'j["status"]')" "200/healthy" "GET /health answers"
head=$(curl -s -I -o "$http_tmp/resp-headers" -w '%{http_code}/%{size_download}' "$base/health")
is "$head" "200/0" "HEAD /health answers with the headers alone (RFC 9110)"
like "$(tr -d '\r' <"$http_tmp/resp-headers")" '^[Cc]ontent-[Tt]ype: application/json' "the headers of the GET"
post /health ''
is "$status/$(grep -i '^allow:' <<<"$headers")" "405/Allow: GET, HEAD" "POST /health is a 405 naming GET and HEAD"
# What nginx refuses itself is JSON too, with the request's id.
for refused in "405/-X TRACE" "400/-H X-Big:$(head -c 9000 /dev/zero | tr '\0' b)" "501/-H Transfer-Encoding:gzip -d x"; do
	get /api/run ${refused#*/}
	is "$status/$(jq_ 'j["exit_code"]')" "${refused%%/*}/-1" "nginx's own ${refused%%/*} (${refused:4:22}) is a JSON error"
	like "$headers" '^X-Request-Id: [0-9a-f]{32}' "with the request's id"
done
get /health -X TRACE
is "$(grep -i '^allow:' <<<"$headers")" "Allow: GET, HEAD" "TRACE's 405 names the methods the path takes: GET and HEAD on /health"
get /api/run -X TRACE
is "$(grep -i '^allow:' <<<"$headers")" "Allow: POST" "POST on /api/run"
get /no/such/path -X TRACE
is "$(grep -i '^allow:' <<<"$headers")" "Allow: GET, HEAD, POST" "all three on a path the service does not know"
# The service's own 405, for a method nginx lets through, in /run's and /mcp's shapes too.
get /run
is "$status/$(jq_ '[sorted(j), type(j["detail"]).__name__]')/$(grep -i '^allow:' <<<"$headers")" \
	'405/[["detail"], "str"]/Allow: POST' "GET /run is a 405 in /run's shape, naming POST"
get /mcp
is "$status/$(jq_ '[j["jsonrpc"], j["id"], j["error"]["code"], type(j["error"]["message"]).__name__]')/$(grep -i '^allow:' <<<"$headers")" \
	'405/["2.0", null, -32600, "str"]/Allow: POST' "GET /mcp is a 405 JSON-RPC error, an invalid request as nginx's 405, naming POST"
# On /mcp and /run, in their shapes: a JSON-RPC error, and PyRunner's detail.
for refused in "405/-X TRACE" "400/-H X-Big:$(head -c 9000 /dev/zero | tr '\0' b)" "501/-H Transfer-Encoding:gzip -d x"; do
	get /mcp ${refused#*/}
	is "$status/$(jq_ '[j["jsonrpc"], j["id"], j["error"]["code"]]')" "${refused%%/*}/[\"2.0\", null, -32600]" \
		"nginx's own ${refused%%/*} on /mcp is a JSON-RPC error"
	get /run ${refused#*/}
	is "$status/$(jq_ '[sorted(j), type(j["detail"]).__name__]')" "${refused%%/*}/[[\"detail\"], \"str\"]" \
		"nginx's own ${refused%%/*} on /run is a PyRunner error"
done
# Sent as JSON whatever the URI's extension (lib.sh's nginx has mime.types,
# as Debian's does).
get /x.html -X TRACE
is "$status/$(sed -n 's/^Content-Type: //Ip' <<<"$headers")" "405/application/json" "TRACE /x.html's 405 is sent as JSON"
status=$(curl -s -o "$http_tmp/resp" -D "$http_tmp/resp-headers" -w '%{http_code}' --data-binary "@$http_tmp/huge" "$base/api/run.html")
is "$status/$(sed -n 's/^Content-Type: //Ip' "$http_tmp/resp-headers" | tr -d '\r')" "413/application/json" \
	"and a body over 16 MiB to /api/run.html is a 413 sent as JSON"
# Requests nginx cannot read at all, sent as they are: JSON too.
malformed=$($PY - "${base##*:}" <<'EOF_PY'
import json, socket, sys
cases = [
    ("a bad chunk size", b"POST /api/run HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ("Content-Length and chunked", b"POST /api/run HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("Content-Length: abc", b"POST /api/run HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
    ("two Content-Lengths", b"POST /api/run HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"),
    ("HTTP/1.1 without Host", b"GET /health HTTP/1.1\r\n\r\n"),
    ("a bad request line", b"POST /api/run HTTP/1.1 x\r\nHost: x\r\n\r\n"),
    ("a bad escape in the URI", b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("a URI too long", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("HTTP/2.0 as text", b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n"),
    ("the error page itself", b"GET /coderunner-errors/400 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("a bad chunk size to /mcp", b"POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ("Content-Length: abc to /mcp with a query", b"POST /mcp?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
    ("a bad chunk size to /run", b"POST /run HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ("HTTP/1.1 without Host to /run", b"POST /run HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"),
    ("a bad chunk size to /mcpx", b"POST /mcpx HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ("HTTP/2.0 to /mcp", b"POST /mcp HTTP/2.0\r\nHost: x\r\n\r\n"),
    ("a URI too long to /run", b"POST /run?" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
]
for name, request in cases:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    s.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(l.split(":")[1]) for l in lines if l.lower().startswith("content-length:")), 0)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    try:
        shape = sorted(json.loads(body))
    except ValueError:
        shape = "not JSON"
    has_id = any(l.lower().startswith("x-request-id:") for l in lines)
    print(f"{name}: {lines[0].split()[1]} {shape} {'id' if has_id else 'no id'}")
EOF_PY
)
for refused in "a bad chunk size: 400" "Content-Length and chunked: 400" "Content-Length: abc: 400" \
	"two Content-Lengths: 400" "HTTP/1.1 without Host: 400" "a bad request line: 400" \
	"a bad escape in the URI: 400" "a URI too long: 414" "HTTP/2.0 as text: 505" "the error page itself: 404"; do
	like "$malformed" "^$refused \\['artifacts', 'error', 'exit_code', 'stderr', 'stdout'\\] id$" \
		"${refused%:*}: nginx's ${refused##*: } is a JSON error with the request's id"
done
# Where nginx read the request line before it gave up, /mcp and /run answer
# in their own shapes; any other path, and what nginx could not read, as
# /api/run's.
for refused in "a bad chunk size to /mcp: 400" "Content-Length: abc to /mcp with a query: 400"; do
	like "$malformed" "^$refused \\['error', 'id', 'jsonrpc'\\] id$" \
		"${refused%:*}: nginx's ${refused##*: } is a JSON-RPC error with the request's id"
done
for refused in "a bad chunk size to /run: 400" "HTTP/1.1 without Host to /run: 400"; do
	like "$malformed" "^$refused \\['detail'\\] id$" "${refused%:*}: nginx's ${refused##*: } is a PyRunner error with the request's id"
done
for refused in "a bad chunk size to /mcpx: 400" "HTTP/2.0 to /mcp: 505" "a URI too long to /run: 414"; do
	like "$malformed" "^$refused \\['artifacts', 'error', 'exit_code', 'stderr', 'stdout'\\] id$" \
		"${refused%:*}: nginx's ${refused##*: } is in /api/run's shape"
done
# A client's X-Request-Id that nginx's snippet lets through is the id the
# service answers and logs with too.
post /api/run 'print(1)' -H 'Content-Type: text/plain' -H 'X-Request-Id: job-42_Z'
is "$status/$(grep -i '^x-request-id:' <<<"$headers")" "200/X-Request-Id: job-42_Z" "a client's X-Request-Id is the request's id"
sleep 0.2
like "$(grep -c 'request_id=job-42_Z ' "$fcgi_log")" '^1$' "and the log line's"

http_stop
log_clean
done_testing
