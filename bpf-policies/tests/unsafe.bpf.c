// SPDX-License-Identifier: GPL-2.0
/*
 * unsafe: writes to the context it is given, which is read-only; the
 * verifier must refuse it, and the loader must show the verifier's log.
 */
#include "../mthp_policy.bpf.h"

char _license[] SEC("license") = "GPL";

SEC("struct_ops/plan")
int BPF_PROG(unsafe_plan, struct mthp_collapse_ctx *range)
{
	range->max_ptes_none = range->nr_ptes - 1;
	return MTHP_PLAN_DEFAULT;
}

SEC(".struct_ops.link")
struct mthp_collapse_ops unsafe = {
	.plan = (void *)unsafe_plan,
	.name = "unsafe",
};
