// SPDX-License-Identifier: GPL-2.0
/*
 * What a real process does to its memory while khugepaged collapses it
 * into mixed mTHP sizes, in a tight loop (scan_sleep_millisecs 0):
 *
 * 1. munmap() of parts of a range (mapped again later), mremap() moving
 *    parts of a range to a spare slot (at the same offset or shifted off
 *    the folio alignment) and back, and shrinking/growing it in place;
 * 2. madvise() DONTNEED, FREE, PAGEOUT (swap-out through zram, swap-in
 *    by the next read) and COLD on sub-ranges;
 * 3. fork() with writes on both sides after it: the child checks the
 *    values at fork time, then its own writes, the parent its own;
 * 4. userfaultfd: a sub-range registered for missing faults, then
 *    unregistered: a page with no PTE once registered must fault;
 * 5. all of the above at once, and the process moved from one memory
 *    cgroup to a new one every few milliseconds, each old one removed as
 *    soon as no process is left in it (its charged pages stay, offline).
 *
 * Beside every part collapse policies are attached, replaced and detached
 * in a loop, when the kernel has the hook and the loader is built:
 * system-wide, active and shadow, and in part 5 also scoped to the cgroup
 * whose children the process moves through.  Before each detach, every
 * attached policy's counters must agree (calls = verdicts; a shadow
 * collapses nothing).
 *
 * Each worker thread owns every other range (nothing else writes it) and
 * keeps a model of each of its pages: the value written last, zero if
 * never written or zapped since, "the old value or zero" after MADV_FREE
 * until written again.  The model follows the pages when they move.
 * Every page read is checked against it.  Kernel reports are caught by
 * the VM runner; a stuck access by the watchdog.
 *
 * Usage: collapse_churn [-t SECONDS]   (racing time per part)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest.h"
#include "mthp.h"
#include "watchdog.h"

#define NR_RANGES	16
#define NR_WORKERS	2	/* worker w owns ranges w, w + NR_WORKERS, ... */
#define NR_PAGES	(NR_RANGES * PMD_PAGES)
#define WORDS		(PAGE_SZ / 8)
#define MAX_REPORTS	10	/* mismatches printed per part */
#define ALL_ORDERS	0x3fcU	/* 16K .. 2M */

#define POLICY_KNOB	"/sys/kernel/mm/transparent_hugepage/khugepaged/policy"

/*
 * Whether this kernel refuses an mremap() of several VMAs with EFAULT (before
 * 6.17); on a later one EFAULT is an error like any other.
 */
static bool mremap_efault;

static void read_kernel_version(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (!uname(&u))
		sscanf(u.release, "%d.%d", &major, &minor);
	mremap_efault = major < 6 || (major == 6 && minor < 17);
}

/* What a worker may do in a part. */
enum op {
	OP_FILL,	/* write a whole aligned block: collapsible again */
	OP_REWRITE,	/* rewrite a few pages in place */
	OP_CHECK,	/* read every word of a range */
	OP_DONTNEED,
	OP_UNMAP,	/* munmap a sub-range, map it again */
	OP_MOVE,	/* mremap a sub-range to the spare slot, or back */
	OP_RESIZE,	/* mremap: shrink the range's tail away, grow it back */
	OP_FREE,
	OP_PAGEOUT,
	OP_COLD,
	OP_FREE_PAGEOUT,	/* MADV_FREE then reclaim: lazyfree pages dropped */
	OP_FORK,
	OP_UFFD,
	NR_OPS
};
static const char *const op_names[NR_OPS] = {
	"fill", "rewrite", "check", "dontneed", "munmap", "mremap-move",
	"mremap-resize", "free", "pageout", "cold", "free+pageout", "fork", "uffd",
};

#define OPS_BASE	(1U << OP_FILL | 1U << OP_REWRITE | 1U << OP_CHECK | 1U << OP_DONTNEED)

struct part {
	const char *name;
	unsigned int ops;	/* OPS_BASE | ... */
	unsigned int orders;	/* enabled sizes */
	const char *max_ptes_none;
	bool memcg;		/* move between memory cgroups, remove them */
};

/*
 * max_ptes_none 0: only fully written aligned blocks collapse, each to
 * its own size; 511: holes are filled, to the largest size that fits.
 */
static const struct part parts[] = {
	{ "munmap and mremap during collapse",
	  OPS_BASE | 1U << OP_UNMAP | 1U << OP_MOVE | 1U << OP_RESIZE, ALL_ORDERS, "0", false },
	{ "madvise and swap during collapse",
	  OPS_BASE | 1U << OP_FREE | 1U << OP_PAGEOUT | 1U << OP_COLD | 1U << OP_FREE_PAGEOUT,
	  ALL_ORDERS, "511", false },
	{ "fork and COW during collapse",
	  OPS_BASE | 1U << OP_FORK | 1U << OP_PAGEOUT, ALL_ORDERS, "0", false },
	{ "userfaultfd registration during collapse",
	  OPS_BASE | 1U << OP_UFFD, ALL_ORDERS & ~(1U << PMD_ORDER), "511", false },
	{ "everything at once during collapse", (1U << NR_OPS) - 1, ALL_ORDERS, "511", true },
};
#define NR_PARTS	(sizeof(parts) / sizeof(parts[0]))

/*
 * The area: range r's home is PMD slot 2r, its spare slot 2r + 1, kept
 * mapped PROT_NONE when unused so that nothing else is placed there.
 * Pages [mv_lo, mv_hi) of a range may be in the spare slot, mv_shift
 * pages further than at home.
 */
struct range {
	char *home, *spare;
	unsigned int mv_lo, mv_hi, mv_shift;
};
static char *area;
static struct range ranges[NR_RANGES];

/* The model, per page of a range (range r, page i: r * PMD_PAGES + i). */
static uint32_t gen[NR_PAGES];		/* last value written, 0: must read zero */
static unsigned char loose[NR_PAGES];	/* MADV_FREE'd: gen[] or zero */
static unsigned char bad[NR_PAGES];	/* mismatch reported, not rewritten since */
static unsigned char faulted[NR_PAGES];	/* uffd: a missing fault came */
static uint32_t last_gen;

/*
 * Counters, in a shared page: fork()'s children add theirs.  A child
 * prints nothing (another thread may hold stdout's lock at the fork):
 * it leaves its first mismatch in msg[] for the parent to print.
 */
