# tests/http/lib.sh — start a real nginx and spawn-fcgi + coderunner-fcgi on
# 127.0.0.1 for one HTTP test file, and stop them (and check they left
# nothing behind) at the end. Source it after tests/tap.sh.
#
#   http_start [KEY=VALUE...]   config keys for coderunner.conf
#   post PATH BODY [CURL-ARGS...]   -> $status, $body, $headers
#   get PATH [CURL-ARGS...]     the same for a GET
#   jq_ EXPR                    evaluate a Python expression on $body (as j)
#   json_with KEY SOURCE [JSON] a JSON object: {KEY: SOURCE} plus JSON's fields
#   http_stop                   stop everything, check for leaks
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
PY=/usr/bin/python3

http_tmp=$(mktemp -d /tmp/coderunner-http.XXXXXX)
chmod 0755 "$http_tmp"
. "$top_srcdir"/tests/template-cache.sh
fcgi_bin=$top_builddir/coderunner-fcgi
sandbox_bin=$top_builddir/coderunner-sandbox

free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

http_start() {
	port=$(free_port)
	sock=$http_tmp/fcgi.sock
	work_root=$http_tmp/work
	fcgi_log=$http_tmp/fcgi.log
	conf=$http_tmp/coderunner.conf
	{
		echo "sandbox = $sandbox_bin"
		echo "template = $top_builddir/coderunner-template"
		echo "work_root = $work_root"
		echo "python = /usr/bin/python3"
		echo "template_cache = $template_cache"
		# HTTP_CONFIG: keys a whole test file runs with (tests/http/cold/).
		[ -z "${HTTP_CONFIG:-}" ] || printf '%s\n' "$HTTP_CONFIG"
		for kv in "$@"; do echo "$kv"; done
	} >"$conf"
	# The shipped snippet, with only the socket path changed.
	# snippet_sed: a further edit, such as turning the rate limit on.
	sed -e "s|/run/coderunner/fcgi.sock|$sock|g" -e "s|/usr/share/coderunner/playground/|$top_srcdir/playground/|" \
		-e "s|/etc/coderunner/|$http_tmp/|g" \
		${snippet_sed:+-e "$snippet_sed"} \
		"$top_srcdir/nginx/coderunner.conf" >"$http_tmp/coderunner-snippet.conf"
	mkdir -p "$http_tmp/nginx"
	# The snippet includes fastcgi_params relative to the configuration dir.
	ln -sf /etc/nginx/fastcgi_params "$http_tmp/fastcgi_params"
	cat >"$http_tmp/nginx.conf" <<NGINX
user root root;
worker_processes 2;
daemon off;
pid $http_tmp/nginx.pid;
error_log $http_tmp/nginx-error.log warn;
events { worker_connections 256; }
http {
	# As Debian's nginx.conf: types by extension, which error pages must
	# not take from the URI.
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	access_log off;
	client_body_temp_path $http_tmp/nginx/body;
	fastcgi_temp_path $http_tmp/nginx/fastcgi;
	proxy_temp_path $http_tmp/nginx/proxy;
	uwsgi_temp_path $http_tmp/nginx/uwsgi;
	scgi_temp_path $http_tmp/nginx/scgi;
	server {
		listen 127.0.0.1:$port;
		include $http_tmp/coderunner-snippet.conf;
	}
	${nginx_extra:-}
}
NGINX
	# fcgi_wrapper: a command to run the service under, such as valgrind.
	# fcgi_tcp=1: the service listens on a TCP port of 127.0.0.1 instead
	# (spawn-fcgi -p), which nginx is pointed at.
	local listen=(-s "$sock" -M 0600)
	if [ -n "${fcgi_tcp:-}" ]; then
		fcgi_port=$(free_port)
		listen=(-a 127.0.0.1 -p "$fcgi_port")
		sed -i "s|unix:$sock|127.0.0.1:$fcgi_port|g" "$http_tmp/coderunner-snippet.conf"
	fi
	spawn-fcgi -n "${listen[@]}" -- ${fcgi_wrapper[@]+"${fcgi_wrapper[@]}"} \
		"$fcgi_bin" --config "$conf" 2>>"$fcgi_log" &
	fcgi_pid=$!
	nginx -c "$http_tmp/nginx.conf" -e "$http_tmp/nginx-error.log" &
	nginx_pid=$!
	base=http://127.0.0.1:$port
	local want=1 n=0
	for _ in $(seq "${start_tries:-100}"); do
		if { [ -S "$sock" ] || [ -n "${fcgi_tcp:-}" ]; } && curl -s -o /dev/null "$base/health" 2>/dev/null; then
			# Wait for the whole pool, so fd and process counts are stable.
			want=$("$fcgi_bin" --config "$conf" --print-config | sed -n 's/^workers = //p')
			n=$(pgrep -P "$fcgi_pid" -c 2>/dev/null) || n=0
			[ "$n" -ge "$want" ] && break
		fi
		sleep 0.1
	done
	if [ "$n" -lt "$want" ]; then
		echo "Bail out! nginx or coderunner-fcgi did not start"
		cat "$fcgi_log" "$http_tmp/nginx-error.log" | sed 's/^/# /'
		exit 1
	fi
	# With a preload list, runs start warm once the template has imported
	# it: wait for that, so that the tests run on the warm path (runs go
	# cold until then, and the tests that want cold runs say preload = none).
	[ "${warm_wait:-1}" = 1 ] || return 0
	"$fcgi_bin" --config "$conf" --print-config | grep -qx 'preload = none' && return 0
	for _ in $(seq 600); do
		curl -s "$base/" 2>/dev/null | grep -q '"warm": true' && return 0
		sleep 0.1
	done
	echo "Bail out! the template did not become warm"
	cat "$fcgi_log" | sed 's/^/# /'
	exit 1
}

