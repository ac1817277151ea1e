// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzzed plans: the fuzz policy (bpf-policies/tests/fuzz.bpf.c) answers
 * random ranges with pseudo-random plans, valid and not (misaligned,
 * overlapping, past the range, orders not enabled, chunks with swap
 * entries, shared pages, no page or holes under userfaultfd, too many,
 * unknown verdicts), drawn from a seed.
 *
 * Through BPF_PROG_TEST_RUN, each plan the program recorded is judged by
 * a model of the rules written here from Documentation/policy-api.md ("How
 * the kernel checks a plan"), independent of the kernel's code and of the
 * other tests' model; the kernel's verdict, rejection mask and the plan
 * that stands must be the model's.  Then, live: the policy attached
 * system-wide while khugepaged runs over ranges with shared and swapped
 * pages; every call is reported by the program with what the kernel told
 * it about the range, and the policy's counters must be what the model
 * says of those calls; no folio may break a rule (misaligned, an order
 * not enabled, a shared page below the PMD size), and the data must be
 * intact.
 *
 *   policy_fuzz [-s SEED] [-k SEEDS] [-n ITERATIONS] [-l SECONDS] [OBJDIR]
 *   policy_fuzz -s SEED -i ITERATION [-c CATEGORY] [-f] [OBJDIR]
 *						replay one plan, verbosely
 *
 * SEED (also MTHP_FUZZ_SEED, default 1), ITERATIONS per seed (also
 * MTHP_FUZZ_ITERS; default 10000, 2000 on the debug kernel), SEEDS seeds
 * from SEED up (default 4), SECONDS for the live part (0: none).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kselftest.h"
#include "mthp.h"
#include "range.h"
#include "../../bpf-policies/tests/fuzz.h"

#define NREASON		__MTHP_REJECT_NR
#define MIN_ORDER	2

static const char * const reason_name[NREASON] = {
	[MTHP_REJECT_RETVAL] = "retval", [MTHP_REJECT_TOO_MANY] = "too_many",
	[MTHP_REJECT_RANGE] = "range", [MTHP_REJECT_MISALIGNED] = "misaligned",
	[MTHP_REJECT_ORDER] = "order", [MTHP_REJECT_OVERLAP] = "overlap",
	[MTHP_REJECT_EMPTY] = "empty", [MTHP_REJECT_SWAP] = "swap",
	[MTHP_REJECT_SHARED] = "shared", [MTHP_REJECT_UFFD] = "uffd",
};

static const char * const category_name[FUZZ_NR] = {
	"valid", "nothing", "random", "misaligned", "overlap", "range", "order",
	"unsafe", "too_many", "retval", "default", "plan_default", "mix",
};

/* ---- the model of the rules ---- */

struct counts {
	unsigned int present, swap, shared;
};

/* A range as the rules see it: from a test record's bitmaps, or per 4-PTE unit. */
struct rules_range {
	unsigned int nr_ptes, pmd_order, orders, max_swap, max_shared, uffd;
	const __u64 *present, *swap, *shared;		/* bit n: PTE n */
	const __u8 *upresent, *uswap, *ushared;		/* or counts per unit */
};

static unsigned int bit(const __u64 *map, unsigned int i)
{
	return map[i / 64] >> (i % 64) & 1;
}

/* What the chunk [@off, @off + 2^@order) holds; it is inside the range. */
static void chunk_counts(const struct rules_range *g, unsigned int off, unsigned int order,
			 struct counts *c)
{
	unsigned int i, end = off + (1U << order);

	memset(c, 0, sizeof(*c));
	if (g->present) {
		for (i = off; i < end; i++) {
			c->present += bit(g->present, i);
			c->swap += bit(g->swap, i);
			c->shared += bit(g->shared, i);
		}
		return;
	}
	for (i = off / 4; i < end / 4; i++) {
		c->present += g->upresent[i];
		c->swap += g->uswap[i];
		c->shared += g->ushared[i];
	}
}

struct judgement {
	int verdict;			/* MTHP_PLAN_CUSTOM or MTHP_PLAN_DEFAULT */
	__u32 mask;			/* reasons, as bits */
	unsigned int counted[NREASON];	/* as rejected_<reason> counts them */
	unsigned int nr;		/* the policy's plan, if it stands */
	struct mthp_policy_chunk chunk[PLAN_MAX];
};

/*
 * The rules, from the documentation: MTHP_PLAN_DEFAULT asks for the
 * kernel's plan; any value but the two verdicts is rejected (retval).  A
 * plan holds at most one chunk per 4-PTE unit of the range: more, and it
 * is rejected (too_many), with the chunks it holds still checked.  Each
 * chunk is judged by the first rule it breaks, in the order of the table:
 * an enabled order from 2 to the PMD order, aligned to its size, inside
 * the range, disjoint from the chunks before it, at least one page, no
 * swap entry (at the PMD order: at most max_ptes_swap), no shared page (at
 * most max_ptes_shared), no empty PTE under userfaultfd.  A chunk that
 * is not a chunk of the range (bad order, misaligned, outside) covers no
 * PTEs, and one refused as overlapping covers none either, so the next
 * is compared with the chunks placed; either way a plan with an overlap
 * has its first one refused as overlapping.
 */
static void judge(const struct rules_range *g, int ret, const struct fuzz_chunk *plan,
		  unsigned int n, struct judgement *j)
{
	static unsigned char placed[8192];
	unsigned int units = g->nr_ptes / 4, i, k;

	memset(j, 0, sizeof(*j));
	j->verdict = MTHP_PLAN_DEFAULT;
	if (ret == MTHP_PLAN_DEFAULT)
		return;
	if (ret != MTHP_PLAN_CUSTOM) {
		j->mask = 1U << MTHP_REJECT_RETVAL;
		j->counted[MTHP_REJECT_RETVAL] = 1;
		return;
	}
	if (n > units) {
		j->mask |= 1U << MTHP_REJECT_TOO_MANY;
		j->counted[MTHP_REJECT_TOO_MANY] = 1;
		n = units;
	}
	memset(placed, 0, g->nr_ptes);
	for (i = 0; i < n; i++) {
		unsigned long long off = plan[i].offset, size = 0;
		unsigned int order = plan[i].order, none;
		int why = -1;
		struct counts c;

		if (order >= MIN_ORDER && order <= g->pmd_order)
			size = 1ULL << order;
		if (!size || !(g->orders >> order & 1)) {
			why = MTHP_REJECT_ORDER;
		} else if (off % size) {
			why = MTHP_REJECT_MISALIGNED;
		} else if (off + size > g->nr_ptes) {
			why = MTHP_REJECT_RANGE;
		} else {
			for (k = off; k < off + size && !placed[k]; k++)
				;
			if (k < off + size) {
				why = MTHP_REJECT_OVERLAP;
			} else {
				memset(placed + off, 1, size);
				chunk_counts(g, off, order, &c);
				none = size - c.present - c.swap;
				if (!c.present)
					why = MTHP_REJECT_EMPTY;
				else if (order == g->pmd_order ? c.swap > g->max_swap : c.swap > 0)
					why = MTHP_REJECT_SWAP;
				else if (order == g->pmd_order ? c.shared > g->max_shared :
								 c.shared > 0)
					why = MTHP_REJECT_SHARED;
				else if (g->uffd && none)
					why = MTHP_REJECT_UFFD;
			}
		}
		if (why >= 0) {
			j->mask |= 1U << why;
			j->counted[why]++;
		} else if (j->nr < PLAN_MAX) {
			j->chunk[j->nr].offset = off;
			j->chunk[j->nr].order = order;
			j->nr++;
		}
	}
	if (!j->mask)
		j->verdict = MTHP_PLAN_CUSTOM;
}

static char *mask_str(__u32 mask, char *buf, size_t len)
{
	size_t off = 0;
	int r;

	buf[0] = '\0';
	for (r = 0; r < NREASON; r++)
		if (mask & (1U << r))
			off += snprintf(buf + off, len - off, "%s%s", off ? "|" : "",
					reason_name[r]);
	if (!off)
		snprintf(buf, len, "-");
	return buf;
}

/* ---- random ranges ---- */

static __u64 mix64(__u64 x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static __u32 next32(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s >> 32;
}

static __u32 below(__u64 *s, __u32 n)
{
	return n ? next32(s) % n : 0;
}

static void set_bit64(__u64 *map, unsigned int i)
{
	map[i / 64] |= 1ULL << (i % 64);
}

static void clear_bit64(__u64 *map, unsigned int i)
{
	map[i / 64] &= ~(1ULL << (i % 64));
}

/*
 * Iteration @it of @seed: a range a scan could record (swap entries only
 * where no page is, shared and young pages and folio orders only where
 * one is), with densities from empty to full, runs and holes, large
 * folios, and the limits and enabled orders drawn too.
 */
static void fuzz_range(unsigned int seed, unsigned int it, struct test_range *r)
{
	static const unsigned int density[] = { 0, 1, 5, 30, 60, 90, 99, 100, 100, 100 };
	static const unsigned int nones[] = { 0, NR - 1, 64, 256 };
	static const unsigned int swaps[] = { 0, 1, 8, 64, NR - 1 };
	static const unsigned int shareds[] = { 0, 1, 256, NR - 1 };
	__u64 s = mix64(((__u64)seed << 32 | it) + 0x9e3779b97f4a7c15ULL) | 1;
	unsigned int d = density[below(&s, 10)], swap_pm = 0, shared_pm = 0, i, k;
	bool runs = below(&s, 4) == 0, on = false;

	memset(r, 0, sizeof(*r));
	if (below(&s, 3) == 0)
		swap_pm = below(&s, 2) ? 5 : 40;
	if (below(&s, 3) == 0)
		shared_pm = below(&s, 2) ? 5 : 50;
	for (i = 0; i < NR; i++) {
		/* PTE by PTE, or in runs of 16 PTEs. */
		if (!runs || i % 16 == 0)
			on = below(&s, 100) < d;
		if (on) {
			set_bit64(r->in.present, i);
			if (below(&s, 10) < 7)
				set_bit64(r->in.young, i);
			if (below(&s, 1000) < shared_pm)
				set_bit64(r->in.shared, i);
		} else if (below(&s, 1000) < swap_pm) {
			set_bit64(r->in.swap, i);
		}
	}
	/* Large folios, naturally aligned and mapped whole. */
	for (k = below(&s, 3) ? 0 : 1 + below(&s, 4); k; k--) {
		unsigned int o = MIN_ORDER + below(&s, 7), at = below(&s, NR >> o) << o;

		for (i = at; i < at + (1U << o); i++) {
			set_bit64(r->in.present, i);
			clear_bit64(r->in.swap, i);
			r->in.folio_order[i] = o;
		}
	}
	switch (below(&s, 4)) {
	case 0:
		r->t.orders = 0x3fc;
		break;
	case 1:	/* bits the kernel has no sizes for ride along */
		r->t.orders = next32(&s) | 1U << PMD_ORDER;
		break;
	default:
		r->t.orders = next32(&s) & 0x3fc;
		break;
	}
	r->t.max_ptes_none = nones[below(&s, 4)];
	r->t.max_ptes_swap = swaps[below(&s, 5)];
	r->t.max_ptes_shared = shareds[below(&s, 4)];
	r->t.uffd_armed = below(&s, 8) == 0;
	r->t.address = 0x7f0000000000ULL + ((__u64)it << 21);
	r->t.vm_start = r->t.address;
	r->t.vm_end = r->t.address + (2 << 20);
}

/* ---- the test runs ---- */

static struct bpf_object *obj;
static int prog_fd = -1;
static struct fuzz_state *st;
static const char *objdir;

static struct {
	unsigned long plans, custom, asked_default, rejected, mismatches;
	unsigned long by_reason[NREASON];	/* plans with the reason in their mask */
	unsigned long chunks[NREASON];		/* as rejected_<reason> counts */
	unsigned long category[FUZZ_NR];
} fig;

static void set_seed(unsigned int seed)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "seed");
	__u32 key = 0;

	if (!map || bpf_map__update_elem(map, &key, sizeof(key), &seed, sizeof(seed), 0))
		ksft_exit_fail_msg("cannot set the seed: %s\n", strerror(errno));
}