struct counts {
	unsigned long checked, mismatch, errors, reports;
	unsigned long ops[NR_OPS];
	unsigned long forks, child_failed;
	unsigned long move_efault;	/* mremap: sub-range of several VMAs */
	unsigned long uffd_faults, uffd_expected;
	unsigned long policy_cmds, policy_failed, policy_checks, policy_bad;
	unsigned long memcg_moves, memcg_removed, memcg_errors;
	char msg[NR_WORKERS][256];
};
static struct counts *cnt;
static int in_child;	/* this process is a fork() child */
static unsigned long child_bad, child_err;	/* its own mismatches and errors */
static int stop, handler_stop;

/* --- the watchdog and the SIGALRM net --- */

static pid_t policy_pid;	/* the loader running now, if any */

static void bail(void)
{
	pid_t p = __atomic_load_n(&policy_pid, __ATOMIC_RELAXED);

	if (p > 0)
		kill(p, SIGKILL);
	thp_restore_knobs();
	_exit(KSFT_FAIL);
}

/* Where each of our threads is in the kernel. */
static void dump_tasks(bool stuck)
{
	(void)stuck;
	watch_dump_tasks(getpid(), NULL, 0);
}

/* --- pages and their values --- */

static int stopped(void)
{
	return __atomic_load_n(&stop, __ATOMIC_RELAXED);
}

static void count(unsigned long *c, unsigned long n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* Where page i of range r is now: at home, or moved to the spare slot. */
static char *page_addr(unsigned int r, unsigned int i)
{
	const struct range *rg = &ranges[r];

	if (i >= rg->mv_lo && i < rg->mv_hi)
		return rg->spare + (size_t)(i + rg->mv_shift) * PAGE_SZ;
	return rg->home + (size_t)i * PAGE_SZ;
}

static void write_page(unsigned int r, unsigned int i)
{
	volatile uint64_t *w = (volatile uint64_t *)page_addr(r, i);
	size_t pg = (size_t)r * PMD_PAGES + i;
	uint32_t g = __atomic_add_fetch(&last_gen, 1, __ATOMIC_RELAXED);

	page_stamp(w, pg, g);
	gen[pg] = g;
	loose[pg] = 0;
	bad[pg] = 0;
}

/* The page reads zero from now on (zapped, unmapped, fresh). */
static void model_zero(unsigned int r, unsigned int lo, unsigned int hi)
{
	size_t pg;

	for (pg = (size_t)r * PMD_PAGES + lo; pg < (size_t)r * PMD_PAGES + hi; pg++)
		gen[pg] = loose[pg] = bad[pg] = 0;
}

static void report(unsigned int r, unsigned int i, unsigned int word, uint64_t found,
		   uint64_t want)
{
	static const char fmt[] =
		"%smismatch at %p (range %u page %u word %u): found %#llx, expected %#llx%s\n";
	const char *who = in_child ? "fork child: " : "";
	const char *fr = loose[r * PMD_PAGES + i] ? " or zero" : "";
	void *at = page_addr(r, i) + word * 8;

	if (__atomic_fetch_add(&cnt->reports, 1, __ATOMIC_RELAXED) >= MAX_REPORTS)
		return;
	if (in_child) {
		/* Its first only: the parent prints it after the child's exit. */
		if (!cnt->msg[r % NR_WORKERS][0])
			snprintf(cnt->msg[r % NR_WORKERS], sizeof(cnt->msg[0]), fmt, who, at,
				 r, i, word, (unsigned long long)found,
				 (unsigned long long)want, fr);
		return;
	}
	ksft_print_msg(fmt, who, at, r, i, word, (unsigned long long)found,
		       (unsigned long long)want, fr);
}

/*
 * Compare page i of range r with the model: the marks only (@full == 0)
 * or every word.  A loose page may read its old value or zero, all of
 * it one or the other; once it reads zero it stays zero (dropped).  A
 * bad page is counted once until written again.  Returns 0 if as expected.
 */
static int check_page(unsigned int r, unsigned int i, int full)
{
	volatile uint64_t *w = (volatile uint64_t *)page_addr(r, i);
	size_t pg = (size_t)r * PMD_PAGES + i;
	unsigned int n = full ? WORDS : NR_PAGE_MARKS, k, word;
	uint32_t g = gen[pg];
	int zero_ok = loose[pg], old_ok = 1;
	uint64_t got, first_bad = 0;
	unsigned int bad_word = 0;

	count(&cnt->checked, 1);
	for (k = 0; k < n; k++) {
		word = full ? k : page_marks[k];
		got = w[word];
		if (old_ok && got != stamp_word(pg, g, word)) {
			old_ok = 0;
			first_bad = got;
			bad_word = word;
		}
		if (zero_ok && got)
			zero_ok = 0;
		if (!old_ok && !zero_ok)
			break;
	}
	if (old_ok)
		return 0;
	if (zero_ok) {
		/* Dropped by reclaim: zero until written. */
		gen[pg] = 0;
		loose[pg] = 0;
		return 0;
	}
	if (!bad[pg]) {
		bad[pg] = 1;
		count(&cnt->mismatch, 1);
		child_bad += in_child;
		report(r, i, bad_word, first_bad, stamp_word(pg, g, bad_word));
	}
	return 1;
}

static void check_range(unsigned int r, int full)
{
	unsigned int i;

	for (i = 0; i < PMD_PAGES; i++)
		check_page(r, i, full);
}

static void error(const char *what, int err)
{
	count(&cnt->errors, 1);
	if (in_child) {
		child_err++;
		return;
	}
	ksft_print_msg("%s: %s\n", what, strerror(err));
}

/*
 * Read a block first, so that it maps the zero page and the writes then
 * fault in small pages, not an mTHP: khugepaged has the collapsing to do.
 */
static void fill(unsigned int r, unsigned int lo, unsigned int hi)
{
	unsigned int i;

	for (i = lo; i < hi; i++)
		check_page(r, i, 0);
	for (i = lo; i < hi; i++)
		write_page(r, i);
}

/* An aligned block of 4..256 pages, [*lo, *hi). */
static void pick_block(unsigned int *seed, unsigned int *lo, unsigned int *hi)
{
	unsigned int nr = 4U << xorshift(seed) % 7;

	*lo = xorshift(seed) % (PMD_PAGES / nr) * nr;
	*hi = *lo + nr;
}

/* Any sub-range of 1..128 pages, aligned or not. */
static void pick_any(unsigned int *seed, unsigned int *lo, unsigned int *hi)
{
	unsigned int nr = 1 + xorshift(seed) % 128;

	*lo = xorshift(seed) % (PMD_PAGES - nr + 1);
	*hi = *lo + nr;
}

static int advise(unsigned int r, unsigned int lo, unsigned int hi, int advice,
		  const char *name)
{
	unsigned int a = lo, b;

	/* The sub-range may be in two places: at home and in the spare slot. */
	while (a < hi) {
		int moved = a >= ranges[r].mv_lo && a < ranges[r].mv_hi;

		b = a + 1;
		while (b < hi && (b >= ranges[r].mv_lo && b < ranges[r].mv_hi) == moved)
			b++;
		if (madvise(page_addr(r, a), (size_t)(b - a) * PAGE_SZ, advice)) {
			error(name, errno);
			return -1;
		}
		a = b;
	}
	return 0;
}

/* --- the operations: each leaves the range mapped and the model right --- */

static void op_dontneed(unsigned int r, unsigned int *seed)
{
	unsigned int lo, hi;

	if (xorshift(seed) % 2)
		pick_block(seed, &lo, &hi);
	else
		pick_any(seed, &lo, &hi);
	if (advise(r, lo, hi, MADV_DONTNEED, "MADV_DONTNEED"))
		return;
	model_zero(r, lo, hi);
	for (unsigned int i = lo; i < hi; i++)
		check_page(r, i, 0);
}

/* A fresh anonymous mapping in place of [lo, hi) of the home slot. */
static int map_fresh(char *at, size_t len, int prot)
{
	void *p = mmap(at, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED) {
		error("mmap MAP_FIXED_NOREPLACE", errno);
		return -1;
	}
	if (p != at) {
		/* An old kernel without NOREPLACE: it placed it elsewhere. */
		munmap(p, len);
		error("mmap MAP_FIXED_NOREPLACE", EEXIST);
		return -1;
	}
	if (prot != PROT_NONE && madvise(p, len, MADV_HUGEPAGE)) {
		error("MADV_HUGEPAGE", errno);
		return -1;
	}
	return 0;
}

/*
 * munmap a sub-range (not moved), work on the rest of the range a while,
 * map it again: it reads zero.
 */
static void op_unmap(unsigned int r, unsigned int *seed)
{
	struct range *rg = &ranges[r];
	unsigned int lo, hi, i, k;

	if (xorshift(seed) % 2)
		pick_block(seed, &lo, &hi);
	else
		pick_any(seed, &lo, &hi);
	if (rg->mv_hi > rg->mv_lo && lo < rg->mv_hi && hi > rg->mv_lo)
		return;
	if (munmap(rg->home + (size_t)lo * PAGE_SZ, (size_t)(hi - lo) * PAGE_SZ)) {
		error("munmap", errno);
		return;
	}
	for (k = 0; k < 16; k++) {
		i = xorshift(seed) % PMD_PAGES;
		if (i >= lo && i < hi)
			continue;
		check_page(r, i, 0);
		write_page(r, i);
	}
	pause_us(xorshift(seed) % 300);
	if (map_fresh(rg->home + (size_t)lo * PAGE_SZ, (size_t)(hi - lo) * PAGE_SZ,
		      PROT_READ | PROT_WRITE)) {
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);	/* the range has a hole */
		return;
	}
	model_zero(r, lo, hi);
	for (i = lo; i < hi; i++)
		check_page(r, i, 0);
}

