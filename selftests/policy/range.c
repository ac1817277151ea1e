// SPDX-License-Identifier: GPL-2.0
/*
 * The policy tests' one way to run a policy program on a range: the
 * BPF_PROG_TEST_RUN ABI of <linux/mthp_policy.h>.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "mthp.h"
#include "range.h"

/* data_in: four bitmaps of ceil(NR / 64) words, then NR order bytes, no padding. */
_Static_assert(sizeof(((struct test_range *)0)->in) == 4 * ((NR + 63) / 64) * 8 + NR,
	       "test_range.in is not the ABI's data_in");

int range_test_run(int prog_fd, struct test_range *r, unsigned int repeat, __u32 *duration)
{
	/* What the kernel would carry out, then its default plan. */
	struct mthp_policy_chunk out[2 * PLAN_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .ctx_in = &r->t, .ctx_size_in = sizeof(r->t),
		    .ctx_out = &r->t, .ctx_size_out = sizeof(r->t),
		    .data_in = &r->in, .data_size_in = sizeof(r->in),
		    .data_out = out, .data_size_out = sizeof(out),
		    .repeat = repeat);

	r->t.nr_ptes = NR;
	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	/* Plans no range of NR PTEs has, or not the two the header describes. */
	if (r->t.nr > PLAN_MAX || r->t.default_nr > PLAN_MAX ||
	    opts.data_size_out != (r->t.nr + r->t.default_nr) * sizeof(out[0])) {
		fprintf(stderr, "test run: %u + %u chunks in %u bytes of data_out\n",
			r->t.nr, r->t.default_nr, opts.data_size_out);
		errno = EPROTO;
		return -EPROTO;
	}
	memset(r->chunk, 0, sizeof(r->chunk));
	memset(r->default_chunk, 0, sizeof(r->default_chunk));
	memcpy(r->chunk, out, r->t.nr * sizeof(out[0]));
	memcpy(r->default_chunk, out + r->t.nr, r->t.default_nr * sizeof(out[0]));
	if (duration)
		*duration = opts.duration;
	return (int)opts.retval;
}

const char *range_geometry_mismatch(void)
{
	static char why[160];
	long pmd = thp_read_long("hpage_pmd_size"), page = sysconf(_SC_PAGESIZE);

	if (pmd > 0 && page > 0 && pmd % page == 0 && pmd / page == NR)
		return NULL;
	if (pmd <= 0 || page <= 0)
		snprintf(why, sizeof(why),
			 "cannot read the PMD size (hpage_pmd_size) or the page size\n");
	else
		snprintf(why, sizeof(why),
			 "the tests model PMD ranges of %d PTEs (4K pages); this machine's have %ld (%ld / %ld)\n",
			 NR, pmd / page, pmd, page);
	return why;
}
