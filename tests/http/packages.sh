#!/bin/bash
# packages.sh — dependencies that no installed package satisfies, installed
# on demand: from a PEP 503 index (python3 -m http.server on 127.0.0.1)
# and from a directory of wheels, with wheels this test writes itself
# (tests/http/wheels.py), hostile ones among them. Install, cache hit,
# a version of a pre-installed package, dependencies of a package,
# concurrent identical requests, eviction never of a set in use, the
# index down or slow, a set too big, every kind of bad entry; and that no
# hostile wheel changes anything outside its staging directory or runs.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/http/lib.sh"

markers=$http_tmp/markers
mkdir -p "$markers"
chmod 0777 "$markers"
$PY "$top_srcdir/tests/http/wheels.py" "$http_tmp/wheels" "$markers"
cache=$http_tmp/cache

# index_start [slow]: the index on $iport; slow: a server that accepts and
# never answers.
index_start() {
	iport=${iport:-$(free_port)}
	if [ "${1:-}" = slow ]; then
		$PY -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
held = []
while True:
    held.append(s.accept()[0])' "$iport" &
	else
		(cd "$http_tmp/wheels/index" && exec $PY -m http.server --bind 127.0.0.1 "$iport" >>"$http_tmp/index.log" 2>&1) &
	fi
	index_pid=$!
	for _ in $(seq 100); do
		$PY -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$iport" 2>/dev/null && return
		sleep 0.1
	done
	echo "Bail out! the package index did not start"
	exit 1
}
index_stop() { kill "$index_pid" 2>/dev/null; wait "$index_pid" 2>/dev/null; }
index_gets() { grep -c '"GET /simple' "$http_tmp/index.log" 2>/dev/null || true; }
metric() {	# metric NAME{LABELS}: its value now
	get /metrics
	awk -v k="$1" '$1 == k { print $2 }' <<<"$body"
}
deps_run() {	# deps_run SCRIPT DEPENDENCY...
	run_json "$($PY -c 'import json, sys; print(json.dumps({"script": sys.argv[1], "dependencies": sys.argv[2:]}))' "$@")"
}
# Nothing half made: no staging left, every set whole.
cache_whole() {
	is "$(ls -A "$1/staging")" "" "$2: nothing is left in staging"
	local partial=
	for s in "$1"/sets/*; do
		[ -e "$s" ] || continue
		[ -f "$s/info.json" ] && [ -d "$s/site" ] || partial="$partial $s"
	done
	is "$partial" "" "$2: every set in the cache is whole"
	is "$(find "$1" -type l)" "" "$2: the cache holds no symbolic link"
	is "$(ls -A "$1/locks")" "" "$2: no install lock is left"
}
installed='coderunner_package_sets_total{event="installed"}'
cached='coderunner_package_sets_total{event="cached"}'
evicted='coderunner_package_sets_total{event="evicted"}'
warm='coderunner_run_starts_total{start="warm"}'
cold='coderunner_run_starts_total{start="cold"}'

# locks_hidden warm|pre-started: a run with a set sees no lock of the host's
# in /proc/locks, not even the OFD locks that hold its own sandbox's uid and
# its neighbours' (tests/sandbox/isolation.sh holds one of the host's).
locks_hidden() {
	local w
	w=$(metric "$warm")
	deps_run 'print(len(open("/proc/locks").read().splitlines()))' greet==1.0
	is "$status/$(jq_ 'j["stdout"]')" "200/0" "$1, with a set: /proc/locks shows none of the host's locks"
	if [ "$1" = warm ]; then is "$(metric "$warm")" $((w + 1)) "$1: the run was warm"; fi
}

# starts_with_set warm|pre-started: a set that provides a module the
# interpreter imports as it starts. The run imports the set's, from its
# start, as a python3 started with the set on PYTHONPATH does, not the copy
# the template or a pre-started interpreter imported before the run. Each
# name counts where this host's interpreter looks for it as it starts.
startup=$(/usr/bin/python3 -s -vv -c pass 2>&1)
starts_with_set() {
	local hook c
	for hook in "_distutils_hack SHIM" "apport_python_hook APPORT"; do
		if ! grep -q "^# trying /.*/${hook% *}[./]" <<<"$startup" && ! grep -q "^import '${hook% *}'" <<<"$startup"; then
			skip "this interpreter does not look for ${hook% *} as it starts" "$1: a set's ${hook% *}"
			[ "$1" = warm ] && skip "this interpreter does not look for ${hook% *} as it starts" "cold"
			continue
		fi
		c=$(metric "$cold")
		deps_run "import builtins, ${hook% *}, sys; print(getattr(builtins, '${hook#* }', None), ${hook% *}.__file__.startswith(sys.path[1]))" starter==1.0
		is "$status/$(jq_ 'j["stdout"]')" '200/1 True' "$1: a set's ${hook% *} is the one the run imports, run as the interpreter starts"
		[ "$1" = warm ] && is "$(metric "$cold")" $((c + 1)) "cold: its sandbox's interpreter starts with the set on PYTHONPATH"
	done
}