/*
 * Move [lo, hi) to the spare slot (same offset, or shifted off the folio
 * alignment), or move it back home.  The spare slot's reservation is
 * replaced by the move and put back after the move home.
 */
static void op_move(unsigned int r, unsigned int *seed)
{
	static const unsigned int shifts[] = { 0, 0, 1, 3, 16, 64 };
	struct range *rg = &ranges[r];
	unsigned int lo, hi, shift;
	size_t len;
	void *p;

	if (rg->mv_hi > rg->mv_lo) {
		len = (size_t)(rg->mv_hi - rg->mv_lo) * PAGE_SZ;
		p = mremap(rg->spare + (size_t)(rg->mv_lo + rg->mv_shift) * PAGE_SZ, len, len,
			   MREMAP_MAYMOVE | MREMAP_FIXED, rg->home + (size_t)rg->mv_lo * PAGE_SZ);
		if (p == MAP_FAILED) {
			error("mremap back home", errno);
			__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
			return;
		}
		if (map_fresh(rg->spare + (size_t)(rg->mv_lo + rg->mv_shift) * PAGE_SZ, len,
			      PROT_NONE))
			__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
		lo = rg->mv_lo;
		hi = rg->mv_hi;
		rg->mv_lo = rg->mv_hi = rg->mv_shift = 0;
	} else {
		switch (xorshift(seed) % 3) {
		case 0:
			lo = 0;
			hi = PMD_PAGES;
			break;
		case 1:
			pick_block(seed, &lo, &hi);
			break;
		default:
			pick_any(seed, &lo, &hi);
			break;
		}
		shift = shifts[xorshift(seed) % (sizeof(shifts) / sizeof(shifts[0]))];
		if (hi + shift > PMD_PAGES)
			shift = 0;
		len = (size_t)(hi - lo) * PAGE_SZ;
		p = mremap(rg->home + (size_t)lo * PAGE_SZ, len, len,
			   MREMAP_MAYMOVE | MREMAP_FIXED, rg->spare + (size_t)(lo + shift) * PAGE_SZ);
		if (p == MAP_FAILED) {
			int err = errno;

			/*
			 * Nothing moved: the model stays as it is.  Before 6.17
			 * a move of more than one VMA fails with EFAULT, after
			 * unmapping the target: put the reservation back, or
			 * another mapping could take its place.
			 */
			if (err == EFAULT && mremap_efault && mmap(rg->spare + (size_t)(lo + shift) * PAGE_SZ, len,
						  PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
						  -1, 0) != MAP_FAILED)
				count(&cnt->move_efault, 1);
			else
				error("mremap to the spare slot", err);
			return;
		}
		rg->mv_lo = lo;
		rg->mv_hi = hi;
		rg->mv_shift = shift;
	}
	/* Whatever moved, read it where it is now, and write some of it. */
	for (unsigned int i = lo; i < hi; i++) {
		check_page(r, i, i % 8 == 0);
		if (xorshift(seed) % 16 == 0)
			write_page(r, i);
	}
}

/*
 * Shrink the range's tail away with mremap, work on what is left, grow
 * it back in place: the tail then reads zero.
 */
