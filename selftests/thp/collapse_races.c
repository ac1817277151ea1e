// SPDX-License-Identifier: GPL-2.0
/*
 * Races between khugepaged's mTHP collapse and other users of the page
 * table it works on.  Regression test for two bugs of the series:
 *
 * 1. VMA split during collapse.  Revalidation after the mmap_lock was
 *    dropped checked only that the VMA still covers the chunk, not the
 *    whole PMD range.  If mprotect() split the range in that window, a
 *    fault in the neighbouring VMA (under its per-VMA lock, which the
 *    collapse does not take) installed a new page table while the
 *    collapse had the old one off the PMD: one of them, and the pages it
 *    maps, got lost.
 *
 * 2. Migration during collapse.  Below the PMD order the anon_vma lock
 *    was released before the table was back on the PMD, so a migration
 *    of another page of the table could run remove_migration_ptes() in
 *    that window, find no table, and leave a stale migration entry.
 *
 * Each part keeps khugepaged collapsing 16K..64K chunks of many PMD
 * ranges (PMD size off) for a bounded time while threads split and merge
 * the VMAs (part 1), or while compaction migrates pages and another
 * process fragments memory (part 2), and the test's own threads read,
 * write and zap their pages.  Every page is checked against what was
 * written last: zero if never written or zapped since.  A kernel report
 * is caught by the VM runner; a stuck access by the watchdog thread, which
 * prints where each of our tasks is in the kernel when a part runs late.
 *
 * Usage: collapse_races [-t SECONDS]   (racing time per part)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest.h"
#include "mthp.h"
#include "watchdog.h"

#define NR_RANGES	32
#define NR_PAGES	(NR_RANGES * PMD_PAGES)
#define WORDS		(PAGE_SZ / 8)
#define MAX_REPORTS	10	/* mismatches printed per part */

/* 16K, 32K and 64K: only mTHP collapses, each a few PTEs of a table. */
#define RACE_ORDERS	(1U << 2 | 1U << 3 | 1U << 4)

#define COMPACT_PATH	"/proc/sys/vm/compact_memory"

/*
 * Where part 1 splits each range: page-aligned, never PMD-aligned; some
 * on a 64K boundary (whole chunks either side), some not (a chunk
 * straddles the two VMAs).
 */
static const unsigned int split_points[] = { 384, 256, 448, 320, 392, 480, 300, 301 };

static char *mem;
static uint32_t gen[NR_PAGES];		/* last value written, 0: must read zero */
static unsigned char bad[NR_PAGES];	/* mismatch reported, not rewritten since */
static unsigned int lower_end[NR_RANGES];	/* pages [0, lower_end) of a range */
static uint32_t last_gen;

static int stop;
static unsigned long n_checked, n_mismatch, n_errors, n_reports;

/* Part 1: the range split at the moment, and its state. */
static pthread_mutex_t prot_lock = PTHREAD_MUTEX_INITIALIZER;
static int cur_range, cur_split;
static unsigned long phase, n_splits;

/* Counters of the child processes, in a shared page. */
struct child_counts {
	unsigned long compactions;	/* compact_memory writes completed */
	unsigned long compact_started;
	unsigned long frag_rounds;
};
static struct child_counts *kids;
static pid_t compactor_pid, fragmenter_pid;

static void end_children(void)
{
	if (compactor_pid > 0)
		kill(compactor_pid, SIGKILL);
	if (fragmenter_pid > 0)
		kill(fragmenter_pid, SIGKILL);
}

static void bail(void)
{
	end_children();
	thp_restore_knobs();
	_exit(KSFT_FAIL);
}

/* --- the watchdog: what each of our tasks is doing when a part runs late --- */

static void dump_all(bool stuck)
{
	int fd;

	watch_dump_tasks(getpid(), "test", WATCH_STATE | WATCH_NOT_SELF);
	if (compactor_pid > 0)
		watch_dump_tasks(compactor_pid, "compactor", WATCH_STATE | WATCH_NOT_SELF);
	if (fragmenter_pid > 0)
		watch_dump_tasks(fragmenter_pid, "fragmenter", WATCH_STATE | WATCH_NOT_SELF);
	if (!stuck)
		return;
	/* The kernel's list of blocked tasks, into the log the runner shows. */
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "w", 1) != 1)
			ksft_print_msg("sysrq: %s\n", strerror(errno));
		close(fd);
	}
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

static volatile uint64_t *page_at(size_t pg)
{
	return (volatile uint64_t *)(mem + pg * PAGE_SZ);
}

