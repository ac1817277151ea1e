// SPDX-License-Identifier: GPL-2.0
/*
 * A cgroup's anonymous resident memory by folio size.
 *
 * The processes of the cgroup and of its descendants (cgroup.procs), their
 * anonymous mappings (/proc/PID/maps: no path, [heap], [stack], [anon:..]),
 * the page frames mapped there (/proc/PID/pagemap: needs CAP_SYS_ADMIN for
 * the PFNs), and the flags of each frame (/proc/kpageflags).  A frame of a
 * compound page belongs to the folio of the head before it (tails follow
 * their head), and the folio's size is its head and the tails that follow.
 * A frame mapped twice (fork, several processes) counts once in
 * workload_scan(); layout (layout.c) walks one process at a time, through
 * scan_process(), and sees each mapping of a frame.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include "mthp-policy.h"

#define KPF_ANON_BIT		12
#define KPF_HEAD_BIT		15
#define KPF_TAIL_BIT		16

#define PM_PRESENT		(1ULL << 63)
#define PM_PFN_MASK		((1ULL << 55) - 1)

#define PM_BATCH		4096		/* pagemap entries per read (32 KiB) */
#define KPF_BLOCK		512		/* kpageflags entries per read (4 KiB) */
#define KPF_SLOTS		256		/* blocks cached (1 MiB) */
#define HEAD_SLOTS		4096		/* folio sizes cached, by head */
#define SEEN_SHIFT		18		/* PFNs per bitmap leaf: 32 KiB each */
#define SEEN_MAXLEAF		(1UL << 22)	/* PFNs up to 2^40 (4 PiB) */
#define FOLIO_MAX		(1UL << 18)	/* pages in the largest folio looked for */
#define REGIONS			512		/* present ranges per PAGEMAP_SCAN */

struct kpf_block {
	__u64 blk;
	bool valid;
	__u64 flags[KPF_BLOCK];
};

struct scanner {
	int kpf_fd;
	struct kpf_block *kpf;
	unsigned long **seen;		/* two-level bitmap of the PFNs counted */
	size_t nseen;
	struct { __u64 head1; int order; } heads[HEAD_SLOTS];	/* head1: head + 1 */
	__u64 last_head;		/* the folio of the previous frame */
	int last_order;
	bool last_valid;
	__u64 *pm;
	long psize;
	int cancel_at;
	bool once;			/* count a frame once: the seen bitmap */
	bool no_pfn;			/* pagemap hid the PFNs */
#ifdef PAGEMAP_SCAN
	bool no_scan;			/* the kernel has no PAGEMAP_SCAN */
	struct page_region regions[REGIONS];
#endif
};

static bool cancelled(const struct scanner *s)
{
	return s->cancel_at && stop >= s->cancel_at;
}

/* The kpageflags of a frame, through a direct-mapped cache of blocks. */
static __u64 kpf(struct scanner *s, __u64 pfn)
{
	__u64 blk = pfn / KPF_BLOCK;
	struct kpf_block *b = &s->kpf[blk % KPF_SLOTS];

	if (!b->valid || b->blk != blk) {
		ssize_t n = pread(s->kpf_fd, b->flags, sizeof(b->flags),
				  (off_t)(blk * sizeof(b->flags)));

		if (n < 0)
			n = 0;
		memset((char *)b->flags + n, 0, sizeof(b->flags) - n);
		b->blk = blk;
		b->valid = true;
	}
	return b->flags[pfn % KPF_BLOCK];
}

/* Mark a frame counted; whether it was already.  Without memory: never. */
static bool seen(struct scanner *s, __u64 pfn)
{
	size_t leaf = pfn >> SEEN_SHIFT, bit = pfn & ((1UL << SEEN_SHIFT) - 1);
	const size_t per = 8 * sizeof(unsigned long);
	unsigned long *w;
	bool was;

	if (leaf >= SEEN_MAXLEAF)
		return false;
	if (leaf >= s->nseen) {
		size_t n = leaf + 1 + 64;
		unsigned long **ns = realloc(s->seen, n * sizeof(*ns));

		if (!ns)
			return false;
		memset(ns + s->nseen, 0, (n - s->nseen) * sizeof(*ns));
		s->seen = ns;
		s->nseen = n;
	}
	if (!s->seen[leaf]) {
		s->seen[leaf] = calloc(1, (1UL << SEEN_SHIFT) / 8);
		if (!s->seen[leaf])
			return false;
	}
	w = &s->seen[leaf][bit / per];
	was = *w & (1UL << (bit % per));
	*w |= 1UL << (bit % per);
	return was;
}