static void op_resize(unsigned int r, unsigned int *seed)
{
	struct range *rg = &ranges[r];
	unsigned int k = 1 + xorshift(seed) % (PMD_PAGES - 1), i, n;
	char *last;
	void *p;

	if (rg->mv_hi > rg->mv_lo)
		return;
	last = rg->home + (size_t)(k - 1) * PAGE_SZ;
	p = mremap(last, (size_t)(PMD_PAGES - k + 1) * PAGE_SZ, PAGE_SZ, 0);
	if (p == MAP_FAILED) {
		error("mremap shrink", errno);
		return;
	}
	for (n = 0; n < 16; n++) {
		i = xorshift(seed) % k;
		check_page(r, i, 0);
		write_page(r, i);
	}
	pause_us(xorshift(seed) % 300);
	p = mremap(last, PAGE_SZ, (size_t)(PMD_PAGES - k + 1) * PAGE_SZ, 0);
	if (p == MAP_FAILED) {
		error("mremap grow in place", errno);
		/* Map the tail afresh so the range is whole again. */
		if (map_fresh(rg->home + (size_t)k * PAGE_SZ, (size_t)(PMD_PAGES - k) * PAGE_SZ,
			      PROT_READ | PROT_WRITE))
			__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	}
	model_zero(r, k, PMD_PAGES);
	for (i = k; i < PMD_PAGES; i++)
		check_page(r, i, 0);
}

static void op_free(unsigned int r, unsigned int *seed, int pageout)
{
	unsigned int lo, hi, i;

	if (xorshift(seed) % 2)
		pick_block(seed, &lo, &hi);
	else
		pick_any(seed, &lo, &hi);
	if (advise(r, lo, hi, MADV_FREE, "MADV_FREE"))
		return;
	for (i = lo; i < hi; i++)
		loose[(size_t)r * PMD_PAGES + i] = gen[(size_t)r * PMD_PAGES + i] != 0;
	if (pageout)
		advise(r, lo, hi, MADV_PAGEOUT, "MADV_PAGEOUT");
	/* Some are written again (defined), some read, some left for later. */
	for (i = lo; i < hi; i++) {
		switch (xorshift(seed) % 4) {
		case 0:
			write_page(r, i);
			break;
		case 1:
			check_page(r, i, 0);
			break;
		}
	}
}

/* Swap out (PAGEOUT) or age (COLD) a sub-range or the whole range; read some back. */
static void op_reclaim(unsigned int r, unsigned int *seed, int advice, const char *name)
{
	unsigned int lo, hi, i;

	if (xorshift(seed) % 4 == 0) {
		lo = 0;
		hi = PMD_PAGES;
	} else if (xorshift(seed) % 2) {
		pick_block(seed, &lo, &hi);
	} else {
		pick_any(seed, &lo, &hi);
	}
	if (advise(r, lo, hi, advice, name))
		return;
	pause_us(xorshift(seed) % 200);
	/* Swap-in by reads and by writes, or left for khugepaged to find. */
	for (i = lo; i < hi; i++) {
		switch (xorshift(seed) % 4) {
		case 0:
			check_page(r, i, 1);
			break;
		case 1:
			check_page(r, i, 0);
			write_page(r, i);
			break;
		}
	}
}

/* --- fork --- */

struct worker {
	pthread_t tid;
	unsigned int id, seed;
	unsigned int ops;
};

/*
 * The child of op_fork: its view is the parent's at fork time, then its
 * own writes and zaps.  Checks the forking worker's ranges (the others
 * may be mid-operation in the copy) and exits 0, 1 (mismatch) or 2.
 */
static void fork_child(struct worker *w)
{
	unsigned int r, k, lo, hi;

	in_child = 1;
	for (r = w->id; r < NR_RANGES; r += NR_WORKERS)
		check_range(r, 1);
	for (k = 0; k < 64; k++) {
		r = w->id + xorshift(&w->seed) % (NR_RANGES / NR_WORKERS) * NR_WORKERS;
		if (k % 16 == 0) {
			pick_block(&w->seed, &lo, &hi);
			if (!advise(r, lo, hi, MADV_DONTNEED, "MADV_DONTNEED"))
				model_zero(r, lo, hi);
		}
		lo = xorshift(&w->seed) % PMD_PAGES;
		check_page(r, lo, 0);
		write_page(r, lo);
	}
	for (r = w->id; r < NR_RANGES; r += NR_WORKERS)
		check_range(r, 1);
	_exit(child_bad ? 1 : child_err ? 2 : 0);
}

static void op_fork(struct worker *w, unsigned int r)
{
	int status, k;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		error("fork", errno);
		return;
	}
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGALRM, SIG_DFL);
		fork_child(w);
	}
	count(&cnt->forks, 1);
	/* The parent writes the same ranges meanwhile: COW on both sides. */
	for (k = 0; k < 64; k++) {
		unsigned int i = xorshift(&w->seed) % PMD_PAGES;

		check_page(r, i, 0);
		write_page(r, i);
	}
	if (waitpid(pid, &status, 0) != pid) {
		error("waitpid", errno);
		return;
	}
	if (cnt->msg[w->id][0]) {
		ksft_print_msg("%s", cnt->msg[w->id]);
		cnt->msg[w->id][0] = '\0';
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		if (__atomic_fetch_add(&cnt->child_failed, 1, __ATOMIC_RELAXED) < MAX_REPORTS)
			ksft_print_msg("fork child of range %u: %s %d\n", r,
				       WIFEXITED(status) ? "exit status" : "signal",
				       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 1)
			count(&cnt->errors, 1);
	}
	check_range(r, 1);
}

/* --- userfaultfd --- */

static int uffd = -1;

static void *uffd_handler_fn(void *arg)
{
	struct uffd_msg msg;
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };

	(void)arg;
	/* Until every worker is out: one may be in a fault only we answer. */
	while (!__atomic_load_n(&handler_stop, __ATOMIC_RELAXED)) {
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if (read(uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT) {
			error("userfaultfd: unexpected event", EINVAL);
			continue;
		}
		uintptr_t off = (uintptr_t)msg.arg.pagefault.address - (uintptr_t)area;
		unsigned int slot = off / PMD_SZ, i = off % PMD_SZ / PAGE_SZ;
		struct uffdio_zeropage zp = {
			.range = { .start = msg.arg.pagefault.address & ~(PAGE_SZ - 1),
				   .len = PAGE_SZ },
		};

		/* Only home slots are registered. */
		if (slot % 2 == 0 && slot / 2 < NR_RANGES)
			__atomic_store_n(&faulted[slot / 2 * PMD_PAGES + i], 1, __ATOMIC_RELEASE);
		count(&cnt->uffd_faults, 1);
		if (ioctl(uffd, UFFDIO_ZEROPAGE, &zp) && errno != EEXIST)
			error("UFFDIO_ZEROPAGE", errno);
	}
	return NULL;
}

