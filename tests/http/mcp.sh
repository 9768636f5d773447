#!/bin/bash
# mcp.sh — POST /mcp through nginx: the official MCP TypeScript SDK's client
# (installed from npm, pinned) connects, lists and calls both tools; and the
# protocol's edges by hand: notifications, batches, revisions, errors, and
# the Host and Origin checks against DNS rebinding.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/http/lib.sh"

MCP_SDK=@modelcontextprotocol/sdk@1.32.2
node_dir=${CODERUNNER_NODE_DIR:-$top_srcdir/build/node}

# The SDK, once per checkout: npm's lock keeps the install reproducible.
if [ ! -f "$node_dir/node_modules/@modelcontextprotocol/sdk/package.json" ] ||
   ! grep -q '"version": "1.32.2"' "$node_dir/node_modules/@modelcontextprotocol/sdk/package.json"; then
	mkdir -p "$node_dir"
	(cd "$node_dir" && npm install --save-exact --no-audit --no-fund --silent "$MCP_SDK" >npm.log 2>&1) ||
		{ echo "Bail out! npm install $MCP_SDK failed: $(tail -5 "$node_dir/npm.log")"; exit 1; }
fi

http_start
mcp() {	# mcp BODY [CURL-ARGS...]
	local b=$1; shift
	post /mcp "$b" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' "$@"
}

# --- the SDK's client ----------------------------------------------------------
cp "$top_srcdir/tests/http/mcp_client.mjs" "$node_dir/"
out=$(cd "$node_dir" && timeout 120 node mcp_client.mjs "$base/mcp" 2>&1)
node_checks "SDK: " <<<"$out"
[ $checks -ge 14 ]; ok $? "the SDK's client made every check ($checks)" || diag "$out"

# --- the protocol by hand --------------------------------------------------------
mcp '{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}'
is "$status/$(jq_ 'j["result"]["protocolVersion"], j["result"]["capabilities"]')" \
	'200/["2025-06-18", {"tools": {"listChanged": false}}]' "initialize keeps revision 2025-06-18 when the client asks for it"
mcp '{"jsonrpc": "2.0", "id": "a", "method": "initialize", "params": {"protocolVersion": "1999-01-01"}}'
is "$(jq_ 'j["id"], j["result"]["protocolVersion"]')" '["a", "2025-11-25"]' "and offers 2025-11-25 for a revision it does not speak"
mcp '{"jsonrpc": "2.0", "id": "b", "method": "initialize", "params": {"protocolVersion": "2025-03-26"}}'
is "$(jq_ 'j["result"]["protocolVersion"]')" "2025-11-25" \
	"and for 2025-03-26, whose batches it does not take (the header alone is taken)"
