// SPDX-License-Identifier: GPL-2.0
/*
 * record: the ranges khugepaged plans on this machine, into a file; replay:
 * policies run on such a file with BPF_PROG_TEST_RUN, side by side.
 *
 * The recorder is a shadow policy (bpf-policies/recorder.bpf.c) that
 * copies what a policy sees and the kernel's default plan into a ring
 * buffer, drained into the file as it fills.  It stays attached only while
 * record runs: its link is not pinned, so it goes with this process,
 * however it ends.  The file format is Documentation/record-replay.md's.
 */
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/mthp_policy.h>

#include "mthp-policy.h"
#include "recorder.skel.h"

#define REC_MAGIC	"MTHPREC1"
#define REC_VERSION	1
#define REC_UNKNOWN	(~0ULL)	/* nr_records while recording: count the file */
#define RING_BYTES	(4U << 20)

/* The file's header: 128 bytes, little-endian, at offset 0. */
struct rec_file_header {
	char magic[8];
	__u32 version;
	__u32 header_size;
	__u32 record_size;
	__u32 page_size;
	__u32 nr_ptes;
	__u32 pmd_order;
	__u64 nr_records;
	__u64 dropped;
	__u64 skipped;
	__u64 start_time;
	char release[48];
	char base[16];
} __attribute__((packed));

_Static_assert(sizeof(struct rec_file_header) == 128, "record file header is 128 bytes");

/* A record's head: the recorder's struct rec_head. */
struct rec_head {
	__u64 time_ns;
	__u64 address;
	__u64 vm_start;
	__u64 vm_end;
	__u64 vm_flags;
	__u64 memcg_id;
	__s32 tgid;
	__u32 nr_ptes;
	__u32 orders;
	__u32 max_ptes_none;
	__u32 max_ptes_swap;
	__u32 max_ptes_shared;
	__u32 uffd_armed;
	__u32 default_nr;
} __attribute__((packed));

_Static_assert(sizeof(struct rec_head) == 80, "record head is 80 bytes");

/* Where the parts of a record are, for ranges of nr_ptes PTEs. */
struct geometry {
	__u32 page_size, nr_ptes, pmd_order;
	__u32 words;		/* u64 per bitmap */
	__u32 max_chunks;	/* plan slots: one per 4-PTE unit */
	size_t chunks_off, data_off, data_size, size;
};

static void geometry_of(struct geometry *g, __u32 page_size, __u32 order)
{
	memset(g, 0, sizeof(*g));
	g->page_size = page_size;
	g->pmd_order = order;
	g->nr_ptes = 1U << order;
	g->words = (g->nr_ptes + 63) / 64;
	g->max_chunks = g->nr_ptes >> MIN_COLLAPSE_ORDER;
	g->chunks_off = sizeof(struct rec_head);
	g->data_off = g->chunks_off + g->max_chunks * sizeof(struct mthp_policy_chunk);
	/* data_in of BPF_PROG_TEST_RUN, as it is: four bitmaps, folio orders. */
	g->data_size = 4 * g->words * sizeof(__u64) + g->nr_ptes;
	g->size = (g->data_off + g->data_size + 7) & ~(size_t)7;
}

/* This machine's: the only one BPF_PROG_TEST_RUN takes. */
static int machine_geometry(struct geometry *g)
{
	int order = pmd_order();

	if (order < 0)
		return order;
	geometry_of(g, sysconf(_SC_PAGESIZE), order);
	return 0;
}

/* --- record --------------------------------------------------------- */

struct recording {
	FILE *f;
	const char *path;
	struct geometry g;
	unsigned long long written;
	int err;
	void *buf;
};

/* One record from the ring buffer into the file. */
static int on_record(void *ctx, void *data, size_t size)
{
	struct recording *r = ctx;
	struct rec_head *h = r->buf;

	if (size < r->g.size) {
		r->err = fail(-EINVAL, "record: a ring buffer record of %zu bytes, expected %zu",
			      size, r->g.size);
		return r->err;
	}
	memcpy(r->buf, data, r->g.size);
	/* The recorder leaves the plan slots past default_nr as it found them. */
	if (h->default_nr < r->g.max_chunks)
		memset((char *)r->buf + r->g.chunks_off +
		       h->default_nr * sizeof(struct mthp_policy_chunk), 0,
		       (r->g.max_chunks - h->default_nr) * sizeof(struct mthp_policy_chunk));
	if (fwrite(r->buf, r->g.size, 1, r->f) != 1) {
		r->err = errno ? -errno : -EIO;
		fail(r->err, "cannot write %s: %s", r->path, strerror(-r->err));
		return r->err;
	}
	r->written++;
	return 0;
}

