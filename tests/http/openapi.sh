#!/bin/bash
# openapi.sh — GET /openapi.json cannot drift from the service: it is valid
# OpenAPI 3.1 (an OpenAPI validator from npm, pinned), it has exactly the
# router's endpoints and each dialect's fields as the C code reads them, its
# limits are the configuration's, and every curl example of the README, sent
# to the service, is a request it describes and gets an answer it describes.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/http/lib.sh"

node_dir=${CODERUNNER_NODE_DIR:-$top_srcdir/build/node}
pkgs="@seriousme/openapi-schema-validator@2.11.0 ajv@8.20.0"
if ! (cd "$node_dir" 2>/dev/null && node -e 'for (const p of ["@seriousme/openapi-schema-validator", "ajv/dist/2020.js"]) require.resolve(p)' 2>/dev/null) ||
   ! grep -q '"version": "2.11.0"' "$node_dir/node_modules/@seriousme/openapi-schema-validator/package.json" 2>/dev/null; then
	mkdir -p "$node_dir"
	(cd "$node_dir" && npm install --save-exact --no-audit --no-fund --silent $pkgs >npm-openapi.log 2>&1) ||
		{ echo "Bail out! npm install $pkgs failed: $(tail -5 "$node_dir/npm-openapi.log")"; exit 1; }
fi

http_start memory_max_mb=3000
get /openapi.json
is "$status" 200 "GET /openapi.json answers"
cp "$http_tmp/resp" "$http_tmp/openapi.json"
unlike "$body" '@[a-z_]+@' "every @key@ of the template is filled in"

# --- what the C code takes, and the document says -------------------------------
src=$top_srcdir/fcgi
routes=$(sed -n 's/^	{ "\([A-Z]*\)", "\([^"]*\)".*/\2 \1/p' "$src/http/router.c" | sort)
documented=$($PY -c 'import json, sys; d = json.load(open(sys.argv[1]))
print("\n".join(sorted("%s %s" % (p, m.upper()) for p, ops in d["paths"].items() for m in ops)))' "$http_tmp/openapi.json")
is "$documented" "$routes" "its paths and methods are the router's, exactly"
fields=$(sed -n '/^static const char \*const fields\[\] = {/,/^};/p' "$src/dialects/request.c" | grep -o '"[a-z_]*"' | tr -d '"' | sort | tr '\n' ' ')
is "$($PY -c 'import json, sys; print(" ".join(sorted(json.load(open(sys.argv[1]))["components"]["schemas"]["RunRequest"]["properties"])))' "$http_tmp/openapi.json") " \
	"$fields" "POST /api/run: its fields are those request.c knows"
pyfields=$(grep -o 'json_object_object_get_ex(tree, "[a-z_]*"' "$src/dialects/pyrunner.c" | grep -o '"[a-z_]*"' | tr -d '"' | sort | tr '\n' ' ')
is "$($PY -c 'import json, sys; print(" ".join(sorted(json.load(open(sys.argv[1]))["components"]["schemas"]["PyRunnerRequest"]["properties"])))' "$http_tmp/openapi.json") " \
	"$pyfields" "POST /run: its fields are those pyrunner.c reads"
is "$($PY -c 'import json, sys; s = json.load(open(sys.argv[1]))["components"]["schemas"]["RunRequest"]["properties"]
print(s["memory_mb"]["maximum"], s["memory_mb"]["default"], s["dependencies"]["maxItems"], s["timeout_s"]["default"])' "$http_tmp/openapi.json")" \
	"$("$fcgi_bin" --config "$conf" --print-config | awk -F' = ' '$1 == "memory_max_mb" { a = $2 } $1 == "memory_default_mb" { b = $2 } $1 == "max_dependencies" { c = $2 } $1 == "timeout_default_s" { d = $2 } END { print a, b, c, d }')" \
	"its limits are the configuration's in force (memory_max_mb = 3000 here)"

# --- the README's examples, sent and answered ------------------------------------
$PY - "$top_srcdir/README.md" "$base" "$http_tmp/examples.json" <<'PYEOF'
import json, re, subprocess, sys, urllib.error, urllib.request
readme, base, out = sys.argv[1:4]
lines = open(readme).read().split("\n")
examples, fenced, i = [], False, 0
while i < len(lines):
    line, no = lines[i], i + 1
    if line.startswith("```"):
        fenced = not fenced
    elif fenced and line.startswith("curl ") and "localhost:8080" in line:
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + lines[i]
        line = line.split(" | ")[0]
        # The shell's own reading of the command line ($'...' and all).
        argv = subprocess.run(["bash", "-c", 'eval "set -- $1"; printf "%s\\0" "$@"', "_", line[5:]],
                              capture_output=True, check=True).stdout.decode().split("\0")[:-1]
        method, headers, data, url = "GET", {}, None, None
        it = iter(argv)
        for a in it:
            if a == "-s":
                continue
            if a == "-H":
                k, _, v = next(it).partition(":")
                headers[k.strip()] = v.strip()
            elif a in ("-d", "--data-binary"):
                data, method = next(it), "POST"
            elif a == "-X":
                method = next(it)
            elif "localhost:8080" in a:
                url = a
        path = re.sub(r"^(http://)?localhost:8080", "", url)
        req = urllib.request.Request(base + path, data=data.encode() if data is not None else None,
                                     headers=headers, method=method)
        try:
            r = urllib.request.urlopen(req, timeout=120)
        except urllib.error.HTTPError as e:
            r = e
        body = r.read().decode()
        examples.append({"line": no, "method": method, "path": path.split("?")[0], "body": data,
                         "content_type": headers.get("Content-Type"), "status": r.status,
                         "response_type": r.headers.get("Content-Type", ""), "response": body})
    i += 1
json.dump(examples, open(out, "w"))
print(len(examples))
PYEOF
n_examples=$($PY -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$http_tmp/examples.json")
[ "$n_examples" -ge 15 ]; ok $? "the README has curl examples for the service ($n_examples)"
cp "$top_srcdir/tests/http/openapi_check.mjs" "$node_dir/"
out=$(cd "$node_dir" && node openapi_check.mjs "$http_tmp/openapi.json" "$http_tmp/examples.json" 2>&1)
node_checks "" <<<"$out"
[ $checks -gt "$n_examples" ]; ok $? "every example was checked ($checks checks)" || diag "$out"
http_stop
done_testing