static int order_of(unsigned long pages)
{
	int o = 0;

	while (o < WL_ORDERS - 1 && (2UL << o) <= pages)
		o++;
	return o;
}

/* The order of the folio a frame belongs to; 0 if it cannot tell. */
static int folio_order(struct scanner *s, __u64 pfn, __u64 flags)
{
	const __u64 head_bit = 1ULL << KPF_HEAD_BIT, tail_bit = 1ULL << KPF_TAIL_BIT;
	unsigned long i, n;
	__u64 head = pfn, f;
	unsigned int slot;
	int order;

	if (!(flags & (head_bit | tail_bit)))
		return 0;
	if (s->last_valid && pfn >= s->last_head && pfn - s->last_head < (1ULL << s->last_order))
		return s->last_order;
	if (flags & tail_bit) {
		for (i = 1; i < FOLIO_MAX && i <= pfn; i++) {
			f = kpf(s, pfn - i);
			if (f & head_bit)
				break;
			if (!(f & tail_bit))
				return 0;	/* changed under us */
		}
		if (i >= FOLIO_MAX || i > pfn)
			return 0;
		head = pfn - i;
	}
	slot = (unsigned int)((head * 0x9E3779B97F4A7C15ULL) >> 52) % HEAD_SLOTS;
	if (s->heads[slot].head1 == head + 1) {
		order = s->heads[slot].order;
	} else {
		for (n = 1; n < FOLIO_MAX; n++) {
			f = kpf(s, head + n);
			if (!(f & tail_bit) || (f & head_bit))
				break;
		}
		order = order_of(n);
		s->heads[slot].head1 = head + 1;
		s->heads[slot].order = order;
	}
	if (pfn - head >= (1ULL << order))
		return 0;	/* a tail past the folio it found: changed under us */
	s->last_head = head;
	s->last_order = order;
	s->last_valid = true;
	return order;
}

static void count(struct scanner *s, const struct walk_ops *ops, void *ctx,
		  __u64 va, __u64 e)
{
	__u64 pfn = e & PM_PFN_MASK, flags;

	if (!(e & PM_PRESENT))
		return;
	if (!pfn) {
		s->no_pfn = true;
		return;
	}
	if (s->once && seen(s, pfn))
		return;
	flags = kpf(s, pfn);
	if (!(flags & (1ULL << KPF_ANON_BIT)))
		return;		/* the zero page, a page of a file */
	ops->page(ctx, va, folio_order(s, pfn, flags));
}

/* Anonymous memory: no path, the heap, a stack, a named anonymous mapping. */
static bool anonymous(const char *path)
{
	return !path[0] || !strcmp(path, "[heap]") || !strncmp(path, "[stack", 6) ||
	       !strncmp(path, "[anon:", 6);
}

/* Count the pages of [start, end) from pagemap; false if the process is gone. */
static bool scan_range(struct scanner *s, int fd, __u64 start, __u64 end,
		       const struct walk_ops *ops, void *ctx)
{
	__u64 va;

	for (va = start; va < end && !cancelled(s); ) {
		size_t n = (end - va) / s->psize, i;
		ssize_t got;

		if (n > PM_BATCH)
			n = PM_BATCH;
		if (!n)
			break;
		got = pread(fd, s->pm, n * sizeof(__u64), (off_t)(va / s->psize * sizeof(__u64)));
		if (got < (ssize_t)sizeof(__u64))
			return false;
		n = got / sizeof(__u64);
		for (i = 0; i < n; i++)
			count(s, ops, ctx, va + i * s->psize, s->pm[i]);
		va += n * s->psize;
	}
	return true;
}

/*
 * Count the pages of a mapping.  PAGEMAP_SCAN (Linux 6.7) says where pages
 * are present, so that pagemap is read there only: a sparse reservation
 * of terabytes (a JVM heap, a Go arena) costs nothing.  Without it, all of
 * pagemap.  False if the process is gone.
 */