/* Load a fresh fuzz object; its program's fd in prog_fd, its .bss in st. */
static void load(void)
{
	char path[512];
	struct bpf_program *prog;
	struct bpf_map *map;
	size_t size = 0;

	snprintf(path, sizeof(path), "%s/fuzz.bpf.o", objdir);
	obj = bpf_object__open_file(path, NULL);
	if (!obj || bpf_object__load(obj))
		ksft_exit_fail_msg("%s: %s\n", path, strerror(errno));
	bpf_object__for_each_program(prog, obj)
		prog_fd = bpf_program__fd(prog);
	st = NULL;
	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		size_t n = strlen(name);

		if (bpf_map__is_internal(map) && n >= 4 && !strcmp(name + n - 4, ".bss"))
			st = bpf_map__initial_value(map, &size);
	}
	if (!st || size != sizeof(*st))
		ksft_exit_fail_msg("fuzz.bpf.o: no .bss of %zu bytes (%zu)\n", sizeof(*st), size);
}

static void dump_map(const char *what, const __u64 *map)
{
	char buf[NR / 4 + 1];
	unsigned int i;

	for (i = 0; i < NR / 4; i++)
		buf[i] = "0123456789abcdef"[(map[i * 4 / 64] >> (i * 4 % 64)) & 0xf];
	buf[NR / 4] = '\0';
	ksft_print_msg("  %-8s %s\n", what, buf);
}

