#!/bin/bash
# Attach, replace and detach policies in a loop, with the loader and with
# stock bpftool, while khugepaged collapses a churning workload; then check
# that the default is in charge and no policy program or map is left.
# Kernel reports (KASAN, lockdep, use after free) fail the run's log check.
L=$MTHP_BUILD/loader/mthp-policy
P=$MTHP_BUILD/bpf-policies
T=/sys/kernel/mm/transparent_hugepage
. "$MTHP_REPO/selftests/tests/tap.sh"
policy() { cat $T/khugepaged/policy; }
plan 17

$L detach > /dev/null 2>&1
echo 511 > $T/khugepaged/max_ptes_none
for s in 16 64 2048; do echo madvise > $T/hugepages-${s}kB/enabled; done
for f in scan_sleep_millisecs alloc_sleep_millisecs; do echo 0 > $T/khugepaged/$f; done
echo 4096 > $T/khugepaged/pages_to_scan

# The workload: maps, half-fills, madvises and unmaps 32 MiB, over and over.
python3 - <<'PY' &
import mmap, time
end = time.time() + 600
while time.time() < end:
    m = mmap.mmap(-1, 32 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    m.madvise(mmap.MADV_NOHUGEPAGE)    # small pages at fault ...
    for off in range(0, 32 << 20, 8192):
        m[off] = 1
    m.madvise(mmap.MADV_HUGEPAGE)      # ... for khugepaged to collapse
    time.sleep(0.2)
    m.close()
PY
work=$!
sleep 2
start=$(cat $T/khugepaged/pages_collapsed)
t "the workload runs" kill -0 $work

# Fewer rounds on the debug kernel, where each policy load takes seconds.
N=10
[ "${MTHP_FLAVOUR:-}" = debug ] && N=2
loop() {
	local i
	for i in $(seq 1 $N); do
		$L attach conservative || return 1
		$L replace aggressive || return 1
		$L set pct4=50 2>/dev/null && return 1	# aggressive has no pct
		$L replace threshold pct4=60 || return 1
		$L set pct9=95 || return 1
		$L replace hot || return 1
		$L detach || return 1
		[ "$(policy)" = none ] || return 1
	done
}
t "loader: $N x attach, 3 replaces, set, detach under load" loop

bpftool_loop() {
	local i
	mkdir -p /sys/fs/bpf/lc
	for i in $(seq 1 $N); do
		bpftool struct_ops register $P/pmd_only.bpf.o /sys/fs/bpf/lc || return 1
		[ "$(policy)" = pmd_only ] || return 1
		rm -f /sys/fs/bpf/lc/pmd_only
		[ "$(policy)" = none ] || return 1
	done
	rmdir /sys/fs/bpf/lc
}
t "bpftool: $N x struct_ops register (link pinned) and unpin" bpftool_loop

refused_twice() {
	$L attach default || return 1
	if $L attach conservative 2> /tmp/lc.err; then return 1; fi
	grep -q "already attached" /tmp/lc.err || return 1
	if bpftool struct_ops register $P/conservative.bpf.o /sys/fs/bpf 2>/dev/null; then return 1; fi
	[ "$(policy)" = default ] && $L stats | grep -q "policy default" && $L detach
}
t "a second policy is refused (loader and bpftool)" refused_twice

# A user's object by path, attached twice: system-wide and to a cgroup.
# Its u32 array (max_order) and u32 hash (deny_tgid) are its parameters,
# pinned beside each link, set apart per scope, listed; its map of 64-bit
# values (hits) is not.  bpftool reads each copy by its pinned path (by
# name, max_order is ambiguous: there are two).
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
mkdir -p /sys/fs/cgroup/mthp-up
UP=/sys/fs/bpf/mthp-policy
UPC=$UP/cg$(stat -c %i /sys/fs/cgroup/mthp-up)
holds() {	# holds PINNED-MAP '{KEY: VALUE, ...}': the whole map, read by bpftool
	bpftool -j map dump pinned "$1" | python3 -c '
import json, sys
le = lambda b: int.from_bytes(bytes(int(x, 16) for x in b), "little")
got = {le(e["key"]): le(e["value"]) for e in json.load(sys.stdin)}
print(sys.argv[1], got)
sys.exit(got != eval(sys.argv[2]))' "$1" "$2"
}
attach_twice() {
	$L attach $P/denylist.bpf.o max_order=4 &&
		$L attach $P/denylist.bpf.o --cgroup mthp-up max_order=9
}
t "a user's object attaches by path, system-wide and to a cgroup, with parameters" attach_twice
t "set reaches its hash system-wide" $L set deny_tgid4242=1
t "set reaches its array in the cgroup" $L set --cgroup mthp-up max_order=5
t "system-wide: max_order {0: 4}, deny_tgid {4242: 1} (bpftool, by path)" \
	eval "holds $UP/global/max_order '{0: 4}' && holds $UP/global/deny_tgid '{4242: 1}'"
t "cgroup: max_order {0: 5}, deny_tgid {}: the two copies are independent" \
	eval "holds $UPC/max_order '{0: 5}' && holds $UPC/deny_tgid '{}'"
listed() {
	$L list > /tmp/lc.list && cat /tmp/lc.list &&
		[ "$(grep -c '^  denylist .*deny_tgid\[64\]' /tmp/lc.list)" = 2 ] &&
		[ "$(grep -c '^  denylist .*max_order\[1\]' /tmp/lc.list)" = 2 ] &&
		! grep -q hits /tmp/lc.list && test ! -e $UP/global/hits
}
t "list shows both copies' parameters, not the 64-bit map" listed
t_refused "a map of 64-bit values is not a parameter" "no parameter 'hits'" $L set hits=1
t_refused "an array index out of range is refused" "index 1 out of range" $L set max_order1=3
t "detach removes both copies and their pins" \
	eval "$L detach && $L detach --cgroup mthp-up && test ! -e $UP/global && test ! -e $UPC"
rmdir /sys/fs/cgroup/mthp-up

t "khugepaged kept collapsing during the loops" test "$(cat $T/khugepaged/pages_collapsed)" -gt "$start"
kill $work; wait $work 2>/dev/null

t "the default is in charge after it all" test "$(policy)" = none
leftover() { ! bpftool map list 2>/dev/null | grep -q struct_ops && ! bpftool prog list 2>/dev/null | grep -q struct_ops; }
t "no struct_ops map or program left behind" leftover
t "nothing left pinned" test ! -e /sys/fs/bpf/mthp-policy
done_testing