#define PM_PRESENT	(1ULL << 63)
#define PM_SWAP		(1ULL << 62)

/*
 * Register a sub-range at home for missing faults, often just after
 * zapping part of it (khugepaged may be filling those holes right then).
 * A page with no PTE once registered (no page, no swap entry) must fault
 * when read, however long khugepaged had: a collapse must not fill it.
 * Then unregister.
 */
static void op_uffd(unsigned int r, unsigned int *seed)
{
	struct range *rg = &ranges[r];
	unsigned int lo, hi, i;
	uint64_t pm[256];
	struct uffdio_register reg;
	struct uffdio_range ur;
	int fd;

	if (uffd < 0 || rg->mv_hi > rg->mv_lo)
		return;
	pick_block(seed, &lo, &hi);
	if (xorshift(seed) % 2) {
		unsigned int a = lo + xorshift(seed) % (hi - lo);
		unsigned int b = a + 1 + xorshift(seed) % (hi - a);

		if (advise(r, a, b, MADV_DONTNEED, "MADV_DONTNEED"))
			return;
		model_zero(r, a, b);
	}
	reg.range.start = (uintptr_t)(rg->home + (size_t)lo * PAGE_SZ);
	reg.range.len = (size_t)(hi - lo) * PAGE_SZ;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		error("UFFDIO_REGISTER", errno);
		return;
	}
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0 || pread(fd, pm, (hi - lo) * sizeof(pm[0]),
			    reg.range.start / PAGE_SZ * sizeof(pm[0])) !=
			      (ssize_t)((hi - lo) * sizeof(pm[0]))) {
		error("pagemap", errno);
		hi = lo;	/* nothing to expect */
	}
	if (fd >= 0)
		close(fd);
	for (i = lo; i < hi; i++)
		faulted[(size_t)r * PMD_PAGES + i] = 0;
	/* Leave khugepaged a moment with the range registered. */
	pause_us(xorshift(seed) % 2000);
	for (i = lo; i < hi; i++) {
		if (pm[i - lo] & (PM_PRESENT | PM_SWAP))
			continue;
		check_page(r, i, 0);
		count(&cnt->uffd_expected, 1);
		if (!__atomic_load_n(&faulted[(size_t)r * PMD_PAGES + i], __ATOMIC_ACQUIRE)) {
			count(&cnt->errors, 1);
			ksft_print_msg("uffd: range %u page %u had no PTE at registration but read without a missing fault\n",
				       r, i);
		}
	}
	/* The rest of the sub-range, and some writes, while registered. */
	for (i = lo; i < hi; i++) {
		check_page(r, i, 0);
		if (xorshift(seed) % 4 == 0)
			write_page(r, i);
	}
	ur.start = reg.range.start;
	ur.len = reg.range.len;
	if (ioctl(uffd, UFFDIO_UNREGISTER, &ur))
		error("UFFDIO_UNREGISTER", errno);
}

/* --- workers --- */

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	unsigned int lo, hi, op, r, i;

	/* khugepaged runs at nice 19: at nice 0 our loops left it no CPU. */
	setpriority(PRIO_PROCESS, 0, 19);
	while (!stopped()) {
		r = w->id + xorshift(&w->seed) % (NR_RANGES / NR_WORKERS) * NR_WORKERS;
		op = xorshift(&w->seed) % NR_OPS;
		if (!(w->ops & (1U << op)))
			continue;
		count(&cnt->ops[op], 1);
		switch (op) {
		case OP_FILL:
			pick_block(&w->seed, &lo, &hi);
			fill(r, lo, hi);
			break;
		case OP_REWRITE:
			for (i = 0; i < 8; i++) {
				lo = xorshift(&w->seed) % PMD_PAGES;
				check_page(r, lo, 0);
				write_page(r, lo);
			}
			break;
		case OP_CHECK:
			check_range(r, 1);
			break;
		case OP_DONTNEED:
			op_dontneed(r, &w->seed);
			break;
		case OP_UNMAP:
			op_unmap(r, &w->seed);
			break;
		case OP_MOVE:
			op_move(r, &w->seed);
			break;
		case OP_RESIZE:
			op_resize(r, &w->seed);
			break;
		case OP_FREE:
			op_free(r, &w->seed, 0);
			break;
		case OP_FREE_PAGEOUT:
			op_free(r, &w->seed, 1);
			break;
		case OP_PAGEOUT:
			op_reclaim(r, &w->seed, MADV_PAGEOUT, "MADV_PAGEOUT");
			break;
		case OP_COLD:
			op_reclaim(r, &w->seed, MADV_COLD, "MADV_COLD");
			break;
		case OP_FORK:
			op_fork(w, r);
			break;
		case OP_UFFD:
			op_uffd(r, &w->seed);
			break;
		}
		/* A breath for khugepaged between operations. */
		pause_us(xorshift(&w->seed) % 100);
	}
	/* Everything moved comes home for the final check. */
	for (r = w->id; r < NR_RANGES; r += NR_WORKERS)
		if (ranges[r].mv_hi > ranges[r].mv_lo)
			op_move(r, &w->seed);
	return NULL;
}

/* --- memory cgroup moves and removal --- */

#define CG_ROOT		"/sys/fs/cgroup"
#define CG_DIR		CG_ROOT "/mthp-churn"
#define CG_KEEP		256	/* cgroups not yet removable (a child in them) */
#define CG_MAX_MOVES	2000	/* each one left offline costs memory */

static char cg_home[300];	/* where the process started: its cgroup.procs */
static unsigned long cg_keep[CG_KEEP], cg_nkeep;

/* Cgroup @n of this run: named by our pid, so a killed run's do not clash. */
static void cg_path(unsigned long n, char *buf, size_t len)
{
	snprintf(buf, len, CG_DIR "/p%d-%lu", getpid(), n);
}