/* "7.3" of "7.3.0-mthp": the kernel base the file was recorded on. */
static void base_of(const char *release, char *base, size_t len)
{
	unsigned int major, minor;

	if (sscanf(release, "%u.%u", &major, &minor) == 2)
		snprintf(base, len, "%u.%u", major, minor);
	else
		base[0] = '\0';
}

static int write_header(struct recording *r, const struct rec_file_header *h)
{
	if (fseek(r->f, 0, SEEK_SET) || fwrite(h, sizeof(*h), 1, r->f) != 1 || fflush(r->f)) {
		int err = -errno;

		return fail(err, "cannot write %s: %s", r->path, strerror(-err));
	}
	return 0;
}

/* Is @a the cgroup directory @b or one of its ancestors? */
static bool path_covers(const char *a, const char *b)
{
	size_t n = strlen(a);

	return !strncmp(a, b, n) && (b[n] == '\0' || b[n] == '/' || (n && a[n - 1] == '/'));
}

/*
 * The recording holds the kernel's default plan: wherever an active
 * policy plans some of the recorded ranges, that is not the plan that
 * stood.  1 and its name and place if there is one, 0 if none, or a
 * negative errno: without the table, record cannot tell.
 */
static int active_in_scope(const struct scope *s, char *name, size_t len, char *where,
			   size_t wlen)
{
	char path[PATH_MAX];
	struct ptable t;
	int i, found = 0, err;

	err = ptable_read(&t);
	if (err)
		return fail(err, "record: cannot read the policies table %s: %s", POLICIES,
			    strerror(-err));
	for (i = 0; i < t.nrows && !found; i++) {
		const struct prow *row = &t.rows[i];

		if (strcmp(row->mode, "active"))
			continue;
		/* System-wide: every range; else ancestors' and descendants' ranges. */
		if (!s->cgid || !row->cgid)
			found = 1;
		else if (!cgroup_path_of(row->cgid, path, sizeof(path)))
			found = path_covers(path, s->path) || path_covers(s->path, path);
		if (found) {
			snprintf(name, len, "%s", row->name);
			cgroup_name(row->cgid, where, wlen);
		}
	}
	ptable_free(&t);
	return found;
}

/* One counter of the recorder's policies/ directory; -1 if unreadable. */
static long long recorder_counter(const struct scope *s, const char *file)
{
	char key[64], path[PATH_MAX], buf[64];

	scope_key(s, key, sizeof(key));
	snprintf(path, sizeof(path), POLICIES "/%s/%s", key, file);
	if (read_file(path, buf, sizeof(buf)))
		return -1;
	return strtoll(buf, NULL, 10);
}

static int record_usage(void)
{
	usage_error = true;
	return fail(-EINVAL, "usage: mthp-policy record [--duration S] [--cgroup PATH] [--force] FILE");
}

/*
 * Drain the ring buffer into the file until @secs pass (0: until a stop
 * signal) or a write fails.  The stop signals are blocked but while
 * waiting, so none is lost between a check and the wait.
 */
static int record_loop(struct ring_buffer *rb, struct recording *r, double secs)
{
	struct timespec t0, now;
	struct epoll_event ev;
	sigset_t orig;
	int n, err = 0;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	block_stop_signals(&orig);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop && !r->err) {
		double left = 0.2;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (secs > 0) {
			left = secs - (now.tv_sec - t0.tv_sec) - (now.tv_nsec - t0.tv_nsec) / 1e9;
			if (left <= 0)
				break;
			if (left > 0.2)
				left = 0.2;
		}
		/* Woken early when the recorder finds the buffer filling. */
		n = epoll_pwait(ring_buffer__epoll_fd(rb), &ev, 1, (int)(left * 1000) + 1, &orig);
		if (n < 0 && errno != EINTR) {
			err = -errno;
			fail(err, "record: waiting for the ring buffer: %s", strerror(-err));
			break;
		}
		n = ring_buffer__consume(rb);
		if (n < 0 && !r->err) {
			err = fail(n, "record: reading the ring buffer: %s", bpf_strerror(-n));
			break;
		}
	}
	sigprocmask(SIG_SETMASK, &orig, NULL);
	return err ?: r->err;
}

