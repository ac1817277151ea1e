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

static __always_inline u64 unit_mask(u32 first, u32 units)
{
	u64 bits = units >= 64 ? ~0ULL : (1ULL << units) - 1;

	return bits << (first % 64);
}

/*
 * Plan the range as the kernel's default walks it: top-down, a chunk of an
 * enabled order that qualifies is taken whole, otherwise its halves are
 * tried; empty chunks are skipped, and with @full_below so are chunks
 * with no full 4-PTE unit, and a chunk that qualifies but is mapped by a
 * folio of its order or larger already is skipped whole.  Written level by
 * level rather than as a recursion, which the verifier follows far more
 * cheaply: a chunk is looked at unless an ancestor was decided or empty,
 * exactly as in the recursion.
 * The 16K units already decided are bits of done0/done1; the next chunk to
 * look at starts at the first unit still open, so each iteration visits one
 * chunk, in address order, and chunks are added in the recursion's order.
 * Returns MTHP_PLAN_CUSTOM.
 */
static __always_inline int walk_range(struct mthp_collapse_ctx *ctx, u32 orders,
				      const struct fill *fill, const bool full_below)
{
	u64 done0 = 0, done1 = 0;
	struct mthp_chunk_info ci;
	u32 order = PMD_ORDER;
	bool descend = false;
	int i, min_order;

	orders &= ctx->orders & 0x3fc;
	if (!orders)
		return MTHP_PLAN_CUSTOM;
	min_order = __builtin_ctz(orders);
	/*
	 * A look at the whole range before the loop, whose iterator costs as
	 * much as a lookup: an empty range, or one with no full unit where
	 * only full chunks below the PMD order qualify and the PMD order is
	 * off, has nothing to collapse (the common sparse range).
	 */
	if (bpf_mthp_chunk_info(ctx, 0, PMD_ORDER, &ci) || !ci.present ||
	    (full_below && !ci.full_units && !(orders & (1U << PMD_ORDER))))
		return MTHP_PLAN_CUSTOM;
	/* At most 255 chunks, plus a step down per order. */
	bpf_for(i, 0, 2 * NR_UNITS + PMD_ORDER) {
		u32 units, first, w;
		u64 open;
		bool decided, take;

		if (~done0)
			first = __builtin_ctzll(~done0);
		else if (~done1)
			first = 64 + __builtin_ctzll(~done1);
		else
			break;
		/*
		 * After a split, the left half comes next; after a decision,
		 * the first open unit starts a right half, whose order its
		 * alignment gives.
		 */
		if (!descend)
			order = first ? MIN_ORDER + __builtin_ctz(first) : PMD_ORDER;
		descend = false;
		if (order > PMD_ORDER)
			order = PMD_ORDER;
		units = 1U << (order - MIN_ORDER);
		if (first & (units - 1) || first >= NR_UNITS)
			break;
		if (bpf_mthp_chunk_info(ctx, first << MIN_ORDER, order, &ci))
			break;
		/*
		 * A chunk that qualifies is decided: taken, unless a folio
		 * of its order or larger maps part of it already; then it
		 * is skipped whole, as the kernel skips it.
		 */
		decided = ci.present && (orders & (1U << order)) &&
			  chunk_safe(ctx, order, &ci) &&
			  chunk_full_enough(ctx, order, &ci, fill);
		take = decided &&
		       (order == PMD_ORDER || ci.max_folio_order < order);
		w = first / 64;
		/*
		 * Nothing inside can qualify: the chunk is empty, or with
		 * @full_below holds no full unit (an empty one holds none).
		 * One test for both keeps the verifier's states as few as
		 * without the stop.
		 */
		if (decided || !(full_below ? ci.full_units : ci.present) ||
		    (int)order <= min_order) {
			open = unit_mask(first, units);
			/* Decisions come in address order: add it now. */
			if (take)
				bpf_mthp_plan_add(ctx, first << MIN_ORDER, order);
			/* The PMD chunk spans both words. */
			if (w || order == PMD_ORDER)
				done1 |= open;
			if (!w)
				done0 |= open;
			continue;
		}
		/* Not decided: its halves, one order down. */
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
