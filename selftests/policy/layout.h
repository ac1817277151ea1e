/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Ranges of known occupancy for the policy tests that attach policies for
 * real: fault them, let khugepaged settle, and compare the folio layout
 * with what a policy's model plans for them.
 */
#ifndef POLICY_LAYOUT_H
#define POLICY_LAYOUT_H

#include "model.h"

#define ORDERS	(1U << 2 | 1U << 4 | 1U << 9)

struct pattern {
	const char *name;
	int (*occupied)(int pte);
	int young_pct;		/* pages touched again after aging */
};

extern const struct pattern patterns[];
#define NPAT	6
#define PAT_ALT_16K	2	/* patterns[PAT_ALT_16K]: every other 16K */

/* system(3) of a formatted command; its exit status, or -1. */
int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Fault @n ranges as small pages, range i with patterns[pat[i]], with
 * the young bits the patterns ask for.  Small pages: the caller makes sure
 * no THP size is enabled for the mapping yet.
 */
char *fault_patterns(const int *pat, size_t n);

/* What a range of @pat looks like once khugepaged is done under @policy. */
/*
 * Touch again the pages of @pat that should look young: the kernel ages
 * pages left alone, and khugepaged leaves a range with none young.
 */
void touch_young(char *p, const int *pat, size_t n);

void expected(const char *policy, const struct pattern *pat, int *want);

/* Wait until khugepaged stops changing the first @n ranges at @p. */
int settle(char *p, size_t n);
/*
 * The same, touching the young pages of @pat before each round: on a
 * slow kernel (KASAN, TCG) the pages age while khugepaged gets round to
 * them, and it passes over a range with none young.
 */
int settle_young(char *p, const int *pat, size_t n);

/* Is range i at @p laid out as @model plans patterns[pat[i]]?  Says where not. */
int layout_is(char *p, const int *pat, size_t n, const char *model, const char *label);

/* The test-run input describing a range of @pat, as the kernel scans it first. */
void pattern_test_ctx(const struct pattern *pat, struct test_range *r);

#endif
