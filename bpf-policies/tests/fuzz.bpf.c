// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz: a policy that answers each range with a pseudo-random plan, for
 * the tests.  Each call draws one kind of plan (enum fuzz_category):
 * valid chunks, none, chunks misaligned, overlapping, past the range, of
 * orders not enabled, holding swap entries, shared pages, no page or
 * holes, too many chunks, an unknown verdict, the default verdict, the
 * kernel's plan through bpf_mthp_plan_default(), or a mix.  What it draws
 * depends on the seed (map `seed`) and the call's number alone
 * (st.next_call, counted up by each call and set by the test), so any
 * plan can be drawn again.  The plan is recorded in st.rec for the test
 * to check the kernel's verdict against its own model of the rules; with
 * st.live set, every call is also reported through `reports` with what
 * the kernel told the policy about the range.  No geometry is assumed:
 * the range's size and order come from the context.
 *
 * The pieces are global functions, which the verifier checks once each
 * rather than once per call site and draw: inlined, the program is too
 * many paths for it.
 */
#include "../mthp_policy.bpf.h"
#include "fuzz.h"

char _license[] SEC("license") = "GPL";

MTHP_PARAM(seed, 1);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} reports SEC(".maps");

/* The test's view of the program (fuzz.h): the last plan, the knobs. */
struct fuzz_state st;

/* xorshift64 */
static __always_inline u32 rnd(void)
{
	u64 x = st.rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	st.rng = x;
	return x >> 32;
}

static __always_inline u32 below(u32 n)
{
	return n ? rnd() % n : 0;
}

/* A random order of @mask (a set bit at or after a random one), or -1. */
static __always_inline int pick(u32 mask)
{
	u32 from = below(MAX_ORDERS), hi = mask & ~((1U << from) - 1);

	if (!mask)
		return -1;
	return hi ? __builtin_ctz(hi) : __builtin_ctz(mask);
}

/* An enabled order, or any the range has if none is. */
static __always_inline u32 enabled_order(const struct mthp_collapse_ctx *ctx)
{
	int o = pick(ctx->orders & range_orders(ctx));

	return o < 0 ? MIN_ORDER + below(ctx->pmd_order - MIN_ORDER + 1) : o;
}

/* Add a chunk to the plan, and to the record of it. */
__noinline int fuzz_add(struct mthp_collapse_ctx *ctx __arg_trusted, u32 off, u32 order)
{
	u32 i = st.rec.nr;

	if (i < FUZZ_REC_MAX) {
		st.rec.chunk[i].offset = off;
		st.rec.chunk[i].order = order;
		st.rec.nr = i + 1;
	} else {
		st.rec.truncated = 1;
	}
	return bpf_mthp_plan_add(ctx, off, order);
}

/* An aligned chunk of @order at a random place in the range. */
static __always_inline void add_aligned(struct mthp_collapse_ctx *ctx, u32 order)
{
	fuzz_add(ctx, below(ctx->nr_ptes >> order) << order, order);
}

/* Add the chunk, if @safe only if the rules allow what it holds. */
static __always_inline void walk_add(struct mthp_collapse_ctx *ctx, u32 off, u32 order,
				     u32 safe)
{
	struct mthp_chunk_info ci;

	if (safe && (bpf_mthp_chunk_info(ctx, off, order, &ci) || !ci.present ||
		     !chunk_safe(ctx, order, &ci)))
		return;
	fuzz_add(ctx, off, order);
}

/*
 * Disjoint aligned chunks in address order: the range cut into chunks of
 * one random order, each taken @pct percent of the time, whole or now and
 * then as its two halves.  With @safe, only enabled orders and chunks the
 * rules allow (a page, no swap or shared page below the PMD order, no
 * hole under userfaultfd); without, any order from 2 and any content.
 * Nothing is carried from one chunk to the next but the draw, so the
 * verifier sees the loop converge at once.
 */
