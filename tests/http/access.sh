#!/bin/bash
# access.sh — who may run code. api_keys_file: every endpoint that runs code
# wants a key (as a Bearer token or X-API-Key), /mcp included; what runs no
# code does not; a reload takes a new file, so keys can be rotated without a
# restart. And the nginx snippet's rate limit, turned on as the README says:
# a JSON 429 with Retry-After past it.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/http/lib.sh"

KEY=agents-key-0123456789abcdef
OTHER=ops-key-fedcba9876543210
keys=$http_tmp/keys
printf '# keys of this service\n%s\nsha256:%s\n' "$KEY" "$(printf '%s' "$OTHER" | sha256sum | cut -d' ' -f1)" >"$keys"
chmod 0600 "$keys"

http_start "api_keys_file = $keys" preload=none
J=(-H 'Content-Type: application/json')
MCP='{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "run_python", "arguments": {"script": "print(5)"}}}'

run_json '{"script": "print(1)"}'
is "$status/$(jq_ 'j["error"]')" "401/unauthorized: this service wants an API key, as Authorization: Bearer KEY or X-API-Key: KEY" \
	"/api/run without a key is a 401 that says how to give one"
like "$headers" 'WWW-Authenticate: Bearer realm="coderunner"' "with WWW-Authenticate"
is "$(jq_ 'j["exit_code"], j["stdout"]')" '[-1, ""]' "and the result fields of an error"
run_json '{"script": "print(1)"}' -H "Authorization: Bearer $KEY"
is "$status/$(jq_ 'j["stdout"]')" "200/1" "a key as a Bearer token runs"
run_json '{"script": "print(2)"}' -H "X-API-Key: $KEY"
is "$status/$(jq_ 'j["stdout"]')" "200/2" "a key as X-API-Key runs"
run_json '{"script": "print(3)"}' -H "X-API-Key: $OTHER"
is "$status/$(jq_ 'j["stdout"]')" "200/3" "a key the file lists by its SHA-256 runs"
run_json '{"script": "print(1)"}' -H "Authorization: Bearer ${KEY}x"
is "$status" 401 "a wrong key is a 401"
run_json '{"script": "print(1)"}' -H "Authorization: Basic $(printf 'u:%s' "$KEY" | base64)"
is "$status" 401 "and so is another scheme"
post /run '{"code": "print(1)"}' "${J[@]}"
is "$status" 401 "/run wants a key"
post /run '{"code": "print(1)"}' "${J[@]}" -H "X-API-Key: $KEY"
is "$status/$(jq_ 'j["status"]')" "200/success" "and runs with one"
post /execute '{"script": "def main():\n    return 1"}' "${J[@]}"
is "$status" 401 "/execute wants a key"
post /execute '{"script": "def main():\n    return 1"}' "${J[@]}" -H "Authorization: Bearer $KEY"
is "$status/$(jq_ 'j["result"]')" "200/1" "and runs with one"
post /mcp "$MCP" "${J[@]}"
is "$status/$(jq_ 'j["error"]["code"]')" "401/-32001" "/mcp wants a key: a JSON-RPC error with the 401"
like "$headers" 'WWW-Authenticate: Bearer' "and WWW-Authenticate"
post /mcp "$MCP" "${J[@]}" -H "Authorization: Bearer $KEY"
is "$status/$(jq_ 'j["result"]["structuredContent"]["stdout"]')" "200/5" "and runs with one"
for p in /health /api/health / /metrics; do
	get "$p"
	is "$status" 200 "GET $p runs no code and wants no key"
done
like "$(grep -c 'unauthorized' "$fcgi_log")" '^[1-9]' "refusals are in the log"
unlike "$(cat "$fcgi_log")" "$KEY" "and no key is"

# reload_keys LINE KEY STATUS: LINE becomes the keys file, and once the
# reload has replaced the workers a run with KEY answers STATUS.
reload_keys() {
	printf '%s\n' "$1" >"$keys"
	kill -HUP "$fcgi_pid"
	for _ in $(seq 50); do
		run_json '{"script": "print(1)"}' -H "X-API-Key: $2"
		[ "$status" = "$3" ] && return
		sleep 0.2
	done
}

