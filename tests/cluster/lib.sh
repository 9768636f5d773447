# tests/cluster/lib.sh — a fleet on one machine: hosts as network
# namespaces, each running nginx with the shipped snippet and coderunner
# (spawn-fcgi + coderunner-fcgi) from a build, its own work_root, socket and
# run uids; and a front nginx with the shipped coderunner-fleet.conf in a
# namespace of its own, joined to each host by a veth pair. Source it with
# $build (a build directory) and $top set; as root.
#
#   fleet_setup N         namespaces and links for N hosts and the front
#   host_start I [KEY=VALUE...]   nginx + coderunner on host I
#   host_kill I           kill -9 every process of host I
#   host_leftovers I      what of host I still runs: "PID COMMAND" lines
#   host_stop_service I   SIGTERM to host I's coderunner (nginx stays)
#   host_start_service I  coderunner again on host I
#   front_start I...      the front, with hosts I... in its upstream
#                         ($front_sed: a sed edit of the shipped file)
#   front URL-PATH        the URL of the front, from inside its namespace
#   in_front CMD...       run CMD in the front's namespace
#   fleet_teardown        everything stopped, every namespace gone
export PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
PY=/usr/bin/python3
fleet_id=cr$$
fleet_tmp=$(mktemp -d /tmp/coderunner-cluster.XXXXXX)
chmod 0755 "$fleet_tmp"
n_hosts=0

ns() { echo "$fleet_id-$1"; }			# ns front | ns 1
host_ip() { echo "10.$((200 + $1)).$(( $$ % 250 )).2"; }
front_ip() { echo "10.$((200 + $1)).$(( $$ % 250 )).1"; }

fleet_setup() {
	n_hosts=$1
	ip netns add "$(ns front)" || return 1
	ip -n "$(ns front)" link set lo up
	for i in $(seq "$n_hosts"); do
		ip netns add "$(ns "$i")" || return 1
		ip -n "$(ns "$i")" link set lo up
		ip link add "$fleet_id-f$i" netns "$(ns front)" type veth peer name "$fleet_id-h$i" netns "$(ns "$i")" || return 1
		ip -n "$(ns front)" addr add "$(front_ip "$i")/24" dev "$fleet_id-f$i"
		ip -n "$(ns "$i")" addr add "$(host_ip "$i")/24" dev "$fleet_id-h$i"
		ip -n "$(ns front)" link set "$fleet_id-f$i" up
		ip -n "$(ns "$i")" link set "$fleet_id-h$i" up
		mkdir -p "$fleet_tmp/h$i/nginx"
	done
	mkdir -p "$fleet_tmp/front"
}

# nginx_conf DIR CONNECTIONS HTTP-BLOCK: DIR/nginx.conf, an nginx of our
# own (pid, log and temporary files under DIR) serving HTTP-BLOCK.
nginx_conf() {
	mkdir -p "$1/nginx"
	cat >"$1/nginx.conf" <<NGINX
user root root;
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/nginx-error.log warn;
events { worker_connections $2; }
http {
	# As Debian's nginx.conf: types by extension, which error pages must
	# not take from the URI.
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	access_log off;
	client_body_temp_path $1/nginx/body;
	fastcgi_temp_path $1/nginx/fastcgi;
	proxy_temp_path $1/nginx/proxy;
	uwsgi_temp_path $1/nginx/uwsgi;
	scgi_temp_path $1/nginx/scgi;
	$3
}
NGINX
}

# host_uid_first I: the first of host I's 300 run uids. Hosts share this
# machine's uids: each takes runs' uids of its own, as separate VMs would
# have them to themselves; and none from the package's default run_uids
# (2000000000-2000000999), which every other coderunner on the machine (an
# HTTP test running beside this one) takes its runs' uids from: their runs
# would be counted as this host's.
host_uid_first() { echo $((2000300000 + ($1 - 1) * 300)); }

# host_start I [KEY=VALUE...]: the package's shape on host I.
host_start() {
	local i=$1 d=$fleet_tmp/h$1; shift
	local first
	first=$(host_uid_first "$i")
	{
		echo "sandbox = $build/coderunner-sandbox"
		echo "template = $build/coderunner-template"
		echo "python = /usr/bin/python3"
		echo "work_root = $d/work"
		echo "template_cache = $d/template-cache"
		echo "package_cache = $d/packages"
		echo "run_uids = $first-$((first + 299))"
		for kv in "$@"; do echo "$kv"; done
	} >"$d/coderunner.conf"
	sed -e "s|/run/coderunner/fcgi.sock|$d/fcgi.sock|g" \
		-e "s|/usr/share/coderunner/playground/|$top/playground/|" \
		-e "s|/etc/coderunner/|$d/|g" \
		"$top/nginx/coderunner.conf" >"$d/snippet.conf"
	# The front may read this host's /metrics, as Prometheus would.
	echo "allow $(front_ip "$i");" >"$d/metrics-allow.conf"
	ln -sf /etc/nginx/fastcgi_params "$d/fastcgi_params"
	nginx_conf "$d" 512 "server { listen $(host_ip "$i"):80; include $d/snippet.conf; }"
	ip netns exec "$(ns "$i")" nginx -c "$d/nginx.conf" &
	host_start_service "$i"
}

