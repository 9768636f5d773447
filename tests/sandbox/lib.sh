# lib.sh — run scripts through coderunner-sandbox for the sandbox tests.
# Source after tap.sh. sb [OPTION]... <<'PY' runs the script on stdin as
# main.py in a fresh work dir and sets RC, OUT, ERR, REPORT and WORK.
SB=${SB:-$top_builddir/coderunner-sandbox}
PY=/usr/bin/python3
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
tmp_root=$(mktemp -d /tmp/coderunner-test.XXXXXX)
trap 'rm -rf "$tmp_root"' EXIT

sb() {
	WORK=$(mktemp -d "$tmp_root/work.XXXXXX")
	cat >"$WORK/main.py"
	mkdir -p "$WORK/output" "$WORK/input"
	"$SB" --workdir "$WORK" --report-fd 3 --user "${SB_USER:-nobody}" "$@" -- "$PY" main.py \
		<"${SB_STDIN:-/dev/null}" >"$WORK.out" 2>"$WORK.err" 3>"$WORK.report"
	RC=$?
	OUT=$(cat "$WORK.out")
	ERR=$(cat "$WORK.err")
	REPORT=$(cat "$WORK.report")
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
