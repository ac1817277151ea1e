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
static void random_range(struct test_range *r, unsigned int n)
{
	static const unsigned int density[] = { 1, 5, 25, 50, 75, 95, 99, 100 };
	static const unsigned int nones[] = { 0, NR - 1, 0, NR - 1, 64, 256 };
	unsigned int d = density[n % 8], i, k;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < NR; i++) {
		unsigned int x = rnd() % 1000;

		if (x < d * 10) {
			set_pte(r->in.present, i);
			if (rnd() % 3)
				set_pte(r->in.young, i);
			if (n % 5 == 1 && rnd() % 100 == 0)
				set_pte(r->in.shared, i);
		} else if (n % 5 == 2 && x >= 997) {
			set_pte(r->in.swap, i);
		}
	}
	/* Some ranges already hold large folios, naturally aligned. */
	for (k = n % 7 == 3 ? 3 : 0; k; k--) {
		unsigned int o = 2 + rnd() % 6, at = (rnd() % (NR >> o)) << o;

		for (i = at; i < at + (1U << o); i++)
			if (test_pte(r->in.present, i))
				r->in.folio_order[i] = o;
	}
	r->t.orders = n % 4 == 0 ? 0x3fc : (rnd() & 0x3fc);
	r->t.max_ptes_none = nones[n % 6];
	r->t.max_ptes_swap = n % 3 ? 64 : 0;
	r->t.max_ptes_shared = 256;
	r->t.uffd_armed = n % 11 == 5;
	r->t.address = 0x7f0000000000ULL + (unsigned long long)n * (2 << 20);
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
	static struct test_range r;
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
		random_range(&r, i);
		model_policy(policy, &r, pct, 0, &want, &use_default);
		ret = range_test_run(fd, &r, 0, NULL);
		if (ret < 0) {
			ksft_print_msg("%s: test run: %s\n", policy, strerror(-ret));
			bad = 1;
			break;
		}
		if (r.t.rejected) {
			ksft_print_msg("%s: range %u: plan rejected, mask %#x\n", policy, i,
				       r.t.rejected);
			bad = 1;
		} else if (use_default ? ret != MTHP_PLAN_DEFAULT || r.t.nr != r.t.default_nr ||
					 memcmp(r.chunk, r.default_chunk,
						r.t.nr * sizeof(r.chunk[0])) :
			   ret != MTHP_PLAN_CUSTOM || !same(&want, r.t.nr, r.chunk)) {
			ksft_print_msg("%s: range %u (orders %#x none %u uffd %u): ret %d, %u chunks, model %u%s\n",
				       policy, i, r.t.orders, r.t.max_ptes_none, r.t.uffd_armed, ret,
				       r.t.nr, want.nr, use_default ? " (default)" : "");
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
	static struct test_range r;
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
		random_range(&r, 7919 * i + 13);
		if (range_test_run(fd, &r, 0, NULL) != MTHP_PLAN_CUSTOM || r.t.rejected) {
			ksft_print_msg("range %u: BPF default failed or was rejected\n", i);
			bad = 1;
		} else if (outcome) {
			model_kernel_outcome(&r, r.default_chunk, r.t.default_nr, &kernel);
			if (!same(&kernel, r.t.nr, r.chunk)) {
				ksft_print_msg("range %u: BPF %u chunks, kernel %u (%u planned)\n",
					       i, r.t.nr, kernel.nr, r.t.default_nr);
				bad = 1;
			}
		} else if (r.t.nr != r.t.default_nr ||
			   memcmp(r.chunk, r.default_chunk, r.t.nr * sizeof(r.chunk[0]))) {
			ksft_print_msg("range %u: BPF %u chunks, kernel %u\n", i, r.t.nr,
				       r.t.default_nr);
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
	static struct test_range r;
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

		memset(&r, 0, sizeof(r));
		for (p = 0; p < NR - 16; p++)		/* the last 64K empty */
			if (cases[i].mode != 9 || p % 2)
				set_pte(r.in.present, p);
		if (cases[i].mode == 7) {	/* a swap entry where no page is */
			r.in.present[100 / 64] &= ~(1ULL << (100 % 64));
			set_pte(r.in.swap, 100);
		}
		if (cases[i].mode == 8)
			set_pte(r.in.shared, 100);
		r.t.orders = 1 << 2 | 1 << 4 | 1 << 9;	/* never order 3 */
		r.t.max_ptes_none = NR - 1;
		r.t.max_ptes_swap = 64;
		r.t.max_ptes_shared = 256;
		r.t.uffd_armed = cases[i].mode == 9;
		set_map(obj, "mode", 0, cases[i].mode >= 7 ? 7 : cases[i].mode);
		ret = range_test_run(fd, &r, 0, NULL);
		ksft_test_result(ret >= 0 && r.t.verdict == MTHP_PLAN_DEFAULT &&
				 (r.t.rejected & (1U << cases[i].reason)) &&
				 r.t.nr == r.t.default_nr &&
				 !memcmp(r.chunk, r.default_chunk, r.t.nr * sizeof(r.chunk[0])),
				 "broken: %s is rejected (mask %#x), default plan used\n",
				 cases[i].what, r.t.rejected);
	}
	bpf_object__close(obj);
}

/*
 * Records no scan makes are refused, not planned; so are a record of
 * another size than the kernel's range, and a data_out too small for the
 * plans (what fits, and the size they take).
 */
