// SPDX-License-Identifier: GPL-2.0
/*
 * Every shipped collapse policy against its specification, through
 * BPF_PROG_TEST_RUN on the real kernel (nothing is attached): many PMD
 * ranges, random and hand-made, each planned by the policy program and by
 * the model of its specification (model.c).  The BPF default must make
 * exactly the kernel's own plan.  A broken policy's plans must be
 * rejected, for the reason it gets wrong, and the default plan used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kselftest.h"
#include "model.h"

#define NR	MTHP_POLICY_NR_PTES

static const char *objdir;
static unsigned int seed = 1;

static unsigned int rnd(void)
{
	seed = seed * 1103515245 + 12345;
	return seed >> 8;
}

static void set_pte(__u64 *map, unsigned int i)
{
	map[i / 64] |= 1ULL << (i % 64);
}

/* A range as a scan could record it: young and shared only where present. */
static void random_range(struct mthp_policy_test *t, unsigned int n)
{
	static const unsigned int density[] = { 1, 5, 25, 50, 75, 95, 99, 100 };
	static const unsigned int nones[] = { 0, NR - 1, 0, NR - 1, 64, 256 };
	unsigned int d = density[n % 8], i, k;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < NR; i++) {
		unsigned int r = rnd() % 1000;

		if (r < d * 10) {
			set_pte(t->present, i);
			if (rnd() % 3)
				set_pte(t->young, i);
			if (n % 5 == 1 && rnd() % 100 == 0)
				set_pte(t->shared, i);
		} else if (n % 5 == 2 && r >= 997) {
			set_pte(t->swap, i);
		}
	}
	/* Some ranges already hold large folios, naturally aligned. */
	for (k = n % 7 == 3 ? 3 : 0; k; k--) {
		unsigned int o = 2 + rnd() % 6, at = (rnd() % (NR >> o)) << o;

		for (i = at; i < at + (1U << o); i++)
			if (test_pte(t->present, i))
				t->folio_order[i] = o;
	}
	t->orders = n % 4 == 0 ? 0x3fc : (rnd() & 0x3fc);
	t->max_ptes_none = nones[n % 6];
	t->max_ptes_swap = n % 3 ? 64 : 0;
	t->max_ptes_shared = 256;
	t->uffd_armed = n % 11 == 5;
	t->address = 0x7f0000000000ULL + (unsigned long long)n * (2 << 20);
}

static int run(int fd, struct mthp_policy_test *t)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = t, .ctx_size_in = sizeof(*t),
		    .ctx_out = t, .ctx_size_out = sizeof(*t));

	return bpf_prog_test_run_opts(fd, &opts) ? -errno : (int)opts.retval;
}

static bool same(const struct model_plan *want, __u32 nr, const struct mthp_policy_chunk *c)
{
	return want->nr == nr && !memcmp(want->chunk, c, nr * sizeof(*c));
}

static struct bpf_object *load(const char *policy, int *fd)
{
	char path[512];
	struct bpf_object *obj;
	struct bpf_program *prog;

	snprintf(path, sizeof(path), "%s/%s.bpf.o", objdir, policy);
	obj = bpf_object__open_file(path, NULL);
	if (!obj || bpf_object__load(obj)) {
		ksft_print_msg("%s: %s\n", path, strerror(errno));
		return NULL;
	}
	bpf_object__for_each_program(prog, obj)
		*fd = bpf_program__fd(prog);
	return obj;
}

static void set_map(struct bpf_object *obj, const char *name, __u32 idx, __u32 val)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, name);

	if (!map || bpf_map__update_elem(map, &idx, sizeof(idx), &val, sizeof(val), 0))
		ksft_exit_fail_msg("cannot set %s[%u]\n", name, idx);
}

