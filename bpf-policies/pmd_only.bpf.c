// SPDX-License-Identifier: GPL-2.0
/*
 * pmd_only: khugepaged as it was before mTHP collapse.
 *
 * Use it as the control arm of an A/B test, or to keep the old behaviour
 * on a kernel with the mTHP collapse series: a range collapses into one
 * PMD-sized THP under max_ptes_none, max_ptes_swap and max_ptes_shared,
 * or not at all; smaller sizes are never collapsed into.
 */
#include "mthp_policy.bpf.h"

char _license[] SEC("license") = "GPL";

SEC("struct_ops/plan")
int BPF_PROG(pmd_only_plan, struct mthp_collapse_ctx *range)
{
	const struct fill fill = { .rule = FILL_DEFAULT };

	return plan_range(range, 1U << range->pmd_order, &fill);
}

SEC(".struct_ops.link")
struct mthp_collapse_ops pmd_only = {
	.plan = (void *)pmd_only_plan,
	.name = "pmd_only",
};