# post PATH BODY [CURL-ARGS...]: sets status, body, headers
post() {
	local path=$1 data=$2; shift 2
	printf '%s' "$data" >"$http_tmp/req"
	status=$(curl -s -o "$http_tmp/resp" -D "$http_tmp/resp-headers" -w '%{http_code}' \
		--data-binary "@$http_tmp/req" "$@" "$base$path")
	body=$(cat "$http_tmp/resp")
	headers=$(tr -d '\r' <"$http_tmp/resp-headers")
}

# get PATH [CURL-ARGS...]: sets status, body, headers
get() {
	local path=$1; shift
	status=$(curl -s -o "$http_tmp/resp" -D "$http_tmp/resp-headers" -w '%{http_code}' "$@" "$base$path")
	body=$(cat "$http_tmp/resp")
	headers=$(tr -d '\r' <"$http_tmp/resp-headers")
}

# node_checks PREFIX <<<OUTPUT: the JSON lines {"name", "ok", "detail"} that
# a node script of these tests printed, as TAP checks; other lines become
# diagnostics. Sets $checks to how many there were.
node_checks() {
	local line good name
	checks=0
	while IFS= read -r line; do
		case $line in '{"name"'*) ;; *) diag "$line"; continue ;; esac
		checks=$((checks + 1))
		read -r good name < <($PY -c 'import json, sys; j = json.loads(sys.argv[1]); print(j["ok"], j["name"])' "$line")
		[ "$good" = True ]; ok $? "$1$name" || diag "$($PY -c 'import json, sys; print(json.loads(sys.argv[1])["detail"])' "$line")"
	done
}

# run_json JSON: POST it to /api/run as application/json
run_json() {
	post /api/run "$1" -H 'Content-Type: application/json' "${@:2}"
}

# jq_ EXPR: a Python expression over the response body bound to j
jq_() {
	$PY -c 'import json,sys; j=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(v if isinstance(v,str) else json.dumps(v))' \
		"$http_tmp/resp" "$1" 2>&1
}

# json_with KEY SOURCE [JSON-OBJECT]: Python source as a JSON request body
json_with() {
	$PY -c 'import json,sys; d={sys.argv[1]: sys.argv[2]}; d.update(json.loads(sys.argv[3])); print(json.dumps(d))' \
		"$1" "$2" "${3:-{\}}"
}

# The master's children: its workers, and its pre-started sandboxes (whose
# name the kernel cuts to 15 characters).
fcgi_workers() { pgrep -P "$fcgi_pid" -x coderunner-fcgi | sort -n; }
pool_sandboxes() {	# pre-started by the master, or forked by its template
	{ pgrep -P "$fcgi_pid" -x coderunner-sand
	  for t in $(pgrep -P "$fcgi_pid" -x coderunner-temp); do pgrep -P "$t" -x coderunner-sand; done; } | sort -n
}
# A worker in a run waits in poll() on its pipes (an idle one in
# epoll_wait(), a queued one on a futex); a sandbox that took a run has
# handed its output pipes over to the worker.
busy_workers() {
	local w
	for w in $(fcgi_workers); do
		grep -q poll "/proc/$w/wchan" 2>/dev/null && ! grep -qE 'epoll|ep_poll' "/proc/$w/wchan" && echo "$w"
	done
}
busy_sandboxes() {
	local s
	for s in $(pool_sandboxes); do
		ls -l "/proc/$s/fd" 2>/dev/null | grep -q 'pipe:' || echo "$s"
	done
}

http_stop() {
	if [ -n "${nginx_pid:-}" ]; then
		kill "$nginx_pid" 2>/dev/null
		wait "$nginx_pid" 2>/dev/null
	fi
	if [ -n "${fcgi_pid:-}" ] && kill -0 "$fcgi_pid" 2>/dev/null; then
		kill -TERM "$fcgi_pid"
		wait "$fcgi_pid" 2>/dev/null
	fi
	nginx_pid= fcgi_pid=
}

cleanup() {
	http_stop
	if [ -n "${KEEP_HTTP_TMP:-}" ]; then
		echo "# kept $http_tmp"
	else
		rm -rf "$http_tmp"
	fi
}
trap cleanup EXIT

# stop_timed: SIGTERM to the service, and once it has ended, the whole
# seconds that took in $stopped_s
stop_timed() {
	local t0
	t0=$(date +%s%N)
	kill -TERM "$fcgi_pid"
	wait "$fcgi_pid"
	fcgi_pid=
	stopped_s=$((($(date +%s%N) - t0) / 1000000000))
}

# reload_refused: a SIGHUP to the master, then the log's line of the reload
# it refused, once there is one (nothing after 5 s)
reload_refused() {
	local said
	said=$(grep -c "SIGHUP: keeping" "$fcgi_log")
	kill -HUP "$fcgi_pid"
	for _ in $(seq 50); do [ "$(grep -c "SIGHUP: keeping" "$fcgi_log")" -gt "$said" ] && break; sleep 0.1; done
	grep "SIGHUP: keeping" "$fcgi_log" | tail -1
}

# log_clean: no sanitizer report and no worker that died on its own
log_clean() {
	local bad
	bad=$(grep -E 'runtime error|Sanitizer|exited with status|ERROR:' "$fcgi_log" | head -5)
	is "$bad" "" "the service log has no sanitizer report and no crashed worker"
}
