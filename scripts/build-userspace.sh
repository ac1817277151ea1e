#!/bin/bash
# libbpf and bpftool from USER_BASE's tree (tools/; Debian's are too old for
# struct_ops links), and vmlinux.h from that base's normal kernel's BTF.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/scripts/base.sh"
TREE=$USER_TREE
OUT=$TOP/build/tools
OBJ=$USER_OBJ
JOBS=${JOBS:-$(($(nproc) + 1))}
LLVM=(CLANG=clang-19 LLC=llc-19 LLVM_STRIP=llvm-strip-19 LLVM_CONFIG=llvm-config-19)

start=$(date +%s)
# Built from another tree before (USER_BASE changed): make would take the
# other tree's objects as up to date.  Start again.
stamp="$OUT/user-tree"
if [ -e "$OUT/libbpf" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$TREE" ]; then
	echo "build-userspace: user space was built from another tree; building it from $USER_BASE's"
	rm -rf "$OUT/libbpf" "$OUT/bpftool" "$OUT/vmlinux.h"
fi
mkdir -p "$OUT/libbpf" "$OUT/bpftool"
echo "$TREE" > "$stamp"
log=$OUT/build.log
: > "$log"
if ! make -C "$TREE/tools/lib/bpf" -j"$JOBS" OUTPUT="$OUT/libbpf/" \
	DESTDIR="$OUT/libbpf" prefix= install_headers install >>"$log" 2>&1; then
	tail -20 "$log" >&2
	echo "build-userspace: error: libbpf build failed; log: $log" >&2
	exit 1
fi
# bpftool's own BPF skeletons need clang; no libbfd/llvm disassembler needed.
if ! make -C "$TREE/tools/bpf/bpftool" -j"$JOBS" OUTPUT="$OUT/bpftool/" \
	"${LLVM[@]}" feature-llvm=0 feature-libbfd=0 >>"$log" 2>&1; then
	tail -20 "$log" >&2
	echo "build-userspace: error: bpftool build failed; log: $log" >&2
	exit 1
fi
if [ -f "$OBJ/vmlinux" ]; then
	"$OUT/bpftool/bpftool" btf dump file "$OBJ/vmlinux" format c > "$OUT/vmlinux.h.tmp"
	mv "$OUT/vmlinux.h.tmp" "$OUT/vmlinux.h"
fi
echo "build-userspace: libbpf $(sed -n 's/^Version: //p' "$OUT/libbpf/libbpf.pc" 2>/dev/null || true)," \
	"$("$OUT/bpftool/bpftool" version | head -1), vmlinux.h from $USER_BASE $(basename "$OBJ") in $(($(date +%s) - start)) s"
