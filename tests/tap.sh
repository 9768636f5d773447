# tap.sh — TAP helpers for shell tests; source it, call the checks, end with
# done_testing. Every check prints one "ok"/"not ok" line; failures print
# what was seen as "# " diagnostics.
tap_n=0
tap_failed=0

ok() {	# ok CONDITION-EXIT-STATUS NAME...: pass when $1 is 0
	local rc=$1; shift
	tap_n=$((tap_n + 1))
	if [ "$rc" -eq 0 ]; then
		echo "ok $tap_n - $*"
	else
		echo "not ok $tap_n - $*"
		tap_failed=$((tap_failed + 1))
	fi
	return "$rc"
}

# shown LABEL TEXT: TEXT, each line a "#" diagnostic (a line of its own
# would be read as TAP, and a multi-line value would break the stream where
# it failed). A long TEXT shows its first and last 1000 characters: the
# start of a log says how a service came up, its end what it did last.
shown() {
	local t=$2
	[ "${#t}" -le 2000 ] ||
		t="${t:0:1000}
... ($((${#t} - 2000)) characters left out) ...
${t: -1000}"
	printf '%s\n' "$t" | awk -v label="$1" '{ print "#   " label " " $0 }'
}

is() {	# is GOT WANT NAME...
	local got=$1 want=$2; shift 2
	[ "$got" = "$want" ]
	ok $? "$@" || { shown "got: " "$got"; shown "want:" "$want"; }
}

like() {	# like GOT EXTENDED-REGEX NAME...
	local got=$1 re=$2; shift 2
	# grep takes each line of a pattern for a pattern of its own, and an
	# empty one matches anything: a pattern with a newline tests nothing.
	case $re in *$'\n'*) ok 1 "$@"; diag "like: the pattern holds a newline; match a line with ^"; return 1 ;; esac
	# grep reads it all: with -q it would stop at the match, and in a test
	# that sets pipefail, printf writing the rest would fail the pipeline.
	printf '%s' "$got" | grep -E -- "$re" >/dev/null
	ok $? "$@" || { shown "got: " "$got"; shown "want match:" "$re"; }
}

unlike() {	# unlike GOT EXTENDED-REGEX NAME...
	local got=$1 re=$2; shift 2
	case $re in *$'\n'*) ok 1 "$@"; diag "unlike: the pattern holds a newline; match a line with ^"; return 1 ;; esac
	! printf '%s' "$got" | grep -E -- "$re" >/dev/null	# (as in like)
	ok $? "$@" || { shown "got: " "$got"; shown "must not match:" "$re"; }
}

skip() {	# skip REASON NAME...
	local reason=$1; shift
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $* # SKIP $reason"
}

diag() { printf '%s\n' "$*" | sed 's/^/# /'; }

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}
