#!/bin/bash
# The THP-related mm selftests of one base's tree, built against that
# kernel's UAPI headers into build/$BASE/mm-selftests/, and the series' test
# of the tree's BPF selftests into build/$BASE/bpf-selftests/; then ours, into
# build/selftests/bin/, which run unchanged on both bases.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/scripts/base.sh"
OBJ=$KBUILD/obj-normal
OUT=$KBUILD/mm-selftests
MM_TESTS=(khugepaged cow split_huge_page_test transhuge-stress mkdirty soft-dirty)

[ -d "$OBJ/usr/include" ] || { echo "build-selftests: error: no UAPI headers in $OBJ; build the kernel first" >&2; exit 1; }
mkdir -p "$OUT"
targets=()
for t in "${MM_TESTS[@]}"; do targets+=("$OUT/$t"); done
# khugepaged.c uses KSFT_SKIP without including kselftest.h in 6.12.
if ! make -C "$TREE/tools/testing/selftests/mm" OUTPUT="$OUT" \
	KHDR_INCLUDES="-isystem $OBJ/usr/include" \
	EXTRA_CFLAGS="-include $TREE/tools/testing/selftests/kselftest.h" \
	"${targets[@]}" > "$OUT/build.log" 2>&1; then
	tail -20 "$OUT/build.log" >&2
	echo "build-selftests: error: mm selftests failed to build; log: $OUT/build.log" >&2
	exit 1
fi
echo "build-selftests: built ${MM_TESTS[*]} ($BASE)"

# The series' test among the tree's BPF selftests, if it has one.
"$TOP/scripts/build-test-progs.sh"

# Our own selftests (selftests/thp, selftests/lib).
mkdir -p "$TOP/build/selftests"
if ! make -C "$TOP/selftests" OUT="$TOP/build/selftests/bin" \
	KSFT="$USER_TREE/tools/testing/selftests" UAPI="$USER_OBJ/usr/include" \
	> "$TOP/build/selftests/build.log" 2>&1; then
	cat "$TOP/build/selftests/build.log" >&2
	echo "build-selftests: error: mthp-bpf selftests failed to build" >&2
	exit 1
fi
echo "build-selftests: built mthp-bpf selftests"
