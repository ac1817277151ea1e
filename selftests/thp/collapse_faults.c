// SPDX-License-Identifier: GPL-2.0
/*
 * khugepaged's collapse under injected failures, on kernels with fault
 * injection (the debug kernels): fail_page_alloc and failslab, limited to
 * khugepaged's own task (task-filter and its make-it-fail), so the rest of
 * the guest runs on undisturbed.
 *
 * 1. Every allocation of order m or more fails (m = 9, 6, 3; and m = 6 with
 *    the BPF default policy attached): full ranges with every size enabled
 *    collapse into folios of order m - 1 exactly, by the fallback to smaller
 *    sizes; collapse_alloc_failed counts every size from m up and no
 *    smaller one, and as many failures as were injected; a policy's
 *    failed_alloc says the same, its per-size failed counters count them
 *    at the same sizes, and a chunk that a later scan finds a folio of
 *    its size already is no failure ("changed": the one in flight as
 *    collapse is turned off at the end, at most).
 * 2. Random failures over ranges with a few holes (max_ptes_none 0: each
 *    range is many chunks of many sizes): half of those of 32K and more;
 *    then a third of all khugepaged's page and slab allocations.  Every
 *    failure injected is counted (collapse_alloc_failed, or an order-0
 *    allocation outside the collapse's own folio).  failslab has failed
 *    nothing so far (khugepaged's collapse makes no slab allocation); it
 *    stays on, so that one added there is failed too, and is counted.
 *
 * In each part every page keeps what was written; with the injection off,
 * the next scans make every range one 2M folio (nothing was left locked,
 * pinned or half-done); and once the ranges are unmapped, each size's
 * nr_anon is back where it started (no folio leaked on a failure path).
 *
 * The memory cgroup whose charge fails is thp/collapse-patterns' case.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest.h"
#include "mthp.h"

#define ALL_ORDERS	0x3fcU	/* 16K .. 2M */
#define DEBUGFS		"/sys/kernel/debug/"
#define FAIL_PAGE	DEBUGFS "fail_page_alloc"
#define FAIL_SLAB	DEBUGFS "failslab"
#define TIMES		1000000L	/* failures allowed; what is left tells how many */
#define WORDS		(PAGE_SZ / 8)

static pid_t khugepaged_pid;

static int fa_write(const char *dir, const char *file, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (write_file(path, val)) {
		ksft_print_msg("%s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static long fa_read(const char *dir, const char *file)
{
	char path[128], buf[32];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (read_line(path, buf, sizeof(buf)))
		return -1;
	return atol(buf);
}

/*
 * Fail @probability percent of khugepaged's allocations in @dir (page
 * allocations of order @min_order or more), whatever their gfp flags.
 */
static int inject(const char *dir, int probability, int min_order)
{
	char val[16];
	int ret = 0;

	snprintf(val, sizeof(val), "%d", probability);
	ret |= fa_write(dir, "probability", "0");
	ret |= fa_write(dir, "task-filter", "Y");
	ret |= fa_write(dir, "verbose", "0");
	ret |= fa_write(dir, "interval", "1");
	ret |= fa_write(dir, "space", "0");
	ret |= fa_write(dir, "ignore-gfp-wait", "N");
	snprintf(val, sizeof(val), "%ld", TIMES);
	ret |= fa_write(dir, "times", val);
	if (!strcmp(dir, FAIL_PAGE)) {
		ret |= fa_write(dir, "ignore-gfp-highmem", "N");
		snprintf(val, sizeof(val), "%d", min_order);
		ret |= fa_write(dir, "min-order", val);
	}
	snprintf(val, sizeof(val), "%d", probability);
	ret |= fa_write(dir, "probability", val);
	return ret;
}

/* Stop injecting; returns how many failures were injected. */
static long stop(const char *dir)
{
	long left;

	fa_write(dir, "probability", "0");
	left = fa_read(dir, "times");
	return left < 0 ? -1 : TIMES - left;
}

/* What the injection was set to, when nothing was injected. */
static void show_injection(void)
{
	static const char *const files[] = {
		"probability", "interval", "times", "space", "task-filter",
		"ignore-gfp-wait", "ignore-gfp-highmem", "min-order",
	};
	char path[128], buf[32], line[512];
	size_t off = 0, i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), FAIL_PAGE "/%s", files[i]);
		if (read_line(path, buf, sizeof(buf)))
			snprintf(buf, sizeof(buf), "?");
		off += snprintf(line + off, sizeof(line) - off, " %s=%s", files[i], buf);
	}
	snprintf(path, sizeof(path), "/proc/%d/make-it-fail", khugepaged_pid);
	if (read_line(path, buf, sizeof(buf)))
		snprintf(buf, sizeof(buf), "?");
	ksft_print_msg("nothing injected: fail_page_alloc%s; khugepaged (pid %d) make-it-fail=%s\n",
		       line, khugepaged_pid, buf);
}

