#!/bin/bash
# A/B arms come and go while their workloads run: cgroup-scoped active and
# shadow policies are attached, replaced and detached, and cgroups are
# removed under attached policies, while khugepaged collapses churning
# workloads.  After every step the counters of khugepaged/policies must be
# consistent, and at the end nothing may be left attached.  Kernel reports
# (KASAN, lockdep, use after free) fail the run's log check.
L=$MTHP_BUILD/loader/mthp-policy
W=$MTHP_BUILD/selftests/bin/ab_workload
T=/sys/kernel/mm/transparent_hugepage
CG=/sys/fs/cgroup
POL=$T/khugepaged/policies
. "$MTHP_REPO/selftests/tests/tap.sh"
plan 6

$L detach --all > /dev/null 2>&1
echo +memory > $CG/cgroup.subtree_control
echo 511 > $T/khugepaged/max_ptes_none
for s in 16 64 2048; do echo madvise > $T/hugepages-${s}kB/enabled; done
for f in scan_sleep_millisecs alloc_sleep_millisecs; do echo 0 > $T/khugepaged/$f; done
echo 4096 > $T/khugepaged/pages_to_scan

# Every row: calls is the sum of the verdicts; a shadow collapses nothing;
# the kernel arm never goes backwards.
last_kernel=0
consistent() {
	awk -v last="$last_kernel" '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		{
			if ($col["calls"] != $col["plans_custom"] + $col["plans_default"] + $col["plans_rejected"]) {
				print "calls != verdicts: " $0; bad = 1
			}
			for (o = 2; o <= 9; o++)
				if ($2 == "shadow" && ($col["collapsed_order" o] || $col["failed_order" o])) {
					print "shadow collapsed: " $0; bad = 1
				}
			if ($2 == "kernel") {
				kernel = 1
				if ($col["calls"] < last) { print "kernel arm went back: " $0; bad = 1 }
			}
		}
		END { if (!kernel) { print "no kernel row"; bad = 1 }; exit bad }' $POL || return 1
	last_kernel=$(awk 'NR > 1 && $2 == "kernel" { print $5 }' $POL)
}

# A workload in its own cgroup, its pid in $PID.
start_in() {
	mkdir -p $CG/$1
	sh -c "echo \$\$ > $CG/$1/cgroup.procs && exec $W 6 600 1" > /dev/null &
	PID=$!
}

cycle() {	# cycle ITERATION
	local i=$1 cg=mthp-lc$1 pid
	start_in $cg
	pid=$PID
	sleep 0.5
	$L attach aggressive --cgroup $cg > /dev/null || return 1
	$L attach conservative --cgroup $cg --shadow > /dev/null || return 1
	sleep 1
	consistent || return 1
	if [ $((i % 2)) = 1 ]; then
		# The cgroup goes first, with its ranges in flight: the
		# policies stay attached, matching nothing.
		echo "$pid" > $CG/cgroup.procs || return 1
		rmdir $CG/$cg || return 1
		sleep 0.5
		consistent || return 1
		grep -q '^aggressive active ' $POL || return 1
		$L detach --all > /dev/null || return 1
		kill "$pid"
		wait "$pid" 2>/dev/null
	else
		# The policies go first, one of them replaced on the way.
		$L replace default --cgroup $cg > /dev/null || return 1
		sleep 0.5
		$L detach --cgroup $cg > /dev/null || return 1
		$L detach --cgroup $cg --shadow > /dev/null || return 1
		consistent || return 1
		kill "$pid"
		wait "$pid" 2>/dev/null
		rmdir $CG/$cg || return 1
	fi
	consistent
}

# Fewer on the debug kernel, where each cycle's loads take a minute.
N=8
[ "${MTHP_FLAVOUR:-}" = debug ] && N=2
cycles() {
	local i
	for i in $(seq 1 $N); do
		cycle "$i" || { echo "cycle $i failed"; cat $POL; return 1; }
	done
}

t "policies file is consistent with no policy attached" consistent
t "$N cycles of attach, replace, detach and cgroup removal under load" cycles
t "nothing is left attached" test "$(awk 'NR > 1 { print $1 }' $POL)" = kernel
t "the system-wide policy is none" test "$(cat $T/khugepaged/policy)" = none
t "no cgroup is left behind" sh -c "! ls -d $CG/mthp-lc* 2>/dev/null"
t "attaching to a cgroup removed meanwhile is refused" \
	sh -c "mkdir $CG/mthp-gone && rmdir $CG/mthp-gone && ! $L attach default --cgroup mthp-gone"

for f in $CG/mthp-lc*/cgroup.procs; do [ -e "$f" ] && cat "$f" | xargs -r kill; done 2>/dev/null
rmdir $CG/mthp-lc* 2>/dev/null
$L detach --all > /dev/null 2>&1
done_testing