static void dump_plan(const char *what, const struct mthp_policy_chunk *c, unsigned int n)
{
	char buf[2048];
	size_t off = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < n && off < sizeof(buf) - 32; i++)
		off += snprintf(buf + off, sizeof(buf) - off, " %u/%u", c[i].offset, c[i].order);
	ksft_print_msg("  %s: %u chunks (offset/order):%s%s\n", what, n, buf, i < n ? " ..." : "");
}

/* Everything needed to see again what iteration @it of @seed did. */
static void dump(unsigned int seed, unsigned int it, const struct test_range *r,
		 const struct fuzz_chunk *plan, unsigned int n, int ret,
		 const struct judgement *j)
{
	char buf[4096], m1[128], m2[128];
	size_t off = 0;
	unsigned int i;

	ksft_print_msg("seed %u iteration %u (replay: policy_fuzz -s %u -i %u): category %s, returned %d\n",
		       seed, it, seed, it, st->rec.category < FUZZ_NR ?
		       category_name[st->rec.category] : "?", ret);
	ksft_print_msg("  range: orders %#x max_ptes none %u swap %u shared %u uffd %u\n",
		       r->t.orders, r->t.max_ptes_none, r->t.max_ptes_swap, r->t.max_ptes_shared,
		       r->t.uffd_armed);
	dump_map("present", r->in.present);
	dump_map("swap", r->in.swap);
	dump_map("shared", r->in.shared);
	dump_map("young", r->in.young);
	for (i = 0; i < NR; i++)
		if (r->in.folio_order[i] && (!i || r->in.folio_order[i - 1] != r->in.folio_order[i]))
			off += snprintf(buf + off, sizeof(buf) - off, " %u:%u", i,
					r->in.folio_order[i]);
	ksft_print_msg("  folios (first PTE:order):%s\n", off ? buf : " none");
	for (off = 0, i = 0; i < n && off < sizeof(buf) - 32; i++)
		off += snprintf(buf + off, sizeof(buf) - off, plan[i].offset == FUZZ_DEFAULT_PLAN &&
				plan[i].order == FUZZ_DEFAULT_PLAN ? " <default>" : " %u/%u",
				plan[i].offset, plan[i].order);
	ksft_print_msg("  program's plan: %u entries (offset/order):%s%s\n", n, off ? buf : "",
		       i < n ? " ..." : "");
	dump_plan("default plan", r->default_chunk, r->t.default_nr);
	ksft_print_msg("  kernel: verdict %u rejected %s; model: verdict %d rejected %s\n",
		       r->t.verdict, mask_str(r->t.rejected, m1, sizeof(m1)), j->verdict,
		       mask_str(j->mask, m2, sizeof(m2)));
	dump_plan("kernel's plan that stands", r->chunk, r->t.nr);
	if (j->verdict == MTHP_PLAN_CUSTOM)
		dump_plan("model's plan that stands", j->chunk, j->nr);
}

