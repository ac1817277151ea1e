#!/bin/bash
# Manage the kernel build tree of one base (BASE=7.3 or 6.12, see base.sh):
# build/$BASE/linux, a git repository whose first commit (tag mthp-base) is
# the pristine linux-source-$BASE tree and whose following commits are
# kernel/$BASE/series applied with `git am -3`.
#
#   tree.sh ensure   create the tree, or re-apply the series if it changed
#   tree.sh reset    throw away the tree's commits and re-apply the series
#   tree.sh export   write the tree's commits to kernel/$BASE/ + series
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/scripts/base.sh"
PATCHES=$KDIR
SERIES=$PATCHES/series
# Not a commit of the tree: kept across exports, never applied.
COVER=0000-cover-letter.patch
STATE=$KBUILD/linux.state
REL=${TREE#"$TOP"/}

die() { echo "tree: error: $*" >&2; exit 1; }
g() { git -C "$TREE" -c user.name=mthp-bpf -c user.email=mthp-bpf@localhost "$@"; }

series_list() {
	[ -f "$SERIES" ] || return 0
	grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$SERIES" || true
}

# Identity of what the tree should contain: the base tarball and the series.
wanted_state() {
	local f
	stat -c 'base %n %s %Y' "$TARBALL"
	series_list | while read -r f; do
		[ -f "$PATCHES/$f" ] || die "series lists $f but kernel/$BASE/$f does not exist"
		echo "patch $f $(sha1sum < "$PATCHES/$f" | cut -d' ' -f1)"
	done
}

base_version() {
	make -s -C "$TREE" kernelversion 2>/dev/null
}

apply_series() {
	local f n=0
	g reset -q --hard mthp-base
	while read -r f; do
		n=$((n + 1))
		if ! g am -q -3 "$PATCHES/$f" >/dev/null 2>"$KBUILD/am.log"; then
			cat "$KBUILD/am.log" >&2
			g am --abort >/dev/null 2>&1 || true
			die "patch $f does not apply to linux $(base_version) (see above)"
		fi
	done < <(series_list)
	echo "tree: applied $n patch(es) on linux $(base_version)"
	{ wanted_state; echo "head $(g rev-parse HEAD)"; } > "$STATE"
}

create() {
	[ -f "$TARBALL" ] || die "$TARBALL not found (run make tree BASE=$BASE: it fetches the source)"
	rm -rf "$TREE" "$TREE.tmp"
	mkdir -p "$TREE.tmp"
	echo "tree: extracting $TARBALL"
	tar -xJf "$TARBALL" -C "$TREE.tmp" --strip-components=1
	git -C "$TREE.tmp" init -q
	g() { git -C "$TREE.tmp" -c user.name=mthp-bpf -c user.email=mthp-bpf@localhost "$@"; }
	# Debian's top-level .gitignore ignores everything ("/*"): force-add.
	g add -A -f
	g commit -q -m "linux-source-$BASE $(make -s -C "$TREE.tmp" kernelversion) (pristine, from $(basename "$TARBALL"))"
	g tag mthp-base
	mv "$TREE.tmp" "$TREE"
	g() { git -C "$TREE" -c user.name=mthp-bpf -c user.email=mthp-bpf@localhost "$@"; }
	echo "tree: base is linux $(base_version)"
	apply_series
}

# True when the tree holds exactly what the series last put there: nothing
# committed or edited by hand that an automatic re-apply would destroy.
tree_untouched() {
	[ -f "$STATE" ] || return 1
	[ "$(g rev-parse HEAD)" = "$(sed -n 's/^head //p' "$STATE")" ] || return 1
	[ -z "$(g status --porcelain --untracked-files=no)" ]
}

ensure() {
	if [ ! -d "$TREE/.git" ]; then
		create
		return
	fi
	if [ "$(grep -v '^head ' "$STATE" 2>/dev/null)" = "$(wanted_state)" ]; then
		echo "tree: up to date (linux $(base_version), $(series_list | wc -l) patch(es))"
		return
	fi
	tree_untouched || die "$REL has commits or edits that are not in kernel/$BASE/, and the series changed.
  Keep them:    make export-patches BASE=$BASE   (then commit kernel/$BASE/)
  Drop them:    make reset-tree BASE=$BASE"
	if ! grep -qxF "$(stat -c 'base %n %s %Y' "$TARBALL")" "$STATE"; then
		echo "tree: $TARBALL changed; re-extracting"
		create
		return
	fi
	echo "tree: kernel/$BASE/ changed; re-applying the series"
	apply_series
}

export_patches() {
	[ -d "$TREE/.git" ] || die "no build tree; run make tree first"
	[ -z "$(g status --porcelain --untracked-files=no)" ] ||
		die "$REL has uncommitted edits; commit them in the tree first"
	local new
	# (the mm selftests' build writes local_config.* into the tree)
	new=$(g ls-files --others --ignored --exclude-standard |
		grep -v '^tools/testing/selftests/mm/local_config\.' | head -20 || true)
	[ -z "$new" ] || printf 'tree: warning: files in %s not committed (Debian'"'"'s .gitignore hides new files; git add -f them):\n%s\n' "$REL" "$new" >&2
	mkdir -p "$PATCHES"
	local tmp
	tmp=$(mktemp -d)
	g format-patch -q --zero-commit --no-signature -o "$tmp" mthp-base..HEAD
	find "$PATCHES" -maxdepth 1 -name '*.patch' ! -name "$COVER" -delete
	{
		echo "# kernel patch series, applied in order with git am -3 on linux-source-$BASE"
		(cd "$tmp" && ls -1 -- *.patch 2>/dev/null) || true
	} > "$SERIES"
	mv "$tmp"/*.patch "$PATCHES"/ 2>/dev/null || true
	rmdir "$tmp"
	{ wanted_state; echo "head $(g rev-parse HEAD)"; } > "$STATE"
	echo "tree: exported $(series_list | wc -l) patch(es) to kernel/$BASE/"
}

case ${1:-} in
ensure) ensure ;;
reset)
	if [ -d "$TREE/.git" ] && grep -qxF "$(stat -c 'base %n %s %Y' "$TARBALL")" "$STATE" 2>/dev/null; then
		apply_series
	else
		create
	fi
	;;
export) export_patches ;;
*) echo "usage: $0 ensure|reset|export" >&2; exit 2 ;;
esac
