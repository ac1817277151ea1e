/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What each shipped collapse policy should plan for a PMD range, written
 * from the policies' specifications (their header comments), for the
 * policy tests to compare the kernel's and the programs' answers with.
 */
#ifndef POLICY_MODEL_H
#define POLICY_MODEL_H

#include <stdbool.h>

#include "range.h"

enum model_fill { MODEL_DEFAULT, MODEL_FULL, MODEL_ANY, MODEL_PERCENT };

struct model_plan {
	unsigned int nr;
	struct mthp_policy_chunk chunk[PLAN_MAX];
};

/* Plan @r's range with the kernel's walk, safety rules and @fill. */
void model_plan(const struct test_range *r, unsigned int orders,
		enum model_fill fill, const unsigned int *pct, struct model_plan *out);

/* The plan a named shipped policy makes (pct: threshold's map, or NULL). */
bool model_policy(const char *policy, const struct test_range *r,
		  const unsigned int *pct, unsigned int min_young, struct model_plan *out,
		  bool *use_default);

/*
 * What the kernel's plan @plan comes to on Linux 7.3, whose plans list the
 * chunks its walk tries first (not only those it would collapse): each
 * chunk tried, with the fallback to smaller orders inside it, as the
 * record in @r predicts.
 */
void model_kernel_outcome(const struct test_range *r, const struct mthp_policy_chunk *plan,
			  unsigned int nr, struct model_plan *out);

static inline bool test_pte(const __u64 *map, unsigned int i)
{
	return map[i / 64] >> (i % 64) & 1;
}

#endif
