// SPDX-License-Identifier: GPL-2.0
/*
 * default: the kernel's own order selection, in BPF.
 *
 * Use it as the starting point for a policy of your own, or to check that
 * a BPF policy costs about what the kernel's planner costs.  It makes the
 * same plan as the kernel does for every range (tests compare the two on
 * many thousands of ranges with BPF_PROG_TEST_RUN).
 */
#include "mthp_policy.bpf.h"

char _license[] SEC("license") = "GPL";

SEC("struct_ops/plan")
int BPF_PROG(default_plan, struct mthp_collapse_ctx *range)
{
	const struct fill fill = { .rule = FILL_DEFAULT };

	return plan_range(range, range->orders, &fill);
}

SEC(".struct_ops.link")
struct mthp_collapse_ops default_policy = {
	.plan = (void *)default_plan,
	.name = "default",
};
