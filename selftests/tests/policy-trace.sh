#!/bin/bash
# huge_memory:mm_khugepaged_collapse_policy, one event per policy asked
# about a range: an active and a shadow policy on a workload that khugepaged
# collapses, then a policy whose plans are all rejected, then one disabled
# as too slow.  Each event must name the policy, its mode, the workload's
# process and a PMD range of it, and say what became of the plan; the
# events of a policy must number its calls in the counters.
L=$MTHP_BUILD/loader/mthp-policy
P=$MTHP_BUILD/bpf-policies
T=/sys/kernel/mm/transparent_hugepage
TR=/sys/kernel/tracing
EV=$TR/events/huge_memory/mm_khugepaged_collapse_policy
. "$MTHP_REPO/selftests/tests/tap.sh"
. "$MTHP_REPO/selftests/tests/policies.sh"
plan 10

$L detach --all > /dev/null 2>&1
echo 511 > $T/khugepaged/max_ptes_none
for s in 16 64 2048; do echo madvise > $T/hugepages-${s}kB/enabled; done
# Scans 10 ms apart: a range that never collapses is asked about again on
# every pass, and each pass must fit in the trace buffer.
echo 10 > $T/khugepaged/scan_sleep_millisecs
echo 0 > $T/khugepaged/alloc_sleep_millisecs
echo 4096 > $T/khugepaged/pages_to_scan
echo 16384 > $TR/buffer_size_kb

# The event's fields, without the common_ ones.
fields() {
	sed -n 's/^[[:space:]]*field:.* \([a-z_]*\);.*/\1/p' $EV/format |
		grep -v '^common_' | tr '\n' ' '
}
same() {	# same WANT GOT
	[ "$1" = "$2" ] || { echo "fields: $2"; echo "want:   $1"; return 1; }
}
t "the event's fields" same \
	"policy cgroup_id time_ns address tgid ret rejected nr_chunks shadow disabled custom " \
	"$(fields)"

# 16 MiB, every other 4K page written, then left to khugepaged for $1
# seconds.  Run it in the background: the shell becomes the workload.
workload() {
	exec python3 - "$1" <<'PY'
import mmap, sys, time
m = mmap.mmap(-1, 16 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
m.madvise(mmap.MADV_NOHUGEPAGE)
for off in range(0, 16 << 20, 8192):
    m[off] = 1
m.madvise(mmap.MADV_HUGEPAGE)
time.sleep(float(sys.argv[1]))
PY
}

# Trace from before the workload starts until after it is gone, so that
# every call the counters see is in the trace: no other process has
# memory khugepaged may collapse (every size is madvise-only).  The
# workload runs SECONDS, or with UNTIL (a command) until that succeeds,
# polled each second, and 2 s more (SECONDS the longest).
trace_run() {	# trace_run SECONDS OUT [UNTIL...]
	local pid secs=$1 out=$2 i
	shift 2
	echo 0 > $TR/tracing_on
	echo > $TR/trace
	echo 1 > $EV/enable
	echo 1 > $TR/tracing_on
	workload "$secs" &
	pid=$!
	if [ $# -gt 0 ]; then
		for i in $(seq 1 "$secs"); do "$@" && break; sleep 1; done
		sleep 2
		kill "$pid" 2> /dev/null
	fi
	wait "$pid"
	sleep 1
	echo 0 > $TR/tracing_on
	echo 0 > $EV/enable
	grep ' mm_khugepaged_collapse_policy: ' $TR/trace > "$out"
	echo "$pid" > "$out.pid"
	# Events lost to a full buffer would make the counts below wrong.
	cat $TR/per_cpu/cpu*/stats | awk '/^overrun:/ { n += $2 } END { print n + 0 }' > "$out.lost"
}
ev() {		# ev FILE FIELD=VALUE...: the events with all these fields
	local f=$1
	shift
	if [ $# = 0 ]; then
		cat "$f"
	else
		ev "$f" "${@:1:$#-1}" | grep -E " ${!#}( |\$)"
	fi
}
calls() { pcol "$1" "$2" calls; }
disabled() { [ "$(pcol "$1" active disabled)" = 1 ]; }

$L attach conservative > /dev/null && $L attach aggressive --shadow > /dev/null ||
	{ echo "Bail out! cannot attach"; exit 1; }
trace_run 8 /tmp/pt1
pid=$(cat /tmp/pt1.pid)
act=$(calls conservative active) sh=$(calls aggressive shadow)
$L detach --all > /dev/null
echo "# conservative: $act calls, $(ev /tmp/pt1 policy=conservative | wc -l) events;" \
	"aggressive (shadow): $sh calls, $(ev /tmp/pt1 policy=aggressive | wc -l) events"

ranges_ok() {	# every event is of the workload, at a PMD-aligned address
	[ -s /tmp/pt1 ] || return 1
	! grep -v -E " tgid=$pid .*address=0x[0-9a-f]*[02468ace]00000 " /tmp/pt1
}
t "events name the workload and PMD ranges" ranges_ok
t "no event lost (the trace buffer never overran)" test "$(cat /tmp/pt1.lost)" = 0
t "one event per call of the active policy" \
	test "$(ev /tmp/pt1 policy=conservative mode=active | wc -l)" -eq "${act:--1}" -a "${act:-0}" -gt 0
t "one event per call of the shadow policy" \
	test "$(ev /tmp/pt1 policy=aggressive mode=shadow | wc -l)" -eq "${sh:--1}" -a "${sh:-0}" -gt 0
custom_ok() {	# its own plans, chunks counted, nothing rejected
	ev /tmp/pt1 policy=conservative verdict=custom plan=policy | grep -q . &&
	! ev /tmp/pt1 policy=conservative verdict=rejected | grep -q . &&
	! grep -E ' verdict=custom .* plan=default' /tmp/pt1
}
t "the policies' own plans stand, none rejected" custom_ok
t "aggressive plans chunks for the half-full ranges" \
	bash -c "grep -E ' policy=aggressive .* chunks=[1-9]' /tmp/pt1 | grep -q ."

# Every plan misaligned: rejected, for that reason, the default standing.
$L attach $P/broken.bpf.o mode=3 > /dev/null || { echo "Bail out! cannot attach broken"; exit 1; }
trace_run 8 /tmp/pt2
$L detach > /dev/null
rejected_ok() {
	ev /tmp/pt2 policy=broken verdict=rejected rejected=misaligned plan=default | grep -q . &&
	! ev /tmp/pt2 policy=broken | grep -v ' verdict=rejected ' | grep -q .
}
t "a misaligned plan is traced as rejected, the default standing" rejected_ok

# A policy that spins past the limit (2^21 chunk lookups a call: 0.2-0.4 s
# under TCG, seconds on the debug kernel): three slow calls, then
# "disabled"; the workload runs until the kernel says so.
$L attach $P/slow.bpf.o loops=2097152 > /dev/null || { echo "Bail out! cannot attach slow"; exit 1; }
trace_run 240 /tmp/pt3 disabled slow
$L detach > /dev/null
t "a policy disabled as too slow is traced as such, the default standing" \
	bash -c "grep -E ' policy=slow .* verdict=disabled .* plan=default' /tmp/pt3 | grep -q ."
t "its slow calls are traced with their time (> 100 ms)" \
	bash -c "grep -E ' policy=slow .* verdict=(custom|default) .* time_ns=[0-9]{9,}\$' /tmp/pt3 | grep -q ."
[ $tap_fail = 0 ] || for f in /tmp/pt1 /tmp/pt2 /tmp/pt3; do head -3 $f | sed 's/^/# /'; done
done_testing