# ---- from an index, warm runs
index_start
http_start "package_index_url = http://127.0.0.1:$iport/simple" "package_cache = $cache"
get /
is "$(jq_ 'j["capabilities"]["packages"]')" \
	"{\"installs\": true, \"index_url\": \"http://127.0.0.1:$iport/simple\", \"find_links\": null, \"max_mb\": 512, \"install_timeout_s\": 120}" \
	"GET / says installs are on, and from where"
is "$(stat -c %a "$cache/sets")" 711 "the sets' directory can be passed through but not listed"

deps_run 'import greet, os, sys; print(greet.hello()); print(sys.path[1]); print(os.environ["PYTHONPATH"])' greet==1.0
is "$status/$(jq_ 'j["stdout"].split()[:2]')" '200/["hello", "1.0"]' "a package the index has is installed on the first request and imported"
is "$(jq_ 'j["packages"]')" '{"greet": "1.0"}' "the response names the version the run got"
path=$(jq_ 'j["stdout"].split("\n")[1]')
like "$path" '^/packages/[0-9a-f]{64}/site$' "the set is on sys.path, right after the script's directory"
is "$(jq_ 'j["stdout"].split("\n")[2]')" "$path" "and in PYTHONPATH, for the script's own interpreters"
is "$(metric "$installed")" 1 "/metrics counts the install"
key=$($PY -c 'import hashlib, os, sys
print(hashlib.sha256(("index %s\nlinks none\npython %s\ngreet==1\n" % (sys.argv[1], os.path.realpath("/usr/bin/python3"))).encode()).hexdigest())' \
	"http://127.0.0.1:$iport/simple")
is "$(ls "$cache/requests")" "$key" "its requirements are keyed with the interpreter it resolves to (another Python installs anew)"
gets=$(index_gets)
w=$(metric "$warm")
deps_run 'import greet; print(greet.hello())' GREET==1.0
is "$status/$(jq_ 'j["stdout"]')" "200/hello 1.0" "the same set again (any spelling) runs"
is "$(index_gets)" "$gets" "without asking the index"
is "$(metric "$cached")/$(metric "$installed")" 1/1 "a cache hit, not an install"
is "$(metric "$warm")" $((w + 1)) "and the run was warm: no pre-imported module conflicts with the set"
deps_run 'import greet; print(greet.hello())' Greet==01.0.0
is "$status/$(jq_ 'j["stdout"]')/$(metric "$cached")/$(metric "$installed")" "200/hello 1.0/2/1" \
	"a version spelled otherwise that PEP 440 holds equal is the same set, not another install"
deps_run 'import greet; print(greet.hello())' greet
is "$status/$(jq_ 'j["stdout"]')/$(jq_ 'j["packages"]')" '200/hello 2.0/{"greet": "2.0"}' "no clause: the index's latest version"
# Another list that resolves to the same wheel gets a set of its own: what
# one install left never serves another's requirements.
deps_run 'import sys; print(sys.path[1])' greet
first=$(jq_ 'j["stdout"]')
deps_run 'import greet, sys; print(greet.VERSION, sys.path[1])' greet==2.0
like "$status/$(jq_ 'j["stdout"]')" "^200/2\.0 /packages/[0-9a-f]{64}/site\$" "greet==2.0 runs"
[ "$(jq_ 'j["stdout"].split()[1]')" != "$first" ]
ok $? "in a set of its own, though \"greet\" resolved to the same wheel"
deps_run 'import needs_greet; print(needs_greet.GREETING)' needs-greet pandas
is "$status/$(jq_ 'j["stdout"]')" "200/hello 2.0" "a package's own dependencies come with it"
pandas_version=$(/usr/bin/python3 -c 'import pandas; print(pandas.__version__)')
numpy_version=$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')
is "$(jq_ 'j["packages"]')" "{\"pandas\": \"$pandas_version\", \"needs-greet\": \"1.0\"}" \
	"every entry is named, the pre-installed one with its version"
c=$(metric "$cold")
deps_run 'import numpy; print(numpy.__version__)' numpy==0.1
is "$status/$(jq_ 'j["stdout"]')/$(jq_ 'j["packages"]')" '200/0.1/{"numpy": "0.1"}' \
	"numpy==0.1 gets what it asked for, not the pre-installed numpy"
is "$(metric "$cold")" $((c + 1)) "cold: the template had imported numpy"
c=$(metric "$cold")
deps_run 'import cycler; print(cycler.NAME)' shadow==1.0
is "$status/$(jq_ 'j["stdout"]')" '200/shadow' "a set's sourceless cycler.pyc is the run's cycler, not the template's"
is "$(metric "$cold")" $((c + 1)) "cold: the template had imported cycler"
starts_with_set warm
locks_hidden warm
c=$(metric "$cold")
deps_run 'import numpy; print(numpy.__version__)' crowd==1.0
is "$status/$(jq_ 'j["stdout"]')" '200/crowd' \
	"a set with more top-level modules than a run can name gets its own numpy too"
is "$(metric "$cold")" $((c + 1)) "cold: the set's modules could not be checked against the template's"
deps_run 'import numpy; print(numpy.__version__)' numpy needs-oldnumpy
is "$status/$(jq_ 'j["stdout"]')/$(jq_ 'j["packages"]')" '200/0.1/{"numpy": "0.1", "needs-oldnumpy": "1.0"}' \
	"a pre-installed package that a set brings again: the response names the version the run imports"
deps_run 'import numpy; print(numpy.__version__)' "numpy==$numpy_version" impostor
is "$status/$(jq_ 'j["error"]')" "400/dependencies: numpy==$numpy_version: the packages installed for the other dependencies bring impostor 1.0, whose module the run would import as numpy, which does not satisfy it" \
	"a 400 when another of the set's wheels brings a module named as a pre-installed package the entry pins"
deps_run 'import numpy; print(numpy.__version__)' "numpy==$numpy_version" data-impostor
is "$status/$(jq_ 'j["error"]')" "400/dependencies: numpy==$numpy_version: the packages installed for the other dependencies bring data-impostor 1.0, whose module the run would import as numpy, which does not satisfy it" \
	"and when the wheel brings it as a data file, which pip puts at the top too"
pillow_version=$(/usr/bin/python3 -c 'import PIL; print(PIL.__version__)')
deps_run 'import PIL; print(PIL.__version__)' "pillow==$pillow_version" fakepil
is "$status/$(jq_ 'j["error"]')" "400/dependencies: pillow==$pillow_version: the packages installed for the other dependencies bring fakepil 1.0, whose module the run would import as PIL, which does not satisfy it" \
	"and for a distribution imported by another name: pillow's PIL"
deps_run 'import numpy; print(numpy.__version__)' "numpy==$numpy_version" upper
is "$status/$(jq_ 'j["stdout"]')/$(jq_ 'j["packages"]')" "200/$numpy_version/{\"numpy\": \"$numpy_version\", \"upper\": \"1.0\"}" \
	"but a NumPy/, which the import does not find, stands in for nothing"
deps_run 'import numpy; print(numpy.__version__)' numpy impostor
is "$status/$(jq_ 'j["stdout"]')/$(jq_ 'j["packages"]')" '200/impostor/{"numpy": "1.0", "impostor": "1.0"}' \
	"where the entry allows it, the response names the version of the wheel whose numpy the run imports"
deps_run 'import numpy; print(numpy.__version__)' 'numpy>=1.20' needs-oldnumpy
is "$status/$(jq_ 'j["error"]')" "400/dependencies: numpy>=1.20: the packages installed for the other dependencies bring numpy 0.1, which does not satisfy it" \
	"a 400 when the set's version does not satisfy the entry the pre-installed one did"
deps_run 'import os
for what, f in [("write", lambda: open("/packages/x", "w")), ("list", lambda: os.listdir("/packages")),
                ("change", lambda: open(os.environ["PYTHONPATH"] + "/greet.py", "a"))]:
    try:
        f()
        print(what, "allowed")
    except OSError as e:
        print(what, "refused:", type(e).__name__)' greet==1.0
is "$(jq_ 'j["stdout"]')" "write refused: OSError
list refused: PermissionError
change refused: PermissionError" "a run can neither write nor list the package sets, nor change its own"

# Bad entries and packages that cannot be installed: the status an agent
# can act on, nothing kept.
deps_run 1 nosuch-package
is "$status/$(jq_ 'j["error"]')" "400/dependencies: the package index has no package nosuch-package" \
	"a package the index does not have is a 400 naming it"
is "$(jq_ 'j["exit_code"], j["stdout"]')" '[-1, ""]' "with the result fields"
deps_run 1 greet==9.9
is "$status" 400 "a version the index does not have is a 400"
like "$(jq_ 'j["error"]')" 'greet==9\.9' "naming it"
deps_run 1 sdistonly
is "$status" 400 "a package with no binary wheel is a 400"
like "$(jq_ 'j["error"]')" 'no binary wheel of sdistonly' "saying so: its setup.py was never run"
deps_run 'import spoof; print(spoof.V)' spoof
is "$status/$(jq_ 'j["stdout"]')/$(jq_ 'j["packages"]')" '200/2.0/{"spoof": "2.0"}' \
	"the version named is the one installed, whatever METADATA's folded lines say"
# A project page of the index that lists files elsewhere than on the web:
# one in the sandbox's own /usr, one in a git repository.
mkdir -p "$http_tmp/wheels/index/simple/offsite"
cat >"$http_tmp/wheels/index/simple/offsite/index.html" <<EOF_HTML
<a href="file:///usr/share/doc/offsite-1.0-py3-none-any.whl">offsite-1.0-py3-none-any.whl</a>
<a href="git+http://127.0.0.1:$iport/simple/greet/greet-1.0-py3-none-any.whl">offsite-1.0-py3-none-any.whl</a>
EOF_HTML
deps_run 1 offsite
is "$status/$(jq_ 'j["error"]')" "400/dependencies: no binary wheel of offsite for this interpreter" \
	"an index's links to files outside the web (file:, git+) are not candidates"
deps_run 'import os, roomy; d = os.path.dirname(roomy.__file__); print(sum(os.path.getsize(f"{d}/part{i}.bin") for i in range(5)))' roomy
is "$status/$(jq_ 'j["stdout"]')" "200/$((5 * 17 << 20))" \
	"a set of files larger than a run may write, more than a run's /tmp holds, installs"
deps_run 'import os, manyfiles; d = os.path.dirname(manyfiles.__file__); print(sum(f.startswith("f") for _, _, fs in os.walk(d) for f in fs))' manyfiles
is "$status/$(jq_ 'j["stdout"]')" "200/18000" \
	"a set of more files than a run's /work has inodes for installs"
deps_run 1 crowded
is "$status/$(jq_ 'j["error"]')" \
	"413/dependencies: the packages bring more modules than their installer's answer may name (max_output_kib); nothing was kept" \
	"a set of more modules than the installer's answer may name is a 413 saying so"
deps_run 1 greet==1.0 needs-greet
is "$status/$(jq_ 'j["error"]')" \
	"400/dependencies cannot be installed: greet==1.0 and needs-greet==1.0 conflict: The user requested greet==1.0; needs-greet 1.0 depends on greet>=2.0" \
	"requirements that conflict are a 400 naming what each asks for"
for bad in 'greet; rm -rf /' 'greet[extra]' 'greet @ http://x/greet.whl' '--index-url=http://evil' 'greet>=1,<2' \
	'greet==1.0; python_version>"3"' '../greet' 'greet ==1.0' 'https://x/y.whl' 'greet==1.0.zip' 'greet>=1.tar.gz'; do
	deps_run 1 "$bad"
	like "$status/$(jq_ 'j["error"]')" '^400/dependencies\[0\] .* is not a package name with at most one version clause' \
		"\"$bad\" is a 400 naming the entry"
done
deps_run 1 greet Greet==2.0
is "$status" 400 "the same package twice (after normalisation) is a 400"
run_json '{"script": "1", "dependencies": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p"]}'
is "$status" 400 "16 entries are a 400"

# Hostile wheels: refused, or installed as inert files; none writes
# outside its staging directory, none runs.
for evil in evil-dotdot evil-abs; do
	deps_run 1 "$evil"
	is "$status" 400 "$evil (a file outside the package) is refused"
done
deps_run 'import os; print(sorted(os.listdir(os.environ["PYTHONPATH"] + "/evil_link")))' evil-link
links_status=$status
is "$(find "$cache" -type l)" "" "evil-link's symbolic links did not become links (status $links_status)"
deps_run 'import evil_record; print(evil_record.OK)' evil-record
diag "evil-record (a RECORD that lies): $status"
is "$(find /tmp /var/tmp "$cache" -name outside.py 2>/dev/null; ls /etc/cron.d/x 2>/dev/null)" "" "nothing a lying RECORD names was written"
deps_run 'import os, evil_pth; print(evil_pth.OK, os.path.exists("/tmp/pth-marker"))' evil-pth
is "$status/$(jq_ 'j["stdout"]')" "200/True False" "a package's .pth file is installed but never run"
deps_run 'import os; print(os.path.exists("/tmp/pth-marker"))' evil-pth greet
is "$(jq_ 'j["stdout"]')" "False" "not even at the start of a cold run"
is "$(ls -A "$markers")" "" "no hostile wheel wrote into the host (markers dir empty)"
[ ! -e /tmp/evil-dotdot-marker ]; ok $? "nor into the host's /tmp"
cache_whole "$cache" "after the failures"

# The same new set asked for four times at once: one install.
i0=$(metric "$installed")
pids=
for n in 1 2 3 4; do
	curl -s -o "$http_tmp/conc.$n" -H 'Content-Type: application/json' \
		--data-binary '{"script": "import other, greet; print(other.NAME, greet.VERSION)", "dependencies": ["other", "greet==1.0"]}' \
		"$base/api/run" &
	pids="$pids $!"
done
wait $pids
good=0
for n in 1 2 3 4; do
	grep -q '"stdout": "other 1.0\\n"' "$http_tmp/conc.$n" && good=$((good + 1))
done
is "$good" 4 "four concurrent identical requests all run"
is "$(metric "$installed")" $((i0 + 1)) "after one install"

# The index gone: what is cached still runs; what is not is a 502.
index_stop
deps_run 1 big-a
is "$status" 502 "an index that cannot be reached is a 502"
like "$(jq_ 'j["error"]')" 'cannot be reached' "saying so"
like "$headers" '^X-Coderunner-Error: dependencies' "marked as the service's own, for a fleet's front end: nothing ran"
like "$headers" '^X-Coderunner-Message: dependencies: the package index cannot be reached: .*; retry later$' \
	"with its message in a header too, which the front, having intercepted the body, answers with"
deps_run 'import greet; print(greet.VERSION)' greet==1.0
is "$status/$(jq_ 'j["stdout"]')" "200/1.0" "a cached set runs without the index"
cache_whole "$cache" "after the index went away"
log_clean
http_stop

# A slow index: the install ends at package_install_timeout_s with a 504.
index_start slow
http_start "package_index_url = http://127.0.0.1:$iport/simple" "package_cache = $cache" \
	package_install_timeout_s=3 preload=none
t0=$(date +%s)
deps_run 1 big-b
is "$status" 504 "an install past package_install_timeout_s is a 504"
like "$headers" '^X-Coderunner-Error: dependencies' "marked as the service's own too"
[ $(($(date +%s) - t0)) -lt 20 ]; ok $? "and ends at its time limit"
cache_whole "$cache" "after the install timed out"
# A worker killed in an install (at the end of a reload's drain, say): its
# staging directory goes when it dies, not at the next start.
deps_run 1 big-c >/dev/null 2>&1 &
bg=$!
d=
for _ in $(seq 100); do d=$(ls "$cache/staging" | grep -m1 '^install\.'); [ -n "$d" ] && break; sleep 0.05; done
worker=$(cut -d. -f2 <<<"$d")
[ -n "$worker" ] && kill -9 "$worker"
wait $bg
for _ in $(seq 100); do [ -z "$(ls -A "$cache/staging")" ] && break; sleep 0.1; done
is "$(ls -A "$cache/staging")/${d:-none}" "/install.$worker.${d##*.}" \
	"a worker killed in an install: its staging directory is removed as it is reaped"
# And one killed while it removes an evicted set (staging/evicted.WORKER.KEY).
worker=$(fcgi_workers | head -1)
mkdir -p "$cache/staging/evicted.$worker.$(printf '%064d' 0)/site"
kill -9 "$worker"
for _ in $(seq 100); do [ -z "$(ls -A "$cache/staging")" ] && break; sleep 0.1; done
is "$(ls -A "$cache/staging")" "" "a worker killed in an eviction: the set it was removing goes as it is reaped"
http_stop
# Requests the same as one being installed wait for it in the run queue,
# as requests waiting for a slot do: past queue_size they are a 503 at
# once, and a worker is left for /health (all four workers were held, and
# /health waited for the install to time out).
http_start "package_index_url = http://127.0.0.1:$iport/simple" "package_cache = $cache" \
	package_install_timeout_s=8 preload=none max_runs=1 queue_size=1 workers=4
waiting=()
for i in 1 2 3 4; do
	curl -s -o "$http_tmp/same.$i.body" -D "$http_tmp/same.$i.h" -w '%{http_code}\n' -H 'Content-Type: application/json' \
		--data '{"script": "print(1)", "dependencies": ["big-e"]}' "$base/api/run" >"$http_tmp/same.$i" &
	waiting+=($!)
	sleep 0.3
done
sleep 1
is "$(curl -s -m 4 -o /dev/null -w '%{http_code}' "$base/health")" 200 \
	"four identical installs at once, on one run slot and one queue place: /health is answered"
is "$(cat "$http_tmp"/same.[34])" "503
503" "the two past the queue are a 503 at once"
like "$(cat "$http_tmp/same.4.h")" 'Retry-After: [0-9]+' "with Retry-After"
like "$(cat "$http_tmp/same.4.body")" '"error": "another request is installing the same dependencies, and every place in the queue is taken' \
	"saying what they would wait for"
# The one that waits in the queue for the install: its client gives up, and
# its place goes to the next request, which runs once the install has ended.
kill "${waiting[1]}"
sleep 0.5
run_json '{"script": "print(6)"}'
is "$status/$(jq_ 'j["stdout"]')" "200/6" "a request waiting for an install whose client left gives its queue place up"
wait "${waiting[@]}"
http_stop
# An install that fails (here at package_install_timeout_s): those that
# waited for it get its answer, rather than each trying the index again,
# one after the other, for as long again. (The install stopped with the
# service above left its lock file, which nobody holds: harmless.)
rm -f "$cache"/locks/*
http_start "package_index_url = http://127.0.0.1:$iport/simple" "package_cache = $cache" \
	package_install_timeout_s=3 preload=none max_runs=1 queue_size=3 workers=5
tried=$(grep -c 'package install failed' "$fcgi_log")
waiting=()
for i in 1 2 3; do
	curl -s -o "$http_tmp/failed.$i.body" -w '%{http_code}\n' -H 'Content-Type: application/json' \
		--data '{"script": "print(1)", "dependencies": ["big-f"]}' "$base/api/run" >"$http_tmp/failed.$i" &
	waiting+=($!)
	sleep 0.3
done
wait "${waiting[@]}"
is "$(cat "$http_tmp"/failed.[123] | tr '\n' ' ')" "504 504 504 " "three identical requests whose install times out are each a 504"
is "$(($(grep -c 'package install failed' "$fcgi_log") - tried))" 1 "from one install: those that waited for it got its answer"
is "$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["error"])' "$http_tmp/failed.3.body")" \
	"installing the dependencies took longer than 3 s (package_install_timeout_s); nothing was kept" \
	"the install's own message"
cache_whole "$cache" "after the waiters took the failed install's answer"
deps_run 1 big-f
is "$status" 504 "a request after the failure tries the index again"
is "$(($(grep -c 'package install failed' "$fcgi_log") - tried))" 2 "with an install of its own"
http_stop
index_stop

# ---- a cache whose file system is full: an install the sandbox cannot copy
# out whole keeps nothing, rather than a set without some of its files for
# every run that asks for it after (big-a holds a 0.7 MB file).
small=$http_tmp/small-fs
mkdir -p "$small" && mount -t tmpfs -o size=512k tmpfs "$small"
http_start "package_find_links = $http_tmp/wheels/links" "package_cache = $small/cache" preload=none
deps_run 'import big_a; print("ran")' big-a
like "$status/$(jq_ 'j["error"]')" '^507/the installed packages could not all be copied into package_cache' \
	"an install that fills package_cache's file system is a 507"
is "$(ls -A "$small/cache/sets" "$small/cache/requests" | grep -vc ':$\|^$')" 0 "and neither a set nor a request for one is kept"
http_stop
umount "$small"

# ---- from a directory of wheels, cold runs, a small cache
# (its parents do not exist yet: the service makes them.)
cache=$http_tmp/made/by/service/cache2
http_start "package_find_links = $http_tmp/wheels/links" "package_cache = $cache" \
	package_max_mb=2 package_cache_max_mb=1 preload=none
deps_run 'import greet; print(greet.VERSION)' greet==1.0
is "$status/$(jq_ 'j["stdout"]')" "200/1.0" "a package from package_find_links is installed"
locks_hidden pre-started
deps_run 1 nosuch-package
is "$status/$(jq_ 'j["error"]')" "400/dependencies: the wheel directory has no package nosuch-package" \
	"a package the directory does not have is a 400 naming it"
deps_run 1 huge
is "$status" 413 "a set larger than package_max_mb is a 413"
deps_run 1 smallfiles
is "$status" 413 "so is one of small files that take more than package_max_mb on disk, if not in bytes"
for twin in "sitehook sitecustomize" "stdlib-twin reprlib"; do
	deps_run 'print(globals().get("HOOKED"))' "${twin% *}"
	is "$status/$(jq_ 'j["error"]')" \
		"400/dependencies cannot be installed: the packages provide ${twin#* }, the name of a module of Python's own" \
		"a package that provides ${twin#* } is refused: it would stand in for Python's own"
done
deps_run 1 urldep
is "$status" 400 "a dependency named by URL, a source distribution, is a 400"
like "$(jq_ 'j["error"]')" 'depends on file:///links/evilsrc-1\.0\.tar\.gz, named by URL: only the index.s wheels are installed' \
	"saying so: its build backend was never run"
deps_run 1 urlwheel
is "$status/$(jq_ 'j["error"]')" \
	"400/dependencies cannot be installed: a package depends on file:///links/greet-1.0-py3-none-any.whl, named by URL: only the index's wheels are installed" \
	"and so is a wheel named by URL: nothing is fetched but from the index"
cache_whole "$cache" "after the set too big"

# Eviction past package_cache_max_mb (1 MB; big-* take 0.7 MB each): least
# recently used first, never a set a run holds. (The run holds its set for
# 10 s: big-b's install must end within it, on a loaded machine too.)
curl -s -o "$http_tmp/held" -H 'Content-Type: application/json' --data-binary \
	'{"script": "import big_a, os, time\ntime.sleep(10)\nprint(os.path.getsize(os.path.dirname(big_a.__file__) + \"/blob.bin\"))", "dependencies": ["big-a"]}' \
	"$base/api/run" &
held=$!
for _ in $(seq 100); do [ "$(metric "$installed")" -ge 2 ] && break; sleep 0.1; done
e0=$(metric "$evicted")
deps_run 'import big_b; print("b")' big-b
is "$status/$(jq_ 'j["stdout"]')" "200/b" "a second big set installs while the first is in use"
like "$(ls "$cache/sets" | wc -l)" '^[23]$' "greet's set may go, the one in use stays"
wait $held
is "$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["stdout"].strip())' "$http_tmp/held")" "716800" \
	"the run holding its set read it whole after the eviction pass"
is "$(metric "$evicted")" $((e0 + 1)) "only the set nobody used was evicted"
deps_run 'import big_c; print("c")' big-c
is "$status/$(jq_ 'j["stdout"]')" "200/c" "a third big set installs"
is "$(ls "$cache/sets" | wc -l)" 1 "the older sets made room for it"
dangling=0
for f in "$cache"/requests/*; do [ -d "$cache/sets/$(cat "$f")" ] || dangling=$((dangling + 1)); done
is "$dangling/$(ls "$cache/requests" | wc -l)" 0/1 "and the requests that pointed at them are gone with them"
i0=$(metric "$installed")
deps_run 'import big_a; print("a")' big-a
is "$status/$(jq_ 'j["stdout"]')/$(metric "$installed")" "200/a/$((i0 + 1))" "an evicted set is installed again when asked for"
starts_with_set pre-started
cache_whole "$cache" "after evictions"
log_clean
http_stop

# ---- a set whose record would be too large to read: with max_output_kib
# raised, the installer may name more modules than a set's info.json may
# hold (1 MiB); refused, and nothing is kept (a set no run could read, nor
# an eviction count, was left for each such request).
http_start "package_find_links = $http_tmp/wheels/links" "package_cache = $http_tmp/cache-record" \
	max_output_kib=4096 preload=none
deps_run 1 crowded
is "$status/$(jq_ 'j["error"]')" \
	"413/dependencies: the packages bring more modules than a set's record may name (1024 KiB); nothing was kept" \
	"a set of more modules than its record may name is a 413 saying so"
is "$(ls -A "$http_tmp/cache-record/sets")" "" "and leaves no set"
http_stop

# ---- an index behind a login, named in its URL as pip takes it: the
# install works, and no answer names the password.
aport=$(free_port)
$PY - "$http_tmp/wheels/index" "$aport" <<'EOF_PY' &
import base64, functools, http.server, sys
class Login(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"agent:s3cr%t").decode():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="index"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])),
                                functools.partial(Login, directory=sys.argv[1])).serve_forever()
EOF_PY
login_pid=$!
for _ in $(seq 100); do
	$PY -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$aport" 2>/dev/null && break
	sleep 0.1
done
http_start "package_index_url = http://agent:s3cr%25t@127.0.0.1:$aport/simple" "package_cache = $http_tmp/cache-login" preload=none
deps_run 'import greet; print(greet.VERSION)' greet==1.0
is "$status/$(jq_ 'j["stdout"]')" "200/1.0" "an index whose URL holds a login: the install works"
get /
unlike "$body" 's3cr' "GET / does not show the login"
http_stop
http_start "package_index_url = http://agent:n0pe-pw@127.0.0.1:$aport/simple" "package_cache = $http_tmp/cache-login" preload=none
deps_run 'import greet; print(greet.VERSION)' greet==2.0
is "$status/$(jq_ 'j["error"]')" "502/dependencies: the package index answered 401 for http://127.0.0.1:$aport/simple/greet/: the login in package_index_url is missing or wrong" \
	"a login the index refuses: its 401, said without the login, and not as one to retry"
unlike "$body$headers" 'n0pe-pw' "and no answer names the password"
http_stop
kill "$login_pid"
wait "$login_pid" 2>/dev/null

# ---- configuration
for bad in "package_index_url = ftp://mirror/simple" "package_index_url = http://a b/" "package_find_links = wheels" \
	"package_index_url = http://127.0.0.1/simple
package_find_links = /srv/wheels"; do
	printf '%s\n' "$bad" >"$http_tmp/bad.conf"
	"$fcgi_bin" --config "$http_tmp/bad.conf" --check-config >/dev/null 2>"$http_tmp/bad.err"
	is "$?" 1 "refused: $(echo $bad)"
	like "$(cat "$http_tmp/bad.err")" 'package_' "naming the key"
done

done_testing
