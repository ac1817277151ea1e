#!/bin/bash
# The kernel source tarball of a base (BASE, see base.sh).
#   6.12: Debian 12's linux-source-6.12, installed by deps.sh.
#   7.3:  linux-source-7.3 from Debian's trixie-backports, fetched into
#         build/src/ with a private apt state directory (build/src/apt): the
#         machine's own sources, pins and packages stay as they are.  Any
#         7.3.y the archive has will do; the one fetched is kept, and
#         fetched again only when the tarball is gone.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/scripts/base.sh"

die() { echo "source: error: $*" >&2; exit 1; }

if [ "$BASE" = 6.12 ]; then
	[ -f "$TARBALL" ] || die "$TARBALL not found (run scripts/deps.sh: it installs linux-source-6.12)"
	echo "source: $BASE from $(dpkg-query -W -f='${Package} ${Version}' linux-source-6.12 2>/dev/null || echo "$TARBALL")"
	exit 0
fi

SRC=$TOP/build/src
VERSION_FILE=$SRC/linux-source-$BASE.version
if [ -f "$TARBALL" ] && [ -f "$VERSION_FILE" ]; then
	echo "source: $BASE from linux-source-$BASE $(cat "$VERSION_FILE") (already fetched)"
	exit 0
fi

APT=$SRC/apt
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
LIST=$APT/sources.list
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
	"http://deb.debian.org/debian trixie-backports main" > "$LIST"
opts=(-o "Dir::Etc::SourceList=$LIST" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache"
	-o APT::Sandbox::User=root)
log=$APT/apt.log
if ! apt-get -q "${opts[@]}" update > "$log" 2>&1; then
	tail -5 "$log" >&2
	die "cannot read trixie-backports' package list (no network to deb.debian.org?)"
fi
version=$(apt-cache "${opts[@]}" show linux-source-$BASE 2>/dev/null |
	sed -n 's/^Version: //p' | sort -V | tail -1)
[ -n "$version" ] || die "trixie-backports has no linux-source-$BASE"
rm -f "$SRC"/linux-source-"$BASE"_*.deb
if ! (cd "$SRC" && apt-get -q "${opts[@]}" download "linux-source-$BASE=$version") >> "$log" 2>&1; then
	tail -5 "$log" >&2
	die "downloading linux-source-$BASE $version failed"
fi
deb=$(ls "$SRC"/linux-source-"$BASE"_*.deb)
rm -rf "$SRC/deb"
dpkg-deb -x "$deb" "$SRC/deb"
tar=$(ls "$SRC"/deb/usr/src/linux-source-"$BASE".tar.* 2>/dev/null | head -1)
[ -n "$tar" ] || die "$deb holds no usr/src/linux-source-$BASE.tar.*"
mv "$tar" "$TARBALL.tmp"
mv "$TARBALL.tmp" "$TARBALL"
rm -rf "$SRC/deb" "$deb"
echo "$version" > "$VERSION_FILE"
echo "source: $BASE from linux-source-$BASE $version (fetched)"