# Rotation: a reload reads the file again.
reload_keys "$OTHER" "$KEY" 401
is "$status" 401 "after a reload with a new file, the old key is refused"
run_json '{"script": "print(4)"}' -H "X-API-Key: $OTHER"
is "$status/$(jq_ 'j["stdout"]')" "200/4" "and the new one runs"
printf 'short\n' >"$keys"
kill -HUP "$fcgi_pid"
sleep 1
like "$(cat "$fcgi_log")" "fewer than 16 characters" "a reload with a bad file is refused, and the log says why"
run_json '{"script": "print(6)"}' -H "X-API-Key: $OTHER"
is "$status/$(jq_ 'j["stdout"]')" "200/6" "and the keys in force stay"
# A key longer than a line buffer is one key, not its pieces.
LONG=$(head -c 1050 /dev/zero | tr '\0' k)
reload_keys "$LONG" "$LONG" 200
is "$status/$(jq_ 'j["stdout"]')" "200/1" "a key of 1050 characters runs"
run_json '{"script": "print(8)"}' -H "X-API-Key: ${LONG:0:1023}"
is "$status" 401 "and its first 1023 characters are no key"
run_json '{"script": "print(8)"}' -H "X-API-Key: ${LONG:0:27}"
is "$status" 401 "nor its last 27"
# The configuration file moved away (an editor's rename, a slip of mv) and
# a reload: the file the service was started with is wanted, never the
# built-in defaults, which would ask no key of anyone.
mv "$conf" "$conf.away"
like "$(reload_refused)" "keeping the running configuration: $conf: No such file or directory" \
	"a reload with the configuration file gone keeps the running one, and the log says why"
mv "$conf.away" "$conf"
run_json '{"script": "print(9)"}'
is "$status" 401 "and a key is still wanted"
http_stop

# --- the rate limit of the nginx snippet, turned on -----------------------------
# As the operator turns it on: the line in nginx-limit.conf, no edit of
# the snippet.
echo 'limit_req zone=coderunner burst=40 nodelay;' >"$http_tmp/nginx-limit.conf"
nginx_extra="include $top_srcdir/nginx/coderunner-limits.conf;" http_start preload=none
is "$(grep -c "include $http_tmp/nginx-limit\*.conf;" "$http_tmp/coderunner-snippet.conf")" 3 \
	"the snippet includes the operator's nginx-limit.conf where requests run"
# At once: one curl, all 120 transfers in parallel, so that no time to spawn
# a client between them lets the bucket refill (20 a second).
burst=()
for _ in $(seq 120); do burst+=(-o /dev/null "$base/health"); done
curl -s -Z --parallel-immediate --parallel-max 120 -w '%{http_code}\n' "${burst[@]}" >"$http_tmp/codes"
n429=$(grep -c '^429$' "$http_tmp/codes"); n200=$(grep -c '^200$' "$http_tmp/codes")
[ "$n429" -gt 0 ] && [ "$n200" -ge 40 ] && [ $((n429 + n200)) = 120 ]
ok $? "120 requests at once: the burst of 40 and more pass, the rest get 429 ($n200 passed, $n429 limited)"
sleep 1.2
# The playground's ways in to /api/run and /execute are limited alike.
for path in /playground/api/run /playground/execute; do
	burst=()
	for _ in $(seq 120); do burst+=(-o /dev/null "$base$path"); done
	curl -s -Z --parallel-immediate --parallel-max 120 -w '%{http_code}\n' "${burst[@]}" >"$http_tmp/codes"
	n429=$(grep -c '^429$' "$http_tmp/codes")
	[ "$n429" -gt 0 ]; ok $? "and $path: 120 requests at once, $n429 limited"
	sleep 2.2
done
# Past the burst again, in parallel: requests one after another, on a
# machine where each takes more than 30 ms, never outrun the refill of 20 a
# second. One 429 is kept, headers and body.
seq 120 | xargs -P 12 -I{} curl -s -o "$http_tmp/limited.{}" -D "$http_tmp/limited.{}.h" -w '{} %{http_code}\n' \
	"$base/health" >"$http_tmp/codes"
