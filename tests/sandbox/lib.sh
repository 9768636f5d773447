# lib.sh — run scripts through coderunner-sandbox for the sandbox tests.
# Source after tap.sh. sb [OPTION]... <<'PY' runs the script on stdin as
# main.py in a fresh work dir and sets RC, OUT, ERR, REPORT and WORK.
#
# With SB_MODE=warm the same script runs warm instead: in a sandbox forked
# from a coderunner-template (one per set of options, started on first use,
# with the service's preload list), claimed as the service claims one, its
# timeout and memory limit given with the claim. The battery's files run in
# both modes (tests/sandbox/warm/), so every escape is tried on both paths.
SB=${SB:-$top_builddir/coderunner-sandbox}
PY=/usr/bin/python3
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
tmp_root=$(mktemp -d /tmp/coderunner-test.XXXXXX)
. "$top_srcdir"/tests/template-cache.sh
sb_cleanup() {
	local pid
	for pid in $(cat "$tmp_root"/templates 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
	for pid in $(cat "$tmp_root"/templates 2>/dev/null); do
		while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	done
	rm -rf "$tmp_root"
}
trap sb_cleanup EXIT

# listen_exec SOCKET COMMAND...: COMMAND with a unix socket listening at
# SOCKET as its fd 3 (the path appears once it listens). Run in the
# background, $! is COMMAND's pid: the subshell becomes it. LISTEN_AS: a
# command to run it under (setpriv ...).
LISTEN_AS=()
listen_exec() {
	exec ${LISTEN_AS[@]+"${LISTEN_AS[@]}"} "$PY" - "$@" <<'EOF_PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1] + ".new")
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.rename(sys.argv[1] + ".new", sys.argv[1])
os.execv(sys.argv[2], sys.argv[2:])
EOF_PY
}

# warm_socket OPTION...: sets WARM_SOCK to the socket of a template started
# with these options (all but --timeout and --memory, which each claim sets).
# Not in a subshell: the template ends with its parent (PR_SET_PDEATHSIG).
warm_socket() {
	local key sock
	key=$(printf '%s\n' "$@" | md5sum | cut -c1-12)
	sock=$tmp_root/template-$key.sock
	if [ ! -S "$sock" ]; then
		listen_exec "$sock" "$top_builddir/coderunner-template" --preload numpy,pandas,matplotlib.pyplot \
			--prestart 1 --sandbox "$SB" --cache "$template_cache" --timeout 120 --memory 4096 "$@" --accept-fd 3 \
			-- "$PY" -s -c "$(cat "$top_srcdir/fcgi/running/runners/prestart.py")" \
			>"$tmp_root/template-$key.out" 2>>"$tmp_root/template.err" &
		echo $! >>"$tmp_root/templates"
		for _ in $(seq 300); do grep -q warm "$tmp_root/template-$key.out" 2>/dev/null && break; sleep 0.1; done
	fi
	WARM_SOCK=$sock
}

# warm_run OPTION...: sb's work, claimed from a template.
warm_run() {
	local timeout=30 memory=1536 opts=()
	while [ $# -gt 0 ]; do
		case $1 in
		--timeout) timeout=$2; shift 2 ;;
		--memory) memory=$2; shift 2 ;;
		*) opts+=("$1"); shift ;;
		esac
	done
	local ms
	ms=$("$PY" -c 'import sys; print(max(1, round(float(sys.argv[1]) * 1000)))' "$timeout")
	warm_socket "${opts[@]}"
	"$PY" "$top_srcdir/tests/sandbox/prestart_client.py" "$WARM_SOCK" "$WORK" "$WORK" \
		--timeout "$ms" --memory "$memory" ${SB_STDIN:+--stdin "$SB_STDIN"} -- "$memory" 0 "" main.py
	RC=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["exit_code"])' "$WORK.report" 2>/dev/null ||
	     echo 125)
	[ "$RC" -ge 0 ] 2>/dev/null || RC=125
	: >>"$WORK.out"; : >>"$WORK.err"; : >>"$WORK.report"
}

sb() {
	WORK=$(mktemp -d "$tmp_root/work.XXXXXX")
	cat >"$WORK/main.py"
	mkdir -p "$WORK/output" "$WORK/input"
	chmod 0755 "$WORK"
	if [ "${SB_MODE:-cold}" = warm ]; then
		warm_run --user "${SB_USER:-nobody}" "$@"
	else
		"$SB" --workdir "$WORK" --report-fd 3 --user "${SB_USER:-nobody}" "$@" -- "$PY" main.py \
			<"${SB_STDIN:-/dev/null}" >"$WORK.out" 2>"$WORK.err" 3>"$WORK.report"
		RC=$?
	fi
	OUT=$(cat "$WORK.out")
	ERR=$(cat "$WORK.err")
	REPORT=$(cat "$WORK.report")
}

# sandbox_processes_left: how many processes of SB_USER are on the host, but
# for the one interpreter each template keeps waiting in warm mode.
sandbox_processes_left() {
	local n waiting=0
	n=$(pgrep -u "${SB_USER:-nobody}" | wc -l)
	[ "${SB_MODE:-cold}" = warm ] && waiting=$(cat "$tmp_root"/templates 2>/dev/null | wc -l)
	echo $(( n > waiting ? n - waiting : 0 ))
}

# report FIELD: a field of the last run's report (limits.memory for nested ones)
report() {
	printf '%s' "$REPORT" | "$PY" -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(json.dumps(v) if not isinstance(v, str) else v)' "$1"
}

# Is a delegated cgroup v2 with memory and pids controllers writable here?
cgroup_v2_dir() {
	local rel dir
	[ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ] || return 1
	rel=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
	dir=/sys/fs/cgroup$rel
	grep -qw memory "$dir/cgroup.subtree_control" 2>/dev/null &&
	grep -qw pids "$dir/cgroup.subtree_control" 2>/dev/null &&
	[ -w "$dir" ] && echo "$dir"
}
