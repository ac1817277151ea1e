// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mthp.h"

#define PM_PRESENT	(1ULL << 63)
#define PM_PFN_MASK	((1ULL << 55) - 1)
#define KPF_COMPOUND_HEAD	(1ULL << 15)
#define KPF_COMPOUND_TAIL	(1ULL << 16)
#define KPF_ZERO_PAGE		(1ULL << 24)

#define THP_DIR "/sys/kernel/mm/transparent_hugepage/"

/* The PFN mapping each page of the range (0: none), in one read. */
static int read_pfns(int pm, uintptr_t va, size_t npages, uint64_t *pfn)
{
	ssize_t len = npages * sizeof(*pfn);
	size_t i;

	if (pread(pm, pfn, len, va / PAGE_SZ * sizeof(*pfn)) != len) {
		fprintf(stderr, "folio_orders: read pagemap: short read or %s\n",
			strerror(errno));
		return -1;
	}
	for (i = 0; i < npages; i++) {
		uint64_t e = pfn[i];

		pfn[i] = e & PM_PRESENT ? e & PM_PFN_MASK : 0;
		if ((e & PM_PRESENT) && !pfn[i]) {
			fprintf(stderr, "folio_orders: PFNs hidden (not root?)\n");
			return -1;
		}
	}
	return 0;
}

int folio_orders(const void *addr, size_t npages, int *orders)
{
	uint64_t *pfn = calloc(npages, sizeof(*pfn));
	uint64_t *again = calloc(npages, sizeof(*again));
	uint64_t *flags = calloc(npages, sizeof(*flags));
	uintptr_t va = (uintptr_t)addr;
	int pm, kpf, ret = -1, tries;
	size_t i, j, n;

	pm = open("/proc/self/pagemap", O_RDONLY);
	kpf = open("/proc/kpageflags", O_RDONLY);
	if (pm < 0 || kpf < 0 || !pfn || !again || !flags) {
		perror("folio_orders: open pagemap/kpageflags");
		goto out;
	}
	/*
	 * One read for the whole range, and one per run of consecutive PFNs:
	 * a read per page walks the page table each time, which took most of
	 * a layout test's minutes on the debug kernel.  khugepaged may move
	 * pages meanwhile: the flags count only if the PFNs read after them
	 * are the same.
	 */
	if (read_pfns(pm, va, npages, pfn))
		goto out;
	for (tries = 1; ; tries++) {
		for (i = 0; i < npages; i = j) {
			ssize_t len;

			j = i + 1;
			if (!pfn[i])
				continue;
			while (j < npages && pfn[j] == pfn[i] + (j - i))
				j++;
			len = (j - i) * sizeof(*flags);
			if (pread(kpf, flags + i, len, pfn[i] * sizeof(*flags)) != len) {
				fprintf(stderr, "folio_orders: read kpageflags: short read or %s\n",
					strerror(errno));
				goto out;
			}
		}
		if (read_pfns(pm, va, npages, again))
			goto out;
		/* After five tries, the last PFNs whose flags were read. */
		if (!memcmp(pfn, again, npages * sizeof(*pfn)) || tries == 5)
			break;
		memcpy(pfn, again, npages * sizeof(*pfn));
	}
	for (i = 0; i < npages; i += n) {
		n = 1;
		if (!pfn[i] || (flags[i] & KPF_ZERO_PAGE)) {
			orders[i] = ORDER_NONE;
			continue;
		}
		if (flags[i] & KPF_COMPOUND_TAIL) {
			orders[i] = ORDER_BROKEN;	/* head outside the range */
			continue;
		}
		if (!(flags[i] & KPF_COMPOUND_HEAD)) {
			orders[i] = 0;
			continue;
		}
		for (j = i + 1; j < npages && (flags[j] & KPF_COMPOUND_TAIL) &&
		     pfn[j] == pfn[i] + (j - i); j++)
			;
		n = j - i;
		/* Whole, power-of-two and aligned in VA and PFN, or broken. */
		if ((n & (n - 1)) || ((va / PAGE_SZ + i) & (n - 1)) || (pfn[i] & (n - 1))) {
			for (j = i; j < i + n; j++)
				orders[j] = ORDER_BROKEN;
			continue;
		}
		for (j = i; j < i + n; j++)
			orders[j] = __builtin_ctzl(n);
	}
	ret = 0;
out:
	if (pm >= 0)
		close(pm);
	if (kpf >= 0)
		close(kpf);
	free(pfn);
	free(again);
	free(flags);
	return ret;
}