n=$(awk '$2 == 429 { print $1; exit }' "$http_tmp/codes")
status=none
[ -n "$n" ] && { status=429; cp "$http_tmp/limited.$n" "$http_tmp/resp"; headers=$(tr -d '\r' <"$http_tmp/limited.$n.h"); }
is "$status/$(jq_ 'j["error"]')" "429/too many requests from this client; retry in a second" "a 429 is JSON that says what to do"
like "$headers" '^Retry-After: 1' "with Retry-After"
# /mcp's and /run's in their own shapes, as every other error there.
for path in /mcp /run; do
	sleep 2.2
	burst=()
	for i in $(seq 120); do burst+=(-o "$http_tmp/shape.$i" "$base$path"); done
	curl -s -Z --parallel-immediate --parallel-max 120 -H 'Content-Type: application/json' \
		--data-binary '{"jsonrpc": "2.0", "id": 1, "method": "ping"}' -w '%{http_code} %{filename_effective}\n' \
		"${burst[@]}" >"$http_tmp/codes"
	f=$(awk '$1 == 429 { print $2; exit }' "$http_tmp/codes")
	[ -n "$f" ] && cp "$f" "$http_tmp/resp" || echo '{}' >"$http_tmp/resp"
	case $path in
	/mcp) is "$(jq_ '[j.get("jsonrpc"), j.get("id", "none"), j.get("error", {}).get("message")]')" \
		'["2.0", null, "too many requests from this client; retry in a second"]' "a 429 on /mcp is a JSON-RPC error" ;;
	/run) is "$(jq_ 'j')" '{"detail": "too many requests from this client; retry in a second"}' \
		"a 429 on /run is in /run's shape" ;;
	esac
done
sleep 2
get /health
is "$status" 200 "and the client is served again a moment later"
http_stop
rm "$http_tmp/nginx-limit.conf"

"$fcgi_bin" --check-config --config <(printf 'api_keys_file = /nonexistent/keys\n') >/dev/null 2>"$http_tmp/check.err"
is "$?/$(grep -c 'api_keys_file /nonexistent/keys' "$http_tmp/check.err")" "1/1" "--check-config fails on a keys file that cannot be read"

# --check-config and the programs it names: the interpreter runs inside the
# sandbox, whose root holds only /usr, /bin, /sbin and /lib* of the host; a
# template is needed when there is a preload list.
progs="sandbox = $sandbox_bin"$'\n'"template = $top_builddir/coderunner-template"
mkdir -p "$http_tmp/opt"
ln -sf /usr/bin/python3 "$http_tmp/opt/python3"
"$fcgi_bin" --check-config --config <(printf '%s\npython = %s\n' "$progs" "$http_tmp/opt/python3") >/dev/null 2>"$http_tmp/check.err"
is "$?/$(grep -c 'python: .*a sandbox sees only /usr' "$http_tmp/check.err")" "1/1" \
	"--check-config fails on a python the sandbox cannot see"
"$fcgi_bin" --check-config --config <(printf '%s\npython = /usr/bin/python3\n' "$progs") >/dev/null 2>"$http_tmp/check.err"
is "$?/$(cat "$http_tmp/check.err")" "0/" "and passes /usr/bin/python3"
"$fcgi_bin" --check-config --config <(printf '%s\ntemplate = %s\n' "$progs" "$http_tmp/no-template") >/dev/null 2>"$http_tmp/check.err"
is "$?/$(grep -c "template: $http_tmp/no-template: No such file" "$http_tmp/check.err")" "1/1" \
	"--check-config fails on a template binary that is missing"
"$fcgi_bin" --check-config --config <(printf '%s\ntemplate = %s\npreload = none\n' "$progs" "$http_tmp/no-template") >/dev/null 2>"$http_tmp/check.err"
is "$?" 0 "unless preload = none, which needs none"
done_testing
