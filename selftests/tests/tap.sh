# The shell tests' TAP, sourced by each of them:
#
#   plan N                          the header and the plan
#   t "description" command...      ok if the command succeeds; else not
#                                   ok and the tail of its output
#   t_refused "description" "pattern" command...
#                                   ok if the command fails with a message
#                                   matching the pattern (grep), and is not
#                                   killed by a signal: what an error must be
#   ok_if "description" status [output file]
#                                   ok if status is 0 (for checks that are
#                                   not one command); the file's tail else
#   skip "description" "why"
#   xfail "description" "why" command...
#                                   a known failure, with its reason; an
#                                   unexpected pass is reported as one
#   done_testing                    exit 0 if every planned test ran and
#                                   passed, 1 otherwise
#
# TAP_TAIL is how many lines of a failure's output are shown (12).
tap_n=0 tap_planned=-1 tap_fail=0 tap_out=/tmp/tap.$$.out
: "${TAP_TAIL:=12}"

plan() {
	echo "TAP version 13"
	echo "1..$1"
	tap_planned=$1
}

tap_tail() {
	[ -s "$1" ] && sed 's/^/# /' "$1" | tail -"$TAP_TAIL"
	return 0
}

ok_if() {
	tap_n=$((tap_n + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $tap_n $1"
	else
		tap_fail=1
		echo "not ok $tap_n $1"
		[ -n "${3:-}" ] && tap_tail "$3"
	fi
	return "$2"
}

t() {
	local rc=0

	"${@:2}" > "$tap_out" 2>&1 || rc=$?
	ok_if "$1" $rc "$tap_out"
}

t_refused() {
	local rc=0 ok=1

	"${@:3}" > "$tap_out" 2>&1 || rc=$?
	# Non-zero, not a signal (bpftool exits with 255 on errors), and said.
	if [ $rc -ne 0 ] && { [ $rc -lt 128 ] || [ $rc -eq 255 ]; } &&
	   grep -q -- "$2" "$tap_out"; then
		ok=0
	fi
	ok_if "$1 (exit $rc)" $ok "$tap_out"
}

skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n $1 # SKIP $2"
}

xfail() {
	local rc=0

	tap_n=$((tap_n + 1))
	"${@:3}" > "$tap_out" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		echo "ok $tap_n $1 # XFAIL $2"
	else
		tap_fail=1
		echo "not ok $tap_n $1 # XPASS: expected to fail ($2)"
	fi
}

done_testing() {
	rm -f "$tap_out"
	if [ "$tap_planned" -ge 0 ] && [ "$tap_n" -ne "$tap_planned" ]; then
		echo "# planned $tap_planned tests, ran $tap_n"
		tap_fail=1
	fi
	exit $tap_fail
}