/*
 * Iteration @it of @seed through the kernel and the model; with @verbose,
 * print it whatever the outcome.  Returns whether they agree.
 */
static bool run_one(unsigned int seed, unsigned int it, bool verbose)
{
	static struct test_range r;
	static struct fuzz_chunk plan[FUZZ_REC_MAX + PLAN_MAX];
	struct rules_range g;
	struct judgement j;
	unsigned int n = 0, i, k;
	int ret;
	bool ok;

	fuzz_range(seed, it, &r);
	st->next_call = it;
	/* The program may return anything: errno tells a failed test run. */
	errno = 0;
	ret = range_test_run(prog_fd, &r, 0, NULL);
	if (errno) {
		ksft_print_msg("seed %u iteration %u: test run: %s\n", seed, it, strerror(errno));
		return false;
	}
	if (st->rec.call != it || st->rec.truncated || st->rec.nr > FUZZ_REC_MAX) {
		ksft_print_msg("seed %u iteration %u: the program's record is not this call's\n",
			       seed, it);
		return false;
	}
	/* The plan as the kernel got it: bpf_mthp_plan_default() added its chunks. */
	for (i = 0; i < st->rec.nr; i++) {
		const struct fuzz_chunk *c = &st->rec.chunk[i];

		if (c->offset == FUZZ_DEFAULT_PLAN && c->order == FUZZ_DEFAULT_PLAN) {
			for (k = 0; k < r.t.default_nr; k++) {
				plan[n].offset = r.default_chunk[k].offset;
				plan[n++].order = r.default_chunk[k].order;
			}
		} else {
			plan[n++] = *c;
		}
	}
	g = (struct rules_range) {
		.nr_ptes = NR, .pmd_order = __builtin_ctz(NR), .orders = r.t.orders,
		.max_swap = r.t.max_ptes_swap, .max_shared = r.t.max_ptes_shared,
		.uffd = r.t.uffd_armed,
		.present = r.in.present, .swap = r.in.swap, .shared = r.in.shared,
	};
	judge(&g, st->rec.ret, plan, n, &j);
	ok = ret == st->rec.ret && r.t.verdict == (__u32)j.verdict && r.t.rejected == j.mask;
	if (ok && j.verdict == MTHP_PLAN_CUSTOM)
		ok = r.t.nr == j.nr && !memcmp(r.chunk, j.chunk, j.nr * sizeof(j.chunk[0]));
	else if (ok)
		ok = r.t.nr == r.t.default_nr &&
		     !memcmp(r.chunk, r.default_chunk, r.t.nr * sizeof(r.chunk[0]));
	if (!ok || verbose)
		dump(seed, it, &r, st->rec.chunk, st->rec.nr, ret, &j);

	fig.plans++;
	fig.category[st->rec.category < FUZZ_NR ? st->rec.category : 0]++;
	if (j.verdict == MTHP_PLAN_CUSTOM)
		fig.custom++;
	else if (j.mask)
		fig.rejected++;
	else
		fig.asked_default++;
	for (i = 0; i < NREASON; i++) {
		fig.by_reason[i] += j.mask >> i & 1;
		fig.chunks[i] += j.counted[i];
	}
	return ok;
}

