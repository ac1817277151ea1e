#!/bin/bash
# Every shipped policy passes the verifier, attaches with the loader and
# with stock bpftool, is named in sysfs while attached, and detaches.  The
# verifier's work per policy stays far from its 1M-instruction limit: a
# change to the shared walk once took it from 80k to 630k instructions,
# and each load from 1 s to 4.5 s (on the debug kernel, ten times that).
VERIFIER_MAX=250000
L=$MTHP_BUILD/loader/mthp-policy
P=$MTHP_BUILD/bpf-policies
S=/sys/kernel/mm/transparent_hugepage/khugepaged/policy
policies="default conservative aggressive threshold hot pmd_only"
. "$MTHP_REPO/selftests/tests/tap.sh"
plan 19
$L detach > /dev/null 2>&1
loader_cycle() {	# loader_cycle POLICY: its output, verifier stats included, in /tmp/pl.out
	{ MTHP_VERIFIER_STATS=1 $L attach "$1" && [ "$(cat $S)" = "$1" ] &&
		$L detach && [ "$(cat $S)" = none ]; } > /tmp/pl.out 2>&1
	local rc=$?
	[ $rc = 0 ] || { echo "sysfs policy: $(cat $S)"; cat /tmp/pl.out; }
	return $rc
}
bpftool_cycle() {
	bpftool struct_ops register $P/$1.bpf.o /sys/fs/bpf/pl &&
		[ "$(cat $S)" = "$1" ] && rm /sys/fs/bpf/pl/* && [ "$(cat $S)" = none ]
	local rc=$?
	rm -f /sys/fs/bpf/pl/*
	return $rc
}
for p in $policies; do
	TAP_TAIL=40 t "loader: $p loads, attaches and detaches" loader_cycle $p
	insns=$(sed -n 's/^verifier: .*: processed \([0-9]*\) insns.*/\1/p' /tmp/pl.out)
	[ -n "$insns" ] && [ "$insns" -le $VERIFIER_MAX ]
	rc=$?
	TAP_TAIL=5 ok_if "verifier: $p in ${insns:-unknown} instructions ($([ $rc = 0 ] && echo "<=" || echo ">") $VERIFIER_MAX)" $rc /tmp/pl.out
done
# A user's own object, by path: its array maps are its parameters, set at
# attach and after, and list shows them with the policy.
user_object() {
	cp $P/threshold.bpf.o ./mine.bpf.o &&
		$L attach ./mine.bpf.o pct9=90 && $L set pct4=40 &&
		$L list | tee /tmp/pl.list | grep -q '^  threshold .*system-wide .*pct\[' &&
		$L detach
	local rc=$?
	[ $rc = 0 ] || cat /tmp/pl.list 2>/dev/null
	$L detach > /dev/null 2>&1
	return $rc
}
t "loader: a user's object attaches by path, its parameters set and listed" user_object
mkdir -p /sys/fs/bpf/pl
for p in $policies; do
	t "bpftool: $p registers and unregisters" bpftool_cycle $p
done
rmdir /sys/fs/bpf/pl
done_testing
