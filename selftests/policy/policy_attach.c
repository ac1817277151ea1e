// SPDX-License-Identifier: GPL-2.0
/*
 * Each shipped collapse policy attached for real (with mthp-policy):
 * ranges of known occupancy, khugepaged forced, and the folio layout read
 * back must be the policy's plan (model.c) for that occupancy.  Then a
 * broken policy: its plans are rejected, the rejection counters move and
 * the layout is the kernel default's.  Each policy is detached again and
 * the default must be in charge.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest.h"
#include "model.h"
#include "mthp.h"

#define ORDERS	(1U << 2 | 1U << 4 | 1U << 9)

struct pattern {
	const char *name;
	int (*occupied)(int pte);
	int young_pct;		/* pages touched again after clear_refs */
};

static int full(int pte) { (void)pte; return 1; }
static int first_half(int pte) { return pte < 256; }
static int alt_16k(int pte) { return !((pte / 4) & 1); }
static int one_page(int pte) { return pte == 300; }
static int almost_64k(int pte) { return pte >= 64 && pte < 79; }
static int three_quarters(int pte) { return pte < 384; }

static const struct pattern patterns[] = {
	{ "full", full, 100 },
	{ "first half", first_half, 100 },
	{ "every other 16K", alt_16k, 100 },
	{ "one page", one_page, 100 },
	{ "64K minus one page", almost_64k, 100 },
	{ "three quarters, 10% young", three_quarters, 10 },
};
#define NPAT (sizeof(patterns) / sizeof(patterns[0]))

static char loader[512];

static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Is @name in charge?  (sysfs shows '_' for '-': BPF object names.) */
static int policy_is(const char *name)
{
	char buf[64] = "", want[64], *d;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/khugepaged/policy", "r");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
	snprintf(want, sizeof(want), "%s", name);
	for (d = want; *d; d++)
		if (*d == '-')
			*d = '_';
	return !strcmp(buf, want);
}

static long policy_stat(const char *key)
{
	return file_key_value("/sys/kernel/mm/transparent_hugepage/khugepaged/policy_stats", key);
}

/* Fault the patterns as small pages, with the young bits they ask for. */
static char *fault_patterns(void)
{
	size_t i;
	char *p;
	int pte;

	if (thp_set_orders(0, "never"))
		return NULL;
	p = pmd_mmap(NPAT);
	if (!p)
		return NULL;
	for (i = 0; i < NPAT; i++)
		for (pte = 0; pte < PMD_PAGES; pte++)
			if (patterns[i].occupied(pte))
				p[i * PMD_SZ + pte * PAGE_SZ] = 1;
	/* Age everything, then touch again what should look young. */
	if (sh("echo 1 > /proc/%d/clear_refs", getpid()))
		return NULL;
	for (i = 0; i < NPAT; i++)
		for (pte = 0; pte < PMD_PAGES; pte++)
			if (patterns[i].occupied(pte) && pte % 100 < patterns[i].young_pct)
				p[i * PMD_SZ + pte * PAGE_SZ] = 1;
	return p;
}

/*
 * What the range looks like once khugepaged has no more to do under
 * @policy: plan, collapse, and plan again, since a collapse adds pages (and
 * new PTEs start young), which may make a larger chunk qualify next time.
 * A chunk with no young page is skipped by the kernel, and a PMD-mapped
 * range is not scanned again.
 */