/* record [--duration S] [--cgroup PATH] [--force] FILE */
int cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	char cur[64], where[PATH_MAX + 64], what[PATH_MAX];
	struct recording r = { .err = 0 };
	struct rec_file_header h;
	struct policy_recorder *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct bpf_link *link = NULL;
	struct scope s = { .shadow = true };
	const char *cg = NULL;
	long long calls = -1, time_ns = -1;
	bool force = false;
	double secs = 0;
	struct utsname u;
	int opt, err;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+d:c:f", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			err = parse_secs("record", "--duration", optarg, &secs);
			if (err)
				return err;
			break;
		case 'c':
			cg = optarg;
			break;
		case 'f':
			force = true;
			break;
		default:
			fail(-EINVAL, "record: unknown option, or an option without its value: %s",
			     argv[optind - 1]);
			return record_usage();
		}
	}
	if (optind != argc - 1)
		return record_usage();
	r.path = argv[optind];
	if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
		return fail(-EOPNOTSUPP, "record: the file format is little-endian; this machine is not, and record does not convert yet");
	err = machine_geometry(&r.g);
	if (err)
		return err;
	if (cg) {
		err = cgroup_resolve(cg, &s);
		if (err)
			return err;
		s.shadow = true;
	} else {
		snprintf(s.display, sizeof(s.display), "system-wide");
	}
	scope_where(&s, where, sizeof(where));
	/* The kernel would say EEXIST: say which policy holds the place. */
	if (scope_holder(&s, cur, sizeof(cur)) > 0)
		return fail(-EEXIST, "record: shadow policy '%s' is attached %s already, where the recorder goes; detach it first (mthp-policy detach%s)",
			    cur, where, scope_opts(&s, what, sizeof(what)));
	err = active_in_scope(&s, cur, sizeof(cur), what, sizeof(what));
	if (err < 0)
		return err;
	if (err) {
		if (!force)
			return fail(-EBUSY, "record: active policy '%s' (%s) plans ranges of the recorded scope; a recording holds the kernel's default plan, not the plan that stood: detach it, or record anyway with --force",
				    cur, what);
		note("record: active policy '%s' (%s) plans ranges of the recorded scope: the recording holds the kernel's default plan, not the plan that stood",
		     cur, what);
	}

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, REC_MAGIC, sizeof(h.magic));
	h.version = htole32(REC_VERSION);
	h.header_size = htole32(sizeof(h));
	h.record_size = htole32(r.g.size);
	h.page_size = htole32(r.g.page_size);
	h.nr_ptes = htole32(r.g.nr_ptes);
	h.pmd_order = htole32(r.g.pmd_order);
	h.nr_records = htole64(REC_UNKNOWN);
	h.start_time = htole64(time(NULL));
	if (!uname(&u)) {
		snprintf(h.release, sizeof(h.release), "%.*s", (int)sizeof(h.release) - 1, u.release);
		base_of(u.release, h.base, sizeof(h.base));
	}

	r.buf = malloc(r.g.size);
	if (!r.buf)
		return fail(-ENOMEM, "record: out of memory");

	skel = policy_recorder__open();
	if (!skel) {
		err = -errno;
		fail(err, "record: cannot open the recorder: %s", bpf_strerror(-err));
		goto out_buf;
	}
	skel->rodata->rec_nr_ptes = r.g.nr_ptes;
	skel->rodata->rec_words = r.g.words;
	skel->rodata->rec_max_chunks = r.g.max_chunks;
	skel->rodata->rec_size = r.g.size;
	skel->rodata->rec_wakeup = RING_BYTES / 2;
	err = bpf_map__set_max_entries(skel->maps.records, RING_BYTES);
	if (err) {
		fail(err, "record: cannot size the ring buffer: %s", bpf_strerror(-err));
		goto out_skel;
	}
	err = prepare_policy(skel->obj, "recorder", &s);
	if (!err)
		err = load_prepared(skel->obj, "recorder");
	if (err)
		goto out_skel;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.records), on_record, &r, NULL);
	if (!rb) {
		err = -errno;
		fail(err, "record: cannot read the ring buffer: %s", bpf_strerror(-err));
		goto out_skel;
	}
	err = attach_ops(skel->obj, "recorder", &s, &link);
	if (err)
		goto out_rb;
	/*
	 * FILE is created only now: a record that cannot start leaves an
	 * earlier recording of that name as it was.  Ranges planned meanwhile
	 * wait in the ring buffer.
	 */
	r.f = fopen(r.path, "w");
	if (!r.f) {
		err = -errno;
		fail(err, "record: cannot create %s: %s", r.path, strerror(-err));
		goto out_rb;
	}
	err = write_header(&r, &h);
	if (err)
		goto out_rb;
	printf("recording %s to %s (ring buffer %u MiB, %zu bytes a range)%s\n", where, r.path,
	       RING_BYTES >> 20, r.g.size, secs > 0 ? "" : "; stop with Ctrl-C");
	fflush(stdout);

	err = record_loop(rb, &r, secs);
	/* The recorder's counters go with its directory, at detach. */
	calls = recorder_counter(&s, "calls");
	time_ns = recorder_counter(&s, "time_ns");
	bpf_link__destroy(link);
	link = NULL;
	/* Detached: what is queued is all there will be. */
	if (!err) {
		int n = ring_buffer__consume(rb);

		if (n < 0 && !r.err)
			err = fail(n, "record: reading the ring buffer: %s", bpf_strerror(-n));
		err = err ?: r.err;
	}
	h.nr_records = htole64(r.written);
	h.dropped = htole64(skel->bss->dropped);
	h.skipped = htole64(skel->bss->skipped);
	if (!err)
		err = write_header(&r, &h);
	if (err)
		goto out_rb;
	printf("recorded %llu ranges, dropped %llu (ring buffer full), skipped %llu\n",
	       r.written, (unsigned long long)skel->bss->dropped,
	       (unsigned long long)skel->bss->skipped);
	if (calls > 0 && time_ns >= 0)
		printf("recorder cost: %lld calls, %lld ns in all, %.0f ns per range (the kernel's time_ns / calls)\n",
		       calls, time_ns, (double)time_ns / calls);
	else
		printf("recorder cost: no range was planned (calls %lld)\n", calls);
