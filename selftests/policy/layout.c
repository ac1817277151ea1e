// SPDX-License-Identifier: GPL-2.0
/*
 * Ranges of known occupancy, their folio layout after khugepaged, and the
 * layout a policy's model expects; shared by the policy tests.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest.h"
#include "layout.h"
#include "mthp.h"

static int full(int pte) { (void)pte; return 1; }
static int first_half(int pte) { return pte < 256; }
static int alt_16k(int pte) { return !((pte / 4) & 1); }
static int one_page(int pte) { return pte == 300; }
static int almost_64k(int pte) { return pte >= 64 && pte < 79; }
static int three_quarters(int pte) { return pte < 384; }

const struct pattern patterns[NPAT] = {
	{ "full", full, 100 },
	{ "first half", first_half, 100 },
	[PAT_ALT_16K] = { "every other 16K", alt_16k, 100 },
	{ "one page", one_page, 100 },
	{ "64K minus one page", almost_64k, 100 },
	{ "three quarters, 10% young", three_quarters, 10 },
};

int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fflush(NULL);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

char *fault_patterns(const int *pat, size_t n)
{
	cpu_set_t was, one;
	size_t i;
	char *p;
	int pte;

	p = pmd_mmap(n);
	if (!p)
		return NULL;
	/*
	 * One CPU for the faults: MADV_COLD ages only folios on the LRU, and
	 * drains this CPU's batch of new folios, not another CPU's.
	 */
	if (sched_getaffinity(0, sizeof(was), &was))
		return NULL;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		return NULL;
	for (i = 0; i < n; i++)
		for (pte = 0; pte < PMD_PAGES; pte++)
			if (patterns[pat[i]].occupied(pte))
				p[i * PMD_SZ + pte * PAGE_SZ] = 1;
	/*
	 * Age everything, then touch again what should look young.  Not
	 * clear_refs: it clears the accessed bits without flushing the TLB,
	 * and a touch through a cached entry sets no bit again (seen in CI:
	 * ranges scanned with referenced=0 for minutes).  MADV_COLD flushes.
	 */
	if (madvise(p, n * PMD_SZ, MADV_COLD) ||
	    sched_setaffinity(0, sizeof(was), &was))
		return NULL;
	touch_young(p, pat, n);
	return p;
}

void touch_young(char *p, const int *pat, size_t n)
{
	size_t i;
	int pte;

	for (i = 0; i < n; i++)
		for (pte = 0; pte < PMD_PAGES; pte++)
			if (patterns[pat[i]].occupied(pte) &&
			    pte % 100 < patterns[pat[i]].young_pct)
				p[i * PMD_SZ + pte * PAGE_SZ] = 1;
}

void pattern_test_ctx(const struct pattern *pat, struct test_range *r)
{
	int pte;

	memset(r, 0, sizeof(*r));
	for (pte = 0; pte < NR; pte++) {
		if (!pat->occupied(pte))
			continue;
		r->in.present[pte / 64] |= 1ULL << (pte % 64);
		if (pte % 100 < pat->young_pct)
			r->in.young[pte / 64] |= 1ULL << (pte % 64);
	}
	r->t.orders = ORDERS;
	r->t.max_ptes_none = NR - 1;
	r->t.max_ptes_swap = 64;
	r->t.max_ptes_shared = 256;
}

/*
 * What the range looks like once khugepaged has no more to do under
 * @policy: plan, collapse, and plan again, since a collapse adds pages (and
 * new PTEs start young), which may make a larger chunk qualify next time.
 * A chunk with no young page is skipped by the kernel, and a PMD-mapped
 * range is not scanned again.
 */
void expected(const char *policy, const struct pattern *pat, int *want)
{
	static struct test_range r;
	unsigned int pct[10] = { [2] = 100, [4] = 50, [9] = 90 };
	struct model_plan plan;
	unsigned int c, i, pass;
	bool use_default;
	int pte;

	pattern_test_ctx(pat, &r);
	for (pte = 0; pte < PMD_PAGES; pte++)
		want[pte] = pat->occupied(pte) ? 0 : ORDER_NONE;
	for (pass = 0; pass < 10; pass++) {
		bool changed = false, pmd = false;

		model_policy(policy, &r, pct, 0, &plan, &use_default);
		if (use_default)
			model_plan(&r, ~0U, MODEL_DEFAULT, NULL, &plan);
		for (c = 0; c < plan.nr; c++) {
			unsigned int off = plan.chunk[c].offset, order = plan.chunk[c].order;
			unsigned int nr = 1U << order, young = 0;

			for (i = off; i < off + nr; i++)
				young += test_pte(r.in.young, i);
			if (!young)
				continue;
			for (i = off; i < off + nr; i++) {
				want[i] = order;
				r.in.folio_order[i] = order;
				r.in.present[i / 64] |= 1ULL << (i % 64);
				r.in.young[i / 64] |= 1ULL << (i % 64);
			}
			changed = true;
			pmd |= order == PMD_ORDER;
		}
		if (!changed || pmd)
			break;
	}
}

/*
 * Wait until khugepaged stops changing the layout of the first @n ranges:
 * the same layout after two more pairs of full scans.  (A range can be
 * passed over in one scan, for a page still in a per-CPU LRU batch, say.)
 */
int settle(char *p, size_t n)
{
	return settle_young(p, NULL, n);
}

int settle_young(char *p, const int *pat, size_t n)
{
	static int a[PMD_PAGES * 8], b[PMD_PAGES * 8];
	int round, stable = 0;

	if (n > 8 || folio_orders(p, n * PMD_PAGES, a))
		return -1;
	for (round = 0; round < 12 && stable < 2; round++) {
		if (pat)
			touch_young(p, pat, n);
		if (khugepaged_wait_scans(2, 120) || folio_orders(p, n * PMD_PAGES, b))
			return -1;
		stable = memcmp(a, b, n * PMD_PAGES * sizeof(a[0])) ? 0 : stable + 1;
		memcpy(a, b, n * PMD_PAGES * sizeof(a[0]));
	}
	return stable < 2 ? -1 : 0;
}

int layout_is(char *p, const int *pat, size_t n, const char *model, const char *label)
{
	static int got[PMD_PAGES], want[PMD_PAGES];
	char buf[512];
	size_t i;
	int ok = 1, pte;

	for (i = 0; i < n; i++) {
		if (folio_orders(p + i * PMD_SZ, PMD_PAGES, got))
			ksft_exit_fail_msg("folio_orders failed\n");
		expected(model, &patterns[pat[i]], want);
		for (pte = 0; pte < PMD_PAGES && got[pte] == want[pte]; pte++)
			;
		if (pte == PMD_PAGES)
			continue;
		ok = 0;
		ksft_print_msg("%s, %s:\n", label, patterns[pat[i]].name);
		ksft_print_msg("  got    %s\n", orders_str(got, PMD_PAGES, buf, sizeof(buf)));
		ksft_print_msg("  expect %s\n", orders_str(want, PMD_PAGES, buf, sizeof(buf)));
	}
	return ok;
}
