#!/bin/bash
# The series' test in the tree's own BPF selftests (prog_tests/khugepaged_bpf.c
# of the 7.3 series), run by the tree's test_progs, built alone by
# scripts/build-test-progs.sh.  test_progs exits 0 on a skip as on a pass;
# here the hook is in the kernel, so every subtest must pass.
. "$MTHP_REPO/selftests/tests/tap.sh"
bin=$MTHP_BUILD/$MTHP_BASE/bpf-selftests/test_progs
[ -x "$bin" ] || { echo "# no $bin: the $MTHP_BASE series has no such test"; exit 4; }
plan 3
"$bin" -v -t khugepaged_bpf > out 2>&1
st=$?
sed 's/^/# /' out
ok_if "test_progs -t khugepaged_bpf exits 0" $st
summary=$(sed -n 's/^Summary: //p' out)
echo "# summary: $summary"
# "0 FAILED" or, as 7.3 counts failed subtests too, "0/0 FAILED"
echo "$summary" | grep -qxE '1/4 PASSED, 0 SKIPPED, 0(/0)? FAILED'
ok_if "one test, four subtests passed" $?
ok_if "no subtest skipped or failed" "$(grep -cE '^#[0-9/]+ +khugepaged_bpf.*(SKIP|FAIL)' out)"
done_testing