out_rb:
	bpf_link__destroy(link);
	ring_buffer__free(rb);
out_skel:
	policy_recorder__destroy(skel);
	if (r.f && fclose(r.f) && !err) {
		err = -errno;
		fail(err, "record: cannot write %s: %s", r.path, strerror(-err));
	}
out_buf:
	free(r.buf);
	return err;
}

/* --- replay --------------------------------------------------------- */

/* A recording open for reading: its header, and where its records are. */
struct rec_file {
	FILE *f;
	const char *path;
	struct rec_file_header h;
	struct geometry g;
	unsigned long long count;
};

static int bad_file(const char *path, const char *why)
{
	return fail(-EINVAL, "%s: %s", path, why);
}

/* Open a recording and check it is one this machine can replay. */
static int rec_open(struct rec_file *rf, const char *path)
{
	char why[256];
	unsigned long long tail;
	struct geometry mine;
	struct stat st;
	__u32 order;
	__u64 nr;
	int err;

	memset(rf, 0, sizeof(*rf));
	rf->path = path;
	if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
		return fail(-EOPNOTSUPP, "replay: recordings are little-endian; this machine is not, and replay does not convert yet");
	err = machine_geometry(&mine);
	if (err)
		return err;
	rf->f = fopen(path, "r");
	if (!rf->f) {
		err = -errno;
		return fail(err, "cannot open %s: %s", path, strerror(-err));
	}
	if (fstat(fileno(rf->f), &st)) {
		err = -errno;
		fail(err, "cannot stat %s: %s", path, strerror(-err));
		goto err;
	}
	if (fread(&rf->h, sizeof(rf->h), 1, rf->f) != 1) {
		err = bad_file(path, "not a recording of mthp-policy record (shorter than its header)");
		goto err;
	}
	if (memcmp(rf->h.magic, REC_MAGIC, sizeof(rf->h.magic))) {
		err = bad_file(path, "not a recording of mthp-policy record (bad magic)");
		goto err;
	}
	if (le32toh(rf->h.version) != REC_VERSION) {
		snprintf(why, sizeof(why),
			 "recording format version %u; this mthp-policy reads version %u only",
			 le32toh(rf->h.version), REC_VERSION);
		err = bad_file(path, why);
		goto err;
	}
	/* Strings from the file are printed: end them within their fields. */
	rf->h.release[sizeof(rf->h.release) - 1] = '\0';
	rf->h.base[sizeof(rf->h.base) - 1] = '\0';
	order = le32toh(rf->h.pmd_order);
	if (le32toh(rf->h.header_size) != sizeof(rf->h) || order <= MIN_COLLAPSE_ORDER ||
	    order >= 16) {
		err = bad_file(path, "damaged header (its sizes do not agree)");
		goto err;
	}
	geometry_of(&rf->g, le32toh(rf->h.page_size), order);
	if (le32toh(rf->h.nr_ptes) != rf->g.nr_ptes || le32toh(rf->h.record_size) != rf->g.size) {
		err = bad_file(path, "damaged header (its sizes do not agree)");
		goto err;
	}
	/* BPF_PROG_TEST_RUN takes only the kernel's own range size. */
	if (rf->g.page_size != mine.page_size || rf->g.nr_ptes != mine.nr_ptes) {
		snprintf(why, sizeof(why),
			 "recorded with %u-byte pages, %u PTEs per PMD; this machine has %u-byte pages, %u PTEs: the kernel tests only ranges of its own size",
			 rf->g.page_size, rf->g.nr_ptes, mine.page_size, mine.nr_ptes);
		err = bad_file(path, why);
		goto err;
	}
	/* The header was read whole: st_size >= header_size. */
	rf->count = (st.st_size - sizeof(rf->h)) / rf->g.size;
	tail = (st.st_size - sizeof(rf->h)) % rf->g.size;
	nr = le64toh(rf->h.nr_records);
	if (nr != REC_UNKNOWN && tail) {
		snprintf(why, sizeof(why), "truncated: %llu bytes after the last whole record", tail);
		err = bad_file(path, why);
		goto err;
	}
	if (nr != REC_UNKNOWN && nr != rf->count) {
		snprintf(why, sizeof(why), "truncated or damaged: its header counts %llu records, the file holds %llu",
			 (unsigned long long)nr, rf->count);
		err = bad_file(path, why);
		goto err;
	}
	/* A record killed or out of space leaves its last record cut: skip it. */
	if (nr == REC_UNKNOWN)
		note("%s: the recording did not end cleanly; replaying the %llu whole records it holds (%llu bytes after them ignored)",
		     path, rf->count, tail);
	if (fseek(rf->f, le32toh(rf->h.header_size), SEEK_SET)) {
		err = -errno;
		fail(err, "cannot read %s: %s", path, strerror(-err));
		goto err;
	}
	return 0;
err:
	fclose(rf->f);
	rf->f = NULL;
	return err;
}