/* @n random ranges through @policy; every answer must match the model. */
static void check_policy(const char *policy, unsigned int n)
{
	static unsigned int pct[10] = { [4] = 50, [9] = 100, [6] = 75 };
	static struct mthp_policy_test t;
	struct model_plan want;
	struct bpf_object *obj;
	unsigned int i, bad = 0;
	bool use_default;
	int fd = -1, ret;

	obj = load(policy, &fd);
	if (!obj) {
		ksft_test_result_fail("%s: load\n", policy);
		return;
	}
	if (!strcmp(policy, "threshold")) {
		set_map(obj, "pct", 4, pct[4]);
		set_map(obj, "pct", 6, pct[6]);
		set_map(obj, "pct", 9, pct[9]);
	}
	for (i = 0; i < n && !bad; i++) {
		random_range(&t, i);
		model_policy(policy, &t, pct, 0, &want, &use_default);
		ret = run(fd, &t);
		if (ret < 0) {
			ksft_print_msg("%s: test run: %s\n", policy, strerror(-ret));
			bad = 1;
			break;
		}
		if (t.rejected) {
			ksft_print_msg("%s: range %u: plan rejected, mask %#x\n", policy, i, t.rejected);
			bad = 1;
		} else if (use_default ? ret != MTHP_PLAN_DEFAULT || t.nr != t.default_nr ||
					 memcmp(t.chunk, t.default_chunk, t.nr * sizeof(t.chunk[0])) :
			   ret != MTHP_PLAN_CUSTOM || !same(&want, t.nr, t.chunk)) {
			ksft_print_msg("%s: range %u (orders %#x none %u uffd %u): ret %d, %u chunks, model %u%s\n",
				       policy, i, t.orders, t.max_ptes_none, t.uffd_armed, ret, t.nr,
				       want.nr, use_default ? " (default)" : "");
			bad = 1;
		}
	}
	ksft_test_result(!bad, "%s: %u ranges planned as specified\n", policy, i);
	bpf_object__close(obj);
}

/* The BPF default against the kernel's planner itself. */
static void check_default_is_kernel(unsigned int n)
{
	/*
	 * 7.3's plan lists the chunks upstream's walk tries first, and the
	 * collapse falls back inside each; the 6.12 backport plans only what
	 * it can collapse.  So on 7.3 the BPF default is held to what the
	 * kernel's plan comes to.
	 */
	const char *base = getenv("MTHP_BASE");
	bool outcome = base && !strcmp(base, "7.3");
	static struct mthp_policy_test t;
	struct model_plan kernel;
	struct bpf_object *obj;
	unsigned int i, bad = 0;
	int fd = -1;

	obj = load("default", &fd);
	if (!obj) {
		ksft_test_result_fail("default: load\n");
		return;
	}
	for (i = 0; i < n && !bad; i++) {
		random_range(&t, 7919 * i + 13);
		if (run(fd, &t) != MTHP_PLAN_CUSTOM || t.rejected) {
			ksft_print_msg("range %u: BPF default failed or was rejected\n", i);
			bad = 1;
		} else if (outcome) {
			model_kernel_outcome(&t, t.default_chunk, t.default_nr, &kernel);
			if (!same(&kernel, t.nr, t.chunk)) {
				ksft_print_msg("range %u: BPF %u chunks, kernel %u (%u planned)\n",
					       i, t.nr, kernel.nr, t.default_nr);
				bad = 1;
			}
		} else if (t.nr != t.default_nr ||
			   memcmp(t.chunk, t.default_chunk, t.nr * sizeof(t.chunk[0]))) {
			ksft_print_msg("range %u: BPF %u chunks, kernel %u\n", i, t.nr, t.default_nr);
			bad = 1;
		}
	}
	ksft_test_result(!bad, "BPF default == kernel default on %u ranges%s\n", i,
			 outcome ? " (what the kernel's plan collapses)" : "");
	bpf_object__close(obj);
}

