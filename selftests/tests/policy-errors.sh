#!/bin/bash
# The loader's errors, and the kernel's: an unprivileged attach, detach,
# replace or set is refused (by the loader and, with bpftool, by the
# kernel), the counters are read-only, a policy that writes its
# context or reads past its scan record is refused by the verifier, and
# every mistake gives a message and a non-zero exit, never a crash or a
# silent success.
L=$MTHP_BUILD/loader/mthp-policy
P=$MTHP_BUILD/bpf-policies
. "$MTHP_REPO/selftests/tests/tap.sh"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
plan 17
$L detach > /dev/null 2>&1
t_refused "unprivileged loader attach is refused" "needs root" nobody $L attach conservative
t_refused "unprivileged bpftool register is refused by the kernel" "not permitted\|EPERM" nobody $MTHP_BUILD/tools/bpftool/bpftool struct_ops register $P/conservative.bpf.o
# With a policy attached, so that a refusal is not just "nothing attached".
K=/sys/kernel/mm/transparent_hugepage/khugepaged
$L attach conservative > /dev/null || echo "# cannot attach conservative"
t_refused "unprivileged detach is refused" "needs root" nobody $L detach
t_refused "unprivileged replace is refused" "needs root" nobody $L replace aggressive
t_refused "unprivileged set is refused" "needs root" nobody $L set pct4=50
t_refused "a policy's counters cannot be written, even by root" "Permission denied" sh -c "echo 0 > $K/policies/global/calls"
t "the policy stayed attached" test "$(cat $K/policy)" = conservative
$L detach > /dev/null
t_refused "no such policy" "no such policy 'nope'" $L attach nope
t_refused "bad parameter syntax" "expected key=value" $L attach threshold pct4
t_refused "not a policy object" "no struct_ops map\|cannot open" $L attach /etc/hostname.bpf.o
# libbpf's own error codes have no strerror() text ("Unknown error 4001")
cp "$L" notbpf.bpf.o
t_refused "an ELF that is not BPF: libbpf's reason" "cannot open policy .*: BPF object format invalid" $L attach ./notbpf.bpf.o
# /bin/true, by path: exit 1 exactly, and a message that is libbpf's, not "Unknown error"
not_bpf_elf() {
	local rc=0
	$L attach /bin/true > /tmp/pe.out 2>&1 || rc=$?
	cat /tmp/pe.out
	[ $rc = 1 ] && grep -q "cannot open policy '/bin/true': ." /tmp/pe.out &&
		! grep -qi "unknown error" /tmp/pe.out
}
t "attach /bin/true: exit 1, libbpf's message, not 'Unknown error'" not_bpf_elf
t_refused "verifier rejection shows the verifier log" "only read is supported" $L attach $P/unsafe.bpf.o
t_refused "a read past the scan record is refused, with the verifier log" "access beyond struct" $L attach $P/overread.bpf.o
t_refused "detach with nothing attached" "no policy is attached" $L detach
t_refused "set with nothing attached" "no policy attached" $L set pct4=50
t "nothing got attached" test "$(cat /sys/kernel/mm/transparent_hugepage/khugepaged/policy)" = none
done_testing
