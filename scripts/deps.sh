#!/bin/bash
# Install what mthp-bpf needs from Debian 12's archive.  Idempotent: packages
# already installed are skipped, and nothing runs apt-get when all are present.
set -euo pipefail

PKGS=(
	# kernel tree and its build
	linux-source-6.12 build-essential bc bison flex cpio kmod xz-utils rsync
	libelf-dev libssl-dev zlib1g-dev dwarves python3
	# BPF compiler and libbpf/bpftool from the tree
	clang-19 llvm-19 libcap-dev pkg-config
	# VM and guest user space
	qemu-system-x86 busybox-static
	# the tree's mm selftests and tools/mm/thpmaps
	libnuma-dev python3-numpy
	# the tree's BPF selftests: test_progs's signing key
	openssl
	# repository tooling (python3-ply, python3-git: checkpatch's SPDX check)
	git python3-ply python3-git
	# make eval's programs (eval/): Debian's sqlite3 CLI
	sqlite3
)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[ "${st:0:2}" = ii ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	exit 0
fi

echo "deps: installing: ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "deps: error: need root to install packages: ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -q >/tmp/mthp-apt-update.log 2>&1; then
	echo "deps: error: apt-get update failed (no network to the package archive?):" >&2
	tail -5 /tmp/mthp-apt-update.log >&2
	exit 1
fi

# Name the package that cannot be had before trying the whole set, so the
# message says what is missing rather than an apt transaction error.
for p in "${missing[@]}"; do
	if ! apt-cache show "$p" >/dev/null 2>&1; then
		echo "deps: error: package '$p' is not available from the configured archives" >&2
		exit 1
	fi
done

if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/mthp-apt-install.log 2>&1; then
	echo "deps: error: apt-get install failed for: ${missing[*]}" >&2
	tail -15 /tmp/mthp-apt-install.log >&2
	exit 1
fi
echo "deps: done"