/* @iters plans of @seed: every one must be judged as the model judges it. */
static void fuzz_seed(unsigned int seed, unsigned int iters)
{
	unsigned int it, bad = 0;

	set_seed(seed);
	st->far = 0;
	st->only = 0;
	for (it = 0; it < iters; it++) {
		if (!run_one(seed, it, false)) {
			fig.mismatches++;
			/* Enough to see a pattern; the rest would only repeat it. */
			if (++bad >= 5)
				break;
		}
	}
	ksft_test_result(!bad, "seed %u: %u plans, the kernel's verdicts are the model's\n",
			 seed, it);
}

/* The fuzz must have drawn every kind of plan and met every reason. */
static void check_coverage(void)
{
	unsigned int i, missing = 0;

	for (i = 0; i < FUZZ_NR; i++)
		if (!fig.category[i]) {
			ksft_print_msg("no plan of category %s drawn\n", category_name[i]);
			missing++;
		}
	for (i = 0; i < NREASON; i++)
		if (!fig.by_reason[i]) {
			ksft_print_msg("no plan rejected for %s\n", reason_name[i]);
			missing++;
		}
	if (!fig.custom || !fig.asked_default)
		missing++;
	ksft_test_result(!missing, "every category drawn, every reason met, plans accepted\n");
}

/*
 * Chunks at 65536 PTEs and beyond, aligned: past the range, by the rules,
 * though the kernel keeps offsets in 16 bits.  It once clamped them to
 * 65535, which no order divides, and said "misaligned".
 */
static void check_far(unsigned int seed, unsigned int iters)
{
	unsigned int it, bad = 0, far = 0, i;

	set_seed(seed);
	st->far = 1;
	st->only = FUZZ_RANGE + 1;
	for (it = 0; it < iters; it++) {
		bad += !run_one(seed, it, false);
		for (i = 0; i < st->rec.nr; i++)
			far += st->rec.chunk[i].offset >= 0x10000 &&
			       st->rec.chunk[i].offset != FUZZ_DEFAULT_PLAN;
	}
	fig.mismatches += bad;
	st->far = 0;
	st->only = 0;
	ksft_test_result(!bad && far, "far offsets: %u plans, %u chunks at 65536+ PTEs, %u judged otherwise\n",
			 iters, far, bad);
}

/* ---- kernel reports ---- */

/* Lines of the kernel log that report a bug, lockdep or KASAN splat. */
static long kernel_reports(void)
{
	static const char * const marks[] = {
		"WARNING:", "BUG:", "KASAN", "UBSAN", "Oops", "circular locking",
		"lock held when returning", "detected stall", "kernel BUG",
	};
	char rec[8192];
	long n = 0;
	ssize_t len;
	unsigned int i;
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd < 0)
		return -1;
	for (;;) {
		len = read(fd, rec, sizeof(rec) - 1);
		if (len < 0 && errno == EPIPE)
			continue;	/* overwritten while reading: go on */
		if (len <= 0)
			break;
		rec[len] = '\0';
		for (i = 0; i < ARRAY_SIZE(marks); i++)
			if (strstr(rec, marks[i])) {
				n++;
				break;
			}
	}
	close(fd);
	return n;
}

/* ---- live ---- */

#define NLIVE		16	/* PMD ranges */
#define PM_SWAP		(1ULL << 62)

struct live_sum {
	unsigned long reports, custom, asked_default, rejected, bad;
	unsigned long chunks[NREASON];
};

static int live_report(void *ctx, void *data, size_t size)
{
	const struct fuzz_live *e = data;
	struct live_sum *sum = ctx;
	struct rules_range g;
	struct judgement j;
	int r;

	if (size < sizeof(*e) || e->nr_ptes != NR || e->nr > FUZZ_LIVE_CHUNKS) {
		sum->bad++;
		return 0;
	}
	g = (struct rules_range) {
		.nr_ptes = e->nr_ptes, .pmd_order = __builtin_ctz(e->nr_ptes), .orders = e->orders,
		.max_swap = e->max_ptes_swap, .max_shared = e->max_ptes_shared,
		.uffd = e->uffd_armed,
		.upresent = e->present, .uswap = e->swap, .ushared = e->shared,
	};
	judge(&g, e->ret, e->chunk, e->nr, &j);
	sum->reports++;
	if (j.verdict == MTHP_PLAN_CUSTOM)
		sum->custom++;
	else if (j.mask)
		sum->rejected++;
	else
		sum->asked_default++;
	for (r = 0; r < NREASON; r++)
		sum->chunks[r] += j.counted[r];
	return 0;
}

static unsigned char tag(size_t page)
{
	return (unsigned char)(page * 37 + 11);
}

static bool pte_swapped(int pm, const char *addr)
{
	__u64 e = 0;

	if (pread(pm, &e, sizeof(e), (uintptr_t)addr / PAGE_SZ * sizeof(e)) != sizeof(e))
		return false;
	return e & PM_SWAP;
}