char *orders_str(const int *orders, size_t npages, char *buf, size_t len)
{
	size_t i = 0, off = 0;

	buf[0] = '\0';
	while (i < npages && off < len) {
		size_t run = 1;

		while (i + run < npages && orders[i + run] == orders[i])
			run++;
		off += snprintf(buf + off, len - off, "%s%dx%zu", off ? " " : "",
				orders[i], run);
		i += run;
	}
	return buf;
}

int thp_write(const char *knob, const char *val)
{
	char path[256];
	int fd, ok;

	snprintf(path, sizeof(path), THP_DIR "%s", knob);
	fd = open(path, O_WRONLY);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", path, strerror(errno));
		return -1;
	}
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	if (!ok)
		fprintf(stderr, "write '%s' to %s: %s\n", val, path, strerror(errno));
	close(fd);
	return ok ? 0 : -1;
}

int write_file(const char *path, const char *val)
{
	ssize_t len = strlen(val);
	int fd = open(path, O_WRONLY), ret, err;

	if (fd < 0)
		return -1;
	ret = write(fd, val, len) == len ? 0 : -1;
	err = errno;
	if (close(fd) && !ret) {
		ret = -1;
		err = errno;
	}
	errno = err;
	return ret;
}

long thp_read_long(const char *knob)
{
	char path[256], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), THP_DIR "%s", knob);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

static void order_knob(int order, const char *file, char *buf, size_t len)
{
	snprintf(buf, len, "hugepages-%lukB/%s", (PAGE_SZ << order) / 1024, file);
}

unsigned int thp_supported_orders(void)
{
	unsigned int mask = 0;
	char knob[64], path[128];
	int order;

	for (order = 1; order <= PMD_ORDER; order++) {
		order_knob(order, "enabled", knob, sizeof(knob));
		snprintf(path, sizeof(path), THP_DIR "%s", knob);
		if (!access(path, W_OK))
			mask |= 1U << order;
	}
	return mask;
}

int thp_set_orders(unsigned int mask, const char *mode)
{
	unsigned int supported = thp_supported_orders();
	char knob[64];
	int order;

	for (order = 1; order <= PMD_ORDER; order++) {
		if (!(supported & (1U << order)))
			continue;
		order_knob(order, "enabled", knob, sizeof(knob));
		if (thp_write(knob, (mask & (1U << order)) ? mode : "never"))
			return -1;
	}
	return 0;
}

int khugepaged_wait_scans(int passes, int timeout_s)
{
	long start, now;
	time_t deadline = time(NULL) + timeout_s;

	if (thp_write("khugepaged/scan_sleep_millisecs", "0") ||
	    thp_write("khugepaged/alloc_sleep_millisecs", "0") ||
	    thp_write("khugepaged/pages_to_scan", "4096"))
		return -1;
	start = thp_read_long("khugepaged/full_scans");
	do {
		usleep(20000);
		now = thp_read_long("khugepaged/full_scans");
		if (now >= start + passes)
			return 0;
	} while (time(NULL) < deadline);
	fprintf(stderr, "khugepaged: %ld of %d full scans in %d s\n", now - start,
		passes, timeout_s);
	return -1;
}

long file_key_value(const char *path, const char *key)
{
	size_t n = strlen(key);
	char line[256];
	long val = -1;
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ' ')
			val = atol(line + n + 1);
	if (f)
		fclose(f);
	return val;
}

