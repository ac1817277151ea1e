// SPDX-License-Identifier: GPL-2.0
/*
 * Each shipped collapse policy attached for real (with mthp-policy):
 * ranges of known occupancy, khugepaged forced, and the folio layout read
 * back must be the policy's plan (model.c) for that occupancy.  Then a
 * broken policy: its plans are rejected, the rejection counters move and
 * the layout is the kernel default's.  Each policy is detached again and
 * the default must be in charge.  A policy's own chunks fill as many empty
 * PTEs as it chooses: aggressive lays the ranges out the same with
 * max_ptes_none at 0 as at 511.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest.h"
#include "layout.h"
#include "model.h"
#include "mthp.h"

/* Every pattern, one range each. */
static const int all[NPAT] = { 0, 1, 2, 3, 4, 5 };

static char loader[512];

/* Is @name in charge?  (sysfs shows '_' for '-': BPF object names.) */
static int policy_is(const char *name)
{
	char buf[64], want[64], *d;

	read_line("/sys/kernel/mm/transparent_hugepage/khugepaged/policy", buf, sizeof(buf));
	snprintf(want, sizeof(want), "%s", name);
	for (d = want; *d; d++)
		if (*d == '-')
			*d = '_';
	return !strcmp(buf, want);
}

static long policy_stat(const char *key)
{
	return policy_counter("global", key);
}

/*
 * Fault the patterns, attach with "mthp-policy attach @args", and let
 * khugepaged settle with max_ptes_none at @none.  Returns the patterns,
 * or NULL if the attach failed.
 */
static char *attach_and_collapse(const char *args, const char *none)
{
	char *p;

	if (thp_set_orders(0, "never"))
		ksft_exit_fail_msg("setup failed\n");
	p = fault_patterns(all, NPAT);
	if (!p || thp_write("khugepaged/max_ptes_none", none))
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

/* Attach @policy (with @params), collapse with max_ptes_none @none, compare, detach. */
static void check_attached(const char *policy, const char *params, const char *none)
{
	char args[256];
	char *p;
	int ok;

	snprintf(args, sizeof(args), "%s %s", policy, params);
	p = attach_and_collapse(args, none);
	if (!p) {
		ksft_test_result_fail("%s: attach failed\n", policy);
		return;
	}
	ok = policy_is(policy) && policy_stat("calls") > 0;
	ok &= layout_is(p, all, NPAT, policy, policy);
	if (sh("%s detach > /dev/null", loader) || !policy_is("none"))
		ok = 0;
	ksft_test_result(ok, "%s%s%s: layout is the policy's plan%s, then detached\n", policy,
			 *params ? " " : "", params,
			 strcmp(none, "511") ? " with max_ptes_none 0" : "");
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
	p = attach_and_collapse(args, "511");
	if (!p) {
		ksft_test_result_fail("broken mode %s: attach failed\n", mode);
		return;
	}
	snprintf(key, sizeof(key), "rejected_%s", reason);
	rejected = policy_stat(key);
	plans = policy_stat("plans_rejected");
	ok = layout_is(p, all, NPAT, "default", reason) && rejected > 0 && plans > 0 &&
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
	ksft_set_plan(8 + 4);
	check_attached("default", "", "511");
	check_attached("conservative", "", "511");
	check_attached("aggressive", "", "511");
	check_attached("aggressive", "", "0");
	check_attached("threshold", "pct2=100 pct4=50 pct9=90", "511");
	check_attached("hot", "", "511");
	check_attached("pmd_only", "", "511");
	/* A parameter the policy does not have: refused, nothing attached. */
	ksft_test_result(sh("%s attach threshold min_young=5 2>/dev/null", loader) == 1 &&
			 policy_is("none"), "attach with an unknown parameter fails cleanly\n");
	check_broken(broken, "3", "misaligned");
	check_broken(broken, "5", "overlap");
	check_broken(broken, "4", "order");
	check_broken(broken, "0", "retval");
	thp_write("khugepaged/max_ptes_none", "511");
	ksft_finished();
}
