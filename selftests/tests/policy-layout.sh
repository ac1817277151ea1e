#!/bin/bash
# mthp-policy layout against a layout known in advance (layout_workload,
# checked there with the selftests' own pagemap reader): a PMD folio from
# MADV_COLLAPSE, 64K folios from faults, base pages; per mapping, per PMD
# range, in JSON, for a cgroup; and its errors.  No hook needed.
L=$MTHP_BUILD/loader/mthp-policy
W=$MTHP_BUILD/selftests/bin/layout_workload
T=/sys/kernel/mm/transparent_hugepage
CG=/sys/fs/cgroup
OUT=/mthp-out/layout; [ -d /mthp-out ] || OUT=/tmp/layout
. "$MTHP_REPO/selftests/tests/tap.sh"
plan 10

mkdir -p "$OUT"
mkdir -p $CG/mthp-layout
pids=()
cleanup() {
	local p

	for p in "${pids[@]}"; do kill "$p" 2> /dev/null; wait "$p" 2> /dev/null; done
	rmdir $CG/mthp-layout 2> /dev/null
}
trap cleanup EXIT

# One workload in the cgroup; waits for its "ready".  Sets $pid, $out.
start() {
	out=$OUT/work$1.out
	( echo $BASHPID > $CG/mthp-layout/cgroup.procs && exec $W ) > "$out" 2>&1 &
	pid=$!
	pids+=("$pid")
	for i in $(seq 300); do
		grep -q '^ready' "$out" && return 0
		kill -0 $pid 2> /dev/null || break
		sleep 0.1
	done
	cat "$out"
	return 1
}

start 1
ok_if "the workload made its layout (2M, 64K, 4K)" $? "$out"
pid1=$pid
addr() { printf '%x' "0x$(awk -v n="$2" '$1 == n { print $2 }' "$1")"; }
col=$(addr $out collapsed) mthp=$(addr $out mthp) small=$(addr $out small)

$L layout $pid1 > "$OUT/layout.txt" 2>&1
rc=$?
t "layout PID exits 0" test $rc = 0

# The words of a mapping's line after its address range and permissions.
vma_line() { awk -v a="$2" 'index($1, a "-") == 1 { $1 = ""; $2 = ""; print; exit }' "$1" | xargs; }
check_vmas() {
	local f=$1 rc=0 got

	got=$(vma_line "$f" "$col");   [ "$got" = "2048K resident 2048K 2M=2048K" ] || { echo "collapsed: $got"; rc=1; }
	got=$(vma_line "$f" "$mthp");  [ "$got" = "2048K resident 1024K 64K=1024K" ] || { echo "mthp: $got"; rc=1; }
	got=$(vma_line "$f" "$small"); [ "$got" = "2048K resident 512K 4K=512K" ] || { echo "small: $got"; rc=1; }
	[ $rc = 0 ] || cat "$f"
	return $rc
}
t "per mapping: 2M=2048K, 64K=1024K, 4K=512K where they were made" check_vmas "$OUT/layout.txt"

$L layout --ranges $pid1 > "$OUT/ranges.txt" 2>&1
check_ranges() {
	local f=$1 rc=0 got n9 n4 n0

	n9=$(printf '9%.0s' $(seq 32))
	n4=$(printf '4%.0s' $(seq 16))$(printf '.%.0s' $(seq 16))
	n0=$(printf '0%.0s' $(seq 8))$(printf '.%.0s' $(seq 24))
	got=$(awk -v a="$col" '$1 == a' "$f" | xargs);   [ "$got" = "$col 512/512 $n9" ] || { echo "collapsed: $got"; rc=1; }
	got=$(awk -v a="$mthp" '$1 == a' "$f" | xargs);  [ "$got" = "$mthp 256/512 $n4" ] || { echo "mthp: $got"; rc=1; }
	got=$(awk -v a="$small" '$1 == a' "$f" | xargs); [ "$got" = "$small 128/512 $n0" ] || { echo "small: $got"; rc=1; }
	[ $rc = 0 ] || cat "$f"
	return $rc
}
t "--ranges: one line per PMD range, occupancy and a map of orders" check_ranges "$OUT/ranges.txt"

check_json() {
	$L layout --json --ranges $pid1 > "$OUT/layout.json" || return 1
	python3 - "$OUT/layout.json" "$pid1" "$col" "$mthp" "$small" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
pid, col, mthp, small = int(sys.argv[2]), int(sys.argv[3], 16), int(sys.argv[4], 16), int(sys.argv[5], 16)
assert d["page_size"] == 4096 and d["pmd_size"] == 2 << 20, d
p, = d["processes"]
assert p["pid"] == pid, p["pid"]
v = {int(x["start"], 16): x for x in p["vmas"]}
assert v[col]["folios_kib"] == {"2M": 2048}, v[col]
assert v[mthp]["folios_kib"] == {"64K": 1024}, v[mthp]
assert v[small]["folios_kib"] == {"4K": 512}, v[small]
assert v[mthp]["ranges"] == [{"start": hex(mthp), "resident_pages": 256, "pages": 512,
                              "map": "4" * 16 + "." * 16}], v[mthp]["ranges"]
assert p["resident_kib"] == sum(x["resident_kib"] for x in p["vmas"]), p["resident_kib"]
assert p["resident_kib"] == sum(p["folios_kib"].values()), p
assert d["resident_kib"] == p["resident_kib"], d["resident_kib"]
print("json ok")
PY
}
t "--json says the same" check_json

# A second workload: --cgroup lists both, and nothing outside the cgroup.
start 2
pid2=$pid
col2=$(addr $out collapsed)
check_cgroup() {
	local f=$OUT/cgroup.txt rc=0

	$L layout --cgroup mthp-layout > "$f" 2>&1 || { cat "$f"; return 1; }
	[ "$(grep -c '^PID ' "$f")" = 2 ] || rc=1
	grep -q "^PID $pid1 layout_workload" "$f" || rc=1
	grep -q "^PID $pid2 layout_workload" "$f" || rc=1
	grep -q "^PID $$ " "$f" && rc=1
	[ "$(vma_line "$f" "$col2")" = "2048K resident 2048K 2M=2048K" ] || rc=1
	grep -q '^total: 2 processes, ' "$f" || rc=1
	[ $rc = 0 ] || cat "$f"
	return $rc
}
t "--cgroup covers the cgroup's processes (both, only them)" check_cgroup

# Exit 1 (not 2, not a signal) with the message.
exit1() {
	local pat=$1 rc

	shift
	"$@" > "$OUT/err.txt" 2>&1
	rc=$?
	cat "$OUT/err.txt"
	[ $rc = 1 ] && grep -q -- "$pat" "$OUT/err.txt"
}
t "a PID that does not exist: exit 1 and a message" exit1 "no process 999999" $L layout 999999
kill $pid2; wait $pid2 2> /dev/null
t "a PID that exited: exit 1 and a message" exit1 "no process $pid2" $L layout $pid2
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
t "without root: exit 1, says it needs root" exit1 "needs root" nobody $L layout $pid1
t "neither PID nor --cgroup is a usage error" test "$($L layout > /dev/null 2>&1; echo $?)" = 2

for s in $T/hugepages-*kB/enabled; do echo never > "$s"; done
done_testing
