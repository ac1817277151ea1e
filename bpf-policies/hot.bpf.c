// SPDX-License-Identifier: GPL-2.0
/*
 * hot: collapse only ranges the workload is using.
 *
 * Use it when khugepaged's work (and the memory a collapse may add)
 * should go to hot memory: a range is collapsed as the kernel default
 * would only if at least min_young percent of its present pages were
 * accessed recently; colder ranges are left as they are.  Set it with
 * `mthp-policy set hot min_young=N` (default 50).
 */
#include "mthp_policy.bpf.h"

char _license[] SEC("license") = "GPL";

MTHP_PARAM(min_young, 1);

SEC("struct_ops/plan")
int BPF_PROG(hot_plan, struct mthp_collapse_ctx *range)
{
	struct mthp_chunk_info ci;
	u32 key = 0, *v = bpf_map_lookup_elem(&min_young, &key);
	u32 pct = v && *v ? *v : 50;

	if (bpf_mthp_chunk_info(range, 0, range->pmd_order, &ci) || !ci.present)
		return MTHP_PLAN_DEFAULT;
	if (ci.young * 100 >= pct * ci.present)
		return MTHP_PLAN_DEFAULT;
	return MTHP_PLAN_CUSTOM;	/* an empty plan: leave the range alone */
}

SEC(".struct_ops.link")
struct mthp_collapse_ops hot = {
	.plan = (void *)hot_plan,
	.name = "hot",
};