#define REPLAY_ORDERS	32

/* What a policy planned over the recording (or, "recorded", the kernel did). */
struct tally {
	const char *name;
	struct bpf_object *obj;
	int fd;				/* its plan program */
	bool native;			/* `kernel`: the kernel's planner */
	unsigned long long ranges, planned, rejected, differ;
	unsigned long long chunks[REPLAY_ORDERS];
	unsigned long long folios;	/* chunks a folio as large maps already */
	unsigned long long ptes, none;	/* PTEs the chunks cover, of which empty */
};

static bool test_bit(const __u64 *map, unsigned int i)
{
	return map[i / 64] >> (i % 64) & 1;
}

/* Every chunk of a size khugepaged collapses into, aligned, inside the range. */
static bool plan_ok(const struct geometry *g, const struct mthp_policy_chunk *c, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (c[i].order < MIN_COLLAPSE_ORDER || c[i].order > g->pmd_order ||
		    c[i].offset & ((1U << c[i].order) - 1) ||
		    c[i].offset + (1U << c[i].order) > g->nr_ptes)
			return false;
	return true;
}

/*
 * Count a plan of @nr chunks (plan_ok()) over the range whose scan is @data.  A chunk
 * below the PMD order where a folio of its order or larger is mapped is
 * skipped at collapse (7.3's default plan has such chunks, the chunks
 * upstream's walk tries first): it is counted apart, not as collapsed.
 */
