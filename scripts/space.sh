#!/bin/bash
# space.sh BASE/FLAVOUR[,BASE/FLAVOUR...]: fail early, with the numbers, when
# build/ lacks the room to build these kernels.  A full disk would otherwise
# stop a kernel link twenty minutes in ("final close failed").
#
# The sizes are what one clean build took on 2026-12-01 (du -sm), plus a
# tenth: the tree with its git history, each object directory with its
# debug info.  What is already on disk is not counted again.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
[ "${MTHP_NO_SPACE_CHECK:-}" = 1 ] && exit 0

tree_mb() { case $1 in 7.3) echo 2500 ;; *) echo 2100 ;; esac; } # 7.3: + its tarball
obj_mb() {
	case $1/$2 in
	7.3/normal) echo 1450 ;;
	7.3/debug) echo 1650 ;;
	6.12/normal) echo 1100 ;;
	*) echo 1350 ;;
	esac
}
used_mb() { if [ -d "$1" ]; then du -smH "$1" | cut -f1; else echo 0; fi; }

need=150 # build/tools, policies, loader, selftests, guest logs
bases=
for k in ${1//,/ }; do
	base=${k%%/*} flavour=${k#*/}
	case $bases in *" $base "*) ;; *)
		bases="$bases $base "
		[ -f "$TOP/build/$base/linux.state" ] || need=$((need + $(tree_mb "$base")))
		;;
	esac
	obj=$TOP/build/$base/obj-$flavour
	[ -f "$obj/vmlinux" ] && continue # built: a rebuild takes little more
	left=$(($(obj_mb "$base" "$flavour") - $(used_mb "$obj")))
	[ $left -gt 0 ] && need=$((need + left))
done

mkdir -p "$TOP/build"
free=$(df -Pm "$TOP/build" | awk 'NR == 2 { print $4 }')
if [ "$free" -lt "$need" ]; then
	echo "space: error: building $1 needs about $need MB more under build/;" \
		"the file system has $free MB free" >&2
	echo "space: free some (make clean drops the kernels' objects), or set" \
		"MTHP_NO_SPACE_CHECK=1 to try anyway" >&2
	exit 1
fi
echo "space: $1 needs about $need MB more; $free MB free"