/* Only the page's owner thread calls this (or main, with no thread left). */
static void write_page(size_t pg)
{
	volatile uint64_t *w = page_at(pg);
	uint32_t g = __atomic_add_fetch(&last_gen, 1, __ATOMIC_RELAXED);

	page_stamp(w, pg, g);
	gen[pg] = g;
	bad[pg] = 0;
}

static void report(size_t pg, unsigned int word, uint64_t found, uint64_t want)
{
	if (__atomic_fetch_add(&n_reports, 1, __ATOMIC_RELAXED) >= MAX_REPORTS)
		return;
	ksft_print_msg("mismatch at %p (range %zu page %zu word %u): found %#llx, expected %#llx\n",
		       (void *)(page_at(pg) + word), pg / PMD_PAGES, pg % PMD_PAGES, word,
		       (unsigned long long)found, (unsigned long long)want);
}

/*
 * Compare a page with its last write: the marks only (@full == 0: quick,
 * to touch many pages), or every word.  A bad page is counted once, until
 * it is written again.  Returns 0 if the page is as expected.
 */
static int check_page(size_t pg, int full)
{
	volatile uint64_t *w = page_at(pg);
	uint64_t want, got;
	unsigned int i;

	count(&n_checked, 1);
	for (i = 0; i < (full ? WORDS : NR_PAGE_MARKS); i++) {
		unsigned int word = full ? i : page_marks[i];

		want = stamp_word(pg, gen[pg], word);
		got = w[word];
		if (got == want)
			continue;
		if (!bad[pg]) {
			bad[pg] = 1;
			count(&n_mismatch, 1);
			report(pg, word, got, want);
		}
		return 1;
	}
	return 0;
}

/* --- the test's own users of the ranges --- */

/*
 * khugepaged runs at nice 19: next to compaction and the fragmenter, our
 * busy loops at nice 0 left it next to no CPU on the guest's two (17
 * ranges collapsed in 60 s).  Not in part 1: there the neighbour holds
 * prot_lock, and the splitter would wait for it (a third of the splits).
 */
static int nice_threads;

static void be_nice(void)
{
	if (nice_threads)
		setpriority(PRIO_PROCESS, 0, 19);	/* this thread only */
}

struct worker {
	pthread_t tid;
	unsigned int first, step;	/* ranges first, first + step, ... */
	unsigned int seed;
};

/*
 * Zap an aligned 16K, 32K or 64K block and refill part of it: khugepaged
 * gets holes to fill again.  The block is read first, so that it maps the
 * zero page and the writes then fault in small pages, not an mTHP.
 */
static void churn(struct worker *w, unsigned int r, unsigned int end)
{
	unsigned int order = 2 + xorshift(&w->seed) % 3, nr = 1U << order, start, i;
	size_t base = (size_t)r * PMD_PAGES;

	if (end < nr)
		return;
	start = xorshift(&w->seed) % (end / nr) * nr;
	if (madvise(mem + (base + start) * PAGE_SZ, nr * PAGE_SZ, MADV_DONTNEED)) {
		ksft_print_msg("MADV_DONTNEED: %s\n", strerror(errno));
		count(&n_errors, 1);
		return;
	}
	for (i = start; i < start + nr; i++) {
		gen[base + i] = 0;
		bad[base + i] = 0;
		check_page(base + i, 0);
	}
	for (i = start; i < start + nr; i++)
		if (xorshift(&w->seed) % 2)
			write_page(base + i);
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	unsigned int nr = (NR_RANGES - w->first + w->step - 1) / w->step;

	be_nice();
	while (!stopped()) {
		unsigned int r = w->first + xorshift(&w->seed) % nr * w->step;
		unsigned int end = lower_end[r], op = xorshift(&w->seed) % 8, i;
		size_t base = (size_t)r * PMD_PAGES;

		if (op < 4) {
			churn(w, r, end);
		} else if (op < 7) {
			/* Rewrite a few pages in place, wherever they are. */
			for (i = 0; i < 8; i++) {
				size_t pg = base + xorshift(&w->seed) % end;

				check_page(pg, 0);
				write_page(pg);
			}
		} else {
			for (i = 0; i < end; i++)
				check_page(base + i, 1);
		}
	}
	return NULL;
}

static int set_upper_prot(unsigned int r, int prot)
{
	char *upper = mem + ((size_t)r * PMD_PAGES + lower_end[r]) * PAGE_SZ;

	if (!mprotect(upper, (PMD_PAGES - lower_end[r]) * PAGE_SZ, prot))
		return 0;
	ksft_print_msg("mprotect range %u: %s\n", r, strerror(errno));
	count(&n_errors, 1);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	return -1;
}