/* Read the global directory's counters until two reads agree. */
static bool read_counters(long *v, const char * const *names, int n)
{
	long again[32];
	int tries, i;

	for (tries = 0; tries < 10; tries++) {
		for (i = 0; i < n; i++)
			v[i] = policy_counter("global", names[i]);
		usleep(200000);
		for (i = 0; i < n; i++)
			again[i] = policy_counter("global", names[i]);
		if (!memcmp(v, again, n * sizeof(v[0])))
			return true;
	}
	return false;
}

static void check_live(unsigned int seed, int seconds)
{
	static int orders[NLIVE * PMD_PAGES];
	static bool shared[NLIVE * PMD_PAGES];
	static bool written[NLIVE * PMD_PAGES];
	static const char * const names[] = {
		"calls", "plans_custom", "plans_default", "plans_rejected",
		"rejected_retval", "rejected_too_many", "rejected_range", "rejected_misaligned",
		"rejected_order", "rejected_overlap", "rejected_empty", "rejected_swap",
		"rejected_shared", "rejected_uffd",
	};
	const int nnames = ARRAY_SIZE(names);
	long saved_none = thp_read_long("khugepaged/max_ptes_none");
	long saved_swap = thp_read_long("khugepaged/max_ptes_swap");
	long saved_shared = thp_read_long("khugepaged/max_ptes_shared");
	__u64 s = mix64(seed + 0x5555) | 1;
	unsigned int live_orders = 1U << PMD_ORDER | 1U << 4 | (next32(&s) & 0xec);
	struct live_sum sum = { 0 };
	struct ring_buffer *rb = NULL;
	struct bpf_link *link = NULL;
	long v[32], before[PMD_ORDER + 1], kcalls = 0;
	unsigned long nshared = 0, nswapped = 0, bad_folio = 0, bad_shared = 0, bad_data = 0;
	char buf[64], val[32];
	size_t i, pg;
	pid_t child = -1;
	time_t end;
	bool counted, ok, ran = false;
	char *p = NULL;
	int pm = -1, k, scans = 0;

	if (seconds <= 0 || access(POLICIES_DIR, F_OK)) {
		for (k = 0; k < 4; k++)
			ksft_test_result_skip("live: %s\n", seconds <= 0 ? "not asked for" :
					      "no collapse policies in this kernel");
		return;
	}
	read_line("/sys/kernel/mm/transparent_hugepage/khugepaged/policy", buf, sizeof(buf));
	if (strcmp(buf, "none"))
		ksft_exit_fail_msg("live: policy %s already attached\n", buf);

	/* Small pages first; khugepaged leaves full chunks only to the default. */
	if (thp_set_orders(0, "never") || thp_write("khugepaged/max_ptes_none", "0") ||
	    thp_write("khugepaged/max_ptes_swap", "64") ||
	    thp_write("khugepaged/max_ptes_shared", "256"))
		ksft_exit_fail_msg("live: setup failed\n");
	p = pmd_mmap(NLIVE);
	pm = open("/proc/self/pagemap", O_RDONLY);
	if (!p || pm < 0)
		ksft_exit_fail_msg("live: mmap or pagemap failed\n");
	/* Every fourth range full, the others of a density of their own, in runs. */
	for (i = 0; i < NLIVE; i++) {
		unsigned int d = i % 4 == 0 ? 100 : 30 + below(&s, 66);

		for (pg = i * PMD_PAGES; pg < (i + 1) * PMD_PAGES; pg++) {
			if (pg % 8 == 0 && d < 100 && below(&s, 100) >= d) {
				pg += 7;
				continue;
			}
			p[pg * PAGE_SZ] = tag(pg);
			p[pg * PAGE_SZ + PAGE_SZ - 1] = (char)~tag(pg);
			written[pg] = true;
		}
	}
	/*
	 * A child keeps every page shared; the parent takes its own copy of
	 * all but a few, in the first half of the ranges.
	 */
	child = fork();
	if (child == 0) {
		/* Gone with the test, whichever way it ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	if (child < 0)
		ksft_exit_fail_msg("live: fork: %s\n", strerror(errno));
	if (folio_orders(p, NLIVE * PMD_PAGES, orders))
		ksft_exit_fail_msg("live: folio_orders failed\n");
	for (pg = 0; pg < NLIVE * PMD_PAGES; pg++) {
		if (orders[pg] == ORDER_NONE)
			continue;
		if (pg < NLIVE / 2 * PMD_PAGES && below(&s, 100) < 3) {
			shared[pg] = true;
			nshared++;
			continue;
		}
		p[pg * PAGE_SZ] = tag(pg);
	}
	/*
	 * A few pages of the second half out to swap (if there is swap), for
	 * the rules on swap entries.  Not checked in the layout: a PMD
	 * collapse that swaps them in and then fails leaves them present, and
	 * smaller chunks may then take them.
	 */
	for (pg = NLIVE / 2 * PMD_PAGES; pg < NLIVE * PMD_PAGES; pg++)
		if (orders[pg] != ORDER_NONE && below(&s, 100) < 2 &&
		    !madvise(p + pg * PAGE_SZ, PAGE_SZ, MADV_PAGEOUT) &&
		    pte_swapped(pm, p + pg * PAGE_SZ))
			nswapped++;

	load();
	set_seed(seed);
	st->next_call = 0;
	st->lost = 0;
	st->live = 1;
	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "reports")),
			      live_report, &sum, NULL);
	link = bpf_map__attach_struct_ops(bpf_object__find_map_by_name(obj, "fuzz"));
	if (!rb || !link) {
		ksft_test_result_fail("live: attach the fuzz policy: %s\n", strerror(errno));
		goto out;
	}
	read_line("/sys/kernel/mm/transparent_hugepage/khugepaged/policy", buf, sizeof(buf));
	if (strcmp(buf, "fuzz")) {
		ksft_test_result_fail("live: attached, but the policy in charge is %s\n", buf);
		goto out;
	}
	if (thp_set_orders(live_orders, "madvise") || madvise(p, NLIVE * PMD_SZ, MADV_HUGEPAGE))
		ksft_exit_fail_msg("live: enabling the sizes failed\n");
	ksft_print_msg("live: seed %u, %d ranges, sizes %#x, %lu pages shared, %lu swapped\n",
		       seed, NLIVE, live_orders, nshared, nswapped);
	end = time(NULL) + seconds;
	while (time(NULL) < end && scans < 200) {
		if (khugepaged_wait_scans(1, 30))
			break;
		scans++;
		ring_buffer__consume(rb);
	}
	/* No more calls for these ranges; then let a range in flight finish. */
	madvise(p, NLIVE * PMD_SZ, MADV_NOHUGEPAGE);
	khugepaged_wait_scans(2, 30);
	ring_buffer__consume(rb);
	counted = read_counters(v, names, nnames);
	kcalls = __atomic_load_n(&st->next_call, __ATOMIC_RELAXED);

	/* The counters: their own sums, the program's calls, and the model's. */
	ok = counted && v[0] > 0 && v[0] == v[1] + v[2] + v[3] && v[0] == kcalls &&
	     st->lost == 0 && sum.bad == 0 && (long)sum.reports == v[0] &&
	     (long)sum.custom == v[1] && (long)sum.asked_default == v[2] &&
	     (long)sum.rejected == v[3];
	for (k = 0; k < NREASON; k++)
		ok &= v[4 + k] == (long)sum.chunks[k];
	ksft_print_msg("live: %d full scans; sysfs: calls %ld custom %ld default %ld rejected %ld; program: calls %ld lost %llu; model of the %lu reports: custom %lu default %lu rejected %lu\n",
		       scans, v[0], v[1], v[2], v[3], kcalls, (unsigned long long)st->lost,
		       sum.reports, sum.custom, sum.asked_default, sum.rejected);
	for (k = 0; k < NREASON; k++)
		ksft_print_msg("live: rejected_%-10s sysfs %ld model %lu\n", reason_name[k],
			       v[4 + k], sum.chunks[k]);
	ksft_test_result(ok, "live: %ld calls; counters are the model's verdicts on the reports\n",
			 v[0]);

	/* The layout: aligned folios of enabled sizes, shared pages never below the PMD size. */
	for (k = 0; k <= PMD_ORDER; k++) {
		snprintf(val, sizeof(val), "collapsed_order%d", k);
		before[k] = k >= MIN_ORDER ? policy_counter("global", val) : 0;
	}
	if (folio_orders(p, NLIVE * PMD_PAGES, orders))
		ksft_exit_fail_msg("live: folio_orders failed\n");
	for (pg = 0; pg < NLIVE * PMD_PAGES; pg++) {
		int o = orders[pg];

		if (o == ORDER_BROKEN || (o > 0 && !(live_orders >> o & 1)))
			bad_folio++;
		if (shared[pg] && o > 0 && o < PMD_ORDER)
			bad_shared++;
	}
	for (k = MIN_ORDER; k <= PMD_ORDER; k++)
		if (!(live_orders >> k & 1) && before[k] > 0)
			bad_folio++;
	{
		char lay[1024];

		for (i = 0; i < NLIVE; i++)
			ksft_print_msg("live: range %zu: %s\n", i,
				       orders_str(orders + i * PMD_PAGES, PMD_PAGES, lay, sizeof(lay)));
	}
	ksft_test_result(!bad_folio && !bad_shared,
			 "live: every folio aligned and of an enabled size (%lu not), no shared page in an mTHP (%lu)\n",
			 bad_folio, bad_shared);
	ran = true;