/* Each way of getting it wrong is rejected for that reason. */
static void check_broken(void)
{
	static const struct { unsigned int mode, reason; const char *what; } cases[] = {
		{ 0, MTHP_REJECT_RETVAL, "unknown return value" },
		{ 1, MTHP_REJECT_TOO_MANY, "more chunks than fit" },
		{ 2, MTHP_REJECT_RANGE, "chunk past the range" },
		{ 3, MTHP_REJECT_MISALIGNED, "misaligned chunk" },
		{ 4, MTHP_REJECT_ORDER, "disabled order" },
		{ 5, MTHP_REJECT_OVERLAP, "overlapping chunks" },
		{ 6, MTHP_REJECT_EMPTY, "empty chunk" },
		{ 7, MTHP_REJECT_SWAP, "chunk with a swap entry" },
		{ 8, MTHP_REJECT_SHARED, "chunk with a shared page" },
		{ 9, MTHP_REJECT_UFFD, "empty PTEs under userfaultfd" },
	};
	static struct mthp_policy_test t;
	struct bpf_object *obj;
	unsigned int i;
	int fd = -1;

	obj = load("broken", &fd);
	if (!obj) {
		ksft_test_result_fail("broken: load\n");
		return;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned int p;
		int ret;

		memset(&t, 0, sizeof(t));
		for (p = 0; p < NR - 16; p++)		/* the last 64K empty */
			if (cases[i].mode != 9 || p % 2)
				set_pte(t.present, p);
		if (cases[i].mode == 7) {	/* a swap entry where no page is */
			t.present[100 / 64] &= ~(1ULL << (100 % 64));
			set_pte(t.swap, 100);
		}
		if (cases[i].mode == 8)
			set_pte(t.shared, 100);
		t.orders = 1 << 2 | 1 << 4 | 1 << 9;	/* never order 3 */
		t.max_ptes_none = NR - 1;
		t.max_ptes_swap = 64;
		t.max_ptes_shared = 256;
		t.uffd_armed = cases[i].mode == 9;
		set_map(obj, "mode", 0, cases[i].mode >= 7 ? 7 : cases[i].mode);
		ret = run(fd, &t);
		ksft_test_result(ret >= 0 && t.verdict == MTHP_PLAN_DEFAULT &&
				 (t.rejected & (1U << cases[i].reason)) &&
				 t.nr == t.default_nr &&
				 !memcmp(t.chunk, t.default_chunk, t.nr * sizeof(t.chunk[0])),
				 "broken: %s is rejected (mask %#x), default plan used\n",
				 cases[i].what, t.rejected);
	}
	bpf_object__close(obj);
}

/* Records no scan makes are refused, not planned. */
static void check_invalid_records(void)
{
	static const char * const what[] = {
		"a PTE both present and swapped", "a shared PTE with no page",
		"a young PTE with no page", "a folio order with no page",
		"a non-zero pad",
	};
	static struct mthp_policy_test t;
	struct bpf_object *obj;
	unsigned int i, p;
	int fd = -1, ret;

	obj = load("default", &fd);
	if (!obj) {
		ksft_test_result_fail("invalid records: load\n");
		return;
	}
	for (i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
		memset(&t, 0, sizeof(t));
		for (p = 0; p < NR / 2; p++)
			set_pte(t.present, p);
		t.orders = 1 << 2 | 1 << 4 | 1 << 9;
		t.max_ptes_none = NR - 1;
		t.max_ptes_shared = 256;
		switch (i) {
		case 0: set_pte(t.swap, 10); break;
		case 1: set_pte(t.shared, NR - 10); break;
		case 2: set_pte(t.young, NR - 10); break;
		case 3: t.folio_order[NR - 10] = 2; break;
		case 4: t.pad = 1; break;
		}
		ret = run(fd, &t);
		ksft_test_result(ret == -EINVAL, "invalid record: %s is refused (%d)\n",
				 what[i], ret);
	}
	/* The same record without the flaw runs: it is the flaw that is refused. */
	t.pad = 0;
	ret = run(fd, &t);
	ksft_test_result(ret >= 0, "invalid records: the valid record runs (%d)\n", ret);
	bpf_object__close(obj);
}

int main(int argc, char **argv)
{
	static const char * const policies[] = {
		"default", "conservative", "aggressive", "threshold", "hot", "pmd_only",
	};
	const char *flavour = getenv("MTHP_FLAVOUR");
	/*
	 * A fifth as many ranges on the debug kernel, where each test run
	 * takes milliseconds: it is there for KASAN and lockdep, and the
	 * normal kernel checks the full count.
	 */
	unsigned int div = flavour && !strcmp(flavour, "debug") ? 5 : 1, i;
	static char dir[512];

	snprintf(dir, sizeof(dir), "%s/bpf-policies", getenv("MTHP_BUILD") ?: "build");
	objdir = argc > 1 ? argv[1] : dir;
	ksft_print_header();
	ksft_set_plan(1 + 6 + 10 + 6);
	check_default_is_kernel(20000 / div);
	for (i = 0; i < 6; i++)
		check_policy(policies[i], 3000 / div);
	check_broken();
	check_invalid_records();
	ksft_finished();
}