host_start_service() {
	local i=$1 d=$fleet_tmp/h$1
	ip netns exec "$(ns "$i")" spawn-fcgi -n -s "$d/fcgi.sock" -M 0600 -- \
		"$build/coderunner-fcgi" --config "$d/coderunner.conf" 2>>"$d/fcgi.log" &
	echo $! >"$d/fcgi.pid"
}

# Waits until host I answers a run through its own nginx (warm, if it has
# a template to wait for).
host_wait() {
	local i=$1 want='"warm": true'
	grep -Eq '^preload ?= ?none' "$fleet_tmp/h$i/coderunner.conf" && want='"warm": false'
	for _ in $(seq 600); do
		if ip netns exec "$(ns front)" curl -s -m 5 "http://$(host_ip "$i")/" 2>/dev/null | grep -q "$want"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

host_kill() {
	local pids
	pids=$(ip netns pids "$(ns "$1")")
	[ -z "$pids" ] || kill -9 $pids 2>/dev/null
	# What a killed supervisor leaves (its init dies with it) is gone in a moment.
	for _ in $(seq 50); do [ -z "$(host_leftovers "$1")" ] && break; sleep 0.1; done
}

# Processes in host I's namespace, and those of its run uids (a run has a
# network namespace of its own).
host_leftovers() {
	local first pid
	first=$(host_uid_first "$1")
	for pid in $(ip netns pids "$(ns "$1")" 2>/dev/null); do
		echo "$pid $(cat /proc/$pid/comm 2>/dev/null)"
	done
	ps -eo uid=,pid=,comm= | awk -v lo=$first -v hi=$((first + 299)) '$1 >= lo && $1 <= hi { print $2, $3 }'
}

host_stop_service() {
	local pid
	pid=$(cat "$fleet_tmp/h$1/fcgi.pid")
	kill -TERM "$pid"
	for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}

# front_start I...: the shipped front end, with these hosts.
front_start() {
	local d=$fleet_tmp/front ips=
	for i in "$@"; do ips="$ips $(host_ip "$i")"; done
	# The shipped file: only the hosts' addresses (in each upstream, with
	# its own parameters) and the port change.
	$PY - "$top/nginx/coderunner-fleet.conf" "$d/fleet.conf" $ips <<'PYEOF'
import re, sys
src, dst, ips = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(src).read()
def hosts(block):
    params = re.match(r"\tserver [0-9.]+:80 ([^;]*);", block.group(0)).group(1)
    return "".join(f"\tserver {ip}:80 {params};\n" for ip in ips)
text, n = re.subn(r"(\tserver [0-9.]+:80 [^\n]*\n)+", hosts, text)
assert n == 2, n
text = text.replace("\tlisten 80;", "\tlisten 127.0.0.1:8080;")
open(dst, "w").write(text)
PYEOF
	# front_sed: a further edit, such as turning the rate limit on.
	[ -z "${front_sed:-}" ] || sed -i -e "$front_sed" "$d/fleet.conf"
	nginx_conf "$d" 1024 "include $d/fleet.conf;"
	if [ -f "$d/nginx.pid" ] && kill -0 "$(cat "$d/nginx.pid")" 2>/dev/null; then
		ip netns exec "$(ns front)" nginx -c "$d/nginx.conf" -s reload
		sleep 0.5
	else
		ip netns exec "$(ns front)" nginx -c "$d/nginx.conf" &
		for _ in $(seq 50); do [ -s "$d/nginx.pid" ] && break; sleep 0.1; done
	fi
}

front() { echo "http://127.0.0.1:8080$1"; }
in_front() { ip netns exec "$(ns front)" "$@"; }

# host_runs I: the runs host I's log has answered so far.
host_runs() {
	local n
	n=$(grep -c 'path=/api/run ' "$fleet_tmp/h$1/fcgi.log" 2>/dev/null)
	echo "${n:-0}"
}

fleet_teardown() {
	for i in $(seq "$n_hosts") front; do
		local pids
		pids=$(ip netns pids "$(ns "$i")" 2>/dev/null)
		[ -z "$pids" ] || kill -9 $pids 2>/dev/null
	done
	sleep 0.3
	for i in $(seq "$n_hosts") front; do ip netns del "$(ns "$i")" 2>/dev/null; done
	rm -rf "$fleet_tmp"
}