/*
 * Part 1: split each range in turn by making its upper part read-only,
 * hold it a moment, merge it again.  Always ends with every range merged
 * and writable.
 */
static void *splitter_fn(void *arg)
{
	unsigned int seed = (uintptr_t)arg | 1, r = 0;

	while (!stopped()) {
		pthread_mutex_lock(&prot_lock);
		if (set_upper_prot(r, PROT_READ)) {
			pthread_mutex_unlock(&prot_lock);
			break;
		}
		__atomic_store_n(&cur_range, r, __ATOMIC_RELAXED);
		__atomic_store_n(&cur_split, 1, __ATOMIC_RELEASE);
		__atomic_add_fetch(&phase, 1, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&prot_lock);
		pause_us(xorshift(&seed) % 400);

		pthread_mutex_lock(&prot_lock);
		if (set_upper_prot(r, PROT_READ | PROT_WRITE)) {
			pthread_mutex_unlock(&prot_lock);
			break;
		}
		__atomic_store_n(&cur_split, 0, __ATOMIC_RELEASE);
		__atomic_add_fetch(&phase, 1, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&prot_lock);
		count(&n_splits, 1);
		pause_us(xorshift(&seed) % 400);
		r = (r + 1) % NR_RANGES;
	}
	return NULL;
}

/*
 * Part 1: the neighbour.  While a range is split, keep touching its
 * read-only upper part: a fault there, under the per-VMA lock, is what
 * races with a collapse in the lower VMA.  Once per merged phase, write
 * a few of its pages (under prot_lock, so never into a read-only VMA).
 * It owns the upper parts: nobody else writes them.
 */
static void *neighbour_fn(void *arg)
{
	unsigned int seed = (uintptr_t)arg | 1, i;
	unsigned long done = 0;

	be_nice();
	while (!stopped()) {
		unsigned long ph = __atomic_load_n(&phase, __ATOMIC_ACQUIRE);
		unsigned int r = __atomic_load_n(&cur_range, __ATOMIC_RELAXED);
		size_t base = (size_t)r * PMD_PAGES;

		if (__atomic_load_n(&cur_split, __ATOMIC_ACQUIRE)) {
			for (i = lower_end[r]; i < PMD_PAGES && !stopped(); i++)
				check_page(base + i, 0);
			continue;
		}
		if (ph == done) {
			sched_yield();
			continue;
		}
		pthread_mutex_lock(&prot_lock);
		if (!cur_split && cur_range == (int)r) {
			for (i = 0; i < 4; i++) {
				size_t pg = base + lower_end[r] +
					    xorshift(&seed) % (PMD_PAGES - lower_end[r]);

				check_page(pg, 0);
				write_page(pg);
			}
		}
		pthread_mutex_unlock(&prot_lock);
		done = ph;
	}
	return NULL;
}

/* --- part 2's helpers, in child processes so they can be SIGKILLed --- */

static void child_setup(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGALRM, SIG_DFL);
	be_nice();
}

/* A SIGKILL ends a compaction in progress: it checks fatal signals. */
static pid_t start_compactor(double until)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	child_setup();
	while (mono_now() < until) {
		int fd = open(COMPACT_PATH, O_WRONLY);

		if (fd < 0)
			break;
		__atomic_add_fetch(&kids->compact_started, 1, __ATOMIC_RELAXED);
		if (write(fd, "1", 1) == 1)
			__atomic_add_fetch(&kids->compactions, 1, __ATOMIC_RELAXED);
		close(fd);
	}
	_exit(0);
}

/*
 * Small pages everywhere, every other one freed: compaction then has
 * pageblocks to empty, and migrates the pages in them, ours included.
 */
#define FRAG_SZ		(64UL << 20)
#define FRAG_SLOTS	3