static void tally_plan(struct tally *t, const struct geometry *g, const void *data,
		       const struct mthp_policy_chunk *c, unsigned int nr)
{
	const __u64 *present = data, *swap = present + g->words;
	const __u8 *folio_order = (const __u8 *)(present + 4 * g->words);
	unsigned int i, p, none;

	t->ranges++;
	t->planned += nr > 0;
	for (i = 0; i < nr; i++) {
		unsigned int order = c[i].order, n = 1U << order;
		bool folio = false;

		for (p = c[i].offset, none = 0; p < c[i].offset + n; p++) {
			none += !test_bit(present, p) && !test_bit(swap, p);
			folio |= order < g->pmd_order && folio_order[p] >= order;
		}
		if (folio) {
			t->folios++;
			continue;
		}
		t->chunks[order]++;
		t->ptes += n;
		t->none += none;
	}
}

static bool same_plan(const struct mthp_policy_chunk *a, unsigned int na,
		      const struct mthp_policy_chunk *b, unsigned int nb)
{
	return na == nb && !memcmp(a, b, na * sizeof(*a));
}

/* Load a policy to replay; `kernel` shares @kernel_obj's program. */
static int replay_load(struct tally *t, const char *name)
{
	static const struct scope system_wide;
	struct bpf_program *prog;

	t->name = name;
	t->native = !strcmp(name, "kernel");
	/* The kernel's planner runs through any policy program: default's. */
	t->obj = load_policy(t->native ? "default" : name, 0, NULL, &system_wide);
	if (!t->obj)
		return -errno;
	prog = bpf_object__next_program(t->obj, NULL);
	t->fd = prog ? bpf_program__fd(prog) : -1;
	if (t->fd < 0)
		return fail(-ENOENT, "policy '%s' has no program", name);
	return 0;
}

/* Run one policy on one record, and count its plan. */
static int replay_one(struct tally *t, const struct geometry *g, const struct rec_head *h,
		      const void *data, const struct mthp_policy_chunk *recorded,
		      struct mthp_policy_chunk *out, unsigned long long idx)
{
	struct mthp_policy_test in = {
		.address = h->address, .vm_start = h->vm_start, .vm_end = h->vm_end,
		.vm_flags = h->vm_flags, .memcg_id = h->memcg_id, .tgid = h->tgid,
		.nr_ptes = h->nr_ptes, .orders = h->orders, .max_ptes_none = h->max_ptes_none,
		.max_ptes_swap = h->max_ptes_swap, .max_ptes_shared = h->max_ptes_shared,
		.uffd_armed = h->uffd_armed, .flags = t->native ? MTHP_TEST_NATIVE : 0,
	};
	struct mthp_policy_test res = in;
	LIBBPF_OPTS(bpf_test_run_opts, run,
		    .ctx_in = &in, .ctx_size_in = sizeof(in),
		    .ctx_out = &res, .ctx_size_out = sizeof(res),
		    .data_in = data, .data_size_in = g->data_size,
		    .data_out = out, .data_size_out = 2 * g->max_chunks * sizeof(*out));
	int err = bpf_prog_test_run_opts(t->fd, &run);

	if (err)
		return fail(err, "record %llu: BPF_PROG_TEST_RUN of %s: %s", idx, t->name,
			    bpf_strerror(-err));
	if (res.nr > g->max_chunks || !plan_ok(g, out, res.nr))
		return fail(-EINVAL, "record %llu: %s's plan, as the kernel returned it, is not one a range can have (%u chunks)",
			    idx, t->name, res.nr);
	tally_plan(t, g, data, out, res.nr);
	t->rejected += res.rejected != 0;
	if (t->native && !same_plan(out, res.nr, recorded, h->default_nr))
		t->differ++;
	return 0;
}

static void print_row(const char *label, const struct tally *t, int n,
		      unsigned long long (*get)(const struct tally *, int), int arg)
{
	int i;

	printf("%-22s", label);
	for (i = 0; i < n; i++)
		printf(" %14llu", get(&t[i], arg));
	printf("\n");
}

static unsigned long long get_ranges(const struct tally *t, int a) { (void)a; return t->ranges; }
static unsigned long long get_planned(const struct tally *t, int a) { (void)a; return t->planned; }
static unsigned long long get_rejected(const struct tally *t, int a) { (void)a; return t->rejected; }
static unsigned long long get_chunks(const struct tally *t, int o) { return t->chunks[o]; }
static unsigned long long get_folios(const struct tally *t, int a) { (void)a; return t->folios; }
static unsigned long long get_ptes(const struct tally *t, int a) { (void)a; return t->ptes; }
static unsigned long long get_none(const struct tally *t, int a) { (void)a; return t->none; }

