#!/bin/bash
# mthp-policy ab end to end: it attaches its arms, counts a workload in a
# cgroup, writes valid JSON and a valid Prometheus textfile whose numbers
# agree with the kernel's, detaches what it attached, and refuses bad
# arms without leaving anything attached.
L=$MTHP_BUILD/loader/mthp-policy
W=$MTHP_BUILD/selftests/bin/ab_workload
T=/sys/kernel/mm/transparent_hugepage
CG=/sys/fs/cgroup
OUT=/mthp-out/ab-cli; [ -d /mthp-out ] || OUT=/tmp/ab-cli
. "$MTHP_REPO/selftests/tests/tap.sh"
. "$MTHP_REPO/selftests/tests/policies.sh"
plan 7

mkdir -p "$OUT"
$L detach --all > /dev/null 2>&1
echo +memory > $CG/cgroup.subtree_control
mkdir -p $CG/mthp-cli
for s in 16 64 2048; do echo madvise > $T/hugepages-${s}kB/enabled; done
echo 511 > $T/khugepaged/max_ptes_none
echo 0 > $T/khugepaged/scan_sleep_millisecs
echo 4096 > $T/khugepaged/pages_to_scan

# The workload starts once the arms are attached, so the run sees all of it.
(
	for i in $(seq 150); do
		pdir default shadow > /dev/null && break
		sleep 0.2
	done
	echo $BASHPID > $CG/mthp-cli/cgroup.procs && exec $W 5 60
) > /dev/null &
work=$!
TERM=dumb $L ab --duration 12 --interval 4 --json --prom "$OUT/ab.prom" \
	aggressive@mthp-cli default@mthp-cli:shadow > "$OUT/ab.json" 2> "$OUT/ab.err"
rc=$?
t "ab runs and exits 0" test $rc = 0

check_json() {
	python3 - "$OUT/ab.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
arms = {(a["name"], a["mode"]): a for a in d["arms"]}
agg = arms[("aggressive", "active")]
sh = arms[("default", "shadow")]
assert ("kernel", "kernel") in arms, arms.keys()
assert agg["cgroup"] == "/mthp-cli", agg["cgroup"]
c = agg["counters"]
assert c["calls"] > 0 and c["collapsed_order9"] >= 4, c
assert agg["pages_collapsed"] == sum(c["collapsed_order%d" % o] << o for o in range(2, 10)), agg
assert sh["counters"]["calls"] > 0, sh
assert all(sh["counters"]["collapsed_order%d" % o] == 0 for o in range(2, 10)), sh
w = {k: v for k, v in agg["workload"].items() if k not in ("total_kib", "processes", "interrupted")}
assert abs(sum(w.values()) - 100) < 0.5, w
assert w["2M"] > 90, w
print("json ok:", c["calls"], "calls,", agg["pages_collapsed"], "pages,", w["2M"], "% in 2M")
PY
}
t "--json is valid and matches the workload (aggressive: all 2M)" check_json

check_prom() {
	python3 - "$OUT/ab.prom" <<'PY'
import re, sys
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? -?[0-9.e+]+$')
seen = set()
for l in open(sys.argv[1]):
    l = l.rstrip("\n")
    if l.startswith("# HELP ") or l.startswith("# TYPE "):
        continue
    assert line_re.match(l), "bad line: " + l
    seen.add(l.split("{")[0].split(" ")[0])
for m in ("mthp_policy_ranges_total", "mthp_policy_collapsed_pages_total", "mthp_policy_time_seconds_total",
          "mthp_policy_planned_chunks_total", "mthp_cgroup_anon_bytes"):
    assert m in seen, m + " missing"
print(len(seen), "metrics")
PY
}
t "--prom writes a valid textfile with the A/B metrics" check_prom
t "ab detached the arms it attached" test -z "$(pnames)"
t "no .tmp file is left next to the textfile" test ! -e "$OUT/ab.prom.tmp"

# An arm that cannot attach: the arms before it are detached again.
mkdir -p $CG/mthp-cli/nomem
bad_arm() {
	! $L ab --duration 1 conservative@mthp-cli hot@mthp-cli/nomem && test -z "$(pnames)"
}
t "a bad arm fails and leaves nothing attached" bad_arm
t "bad arm syntax is refused" sh -c "$L ab --duration 1 'threshold,pct9@mthp-cli'; test \$? = 1"

kill $work 2>/dev/null
wait $work 2>/dev/null
rmdir $CG/mthp-cli/nomem $CG/mthp-cli 2>/dev/null
$L detach --all > /dev/null 2>&1
done_testing