mcp '{"jsonrpc": "2.0", "method": "notifications/initialized"}'
is "$status/${#body}" "202/0" "a notification is taken with 202 and no body"
is "$(grep -ic '^content-type:' <<<"$headers")" 0 "and no Content-Type"
mcp '{"jsonrpc": "2.0", "id": 7, "method": "ping"}' -H 'MCP-Protocol-Version: 2025-11-25'
is "$status/$(jq_ 'j["id"], j["result"]')" '200/[7, {}]' "ping, with MCP-Protocol-Version 2025-11-25"
mcp '{"jsonrpc": "2.0", "id": 7, "method": "ping"}' -H 'MCP-Protocol-Version: 2024-01-01'
is "$status/$(jq_ 'j["error"]["code"]')" "400/-32600" "an MCP-Protocol-Version it does not speak is a 400"
mcp '[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]'
is "$status/$(jq_ 'j["error"]["code"]')" "400/-32600" "a batch is a 400 (batches left the protocol in 2025-06-18)"
mcp '{"jsonrpc": "2.0", "id": 1, "method": '
is "$status/$(jq_ 'j["id"], j["error"]["code"]')" "400/[null, -32700]" "a body that is not JSON is a parse error"
mcp "[$(seq -s, 70000)]"
is "$status/$(jq_ 'j["id"], j["error"]["code"]')" "413/[null, -32600]" "a body of more values than max_json_values is a 413, as for /api/run"
# Past nginx's body limit (16 MiB, as max_body_mib) the web server answers,
# in the protocol's shape as the service would.
head -c $((17 << 20)) /dev/zero >"$http_tmp/huge"
status=$(curl -s -o "$http_tmp/resp" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$http_tmp/huge" "$base/mcp")
is "$status/$(jq_ 'j["jsonrpc"], j["id"], j["error"]["code"]')" '413/["2.0", null, -32600]' \
	"a body past the web server's limit is a JSON-RPC error too"
mcp '1'
is "$status/$(jq_ 'j["error"]["code"]')" "400/-32600" "a bare number is valid JSON, but no message: an invalid request"
mcp 'null'
is "$status/$(jq_ 'j["error"]["code"]')" "400/-32600" "and so is null"
mcp '{"jsonrpc": "2.0", "id": 2, "method": "resources/list"}'
is "$status/$(jq_ 'j["error"]["code"]')" "200/-32601" "an unknown method is method-not-found"
mcp '{"jsonrpc": "2.0", "id": 2, "method": "x-card 4111111111111111"}'
is "$status/$(jq_ 'j["error"]["code"]')" "200/-32601" "and so is any name a client makes up"
sleep 0.2
is "$(grep -c '4111111111111111' "$fcgi_log")" 0 "which the log does not keep: it is the client's text"
mcp '{"jsonrpc": "1.0", "id": 2, "method": "ping"}'
is "$status/$(jq_ 'j["error"]["code"]')" "400/-32600" "jsonrpc other than 2.0 is an invalid request"
for v in null 2.0 '"2.0\u0000junk"'; do
	mcp '{"jsonrpc": '"$v"', "id": 2, "method": "ping"}'
	is "$status/$(jq_ 'j["error"]["code"]')" "400/-32600" "and so is jsonrpc $v"
done
for big in 123456789012345678901234567890 -9223372036854775809; do
	mcp '{"jsonrpc": "2.0", "id": '$big', "method": "ping"}'
	is "$status/$(jq_ 'j["error"]["code"], j["id"]')" "400/[-32600, null]" "an id of $big, which 64 bits cannot hold, is refused, not answered as another"
done
mcp '{"jsonrpc": "2.0", "id": 18446744073709551614, "method": "ping"}'
is "$status/$(jq_ 'j["id"]')" "200/18446744073709551614" "an id up to 2^64 - 2 is echoed exactly"
mcp '{"jsonrpc": "2.0", "id": 2, "method": "ping\u0000junk"}'
is "$status/$(jq_ 'j["error"]["code"]')" "200/-32601" "a method holding a NUL is no method of ours"
mcp '{"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "run_python\u0000junk", "arguments": {"script": "print(1)"}}}'
is "$status/$(jq_ 'j["error"]["code"]')" "200/-32602" "nor is a tool name holding one"
mcp '{"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "run_python", "arguments": "print(1)"}}'
is "$status/$(jq_ 'j["error"]["code"]')" "200/-32602" "arguments that are not an object are invalid params"
mcp '{"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "run_python", "arguments": {"script": "print(1)", "bogus": 1}}}'
is "$(jq_ 'j["result"]["isError"], j["result"]["structuredContent"]["warnings"]')" \
	'[false, ["unknown field \"bogus\" ignored"]]' "an unknown argument runs with the dialect's warning"
is "$(jq_ 'j["result"]["content"][0]["text"]')" "$(printf 'exit code 0\nstdout:\n1\n\nwarnings:\nunknown field "bogus" ignored')" \
	"which the text an agent reads names too"
# main()'s value as Python wrote it: digits json-c would clamp, and depth
# beyond json-c's default of 32.
mcp '{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "execute_main", "arguments": {"script": "def main():\n    return [10**30, -10**23, 0.1]"}}}'
is "$(jq_ 'j["result"]["isError"], j["result"]["structuredContent"]["result"], j["result"]["content"][0]["text"]')" \
	'[false, [1000000000000000000000000000000, -100000000000000000000000, 0.1], "main() returned: [1000000000000000000000000000000, -100000000000000000000000, 0.1]"]' \
	"execute_main keeps every digit of main()'s value"
mcp '{"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "execute_main", "arguments": {"script": "def main():\n    v = 1\n    for _ in range(40):\n        v = [v]\n    return v"}}}'
is "$(jq_ 'j["result"]["isError"], json.dumps(j["result"]["structuredContent"]["result"]).count("[")')" \
	'[false, 40]' "and a value 40 levels deep"
mcp '{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "run_python", "arguments": {"script": "open(\"output/a b#1%.txt\", \"w\").write(\"x\")"}}}'
is "$(jq_ '[c["resource"]["uri"] for c in j["result"]["content"] if c["type"] == "resource"]')" \
	'["file:///work/output/a%20b%231%25.txt"]' "an artifact's URI is percent-encoded"
# The summary is text an agent reads first: a NUL the script wrote does not
# end it (and hide the rest of stdout, and stderr).
mcp '{"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "run_python", "arguments": {"script": "import os, sys\nos.write(1, b\"a\\x00b\\n\")\nos.write(2, b\"oops\\n\")"}}}'
is "$(jq_ 'j["result"]["content"][0]["text"] == "exit code 0\nstdout:\na\x00b\n\nstderr:\noops\n"')" true \
	"a NUL in stdout does not cut the summary short"
mcp '{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "execute_main", "arguments": {"script": "def main():\n    raise ValueError(\"a\\x00b\")"}}}'
is "$(jq_ '"a\x00b" in j["result"]["content"][0]["text"]')" true \
	"nor in the error of a main() that did not return"
# A main() that raised ran: /execute's 400 says why and what it printed.
mcp '{"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "execute_main", "arguments": {"script": "def main():\n    print(\"step 1\")\n    raise ValueError(\"bad\")"}}}'
is "$(jq_ 'j["result"]["isError"], j["result"]["content"][0]["text"]')" \
	'[true, "main() did not return: main() raised ValueError: bad (line 3)\nstdout:\nstep 1\n"]' \
	"a main() that raised is told as one that ran, with what it printed"
# Output past the service's limit is cut: the text an agent reads says so.
mcp '{"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "run_python", "arguments": {"script": "print(\"x\" * 2000000)"}}}'
is "$(jq_ 'j["result"]["content"][0]["text"].startswith("exit code 0\nstdout (truncated: the script wrote more than the service keeps):\nxxx")')" true \
	"stdout the service cut is told as cut"
# Files left out of the answer (10 MiB of artifacts in all) are named there too.
mcp '{"jsonrpc": "2.0", "id": 12, "method": "tools/call", "params": {"name": "run_python", "arguments": {"script": "import os\nfor i in range(4):\n    open(f\"output/big{i}.bin\", \"wb\").write(os.urandom(4 << 20))\nprint(\"done\")"}}}'
is "$(jq_ 'j["result"]["structuredContent"]["artifacts_omitted"] == [l for l in j["result"]["content"][0]["text"].split("not named in UTF-8):\n")[1].split("\n") if l]')" true \
	"files left out of the answer are named in the text an agent reads"
mcp '{"jsonrpc": "2.0", "id": 13, "method": "tools/list", "params": {"cursor": "bogus"}}'
is "$status/$(jq_ 'j["id"], j["error"]["code"]')" "200/[13, -32602]" "a tools/list cursor it never gave is invalid params"
mcp '{"jsonrpc": "2.0", "id": 14, "method": "tools/list", "params": {"cursor": null}}'
is "$status/$(jq_ 'len(j["result"]["tools"])')" "200/2" "and a null one is none"
# A run past 5 s, with a progressToken: the answer turns into an event
# stream of progress notifications, with the response as its last event.
call_sleeping() {	# call_sleeping SECONDS META [ACCEPT]
	post /mcp '{"jsonrpc": "2.0", "id": 15, "method": "tools/call", "params": {"name": "run_python", "arguments": {"script": "import time\ntime.sleep('$1')\nprint(\"woke\")"}'"$2"'}}' \
		-H 'Content-Type: application/json' -H "Accept: ${3:-application/json, text/event-stream}"
}
events() {	# the data of each event of the body, as a JSON list
	$PY -c 'import json, sys
body = sys.stdin.read()
print(json.dumps([json.loads(e.split("data: ", 1)[1]) for e in body.split("\n\n") if e.startswith("event: message\ndata: ")]))' <<<"$body"
}
call_sleeping 6 ', "_meta": {"progressToken": "p1"}'
is "$status/$(grep -i '^content-type:' <<<"$headers" | tr -d '\r')" "200/Content-Type: text/event-stream" \
	"a tools/call with a progressToken that runs past 5 s is answered as an event stream"
is "$(events | $PY -c 'import json, sys; e = json.load(sys.stdin); print(json.dumps([e[0]["method"], e[0]["params"]["progressToken"], e[0]["params"]["progress"], len(e), e[-1]["id"], e[-1]["result"]["structuredContent"]["stdout"]]))')" \
	'["notifications/progress", "p1", 5, 2, 15, "woke\n"]' \
	"a progress notification at 5 s, then the response as the last event"
# A reload while the stream goes on: the worker finishes its request, the
# stream included.
call_sleeping 8 ', "_meta": {"progressToken": "p3"}' &
streaming=$!
sleep 6
kill -HUP "$fcgi_pid"
wait $streaming
body=$(cat "$http_tmp/resp")	# (post ran in the background: its file, not its variables)
is "$(events | $PY -c 'import json, sys; e = json.load(sys.stdin); print(json.dumps([e[0]["params"]["progressToken"], e[0]["params"]["progress"], e[-1]["result"]["structuredContent"]["stdout"]]))')" \
	'["p3", 5, "woke\n"]' "a reload during the stream lets it end with its response"
# A client that hangs up once the stream has begun: its run is stopped, and
# the log says 499 (the 200 sent was read by no one).
curl -s -m 7 -o /dev/null -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
	--data-binary '{"jsonrpc": "2.0", "id": 16, "method": "tools/call", "params": {"name": "run_python", "arguments": {"script": "import time\ntime.sleep(100)", "timeout": 120}, "_meta": {"progressToken": "p4"}}}' \
	"$base/mcp"
for _ in $(seq 100); do grep -q "path=/mcp status=499" "$fcgi_log" && break; sleep 0.1; done
like "$(grep "path=/mcp status=499" "$fcgi_log" | tail -1)" "client gone" \
	"a streamed call whose client hung up is stopped, and logged as a 499"
# A call that waits for a run slot is told so too: a client that keeps its
# timeout alive on progress must not give up on a busy service.
slots=$((2 * $(getconf _NPROCESSORS_ONLN))) sleepers=()
for _ in $(seq $slots); do
	curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary '{"script": "import time\ntime.sleep(9)"}' "$base/api/run" &
	sleepers+=($!)
done
for _ in $(seq 100); do
	[ "$(curl -s "$base/metrics" | sed -n 's/^coderunner_runs_in_flight //p')" = $slots ] && break
	sleep 0.1
done
call_sleeping 0 ', "_meta": {"progressToken": "q1"}'
wait "${sleepers[@]}"
is "$(events | $PY -c 'import json, sys; e = json.load(sys.stdin); print(json.dumps([e[0]["params"]["progressToken"], e[0]["params"]["progress"], e[-1]["result"]["structuredContent"]["stdout"]]))')" \
	'["q1", 5, "woke\n"]' "a call waiting for a run slot gets a progress notification at 5 s, then its response"
call_sleeping 1 ', "_meta": {"progressToken": 7}'
is "$status/$(jq_ 'j["result"]["structuredContent"]["stdout"]')" "200/woke" "a shorter run with a progressToken gets the plain JSON answer"
call_sleeping 6 ''
is "$status/$(jq_ 'j["result"]["structuredContent"]["stdout"]')" "200/woke" "and so does a longer one without"
call_sleeping 6 ', "_meta": {"progressToken": "p2"}' application/json
is "$status/$(jq_ 'j["result"]["structuredContent"]["stdout"]')" "200/woke" "and one whose client takes no event stream"
get /mcp
is "$status/$(grep -i '^allow:' <<<"$headers" | tr -d '\r')" "405/Allow: POST" "GET /mcp is a 405: no server-sent stream is offered"

# --- DNS rebinding: Host and Origin --------------------------------------------
mcp '{"jsonrpc": "2.0", "id": 1, "method": "ping"}' -H 'Host: attacker.example'
is "$status/$(jq_ 'j["error"]["message"]')" "403/forbidden: this Host is not one of the service's allowed_hosts" \
	"/mcp refuses a Host the operator did not allow"
mcp '{"jsonrpc": "2.0", "id": 1, "method": "ping"}' -H 'Host: attacker.example:8080'
is "$status" 403 "with any port"
for h in localhost:8080 127.0.0.1 '[::1]:9'; do
	mcp '{"jsonrpc": "2.0", "id": 1, "method": "ping"}' -H "Host: $h"
	is "$status" 200 "and takes Host $h"
done
mcp '{"jsonrpc": "2.0", "id": 1, "method": "ping"}' -H 'Origin: http://attacker.example'
is "$status" 403 "/mcp refuses a browser's Origin from a host not allowed"
mcp '{"jsonrpc": "2.0", "id": 1, "method": "ping"}' -H 'Origin: null'
is "$status" 403 "and the opaque Origin null"
mcp '{"jsonrpc": "2.0", "id": 1, "method": "ping"}' -H 'Origin: http://localhost:3000'
is "$status" 200 "and takes one from localhost"
for ep in /api/run /execute /run; do
	post "$ep" '{"script": "print(1)", "code": "print(1)"}' -H 'Content-Type: application/json' -H 'Origin: https://attacker.example'
	is "$status/$(jq_ 'j.get("error", j.get("detail"))')" "403/forbidden: this Origin is not one of the service's allowed_hosts" \
		"$ep refuses a browser's Origin from a host not allowed, before running anything (in its own shape)"
done
run_json '{"script": "print(1)"}' -H 'Host: attacker.example'
is "$status" 200 "/api/run without an Origin is not a browser's page: any Host"
get /health -H 'Origin: https://attacker.example'
is "$status" 200 "/health runs no code and answers any Origin"
like "$(grep -c 'forbidden: this' "$fcgi_log")" '^[1-9]' "every refusal is in the log"

http_stop
http_start 'allowed_hosts = coderunner.internal'
mcp '{"jsonrpc": "2.0", "id": 1, "method": "ping"}' -H 'Host: coderunner.internal:443'
is "$status" 200 "allowed_hosts lets the operator's name in"
mcp '{"jsonrpc": "2.0", "id": 1, "method": "ping"}' -H 'Host: localhost'
is "$status" 403 "and only it"
http_stop

# --- streamed answers from clients that do not read them -------------------------
# A streamed answer passes through nginx at the client's pace, and its run
# slot is kept until it is sent: clients that never read theirs hold run
# slots, and the workers past max_runs + queue_size stay free for /health.
http_start max_runs=2 queue_size=2 prestarted=1
health_after=$($PY - "$base" <<'PYEOF'
import json, socket, sys, time, urllib.parse, urllib.request
base = sys.argv[1]
u = urllib.parse.urlsplit(base)
script = 'import os, time\ntime.sleep(5.5)\nopen("output/a.bin", "wb").write(os.urandom(8 << 20))'
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": "run_python", "arguments": {"script": script}, "_meta": {"progressToken": "t"}}}).encode()
head = ("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body)).encode()
held = []
for _ in range(3):
    for _ in range(6):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((u.hostname, u.port))
        s.sendall(head + body)
        held.append(s)
    time.sleep(6.5)
t = time.monotonic()
try:
    urllib.request.urlopen(base + "/health", timeout=25).read()
    print("%.1f" % (time.monotonic() - t))
except Exception as e:
    print("failed: %r" % e)
for s in held:
    s.close()
PYEOF
)
like "$health_after" '^[0-4]\.[0-9]$' "with 18 streamed calls whose clients read nothing, /health answers at once (${health_after} s)"
for _ in $(seq 100); do [ "$(curl -s "$base/metrics" | sed -n 's/^coderunner_runs_in_flight //p')" = 0 ] && break; sleep 0.3; done
is "$(curl -s "$base/metrics" | sed -n 's/^coderunner_runs_in_flight //p')" 0 "and once they hang up, every run slot is free again"
http_stop
done_testing
