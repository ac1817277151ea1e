// SPDX-License-Identifier: GPL-2.0
/*
 * What stops a collapse, as upstream has it: max_ptes_swap and
 * max_ptes_shared limit the whole range whatever the sizes enabled (over
 * them, nothing in the range is collapsed, and the PMD size's
 * collapse_exceed_* stats move); below them, swapped-out pages and pages
 * shared with another process fail any chunk below the PMD size that holds
 * them (and move that size's stats), while the PMD size swaps in; a VMA
 * armed with userfaultfd gets max_ptes_none 0.  Checked on the real folio
 * layout after khugepaged ran.
 */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest.h"
#include "mthp.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static int got[PMD_PAGES];
static char buf[512];

static long stat_of(int order, const char *name)
{
	char knob[96];

	snprintf(knob, sizeof(knob), "hugepages-%lukB/stats/%s", (PAGE_SZ << order) / 1024, name);
	return thp_read_long(knob);
}

static long vmstat(const char *name)
{
	return file_key_value("/proc/vmstat", name);
}

/* A PMD range of small pages, page i holding byte i. */
static char *small_range(void)
{
	char *p;
	int i;

	if (thp_set_orders(0, "never"))
		return NULL;
	p = pmd_mmap(1);
	if (!p)
		return NULL;
	for (i = 0; i < PMD_PAGES; i++)
		memset(p + i * PAGE_SZ, i & 0xff, PAGE_SZ);
	return p;
}

static int collapse(char *p, unsigned int orders)
{
	if (thp_set_orders(orders, "madvise") ||
	    madvise(p, PMD_SZ, MADV_HUGEPAGE) || khugepaged_wait_scans(2, 120))
		return -1;
	return folio_orders(p, PMD_PAGES, got);
}

static int contents_ok(const char *p)
{
	int i;

	for (i = 0; i < PMD_PAGES; i++)
		if (p[i * PAGE_SZ] != (char)(i & 0xff) ||
		    p[i * PAGE_SZ + PAGE_SZ - 1] != (char)(i & 0xff)) {
			ksft_print_msg("page %d lost its contents\n", i);
			return 0;
		}
	return 1;
}

/* got[] has order @order on [from, to) and @other elsewhere. */
static int layout_is(int from, int to, int order, int other)
{
	int i;

	for (i = 0; i < PMD_PAGES; i++)
		if (got[i] != (i >= from && i < to ? order : other)) {
			ksft_print_msg("layout %s\n", orders_str(got, PMD_PAGES, buf, sizeof(buf)));
			return 0;
		}
	return 1;
}

static void test_swap_mthp(void)
{
	long before2, before8, alloc2, pmd_alloc;
	char *p = small_range();
	int ok, i;

	/*
	 * 511: a chunk with a swap entry qualifies on its present pages and
	 * is refused for the swap entry (counted).  With 0 the swap entry
	 * would be one empty PTE too many, as upstream counts it, and no
	 * stat moves.
	 */
	if (!p || thp_write("khugepaged/max_ptes_none", "511"))
		ksft_exit_fail_msg("setup failed\n");
	if (madvise(p + 5 * PAGE_SZ, PAGE_SZ, MADV_PAGEOUT) ||
	    madvise(p + 200 * PAGE_SZ, PAGE_SZ, MADV_PAGEOUT))
		ksft_exit_fail_msg("MADV_PAGEOUT: %s\n", strerror(errno));
	before2 = stat_of(2, "collapse_exceed_swap_pte");
	before8 = stat_of(8, "collapse_exceed_swap_pte");
	alloc2 = stat_of(2, "collapse_alloc");
	pmd_alloc = vmstat("thp_collapse_alloc");
	if (collapse(p, 0x1fc))
		ksft_exit_fail_msg("collapse setup failed\n");
	/* Order 8 halves hold a swapped page each; so does the chunk at 4 and 200. */
	ok = got[5] == ORDER_NONE && got[200] == ORDER_NONE;
	for (i = 0; i < PMD_PAGES; i++) {
		int want = (i >= 4 && i < 8) || (i >= 200 && i < 204) ? 0 : -3;

		if (i == 5 || i == 200)
			continue;
		if (want == 0 ? got[i] != 0 : got[i] < 2)
			ok = 0;
	}
	if (!ok)
		ksft_print_msg("layout %s\n", orders_str(got, PMD_PAGES, buf, sizeof(buf)));
	ksft_test_result(ok, "mTHP: chunks holding a swapped-out page stay small, the rest collapse\n");
	ksft_test_result(stat_of(2, "collapse_exceed_swap_pte") > before2 &&
			 stat_of(8, "collapse_exceed_swap_pte") > before8,
			 "mTHP: collapse_exceed_swap_pte moved for 16kB and 1024kB\n");
	ksft_test_result(stat_of(2, "collapse_alloc") > alloc2 && pmd_alloc >= 0 &&
			 vmstat("thp_collapse_alloc") == pmd_alloc,
			 "mTHP: collapse_alloc moved for 16kB, thp_collapse_alloc (PMD) did not\n");
	ksft_test_result(contents_ok(p), "mTHP: contents intact after swap-in\n");
	pmd_unmap(p, 1);
}

