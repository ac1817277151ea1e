// SPDX-License-Identifier: GPL-2.0
/*
 * The `make demo` workload: fault a few PMD ranges with different
 * occupancy as small pages, let khugepaged run with the THP sizes given on
 * the command line, and print what each range became, per folio size.
 *
 *   demo_workload [sizes [max_ptes_none]]
 *	sizes: comma-separated kB, default 16,64,2048; max_ptes_none: default
 *	the current setting
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mthp.h"

struct pattern {
	const char *name;
	int (*occupied)(int pte);
};

static int full(int pte) { (void)pte; return 1; }
static int first_half(int pte) { return pte < PMD_PAGES / 2; }
static int alt_16k(int pte) { return !((pte / 4) & 1); }
static int first_64k(int pte) { return pte < 16; }
static int one_page(int pte) { return pte == 0; }

static const struct pattern patterns[] = {
	{ "full (512 of 512)", full },
	{ "first half (256)", first_half },
	{ "every other 16K (256)", alt_16k },
	{ "first 64K (16)", first_64k },
	{ "one page (1)", one_page },
};
#define NPAT (sizeof(patterns) / sizeof(patterns[0]))

static void layout(const int *orders, char *buf, size_t len)
{
	int count[PMD_ORDER + 1] = { 0 }, none = 0, broken = 0, o, i;
	size_t off = 0;

	for (i = 0; i < PMD_PAGES; i++) {
		if (orders[i] == ORDER_NONE)
			none++;
		else if (orders[i] == ORDER_BROKEN)
			broken++;
		else
			count[orders[i]]++;
	}
	buf[0] = '\0';
	for (o = PMD_ORDER; o >= 0; o--) {
		unsigned long kb = (PAGE_SZ << o) / 1024;

		if (count[o])
			off += snprintf(buf + off, len - off, "%lu%s x%d  ",
					kb >= 1024 ? kb / 1024 : kb, kb >= 1024 ? "M" : "K",
					count[o] >> o);
	}
	if (broken)
		off += snprintf(buf + off, len - off, "partial:%d  ", broken);
	snprintf(buf + off, len - off, "(empty %d)", none);
}

int main(int argc, char **argv)
{
	static int orders[PMD_PAGES];
	unsigned int mask = 0;
	char *sizes = strdup(argc > 1 ? argv[1] : "16,64,2048"), *tok;
	char before[128], after[128];
	size_t i;
	int pte;
	char *p;

	for (tok = strtok(sizes, ","); tok; tok = strtok(NULL, ","))
		mask |= 1U << __builtin_ctzl(strtoul(tok, NULL, 10) * 1024 / PAGE_SZ);

	/* Fault everything as small pages first; khugepaged does the rest. */
	if (thp_set_orders(0, "never"))
		return 1;
	p = pmd_mmap(NPAT);
	if (!p)
		return 1;
	for (i = 0; i < NPAT; i++)
		for (pte = 0; pte < PMD_PAGES; pte++)
			if (patterns[i].occupied(pte))
				p[i * PMD_SZ + pte * PAGE_SZ] = 1;
	if (argc > 2 && thp_write("khugepaged/max_ptes_none", argv[2]))
		return 1;
	if (thp_set_orders(mask, "madvise"))
		return 1;
	/* Registers the mm with khugepaged. */
	madvise(p, NPAT * PMD_SZ, MADV_HUGEPAGE);
	printf("max_ptes_none=%ld, sizes enabled (madvise): %s kB\n",
	       thp_read_long("khugepaged/max_ptes_none"), argc > 1 ? argv[1] : "16,64,2048");
	if (khugepaged_wait_scans(2, 120))
		return 1;
	printf("%-24s %-28s %s\n", "range occupancy", "before khugepaged", "after");
	for (i = 0; i < NPAT; i++) {
		int j, ok = 1;

		for (j = 0; j < PMD_PAGES; j++)
			orders[j] = patterns[i].occupied(j) ? 0 : ORDER_NONE;
		layout(orders, before, sizeof(before));
		if (folio_orders(p + i * PMD_SZ, PMD_PAGES, orders))
			return 1;
		layout(orders, after, sizeof(after));
		for (j = 0; j < PMD_PAGES; j++)
			ok &= p[i * PMD_SZ + j * PAGE_SZ] == patterns[i].occupied(j);
		printf("%-24s %-28s %s%s\n", patterns[i].name, before, after,
		       ok ? "" : "  CONTENTS CHANGED");
	}
	return 0;
}
