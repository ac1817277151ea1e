#!/bin/bash
# The guest environment every other test assumes: per-size mTHP sysfs,
# PFNs in pagemap, kpageflags, zram swap, cgroup v2 with memory, BTF and a
# working bpftool from the tree, debugfs, tracefs and the THP tracepoints.
. "$MTHP_REPO/selftests/tests/tap.sh"
THP=/sys/kernel/mm/transparent_hugepage
sizes() { for o in 2 3 4 5 6 7 8 9; do [ -d $THP/hugepages-$((4 << o))kB ] || return 1; done; }
pfn() {	# a present page of this shell's stack has a non-zero PFN
	python3 - <<'PY'
import struct, re
maps = open('/proc/self/maps').read()
start = int(re.search(r'^([0-9a-f]+)-\S+ rw.p .*\[stack\]', maps, re.M).group(1), 16)
with open('/proc/self/pagemap', 'rb') as f:
    f.seek(0)
    addr = int(open('/proc/self/stat').read().split()[27])  # startstack
    f.seek((addr // 4096) * 8)
    e, = struct.unpack('Q', f.read(8))
assert e >> 63 and e & ((1 << 55) - 1), hex(e)
PY
}
plan 10
t "mTHP sysfs for orders 2..9" sizes
t "khugepaged sysfs" test -w $THP/khugepaged/scan_sleep_millisecs
t "pagemap shows PFNs to root" pfn
t "kpageflags readable" dd if=/proc/kpageflags of=/dev/null bs=8 count=1 status=none
t "zram swap active" grep -q zram0 /proc/swaps
t "cgroup v2 with memory controller" grep -qw memory /sys/fs/cgroup/cgroup.controllers
t "kernel BTF" test -s /sys/kernel/btf/vmlinux
t "tree bpftool runs and reads BTF" bash -c 'bpftool btf dump file /sys/kernel/btf/vmlinux format c | grep -q "struct mm_struct {"'
t "THP tracepoints" test -d /sys/kernel/tracing/events/huge_memory/mm_collapse_huge_page
t "KUnit debugfs" test -d /sys/kernel/debug/kunit -o -e /sys/kernel/debug
done_testing
