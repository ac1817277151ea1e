// SPDX-License-Identifier: GPL-2.0
/*
 * recorder: what `mthp-policy record` attaches as a shadow policy.  It
 * plans nothing; for every range it is asked about it copies what a policy
 * sees (the context's scalars, the scan record) and the kernel's default
 * plan into a ring buffer, and answers MTHP_PLAN_DEFAULT.
 *
 * Not a shipped policy: the loader embeds it for record only.  A record is
 * the file format's (Documentation/record-replay.md), so the loader writes
 * what it reads from the ring buffer as it is, once it has cleared the
 * unused plan slots.
 */
#include "mthp_policy.bpf.h"
#include <bpf/bpf_core_read.h>

char _license[] SEC("license") = "GPL";

/*
 * The machine's geometry, set by the loader before load (its pmd_order()):
 * the verifier sees them as constants, so every copy below has a size it
 * can check against the record's.  A range of another size is counted in
 * `skipped` rather than recorded.
 */
const volatile __u32 rec_nr_ptes;
const volatile __u32 rec_words;		/* u64 per bitmap: rec_nr_ptes / 64 rounded up */
const volatile __u32 rec_max_chunks;	/* plan slots: rec_nr_ptes >> MIN_ORDER */
const volatile __u32 rec_size;		/* bytes of a record, a multiple of 8 */
const volatile __u32 rec_wakeup;		/* wake the reader past this many bytes queued */

/* Read by the loader through the skeleton's mmapped .bss. */
__u64 dropped;	/* the ring buffer was full */
__u64 skipped;	/* a range of another size than rec_nr_ptes, or a failed copy */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);	/* resized by the loader before load */
} records SEC(".maps");

/*
 * The head of a record: the scalars of struct mthp_policy_test's "in"
 * part (less flags), in file order, then the default plan's length.
 * The default plan's chunks, the four bitmaps and the folio orders follow.
 */
struct rec_head {
	u64 time_ns;
	u64 address;
	u64 vm_start;
	u64 vm_end;
	u64 vm_flags;
	u64 memcg_id;
	s32 tgid;
	u32 nr_ptes;
	u32 orders;
	u32 max_ptes_none;
	u32 max_ptes_swap;
	u32 max_ptes_shared;
	u32 uffd_armed;
	u32 default_nr;
};

/*
 * The scan record and the plan have other types on the 6.12 base (its
 * present bitmap is an array, not a pointer): both layouts are described
 * here, CO-RE places the fields, and the one the kernel lacks is dead code
 * the verifier drops.
 */
struct mthp_scan___v73 {
	const unsigned long *present;
	unsigned long swap[1];
	unsigned long shared[1];
	unsigned long young[1];
	u8 folio_order[1];
} __attribute__((preserve_access_index));

struct mthp_plan___v73 {
	unsigned int nr;
	struct mthp_chunk chunk[1];
} __attribute__((preserve_access_index));

struct collapse_scan___v612 {
	unsigned long present[1];
	unsigned long swap[1];
	unsigned long shared[1];
	unsigned long young[1];
	u8 folio_order[1];
} __attribute__((preserve_access_index));

struct collapse_plan___v612 {
	unsigned int nr;
	struct {
		u16 offset;
		u16 order;
	} chunk[1];
} __attribute__((preserve_access_index));

/* Where a record's parts go: offsets from its start. */
static __always_inline u32 chunks_off(void)
{
	return sizeof(struct rec_head);
}

static __always_inline u32 maps_off(void)
{
	return chunks_off() + rec_max_chunks * 4;
}

static __always_inline u32 orders_off(void)
{
	return maps_off() + 4 * rec_words * 8;
}

/*
 * The scan's bitmaps and folio orders, and the default plan, from the
 * kernel's structures into @rec.  0, or a negative errno from a copy.
 */
