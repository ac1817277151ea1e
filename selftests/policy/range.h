/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One PMD range for BPF_PROG_TEST_RUN on a policy program, as the policy
 * tests describe it.  The tests model 4K pages: a range of NR PTEs, which
 * the kernel checks (nr_ptes), and which range_geometry_mismatch() checks
 * against this machine before any test runs.
 */
#ifndef POLICY_RANGE_H
#define POLICY_RANGE_H

#include <linux/mthp_policy.h>

#include "mthp.h"

#define NR		PMD_PAGES	/* PTEs per range */
#define PLAN_MAX	(NR / 4)	/* chunks a plan holds at most: one per 4-PTE unit */

struct test_range {
	struct mthp_policy_test t;	/* the scalars, in and out */
	struct {			/* data_in, in the ABI's layout */
		__u64 present[NR / 64], swap[NR / 64], shared[NR / 64], young[NR / 64];
		__u8 folio_order[NR];
	} in;
	struct mthp_policy_chunk chunk[PLAN_MAX];		/* the plan carried out: t.nr */
	struct mthp_policy_chunk default_chunk[PLAN_MAX];	/* the default plan: t.default_nr */
};

/*
 * BPF_PROG_TEST_RUN of @prog_fd on @r, @repeat times (0: once), with
 * t.nr_ptes set to NR: t's out part, chunk[] and default_chunk[] filled in,
 * and the mean ns per call in *@duration if given.  Returns the program's
 * return value, or -errno (errno set too).
 */
int range_test_run(int prog_fd, struct test_range *r, unsigned int repeat, __u32 *duration);

/* NULL if this machine's PMD ranges are NR PTEs; else why not, for a skip. */
const char *range_geometry_mismatch(void);

#endif
