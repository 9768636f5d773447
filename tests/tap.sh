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

is() {	# is GOT WANT NAME...
	local got=$1 want=$2; shift 2
	[ "$got" = "$want" ]
	ok $? "$@" || printf '#   got:  %s\n#   want: %s\n' "$got" "$want" | head -c 2000
}

like() {	# like GOT EXTENDED-REGEX NAME...
	local got=$1 re=$2; shift 2
	printf '%s' "$got" | grep -Eq -- "$re"
	ok $? "$@" || printf '#   got:  %s\n#   want match: %s\n' "$got" "$re" | head -c 2000
}

unlike() {	# unlike GOT EXTENDED-REGEX NAME...
	local got=$1 re=$2; shift 2
	! printf '%s' "$got" | grep -Eq -- "$re"
	ok $? "$@" || printf '#   got:  %s\n#   must not match: %s\n' "$got" "$re" | head -c 2000
}

skip() {	# skip REASON NAME...
	local reason=$1; shift
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $* # SKIP $reason"
}

diag() { printf '# %s\n' "$*"; }

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}