static bool scan_vma(struct scanner *s, int fd, __u64 start, __u64 end,
		     const struct walk_ops *ops, void *ctx)
{
#ifdef PAGEMAP_SCAN
	__u64 at = start;
	long n, i;

	while (!s->no_scan && at < end && !cancelled(s)) {
		struct pm_scan_arg arg;

		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.start = at;
		arg.end = end;
		arg.vec = (__u64)(unsigned long)s->regions;
		arg.vec_len = REGIONS;
		arg.category_mask = PAGE_IS_PRESENT;
		arg.return_mask = PAGE_IS_PRESENT;
		n = ioctl(fd, PAGEMAP_SCAN, &arg);
		if (n < 0) {
			if (errno != ENOTTY && errno != EINVAL && errno != EOPNOTSUPP)
				return false;
			s->no_scan = true;
			break;
		}
		for (i = 0; i < n && i < REGIONS; i++)
			if (!scan_range(s, fd, s->regions[i].start, s->regions[i].end, ops, ctx))
				return false;
		if (arg.walk_end <= at || arg.walk_end > end)
			break;		/* no progress: read the rest */
		at = arg.walk_end;
	}
	if (at >= end || cancelled(s))
		return true;
	start = at;
#endif
	return scan_range(s, fd, start, end, ops, ctx);
}

/* Whether a process still runs (not gone, not a zombie). */
static bool alive(int pid)
{
	char path[64], buf[512], *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X' && p[2] != 'x';
}

/*
 * Walk the anonymous mappings of a process, in address order: ops->vma
 * before the pages of each, ops->page for each resident anonymous page,
 * ops->vma_end after.  0; -ESRCH: the process is gone, or went away in
 * the middle (what was walked is then incomplete); -ECANCELED: stopped;
 * another -errno: cannot open its maps or pagemap.  *no_pfn: pagemap hid
 * the PFNs (no CAP_SYS_ADMIN), the pages could not be counted.
 */
int scan_process(struct scanner *s, int pid, const struct walk_ops *ops, void *ctx,
		 bool *no_pfn)
{
	char path[64], line[512];
	bool whole = true, partial, gone = false;
	FILE *maps;
	int fd, err;

	s->no_pfn = false;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "re");
	if (!maps)
		return errno == ENOENT ? -ESRCH : -errno;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno == ENOENT ? -ESRCH : -errno;
		fclose(maps);
		return err;
	}
	s->last_valid = false;
	while (!gone && !cancelled(s)) {
		struct anon_mapping v = { 0 };
		size_t len;
		int off = -1;
		char *p;

		errno = 0;
		if (!fgets(line, sizeof(line), maps)) {
			gone = errno != 0;	/* a read error, not the end */
			break;
		}
		/* The rest of a line longer than the buffer: a long path. */
		len = strlen(line);
		partial = !whole;
		whole = len && line[len - 1] == '\n';
		if (partial)
			continue;
		if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %n", &v.start, &v.end, v.perms,
			   &off) != 3 || off < 0 || v.end <= v.start)
			continue;
		p = line + off;
		p[strcspn(p, "\n")] = '\0';
		if (!whole || !anonymous(p))
			continue;
		v.name = p;
		if (ops->vma)
			ops->vma(ctx, &v);
		if (!scan_vma(s, fd, v.start, v.end, ops, ctx))
			gone = true;
		if (ops->vma_end)
			ops->vma_end(ctx, &v);
	}
	close(fd);
	fclose(maps);
	if (no_pfn)
		*no_pfn = s->no_pfn;
	if (gone || !alive(pid))
		return -ESRCH;
	return cancelled(s) ? -ECANCELED : 0;
}

struct pids {
	int *pid;
	size_t n, cap;
};

/* The processes of a cgroup and its descendants. */
static void collect(char *dir, size_t len, size_t cap, struct pids *p, int depth)
{
	char buf[32];
	struct dirent *e;
	FILE *f;
	DIR *d;

	if (depth > 64 || len + sizeof("/cgroup.procs") > cap)
		return;
	memcpy(dir + len, "/cgroup.procs", sizeof("/cgroup.procs"));
	f = fopen(dir, "re");
	dir[len] = '\0';
	while (f && fgets(buf, sizeof(buf), f)) {
		int pid = atoi(buf);

		if (pid <= 0)
			continue;
		if (p->n == p->cap) {
			size_t nc = p->cap ? p->cap * 2 : 256;
			int *np = realloc(p->pid, nc * sizeof(*np));

			if (!np)
				break;
			p->pid = np;
			p->cap = nc;
		}
		p->pid[p->n++] = pid;
	}
	if (f)
		fclose(f);
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		struct stat st;

		if (e->d_name[0] == '.' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) ||
		    len + 1 + n >= cap)
			continue;
		dir[len] = '/';
		memcpy(dir + len + 1, e->d_name, n + 1);
		if (!lstat(dir, &st) && S_ISDIR(st.st_mode))
			collect(dir, len + 1 + n, cap, p, depth + 1);
		dir[len] = '\0';
	}
	if (d)
		closedir(d);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/*
 * The processes of a cgroup (a directory) and of its descendants, sorted,
 * each once, into *pid (to free).  Their number; -ENOENT: no cgroup there.
 */
