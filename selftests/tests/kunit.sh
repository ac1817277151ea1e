#!/bin/bash
# Results of the KUnit suites built into the kernel (they run at boot),
# read back from debugfs and printed as KTAP.  Fails on any "not ok".
D=/sys/kernel/debug/kunit
if [ ! -d $D ] || [ -z "$(ls $D 2>/dev/null)" ]; then
	echo "# no KUnit suites built into this kernel"
	exit 4
fi
fail=0
for s in $D/*/; do
	r=$s/results
	cat "$r"
	grep -q '^not ok' "$r" && fail=1
	grep -qE "^(not )?ok [0-9]+ $(basename "$s")\$" "$r" ||
		{ echo "# $(basename "$s"): no result"; fail=1; }
done
exit $fail
