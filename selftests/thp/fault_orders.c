// SPDX-License-Identifier: GPL-2.0
/*
 * Checks the folio-layout reader (selftests/lib) against the page fault
 * path of the running kernel: with exactly one THP size enabled, a written
 * PMD-aligned region must be mapped entirely by naturally aligned folios of
 * that size.  Every collapse test relies on this reader being right.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "kselftest.h"
#include "mthp.h"

#define NPMD 2

static int check_order(int order)
{
	static int orders[NPMD * PMD_PAGES];
	char buf[256];
	size_t i;
	char *p;
	int bad = 0;

	if (thp_set_orders(order ? 1U << order : 0, "always"))
		return -1;
	p = pmd_mmap(NPMD);
	if (!p)
		return -1;
	/* The top-level "enabled" is madvise by default: ask for THP here. */
	if (madvise(p, NPMD * PMD_SZ, MADV_HUGEPAGE))
		ksft_print_msg("madvise(MADV_HUGEPAGE): %s\n", strerror(errno));
	for (i = 0; i < NPMD * PMD_PAGES; i++)
		p[i * PAGE_SZ] = (char)i;
	if (folio_orders(p, NPMD * PMD_PAGES, orders)) {
		pmd_unmap(p, NPMD);
		return -1;
	}
	for (i = 0; i < NPMD * PMD_PAGES; i++)
		bad |= orders[i] != order || p[i * PAGE_SZ] != (char)i;
	if (bad)
		ksft_print_msg("order %d: layout %s\n", order,
			       orders_str(orders, NPMD * PMD_PAGES, buf, sizeof(buf)));
	pmd_unmap(p, NPMD);
	return bad;
}

int main(void)
{
	unsigned int supported;
	int order;

	ksft_print_header();
	supported = thp_supported_orders();
	if (!(supported & (1U << PMD_ORDER)))
		ksft_exit_skip("no THP sysfs for PMD order\n");
	ksft_set_plan(1 + __builtin_popcount(supported & ~1U));
	ksft_test_result(!check_order(0), "all sizes never: order 0 everywhere\n");
	for (order = 2; order <= PMD_ORDER; order++) {
		if (!(supported & (1U << order)))
			continue;
		ksft_test_result(!check_order(order), "only %lukB enabled: order %d everywhere\n",
				 (PAGE_SZ << order) / 1024, order);
	}
	ksft_finished();
}
