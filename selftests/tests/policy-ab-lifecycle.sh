#!/bin/bash
# A/B arms come and go while their workloads run: cgroup-scoped active and
# shadow policies are attached, replaced and detached, and cgroups are
# removed under attached policies, while khugepaged collapses churning
# workloads.  After every step the counters in khugepaged/policies/ must be
# consistent, and at the end nothing may be left attached.  Kernel reports
# (KASAN, lockdep, use after free) fail the run's log check.
L=$MTHP_BUILD/loader/mthp-policy
W=$MTHP_BUILD/selftests/bin/ab_workload
T=/sys/kernel/mm/transparent_hugepage
CG=/sys/fs/cgroup
. "$MTHP_REPO/selftests/tests/tap.sh"
. "$MTHP_REPO/selftests/tests/policies.sh"
plan 6

$L detach --all > /dev/null 2>&1
echo +memory > $CG/cgroup.subtree_control
echo 511 > $T/khugepaged/max_ptes_none
for s in 16 64 2048; do echo madvise > $T/hugepages-${s}kB/enabled; done
for f in scan_sleep_millisecs alloc_sleep_millisecs; do echo 0 > $T/khugepaged/$f; done
echo 4096 > $T/khugepaged/pages_to_scan

# Every policy: calls is the sum of the verdicts (read the verdicts before
# and after it: the counters only grow, one file at a time); a shadow
# collapses nothing; the kernel arm never goes backwards.
last_kernel=0
verdicts() { echo $(($(cat $1/plans_custom) + $(cat $1/plans_default) + $(cat $1/plans_rejected))); }
consistent() {
	local d m s1 c s2 f bad=0
	[ -d $POL/kernel ] || { echo "no kernel directory"; return 1; }
	for d in $POL/*; do
		# Read at a quiet moment between steps: nothing is detached here.
		m=$(cat $d/mode) s1=$(verdicts $d) c=$(cat $d/calls) s2=$(verdicts $d) || return 1
		if [ "$c" -lt "$s1" ] || [ "$c" -gt "$s2" ]; then
			echo "calls $c not between the verdicts $s1 and $s2: $d"; bad=1
		fi
		if [ "$m" = shadow ]; then
			for f in $d/hugepages-*/collapsed $d/hugepages-*/failed; do
				[ "$(cat $f)" = 0 ] || { echo "shadow collapsed: $f $(cat $f)"; bad=1; }
			done
		fi
	done
	c=$(cat $POL/kernel/calls)
	[ "$c" -ge "$last_kernel" ] || { echo "kernel arm went back: $c < $last_kernel"; bad=1; }
	last_kernel=$c
	return $bad
}

# A workload in its own cgroup, its pid in $PID.
start_in() {
	mkdir -p $CG/$1
	sh -c "echo \$\$ > $CG/$1/cgroup.procs && exec $W 6 600 1" > /dev/null &
	PID=$!
}

cycle() {	# cycle ITERATION
	local i=$1 cg=mthp-lc$1 pid d
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
		pdir aggressive active > /dev/null || return 1
		$L detach --all > /dev/null || return 1
		kill "$pid"
		wait "$pid" 2>/dev/null
	else
		# The policies go first, one of them replaced on the way:
		# the same directory, the new policy's counters.
		d=$(pdir aggressive active) || return 1
		$L replace default --cgroup $cg > /dev/null || return 1
		[ "$(pdir default active)" = "$d" ] || { echo "replace moved $d"; return 1; }
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
		cycle "$i" || { echo "cycle $i failed"; grep -r . $POL | head -n 80; return 1; }
	done
}

t "the counters are consistent with no policy attached" consistent
t "$N cycles of attach, replace, detach and cgroup removal under load" cycles
t "nothing is left attached" test -z "$(pnames)"
t "the system-wide policy is none" test "$(cat $T/khugepaged/policy)" = none
t "no cgroup is left behind" sh -c "! ls -d $CG/mthp-lc* 2>/dev/null"
t "attaching to a cgroup removed meanwhile is refused" \
	sh -c "mkdir $CG/mthp-gone && rmdir $CG/mthp-gone && ! $L attach default --cgroup mthp-gone"

for f in $CG/mthp-lc*/cgroup.procs; do [ -e "$f" ] && cat "$f" | xargs -r kill; done 2>/dev/null
rmdir $CG/mthp-lc* 2>/dev/null
$L detach --all > /dev/null 2>&1
done_testing
