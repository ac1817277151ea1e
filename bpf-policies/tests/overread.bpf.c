// SPDX-License-Identifier: GPL-2.0
/*
 * overread: reads past the end of the scan record it is given; the
 * verifier must refuse it, and the loader must show the verifier's log.
 */
#include "../mthp_policy.bpf.h"

char _license[] SEC("license") = "GPL";

SEC("struct_ops/plan")
int BPF_PROG(overread_plan, struct mthp_collapse_ctx *range)
{
	/* Far past any struct the kernel has: 1 MiB into the record. */
	const u8 *past = (const u8 *)range->scan + (1 << 20);

	return *past ? MTHP_PLAN_CUSTOM : MTHP_PLAN_DEFAULT;
}

SEC(".struct_ops.link")
struct mthp_collapse_ops overread = {
	.plan = (void *)overread_plan,
	.name = "overread",
};