/* A range of small pages with pages 5 and 200 swapped out. */
static char *swapped_range(const char *max_ptes_swap)
{
	char *p = small_range();

	if (!p || thp_write("khugepaged/max_ptes_none", "0") ||
	    thp_write("khugepaged/max_ptes_swap", max_ptes_swap))
		ksft_exit_fail_msg("setup failed\n");
	if (madvise(p + 5 * PAGE_SZ, PAGE_SZ, MADV_PAGEOUT) ||
	    madvise(p + 200 * PAGE_SZ, PAGE_SZ, MADV_PAGEOUT))
		ksft_exit_fail_msg("MADV_PAGEOUT: %s\n", strerror(errno));
	return p;
}

/* Over max_ptes_swap, the range is left whole, even with mTHP sizes on. */
static void test_swap_range_gate(void)
{
	char *p = swapped_range("1");
	long pmd_before, before2;
	int i, ok = 1;

	pmd_before = stat_of(PMD_ORDER, "collapse_exceed_swap_pte");
	before2 = stat_of(2, "collapse_exceed_swap_pte");
	if (collapse(p, 0x3fc))
		ksft_exit_fail_msg("collapse setup failed\n");
	for (i = 0; i < PMD_PAGES; i++)
		if (got[i] != (i == 5 || i == 200 ? ORDER_NONE : 0))
			ok = 0;
	if (!ok)
		ksft_print_msg("layout %s\n", orders_str(got, PMD_PAGES, buf, sizeof(buf)));
	ksft_test_result(ok, "range gate: 2 swapped pages over max_ptes_swap=1 leave every chunk small\n");
	ksft_test_result(stat_of(PMD_ORDER, "collapse_exceed_swap_pte") > pmd_before &&
			 stat_of(2, "collapse_exceed_swap_pte") == before2,
			 "range gate: collapse_exceed_swap_pte moved for 2048kB only\n");
	ksft_test_result(contents_ok(p), "range gate: contents intact\n");
	thp_write("khugepaged/max_ptes_swap", "64");
	pmd_unmap(p, 1);
}

static void test_swap_pmd(void)
{
	char *p = swapped_range("64");

	if (collapse(p, 1 << PMD_ORDER))
		ksft_exit_fail_msg("collapse setup failed\n");
	ksft_test_result(layout_is(0, PMD_PAGES, PMD_ORDER, -9),
			 "PMD: 2 swapped pages within max_ptes_swap are swapped in and collapsed\n");
	ksft_test_result(contents_ok(p), "PMD: contents intact\n");
	pmd_unmap(p, 1);
}

static pid_t share_with_child(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		pause();
		_exit(0);
	}
	return pid;
}

static void end_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* A range of small pages shared with a child but for its last page. */
static char *shared_range(const char *max_ptes_shared, pid_t *child)
{
	char *p = small_range();

	if (!p || thp_write("khugepaged/max_ptes_none", "0") ||
	    thp_write("khugepaged/max_ptes_shared", max_ptes_shared))
		ksft_exit_fail_msg("setup failed\n");
	*child = share_with_child();
	/*
	 * fork() write-protected every PTE, and a range without a writable
	 * PTE is not scanned further: unshare the last page.
	 */
	p[511 * PAGE_SZ] = (char)(511 & 0xff);
	return p;
}

/* Unshare the first 64K by writing it (CoW), rewriting the same bytes. */
static void unshare_64k(char *p)
{
	int i;

	for (i = 0; i < 16; i++)
		p[i * PAGE_SZ] = (char)i;
}

static void test_shared_mthp(void)
{
	pid_t child;
	/* 511 shared pages: let them past the range's limit. */
	char *p = shared_range("511", &child);
	long before;

	before = stat_of(4, "collapse_exceed_shared_pte");
	if (collapse(p, 1 << 4))
		ksft_exit_fail_msg("collapse setup failed\n");
	ksft_test_result(layout_is(0, 0, 0, 0), "mTHP: pages shared with a child are not collapsed\n");
	ksft_test_result(stat_of(4, "collapse_exceed_shared_pte") > before,
			 "mTHP: collapse_exceed_shared_pte moved for 64kB\n");
	unshare_64k(p);
	if (khugepaged_wait_scans(2, 120) || folio_orders(p, PMD_PAGES, got))
		ksft_exit_fail_msg("rescan failed\n");
	ksft_test_result(layout_is(0, 16, 4, 0), "mTHP: the unshared 64K chunk collapses\n");
	ksft_test_result(contents_ok(p), "mTHP: contents intact\n");
	end_child(child);
	pmd_unmap(p, 1);
}