static void check_invalid_records(void)
{
	static const char * const what[] = {
		"a PTE both present and swapped", "a shared PTE with no page",
		"a young PTE with no page", "a folio order with no page",
	};
	static struct test_range r;
	struct mthp_policy_chunk one = { 0xffff, 0xffff };
	__u32 nr, default_nr, full;
	struct bpf_object *obj;
	unsigned int i, p;
	int fd = -1, ret;

	obj = load("default", &fd);
	if (!obj) {
		ksft_test_result_fail("invalid records: load\n");
		return;
	}
	for (i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
		memset(&r, 0, sizeof(r));
		for (p = 0; p < NR / 2; p++)
			set_pte(r.in.present, p);
		r.t.orders = 1 << 2 | 1 << 4 | 1 << 9;
		r.t.max_ptes_none = NR - 1;
		r.t.max_ptes_shared = 256;
		switch (i) {
		case 0: set_pte(r.in.swap, 10); break;
		case 1: set_pte(r.in.shared, NR - 10); break;
		case 2: set_pte(r.in.young, NR - 10); break;
		case 3: r.in.folio_order[NR - 10] = 2; break;
		}
		ret = range_test_run(fd, &r, 0, NULL);
		ksft_test_result(ret == -EINVAL, "invalid record: %s is refused (%d)\n",
				 what[i], ret);
	}
	/* The same record without the flaw runs: it is the flaw that is refused. */
	r.in.folio_order[NR - 10] = 0;
	ret = range_test_run(fd, &r, 0, NULL);
	ksft_test_result(ret >= 0, "invalid records: the valid record runs (%d)\n", ret);

	/* That record, said to have twice the kernel's PTEs per PMD. */
	{
		LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &r.t, .ctx_size_in = sizeof(r.t),
			    .data_in = &r.in, .data_size_in = sizeof(r.in));

		r.t.nr_ptes = NR * 2;
		ret = bpf_prog_test_run_opts(fd, &opts) ? -errno : 0;
		ksft_test_result(ret == -EINVAL, "refused: nr_ptes %d, not the kernel's %d (%d)\n",
				 NR * 2, NR, ret);
	}
	/* Its data_in one byte short. */
	{
		LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &r.t, .ctx_size_in = sizeof(r.t),
			    .data_in = &r.in, .data_size_in = sizeof(r.in) - 1);

		r.t.nr_ptes = NR;
		ret = bpf_prog_test_run_opts(fd, &opts) ? -errno : 0;
		ksft_test_result(ret == -EINVAL, "refused: data_size_in %zu, one byte short (%d)\n",
				 sizeof(r.in) - 1, ret);
	}
	/*
	 * A data_out of one chunk, with no empty PTE allowed: the first half
	 * planned in chunks below the PMD size, twice (carried out and
	 * default).  The first chunk comes back, and the size of both plans,
	 * with ENOSPC.
	 */
	r.t.max_ptes_none = 0;
	ret = range_test_run(fd, &r, 0, NULL);
	nr = r.t.nr;
	default_nr = r.t.default_nr;
	full = (nr + default_nr) * sizeof(one);
	if (ret < 0 || !nr || nr + default_nr < 2) {
		ksft_test_result_fail("data_out of one chunk: the range plans %u + %u chunks (%d)\n",
				      nr, default_nr, ret);
	} else {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &r.t, .ctx_size_in = sizeof(r.t),
			    .data_in = &r.in, .data_size_in = sizeof(r.in),
			    .data_out = &one, .data_size_out = sizeof(one));

		r.t.nr_ptes = NR;
		ret = bpf_prog_test_run_opts(fd, &opts) ? -errno : 0;
		ksft_test_result(ret == -ENOSPC && opts.data_size_out == full &&
				 one.offset == r.chunk[0].offset && one.order == r.chunk[0].order,
				 "data_out of one chunk for %u + %u: ENOSPC (%d), data_size_out %u of %u, first chunk %u/%u\n",
				 nr, default_nr, ret, opts.data_size_out, full, one.offset,
				 one.order);
	}
	/*
	 * data_size_out 0 is no limit, as for other program types: both plans
	 * come back whole.
	 */
	{
		static struct mthp_policy_chunk all[2 * PLAN_MAX];
		LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &r.t, .ctx_size_in = sizeof(r.t),
			    .data_in = &r.in, .data_size_in = sizeof(r.in), .data_out = all);

		memset(all, 0xff, sizeof(all));
		r.t.nr_ptes = NR;
		ret = bpf_prog_test_run_opts(fd, &opts) ? -errno : 0;
		ksft_test_result(ret == 0 && opts.data_size_out == full &&
				 !memcmp(all, r.chunk, nr * sizeof(all[0])) &&
				 !memcmp(all + nr, r.default_chunk, default_nr * sizeof(all[0])),
				 "data_out with data_size_out 0: both plans whole (%d), %u of %u bytes\n",
				 ret, opts.data_size_out, full);
	}
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
	const char *why;

	snprintf(dir, sizeof(dir), "%s/bpf-policies", getenv("MTHP_BUILD") ?: "build");
	objdir = argc > 1 ? argv[1] : dir;
	ksft_print_header();
	why = range_geometry_mismatch();
	if (why)
		ksft_exit_skip("%s", why);
	ksft_set_plan(1 + 6 + 10 + 5 + 4);
	check_default_is_kernel(20000 / div);
	for (i = 0; i < 6; i++)
		check_policy(policies[i], 3000 / div);
	check_broken();
	check_invalid_records();
	ksft_finished();
}
