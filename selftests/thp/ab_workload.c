// SPDX-License-Identifier: GPL-2.0
/*
 * A workload for A/B runs (make demo, the A/B lifecycle test): PMD ranges
 * of mixed occupancy faulted as small pages and handed to khugepaged with
 * MADV_HUGEPAGE, then held until killed or until SECONDS pass.  With
 * CHURN, one range a second is unmapped and faulted anew, so khugepaged
 * always has new ranges to plan.
 *
 *   ab_workload NPMD SECONDS [CHURN]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mthp.h"

/* How full range i is: pages touched out of every 16, in 16K steps. */
static int occupied(size_t i, int pte)
{
	switch (i % 5) {
	case 0:
		return 1;				/* full */
	case 1:
		return pte < 3 * PMD_PAGES / 4;		/* three quarters */
	case 2:
		return !((pte / 4) & 1);		/* every other 16K */
	case 3:
		return pte % 64 < 16;			/* 64K of every 256K */
	default:
		return pte % 128 == 0;			/* one page in 512K */
	}
}

static void fault_range(char *r, size_t i)
{
	int pte;

	/* Small pages first, then let khugepaged decide. */
	madvise(r, PMD_SZ, MADV_NOHUGEPAGE);
	for (pte = 0; pte < PMD_PAGES; pte++)
		if (occupied(i, pte))
			r[pte * PAGE_SZ] = 1;
	madvise(r, PMD_SZ, MADV_HUGEPAGE);
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	size_t npmd, i, next = 0;
	int seconds, churn;
	time_t end;
	char *p;

	if (argc < 3 || (npmd = strtoul(argv[1], NULL, 10)) == 0 ||
	    (seconds = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: ab_workload NPMD SECONDS [CHURN]\n");
		return 2;
	}
	churn = argc > 3 && atoi(argv[3]);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	p = pmd_mmap(npmd);
	if (!p)
		return 1;
	for (i = 0; i < npmd; i++)
		fault_range(p + i * PMD_SZ, i);
	printf("ab_workload %d: %zu ranges ready\n", getpid(), npmd);
	fflush(stdout);
	end = time(NULL) + seconds;
	while (!stop && time(NULL) < end) {
		sleep(1);
		if (!churn)
			continue;
		/* Drop a range's pages and fault them again as small pages. */
		madvise(p + next * PMD_SZ, PMD_SZ, MADV_DONTNEED);
		fault_range(p + next * PMD_SZ, next);
		next = (next + 1) % npmd;
	}
	pmd_unmap(p, npmd);
	return 0;
}