int cgroup_pids(const char *cgpath, int **pid)
{
	char dir[PATH_MAX];
	struct pids p = { 0 };
	struct stat st;
	size_t i, n = 0;

	*pid = NULL;
	if (stat(cgpath, &st) || !S_ISDIR(st.st_mode))
		return -ENOENT;
	snprintf(dir, sizeof(dir), "%s", cgpath);
	collect(dir, strlen(dir), sizeof(dir), &p, 0);
	if (p.n)
		qsort(p.pid, p.n, sizeof(*p.pid), cmp_int);
	for (i = 0; i < p.n; i++)
		if (!i || p.pid[i] != p.pid[n - 1])
			p.pid[n++] = p.pid[i];
	*pid = p.pid;
	return (int)n;
}

void scanner_close(struct scanner *s)
{
	size_t i;

	if (!s)
		return;
	if (s->kpf_fd >= 0)
		close(s->kpf_fd);
	for (i = 0; i < s->nseen; i++)
		free(s->seen[i]);
	free(s->seen);
	free(s->kpf);
	free(s->pm);
	free(s);
}

/*
 * A scanner of pagemap and kpageflags.  once: a frame counts once, however
 * many times it is mapped; cancel_at: give up once stop reaches it (0:
 * never).  0, or -errno: cannot read kpageflags, no memory.
 */
int scanner_open(struct scanner **sp, bool once, int cancel_at)
{
	struct scanner *s;
	int err;

	*sp = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->once = once;
	s->cancel_at = cancel_at;
	s->psize = sysconf(_SC_PAGESIZE);
	s->kpf = calloc(KPF_SLOTS, sizeof(*s->kpf));
	s->pm = malloc(PM_BATCH * sizeof(__u64));
	s->kpf_fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (s->kpf_fd < 0 || !s->kpf || !s->pm || s->psize <= 0) {
		err = s->kpf_fd < 0 ? -errno : -ENOMEM;
		scanner_close(s);
		return err;
	}
	*sp = s;
	return 0;
}

static void wl_page(void *ctx, unsigned long long va, int order)
{
	struct workload *w = ctx;

	(void)va;
	w->pages[order]++;
	w->total++;
}

/*
 * Scan a cgroup (a directory).  0; -ENOENT: the cgroup is gone; another
 * -errno: cannot read kpageflags.  cancel_at: give up once stop reaches it.
 * A process that goes away in the middle is left out, silently.
 */
int workload_scan(const char *cgpath, struct workload *w, int cancel_at)
{
	const struct walk_ops ops = { .page = wl_page };
	struct workload mine;
	struct scanner *s;
	int *pid = NULL;
	int i, n, o, err;
	bool no_pfn;

	memset(w, 0, sizeof(*w));
	n = cgroup_pids(cgpath, &pid);
	if (n < 0)
		return n;
	err = scanner_open(&s, true, cancel_at);
	if (err)
		goto out;
	for (i = 0; i < n && !cancelled(s); i++) {
		memset(&mine, 0, sizeof(mine));
		no_pfn = false;
		if (scan_process(s, pid[i], &ops, &mine, &no_pfn))
			continue;
		for (o = 0; o < WL_ORDERS; o++)
			w->pages[o] += mine.pages[o];
		w->total += mine.total;
		w->no_pfn |= no_pfn;
		w->procs++;
	}
	w->interrupted = cancelled(s);
	scanner_close(s);
out:
	free(pid);
	return err;
}

/* "4K", "64K", "2M": the size of a folio of an order. */
const char *size_label(int order, char *buf, size_t len)
{
	unsigned long long kib = (unsigned long long)(sysconf(_SC_PAGESIZE) / 1024) << order;

	if (kib >= 1024 * 1024 && !(kib % (1024 * 1024)))
		snprintf(buf, len, "%lluG", kib / (1024 * 1024));
	else if (kib >= 1024 && !(kib % 1024))
		snprintf(buf, len, "%lluM", kib / 1024);
	else
		snprintf(buf, len, "%lluK", kib);
	return buf;
}