int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	int ok;

	buf[0] = '\0';
	if (!f)
		return -1;
	ok = fgets(buf, len, f) != NULL;
	fclose(f);
	if (!ok)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return ok ? 0 : -1;
}

const char *const policy_fail_reasons[NR_POLICY_FAIL_REASONS] = {
	"failed_alloc", "failed_busy", "failed_changed", "failed_limit", "failed_other",
};

long policy_counter(const char *dir, const char *col)
{
	const char *u = strstr(col, "_order");
	char path[512], buf[64], *end;
	long val;
	int o;

	if (u && sscanf(u, "_order%d", &o) == 1)
		snprintf(path, sizeof(path), POLICIES_DIR "/%s/hugepages-%ldkB/%.*s", dir,
			 sysconf(_SC_PAGESIZE) / 1024 << o, (int)(u - col), col);
	else
		snprintf(path, sizeof(path), POLICIES_DIR "/%s/%s", dir, col);
	if (read_line(path, buf, sizeof(buf)))
		return -1;
	val = strtol(buf, &end, 10);
	return end == buf ? -1 : val;
}

void *pmd_mmap(size_t npmd)
{
	size_t len = (npmd + 1) * PMD_SZ;
	uintptr_t p, a;

	p = (uintptr_t)mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if ((void *)p == MAP_FAILED)
		return NULL;
	a = (p + PMD_SZ - 1) & ~(PMD_SZ - 1);
	if (a > p)
		munmap((void *)p, a - p);
	munmap((void *)(a + npmd * PMD_SZ), p + len - (a + npmd * PMD_SZ));
	return (void *)a;
}

void pmd_unmap(void *p, size_t npmd)
{
	munmap(p, npmd * PMD_SZ);
}

struct saved_knob {
	char path[128];
	char val[128];
};
static struct saved_knob saved_knobs[24];
static int nr_saved_knobs, saved_knobs_restored;

static void save_one_knob(const char *rel)
{
	struct saved_knob *k = &saved_knobs[nr_saved_knobs];
	char buf[128], *s, *e;

	if (nr_saved_knobs >= (int)(sizeof(saved_knobs) / sizeof(saved_knobs[0])))
		return;
	snprintf(k->path, sizeof(k->path), THP_DIR "%s", rel);
	if (read_line(k->path, buf, sizeof(buf)) || !buf[0])
		return;
	/* "always [madvise] never" -> "madvise"; a number stays as it is. */
	s = strchr(buf, '[');
	if (s) {
		s++;
		e = strchr(s, ']');
		if (e)
			*e = '\0';
	} else {
		s = buf;
	}
	snprintf(k->val, sizeof(k->val), "%s", s);
	nr_saved_knobs++;
}

void thp_save_knobs(void)
{
	static const char *const names[] = {
		"enabled",
		"khugepaged/scan_sleep_millisecs",
		"khugepaged/alloc_sleep_millisecs",
		"khugepaged/pages_to_scan",
		"khugepaged/max_ptes_none",
	};
	unsigned int supported = thp_supported_orders(), i;
	char knob[64];
	int order;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		save_one_knob(names[i]);
	for (order = 1; order <= PMD_ORDER; order++) {
		if (!(supported & (1U << order)))
			continue;
		order_knob(order, "enabled", knob, sizeof(knob));
		save_one_knob(knob);
	}
}

void thp_restore_knobs(void)
{
	ssize_t ignored;
	int i, fd;

	if (__atomic_exchange_n(&saved_knobs_restored, 1, __ATOMIC_SEQ_CST))
		return;
	for (i = 0; i < nr_saved_knobs; i++) {
		fd = open(saved_knobs[i].path, O_WRONLY);
		if (fd < 0)
			continue;
		/* Nothing better to do at the end if this fails. */
		ignored = write(fd, saved_knobs[i].val, strlen(saved_knobs[i].val));
		close(fd);
	}
	(void)ignored;
}