static void replay_print(const struct rec_file *rf, const struct tally *t, int n)
{
	char label[64], size[16];
	int i, o;

	printf("%s: %llu ranges recorded on %s (base %s), %u PTEs per PMD; %llu dropped while recording\n",
	       rf->path, rf->count, rf->h.release[0] ? rf->h.release : "?",
	       rf->h.base[0] ? rf->h.base : "?", rf->g.nr_ptes,
	       (unsigned long long)le64toh(rf->h.dropped));
	printf("%-22s", "");
	for (i = 0; i < n; i++)
		printf(" %14s", t[i].name);
	printf("\n");
	print_row("ranges", t, n, get_ranges, 0);
	print_row("ranges planned", t, n, get_planned, 0);
	print_row("plans rejected", t, n, get_rejected, 0);
	for (o = MIN_COLLAPSE_ORDER; o <= (int)rf->g.pmd_order && o < REPLAY_ORDERS; o++) {
		snprintf(label, sizeof(label), "chunks %s", size_label(o, size, sizeof(size)));
		print_row(label, t, n, get_chunks, o);
	}
	print_row("chunks already folios", t, n, get_folios, 0);
	print_row("PTEs collapsed", t, n, get_ptes, 0);
	print_row("bloat (empty PTEs)", t, n, get_none, 0);
	for (i = 0; i < n; i++)
		if (t[i].native)
			printf("kernel vs recorded: %llu of %llu ranges differ\n", t[i].differ,
			       t[i].ranges);
}

/* replay FILE POLICY... */
int cmd_replay(int argc, char **argv)
{
	struct mthp_policy_chunk *out = NULL;
	struct tally *t = NULL;
	struct rec_file rf;
	unsigned long long idx;
	void *buf = NULL;
	int i, n, err;

	if (argc < 3) {
		usage_error = true;
		return fail(-EINVAL, "usage: mthp-policy replay FILE POLICY... (POLICY: a shipped policy, a .bpf.o, or kernel)");
	}
	for (i = 2; i < argc; i++) {
		err = strcmp(argv[i], "kernel") ? policy_name_ok(argv[i]) : 0;
		if (err)
			return err;
	}
	err = rec_open(&rf, argv[1]);
	if (err)
		return err;
	/* Column 0: the plans the kernel made while recording. */
	n = argc - 1;
	t = calloc(n, sizeof(*t));
	buf = malloc(rf.g.size);
	out = calloc(2 * rf.g.max_chunks, sizeof(*out));
	if (!t || !buf || !out) {
		err = fail(-ENOMEM, "replay: out of memory");
		goto out;
	}
	t[0].name = "recorded";
	for (i = 1; i < n && !err; i++)
		err = replay_load(&t[i], argv[i + 1]);
	for (idx = 0; idx < rf.count && !err; idx++) {
		const struct rec_head *h = buf;
		const struct mthp_policy_chunk *recorded = (const void *)((char *)buf + rf.g.chunks_off);
		const void *data = (char *)buf + rf.g.data_off;

		if (fread(buf, rf.g.size, 1, rf.f) != 1) {
			err = fail(-EIO, "%s: cannot read record %llu", rf.path, idx);
			break;
		}
		if (h->nr_ptes != rf.g.nr_ptes || h->default_nr > rf.g.max_chunks ||
		    !plan_ok(&rf.g, recorded, h->default_nr)) {
			err = fail(-EINVAL, "%s: record %llu is damaged (%u PTEs, %u chunks, or a chunk out of place)",
				   rf.path, idx, h->nr_ptes, h->default_nr);
			break;
		}
		tally_plan(&t[0], &rf.g, data, recorded, h->default_nr);
		for (i = 1; i < n && !err; i++)
			err = replay_one(&t[i], &rf.g, h, data, recorded, out, idx);
	}
	if (!err)
		replay_print(&rf, t, n);
out:
	for (i = 0; t && i < n; i++)
		bpf_object__close(t[i].obj);
	free(t);
	free(out);
	free(buf);
	fclose(rf.f);
	return err;
}
