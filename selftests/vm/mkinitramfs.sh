#!/bin/bash
# The VM's initramfs: static busybox and our init; everything else comes
# from the host over 9p at run time.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$TOP/build/initramfs.cpio.gz}
BB=/bin/busybox
if [ ! -x "$BB" ] || ldd "$BB" >/dev/null 2>&1; then
	echo "mkinitramfs: error: $BB is missing or not static (install busybox-static)" >&2
	exit 1
fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,etc}
cp "$BB" "$stage/bin/busybox"
cp "$TOP/selftests/vm/init" "$stage/init"
chmod 755 "$stage/init"
(cd "$stage" && find . | cpio -o -H newc --quiet) | gzip -1 > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
