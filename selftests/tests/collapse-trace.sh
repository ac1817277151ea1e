#!/bin/bash
# The collapse tracepoints carry the order, where upstream has it: as the
# last of upstream's fields of mm_collapse_huge_page, ..._isolate and
# ..._swapin; on 6.12, mm_collapse_huge_page then has the chunk's address
# (the backport's own field; 7.3 has upstream's fields only).  The fields
# are read by name, as a tool written for upstream reads them.
# Collapse into 16K and 64K only (the PMD size off) and find successful
# mm_collapse_huge_page events at orders 2 and 4, isolate events with the
# order, and none at order 9.
TR=/sys/kernel/tracing
EV=$TR/events/huge_memory
W=$MTHP_BUILD/selftests/bin/demo_workload
. "$MTHP_REPO/selftests/tests/tap.sh"
plan 6

# The event's fields, in order, without the common_ ones.
fields() {
	sed -n 's/^[[:space:]]*field:.* \([a-z_]*\);.*/\1/p' $EV/$1/format |
		grep -v '^common_' | tr '\n' ' '
}
same() {	# same WANT GOT
	[ "$1" = "$2" ] || { echo "fields: $2"; echo "want:   $1"; return 1; }
}
if [ "${MTHP_BASE:-}" = 7.3 ]; then
	t "mm_collapse_huge_page: upstream's fields" \
		same "mm isolated status order " "$(fields mm_collapse_huge_page)"
else
	t "mm_collapse_huge_page: upstream's fields, then the address" \
		same "mm isolated status order address " "$(fields mm_collapse_huge_page)"
fi
t "mm_collapse_huge_page_isolate: the order last" \
	same "pfn none_or_zero referenced status order " \
	"$(fields mm_collapse_huge_page_isolate)"
t "mm_collapse_huge_page_swapin: the order last" \
	same "mm swapped_in referenced ret order " "$(fields mm_collapse_huge_page_swapin)"

echo 0 > $TR/tracing_on
echo > $TR/trace
echo 1 > $EV/mm_collapse_huge_page/enable
echo 1 > $EV/mm_collapse_huge_page_isolate/enable
echo 1 > $TR/tracing_on
$W 16,64 0 > /tmp/trace-demo.out || { echo "Bail out! workload failed"; exit 1; }
echo 0 > $TR/tracing_on
cp $TR/trace /tmp/trace.txt
echo 0 > $EV/enable

# The value of field $2 in the events named $1, one per line.
field() {
	grep " $1: " /tmp/trace.txt | tr ',' '\n' | sed -n "s/^ *$2=//p"
}
# A successful mm_collapse_huge_page event at order $1.
succ() {
	grep " mm_collapse_huge_page: " /tmp/trace.txt |
		grep -q "status=succeeded, .*order=$1\b"
}
t "successful collapses traced at order 2 and order 4" bash -c "$(declare -f succ); succ 2 && succ 4"
t "isolation traced with the order" bash -c "$(declare -f field); field mm_collapse_huge_page_isolate order | grep -qx 4"
t "no collapse at order 9 with the PMD size off" \
	bash -c "$(declare -f field); ! field mm_collapse_huge_page order | grep -qx 9"
[ $tap_fail = 0 ] || { grep -m5 collapse /tmp/trace.txt | sed 's/^/# /'; }
done_testing