/* Why the memcg moves cannot run here, or NULL. */
static const char *memcg_setup(void)
{
	char line[256];

	if (access(CG_ROOT "/cgroup.subtree_control", W_OK))
		return "no cgroup v2";
	if (read_line("/proc/self/cgroup", line, sizeof(line)) || strncmp(line, "0::/", 4))
		return "not in a cgroup v2 hierarchy";
	snprintf(cg_home, sizeof(cg_home), CG_ROOT "%s/cgroup.procs",
		 strcmp(line + 3, "/") ? line + 3 : "");
	if (write_file(CG_ROOT "/cgroup.subtree_control", "+memory"))
		return "no memory controller";
	if ((mkdir(CG_DIR, 0755) && errno != EEXIST) ||
	    write_file(CG_DIR "/cgroup.subtree_control", "+memory"))
		return "cannot make " CG_DIR;
	cg_nkeep = 0;
	return NULL;
}

/* Into cgroup @n (0: back where the process started); 0 or -1. */
static int memcg_enter(unsigned long n)
{
	char path[128], pid[16];

	snprintf(pid, sizeof(pid), "%d", getpid());
	if (!n)
		return write_file(cg_home, pid);
	cg_path(n, path, sizeof(path));
	strcat(path, "/cgroup.procs");
	return write_file(path, pid);
}

/* Remove every cgroup left that no process is in any more. */
static void memcg_remove_left(void)
{
	unsigned long i, j;
	char path[128];

	for (i = j = 0; i < cg_nkeep; i++) {
		cg_path(cg_keep[i], path, sizeof(path));
		if (rmdir(path))
			cg_keep[j++] = cg_keep[i];
		else
			count(&cnt->memcg_removed, 1);
	}
	cg_nkeep = j;
}

static void memcg_keep(unsigned long n)
{
	if (cg_nkeep < CG_KEEP)
		cg_keep[cg_nkeep++] = n;
	else
		count(&cnt->memcg_errors, 1);	/* it would be left behind */
}

/*
 * Moves the whole process to a new memory cgroup, then removes the one it
 * left; one a fork() child or a loader still holds is tried again later.
 * Collapses charge the new folio to wherever the mm's owner is then.
 */
static void *memcg_fn(void *arg)
{
	unsigned long n = 0;
	char path[128];

	(void)arg;
	while (!stopped() && n < CG_MAX_MOVES) {
		cg_path(n + 1, path, sizeof(path));
		if (mkdir(path, 0755) || memcg_enter(n + 1)) {
			count(&cnt->memcg_errors, 1);
			rmdir(path);
			break;
		}
		count(&cnt->memcg_moves, 1);
		if (n)
			memcg_keep(n);
		n++;
		memcg_remove_left();
		usleep(20000);
	}
	/* Back home; the last cgroups go once every thread and child is done. */
	if (n && memcg_enter(0))
		count(&cnt->memcg_errors, 1);
	if (n)
		memcg_keep(n);
	return NULL;
}

/* After the part's threads are joined (their children reaped): the rest. */
static void memcg_finish(void)
{
	for (int tries = 0; cg_nkeep && tries < 100; tries++) {
		memcg_remove_left();
		if (cg_nkeep)
			usleep(100000);
	}
	if (cg_nkeep)
		count(&cnt->memcg_errors, 1);
	rmdir(CG_DIR);
}

/* --- the policy loop --- */

static const char *loader;	/* NULL: no policy loop */

/* One loader command, @argv NULL-terminated; its exit status. */
static int policy_cmd(char *const *argv)
{
	int rc = run_loader(loader, argv, true, &policy_pid);
	char line[256];
	size_t off = 0;
	unsigned int i;

	count(&cnt->policy_cmds, 1);
	if (rc) {
		count(&cnt->policy_failed, 1);
		for (i = 1; argv[i] && off < sizeof(line); i++)
			off += snprintf(line + off, sizeof(line) - off, " %s", argv[i]);
		ksft_print_msg("policy loop: mthp-policy%s: exit %d\n", line, rc);
	}
	return rc;
}

/* A policy directory's verdicts summed, or -1 if one cannot be read. */
static long verdicts(const char *dir)
{
	long c = policy_counter(dir, "plans_custom"), d = policy_counter(dir, "plans_default");
	long r = policy_counter(dir, "plans_rejected");

	return c < 0 || d < 0 || r < 0 ? -1 : c + d + r;
}

/*
 * The counters of every attached policy, read while khugepaged calls
 * them: calls (the verdicts summed when read) lies between the verdicts
 * summed just before and just after it; a shadow policy collapses nothing
 * (its collapsed_none and failed_* stay 0).
 */
static void check_policy_counters(void)
{
	DIR *d = opendir(POLICIES_DIR);
	struct dirent *e;
	unsigned int i;

	while (d && (e = readdir(d))) {
		long v0, calls, v1, bad = 0;

		if (e->d_name[0] == '.')
			continue;
		v0 = verdicts(e->d_name);
		calls = policy_counter(e->d_name, "calls");
		v1 = verdicts(e->d_name);
		if (strstr(e->d_name, "-shadow")) {
			bad = policy_counter(e->d_name, "collapsed_none");
			for (i = 0; i < NR_POLICY_FAIL_REASONS; i++)
				bad |= policy_counter(e->d_name, policy_fail_reasons[i]);
		}
		count(&cnt->policy_checks, 1);
		if (v0 < 0 || calls < v0 || calls > v1 || bad) {
			count(&cnt->policy_bad, 1);
			ksft_print_msg("policy %s: verdicts %ld, calls %ld, verdicts %ld%s\n",
				       e->d_name, v0, calls, v1,
				       bad ? ", and a shadow collapsed or failed" : "");
		}
	}
	if (d)
		closedir(d);
}

/*
 * Attach, replace and detach in a loop: system-wide active and shadow,
 * and with @arg (the memory cgroup part) active and shadow on the cgroup
 * the process moves under, whose children come and go meanwhile.
 */
