#!/bin/bash
# make bench, inside the VM (a benchmark, not a test: it reports, it does
# not judge).  1) per-call cost of the BPF default policy against the
# kernel's own planner, interleaved in one run with BPF_PROG_TEST_RUN;
# 2) the hook's share of khugepaged's CPU time on a scan-heavy workload:
# ranges khugepaged scans over and over and never collapses, timed by the
# kernel (khugepaged/policies/global/time_ns: the program and the check of its plan).
# On a kernel without the hook (stock 7.3, say), only the no-policy arm of
# 2) runs: its CPU per full scan is what compares kernels with each other.
L=$MTHP_BUILD/loader/mthp-policy
T=/sys/kernel/mm/transparent_hugepage
SECS=${SECS:-4}
ROUNDS=${ROUNDS:-5}
hook=0
[ -e $T/khugepaged/policy ] && hook=1
echo "kernel $(uname -r) (base ${MTHP_BASE:-?}), collapse policy hook: $([ $hook = 1 ] && echo yes || echo no)"

if [ $hook = 1 ]; then
	echo "== 1. per-call cost (BPF_PROG_TEST_RUN)"
	out=$($L bench -n 100 -r 2000) || exit 1
	echo "$out"
else
	echo "== 1. per-call cost: not measured (no hook in this kernel)"
fi

echo
echo "== 2. hook share of khugepaged CPU, scan-heavy workload ($ROUNDS x ${SECS}s per arm, taking turns)"
[ $hook = 1 ] && $L detach > /dev/null 2>&1
for s in 16 32 64 128 256 512 1024; do echo madvise > $T/hugepages-${s}kB/enabled; done
echo never > $T/hugepages-2048kB/enabled
echo 0 > $T/khugepaged/max_ptes_none
echo 0 > $T/khugepaged/scan_sleep_millisecs
echo 4096 > $T/khugepaged/pages_to_scan
# 256 MiB, every other page written: every range scans clean, no chunk is
# full, so nothing collapses and every pass scans (and plans) it again.
python3 - <<'PY' &
import mmap, time
m = mmap.mmap(-1, 256 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
m.madvise(mmap.MADV_NOHUGEPAGE)    # small pages at fault, then khugepaged's
for off in range(0, 256 << 20, 8192):
    m[off] = 1
m.madvise(mmap.MADV_HUGEPAGE)
time.sleep(3600)
PY
work=$!
sleep 2
kpid=$(pgrep -x khugepaged)
# utime + stime of the khugepaged thread (no schedstat in this config)
hz=$(getconf CLK_TCK)
cpu_ns() { awk -v hz="$hz" '{print ($14 + $15) * 1e9 / hz}' /proc/$kpid/stat; }
arm() {	# arm NAME: khugepaged CPU ns and full scans over SECS seconds
	local c0 s0
	c0=$(cpu_ns); s0=$(cat $T/khugepaged/full_scans)
	sleep $SECS
	echo "$(awk -v a="$(cpu_ns)" -v b="$c0" 'BEGIN {print a - b}') $(( $(cat $T/khugepaged/full_scans) - s0 ))"
}
stat() { cat $T/khugepaged/policies/global/$1; }
# The two arms take turns, ROUNDS times: the host's drift hits both alike.
cpu_none=0 scans_none=0 cpu_bpf=0 scans_bpf=0 calls=0 hook_ns=0
for r in $(seq 1 $ROUNDS); do
	read -r c n < <(arm none)
	cpu_none=$(awk -v a=$cpu_none -v b=$c 'BEGIN {print a + b}'); scans_none=$((scans_none + n))
	[ $hook = 1 ] || continue
	$L attach default > /dev/null || { kill $work; exit 1; }
	calls0=$(stat calls); hook0=$(stat time_ns)
	read -r c n < <(arm bpf)
	cpu_bpf=$(awk -v a=$cpu_bpf -v b=$c 'BEGIN {print a + b}'); scans_bpf=$((scans_bpf + n))
	calls=$((calls + $(stat calls) - calls0)); hook_ns=$((hook_ns + $(stat time_ns) - hook0))
	$L detach > /dev/null
done
kill $work; wait $work 2>/dev/null
awk -v cn="$cpu_none" -v sn="$scans_none" -v cb="$cpu_bpf" -v sb="$scans_bpf" \
    -v calls="$calls" -v hook="$hook_ns" 'BEGIN {
	printf "  no policy:   khugepaged %.2f s CPU, %d full scans, %.1f us/scan\n", cn / 1e9, sn, sn ? cn / sn / 1e3 : 0
	if (!sb)
		exit
	printf "  BPF default: khugepaged %.2f s CPU, %d full scans, %.1f us/scan, %d hook calls\n", cb / 1e9, sb, sb ? cb / sb / 1e3 : 0, calls
	printf "  hook share:  %d calls, %.4f s in them (%.0f ns each, the kernel\x27s own clock) = %.2f%% of khugepaged CPU (target < 1%%)\n", calls, hook / 1e9, calls ? hook / calls : 0, cb ? 100 * hook / cb : 0
	if (sn && sb)
		printf "  CPU per full scan, BPF default / no policy: %.3fx\n", (cb / sb) / (cn / sn)
}'
