// SPDX-License-Identifier: GPL-2.0
/*
 * khugepaged mTHP collapse, checked through the real kernel: for many
 * occupancy patterns of a PMD range, sets of enabled sizes and values of
 * max_ptes_none, fault the pattern as small pages, let khugepaged run, and
 * compare the folio order at every page (pagemap + kpageflags) with what
 * the collapse rules say.  Also checks that every page that was written
 * still holds its bytes and that every other page reads as zeros.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kselftest.h"
#include "mthp.h"

struct pattern {
	const char *name;
	unsigned char occ[PMD_PAGES];
};

struct setting {
	unsigned int orders;	/* bit n: order n enabled */
	unsigned int none;	/* max_ptes_none */
};

static const struct setting settings[] = {
	{ 0x3fc, 0 },		/* every size, 16K .. 2M */
	{ 0x3fc, 511 },
	{ 0x1fc, 0 },		/* every mTHP size, no PMD */
	{ 0x1fc, 511 },
	{ 1 << 4, 0 },		/* 64K only */
	{ 1 << 4, 511 },
	{ 1 << 2 | 1 << 4, 0 },
	{ 1 << 2 | 1 << 4, 511 },
	{ 1 << 5 | 1 << 9, 0 },
	{ 1 << 5 | 1 << 9, 511 },
	{ 1 << 9, 0 },		/* PMD only: the old behaviour */
	{ 1 << 9, 511 },
	{ 0x3fc, 256 },		/* other values act as 0 below PMD size */
};
#define NSET (sizeof(settings) / sizeof(settings[0]))

static struct pattern patterns[32];
static int npat;

static struct pattern *add(const char *name)
{
	struct pattern *p = &patterns[npat++];

	p->name = name;
	memset(p->occ, 0, sizeof(p->occ));
	return p;
}

static void range(struct pattern *p, int from, int to)
{
	while (from < to)
		p->occ[from++] = 1;
}

static void make_patterns(void)
{
	static const int density[] = { 3, 10, 50, 90, 99 };
	static char names[5][32];
	struct pattern *p;
	unsigned int i, d;

	srand(20261123);
	range(add("full"), 0, PMD_PAGES);
	range(add("first half"), 0, PMD_PAGES / 2);
	range(add("second half"), PMD_PAGES / 2, PMD_PAGES);
	p = add("every other 16K");
	for (i = 0; i < PMD_PAGES; i += 8)
		range(p, i, i + 4);
	range(add("one page at 0"), 0, 1);
	range(add("one page at 300"), 300, 301);
	range(add("all but one"), 1, PMD_PAGES);
	range(add("first 64K"), 0, 16);
	p = add("straddling 16K, 64K, 1M");
	range(p, 14, 18);
	range(p, 60, 68);
	range(p, 250, 262);
	p = add("three 64K chunks");
	range(p, 32, 48);
	range(p, 160, 176);
	range(p, 496, 512);
	p = add("64K minus one page");
	range(p, 64, 79);
	add("empty");
	for (d = 0; d < 5; d++) {
		snprintf(names[d], sizeof(names[d]), "random %d%%", density[d]);
		p = add(names[d]);
		for (i = 0; i < PMD_PAGES; i++)
			p->occ[i] = rand() % 100 < density[d];
	}
}

/* The collapse rules, applied to one range of fresh small pages. */
static void model(const unsigned char *occ, int off, int order,
		  const struct setting *s, int *expect)
{
	int nr = 1 << order, present = 0, limit, i;

	for (i = off; i < off + nr; i++)
		present += occ[i];
	if (!present)
		return;
	if (s->orders & (1U << order)) {
		if (order == PMD_ORDER)
			limit = s->none;
		else
			limit = s->none == PMD_PAGES - 1 ? nr - 1 : 0;
		if (nr - present <= limit) {
			for (i = off; i < off + nr; i++)
				expect[i] = order;
			return;
		}
	}
	if (order > 2 && (s->orders & ((1U << order) - 1) & ~3U)) {
		model(occ, off, order - 1, s, expect);
		model(occ, off + nr / 2, order - 1, s, expect);
	}
}