static void *policy_fn(void *arg)
{
	static char *const global[][5] = {
		{ "mthp-policy", "attach", "default" },
		{ "mthp-policy", "attach", "aggressive", "--shadow" },
		{ "mthp-policy", "replace", "conservative" },
		{ "mthp-policy", "replace", "hot", "--shadow" },
	};
	static char *const scoped[][7] = {
		{ "mthp-policy", "attach", "conservative", "--cgroup", CG_DIR },
		{ "mthp-policy", "attach", "threshold", "--cgroup", CG_DIR, "--shadow" },
		{ "mthp-policy", "replace", "aggressive", "--cgroup", CG_DIR },
	};
	static char *const detach[] = { "mthp-policy", "detach", "--all", NULL };
	bool memcg = arg != NULL;
	unsigned int i;

	/*
	 * At khugepaged's nice, as the workers: policy loads are CPU-bound
	 * (seconds each on a debug kernel), and khugepaged must get its share.
	 * The loader processes inherit this thread's nice value.
	 */
	setpriority(PRIO_PROCESS, 0, 19);
	/* A round stops early once the part is over, but always ends detached. */
	while (!stopped()) {
		if (policy_cmd(global[0]))
			continue;
		for (i = 1; i < sizeof(global) / sizeof(global[0]) && !stopped(); i++) {
			policy_cmd(global[i]);
			if (memcg && i - 1 < sizeof(scoped) / sizeof(scoped[0]))
				policy_cmd(scoped[i - 1]);
		}
		check_policy_counters();
		policy_cmd(detach);
	}
	return NULL;
}

/* --- parts --- */

/*
 * Every size off while the ranges are faulted (a fault would allocate an
 * mTHP otherwise): aligned blocks of 16K..1M written whole or not at all,
 * a few ranges written whole (2M), so that each size has blocks to
 * collapse at max_ptes_none 0.
 */
static int setup_ranges(void)
{
	unsigned int seed = 20261207, r, lo, hi;

	if (thp_set_orders(0, "never"))
		return -1;
	area = pmd_mmap(2 * NR_RANGES);
	if (!area)
		return -1;
	memset(gen, 0, sizeof(gen));
	memset(loose, 0, sizeof(loose));
	memset(bad, 0, sizeof(bad));
	for (r = 0; r < NR_RANGES; r++) {
		ranges[r].home = area + 2 * (size_t)r * PMD_SZ;
		ranges[r].spare = ranges[r].home + PMD_SZ;
		ranges[r].mv_lo = ranges[r].mv_hi = ranges[r].mv_shift = 0;
		/* The spare slot: reserved, so nothing else is placed in it. */
		if (mprotect(ranges[r].spare, PMD_SZ, PROT_NONE))
			return -1;
		if (r % 5 == 0) {
			fill(r, 0, PMD_PAGES);
			continue;
		}
		for (lo = 0; lo < PMD_PAGES; lo = hi) {
			hi = lo + (4U << xorshift(&seed) % 7);
			if (hi > PMD_PAGES || lo % (hi - lo)) {
				hi = lo + 4;
			}
			if (xorshift(&seed) % 2)
				fill(r, lo, hi);
		}
	}
	return 0;
}

static int start_collapsing(const struct part *p)
{
	if (thp_write("khugepaged/max_ptes_none", p->max_ptes_none) ||
	    thp_write("khugepaged/pages_to_scan", "4096") ||
	    thp_write("khugepaged/alloc_sleep_millisecs", "10") ||
	    thp_write("khugepaged/scan_sleep_millisecs", "0") ||
	    thp_set_orders(p->orders, "madvise"))
		return -1;
	for (unsigned int r = 0; r < NR_RANGES; r++)
		if (madvise(ranges[r].home, PMD_SZ, MADV_HUGEPAGE)) {
			ksft_print_msg("MADV_HUGEPAGE: %s\n", strerror(errno));
			return -1;
		}
	return 0;
}

static long vmstat(const char *key)
{
	return file_key_value("/proc/vmstat", key);
}

