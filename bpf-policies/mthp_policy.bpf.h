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

/*
 * A plan's verdict, MTHP_PLAN_CUSTOM or MTHP_PLAN_DEFAULT, is enum
 * mthp_plan_verdict of the kernel's BTF (vmlinux.h), as are the rejection
 * reasons (enum mthp_reject): a policy does not restate them.
 */

/*
 * A parameter: @n u32 values by u32 index, which the loader pins beside
 * the policy and sets by name (policy-api.md, "Parameters").  A hash of
 * u32 to u32 is one too; declare it in full.
 */
#define MTHP_PARAM(_name, _n)					\
	struct {						\
		__uint(type, BPF_MAP_TYPE_ARRAY);		\
		__uint(max_entries, _n);			\
		__type(key, u32);				\
		__type(value, u32);				\
	} _name SEC(".maps")

/*
 * The smallest collapse size is 4 PTEs on every page size.  The range's
 * size and the PMD order come from the context (nr_ptes, pmd_order): on
 * 16K and 64K base pages a range has 2048 and 8192 PTEs.
 */
#define MIN_ORDER	2
#define MAX_ORDERS	32	/* the bits of ctx->orders */

/* Every order a range can collapse into: MIN_ORDER to the PMD order. */
static __always_inline u32 range_orders(const struct mthp_collapse_ctx *ctx)
{
	u32 pmd_order = ctx->pmd_order;
	u32 upto = pmd_order >= MAX_ORDERS - 1 ? ~0U : (2U << pmd_order) - 1;

	return upto & ~((1U << MIN_ORDER) - 1);
}

/* How full a chunk must be, besides the kernel's safety rules. */
enum fill_rule {
	FILL_DEFAULT,	/* max_ptes_none as the kernel default applies it */
	FILL_FULL,	/* no empty PTE, at any order */
	FILL_ANY,	/* one page is enough, at any order */
	FILL_PERCENT,	/* at least pct[order] percent of the PTEs present */
};

struct fill {
	enum fill_rule rule;
	u32 pct[MAX_ORDERS];	/* index: order */
};

/* Would the kernel accept this chunk (enum mthp_reject's rules)? */
static __always_inline bool chunk_safe(const struct mthp_collapse_ctx *ctx, u32 order,
				       const struct mthp_chunk_info *ci)
{
	if (order == ctx->pmd_order) {
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
		return ci->present * 100 >= fill->pct[order % MAX_ORDERS] * nr;
	default:
		if (order == ctx->pmd_order)
			return ci->none <= ctx->max_ptes_none;
		if (ctx->max_ptes_none == ctx->nr_ptes - 1)
			return true;
		return ci->none == 0;
	}
}

/*
 * Must every chunk below the PMD order be fully occupied to qualify?  Then
 * a chunk with no fully occupied 4-PTE unit has nothing inside worth a
 * look, and the walk stops there: on a sparse range, after one lookup.
 * (Under userfaultfd the kernel sets max_ptes_none to 0.)
 */
static __always_inline bool needs_full_below(const struct mthp_collapse_ctx *ctx,
					     const struct fill *fill)
{
	if (fill->rule == FILL_FULL)
		return true;
	return fill->rule == FILL_DEFAULT && ctx->max_ptes_none != ctx->nr_ptes - 1;
}

/* The largest chunk that can start at 4-PTE unit @unit: its alignment's. */
static __always_inline u32 aligned_order(u32 unit, u32 pmd_order)
{
	u32 order = unit ? MIN_ORDER + __builtin_ctz(unit) : pmd_order;

	return order < pmd_order ? order : pmd_order;
}

/* Is the chunk collapsed whole: an enabled order, safe and full enough? */
static __always_inline bool chunk_qualifies(const struct mthp_collapse_ctx *ctx, u32 orders,
					    u32 order, const struct mthp_chunk_info *ci,
					    const struct fill *fill)
{
	return ci->present && (orders & (1U << order)) && chunk_safe(ctx, order, ci) &&
	       chunk_full_enough(ctx, order, ci, fill);
}

/*
 * Can a part of a chunk that does not qualify?  Not if it is empty, or
 * with @full_below holds no full unit (an empty one holds none), or is of
 * the smallest order the walk may take.
 */