__noinline int fuzz_walk(struct mthp_collapse_ctx *ctx __arg_trusted, u32 pct, u32 safe)
{
	int order = pick(range_orders(ctx) & (safe ? ctx->orders : ~0U)), i;
	u32 half;

	if (order < MIN_ORDER)
		return 0;
	half = order - 1;
	bpf_for(i, 0, ctx->nr_ptes >> order) {
		u32 off = (u32)i << order;

		if (below(100) >= pct)
			continue;
		if (half >= MIN_ORDER && !below(4) && (!safe || ctx->orders & (1U << half))) {
			walk_add(ctx, off, half, safe);
			walk_add(ctx, off + (1U << half), half, safe);
		} else {
			walk_add(ctx, off, order, safe);
		}
	}
	return 0;
}

enum chunk_kind {
	KIND_ENABLED,		/* aligned, an enabled order */
	KIND_ANY_ORDER,		/* aligned, any order from 2 to the PMD order */
	KIND_MISALIGNED,
	KIND_PAST,		/* aligned, past the range */
	KIND_BAD_ORDER,		/* 0, 1, past the PMD order, huge, or not enabled */
	KIND_UNSAFE,		/* what it holds breaks a rule, if one is found */
	KIND_OVERLAP,		/* over a chunk added before */
	KIND_NR,
};

static __always_inline void add_misaligned(struct mthp_collapse_ctx *ctx)
{
	u32 order = enabled_order(ctx), size = 1U << order;

	fuzz_add(ctx, (below(ctx->nr_ptes >> order) << order) + 1 + below(size - 1), order);
}

/* Aligned, but past the range; with st.far, maybe past what a u16 holds. */
static __always_inline void add_past(struct mthp_collapse_ctx *ctx)
{
	u32 order = enabled_order(ctx);

	if (st.far && !below(2))
		fuzz_add(ctx, (1 + below(0xffff)) << 16, order);
	else
		fuzz_add(ctx, ctx->nr_ptes + (below(4) << order), order);
}

static __always_inline void add_bad_order(struct mthp_collapse_ctx *ctx)
{
	u32 pmd = ctx->pmd_order, order;
	int o;

	switch (below(6)) {
	case 0:
		order = below(MIN_ORDER);
		break;
	case 1:
		order = pmd + 1 + below(8);
		break;
	case 2:
		order = 0x10000 + below(16);
		break;
	case 3:
		order = ~0U - below(4);
		break;
	default:	/* an order the range has but the VMA has not enabled */
		o = pick(range_orders(ctx) & ~ctx->orders);
		order = o < 0 ? pmd + 1 : o;
		break;
	}
	if (order <= pmd)
		add_aligned(ctx, order);
	else
		fuzz_add(ctx, below(2) ? 0 : below(ctx->nr_ptes), order);
}

/*
 * A chunk the rules refuse for what it holds, if a few random ones find
 * one: no page, a swap entry or shared page below the PMD order (or
 * more than the limits at it), a hole under userfaultfd.  Else the last
 * one looked at, whatever it holds.
 */
static __always_inline void add_unsafe(struct mthp_collapse_ctx *ctx)
{
	struct mthp_chunk_info ci;
	u32 order = MIN_ORDER, off = 0;
	int i;

	bpf_for(i, 0, 8) {
		order = enabled_order(ctx);
		off = below(ctx->nr_ptes >> order) << order;
		if (bpf_mthp_chunk_info(ctx, off, order, &ci))
			break;
		if (!ci.present || !chunk_safe(ctx, order, &ci))
			break;
	}
	fuzz_add(ctx, off, order);
}

/* A chunk over one added before: the same, the one around it, or half of it. */
static __always_inline void add_overlap(struct mthp_collapse_ctx *ctx)
{
	u32 n = st.rec.nr, j, off, order;

	j = below(n) & (FUZZ_REC_MAX - 1);
	order = st.rec.chunk[j].order;
	if (!n || order > ctx->pmd_order || order < MIN_ORDER) {
		order = enabled_order(ctx);
		off = below(ctx->nr_ptes >> order) << order;
		fuzz_add(ctx, off, order);
		fuzz_add(ctx, off, order);
		return;
	}
	off = st.rec.chunk[j].offset;
	switch (below(3)) {
	case 0:
		break;
	case 1:
		if (order < ctx->pmd_order) {
			order++;
			off &= ~((1U << order) - 1);
		}
		break;
	default:
		if (order > MIN_ORDER) {
			order--;
			off += below(2) << order;
		}
		break;
	}
	fuzz_add(ctx, off, order);
}