static void run_part(const struct part *p, int secs)
{
	struct worker workers[NR_WORKERS];
	pthread_t watchdog, handler, policy, memcg;
	struct thp_stats before, after;
	long swpout, swpin, pmd_collapses;
	double t0, t1, t2;
	char line[512];
	size_t off = 0;
	unsigned int i;
	int has_uffd = 0, has_policy = loader != NULL, has_memcg = 0;
	const char *no_memcg = NULL;

	memset(cnt, 0, sizeof(*cnt));
	stop = handler_stop = 0;
	if (setup_ranges())
		ksft_exit_fail_msg("%s: setting up the ranges failed\n", p->name);
	if (p->ops & (1U << OP_UFFD)) {
		struct uffdio_api api = { .api = UFFD_API };

		uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
			ksft_print_msg("%s: no userfaultfd (%s): registration not raced\n", p->name,
				       strerror(errno));
			if (uffd >= 0)
				close(uffd);
			uffd = -1;
		} else {
			has_uffd = 1;
		}
	}
	thp_read_stats(&before);
	swpout = vmstat("pswpout");
	swpin = vmstat("pswpin");
	pmd_collapses = vmstat("thp_collapse_alloc");
	t0 = mono_now();
	if (watch_start(&watchdog, t0, secs))
		ksft_exit_fail_msg("pthread_create failed\n");
	if (start_collapsing(p))
		ksft_exit_fail_msg("%s: THP setup failed\n", p->name);
	fflush(stdout);
	if (has_uffd && pthread_create(&handler, NULL, uffd_handler_fn, NULL))
		ksft_exit_fail_msg("pthread_create failed\n");
	if (p->memcg) {
		no_memcg = memcg_setup();
		has_memcg = !no_memcg;
		if (no_memcg)
			ksft_print_msg("%s: %s: memcg moves not raced\n", p->name, no_memcg);
	}
	/* With the memory cgroups, policies scoped to them too. */
	if (has_policy && pthread_create(&policy, NULL, policy_fn, has_memcg ? cnt : NULL))
		ksft_exit_fail_msg("pthread_create failed\n");
	if (has_memcg && pthread_create(&memcg, NULL, memcg_fn, NULL))
		ksft_exit_fail_msg("pthread_create failed\n");
	for (i = 0; i < NR_WORKERS; i++) {
		workers[i].id = i;
		workers[i].seed = 0x9e3779b9u * (i + 1) ^ (unsigned int)(p - parts) << 8;
		workers[i].ops = p->ops;
		if (pthread_create(&workers[i].tid, NULL, worker_fn, &workers[i]))
			ksft_exit_fail_msg("pthread_create failed\n");
	}
	/*
	 * The race needs collapses: on a slow (debug) kernel khugepaged may
	 * not have finished one in the time given, so wait up to as long again.
	 */
	while (!stopped()) {
		struct thp_stats cur;
		double t = mono_now();

		if (t >= t0 + 2 * secs)
			break;
		if (t >= t0 + secs) {
			thp_read_stats(&cur);
			if (cur.pages_collapsed > before.pages_collapsed)
				break;
		}
		usleep(100000);
	}
	t1 = mono_now();
	/* The handler goes last: a worker may be in a fault it must answer. */
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < NR_WORKERS; i++)
		pthread_join(workers[i].tid, NULL);
	if (has_policy)
		pthread_join(policy, NULL);
	if (has_memcg)
		pthread_join(memcg, NULL);
	if (has_uffd) {
		__atomic_store_n(&handler_stop, 1, __ATOMIC_RELAXED);
		pthread_join(handler, NULL);
		close(uffd);
		uffd = -1;
	}
	if (has_memcg)
		memcg_finish();
	thp_read_stats(&after);
	for (i = 0; i < NR_RANGES; i++)
		check_range(i, 1);
	t2 = mono_now();
	watch_end(watchdog);

	ksft_print_msg("%s: %.1f s of racing, %.1f s in all\n", p->name, t1 - t0, t2 - t0);
	for (i = 0; i < NR_OPS; i++)
		if (p->ops & (1U << i))
			off += snprintf(line + off, sizeof(line) - off, " %s %lu", op_names[i],
					cnt->ops[i]);
	ksft_print_msg("operations:%s\n", line);
	if (p->ops & (1U << OP_MOVE))
		ksft_print_msg("mremap moves refused with EFAULT (more than one VMA): %lu\n",
			       cnt->move_efault);
	if (p->ops & (1U << OP_FORK))
		ksft_print_msg("fork children: %lu, failed: %lu\n", cnt->forks, cnt->child_failed);
	if (has_uffd)
		ksft_print_msg("uffd: missing faults %lu, pages that had to fault %lu\n",
			       cnt->uffd_faults, cnt->uffd_expected);
	if (has_policy)
		ksft_print_msg("policy loop: %lu loader commands, %lu failed; %lu counter checks, %lu inconsistent\n",
			       cnt->policy_cmds, cnt->policy_failed, cnt->policy_checks,
			       cnt->policy_bad);
	if (has_memcg)
		ksft_print_msg("memory cgroups: %lu moves, %lu removed, %lu errors\n",
			       cnt->memcg_moves, cnt->memcg_removed, cnt->memcg_errors);
	ksft_print_msg("pages checked: %lu, content mismatches: %lu, errors: %lu\n",
		       cnt->checked, cnt->mismatch, cnt->errors);
	thp_size_deltas(before.alloc, after.alloc, line, sizeof(line));
	ksft_print_msg("collapse_alloc deltas:%s\n", line);
	thp_size_deltas(before.failed, after.failed, line, sizeof(line));
	ksft_print_msg("collapse_alloc_failed deltas:%s\n", line);
	ksft_print_msg("khugepaged pages_collapsed +%ld (ranges), full_scans +%ld\n",
		       after.pages_collapsed - before.pages_collapsed,
		       after.full_scans - before.full_scans);
	ksft_print_msg("pswpout +%ld, pswpin +%ld, thp_collapse_alloc +%ld\n",
		       vmstat("pswpout") - swpout, vmstat("pswpin") - swpin,
		       vmstat("thp_collapse_alloc") - pmd_collapses);

	ksft_test_result(!cnt->mismatch && !cnt->errors,
			 "%s: every page holds what was written last\n", p->name);
	if (has_policy)
		ksft_test_result(!cnt->policy_failed && !cnt->policy_bad,
				 "%s: every policy command succeeded, counters consistent\n",
				 p->name);
	if (p->memcg && no_memcg)
		ksft_test_result_skip("%s: memory cgroups: %s\n", p->name, no_memcg);
	else if (p->memcg)
		ksft_test_result(cnt->memcg_moves && !cnt->memcg_errors &&
				 cnt->memcg_removed == cnt->memcg_moves,
				 "%s: every memory cgroup moved into was removed after\n", p->name);
	/* Timing, not correctness: a part with no collapse raced nothing. */
	if (after.pages_collapsed > before.pages_collapsed)
		ksft_test_result_pass("%s: khugepaged collapsed mTHPs during the race\n", p->name);
	else
		ksft_test_result_skip("%s: no collapse in %.0f s of racing: the race window was never open\n",
				      p->name, t1 - t0);
	pmd_unmap(area, 2 * NR_RANGES);
	area = NULL;
}

int main(int argc, char **argv)
{
	/* make check's share (make stress: minutes); the debug kernel is slower. */
	int secs = part_secs(argc, argv, 10, 8);
	char loader_path[512], pol[64];
	unsigned int i, n_memcg;
	const char *why;

	if (secs < 0)
		return KSFT_FAIL;
	setvbuf(stdout, NULL, _IOLBF, 0);
	ksft_print_header();
	read_kernel_version();
	if (geteuid())
		ksft_exit_skip("needs root for the THP sysfs knobs\n");
	if ((thp_supported_orders() & ALL_ORDERS) != ALL_ORDERS)
		ksft_exit_skip("needs mTHP sysfs for every size from 16K to 2M\n");
	cnt = mmap(NULL, sizeof(*cnt), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cnt == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	thp_save_knobs();
	atexit(thp_restore_knobs);
	watch_init("collapse_churn", "an access or a thread is stuck", dump_tasks, bail);
	if (thp_write("enabled", "madvise"))
		ksft_exit_fail_msg("THP setup failed\n");
	if (file_key_value("/proc/meminfo", "SwapTotal:") <= 0)
		ksft_print_msg("no swap: MADV_PAGEOUT only drops clean pages\n");
	why = find_loader(loader_path, sizeof(loader_path));
	if (why) {
		ksft_print_msg("policy loop skipped: %s\n", why);
	} else {
		/* Whatever an earlier run left attached. */
		char *argv[] = { "mthp-policy", "detach", NULL };

		loader = loader_path;
		run_loader(loader, argv, true, &policy_pid);
	}

	n_memcg = 0;
	for (i = 0; i < NR_PARTS; i++)
		n_memcg += parts[i].memcg;
	ksft_set_plan((loader ? 3 : 2) * NR_PARTS + (loader ? 1 : 0) + n_memcg);
	ksft_print_msg("%d s of racing per part\n", secs);
	for (i = 0; i < NR_PARTS; i++)
		run_part(&parts[i], secs);
	if (loader) {
		/* The loop ends with a detach: the kernel's own choice is back. */
		read_line(POLICY_KNOB, pol, sizeof(pol));
		ksft_test_result(!strcmp(pol, "none"), "policy loop left no policy attached (%s)\n",
				 pol);
	}
	thp_restore_knobs();
	ksft_finished();
}
