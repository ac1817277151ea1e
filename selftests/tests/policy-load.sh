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
echo "TAP version 13"
echo "1..18"
n=0 fail=0
$L detach > /dev/null 2>&1
for p in $policies; do
	n=$((n + 1))
	if MTHP_VERIFIER_STATS=1 $L attach $p > /tmp/pl.out 2>&1 &&
	   [ "$(cat $S)" = "$p" ] && $L detach > /dev/null && [ "$(cat $S)" = none ]; then
		echo "ok $n loader: $p loads, attaches and detaches"
	else
		fail=1; echo "not ok $n loader: $p"; sed 's/^/# /' /tmp/pl.out | tail -40
	fi
	insns=$(sed -n 's/^verifier: .*: processed \([0-9]*\) insns.*/\1/p' /tmp/pl.out)
	n=$((n + 1))
	if [ -n "$insns" ] && [ "$insns" -le $VERIFIER_MAX ]; then
		echo "ok $n verifier: $p in $insns instructions (<= $VERIFIER_MAX)"
	else
		fail=1; echo "not ok $n verifier: $p in ${insns:-unknown} instructions (> $VERIFIER_MAX)"
		sed 's/^/# /' /tmp/pl.out | tail -5
	fi
done
mkdir -p /sys/fs/bpf/pl
for p in $policies; do
	n=$((n + 1))
	if bpftool struct_ops register $P/$p.bpf.o /sys/fs/bpf/pl > /tmp/pl.out 2>&1 &&
	   [ "$(cat $S)" = "${p//-/_}" ] && rm /sys/fs/bpf/pl/* && [ "$(cat $S)" = none ]; then
		echo "ok $n bpftool: $p registers and unregisters"
	else
		fail=1; echo "not ok $n bpftool: $p"; sed 's/^/# /' /tmp/pl.out | tail -10
		rm -f /sys/fs/bpf/pl/*
	fi
done
rmdir /sys/fs/bpf/pl
exit $fail
