#!/bin/bash
# mthp-policy record and replay: record what khugepaged plans for a
# workload (system-wide and for one cgroup), replay the recording with the
# kernel's planner and two policies, and check that the kernel's planner
# makes, from the recording alone, every plan the kernel made while
# recording.  Bad files are refused with a reason; record refuses a scope
# whose shadow place is taken, or where an active policy plans (unless
# --force), and leaves nothing attached.
L=$MTHP_BUILD/loader/mthp-policy
W=$MTHP_BUILD/selftests/bin/ab_workload
T=/sys/kernel/mm/transparent_hugepage
CG=/sys/fs/cgroup
OUT=/mthp-out/record-replay; [ -d /mthp-out ] || OUT=/tmp/record-replay
. "$MTHP_REPO/selftests/tests/tap.sh"
. "$MTHP_REPO/selftests/tests/policies.sh"
plan 23

mkdir -p "$OUT"
$L detach --all > /dev/null 2>&1
echo +memory > $CG/cgroup.subtree_control
mkdir -p $CG/mthp-rec
for s in 16 64 2048; do echo madvise > $T/hugepages-${s}kB/enabled; done
# Some ranges collapse whole, some in mTHP chunks, some not at all (and are
# asked about again on every pass): plans of every kind.
echo 64 > $T/khugepaged/max_ptes_none
echo 10 > $T/khugepaged/scan_sleep_millisecs
echo 0 > $T/khugepaged/alloc_sleep_millisecs
echo 4096 > $T/khugepaged/pages_to_scan

# 16 ranges of mixed occupancy, one faulted anew every second.
(echo $BASHPID > $CG/mthp-rec/cgroup.procs && exec $W 16 300 1) > /dev/null &
work=$!

# "recorded N ranges, dropped D ..." -> N
recorded() { sed -n 's/^recorded \([0-9]*\) ranges, dropped [0-9]* .*/\1/p' "$1"; }

$L record --duration 10 "$OUT/all.rec" > "$OUT/record.out" 2>&1
rc=$?
cat "$OUT/record.out" | sed 's/^/# /'
t "record --duration 10 exits 0" test $rc = 0
n=$(recorded "$OUT/record.out")
t "it recorded ranges ($n)" test "${n:-0}" -gt 0
reports() {
	grep -q "dropped [0-9]* (ring buffer full)" "$OUT/record.out" &&
		grep -q "^recorder cost: [0-9]* calls, [0-9]* ns in all, [0-9]* ns per range" \
			"$OUT/record.out"
}
t "it reports the ranges dropped and its cost per range" reports
t "the recorder is detached after record" test -z "$(pnames)"

$L replay "$OUT/all.rec" kernel default aggressive > "$OUT/replay.out" 2>&1
rc=$?
sed 's/^/# /' "$OUT/replay.out"
t "replay kernel default aggressive exits 0" test $rc = 0
t "the kernel's planner replays every recorded plan (0 of $n differ)" \
	grep -qx "kernel vs recorded: 0 of ${n:-x} ranges differ" "$OUT/replay.out"
# The table's last four columns: recorded, kernel, default, aggressive.
# aggressive takes any occupied chunk: never fewer PTEs than the kernel.
more_ptes() {
	awk '/^PTEs collapsed/ { exit !($NF >= $(NF-2) && $(NF-2) > 0) }' "$OUT/replay.out"
}
t "aggressive collapses at least what the kernel does, and something" more_ptes
# The BPF default is the kernel's choice: the same chunks to collapse (it
# leaves out of its plan the chunks the kernel skips at collapse).
same_collapse() {
	awk '/^(chunks [0-9]+[KMG] |PTEs collapsed|bloat)/ {
		rows++; if ($(NF-1) != $(NF-2)) { print "differs: " $0; bad = 1 } }
		END { exit bad || rows < 3 }' "$OUT/replay.out"
}
t "the BPF default collapses the chunks the kernel does" same_collapse

