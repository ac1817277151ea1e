# Sourced by the build scripts (after TOP is set): the kernel base to work on
# and where its files are.  BASE is 7.3 (mainline) or 6.12 (the LTS backport).
#   kernel/$BASE/         series, patches and the base's config fragment
#   build/$BASE/linux     the tree: pristine source + the series as commits
#   build/$BASE/obj-*     kernels of each flavour
#   build/$BASE/mm-selftests  the tree's mm selftests, against its headers
# User space (libbpf, bpftool, policies, loader, our selftests) is built once,
# from USER_BASE's tools/, UAPI headers and BTF, and runs on both bases.
BASE=${BASE:-7.3}
USER_BASE=${USER_BASE:-7.3}
case $BASE in
6.12) TARBALL=${MTHP_TARBALL_6_12:-/usr/src/linux-source-6.12.tar.xz} ;;
7.3) TARBALL=${MTHP_TARBALL_7_3:-$TOP/build/src/linux-source-7.3.tar.xz} ;;
*)
	echo "error: unknown kernel base '$BASE' (7.3 or 6.12)" >&2
	exit 2
	;;
esac
case $USER_BASE in
6.12 | 7.3) ;;
*)
	echo "error: unknown user-space base '$USER_BASE' (7.3 or 6.12)" >&2
	exit 2
	;;
esac
KDIR=$TOP/kernel/$BASE
KBUILD=$TOP/build/$BASE
TREE=$KBUILD/linux
USER_TREE=$TOP/build/$USER_BASE/linux
USER_OBJ=$TOP/build/$USER_BASE/obj-normal
