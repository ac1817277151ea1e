# shellcheck shell=bash
# Sourced by shell tests: khugepaged's policy counters, a directory per
# attached policy (global, global-shadow, cg<id>, cg<id>-shadow) and one for
# the kernel's arm (kernel), one value per file.
POL=/sys/kernel/mm/transparent_hugepage/khugepaged/policies

# pdir NAME MODE: the directory of policy NAME in MODE (active, shadow, kernel).
pdir() {
	local d
	for d in "$POL"/*/; do
		[ "$(cat "$d/name" 2>/dev/null)" = "$1" ] &&
			[ "$(cat "$d/mode" 2>/dev/null)" = "$2" ] &&
			{ echo "${d%/}"; return 0; }
	done
	return 1
}

# pcol NAME MODE FILE: one of its counters (FILE: calls, hugepages-64kB/collapsed).
pcol() {
	local d
	d=$(pdir "$1" "$2") && cat "$d/$3"
}

# pnames: the names of the attached policies, the kernel's arm left out.
pnames() {
	local d
	for d in "$POL"/*/; do
		[ "${d%/}" = "$POL/kernel" ] || cat "$d/name" 2>/dev/null
	done
}
