#!/bin/bash
# Configure and build the test kernel of one base (BASE, see base.sh) and
# flavour into build/$BASE/obj-<flavour>.
#   normal: tinyconfig + kernel/config/common.config + kernel/$BASE/config
#   debug:  the same + kernel/config/debug.config (KASAN, lockdep, DEBUG_VM)
# Every option the fragments set is checked against the final .config, so a
# dependency Kconfig silently dropped fails here, not in a test.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/scripts/base.sh"
FLAVOUR=${1:-normal}
OBJ=$KBUILD/obj-$FLAVOUR
CFG=$TOP/kernel/config
JOBS=${JOBS:-$(($(nproc) + 1))}

case $FLAVOUR in
normal) FRAGS=("$CFG/common.config" "$KDIR/config") ;;
debug) FRAGS=("$CFG/common.config" "$KDIR/config" "$CFG/debug.config") ;;
*) echo "build-kernel: error: unknown flavour '$FLAVOUR' (normal|debug)" >&2; exit 2 ;;
esac

[ -f "$TREE/Makefile" ] || { echo "build-kernel: error: no $BASE tree; run make tree BASE=$BASE" >&2; exit 1; }
mkdir -p "$OBJ"

# Regenerate .config when a fragment or the tree's Kconfig changed.
cfgsum=$(cat "${FRAGS[@]}" | sha1sum | cut -d' ' -f1)-$(git -C "$TREE" rev-parse HEAD)
if [ ! -f "$OBJ/.config" ] || [ "$(cat "$OBJ/.config.mthp" 2>/dev/null)" != "$cfgsum" ]; then
	make -s -C "$TREE" O="$OBJ" tinyconfig >/dev/null
	"$TREE/scripts/kconfig/merge_config.sh" -m -O "$OBJ" "$OBJ/.config" "${FRAGS[@]}" >/dev/null
	make -s -C "$TREE" O="$OBJ" olddefconfig >/dev/null
	bad=0
	# What the fragments ask for: a later fragment overrides an earlier one.
	declare -A want=()
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Z0-9_]+)=(.*)$ ]]; then
			want[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
		elif [[ $line =~ ^#\ (CONFIG_[A-Z0-9_]+)\ is\ not\ set ]]; then
			want[${BASH_REMATCH[1]}]=
		fi
	done < <(cat "${FRAGS[@]}")
	for opt in "${!want[@]}"; do
		got=$(sed -n "s/^$opt=//p" "$OBJ/.config")
		if [ -z "${want[$opt]}" ] && [ -n "$got" ]; then
			echo "build-kernel: error: $opt off requested but Kconfig selected it" >&2
			bad=1
		elif [ "$got" != "${want[$opt]}" ]; then
			echo "build-kernel: error: $opt=${want[$opt]} requested but .config has '${got:-not set}'" >&2
			bad=1
		fi
	done
	[ $bad = 0 ] || exit 1
	echo "$cfgsum" > "$OBJ/.config.mthp"
fi

start=$(date +%s)
if ! make -C "$TREE" O="$OBJ" -j"$JOBS" bzImage > "$OBJ/build.log" 2>&1; then
	grep -E 'error|Error' "$OBJ/build.log" | head -30 >&2
	tail -20 "$OBJ/build.log" >&2
	echo "build-kernel: error: $BASE $FLAVOUR kernel build failed; full log: $OBJ/build.log" >&2
	exit 1
fi
# Headers for the selftests (KHDR_INCLUDES); cheap when unchanged.
make -s -C "$TREE" O="$OBJ" headers >/dev/null 2>&1
echo "build-kernel: $BASE $FLAVOUR kernel $(make -s -C "$TREE" O="$OBJ" kernelrelease) built in $(($(date +%s) - start)) s (-j$JOBS)"