static pid_t start_fragmenter(double until)
{
	char *slot[FRAG_SLOTS] = { NULL };
	unsigned long round;
	pid_t pid = fork();
	size_t off;

	if (pid)
		return pid;
	child_setup();
	for (round = 0; mono_now() < until; round++) {
		char **p = &slot[round % FRAG_SLOTS];

		if (*p)
			munmap(*p, FRAG_SZ);
		*p = mmap(NULL, FRAG_SZ, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (*p == MAP_FAILED) {
			*p = NULL;
			usleep(100000);
			continue;
		}
		/* Small pages only: the child has no MADV_HUGEPAGE. */
		for (off = 0; off < FRAG_SZ; off += PAGE_SZ)
			(*p)[off] = 1;
		for (off = 0; off < FRAG_SZ && mono_now() < until; off += 2 * PAGE_SZ)
			madvise(*p + off, PAGE_SZ, MADV_DONTNEED);
		__atomic_add_fetch(&kids->frag_rounds, 1, __ATOMIC_RELAXED);
	}
	_exit(0);
}

/* --- parts --- */

struct stats {
	struct thp_stats thp;
	long migrated;
};

static void read_stats(struct stats *s)
{
	thp_read_stats(&s->thp);
	s->migrated = file_key_value("/proc/vmstat", "pgmigrate_success");
}

/*
 * Print the deltas.  Returns the PMD ranges in which khugepaged collapsed
 * at least one chunk (pages_collapsed): collapse_alloc counts folios
 * allocated, also for collapses that failed afterwards.
 */
static long print_stats(const struct stats *a, const struct stats *b)
{
	char line[256];

	thp_size_deltas(a->thp.alloc, b->thp.alloc, line, sizeof(line));
	ksft_print_msg("collapse_alloc deltas:%s\n", line);
	thp_size_deltas(a->thp.failed, b->thp.failed, line, sizeof(line));
	ksft_print_msg("collapse_alloc_failed deltas:%s\n", line);
	ksft_print_msg("khugepaged pages_collapsed +%ld (ranges), full_scans +%ld\n",
		       b->thp.pages_collapsed - a->thp.pages_collapsed,
		       b->thp.full_scans - a->thp.full_scans);
	if (a->migrated >= 0 && b->migrated >= 0)
		ksft_print_msg("pgmigrate_success +%ld\n", b->migrated - a->migrated);
	return b->thp.pages_collapsed - a->thp.pages_collapsed;
}

/*
 * The ranges, faulted as small pages with every size off (a fault would
 * allocate an mTHP otherwise), about 3 pages in 8, then the sizes are
 * enabled and MADV_HUGEPAGE registers the mm with khugepaged.
 */
static int setup_ranges(int split)
{
	unsigned int seed = 20261130, r, i;

	if (thp_set_orders(0, "never"))
		return -1;
	mem = pmd_mmap(NR_RANGES);
	if (!mem)
		return -1;
	memset(gen, 0, sizeof(gen));
	memset(bad, 0, sizeof(bad));
	for (r = 0; r < NR_RANGES; r++) {
		lower_end[r] = split ? split_points[r % (sizeof(split_points) /
							 sizeof(split_points[0]))] : PMD_PAGES;
		for (i = 0; i < PMD_PAGES; i++)
			if (xorshift(&seed) % 8 < 3)
				write_page((size_t)r * PMD_PAGES + i);
	}
	return 0;
}

static int start_collapsing(void)
{
	if (thp_write("khugepaged/max_ptes_none", "511") ||
	    thp_write("khugepaged/pages_to_scan", "4096") ||
	    thp_write("khugepaged/alloc_sleep_millisecs", "10") ||
	    thp_write("khugepaged/scan_sleep_millisecs", "0") ||
	    thp_set_orders(RACE_ORDERS, "madvise"))
		return -1;
	if (madvise(mem, NR_RANGES * PMD_SZ, MADV_HUGEPAGE)) {
		ksft_print_msg("MADV_HUGEPAGE: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void reset_counts(void)
{
	n_checked = n_mismatch = n_errors = n_reports = 0;
	n_splits = 0;
	phase = 0;
	cur_range = 0;
	cur_split = 0;
	stop = 0;
	memset(kids, 0, sizeof(*kids));
}

/* Every page, with no thread left. */
static void final_check(void)
{
	size_t pg;

	for (pg = 0; pg < NR_PAGES; pg++)
		check_page(pg, 1);
}

static void run_part(const char *name, int migration, int secs)
{
	struct worker workers[2];
	pthread_t splitter, neighbour, watchdog;
	struct stats before, after;
	double t0, t1, t_join, t_reap, t2;
	long collapses;
	unsigned int i;

	reset_counts();
	nice_threads = migration;
	if (setup_ranges(!migration))
		ksft_exit_fail_msg("%s: setting up the ranges failed\n", name);
	read_stats(&before);
	t0 = mono_now();
	if (watch_start(&watchdog, t0, secs))
		ksft_exit_fail_msg("pthread_create failed\n");
	if (start_collapsing())
		ksft_exit_fail_msg("%s: THP setup failed\n", name);
	if (migration) {
		/* A child sharing the pages would stop mTHP collapse (shared PTEs). */
		if (madvise(mem, NR_RANGES * PMD_SZ, MADV_DONTFORK))
			ksft_exit_fail_msg("MADV_DONTFORK: %s\n", strerror(errno));
		fflush(stdout);
		compactor_pid = start_compactor(t0 + secs);
		fragmenter_pid = start_fragmenter(t0 + secs);
		if (compactor_pid < 0 || fragmenter_pid < 0)
			ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	}
	for (i = 0; i < 2; i++) {
		workers[i].first = i;
		workers[i].step = 2;
		workers[i].seed = 0x9e3779b9u * (i + 1 + migration * 2);
		if (pthread_create(&workers[i].tid, NULL, worker_fn, &workers[i]))
			ksft_exit_fail_msg("pthread_create failed\n");
	}
	if (!migration &&
	    (pthread_create(&splitter, NULL, splitter_fn, (void *)(uintptr_t)0x1234567) ||
	     pthread_create(&neighbour, NULL, neighbour_fn, (void *)(uintptr_t)0x7654321)))
		ksft_exit_fail_msg("pthread_create failed\n");

	while (!stopped() && mono_now() < t0 + secs)
		usleep(100000);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	t1 = mono_now();
	if (!migration) {
		pthread_join(splitter, NULL);
		pthread_join(neighbour, NULL);
	}
	for (i = 0; i < 2; i++)
		pthread_join(workers[i].tid, NULL);
	t_join = mono_now();
	if (migration) {
		end_children();
		waitpid(compactor_pid, NULL, 0);
		waitpid(fragmenter_pid, NULL, 0);
		compactor_pid = fragmenter_pid = 0;
	}
	t_reap = mono_now();
	read_stats(&after);
	final_check();
	t2 = mono_now();
	watch_end(watchdog);

	ksft_print_msg("%s: %.1f s of racing, %.1f s in all\n", name, t1 - t0, t2 - t0);
	ksft_print_msg("after the racing: %.1f s to stop our threads, %.1f s to end the children, %.1f s to check every page\n",
		       t_join - t1, t_reap - t_join, t2 - t_reap);
	if (!migration)
		ksft_print_msg("split/merge iterations: %lu\n", n_splits);
	else
		ksft_print_msg("compact_memory writes: %lu completed (%lu started), fragmenter rounds: %lu\n",
			       kids->compactions, kids->compact_started, kids->frag_rounds);
	ksft_print_msg("pages checked: %lu, content mismatches: %lu, errors: %lu\n",
		       n_checked, n_mismatch, n_errors);
	collapses = print_stats(&before, &after);

	ksft_test_result(!n_mismatch && !n_errors, "%s: every page holds what was written last\n",
			 name);
	if (collapses <= 0)
		ksft_print_msg("%s: no collapse happened during the part: the race window was never open\n",
			       name);
	ksft_test_result(collapses > 0, "%s: khugepaged collapsed mTHPs during the race\n", name);
	pmd_unmap(mem, NR_RANGES);
	mem = NULL;
}

int main(int argc, char **argv)
{
	/*
	 * make check's share; make stress runs it for minutes.  The debug
	 * kernel is several times slower: fewer rounds in the same time.
	 */
	int secs = part_secs(argc, argv, 30, 20);

	if (secs < 0)
		return KSFT_FAIL;
	/* Line-buffered: what was printed survives an _exit() from the alarm. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	ksft_print_header();
	if (geteuid())
		ksft_exit_skip("needs root for the THP sysfs knobs\n");
	if ((thp_supported_orders() & (RACE_ORDERS | 1U << PMD_ORDER)) !=
	    (RACE_ORDERS | 1U << PMD_ORDER))
		ksft_exit_skip("needs mTHP sysfs for 16K, 32K, 64K and 2M\n");
	kids = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (kids == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	thp_save_knobs();
	atexit(thp_restore_knobs);
	watch_init("collapse_races",
		   "still running past its time limit: an access or a thread is stuck",
		   dump_all, bail);
	if (thp_write("enabled", "madvise"))
		ksft_exit_fail_msg("THP setup failed\n");

	ksft_set_plan(4);
	ksft_print_msg("%d s of racing per part\n", secs);
	run_part("VMA split during collapse", 0, secs);
	if (access(COMPACT_PATH, W_OK)) {
		ksft_test_result_skip("migration during collapse: no %s (%s)\n", COMPACT_PATH,
				      strerror(errno));
		ksft_test_result_skip("migration during collapse: collapses\n");
	} else {
		run_part("migration during collapse", 1, secs);
	}
	thp_restore_knobs();
	ksft_finished();
}
