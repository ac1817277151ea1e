#!/bin/bash
# The series' test in the tree's BPF selftests (prog_tests/khugepaged_bpf.c),
# built alone into build/$BASE/bpf-selftests/test_progs.  The tree's own
# Makefile builds all of test_progs (some 450 tests and 1000 BPF programs,
# longer than the kernel): this builds the same runner, from the same
# sources and with the same flags, with that one test and its program.
# A tree without the test (6.12's series has none) is skipped.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/scripts/base.sh"
SRC=$TREE/tools/testing/selftests/bpf
OBJ=$KBUILD/obj-normal
OUT=$KBUILD/bpf-selftests
TEST=khugepaged_bpf
CLANG=${CLANG:-clang-19}

if [ ! -f "$SRC/prog_tests/$TEST.c" ]; then
	echo "build-test-progs: $BASE's tree has no prog_tests/$TEST.c; nothing to build"
	exit 0
fi
[ -f "$OBJ/vmlinux" ] || { echo "build-test-progs: error: no $OBJ/vmlinux; build the kernel first" >&2; exit 1; }
start=$(date +%s)
mkdir -p "$OUT/prog_tests"
log=$OUT/build.log
: > "$log"
run() {
	echo "+ $*" >> "$log"
	if ! "$@" >> "$log" 2>&1; then
		tail -30 "$log" >&2
		echo "build-test-progs: error: $1 failed; log: $log" >&2
		exit 1
	fi
}

# libbpf and bpftool: user space's, when it comes from this tree.
if [ "$USER_TREE" = "$TREE" ] && [ -f "$TOP/build/tools/libbpf/libbpf.a" ]; then
	LIBBPF=$TOP/build/tools/libbpf
	BPFTOOL=$TOP/build/tools/bpftool/bpftool
else
	LIBBPF=$OUT/libbpf
	mkdir -p "$LIBBPF" "$OUT/bpftool"
	run make -C "$TREE/tools/lib/bpf" -j3 OUTPUT="$LIBBPF/" DESTDIR="$LIBBPF" \
		prefix= install_headers install
	run make -C "$TREE/tools/bpf/bpftool" -j3 OUTPUT="$OUT/bpftool/" CLANG="$CLANG" \
		feature-llvm=0 feature-libbfd=0
	BPFTOOL=$OUT/bpftool/bpftool
fi
libbpf_a=$(find "$LIBBPF" -name libbpf.a | head -1)

# The BPF program and its skeleton, as the tree's Makefile makes them.
"$BPFTOOL" btf dump file "$OBJ/vmlinux" format c > "$OUT/vmlinux.h.tmp" 2>> "$log" ||
	{ echo "build-test-progs: error: no BTF in $OBJ/vmlinux; log: $log" >&2; exit 1; }
mv "$OUT/vmlinux.h.tmp" "$OUT/vmlinux.h"
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
run "$CLANG" -g -O2 --target=bpf -mcpu=v3 -D__TARGET_ARCH_"$arch" -Wall -Werror \
	-std=gnu11 -fno-strict-aliasing -fms-extensions -Wno-microsoft-anon-tag \
	-I"$OUT" -I"$LIBBPF/include" -I"$SRC" -I"$TREE/tools/include/uapi" \
	-c "$SRC/progs/$TEST.c" -o "$OUT/$TEST.bpf.o"
run "$BPFTOOL" gen object "$OUT/$TEST.linked.o" "$OUT/$TEST.bpf.o"
"$BPFTOOL" gen skeleton "$OUT/$TEST.linked.o" name "$TEST" > "$OUT/$TEST.skel.h.tmp" 2>> "$log" ||
	{ echo "build-test-progs: error: bpftool gen skeleton failed; log: $log" >&2; exit 1; }
mv "$OUT/$TEST.skel.h.tmp" "$OUT/$TEST.skel.h"

# test_progs' list of tests, and the key it registers at start.
echo "DEFINE_TEST($TEST)" > "$OUT/prog_tests/tests.h"
if [ ! -f "$OUT/verification_cert.h" ]; then
	keydir=$(mktemp -d)
	# The key as the tree's Makefile makes it; the header as its recipe does.
	run "$SRC/verify_sig_setup.sh" genkey "$keydir"
	{
		echo "unsigned char test_progs_verification_cert[] = {"
		od -v -t xC -w12 "$keydir/signing_key.der" | sed 's/ \(\S\+\)/ 0x\1,/g;s/^\S\+/ /;$d'
		echo "};"
		echo "unsigned int test_progs_verification_cert_len = $(wc -c < "$keydir/signing_key.der");"
	} > "$OUT/verification_cert.h"
	rm -rf "$keydir"
fi

# The runner: test_progs.c, its helpers and the one test.
srcs=(test_progs.c cgroup_helpers.c trace_helpers.c network_helpers.c
	testing_helpers.c btf_helpers.c cap_helpers.c unpriv_helpers.c
	sysctl_helpers.c netlink_helpers.c jit_disasm_helpers.c io_helpers.c
	test_loader.c xsk.c disasm.c disasm_helpers.c json_writer.c
	bpftool_helpers.c prog_tests/$TEST.c)
cflags=(-g -O0 -rdynamic -std=gnu11 -Wall -Werror -fno-omit-frame-pointer -D_GNU_SOURCE= -DHAVE_GENHDR
	-Wno-unused-but-set-variable
	-I"$OUT" -I"$SRC" -I"$LIBBPF/include" -I"$OBJ/include/generated"
	-I"$TREE/tools/lib" -I"$TREE/tools/include" -I"$TREE/tools/arch/$arch/include"
	-I"$TREE/tools/include/uapi")
objs=()
for s in "${srcs[@]}"; do
	o=$OUT/$(basename "$s" .c).o
	run gcc "${cflags[@]}" -c "$SRC/$s" -o "$o"
	objs+=("$o")
done
run gcc "${cflags[@]}" -c "$TREE/tools/lib/find_bit.c" -o "$OUT/find_bit.o"
run gcc -rdynamic -o "$OUT/test_progs" "${objs[@]}" "$OUT/find_bit.o" "$libbpf_a" \
	-lelf -lz -lrt -lpthread
echo "build-test-progs: test_progs with $TEST ($BASE) in $(($(date +%s) - start)) s"
