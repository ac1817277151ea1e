// SPDX-License-Identifier: GPL-2.0
/*
 * threshold: a chunk collapses when at least pct[order] percent of its
 * PTEs map a page.
 *
 * Use it to trade memory for folio size per size: for example 100% for
 * 2M and 50% for 64K.  Set pct[] with `mthp-policy set threshold
 * pct<order>=N`.  An order left at 0 takes its threshold from
 * max_ptes_none, scaled to the order (the first RFC of the mTHP collapse
 * series did this; the kernel default no longer does, because values in
 * between 0 and nr_ptes - 1 make memory creep up one size per scan).
 */
#include "mthp_policy.bpf.h"

char _license[] SEC("license") = "GPL";

/* Percent per order, index = order; 0: scaled from max_ptes_none. */
MTHP_PARAM(pct, MAX_ORDERS);

SEC("struct_ops/plan")
int BPF_PROG(threshold_plan, struct mthp_collapse_ctx *range)
{
	struct fill fill = { .rule = FILL_PERCENT };
	u32 scaled = 100 - range->max_ptes_none * 100 / range->nr_ptes;
	u32 o;

	/*
	 * Every order a context can have, not just up to pmd_order: a loop
	 * that ends at a run-time bound leaves it at each order, and the
	 * verifier walks the planner once for each such exit.
	 */
	for (o = MIN_ORDER; o < MAX_ORDERS; o++) {
		u32 key = o, *v = bpf_map_lookup_elem(&pct, &key);

		fill.pct[o] = v && *v ? (*v > 100 ? 100 : *v) : scaled;
	}
	return plan_range(range, range->orders, &fill);
}

SEC(".struct_ops.link")
struct mthp_collapse_ops threshold = {
	.plan = (void *)threshold_plan,
	.name = "threshold",
};
