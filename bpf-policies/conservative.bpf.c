// SPDX-License-Identifier: GPL-2.0
/*
 * conservative: collapse fully occupied chunks only, at every size.
 *
 * Use it where memory must not grow: no collapse ever fills an empty PTE,
 * whatever max_ptes_none says (the kernel default lets the PMD size fill
 * up to max_ptes_none of them).  Larger folios still form where the
 * workload touched every page of a chunk.
 */
#include "mthp_policy.bpf.h"

char _license[] SEC("license") = "GPL";

SEC("struct_ops/plan")
int BPF_PROG(conservative_plan, struct mthp_collapse_ctx *range)
{
	const struct fill fill = { .rule = FILL_FULL };

	return plan_range(range, range->orders, &fill);
}

SEC(".struct_ops.link")
struct mthp_collapse_ops conservative = {
	.plan = (void *)conservative_plan,
	.name = "conservative",
};
