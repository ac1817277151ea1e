// SPDX-License-Identifier: GPL-2.0
/*
 * slow: spends loops[0] iterations of one bpf_for() loop on chunk lookups,
 * then asks for the default plan.  The longest a single verified loop can
 * run is 2^23 iterations; the tests use it to measure that worst case and
 * to check that the kernel stops asking a policy that is too slow.
 */
#include "../mthp_policy.bpf.h"

char _license[] SEC("license") = "GPL";

MTHP_PARAM(loops, 1);

SEC("struct_ops/plan")
int BPF_PROG(slow_plan, struct mthp_collapse_ctx *range)
{
	struct mthp_chunk_info ci;
	u32 key = 0, *n = bpf_map_lookup_elem(&loops, &key);
	u32 sum = 0;
	int i;

	if (!n)
		return MTHP_PLAN_DEFAULT;
	bpf_for(i, 0, *n)
		if (!bpf_mthp_chunk_info(range, (i & 127) << 2, 2, &ci))
			sum += ci.present;
	/* Never true: keeps the loop's work from being optimised away. */
	return sum == 0xdeadbeef ? MTHP_PLAN_CUSTOM : MTHP_PLAN_DEFAULT;
}

SEC(".struct_ops.link")
struct mthp_collapse_ops slow = {
	.plan = (void *)slow_plan,
	.name = "slow",
};
