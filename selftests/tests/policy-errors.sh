#!/bin/bash
# The loader's errors, and the kernel's: an unprivileged attach is refused
# (by the loader and, with bpftool, by the kernel), and every mistake gives
# a message and a non-zero exit, never a crash or a silent success.
L=$MTHP_BUILD/loader/mthp-policy
P=$MTHP_BUILD/bpf-policies
n=0 fail=0
# expect "description" "message pattern" command...: must fail, saying so
expect() {
	n=$((n + 1))
	"${@:3}" > /tmp/pe.out 2>&1
	rc=$?
	# non-zero, but not killed by a signal (bpftool exits with 255)
	if [ $rc -ne 0 ] && { [ $rc -lt 128 ] || [ $rc -eq 255 ]; } && grep -q -- "$2" /tmp/pe.out; then
		echo "ok $n $1"
	else
		fail=1; echo "not ok $n $1 (exit $rc)"; sed 's/^/# /' /tmp/pe.out | tail -6
	fi
}
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
echo "TAP version 13"
echo "1..9"
$L detach > /dev/null 2>&1
expect "unprivileged loader attach is refused" "needs root" nobody $L attach conservative
expect "unprivileged bpftool register is refused by the kernel" "not permitted" nobody $MTHP_BUILD/tools/bpftool/bpftool struct_ops register $P/conservative.bpf.o
expect "no such policy" "no such policy 'nope'" $L attach nope
expect "bad parameter syntax" "expected key=value" $L attach threshold pct4
expect "not a policy object" "no struct_ops map\|cannot open" $L attach /etc/hostname.bpf.o
expect "verifier rejection shows the verifier log" "only read is supported" $L attach $P/unsafe.bpf.o
expect "detach with nothing attached" "no policy is attached" $L detach
expect "set with nothing attached" "no policy attached" $L set pct4=50
n=$((n + 1))
if [ "$(cat /sys/kernel/mm/transparent_hugepage/khugepaged/policy)" = none ]; then
	echo "ok $n nothing got attached"; else fail=1; echo "not ok $n nothing got attached"; fi
exit $fail
