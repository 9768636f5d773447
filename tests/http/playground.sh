#!/bin/bash
# playground.sh — /playground/ through the shipped nginx snippet, in headless
# Chromium (Debian's) driven by puppeteer-core (from npm, pinned). The
# screenshot after the chart example is kept with the test logs.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/http/lib.sh"

node_dir=${CODERUNNER_NODE_DIR:-$top_srcdir/build/node}
PUPPETEER=puppeteer-core@24.43.1
if ! grep -q '"version": "24.43.1"' "$node_dir/node_modules/puppeteer-core/package.json" 2>/dev/null; then
	mkdir -p "$node_dir"
	(cd "$node_dir" && PUPPETEER_SKIP_DOWNLOAD=1 npm install --save-exact --no-audit --no-fund --silent "$PUPPETEER" >npm-playground.log 2>&1) ||
		{ echo "Bail out! npm install $PUPPETEER failed: $(tail -5 "$node_dir/npm-playground.log")"; exit 1; }
fi
[ -x /usr/bin/chromium ] || { echo "Bail out! /usr/bin/chromium is missing (tools/deps test installs it)"; exit 1; }

# A main() past its timeout is checked in Chromium; 3 s keeps that short.
http_start execute_timeout_s=3
get /playground -H 'Host: coderunner.example:8443'
is "$status/$(sed -n 's/^Location: //Ip' <<<"$headers")" "301//playground/" \
	"/playground redirects to /playground/ on the scheme, name and port the client used"
like "$headers" 'X-Request-Id: [0-9a-f]{32}' "with the request's id"
get /playground/
is "$status" 200 "/playground/ is served by nginx"
like "$headers" 'Content-Security-Policy: default-src .none.' "with a content security policy"
like "$headers" 'X-Request-Id: [0-9a-f]{32}' "and the request's id"
get /playground/../coderunner.conf
unlike "$status" '^200$' "and nothing outside its directory"
get /playground/nope.js
is "$status/$(jq_ 'j["error"]')" "404/the playground has no such file" "a file it does not have is a JSON 404"
like "$headers" 'X-Request-Id: [0-9a-f]{32}' "with the request's id"
post /playground/ '{}'
is "$status/$(jq_ 'j["error"]')/$(grep -i '^allow:' <<<"$headers")" "405/the playground is read with GET/Allow: GET, HEAD" \
	"a POST is a JSON 405 that names the methods"
# Their type is JSON whatever the file's extension says (lib.sh's nginx has
# mime.types, as Debian's does).
ctype() { sed -n 's/^Content-Type: //Ip' <<<"$headers"; }
is "$(ctype)" application/json "its 405 is sent as JSON"
get /playground/nope.html
is "$status/$(ctype)" "404/application/json" "and its 404 for a .html it does not have"
# A Range past a file's end would be nginx's HTML 416; ranges are off.
get /playground/playground.js -H 'Range: bytes=999999-'
is "$status/$(ctype)" "200/text/javascript" "a Range past the end of a file gets the whole file, not an HTML error"
get /playground/playground.js -H 'If-Match: "another"'
is "$status/$(ctype)/$(jq_ 'j["exit_code"]')" "412/application/json/-1" "an If-Match the file does not meet is a JSON 412"
# This location's error_page lines replace the server's: those that can
# come from it are JSON too.
post /playground '{}'
is "$status/$(ctype)/$(jq_ 'j["error"]')/$(grep -i '^allow:' <<<"$headers")" \
	"405/application/json/the playground is read with GET/Allow: GET, HEAD" "and so is a POST to /playground, not a redirect"
head -c $((2 << 20)) /dev/zero >"$http_tmp/big"
for path in /playground /playground/ /metrics; do
	status=$(curl -s -o "$http_tmp/resp" -w '%{http_code}' --data-binary "@$http_tmp/big" "$base$path")
	is "$status" 405 "a POST of 2 MiB to $path is a 405 too, not a 413 naming a limit it is under"
done
head -c $((17 << 20)) /dev/zero >"$http_tmp/huge"
for path in /playground /playground/ /playground/index.html; do
	status=$(curl -s -o "$http_tmp/resp" -D "$http_tmp/resp-headers" -w '%{http_code}' --data-binary "@$http_tmp/huge" "$base$path")
	headers=$(tr -d '\r' <"$http_tmp/resp-headers")
	is "$status/$(ctype)/$(jq_ 'j["error"]')" "413/application/json/the request body is larger than the 16 MiB limit" \
		"a body past the limit to $path is the JSON 413"
done
bad_chunk=$($PY - "${base##*:}" <<'EOF_PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET /playground/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
head, _, body = data.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode(), body.decode(errors="replace").strip())
EOF_PY
)
like "$bad_chunk" '^HTTP/1.1 400 .* \{"error": "the web server could not read this HTTP request"' "and so is a chunk it cannot read"

# The playground runs through /api/run and /execute under its own path, on
# connections that close after each answer (why: the main() step in
# Chromium below). Its files close theirs too, so the page holds no idle
# connection a run could go out on.
post /playground/api/run '{"script": "print(6 * 7)"}' -H 'Content-Type: application/json'
is "$status/$(jq_ 'j["stdout"]')" "200/42" "/playground/api/run is /api/run"
like "$headers" 'Connection: close' "on a connection that closes after its answer"
post /playground/execute '{"script": "def main():\n    return 6 * 7\n"}' -H 'Content-Type: application/json'
is "$status/$(jq_ 'j["result"]')" "200/42" "/playground/execute is /execute"
like "$headers" 'Connection: close' "on a connection that closes after its answer"
get /playground/playground.js
like "$headers" 'Connection: close' "and so do the playground's files"
get /playground/nope/execute
is "$status" 404 "nothing else under /playground/ runs"

printf 'city,temp\nOslo,8\nLima,19\n' >"$http_tmp/data.csv"
shot=$top_builddir/tests/http/playground.png
rm -f "$shot"
cp "$top_srcdir/tests/http/playground_check.mjs" "$node_dir/"
out=$(cd "$node_dir" && timeout 300 node playground_check.mjs "$base" "$shot" "$http_tmp/data.csv" 2>&1)
node_checks "Chromium: " <<<"$out"
[ $checks -ge 12 ]; ok $? "every check in Chromium ran ($checks)" || diag "$out"
[ -s "$shot" ] && [ "$(head -c 4 "$shot" | tail -c 3)" = PNG ]; ok $? "the screenshot is kept: $shot"
http_stop

# An API key typed into the page goes as its UTF-8, as curl sends it: a key
# past Latin-1 (which fetch would refuse) runs, from the page as from curl.
key='ключ-к-песочнице-2026'
printf '%s\n' "$key" >"$http_tmp/keys"
http_start preload=none "api_keys_file = $http_tmp/keys"
post /api/run 'print(6 * 7)' -H 'Content-Type: text/plain' -H "Authorization: Bearer $key"
is "$status/$(jq_ 'j["stdout"]')" "200/42" "curl runs with a key in UTF-8"
out=$(cd "$node_dir" && KEY=$key timeout 120 node playground_check.mjs "$base" "$shot.key.png" "$http_tmp/data.csv" 2>&1)
node_checks "Chromium, with an API key: " <<<"$out"
[ $checks -eq 6 ]; ok $? "every check with an API key ran ($checks)" || diag "$out"
http_stop
done_testing