out:
	/* Detach on every path; the kernel then has no policy. */
	bpf_link__destroy(link);
	ring_buffer__free(rb);
	read_line("/sys/kernel/mm/transparent_hugepage/khugepaged/policy", buf, sizeof(buf));
	if (!ran)
		ksft_test_result_skip("live: layout (the run did not happen)\n");
	for (pg = 0; pg < NLIVE * PMD_PAGES; pg++) {
		unsigned char first = p[pg * PAGE_SZ], last = p[pg * PAGE_SZ + PAGE_SZ - 1];

		/* A page never written reads as zeroes (the range's holes). */
		if (written[pg] ? first != tag(pg) || last != (unsigned char)~tag(pg) :
				  first || last)
			bad_data++;
	}
	ksft_test_result(!bad_data, "live: contents intact (%lu pages not)\n", bad_data);
	ksft_test_result(!strcmp(buf, "none") && access(POLICIES_DIR "/global", F_OK),
			 "live: detached (policy %s)\n", buf);
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	if (pm >= 0)
		close(pm);
	pmd_unmap(p, NLIVE);
	bpf_object__close(obj);
	obj = NULL;
	snprintf(val, sizeof(val), "%ld", saved_none >= 0 ? saved_none : 511);
	thp_write("khugepaged/max_ptes_none", val);
	snprintf(val, sizeof(val), "%ld", saved_swap >= 0 ? saved_swap : 64);
	thp_write("khugepaged/max_ptes_swap", val);
	snprintf(val, sizeof(val), "%ld", saved_shared >= 0 ? saved_shared : 256);
	thp_write("khugepaged/max_ptes_shared", val);
}