/* One chunk of @kind (enum chunk_kind); any kind past them. */
__noinline int fuzz_add_kind(struct mthp_collapse_ctx *ctx __arg_trusted, u32 kind)
{
	if (kind >= KIND_NR)
		kind = below(KIND_NR);
	switch (kind) {
	case KIND_ENABLED:
		add_aligned(ctx, enabled_order(ctx));
		break;
	case KIND_ANY_ORDER:
		add_aligned(ctx, MIN_ORDER + below(ctx->pmd_order - MIN_ORDER + 1));
		break;
	case KIND_MISALIGNED:
		add_misaligned(ctx);
		break;
	case KIND_PAST:
		add_past(ctx);
		break;
	case KIND_BAD_ORDER:
		add_bad_order(ctx);
		break;
	case KIND_UNSAFE:
		add_unsafe(ctx);
		break;
	default:
		add_overlap(ctx);
		break;
	}
	return 0;
}

/* Report the call: its plan, and per 4-PTE unit what the kernel says it holds. */
__noinline int fuzz_report(struct mthp_collapse_ctx *ctx __arg_trusted, int ret)
{
	u32 units = ctx->nr_ptes >> MIN_ORDER, n = st.rec.nr;
	struct mthp_chunk_info ci;
	struct fuzz_live *e;
	int i;

	if (units > FUZZ_LIVE_UNITS || n > FUZZ_LIVE_CHUNKS || st.rec.truncated) {
		__sync_fetch_and_add(&st.lost, 1);
		return 0;
	}
	e = bpf_ringbuf_reserve(&reports, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&st.lost, 1);
		return 0;
	}
	e->call = st.rec.call;
	e->address = ctx->address;
	e->nr_ptes = ctx->nr_ptes;
	e->orders = ctx->orders;
	e->max_ptes_swap = ctx->max_ptes_swap;
	e->max_ptes_shared = ctx->max_ptes_shared;
	e->uffd_armed = ctx->uffd_armed;
	e->category = st.rec.category;
	e->ret = ret;
	e->nr = n;
	/* Indices masked to the arrays' sizes (powers of two): the verifier sees them fit. */
	bpf_for(i, 0, n)
		e->chunk[i & (FUZZ_LIVE_CHUNKS - 1)] = st.rec.chunk[i & (FUZZ_LIVE_CHUNKS - 1)];
	bpf_for(i, 0, units) {
		if (bpf_mthp_chunk_info(ctx, i << MIN_ORDER, MIN_ORDER, &ci)) {
			bpf_ringbuf_discard(e, 0);
			__sync_fetch_and_add(&st.lost, 1);
			return 0;
		}
		e->present[i & (FUZZ_LIVE_UNITS - 1)] = ci.present;
		e->swap[i & (FUZZ_LIVE_UNITS - 1)] = ci.swap;
		e->shared[i & (FUZZ_LIVE_UNITS - 1)] = ci.shared;
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* The plan of category @cat; returns the verdict to give. */
__noinline int fuzz_draw(struct mthp_collapse_ctx *ctx __arg_trusted, u32 cat)
{
	u32 units = ctx->nr_ptes >> MIN_ORDER, n, where;
	int i;

	switch (cat) {
	case FUZZ_VALID:
		fuzz_walk(ctx, 10 + below(91), 1);
		return MTHP_PLAN_CUSTOM;
	case FUZZ_NOTHING:
		return MTHP_PLAN_CUSTOM;
	case FUZZ_RANDOM:
		fuzz_walk(ctx, 5 + below(96), 0);
		return MTHP_PLAN_CUSTOM;
	case FUZZ_MISALIGNED:
	case FUZZ_OVERLAP:
	case FUZZ_RANGE:
	case FUZZ_ORDER:
	case FUZZ_UNSAFE:
		/* The odd chunk first, last, or alone. */
		where = below(3);
		if (where == 1)
			fuzz_walk(ctx, below(60), 1);
		fuzz_add_kind(ctx, cat == FUZZ_MISALIGNED ? KIND_MISALIGNED :
				   cat == FUZZ_OVERLAP ? KIND_OVERLAP :
				   cat == FUZZ_RANGE ? KIND_PAST :
				   cat == FUZZ_ORDER ? KIND_BAD_ORDER : KIND_UNSAFE);
		if (where == 0)
			fuzz_walk(ctx, below(60), 1);
		return MTHP_PLAN_CUSTOM;
	case FUZZ_TOO_MANY:
		n = units + 1 + below(8);
		bpf_for(i, 0, n)
			fuzz_add(ctx, below(ctx->nr_ptes >> MIN_ORDER) << MIN_ORDER, MIN_ORDER);
		return MTHP_PLAN_CUSTOM;
	case FUZZ_RETVAL:
		if (below(2))
			fuzz_walk(ctx, 50, 1);
		switch (below(3)) {
		case 0:
			return 2 + below(1000);
		case 1:
			return -1 - (int)below(200);
		default:
			return 0x7fffffff - (int)below(2);
		}
	case FUZZ_DEFAULT:
		if (below(2))
			fuzz_add_kind(ctx, KIND_NR);
		return MTHP_PLAN_DEFAULT;
	case FUZZ_PLAN_DEFAULT:
		if (!below(4))
			fuzz_add_kind(ctx, KIND_NR);
		n = st.rec.nr;
		if (n < FUZZ_REC_MAX) {
			st.rec.chunk[n].offset = FUZZ_DEFAULT_PLAN;
			st.rec.chunk[n].order = FUZZ_DEFAULT_PLAN;
			st.rec.nr = n + 1;
		}
		bpf_mthp_plan_default(ctx);
		if (below(2))
			fuzz_add_kind(ctx, KIND_NR);
		return MTHP_PLAN_CUSTOM;
	default:
		n = 1 + below(6);
		bpf_for(i, 0, n)
			fuzz_add_kind(ctx, KIND_NR);
		return MTHP_PLAN_CUSTOM;
	}
}

SEC("struct_ops/plan")
int BPF_PROG(fuzz_plan, struct mthp_collapse_ctx *range)
{
	u32 key = 0, *sp = bpf_map_lookup_elem(&seed, &key), cat;
	u64 call = __sync_fetch_and_add(&st.next_call, 1), s;
	int ret;

	/* splitmix64 of (seed, call): neighbouring calls draw unrelated plans. */
	s = (sp ? *sp : 0) * 0x9e3779b97f4a7c15ULL + (call + 1) * 0xbf58476d1ce4e5b9ULL;
	s = (s ^ (s >> 30)) * 0xbf58476d1ce4e5b9ULL;
	s = (s ^ (s >> 27)) * 0x94d049bb133111ebULL;
	s ^= s >> 31;
	st.rng = s ? s : 1;

	cat = st.only ? st.only - 1 : below(FUZZ_NR);
	/* Live reports cannot show which chunks the kernel's plan added. */
	if (st.live && cat == FUZZ_PLAN_DEFAULT)
		cat = FUZZ_VALID;
	st.rec.call = call;
	st.rec.category = cat;
	st.rec.nr = 0;
	st.rec.truncated = 0;
	ret = fuzz_draw(range, cat);
	st.rec.ret = ret;
	if (st.live)
		fuzz_report(range, ret);
	return ret;
}

SEC(".struct_ops.link")
struct mthp_collapse_ops fuzz = {
	.plan = (void *)fuzz_plan,
	.name = "fuzz",
};