/* On SIGTERM (the runner's timeout): the injection off, async-signal-safe. */
static void on_term(int sig)
{
	static const char *const files[] = {
		FAIL_PAGE "/probability", FAIL_SLAB "/probability",
	};
	char path[64] = "/proc/";
	int i, n;

	for (i = 0; i < 2; i++)
		write_file(files[i], "0");
	/* "/proc/<pid>/make-it-fail" without snprintf. */
	n = 6;
	for (i = 1000000; i; i /= 10)
		if (khugepaged_pid >= i || i == 1)
			path[n++] = '0' + khugepaged_pid / i % 10;
	memcpy(path + n, "/make-it-fail", 14);
	if (khugepaged_pid)
		write_file(path, "0");
	thp_restore_knobs();
	_exit(128 + sig);
}

static void stop_all(void)
{
	char path[64];

	write_file(FAIL_PAGE "/probability", "0");
	write_file(FAIL_SLAB "/probability", "0");
	if (khugepaged_pid) {
		snprintf(path, sizeof(path), "/proc/%d/make-it-fail", khugepaged_pid);
		write_file(path, "0");
	}
}

/* Whether /proc/<pid> is a khugepaged thread that is not exiting. */
static bool live_khugepaged(const char *pid)
{
	char path[300], comm[32], stat[128], *p;

	snprintf(path, sizeof(path), "/proc/%s/comm", pid);
	if (read_line(path, comm, sizeof(comm)) || strcmp(comm, "khugepaged"))
		return false;
	/* "pid (comm) S ...": a stopped thread lingers as Z or X a while. */
	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if (read_line(path, stat, sizeof(stat)) || !(p = strrchr(stat, ')')))
		return false;
	return p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/*
 * Limit the injection to khugepaged.  With no size enabled its thread
 * may stop (on 7.3 only if the top-level "enabled" is never too), and a
 * new one (another pid) starts as a size is enabled: call this after
 * enabling one.  Every live khugepaged is marked, and the mark read back.
 */
static int mark_khugepaged(void)
{
	DIR *d = opendir("/proc");
	char path[300], val[8];
	struct dirent *e;

	khugepaged_pid = 0;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9' || !live_khugepaged(e->d_name))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/make-it-fail", e->d_name);
		if (!write_file(path, "1") && !read_line(path, val, sizeof(val)) &&
		    !strcmp(val, "1"))
			khugepaged_pid = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	if (!khugepaged_pid)
		ksft_print_msg("no live khugepaged thread to mark (make-it-fail)\n");
	return khugepaged_pid ? 0 : -1;
}

static uint64_t page_word(int part, int page)
{
	return 0x6661756cULL << 32 | (uint64_t)part << 24 | page;
}

/* Whether a part with @holes percent of its pages empty leaves @page so. */
static bool hole(int holes, int part, int page)
{
	uint32_t h = (uint32_t)(page * 2654435761U) ^ (uint32_t)part * 40503U;

	h ^= h >> 15;
	h *= 2246822519U;
	h ^= h >> 13;
	return h % 100 < (uint32_t)holes;
}

static void fill(char *mem, int nr_pages, int part, int holes)
{
	int i;
	size_t k;

	for (i = 0; i < nr_pages; i++)
		for (k = 0; k < WORDS && !hole(holes, part, i); k += 64)
			((uint64_t *)(mem + i * PAGE_SZ))[k] = page_word(part, i) ^ k;
}

/* The first page whose words differ from what fill() wrote, or -1. */
static int first_bad_page(const char *mem, int nr_pages, int part, int holes)
{
	int i;
	size_t k;

	for (i = 0; i < nr_pages; i++)
		for (k = 0; k < WORDS; k++) {
			uint64_t want = k % 64 || hole(holes, part, i) ? 0 : page_word(part, i) ^ k;

			if (((const uint64_t *)(mem + i * PAGE_SZ))[k] != want)
				return i;
		}
	return -1;
}

/* Every page in a folio of @order; else print the layout. */
static bool layout_is(const char *what, const char *mem, int nr_pages, int order)
{
	static int got[16 * PMD_PAGES];
	char buf[512];
	int i;

	if (folio_orders(mem, nr_pages, got))
		return false;
	for (i = 0; i < nr_pages; i++)
		if (got[i] != order) {
			ksft_print_msg("%s: page %d in an order %d folio, want %d; range %d: %s\n",
				       what, i, got[i], order, i / PMD_PAGES,
				       orders_str(got + i / PMD_PAGES * PMD_PAGES, PMD_PAGES,
						  buf, sizeof(buf)));
			return false;
		}
	return true;
}

static void read_nr_anon(long *v)
{
	char knob[96];
	int order;

	for (order = 2; order <= PMD_ORDER; order++) {
		snprintf(knob, sizeof(knob), "hugepages-%lukB/stats/nr_anon",
			 (PAGE_SZ << order) / 1024);
		v[order] = thp_read_long(knob);
	}
}

/* --- the BPF default policy, through the loader --- */

static char loader[512];

static int loader_cmd(const char *cmd, const char *arg)
{
	char *argv[] = { "mthp-policy", (char *)cmd, (char *)arg, NULL };

	return run_loader(loader, argv, false, NULL);
}

static bool policy_attached;

static void detach_policy(void)
{
	if (policy_attached && !loader_cmd("detach", NULL))
		policy_attached = false;
}

/* --- the parts --- */

struct part {
	const char *name;
	int nr_ranges;
	int holes;		/* percent of pages left empty */
	int page_pct, slab_pct;	/* injected failure rates */
	int min_order;		/* of the failing page allocations */
	int scans;		/* full scans with the failures */
	bool policy;
};

/* Fill the part's ranges (with its holes), collapse them with the injection on; 0 when set up. */
static int collapse_with_faults(const struct part *pt, int id, char *mem, struct thp_stats *a,
				struct thp_stats *b, long *pages_failed, long *slabs_failed)
{
	int n = pt->nr_ranges * PMD_PAGES;

	/* Holes make the range many chunks of many sizes: 0 keeps them so. */
	if (thp_set_orders(0, "never") ||
	    thp_write("khugepaged/max_ptes_none", pt->holes ? "0" : "511"))
		return -1;
	fill(mem, n, id, pt->holes);
	thp_read_stats(a);
	if (inject(FAIL_PAGE, pt->page_pct, pt->min_order) ||
	    inject(FAIL_SLAB, pt->slab_pct, 0) ||
	    thp_set_orders(ALL_ORDERS, "madvise") || mark_khugepaged() ||
	    madvise(mem, n * PAGE_SZ, MADV_HUGEPAGE) ||
	    khugepaged_wait_scans(pt->scans, 100))
		return -1;
	/*
	 * Collapse off before the injection, so that no allocation succeeds
	 * that the injection was to fail, and the layout is read as it was
	 * left.  MADV_NOHUGEPAGE turns it off for the range in one step,
	 * under the mmap_lock: the chunk in flight fails its revalidation
	 * ("changed") and ends its range, and the scan skips the VMA from
	 * then on.  Turning the sizes off one by one would let ranges scanned
	 * meanwhile lose a chunk each.  One more full scan, and khugepaged
	 * has nothing of ours in flight.
	 */
	if (madvise(mem, n * PAGE_SZ, MADV_NOHUGEPAGE) || khugepaged_wait_scans(1, 100) ||
	    thp_set_orders(0, "never"))
		return -1;
	*pages_failed = stop(FAIL_PAGE);
	*slabs_failed = stop(FAIL_SLAB);
	thp_read_stats(b);
	return 0;
}

static void run_part(const struct part *pt, int id)
{
	long anon0[PMD_ORDER + 1], anon1[PMD_ORDER + 1], pages_failed, slabs_failed;
	long pol0[PMD_ORDER + 1] = { 0 }, pol1[PMD_ORDER + 1] = { 0 };
	long why0[NR_POLICY_FAIL_REASONS] = { 0 }, why[NR_POLICY_FAIL_REASONS] = { 0 };
	int n = pt->nr_ranges * PMD_PAGES, order, bad, i;
	struct thp_stats a, b;
	char line[256], key[32];
	bool ok = true;
	long sum = 0;
	char *mem;

	if (pt->policy) {
		const char *why = find_loader(loader, sizeof(loader));

		if (!why && loader_cmd("attach", "default"))
			why = "mthp-policy attach default failed";
		policy_attached = !why;
		if (why) {
			ksft_test_result_skip("%s: %s\n", pt->name, why);
			ksft_test_result_skip("%s: recovery\n", pt->name);
			return;
		}
		for (order = 2; order <= PMD_ORDER; order++) {
			snprintf(key, sizeof(key), "failed_order%d", order);
			pol0[order] = policy_counter("global", key);
		}
		for (i = 0; i < NR_POLICY_FAIL_REASONS; i++)
			why0[i] = policy_counter("global", policy_fail_reasons[i]);
	}
	read_nr_anon(anon0);
	mem = pmd_mmap(pt->nr_ranges);
	if (!mem || collapse_with_faults(pt, id, mem, &a, &b, &pages_failed, &slabs_failed))
		ksft_exit_fail_msg("%s: setup failed\n", pt->name);
	if (pt->policy) {
		for (order = 2; order <= PMD_ORDER; order++) {
			snprintf(key, sizeof(key), "failed_order%d", order);
			pol1[order] = policy_counter("global", key);
		}
		for (i = 0; i < NR_POLICY_FAIL_REASONS; i++)
			why[i] = policy_counter("global", policy_fail_reasons[i]) - why0[i];
		detach_policy();
	}

	thp_size_deltas(a.failed, b.failed, line, sizeof(line));
	ksft_print_msg("%s: injected %ld page and %ld slab failures in %ld full scans; collapse_alloc_failed%s\n",
		       pt->name, pages_failed, slabs_failed, b.full_scans - a.full_scans, line);
	thp_size_deltas(a.alloc, b.alloc, line, sizeof(line));
	ksft_print_msg("%s: collapse_alloc%s\n", pt->name, line);

	if (pt->page_pct && pages_failed <= 0) {
		show_injection();
		ok = false;
	}
	bad = first_bad_page(mem, n, id, pt->holes);
	if (bad >= 0) {
		ksft_print_msg("%s: page %d does not hold what was written\n", pt->name, bad);
		ok = false;
	}
	for (order = 2; order <= PMD_ORDER; order++)
		sum += b.failed[order] - a.failed[order];
	if (pt->page_pct == 100) {
		/* Exactly the fallback: order m - 1 everywhere, nothing above. */
		ok &= layout_is(pt->name, mem, n, pt->min_order - 1);
		for (order = 2; order <= PMD_ORDER; order++) {
			long failed = b.failed[order] - a.failed[order];
			long alloc = b.alloc[order] - a.alloc[order];

			if ((order >= pt->min_order) != (failed > 0) ||
			    (order >= pt->min_order && alloc)) {
				ksft_print_msg("%s: order %d: %ld allocated, %ld failed\n",
					       pt->name, order, alloc, failed);
				ok = false;
			}
		}
	}
	/*
	 * With only allocations of 32K and more failing, khugepaged has no
	 * others to fail: each failure injected is a collapse's.
	 */
	if (pt->min_order >= 3 ? sum != pages_failed : sum > pages_failed) {
		ksft_print_msg("%s: %ld collapse allocations counted failed, %ld failures injected\n",
			       pt->name, sum, pages_failed);
		ok = false;
	}
	if (pt->policy) {
		long psum = 0, ssum = 0, wsum = 0;

		/*
		 * Every allocation the sizes count failed, the policy counts
		 * failed_alloc, at the same sizes; its other failures are
		 * chunks a moment busy (a page off the LRU, say), and at most
		 * one "changed": the chunk in flight when collapse is turned
		 * off at the end (its revalidation fails).  Never a chunk that
		 * a later scan finds a folio of its size already (on 7.3 that
		 * is every chunk of the fallback's 128K on every scan).
		 */
		for (i = 0; i < NR_POLICY_FAIL_REASONS; i++)
			wsum += why[i];
		ksft_print_msg("%s: the policy's failures: alloc %ld busy %ld changed %ld limit %ld other %ld\n",
			       pt->name, why[0], why[1], why[2], why[3], why[4]);
		for (order = 2; order <= PMD_ORDER; order++) {
			long pf = pol1[order] - pol0[order], sf = b.failed[order] - a.failed[order];

			psum += pf;
			ssum += sf;
			if (pf < sf) {
				ksft_print_msg("%s: the policy counted %ld order %d failures, the size's stats %ld\n",
					       pt->name, pf, order, sf);
				ok = false;
			}
		}
		if (why[0] != ssum || why[2] > 1 || psum != wsum) {
			ksft_print_msg("%s: the policy's failures %ld by size, %ld by reason (%ld alloc, %ld changed); collapse_alloc_failed %ld\n",
				       pt->name, psum, wsum, why[0], why[2], ssum);
			ok = false;
		}
	}
	ksft_test_result(ok, "%s: fallback, counters and contents\n", pt->name);

	/* The injection off: the ranges collapse whole, holes and all. */
	if (thp_write("khugepaged/max_ptes_none", "511") ||
	    madvise(mem, n * PAGE_SZ, MADV_HUGEPAGE) ||
	    thp_set_orders(ALL_ORDERS, "madvise") || khugepaged_wait_scans(2, 100))
		ksft_exit_fail_msg("%s: khugepaged did not scan\n", pt->name);
	ok = layout_is(pt->name, mem, n, PMD_ORDER);
	bad = first_bad_page(mem, n, id, pt->holes);
	if (bad >= 0) {
		ksft_print_msg("%s: page %d changed after the recovery\n", pt->name, bad);
		ok = false;
	}
	thp_set_orders(0, "never");
	pmd_unmap(mem, pt->nr_ranges);
	read_nr_anon(anon1);
	for (order = 2; order <= PMD_ORDER; order++)
		if (anon1[order] != anon0[order]) {
			ksft_print_msg("%s: %ld order %d folios before, %ld after unmapping\n",
				       pt->name, anon0[order], order, anon1[order]);
			ok = false;
		}
	ksft_test_result(ok, "%s: recovery to 2M, contents, no folio leaked\n", pt->name);
}

static const struct part parts[] = {
	{ "2M allocations fail", 2, 0, 100, 0, 9, 2, false },
	{ "256K and larger fail", 2, 0, 100, 0, 6, 2, false },
	{ "32K and larger fail", 2, 0, 100, 0, 3, 2, false },
	{ "256K and larger fail, BPF default policy", 2, 0, 100, 0, 6, 2, true },
	/* Not 16K: KASAN's stack depot takes its pools at that order. */
	{ "half of the 32K and larger fail, 3% holes", 8, 3, 50, 0, 3, 3, false },
	{ "a third of all pages and slabs fail, 3% holes", 8, 3, 33, 33, 0, 3, false },
};
#define NR_PARTS (sizeof(parts) / sizeof(parts[0]))

int main(void)
{
	unsigned int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ksft_print_header();
	if (geteuid())
		ksft_exit_skip("needs root for the THP sysfs knobs\n");
	if ((thp_supported_orders() & ALL_ORDERS) != ALL_ORDERS)
		ksft_exit_skip("needs mTHP sysfs for every size from 16K to 2M\n");
	if (access(FAIL_PAGE "/min-order", W_OK) || access(FAIL_SLAB "/probability", W_OK))
		ksft_exit_skip("no fail_page_alloc and failslab in debugfs (CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAILSLAB, CONFIG_FAULT_INJECTION_DEBUG_FS)\n");
	thp_save_knobs();
	atexit(thp_restore_knobs);
	/* At exit, the policy goes last: the injection stops first. */
	atexit(detach_policy);
	atexit(stop_all);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if (thp_write("enabled", "madvise"))
		ksft_exit_fail_msg("THP setup failed\n");

	ksft_set_plan(2 * NR_PARTS);
	for (i = 0; i < NR_PARTS; i++)
		run_part(&parts[i], i);
	ksft_finished();
}
