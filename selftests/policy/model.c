// SPDX-License-Identifier: GPL-2.0
#include <string.h>

#include "model.h"

#define PMD	9

static void walk(const struct test_range *r, unsigned int off, unsigned int order,
		 unsigned int orders, enum model_fill fill, const unsigned int *pct,
		 struct model_plan *out)
{
	unsigned int nr = 1U << order, present = 0, swap = 0, shared = 0, big = 0, none, i;
	bool pmd = order == PMD, safe, full;

	for (i = off; i < off + nr; i++) {
		present += test_pte(r->in.present, i);
		swap += test_pte(r->in.swap, i);
		shared += test_pte(r->in.shared, i);
		if (r->in.folio_order[i] > big)
			big = r->in.folio_order[i];
	}
	if (!present)
		return;
	none = nr - present - swap;
	if (orders & (1U << order)) {
		safe = pmd ? swap <= r->t.max_ptes_swap && shared <= r->t.max_ptes_shared :
			     !swap && !shared;
		safe = safe && !(r->t.uffd_armed && none);
		switch (fill) {
		case MODEL_FULL:
			full = !none;
			break;
		case MODEL_ANY:
			full = true;
			break;
		case MODEL_PERCENT:
			full = present * 100 >= pct[order] * nr;
			break;
		default:
			if (pmd)
				full = none <= (r->t.uffd_armed ? 0 : r->t.max_ptes_none);
			else
				full = r->t.max_ptes_none == NR - 1 && !r->t.uffd_armed ? true :
				       !none;
		}
		/* Mapped by a folio this large already: skipped whole. */
		if (safe && full) {
			if (pmd || big < order) {
				out->chunk[out->nr].offset = off;
				out->chunk[out->nr].order = order;
				out->nr++;
			}
			return;
		}
	}
	if (order > 2 && (orders & ((1U << order) - 1) & ~3U)) {
		walk(r, off, order - 1, orders, fill, pct, out);
		walk(r, off + nr / 2, order - 1, orders, fill, pct, out);
	}
}

void model_plan(const struct test_range *r, unsigned int orders,
		enum model_fill fill, const unsigned int *pct, struct model_plan *out)
{
	out->nr = 0;
	walk(r, 0, PMD, orders & r->t.orders & 0x3fc, fill, pct, out);
}

bool model_policy(const char *policy, const struct test_range *r,
		  const unsigned int *pct, unsigned int min_young, struct model_plan *out,
		  bool *use_default)
{
	unsigned int scaled[PMD + 1], o, present = 0, young = 0, i;

	*use_default = false;
	if (!strcmp(policy, "default")) {
		model_plan(r, ~0U, MODEL_DEFAULT, NULL, out);
	} else if (!strcmp(policy, "conservative")) {
		model_plan(r, ~0U, MODEL_FULL, NULL, out);
	} else if (!strcmp(policy, "aggressive")) {
		model_plan(r, ~0U, MODEL_ANY, NULL, out);
	} else if (!strcmp(policy, "pmd_only")) {
		model_plan(r, 1U << PMD, MODEL_DEFAULT, NULL, out);
	} else if (!strcmp(policy, "threshold")) {
		for (o = 0; o <= PMD; o++)
			scaled[o] = pct && pct[o] ? (pct[o] > 100 ? 100 : pct[o]) :
				    100 - (r->t.uffd_armed ? 0 : r->t.max_ptes_none) * 100 / NR;
		model_plan(r, ~0U, MODEL_PERCENT, scaled, out);
	} else if (!strcmp(policy, "hot")) {
		for (i = 0; i < NR; i++) {
			present += test_pte(r->in.present, i);
			young += test_pte(r->in.young, i);
		}
		out->nr = 0;
		*use_default = !present || young * 100 >= (min_young ? min_young : 50) * present;
	} else {
		return false;
	}
	return true;
}

/* PTEs of [off, off + nr) set in @map. */
static unsigned int weight(const __u64 *map, unsigned int off, unsigned int nr)
{
	unsigned int i, n = 0;

	for (i = off; i < off + nr; i++)
		n += test_pte(map, i);
	return n;
}

/* The empty PTEs an @order chunk may have, for max_ptes_none @none. */
static unsigned int order_none(unsigned int none, unsigned int order)
{
	if (order == 9)
		return none;
	return none == NR - 1 ? (1U << order) - 1 : 0;
}

enum attempt { TRY_OK, TRY_SMALLER, TRY_SKIP };

/*
 * What the kernel's collapse of one chunk comes to, as the record
 * predicts it: the rules the collapse itself checks, in the order the
 * 6.12 backport's planner applies them (the one that matches upstream's
 * layouts on every collapse test).
 */
static enum attempt attempt(const struct test_range *r, unsigned int off,
			    unsigned int order)
{
	unsigned int nr = 1U << order, i;
	unsigned int present = weight(r->in.present, off, nr);
	unsigned int swap = weight(r->in.swap, off, nr);
	unsigned int shared = weight(r->in.shared, off, nr);
	bool pmd = order == 9;
	unsigned int none = nr - present - (pmd ? swap : 0);

	if (none > (r->t.uffd_armed ? 0 : order_none(r->t.max_ptes_none, order)))
		return TRY_SMALLER;
	if (swap > (pmd ? r->t.max_ptes_swap : 0) || shared > (pmd ? r->t.max_ptes_shared : 0))
		return TRY_SMALLER;
	if (!pmd)
		for (i = off; i < off + nr; i++)
			if (r->in.folio_order[i] >= order)
				return TRY_SKIP;
	return TRY_OK;
}

/* The occupancy test of the kernel's own walk (no userfaultfd rule). */
static bool occupied(const struct test_range *r, unsigned int off, unsigned int order)
{
	unsigned int nr = 1U << order;
	unsigned int n = weight(r->in.present, off, nr) +
			 (order == 9 ? weight(r->in.swap, off, nr) : 0);

	return n >= nr - order_none(r->t.max_ptes_none, order);
}

void model_kernel_outcome(const struct test_range *r, const struct mthp_policy_chunk *plan,
			  unsigned int nr, struct model_plan *out)
{
	unsigned int c;

	out->nr = 0;
	for (c = 0; c < nr; c++) {
		unsigned int off = plan[c].offset, order = plan[c].order;
		unsigned int end = off + (1U << order);
		bool chosen = true;

		while (off < end) {
			enum attempt a = TRY_SMALLER;

			if (chosen || (r->t.orders >> order & 1 && occupied(r, off, order))) {
				chosen = false;
				a = attempt(r, off, order);
				if (a == TRY_OK) {
					out->chunk[out->nr].offset = off;
					out->chunk[out->nr].order = order;
					out->nr++;
				}
			}
			/* A smaller enabled order at the same offset, as the kernel steps down. */
			if (a == TRY_SMALLER && order > 2 &&
			    (r->t.orders & ((1U << order) - 1) & ~3U)) {
				order--;
				continue;
			}
			off += 1U << order;
			order = off ? (unsigned int)__builtin_ctz(off) : 9;
			if (order > 9)
				order = 9;
		}
	}
}