static void expected(const char *policy, const struct pattern *pat, int *want)
{
	static struct mthp_policy_test t;
	unsigned int pct[10] = { [2] = 100, [4] = 50, [9] = 90 };
	struct model_plan plan;
	unsigned int c, i, pass;
	bool use_default;
	int pte;

	memset(&t, 0, sizeof(t));
	for (pte = 0; pte < PMD_PAGES; pte++) {
		want[pte] = pat->occupied(pte) ? 0 : ORDER_NONE;
		if (!pat->occupied(pte))
			continue;
		t.present[pte / 64] |= 1ULL << (pte % 64);
		if (pte % 100 < pat->young_pct)
			t.young[pte / 64] |= 1ULL << (pte % 64);
	}
	t.orders = ORDERS;
	t.max_ptes_none = PMD_PAGES - 1;
	t.max_ptes_swap = 64;
	t.max_ptes_shared = 256;
	for (pass = 0; pass < 10; pass++) {
		bool changed = false, pmd = false;

		model_policy(policy, &t, pct, 0, &plan, &use_default);
		if (use_default)
			model_plan(&t, ~0U, MODEL_DEFAULT, NULL, &plan);
		for (c = 0; c < plan.nr; c++) {
			unsigned int off = plan.chunk[c].offset, order = plan.chunk[c].order;
			unsigned int nr = 1U << order, young = 0;

			for (i = off; i < off + nr; i++)
				young += test_pte(t.young, i);
			if (!young)
				continue;
			for (i = off; i < off + nr; i++) {
				want[i] = order;
				t.folio_order[i] = order;
				t.present[i / 64] |= 1ULL << (i % 64);
				t.young[i / 64] |= 1ULL << (i % 64);
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
static int settle(char *p, size_t n)
{
	static int a[PMD_PAGES * 8], b[PMD_PAGES * 8];
	int round, stable = 0;

	if (folio_orders(p, n * PMD_PAGES, a))
		return -1;
	for (round = 0; round < 12 && stable < 2; round++) {
		if (khugepaged_wait_scans(2, 120) || folio_orders(p, n * PMD_PAGES, b))
			return -1;
		stable = memcmp(a, b, n * PMD_PAGES * sizeof(a[0])) ? 0 : stable + 1;
		memcpy(a, b, n * PMD_PAGES * sizeof(a[0]));
	}
	return stable < 2 ? -1 : 0;
}

/*
 * Fault the patterns, attach with "mthp-policy attach @args", and let
 * khugepaged settle.  Returns the patterns, or NULL if the attach failed.
 */
static char *attach_and_collapse(const char *args)
{
	char *p = fault_patterns();

	if (!p || thp_write("khugepaged/max_ptes_none", "511"))
		ksft_exit_fail_msg("setup failed\n");
	if (sh("%s attach %s", loader, args)) {
		pmd_unmap(p, NPAT);
		return NULL;
	}
	if (thp_set_orders(ORDERS, "madvise") || madvise(p, NPAT * PMD_SZ, MADV_HUGEPAGE) ||
	    settle(p, NPAT))
		ksft_exit_fail_msg("collapse setup failed\n");
	return p;
}

/* Is every pattern laid out as @model plans it?  Shows the ones that are not. */
static int layout_is(char *p, const char *model, const char *label)
{
	static int got[PMD_PAGES], want[PMD_PAGES];
	char buf[512];
	size_t i;
	int ok = 1, pte;

	for (i = 0; i < NPAT; i++) {
		if (folio_orders(p + i * PMD_SZ, PMD_PAGES, got))
			ksft_exit_fail_msg("folio_orders failed\n");
		expected(model, &patterns[i], want);
		for (pte = 0; pte < PMD_PAGES && got[pte] == want[pte]; pte++)
			;
		if (pte == PMD_PAGES)
			continue;
		ok = 0;
		ksft_print_msg("%s, %s:\n", label, patterns[i].name);
		ksft_print_msg("  got    %s\n", orders_str(got, PMD_PAGES, buf, sizeof(buf)));
		ksft_print_msg("  expect %s\n", orders_str(want, PMD_PAGES, buf, sizeof(buf)));
	}
	return ok;
}

/* Attach @policy (with @params), collapse, compare, detach. */
static void check_attached(const char *policy, const char *params)
{
	char args[256];
	char *p;
	int ok;

	snprintf(args, sizeof(args), "%s %s", policy, params);
	p = attach_and_collapse(args);
	if (!p) {
		ksft_test_result_fail("%s: attach failed\n", policy);
		return;
	}
	ok = policy_is(policy) && policy_stat("calls") > 0;
	ok &= layout_is(p, policy, policy);
	if (sh("%s detach > /dev/null", loader) || !policy_is("none"))
		ok = 0;
	ksft_test_result(ok, "%s%s%s: layout is the policy's plan, then detached\n", policy,
			 *params ? " " : "", params);
	pmd_unmap(p, NPAT);
}

/* Every plan rejected: the kernel default's layout, counters moved. */
static void check_broken(const char *obj, const char *mode, const char *reason)
{
	char args[512], key[64];
	long rejected, plans;
	char *p;
	int ok;

	snprintf(args, sizeof(args), "%s mode=%s", obj, mode);
	p = attach_and_collapse(args);
	if (!p) {
		ksft_test_result_fail("broken mode %s: attach failed\n", mode);
		return;
	}
	snprintf(key, sizeof(key), "rejected_%s", reason);
	rejected = policy_stat(key);
	plans = policy_stat("plans_rejected");
	ok = layout_is(p, "default", reason) && rejected > 0 && plans > 0 &&
	     policy_stat("plans_custom") == 0;
	sh("%s detach > /dev/null", loader);
	ksft_test_result(ok, "broken (%s): %ld chunks and %ld plans rejected, default layout\n",
			 reason, rejected, plans);
	pmd_unmap(p, NPAT);
}

int main(void)
{
	const char *build = getenv("MTHP_BUILD");
	char broken[512];

	ksft_print_header();
	if (!build || access("/sys/kernel/mm/transparent_hugepage/khugepaged/policy", F_OK))
		ksft_exit_skip("needs MTHP_BUILD and a kernel with CONFIG_KHUGEPAGED_BPF\n");
	snprintf(loader, sizeof(loader), "%s/loader/mthp-policy", build);
	snprintf(broken, sizeof(broken), "%s/bpf-policies/broken.bpf.o", build);
	sh("%s detach > /dev/null 2>&1", loader);
	ksft_set_plan(7 + 4);
	check_attached("default", "");
	check_attached("conservative", "");
	check_attached("aggressive", "");
	check_attached("threshold", "pct2=100 pct4=50 pct9=90");
	check_attached("hot", "");
	check_attached("pmd-only", "");
	/* A parameter the policy does not have: refused, nothing attached. */
	ksft_test_result(sh("%s attach threshold min_young=5 2>/dev/null", loader) == 1 &&
			 policy_is("none"), "attach with an unknown parameter fails cleanly\n");
	check_broken(broken, "3", "misaligned");
	check_broken(broken, "5", "overlap");
	check_broken(broken, "4", "order");
	check_broken(broken, "0", "retval");
	ksft_finished();
}