static uint64_t page_word(int set, int pat, int page)
{
	return 0x6d746870ULL << 32 | set << 20 | pat << 10 | page;
}

static int run_setting(int si)
{
	const struct setting *s = &settings[si];
	static int got[PMD_PAGES], expect[PMD_PAGES];
	char knob[32], buf[512], ebuf[512];
	int pi, i, failed = 0;
	char *mem;

	/* Fault the patterns as small pages, then let khugepaged at them. */
	if (thp_set_orders(0, "never"))
		return -1;
	snprintf(knob, sizeof(knob), "%u", s->none);
	if (thp_write("khugepaged/max_ptes_none", knob))
		return -1;
	mem = pmd_mmap(npat);
	if (!mem)
		return -1;
	for (pi = 0; pi < npat; pi++)
		for (i = 0; i < PMD_PAGES; i++)
			if (patterns[pi].occ[i]) {
				uint64_t *w = (uint64_t *)(mem + (size_t)pi * PMD_SZ + i * PAGE_SZ);
				size_t k;

				for (k = 0; k < PAGE_SZ / 8; k++)
					w[k] = page_word(si, pi, i) ^ k;
			}
	if (thp_set_orders(s->orders, "madvise") ||
	    madvise(mem, npat * PMD_SZ, MADV_HUGEPAGE) ||
	    khugepaged_wait_scans(2, 120)) {
		pmd_unmap(mem, npat);
		return -1;
	}

	for (pi = 0; pi < npat; pi++) {
		char *r = mem + (size_t)pi * PMD_SZ;
		int bad_layout = 0, bad_data = 0;

		if (folio_orders(r, PMD_PAGES, got)) {
			pmd_unmap(mem, npat);
			return -1;
		}
		for (i = 0; i < PMD_PAGES; i++)
			expect[i] = patterns[pi].occ[i] ? 0 : ORDER_NONE;
		model(patterns[pi].occ, 0, PMD_ORDER, s, expect);
		for (i = 0; i < PMD_PAGES; i++)
			bad_layout |= got[i] != expect[i];
		/* Contents last: reading an empty page may map the zero page. */
		for (i = 0; i < PMD_PAGES && !bad_data; i++) {
			uint64_t *w = (uint64_t *)(r + i * PAGE_SZ);
			size_t k;

			for (k = 0; k < PAGE_SZ / 8; k++) {
				uint64_t want = patterns[pi].occ[i] ? page_word(si, pi, i) ^ k : 0;

				if (w[k] != want) {
					ksft_print_msg("page %d word %zu: %#llx, want %#llx\n", i, k,
						       (unsigned long long)w[k],
						       (unsigned long long)want);
					bad_data = 1;
					break;
				}
			}
		}
		if (bad_layout) {
			ksft_print_msg("got    %s\n", orders_str(got, PMD_PAGES, buf, sizeof(buf)));
			ksft_print_msg("expect %s\n", orders_str(expect, PMD_PAGES, ebuf, sizeof(ebuf)));
		}
		ksft_test_result(!bad_layout && !bad_data, "orders %#05x max_ptes_none %3u: %s\n",
				 s->orders, s->none, patterns[pi].name);
		failed |= bad_layout | bad_data;
	}
	pmd_unmap(mem, npat);
	return failed;
}

int main(void)
{
	unsigned int si;

	ksft_print_header();
	if ((thp_supported_orders() & 0x3fc) != 0x3fc)
		ksft_exit_skip("needs mTHP sysfs for orders 2..9\n");
	make_patterns();
	ksft_set_plan(NSET * npat);
	for (si = 0; si < NSET; si++)
		if (run_setting(si) < 0)
			ksft_exit_fail_msg("setting %u: setup failed\n", si);
	ksft_finished();
}
