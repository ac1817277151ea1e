#!/bin/bash
# Every shipped policy passes the verifier, attaches with the loader and
# with stock bpftool, is named in sysfs while attached, and detaches.
L=$MTHP_BUILD/loader/mthp-policy
P=$MTHP_BUILD/bpf-policies
S=/sys/kernel/mm/transparent_hugepage/khugepaged/policy
policies="default conservative aggressive threshold hot pmd-only"
echo "TAP version 13"
echo "1..12"
n=0 fail=0
$L detach > /dev/null 2>&1
for p in $policies; do
	n=$((n + 1))
	# BPF object names allow no '-': pmd-only is pmd_only in sysfs
	if $L attach $p > /tmp/pl.out 2>&1 && [ "$(cat $S)" = "${p//-/_}" ] && $L detach > /dev/null &&
	   [ "$(cat $S)" = none ]; then
		echo "ok $n loader: $p loads, attaches and detaches"
	else
		fail=1; echo "not ok $n loader: $p"; sed 's/^/# /' /tmp/pl.out | tail -40
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
