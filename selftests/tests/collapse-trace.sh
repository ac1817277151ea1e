#!/bin/bash
# The collapse tracepoints carry the order: collapse into 16K and 64K only
# (the PMD size off) and find successful mm_collapse_huge_page events at
# orders 2 and 4, isolate events with the order, and none at order 9.
TR=/sys/kernel/tracing
W=$MTHP_BUILD/selftests/bin/demo_workload
echo "TAP version 13"
echo "1..3"
echo 0 > $TR/tracing_on
echo > $TR/trace
echo 1 > $TR/events/huge_memory/mm_collapse_huge_page/enable
echo 1 > $TR/events/huge_memory/mm_collapse_huge_page_isolate/enable
echo 1 > $TR/tracing_on
$W 16,64 0 > /tmp/trace-demo.out || { echo "Bail out! workload failed"; exit 1; }
echo 0 > $TR/tracing_on
cp $TR/trace /tmp/trace.txt
echo 0 > $TR/events/huge_memory/enable
fail=0
n=0
check() {	# check "description" command...
	n=$((n + 1))
	if "${@:2}"; then echo "ok $n $1"; else fail=1; echo "not ok $n $1"; fi
}
succ() { grep "mm_collapse_huge_page:" /tmp/trace.txt | grep "order=$1," | grep -q "status=succeeded"; }
check "successful collapses traced at order 2 and order 4" bash -c "$(declare -f succ); succ 2 && succ 4"
check "isolation traced with the order" grep -q "mm_collapse_huge_page_isolate:.*order=4," /tmp/trace.txt
check "no collapse at order 9 with the PMD size off" bash -c '! grep -q "mm_collapse_huge_page:.*order=9," /tmp/trace.txt'
[ $fail = 0 ] || { grep -m5 collapse /tmp/trace.txt | sed 's/^/# /'; }
exit $fail