# A cgroup's recording holds only its memory cgroup's ranges.
$L record --duration 6 --cgroup mthp-rec "$OUT/cg.rec" > "$OUT/cg.out" 2>&1
rc=$?
sed 's/^/# /' "$OUT/cg.out"
only_cgroup() {
	python3 - "$OUT/cg.rec" "$(stat -c %i $CG/mthp-rec)" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
size = struct.unpack_from("<I", d, 16)[0]
ids = {struct.unpack_from("<Q", d, off + 40)[0] for off in range(128, len(d), size)}
print("memcg ids:", ids)
assert ids == {int(sys.argv[2])}, ids
PY
}
n=$(recorded "$OUT/cg.out")
t "record --cgroup exits 0 and records ranges ($n)" test $rc = 0 -a "${n:-0}" -gt 0
t "every range of the cgroup's recording is the cgroup's" only_cgroup

# Damaged files.
python3 - "$OUT/all.rec" "$OUT" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
size = struct.unpack_from("<I", d, 16)[0]
open(sys.argv[2] + "/magic.rec", "wb").write(b"NOTAREC!" + d[8:])
v = bytearray(d); struct.pack_into("<I", v, 8, 99)
open(sys.argv[2] + "/version.rec", "wb").write(v)
open(sys.argv[2] + "/cut.rec", "wb").write(d[:len(d) - size // 2])
open(sys.argv[2] + "/short.rec", "wb").write(d[:len(d) - size])
# Killed mid-write: no count in the header, the last record cut.
u = bytearray(d); struct.pack_into("<Q", u, 32, 2**64 - 1)
open(sys.argv[2] + "/unclean.rec", "wb").write(u[:len(u) - size // 3])
o = bytearray(d); struct.pack_into("<I", o, 28, 40)
open(sys.argv[2] + "/order.rec", "wb").write(o)
hs = bytearray(d); struct.pack_into("<I", hs, 12, 1 << 30)
open(sys.argv[2] + "/hsize.rec", "wb").write(hs)
# The first record's default plan: one chunk of order 1 (no size of ours).
c = bytearray(d); struct.pack_into("<I", c, 128 + 76, 1); struct.pack_into("<HH", c, 128 + 80, 0, 1)
open(sys.argv[2] + "/chunk.rec", "wb").write(c)
# The release string without its NUL: printed within its field.
r = bytearray(d); r[64:112] = b"x" * 48
open(sys.argv[2] + "/release.rec", "wb").write(r)
PY
t_refused "a file of another kind is refused" "bad magic" $L replay "$OUT/magic.rec" kernel
t_refused "an unknown format version is refused" "format version 99" $L replay "$OUT/version.rec" kernel
t_refused "a record cut in half is refused" "truncated: " $L replay "$OUT/cut.rec" kernel
t_refused "a file missing a whole record is refused" "header counts" $L replay "$OUT/short.rec" kernel
unclean() {
	$L replay "$OUT/unclean.rec" kernel > "$OUT/unclean.out" 2>&1 &&
		grep -q "did not end cleanly; replaying the $((n0 - 1)) whole records" "$OUT/unclean.out"
}
n0=$(recorded "$OUT/record.out")
t "a recording that did not end cleanly replays its whole records" unclean
t_refused "a PMD order out of range is refused" "damaged header" $L replay "$OUT/order.rec" kernel
t_refused "a header size past the file is refused" "damaged header" $L replay "$OUT/hsize.rec" kernel
t_refused "a recorded chunk of no collapse size is refused" "record 0 is damaged" \
	$L replay "$OUT/chunk.rec" kernel
release() {
	$L replay "$OUT/release.rec" kernel > "$OUT/release.out" 2>&1 &&
		grep -q "recorded on x\{47\} (base" "$OUT/release.out"
}
t "a release string without its end is read within its field" release

# Where record cannot record what it should.
$L attach default --shadow > /dev/null
t_refused "a scope with a shadow policy already is refused" "shadow policy 'default' is attached" \
	$L record --duration 1 "$OUT/x.rec"
$L detach --shadow > /dev/null
$L attach conservative --cgroup mthp-rec > /dev/null
t_refused "an active policy in the scope is refused" "active policy 'conservative'.*--force" \
	$L record --duration 1 "$OUT/x.rec"
forced() {
	$L record --duration 1 --force "$OUT/x.rec" > "$OUT/force.out" 2>&1 &&
		grep -q "not the plan that stood" "$OUT/force.out"
}
t "--force records anyway, and says so" forced
$L detach --cgroup mthp-rec > /dev/null
t "nothing is left attached" test -z "$(pnames)"

kill $work 2>/dev/null
wait $work 2>/dev/null
rmdir $CG/mthp-rec 2>/dev/null
done_testing
