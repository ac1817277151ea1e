// SPDX-License-Identifier: GPL-2.0
/*
 * denylist: the default plan, but nothing collapses in a process whose
 * tgid is in deny_tgid with a non-zero value, nor above order max_order[0]
 * when that is set.  A user's object as a new user writes one: the tests
 * attach it by path to check that its maps are parameters as a shipped
 * policy's are (an array and a hash, u32 to u32), and that a map of
 * another shape (hits, 64-bit values) is not.
 */
#include "../mthp_policy.bpf.h"

char _license[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u32);
} deny_tgid SEC(".maps");

MTHP_PARAM(max_order, 1);

/* Ranges planned: not a parameter (64-bit values), so neither pinned nor listed. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} hits SEC(".maps");

SEC("struct_ops/plan")
int BPF_PROG(denylist_plan, struct mthp_collapse_ctx *range)
{
	const struct fill fill = { .rule = FILL_DEFAULT };
	u32 key = 0, tgid = range->tgid, *deny, *max;
	u32 orders = range->orders;
	u64 *n = bpf_map_lookup_elem(&hits, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
	deny = bpf_map_lookup_elem(&deny_tgid, &tgid);
	if (deny && *deny)
		return MTHP_PLAN_CUSTOM;	/* no chunk: nothing collapses */
	max = bpf_map_lookup_elem(&max_order, &key);
	if (max && *max && *max < 31)
		orders &= (2u << *max) - 1;
	return plan_range(range, orders, &fill);
}

SEC(".struct_ops.link")
struct mthp_collapse_ops denylist = {
	.plan = (void *)denylist_plan,
	.name = "denylist",
};
