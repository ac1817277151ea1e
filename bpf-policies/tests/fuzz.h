/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the fuzz policy (fuzz.bpf.c) records of its plans, shared with the
 * test that reads it (selftests/policy/policy_fuzz.c).  Only __u32-style
 * types: the BPF side has them from vmlinux.h, user space from
 * <linux/types.h>, included before this header.
 */
#ifndef MTHP_FUZZ_H
#define MTHP_FUZZ_H

/* The kind of plan drawn for a call. */
enum fuzz_category {
	FUZZ_VALID,		/* disjoint chunks the policy found safe */
	FUZZ_NOTHING,		/* no chunk: collapse nothing */
	FUZZ_RANDOM,		/* disjoint aligned chunks of any order and content */
	FUZZ_MISALIGNED,	/* valid chunks and one misaligned */
	FUZZ_OVERLAP,		/* valid chunks and one overlapping another */
	FUZZ_RANGE,		/* valid chunks and one past the range */
	FUZZ_ORDER,		/* valid chunks and one of an order not enabled */
	FUZZ_UNSAFE,		/* valid chunks and one with swap, shared, no page or holes */
	FUZZ_TOO_MANY,		/* more chunks than the range has 4-PTE units */
	FUZZ_RETVAL,		/* neither verdict returned */
	FUZZ_DEFAULT,		/* MTHP_PLAN_DEFAULT, maybe after adding chunks */
	FUZZ_PLAN_DEFAULT,	/* bpf_mthp_plan_default(), maybe and a chunk */
	FUZZ_MIX,		/* a few chunks, each of any of the kinds above */
	FUZZ_NR,
};

/* A chunk as the program passed it to bpf_mthp_plan_add(), unclamped. */
struct fuzz_chunk {
	__u32 offset;
	__u32 order;
};

/* chunk[] entry standing for the chunks bpf_mthp_plan_default() added. */
#define FUZZ_DEFAULT_PLAN	0xffffffffU

/* Room for the largest plan drawn: 2048 4-PTE units (64K pages) and more. */
#define FUZZ_REC_MAX		4096

/* The last call's plan. */
struct fuzz_record {
	__u64 call;		/* the call's number: with the seed, all it drew from */
	__u32 category;		/* enum fuzz_category */
	__s32 ret;		/* what the program returned */
	__u32 nr;		/* chunk[] entries */
	__u32 truncated;	/* more chunks than chunk[] holds: not modelled */
	struct fuzz_chunk chunk[FUZZ_REC_MAX];
};

/* The program's global data (.bss), which the test maps. */
struct fuzz_state {
	__u64 next_call;	/* the next call's number */
	__u64 lost;		/* live calls that could not be reported */
	__u64 rng;		/* the program's draw, as it goes */
	__u32 live;		/* report each call through the ring buffer */
	__u32 far;		/* past-the-range offsets may be 65536 and beyond */
	__u32 only;		/* draw only category only - 1 (0: any) */
	__u32 pad;
	struct fuzz_record rec;
};

/*
 * In live runs, each call is reported through a ring buffer with what the
 * kernel told the program of the range: per 4-PTE unit, its pages, swap
 * entries and shared pages (bpf_mthp_chunk_info() of order 2), from which
 * the rules for every chunk of order 2 and more follow.  Ranges of up to
 * FUZZ_LIVE_UNITS units and plans of up to FUZZ_LIVE_CHUNKS chunks; others
 * are counted lost.
 */
#define FUZZ_LIVE_UNITS		128
#define FUZZ_LIVE_CHUNKS	256

struct fuzz_live {
	__u64 call;
	__u64 address;
	__u32 nr_ptes;
	__u32 orders;
	__u32 max_ptes_swap;
	__u32 max_ptes_shared;
	__u32 uffd_armed;
	__u32 category;
	__s32 ret;
	__u32 nr;
	struct fuzz_chunk chunk[FUZZ_LIVE_CHUNKS];
	__u8 present[FUZZ_LIVE_UNITS];
	__u8 swap[FUZZ_LIVE_UNITS];
	__u8 shared[FUZZ_LIVE_UNITS];
};

#endif
