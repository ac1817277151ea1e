// SPDX-License-Identifier: GPL-2.0
/*
 * broken: a policy that returns invalid plans, for the tests.  What it
 * gets wrong is chosen through the `mode` map (enum mthp_reject values);
 * the kernel must reject every such plan and use its default instead.
 */
#include "../mthp_policy.bpf.h"

char _license[] SEC("license") = "GPL";

MTHP_PARAM(mode, 1);

SEC("struct_ops/plan")
int BPF_PROG(broken_plan, struct mthp_collapse_ctx *range)
{
	u32 key = 0, *m = bpf_map_lookup_elem(&mode, &key);
	u32 units = range->nr_ptes / 4, n = range->nr_ptes;
	int i;

	switch (m ? *m : 0) {
	case 0:		/* MTHP_REJECT_RETVAL */
		return 42;
	case 1:		/* MTHP_REJECT_TOO_MANY */
		bpf_for(i, 0, units + 1)
			bpf_mthp_plan_add(range, (i % units) * 4, 2);
		break;
	case 2:		/* MTHP_REJECT_RANGE: aligned, but past the end */
		bpf_mthp_plan_add(range, n, 2);
		break;
	case 3:		/* MTHP_REJECT_MISALIGNED */
		bpf_mthp_plan_add(range, 2, 2);
		break;
	case 4:		/* MTHP_REJECT_ORDER: order 3 is never enabled by the tests */
		bpf_mthp_plan_add(range, 0, 3);
		break;
	case 5:		/* MTHP_REJECT_OVERLAP */
		bpf_mthp_plan_add(range, 0, 4);
		bpf_mthp_plan_add(range, 8, 2);
		break;
	case 6:		/* MTHP_REJECT_EMPTY: the tests leave the last 16 PTEs empty */
		bpf_mthp_plan_add(range, n - 16, 4);
		break;
	default:	/* every 16-PTE chunk, whatever it holds (swap, shared) */
		bpf_for(i, 0, n / 16)
			bpf_mthp_plan_add(range, i * 16, 4);
		break;
	}
	return MTHP_PLAN_CUSTOM;
}

SEC(".struct_ops.link")
struct mthp_collapse_ops broken = {
	.plan = (void *)broken_plan,
	.name = "broken",
};
