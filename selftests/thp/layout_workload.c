// SPDX-License-Identifier: GPL-2.0
/*
 * A known folio layout for the layout test (selftests/tests/layout.sh):
 * three PMD-aligned, PMD-sized mappings, each its own VMA between
 * PROT_NONE guards:
 *
 *   collapsed  all faulted as small pages, then MADV_COLLAPSE: one PMD folio
 *   mthp       MADV_HUGEPAGE with only 64K enabled, its first half faulted:
 *              64K folios
 *   small      its first quarter faulted without MADV_HUGEPAGE: base pages
 *
 * It checks the result with the selftests' own pagemap reader, prints
 * "NAME ADDRESS" lines and "ready", then sleeps until killed.  It changes
 * the THP sysfs knobs (and leaves every size "never").  Exit 1 if the
 * layout could not be made (MADV_COLLAPSE failed, no 64K folios).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mthp.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25	/* uapi asm-generic/mman-common.h; older libc lacks it */
#endif

static int expect(const char *what, char *r, size_t pages, size_t upto, int order)
{
	int *o = calloc(pages, sizeof(*o));
	char buf[256];
	size_t i;

	if (!o || folio_orders(r, pages, o))
		return -1;
	for (i = 0; i < pages; i++)
		if (o[i] != (i < upto ? order : ORDER_NONE))
			break;
	if (i < pages)
		fprintf(stderr, "%s: not the expected layout: %s\n", what,
			orders_str(o, pages, buf, sizeof(buf)));
	free(o);
	return i < pages ? -1 : 0;
}

int main(void)
{
	long psize = sysconf(_SC_PAGESIZE), pmd = thp_read_long("hpage_pmd_size");
	char pmd_knob[64], *base, *col, *mthp, *small;
	size_t pages, i;

	if (psize != 4096 || pmd <= 0) {
		fprintf(stderr, "needs 4K pages (64K mTHP) and THP\n");
		return 1;
	}
	pages = pmd / psize;
	snprintf(pmd_knob, sizeof(pmd_knob), "hugepages-%ldkB/enabled", pmd / 1024);
	base = mmap(NULL, 8 * pmd, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return perror("mmap"), 1;
	/* Aligned, with a PROT_NONE guard on both sides: VMAs that cannot merge. */
	col = (char *)(((unsigned long)base + pmd - 1) & ~(pmd - 1)) + pmd;
	mthp = col + 2 * pmd;
	small = col + 4 * pmd;
	if (mprotect(col, pmd, PROT_READ | PROT_WRITE) ||
	    mprotect(mthp, pmd, PROT_READ | PROT_WRITE) ||
	    mprotect(small, pmd, PROT_READ | PROT_WRITE))
		return perror("mprotect"), 1;
	if (thp_write("enabled", "madvise") || thp_set_orders(~0U, "never") ||
	    thp_write(pmd_knob, "madvise"))
		return fprintf(stderr, "cannot set the THP knobs\n"), 1;

	/* Not MADV_HUGEPAGE: small pages at fault, then one collapse. */
	for (i = 0; i < pages; i++)
		col[i * psize] = 1;
	if (madvise(col, pmd, MADV_COLLAPSE))
		return perror("MADV_COLLAPSE"), 1;

	/* Only 64K now: mTHP at fault time, and khugepaged has nothing to do. */
	if (thp_write(pmd_knob, "never") || thp_write("hugepages-64kB/enabled", "madvise"))
		return fprintf(stderr, "cannot set the THP knobs\n"), 1;
	if (madvise(mthp, pmd, MADV_HUGEPAGE))
		return perror("MADV_HUGEPAGE"), 1;
	for (i = 0; i < pages / 2; i++)
		mthp[i * psize] = 1;
	for (i = 0; i < pages / 4; i++)
		small[i * psize] = 1;
	thp_set_orders(~0U, "never");

	if (expect("collapsed", col, pages, pages, __builtin_ctzl(pages)) ||
	    expect("mthp", mthp, pages, pages / 2, 4) ||
	    expect("small", small, pages, pages / 4, 0))
		return 1;
	printf("collapsed %lx\nmthp %lx\nsmall %lx\nready\n",
	       (unsigned long)col, (unsigned long)mthp, (unsigned long)small);
	fflush(stdout);
	for (;;)
		pause();
}