/* Over max_ptes_shared, the range is left whole, even with mTHP sizes on. */
static void test_shared_range_gate(void)
{
	long pmd_before, before4;
	pid_t child;
	char *p = shared_range("256", &child);

	/* With the first 64K unshared too, 495 shared pages stay. */
	unshare_64k(p);
	pmd_before = stat_of(PMD_ORDER, "collapse_exceed_shared_pte");
	before4 = stat_of(4, "collapse_exceed_shared_pte");
	if (collapse(p, 1 << 4))
		ksft_exit_fail_msg("collapse setup failed\n");
	ksft_test_result(layout_is(0, 0, 0, 0),
			 "range gate: 495 shared pages over max_ptes_shared=256 leave the unshared 64K small\n");
	ksft_test_result(stat_of(PMD_ORDER, "collapse_exceed_shared_pte") > pmd_before &&
			 stat_of(4, "collapse_exceed_shared_pte") == before4,
			 "range gate: collapse_exceed_shared_pte moved for 2048kB only\n");
	ksft_test_result(contents_ok(p), "range gate: contents intact\n");
	end_child(child);
	pmd_unmap(p, 1);
}

static void test_shared_pmd(void)
{
	char *p = small_range();
	long before, vm_before;
	pid_t child;
	int i;

	if (!p || thp_write("khugepaged/max_ptes_none", "0") ||
	    thp_write("khugepaged/max_ptes_shared", "256"))
		ksft_exit_fail_msg("setup failed\n");
	child = share_with_child();
	before = stat_of(PMD_ORDER, "collapse_exceed_shared_pte");
	vm_before = vmstat("thp_scan_exceed_share_pte");
	if (collapse(p, 1 << PMD_ORDER))
		ksft_exit_fail_msg("collapse setup failed\n");
	ksft_test_result(layout_is(0, 0, 0, 0), "PMD: 512 shared pages exceed max_ptes_shared=256\n");
	ksft_test_result(stat_of(PMD_ORDER, "collapse_exceed_shared_pte") > before &&
			 vmstat("thp_scan_exceed_share_pte") > vm_before,
			 "PMD: collapse_exceed_shared_pte and thp_scan_exceed_share_pte moved\n");
	for (i = 0; i < 300; i++)
		p[i * PAGE_SZ] = (char)(i & 0xff);
	if (khugepaged_wait_scans(2, 120) || folio_orders(p, PMD_PAGES, got))
		ksft_exit_fail_msg("rescan failed\n");
	ksft_test_result(layout_is(0, PMD_PAGES, PMD_ORDER, -9),
			 "PMD: 212 shared pages within max_ptes_shared collapse\n");
	ksft_test_result(contents_ok(p), "PMD: contents intact\n");
	end_child(child);
	pmd_unmap(p, 1);
}

static void test_uffd(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	char *p;
	int uffd, i;

	if (thp_set_orders(0, "never") || thp_write("khugepaged/max_ptes_none", "511"))
		ksft_exit_fail_msg("setup failed\n");
	p = pmd_mmap(1);
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (!p || uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
		ksft_test_result_skip("userfaultfd: %s\n", strerror(errno));
		return;
	}
	/* Chunk 0 full, chunk 1 half: with uffd, only chunk 0 may collapse. */
	for (i = 0; i < 24; i++)
		memset(p + i * PAGE_SZ, i & 0xff, PAGE_SZ);
	reg.range.start = (unsigned long)p;
	reg.range.len = PMD_SZ;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		ksft_exit_fail_msg("UFFDIO_REGISTER: %s\n", strerror(errno));
	if (collapse(p, 1 << 4))
		ksft_exit_fail_msg("collapse setup failed\n");
	for (i = 0; i < PMD_PAGES; i++)
		if (got[i] != (i < 16 ? 4 : i < 24 ? 0 : ORDER_NONE))
			break;
	if (i < PMD_PAGES)
		ksft_print_msg("layout %s\n", orders_str(got, PMD_PAGES, buf, sizeof(buf)));
	ksft_test_result(i == PMD_PAGES,
			 "uffd-armed VMA: max_ptes_none=511 acts as 0 (no empty PTE filled)\n");
	close(uffd);
	pmd_unmap(p, 1);
}

int main(void)
{
	ksft_print_header();
	if ((thp_supported_orders() & 0x3fc) != 0x3fc)
		ksft_exit_skip("needs mTHP sysfs for orders 2..9\n");
	if (stat_of(4, "collapse_exceed_swap_pte") < 0)
		ksft_exit_fail_msg("no per-size collapse stats\n");
	ksft_set_plan(21);
	test_swap_mthp();
	test_swap_range_gate();
	test_swap_pmd();
	test_shared_mthp();
	test_shared_range_gate();
	thp_write("khugepaged/max_ptes_shared", "256");
	test_shared_pmd();
	test_uffd();
	ksft_finished();
}
