/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the mthp-bpf collapse policies: the kernel's types (vmlinux.h),
 * the kfuncs a policy calls, and a planner that walks a PMD range the way
 * the kernel's default does, with the fullness rule as a parameter.
 */
#ifndef MTHP_POLICY_BPF_H
#define MTHP_POLICY_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* Debian 12's pahole puts no kfunc prototypes in vmlinux.h. */
extern int bpf_mthp_chunk_info(const struct mthp_collapse_ctx *ctx, u32 offset,
			       u32 order, struct mthp_chunk_info *info) __ksym;
extern int bpf_mthp_plan_add(struct mthp_collapse_ctx *ctx, u32 offset, u32 order) __ksym;
extern int bpf_mthp_plan_default(struct mthp_collapse_ctx *ctx) __ksym;

/* enum mthp_plan_verdict, which BTF may not carry. */
#define PLAN_CUSTOM	0
#define PLAN_DEFAULT	1

#define PMD_ORDER	9
#define MIN_ORDER	2
#define NR_UNITS	(512 >> MIN_ORDER)	/* smallest chunks in a range */

/* How full a chunk must be, besides the kernel's safety rules. */
enum fill_rule {
	FILL_DEFAULT,	/* max_ptes_none as the kernel default applies it */
	FILL_FULL,	/* no empty PTE, at any order */
	FILL_ANY,	/* one page is enough, at any order */
	FILL_PERCENT,	/* at least pct[order] percent of the PTEs present */
};

struct fill {
	enum fill_rule rule;
	u32 pct[PMD_ORDER + 1];
};

/* Would the kernel accept this chunk (enum mthp_reject's rules)? */
static __always_inline bool chunk_safe(const struct mthp_collapse_ctx *ctx, u32 order,
				       const struct mthp_chunk_info *ci)
{
	if (order == PMD_ORDER) {
		if (ci->swap > ctx->max_ptes_swap || ci->shared > ctx->max_ptes_shared)
			return false;
	} else if (ci->swap || ci->shared) {
		return false;
	}
	return !(ctx->uffd_armed && ci->none);
}

static __always_inline bool chunk_full_enough(const struct mthp_collapse_ctx *ctx, u32 order,
					      const struct mthp_chunk_info *ci,
					      const struct fill *fill)
{
	u32 nr = 1U << order;

	switch (fill->rule) {
	case FILL_FULL:
		return ci->none == 0;
	case FILL_ANY:
		return true;
	case FILL_PERCENT:
		return ci->present * 100 >= fill->pct[order] * nr;
	default:
		if (order == PMD_ORDER)
			return ci->none <= ctx->max_ptes_none;
		if (ctx->max_ptes_none == ctx->nr_ptes - 1)
			return true;
		return ci->none == 0;
	}
}

/*
 * Plan the range as the kernel's default walks it: top-down, a chunk of an
 * enabled order that qualifies is taken whole, otherwise its halves are
 * tried; empty chunks are skipped.  Written level by level rather than as a
 * recursion, which the verifier follows far more cheaply: a chunk is looked
 * at unless an ancestor was taken or empty, exactly as in the recursion.
 * Chunks are added in address order, as the recursion finds them.
 * Returns PLAN_CUSTOM.
 */
static __always_inline int plan_range(struct mthp_collapse_ctx *ctx, u32 orders,
				      const struct fill *fill)
{
	/* Per 16K unit: decided (inside a taken or empty chunk); order taken there. */
	u8 done[NR_UNITS], taken[NR_UNITS];
	struct mthp_chunk_info ci;
	int o, c, u, min_order;

	orders &= ctx->orders & 0x3fc;
	if (!orders)
		return PLAN_CUSTOM;
	min_order = __builtin_ctz(orders);
	__builtin_memset(done, 0, sizeof(done));
	__builtin_memset(taken, 0, sizeof(taken));
	bpf_for(o, 0, PMD_ORDER - MIN_ORDER + 1) {
		u32 order = PMD_ORDER - o, units = 1U << (order - MIN_ORDER);

		if ((int)order < min_order)
			break;
		bpf_for(c, 0, NR_UNITS) {
			u32 first = c * units;
			bool take;

			if (first >= NR_UNITS)
				break;
			if (done[first])
				continue;
			if (bpf_mthp_chunk_info(ctx, first << MIN_ORDER, order, &ci))
				break;
			take = ci.present && (orders & (1U << order)) &&
			       chunk_safe(ctx, order, &ci) &&
			       (order == PMD_ORDER || ci.max_folio_order < order) &&
			       chunk_full_enough(ctx, order, &ci, fill);
			if (ci.present && !take)
				continue;	/* its halves, one level down */
			if (take)
				taken[first] = order;
			bpf_for(u, 0, NR_UNITS) {
				if (u >= units || first + u >= NR_UNITS)
					break;
				done[first + u] = 1;
			}
		}
	}
	bpf_for(u, 0, NR_UNITS)
		if (taken[u])
			bpf_mthp_plan_add(ctx, u << MIN_ORDER, taken[u]);
	return PLAN_CUSTOM;
}

char _license[] SEC("license") = "GPL";

#endif