static __always_inline bool chunk_may_split(const struct mthp_chunk_info *ci, u32 order,
					    int min_order, const bool full_below)
{
	return (full_below ? ci->full_units : ci->present) && (int)order > min_order;
}

/*
 * A chunk that qualifies is taken, unless a folio of its order or larger
 * maps part of it already: then it is skipped whole, as the kernel skips
 * it.
 */
static __always_inline bool chunk_needs_collapse(const struct mthp_chunk_info *ci, u32 order,
						 u32 pmd_order)
{
	return order == pmd_order || ci->max_folio_order < order;
}

/*
 * Plan the range as the kernel's default walks it: top-down, a chunk of an
 * enabled order that qualifies is taken whole, otherwise its halves are
 * tried; empty chunks are skipped, and with @full_below so are chunks
 * with no full 4-PTE unit, and a chunk that qualifies but is mapped by a
 * folio of its order or larger already is skipped whole.  Written as a
 * loop rather than a recursion, which the verifier follows far more
 * cheaply: a chunk is looked at unless an ancestor was decided or empty,
 * exactly as in the recursion.
 * Chunks are decided in address order, so the 4-PTE units decided so far
 * are always those before @next: each iteration looks at the chunk that
 * starts there, either the left half of the chunk just split or the
 * largest chunk its alignment allows.
 * Returns MTHP_PLAN_CUSTOM.
 */
static __always_inline int walk_range(struct mthp_collapse_ctx *ctx, u32 orders,
				      const struct fill *fill, const bool full_below)
{
	u32 pmd_order = ctx->pmd_order, nr_units = ctx->nr_ptes >> MIN_ORDER;
	u32 order = pmd_order, next = 0;
	struct mthp_chunk_info ci;
	bool descend = false;
	int i, min_order;

	orders &= ctx->orders & range_orders(ctx);
	if (!orders)
		return MTHP_PLAN_CUSTOM;
	min_order = __builtin_ctz(orders);
	/*
	 * A look at the whole range before the loop, whose iterator costs as
	 * much as a lookup: an empty range, or one with no full unit where
	 * only full chunks below the PMD order qualify and the PMD order is
	 * off, has nothing to collapse (the common sparse range).
	 */
	if (bpf_mthp_chunk_info(ctx, 0, pmd_order, &ci) || !ci.present ||
	    (full_below && !ci.full_units && !(orders & (1U << pmd_order))))
		return MTHP_PLAN_CUSTOM;
	/* Fewer than 2 * nr_units chunks, plus a step down per order. */
	bpf_for(i, 0, 2 * nr_units + pmd_order) {
		u32 units, first = next;
		bool decided;

		/* The next open unit: none left, the range is planned. */
		if (first >= nr_units)
			break;
		if (!descend)
			order = aligned_order(first, pmd_order);
		descend = false;
		units = 1U << (order - MIN_ORDER);
		if (first & (units - 1))
			break;
		if (bpf_mthp_chunk_info(ctx, first << MIN_ORDER, order, &ci))
			break;
		decided = chunk_qualifies(ctx, orders, order, &ci, fill);
		/* One test for both keeps the verifier's states few. */
		if (decided || !chunk_may_split(&ci, order, min_order, full_below)) {
			/* Decisions come in address order: add it now. */
			if (decided && chunk_needs_collapse(&ci, order, pmd_order))
				bpf_mthp_plan_add(ctx, first << MIN_ORDER, order);
			/* Mark it decided. */
			next = first + units;
			continue;
		}
		/* Its halves, one order down: the left one next. */
		order--;
		descend = true;
	}
	return MTHP_PLAN_CUSTOM;
}

/*
 * The walk comes in two copies, with and without the stop at chunks that
 * hold no full unit: a flag known only at run time inside the loop would
 * multiply the states the verifier keeps (six times the instructions).
 */
static __always_inline int plan_range(struct mthp_collapse_ctx *ctx, u32 orders,
				      const struct fill *fill)
{
	if (needs_full_below(ctx, fill))
		return walk_range(ctx, orders, fill, true);
	return walk_range(ctx, orders, fill, false);
}

#endif