void thp_read_stats(struct thp_stats *s)
{
	char knob[96];
	int order;

	for (order = 0; order <= PMD_ORDER; order++) {
		s->alloc[order] = s->failed[order] = -1;
		if (order < 2)
			continue;
		order_knob(order, "stats/collapse_alloc", knob, sizeof(knob));
		s->alloc[order] = thp_read_long(knob);
		order_knob(order, "stats/collapse_alloc_failed", knob, sizeof(knob));
		s->failed[order] = thp_read_long(knob);
	}
	s->pages_collapsed = thp_read_long("khugepaged/pages_collapsed");
	s->full_scans = thp_read_long("khugepaged/full_scans");
}

void thp_size_deltas(const long *a, const long *b, char *line, size_t len)
{
	size_t off = 0;
	int order;

	line[0] = '\0';
	for (order = 2; order <= PMD_ORDER && off < len; order++)
		if (a[order] >= 0 && b[order] >= 0)
			off += snprintf(line + off, len - off, " %lukB %ld",
					(PAGE_SZ << order) / 1024, b[order] - a[order]);
	if (!off)
		snprintf(line, len, " (no per-size stats)");
}

const char *find_loader(char *buf, size_t len)
{
	const char *build = getenv("MTHP_BUILD");

	buf[0] = '\0';
	if (access(POLICIES_DIR, R_OK))
		return "the kernel has no collapse policy hook";
	if (!build)
		return "MTHP_BUILD is not set";
	snprintf(buf, len, "%s/loader/mthp-policy", build);
	if (access(buf, X_OK)) {
		buf[0] = '\0';
		return "the loader is not built";
	}
	return NULL;
}

extern char **environ;

int run_loader(const char *loader, char *const argv[], bool quiet, pid_t *running)
{
	posix_spawn_file_actions_t fa;
	int status = -1;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	if (quiet)
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	if (posix_spawn(&pid, loader, &fa, NULL, argv, environ)) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	if (running)
		__atomic_store_n(running, pid, __ATOMIC_RELAXED);
	if (waitpid(pid, &status, 0) != pid)
		status = -1;
	if (running)
		__atomic_store_n(running, 0, __ATOMIC_RELAXED);
	posix_spawn_file_actions_destroy(&fa);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

unsigned int xorshift(unsigned int *seed)
{
	*seed ^= *seed << 13;
	*seed ^= *seed >> 17;
	*seed ^= *seed << 5;
	return *seed;
}

void pause_us(unsigned int us)
{
	struct timespec ts = { 0, us * 1000L };

	if (us)
		nanosleep(&ts, NULL);
	else
		sched_yield();
}

int part_secs(int argc, char **argv, int secs, int debug_secs)
{
	const char *flavour = getenv("MTHP_FLAVOUR");
	int opt;

	if (flavour && !strcmp(flavour, "debug"))
		secs = debug_secs;
	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't' || atoi(optarg) <= 0) {
			fprintf(stderr, "usage: %s [-t SECONDS per part]\n", argv[0]);
			return -1;
		}
		secs = atoi(optarg);
	}
	return secs;
}

const unsigned int page_marks[NR_PAGE_MARKS] = { 0, 1, PAGE_SZ / 16, PAGE_SZ / 8 - 1 };

static uint64_t mark_val(size_t pg, uint32_t g, unsigned int m)
{
	return (uint64_t)g << 32 | (uint64_t)pg << 4 | m;
}

void page_stamp(volatile uint64_t *w, size_t pg, uint32_t g)
{
	unsigned int m;

	for (m = 0; m < NR_PAGE_MARKS; m++)
		w[page_marks[m]] = mark_val(pg, g, m);
}

uint64_t stamp_word(size_t pg, uint32_t g, unsigned int word)
{
	unsigned int m;

	for (m = 0; g && m < NR_PAGE_MARKS; m++)
		if (page_marks[m] == word)
			return mark_val(pg, g, m);
	return 0;
}
