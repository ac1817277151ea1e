#!/bin/bash
# make demo, inside the VM: the mTHP sysfs state of the patched kernel, then
# a workload whose PMD ranges khugepaged collapses, shown per folio size.
THP=/sys/kernel/mm/transparent_hugepage
echo "== kernel $(uname -r), THP: $(cat $THP/enabled)"
printf '%-22s %-32s %s\n' size enabled "stats (nonzero)"
for d in $THP/hugepages-*kB; do
	[ -e "$d/enabled" ] || continue	# file-only sizes (order 1)
	st=$(cd "$d/stats" 2>/dev/null && grep -H -v '^0$' -- * 2>/dev/null | tr '\n' ' ')
	printf '%-22s %-32s %s\n' "${d##*/}" "$(cat "$d/enabled")" "${st:--}"
done | sort -t- -k2 -n
echo "khugepaged: $(for k in max_ptes_none max_ptes_swap max_ptes_shared pages_to_scan; do
	printf '%s=%s ' $k "$(cat $THP/khugepaged/$k)"; done)"
echo
W=$MTHP_BUILD/selftests/bin/demo_workload
echo "== workload: five PMD ranges, faulted as 4K pages, then khugepaged"
echo "-- max_ptes_none=511 (default): any occupied chunk goes to the largest size"
$W 16,64,2048 511 || exit 1
echo
echo "-- max_ptes_none=0: only fully occupied chunks, so no memory is added"
$W 16,64,2048 0 || exit 1
L=$MTHP_BUILD/loader/mthp-policy
if [ -e $THP/khugepaged/policy ]; then
	echo
	echo "-- max_ptes_none=511 again, under BPF policies (mthp-policy attach ...)"
	for p in conservative "threshold pct4=50 pct9=90"; do
		$L attach $p > /dev/null || exit 1
		echo "policy: $p"
		$W 16,64,2048 511 | tail -n +2 || exit 1
		$L stats | head -1
		$L detach > /dev/null || exit 1
	done
fi
echo
echo "== per-size collapse stats after the workload"
for d in $THP/hugepages-*kB; do
	st=$(cd "$d/stats" 2>/dev/null && grep -H -v '^0$' -- collapse* 2>/dev/null | tr '\n' ' ')
	[ -z "$st" ] || echo "${d##*/}: $st"
done | sort -t- -k2 -n
echo "/proc/vmstat (PMD size only): $(grep -E '^thp_(collapse|scan_exceed)' /proc/vmstat | tr '\n' ' ')"

[ -e $THP/khugepaged/policies ] || exit 0
echo
echo "== A/B: two workloads in two cgroups, a policy each, a third in shadow"
echo "   web: conservative; batch: aggressive; web, in shadow: threshold pct4=50 pct9=90"
CG=/sys/fs/cgroup
echo +memory > $CG/cgroup.subtree_control
mkdir -p $CG/demo-web $CG/demo-batch
for s in 16 64 2048; do echo madvise > $THP/hugepages-${s}kB/enabled; done
echo 511 > $THP/khugepaged/max_ptes_none
echo 100 > $THP/khugepaged/scan_sleep_millisecs
echo 4096 > $THP/khugepaged/pages_to_scan
TERM=dumb $L ab --interval 10 --duration 25 conservative@demo-web aggressive@demo-batch \
	threshold,pct4=50,pct9=90@demo-web:shadow &
ab=$!
sleep 3
pids=
for g in demo-web demo-batch; do
	sh -c "echo \$\$ > $CG/$g/cgroup.procs && exec $MTHP_BUILD/selftests/bin/ab_workload 10 120" &
	pids="$pids $!"
done
wait $ab
rc=$?
kill $pids 2>/dev/null
wait $pids 2>/dev/null
rmdir $CG/demo-web $CG/demo-batch
exit $rc
