/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the mthp-bpf selftests: read the folio layout of a
 * mapping through /proc/self/pagemap and /proc/kpageflags, drive the THP
 * sysfs knobs, and make khugepaged run promptly.
 */
#ifndef MTHP_TEST_H
#define MTHP_TEST_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PAGE_SZ		4096UL
#define PMD_PAGES	512
#define PMD_SZ		(PAGE_SZ * PMD_PAGES)
#define PMD_ORDER	9

/* Per-page result of folio_orders() besides an order 0..PMD_ORDER. */
#define ORDER_NONE	-1	/* no page mapped (or the shared zero page) */
#define ORDER_BROKEN	-2	/* a large folio mapped partly or misaligned */

/*
 * Fill orders[0..npages) with the order of the folio mapping each page of
 * [addr, addr + npages * PAGE_SZ).  A large folio counts only when it is
 * mapped whole, naturally aligned in both VA and PFN.  Returns 0, or -1 with
 * a message on stderr (e.g. not root, so no PFNs).
 */
int folio_orders(const void *addr, size_t npages, int *orders);

/* "order x count" runs, e.g. "4x8 0x3 -1x1", into buf; returns buf. */
char *orders_str(const int *orders, size_t npages, char *buf, size_t len);

/*
 * Write @val to the file at @path with open/write/close only (safe in a
 * signal handler); 0, or -1 with errno set.
 */
int write_file(const char *path, const char *val);

/* THP sysfs: paths are relative to /sys/kernel/mm/transparent_hugepage/. */
int thp_write(const char *knob, const char *val);
long thp_read_long(const char *knob);
/* Set hugepages-<size>kB/enabled for every size: bit n of mask -> order n. */
int thp_set_orders(unsigned int mask, const char *mode);
/* Bitmask of the orders this kernel offers mTHP sysfs for. */
unsigned int thp_supported_orders(void);

/*
 * Make khugepaged scan without delay, then wait until it completed @passes
 * full scans.  Returns 0, or -1 after @timeout_s seconds.
 */
int khugepaged_wait_scans(int passes, int timeout_s);

/* The value after "@key " in a "key value" per line file, or -1. */
long file_key_value(const char *path, const char *key);

/* The first line of @path, without its newline, in @buf; 0, or -1 (@buf empty). */
int read_line(const char *path, char *buf, size_t len);

#define POLICIES_DIR	"/sys/kernel/mm/transparent_hugepage/khugepaged/policies"

/*
 * A counter of a policy's directory under POLICIES_DIR (@dir: "global",
 * "cg<id>-shadow", "kernel"...), by the name of its file, or as
 * <file>_order<N> for hugepages-<size>kB/<file>; -1 if there is none.
 */
long policy_counter(const char *dir, const char *col);

/* A policy's failures by reason: the failed_<reason> files of its directory. */
extern const char *const policy_fail_reasons[];
#define NR_POLICY_FAIL_REASONS	5

/*
 * The mthp-policy loader's path in @buf, if the kernel has the collapse
 * policy hook and $MTHP_BUILD holds a built loader: NULL; else why not
 * (@buf empty).
 */
const char *find_loader(char *buf, size_t len);

/*
 * Run @loader with @argv (argv[0] included), its stdout, and its stderr
 * too if @quiet, to /dev/null.  While it runs, *@running (if set) holds
 * its pid, for a signal handler to kill.  Its exit status, or -1.
 */
int run_loader(const char *loader, char *const argv[], bool quiet, pid_t *running);

/* A PMD-aligned anonymous mapping of @npmd PMDs (munmap with pmd_unmap). */
void *pmd_mmap(size_t npmd);
void pmd_unmap(void *p, size_t npmd);

/*
 * The THP knobs a collapse test changes: "enabled", khugepaged's
 * scan_sleep/alloc_sleep_millisecs, pages_to_scan, max_ptes_none and
 * every size's "enabled".  thp_save_knobs() reads them once;
 * thp_restore_knobs() writes them back, once however often it is called,
 * with open/write/close only (safe in a signal handler).
 */
void thp_save_knobs(void);
void thp_restore_knobs(void);

/* Collapse counters, per size from hugepages-<size>kB/stats/ (-1: no file). */
struct thp_stats {
	long alloc[PMD_ORDER + 1];	/* collapse_alloc */
	long failed[PMD_ORDER + 1];	/* collapse_alloc_failed */
	long pages_collapsed, full_scans;
};
void thp_read_stats(struct thp_stats *s);
/*
 * " 16kB 12 32kB 3 ..." into @line: the deltas @b - @a of @a's array
 * (alloc or failed), for the sizes that have the stat.
 */
void thp_size_deltas(const long *a, const long *b, char *line, size_t len);

/* CLOCK_MONOTONIC, in seconds. */
double mono_now(void);
/* The next of a xorshift sequence (@seed: not 0): cheap, one seed a thread. */
unsigned int xorshift(unsigned int *seed);
/* Sleep @us microseconds; 0: only yield the CPU. */
void pause_us(unsigned int us);

/*
 * A racing test's time per part: @secs, @debug_secs on the debug kernel
 * ($MTHP_FLAVOUR), or -t SECONDS.  -1 after a usage message.
 */
int part_secs(int argc, char **argv, int secs, int debug_secs);

/*
 * The racing tests' page values: generation @g of page @pg (the test's
 * own numbering) in the words page_marks[], every other word zero, so a
 * stale or misplaced page tells which page and write it came from.
 */
#define NR_PAGE_MARKS	4
extern const unsigned int page_marks[NR_PAGE_MARKS];
void page_stamp(volatile uint64_t *w, size_t pg, uint32_t g);
/* Word @word of page @pg after page_stamp() of @g; @g 0: never stamped, zero. */
uint64_t stamp_word(size_t pg, uint32_t g, unsigned int word);

#endif