static __always_inline int copy_scan(const struct mthp_collapse_ctx *ctx, u8 *rec,
				     u32 *default_nr)
{
	u32 bytes = rec_words * 8, nr = 0;
	const void *present = NULL;
	const void *sw, *sh, *yo, *fo, *pl, *ch;
	int err;

	if (bpf_core_type_exists(struct mthp_scan___v73)) {
		const struct mthp_scan___v73 *s = (const void *)ctx->scan;
		const struct mthp_plan___v73 *p = (const void *)ctx->default_plan;

		err = bpf_probe_read_kernel(&present, sizeof(present), &s->present);
		if (err)
			return err;
		sw = s->swap;
		sh = s->shared;
		yo = s->young;
		fo = s->folio_order;
		pl = &p->nr;
		ch = p->chunk;
	} else {
		const struct collapse_scan___v612 *s = (const void *)ctx->scan;
		const struct collapse_plan___v612 *p = (const void *)ctx->default_plan;

		present = s->present;
		sw = s->swap;
		sh = s->shared;
		yo = s->young;
		fo = s->folio_order;
		pl = &p->nr;
		ch = p->chunk;
	}
	err = bpf_probe_read_kernel(rec + maps_off(), bytes, present);
	err = err ?: bpf_probe_read_kernel(rec + maps_off() + bytes, bytes, sw);
	err = err ?: bpf_probe_read_kernel(rec + maps_off() + 2 * bytes, bytes, sh);
	err = err ?: bpf_probe_read_kernel(rec + maps_off() + 3 * bytes, bytes, yo);
	err = err ?: bpf_probe_read_kernel(rec + orders_off(), rec_nr_ptes, fo);
	err = err ?: bpf_probe_read_kernel(&nr, sizeof(nr), pl);
	if (err)
		return err;
	/* No more than the record holds; the loader clears the slots past nr. */
	if (nr > rec_max_chunks)
		return -1;
	*default_nr = nr;
	if (!nr)
		return 0;
	return bpf_probe_read_kernel(rec + chunks_off(), nr * 4, ch);
}

SEC("struct_ops/plan")
int BPF_PROG(recorder_plan, struct mthp_collapse_ctx *range)
{
	struct rec_head *h;
	u32 default_nr = 0;
	u8 *rec;

	if (range->nr_ptes != rec_nr_ptes) {
		__sync_fetch_and_add(&skipped, 1);
		return MTHP_PLAN_DEFAULT;
	}
	rec = bpf_ringbuf_reserve(&records, rec_size, 0);
	if (!rec) {
		__sync_fetch_and_add(&dropped, 1);
		return MTHP_PLAN_DEFAULT;
	}
	if (copy_scan(range, rec, &default_nr)) {
		bpf_ringbuf_discard(rec, BPF_RB_NO_WAKEUP);
		__sync_fetch_and_add(&skipped, 1);
		return MTHP_PLAN_DEFAULT;
	}
	h = (void *)rec;
	h->time_ns = bpf_ktime_get_ns();
	h->address = range->address;
	h->vm_start = range->vm_start;
	h->vm_end = range->vm_end;
	h->vm_flags = range->vm_flags;
	h->memcg_id = range->memcg_id;
	h->tgid = range->tgid;
	h->nr_ptes = range->nr_ptes;
	h->orders = range->orders;
	h->max_ptes_none = range->max_ptes_none;
	h->max_ptes_swap = range->max_ptes_swap;
	h->max_ptes_shared = range->max_ptes_shared;
	h->uffd_armed = range->uffd_armed;
	h->default_nr = default_nr;
	/*
	 * A wakeup per record would cost an irq_work each: the reader is
	 * woken only once a good part of the buffer is queued, and drains it
	 * on a timer otherwise.
	 */
	bpf_ringbuf_submit(rec, bpf_ringbuf_query(&records, BPF_RB_AVAIL_DATA) > rec_wakeup ?
				BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	return MTHP_PLAN_DEFAULT;
}

SEC(".struct_ops.link")
struct mthp_collapse_ops recorder = {
	.plan = (void *)recorder_plan,
	.name = "recorder",
};
