// SPDX-License-Identifier: GPL-2.0
/*
 * aggressive: every occupied chunk goes to the largest enabled size.
 *
 * Use it for workloads that want the largest folios and can afford the
 * memory: one page in a range is enough to collapse the range, whatever
 * max_ptes_none says.  The kernel's safety rules still hold: a chunk with
 * swap entries or shared pages below the PMD size is split further.
 */
#include "mthp_policy.bpf.h"

char _license[] SEC("license") = "GPL";

SEC("struct_ops/plan")
int BPF_PROG(aggressive_plan, struct mthp_collapse_ctx *range)
{
	const struct fill fill = { .rule = FILL_ANY };

	return plan_range(range, range->orders, &fill);
}

SEC(".struct_ops.link")
struct mthp_collapse_ops aggressive = {
	.plan = (void *)aggressive_plan,
	.name = "aggressive",
};