static unsigned int env_uint(const char *name, unsigned int dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : dflt;
}

static void print_figures(void)
{
	unsigned int i;

	ksft_print_msg("plans fuzzed %lu: accepted %lu, default asked %lu, rejected %lu; mismatches %lu\n",
		       fig.plans, fig.custom, fig.asked_default, fig.rejected, fig.mismatches);
	for (i = 0; i < NREASON; i++)
		ksft_print_msg("  rejected for %-10s %6lu plans, %7lu chunks counted\n",
			       reason_name[i], fig.by_reason[i], fig.chunks[i]);
	for (i = 0; i < FUZZ_NR; i++)
		ksft_print_msg("  category %-12s %6lu plans\n", category_name[i], fig.category[i]);
}

int main(int argc, char **argv)
{
	const char *flavour = getenv("MTHP_FLAVOUR");
	bool debug = flavour && !strcmp(flavour, "debug");
	unsigned int seed = env_uint("MTHP_FUZZ_SEED", 1);
	unsigned int iters = env_uint("MTHP_FUZZ_ITERS", debug ? 2000 : 10000), nseeds = 4, k;
	int live = debug ? 120 : 45, replay = -1, only = -1, far = 0, opt;
	long reports_before, reports_after;
	static char dir[512];
	const char *why;

	while ((opt = getopt(argc, argv, "s:k:n:l:i:c:f")) != -1) {
		switch (opt) {
		case 's':
			seed = strtoul(optarg, NULL, 0);
			break;
		case 'k':
			nseeds = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			iters = strtoul(optarg, NULL, 0);
			break;
		case 'l':
			live = atoi(optarg);
			break;
		case 'i':
			replay = atoi(optarg);
			break;
		case 'c':
			only = atoi(optarg);
			break;
		case 'f':
			far = 1;
			break;
		default:
			fprintf(stderr, "usage: %s [-s seed] [-k seeds] [-n iterations] [-l live seconds] [-i iteration [-c category] [-f]] [objdir]\n",
				argv[0]);
			return 2;
		}
	}
	snprintf(dir, sizeof(dir), "%s/bpf-policies", getenv("MTHP_BUILD") ?: "build");
	objdir = optind < argc ? argv[optind] : dir;

	ksft_print_header();
	why = range_geometry_mismatch();
	if (why)
		ksft_exit_skip("%s", why);
	load();
	if (replay >= 0) {
		bool ok;

		set_seed(seed);
		st->only = only >= 0 && only < FUZZ_NR ? only + 1 : 0;
		st->far = far;
		ok = run_one(seed, replay, true);
		printf("%s\n", ok ? "kernel and model agree" : "kernel and model DISAGREE");
		return ok ? 0 : 1;
	}
	reports_before = kernel_reports();
	ksft_set_plan(nseeds + 2 + 4 + 1);
	ksft_print_msg("seeds %u..%u, %u plans each (replay one: -s SEED -i ITERATION)\n",
		       seed, seed + nseeds - 1, iters);
	for (k = 0; k < nseeds; k++)
		fuzz_seed(seed + k, iters);
	check_coverage();
	check_far(seed, iters / 10 + 1);
	print_figures();
	bpf_object__close(obj);
	obj = NULL;
	check_live(seed, live);
	reports_after = kernel_reports();
	ksft_print_msg("kernel reports: %ld\n", reports_after - reports_before);
	ksft_test_result(reports_before >= 0 && reports_after == reports_before,
			 "no kernel reports (WARNING, BUG, KASAN, lockdep) during the test\n");
	ksft_finished();
}
