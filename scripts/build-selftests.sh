#!/bin/bash
# The kernel tree's THP-related mm selftests, built against the test kernel's
# UAPI headers into build/selftests/mm/.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
TREE=$TOP/build/linux
OBJ=$TOP/build/obj-normal
OUT=$TOP/build/selftests/mm
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
echo "build-selftests: built ${MM_TESTS[*]}"

# Our own selftests (selftests/thp, selftests/lib).
if ! make -C "$TOP/selftests" OUT="$TOP/build/selftests/bin" \
	KSFT="$TREE/tools/testing/selftests" > "$TOP/build/selftests/build.log" 2>&1; then
	cat "$TOP/build/selftests/build.log" >&2
	echo "build-selftests: error: mthp-bpf selftests failed to build" >&2
	exit 1
fi
echo "build-selftests: built mthp-bpf selftests"
