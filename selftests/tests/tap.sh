# Sourced by the shell tests: t "description" command... runs the command,
# prints its TAP line and, when it fails, the tail of its output as TAP
# comments.  $fail is 1 once any has failed.
n=0 fail=0
t() {
	local out=/tmp/tap.$$.out
	n=$((n + 1))
	if "${@:2}" > $out 2>&1; then
		echo "ok $n $1"
	else
		fail=1
		echo "not ok $n $1"
		sed 's/^/# /' $out | tail -12
	fi
}
