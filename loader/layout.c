// SPDX-License-Identifier: GPL-2.0
/*
 * layout: the folio sizes of a process's, or a cgroup's, anonymous memory,
 * per mapping and, with --ranges, per PMD range; what a policy did, without
 * a pagemap reader of one's own.  The walk is workload.c's, the one the
 * ab workload view counts with, but a frame is counted in every mapping
 * of it here (a page shared after fork shows in each process).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mthp-policy.h"
#include "json_writer.h"

#define MAP_UNITS	32	/* characters of a PMD range's map */

struct layout {
	bool ranges, json;
	struct json_writer jw;
	unsigned long long psize, pmd_size;
	unsigned long pmd_pages, unit_pages;
	/* The mapping, the process, all of them: pages by folio order. */
	unsigned long long vma[WL_ORDERS], proc[WL_ORDERS], all[WL_ORDERS];
	/* The PMD range being filled: the order of each page, -1 if none. */
	unsigned long long rstart;
	unsigned long rcount;
	signed char *rorder;
	bool rvalid;
	const struct anon_mapping *v;	/* the mapping walked */
	/* Text: a mapping's ranges go out after its own line. */
	char *rbuf;
	size_t rlen;
	FILE *rf;
};

static unsigned long long sum(const unsigned long long *pages)
{
	unsigned long long n = 0;
	int o;

	for (o = 0; o < WL_ORDERS; o++)
		n += pages[o];
	return n;
}

static unsigned long long kib(const struct layout *l, unsigned long long pages)
{
	return pages * l->psize / 1024;
}

static char order_char(int order)
{
	return order < 10 ? '0' + order : 'a' + order - 10;
}

/* "2M=2048K 64K=512K": the sizes there are, largest first. */
static void print_sizes(const struct layout *l, FILE *f, const unsigned long long *pages)
{
	char label[16];
	int o;

	for (o = WL_ORDERS - 1; o >= 0; o--) {
		if (!pages[o])
			continue;
		size_label(o, label, sizeof(label));
		fprintf(f, " %s%s=%lluK", label, o == WL_ORDERS - 1 ? "+" : "", kib(l, pages[o]));
	}
}

static void json_sizes(struct layout *l, const char *key, const unsigned long long *pages)
{
	char label[16];
	int o;

	jw_uint_field(&l->jw, "resident_kib", kib(l, sum(pages)));
	jw_key(&l->jw, key);
	jw_start_object(&l->jw);
	for (o = WL_ORDERS - 1; o >= 0; o--) {
		if (!pages[o])
			continue;
		size_label(o, label, sizeof(label));
		if (o == WL_ORDERS - 1)
			strcat(label, "+");
		jw_uint_field(&l->jw, label, kib(l, pages[o]));
	}
	jw_end_object(&l->jw);
}

/* The PMD range filled so far, if it has a resident page; within v. */
static void flush_range(struct layout *l, const struct anon_mapping *v)
{
	unsigned long long lo = l->rstart > v->start ? l->rstart : v->start;
	unsigned long long hi = l->rstart + l->pmd_size < v->end ? l->rstart + l->pmd_size : v->end;
	char map[MAP_UNITS + 1];
	unsigned long u, i, pg, n = 0;

	if (!l->rvalid || !l->rcount)
		return;
	for (u = 0; u * l->unit_pages < l->pmd_pages; u++) {
		int max = -1;
		bool inside = false;

		for (i = 0; i < l->unit_pages; i++) {
			pg = u * l->unit_pages + i;
			inside |= l->rstart + pg * l->psize >= lo && l->rstart + pg * l->psize < hi;
			if (l->rorder[pg] > max)
				max = l->rorder[pg];
		}
		map[n++] = max >= 0 ? order_char(max) : inside ? '.' : '-';
	}
	map[n] = '\0';
	if (l->json) {
		char a[32];

		jw_start_object(&l->jw);
		snprintf(a, sizeof(a), "0x%llx", l->rstart);
		jw_string_field(&l->jw, "start", a);
		jw_uint_field(&l->jw, "resident_pages", l->rcount);
		jw_uint_field(&l->jw, "pages", (hi - lo) / l->psize);
		jw_string_field(&l->jw, "map", map);
		jw_end_object(&l->jw);
	} else {
		fprintf(l->rf, "    %12llx %4lu/%-4llu %s\n", l->rstart, l->rcount,
			(hi - lo) / l->psize, map);
	}
	l->rvalid = false;
}

static void lo_vma(void *ctx, const struct anon_mapping *v)
{
	struct layout *l = ctx;
	char a[32];

	memset(l->vma, 0, sizeof(l->vma));
	l->rvalid = false;
	l->v = v;
	if (!l->json) {
		if (l->rf)
			rewind(l->rf);
		return;
	}
	jw_start_object(&l->jw);
	snprintf(a, sizeof(a), "0x%llx", v->start);
	jw_string_field(&l->jw, "start", a);
	snprintf(a, sizeof(a), "0x%llx", v->end);
	jw_string_field(&l->jw, "end", a);
	jw_uint_field(&l->jw, "size_kib", (v->end - v->start) / 1024);
	jw_string_field(&l->jw, "perms", v->perms);
	jw_string_field(&l->jw, "name", v->name);
	if (l->ranges) {
		jw_key(&l->jw, "ranges");
		jw_start_array(&l->jw);
	}
}

static void lo_page(void *ctx, unsigned long long va, int order)
{
	struct layout *l = ctx;
	unsigned long long start = va & ~(l->pmd_size - 1);

	l->vma[order]++;
	if (!l->ranges)
		return;
	if (!l->rvalid || start != l->rstart) {
		/* Pages come in address order: the previous range is complete. */
		flush_range(l, l->v);
		l->rstart = start;
		l->rcount = 0;
		l->rvalid = true;
		memset(l->rorder, -1, l->pmd_pages);
	}
	l->rorder[(va - start) / l->psize] = order;
	l->rcount++;
}

static void lo_vma_end(void *ctx, const struct anon_mapping *v)
{
	struct layout *l = ctx;
	int o;

	if (l->ranges)
		flush_range(l, v);
	for (o = 0; o < WL_ORDERS; o++)
		l->proc[o] += l->vma[o];
	if (l->json) {
		if (l->ranges)
			jw_end_array(&l->jw);
		json_sizes(l, "folios_kib", l->vma);
		jw_end_object(&l->jw);
		return;
	}
	printf("  %12llx-%-12llx %s %9lluK  resident %lluK", v->start, v->end, v->perms,
	       (v->end - v->start) / 1024, kib(l, sum(l->vma)));
	print_sizes(l, stdout, l->vma);
	printf("%s%s\n", v->name[0] ? "  " : "", v->name);
	if (l->ranges) {
		fflush(l->rf);
		fwrite(l->rbuf, 1, ftell(l->rf), stdout);
	}
}

/* The command of a process, "" if it has gone. */
static void comm_of(int pid, char *buf, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if (read_file(path, buf, len))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * One process.  0; -ESRCH: gone (before or during the walk; alone, an
 * error; in a cgroup, said and skipped by the caller); -EPERM: no PFNs.
 */
static int layout_pid(struct layout *l, struct scanner *s, int pid)
{
	static const struct walk_ops ops = {
		.vma = lo_vma, .page = lo_page, .vma_end = lo_vma_end,
	};
	char comm[64];
	bool no_pfn = false;
	int o, err;

	comm_of(pid, comm, sizeof(comm));
	if (!comm[0])
		return -ESRCH;
	memset(l->proc, 0, sizeof(l->proc));
	if (l->json) {
		jw_start_object(&l->jw);
		jw_int_field(&l->jw, "pid", pid);
		jw_string_field(&l->jw, "comm", comm);
		jw_key(&l->jw, "vmas");
		jw_start_array(&l->jw);
	} else {
		printf("PID %d %s\n", pid, comm);
	}
	err = scan_process(s, pid, &ops, l, &no_pfn);
	if (!err && no_pfn)
		err = -EPERM;
	if (l->json) {
		jw_end_array(&l->jw);
		if (err == -ESRCH)
			jw_bool_field(&l->jw, "exited", true);
		json_sizes(l, "folios_kib", l->proc);
		jw_end_object(&l->jw);
	} else if (err == -ESRCH) {
		printf("  (exited during the walk: incomplete)\n");
	} else {
		printf("  total: resident %lluK", kib(l, sum(l->proc)));
		print_sizes(l, stdout, l->proc);
		printf("\n");
	}
	/* The totals count the processes walked whole, as "done" does. */
	for (o = 0; o < WL_ORDERS && !err; o++)
		l->all[o] += l->proc[o];
	return err;
}

static void layout_usage(FILE *f)
{
	fprintf(f,
		"usage: mthp-policy layout [--ranges] [--json] PID...\n"
		"       mthp-policy layout [--ranges] [--json] --cgroup PATH\n"
		"The resident anonymous memory of processes (of a cgroup and its descendants\n"
		"with --cgroup) by folio size, per mapping of /proc/PID/maps: its address\n"
		"range, permissions, size, and SIZE=KiB for each folio size there.\n"
		"  -r, --ranges   and a line per PMD range with a resident page: its address,\n"
		"                 resident pages / pages of the range in the mapping, and a\n"
		"                 map of %d characters, each 1/%d of the range: `.` nothing\n"
		"                 resident, `-` outside the mapping, else the order of the\n"
		"                 largest folio there (0: base page, 4: 64K with 4K pages,\n"
		"                 9: 2M; a-j: orders 10-19)\n"
		"  -j, --json     JSON instead of text\n"
		"  -c, --cgroup PATH  the processes of a cgroup (as attach --cgroup takes it)\n"
		"A page mapped by several processes counts in each.  Needs root: pagemap\n"
		"shows page frames to CAP_SYS_ADMIN only.\n",
		MAP_UNITS, MAP_UNITS);
}

int cmd_layout(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ranges", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct layout l = { 0 };
	struct scanner *s = NULL;
	const char *cgroup = NULL;
	struct scope sc = { 0 };
	int *pid = NULL, npid = 0, i, c, order, err = 0, done = 0;
	char label[16];

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "rjc:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			l.ranges = true;
			break;
		case 'j':
			l.json = true;
			break;
		case 'c':
			cgroup = optarg;
			break;
		case 'h':
			layout_usage(stdout);
			return 0;
		default:
			fail(-EINVAL, "layout: unknown option, or an option without its value: %s",
			     argv[optind - 1]);
			layout_usage(stderr);
			usage_error = true;
			return -EINVAL;
		}
	}
	if (!!cgroup == (optind < argc)) {
		layout_usage(stderr);
		usage_error = true;
		return fail(-EINVAL, "layout takes PIDs or --cgroup PATH, one of the two");
	}
	order = pmd_order();
	if (order < 0)
		return order;
	l.psize = sysconf(_SC_PAGESIZE);
	l.pmd_pages = 1UL << order;
	l.pmd_size = l.psize << order;
	l.unit_pages = l.pmd_pages > MAP_UNITS ? l.pmd_pages / MAP_UNITS : 1;

	if (cgroup) {
		err = cgroup_resolve(cgroup, &sc);
		if (err)
			return err;
		npid = cgroup_pids(sc.path, &pid);
		if (npid < 0)
			return fail(npid, "cannot read the processes of %s", sc.path);
	} else {
		pid = calloc(argc - optind, sizeof(*pid));
		if (!pid)
			return fail(-ENOMEM, "out of memory");
		for (i = optind; i < argc; i++) {
			char *end;
			long v;

			errno = 0;
			v = strtol(argv[i], &end, 10);
			if (errno || end == argv[i] || *end || v <= 0 || v > INT_MAX) {
				err = fail(-EINVAL, "not a PID: '%s'", argv[i]);
				goto out;
			}
			pid[npid++] = v;
		}
	}

	l.rorder = malloc(l.pmd_pages);
	if (!l.rorder || (!l.json && !(l.rf = open_memstream(&l.rbuf, &l.rlen)))) {
		err = fail(-ENOMEM, "out of memory");
		goto out;
	}
	err = scanner_open(&s, false, 0);
	if (err) {
		fail(err, "cannot read /proc/kpageflags: %s", strerror(-err));
		goto out;
	}
	if (l.json) {
		jw_init(&l.jw, stdout);
		jw_start_object(&l.jw);
		jw_uint_field(&l.jw, "page_size", l.psize);
		jw_uint_field(&l.jw, "pmd_size", l.pmd_size);
		if (cgroup)
			jw_string_field(&l.jw, "cgroup", sc.display);
		jw_key(&l.jw, "processes");
		jw_start_array(&l.jw);
	} else {
		if (cgroup)
			printf("cgroup %s: %d process%s\n", sc.display, npid, npid == 1 ? "" : "es");
		if (l.ranges)
			printf("# ranges: one character per %s: . none, - outside, else the largest folio's order\n",
			       size_label(__builtin_ctzl(l.unit_pages), label, sizeof(label)));
	}
	for (i = 0; i < npid; i++) {
		err = layout_pid(&l, s, pid[i]);
		if (err == -EPERM) {
			fail(err, "pagemap hid the page frames of PID %d: layout needs CAP_SYS_ADMIN",
			     pid[i]);
			goto out;
		}
		if (err == -ESRCH && !cgroup) {
			fail(err, "no process %d (or it exited)", pid[i]);
			goto out;
		}
		if (err && err != -ESRCH) {
			fail(err, "cannot read the memory of PID %d: %s", pid[i], strerror(-err));
			goto out;
		}
		/* In a cgroup, a process may exit while we look: not an error. */
		done += !err;
		err = 0;
	}
	if (!l.json) {
		printf("total: %d process%s, resident %lluK", done, done == 1 ? "" : "es",
		       kib(&l, sum(l.all)));
		print_sizes(&l, stdout, l.all);
		printf("\n");
	}
out:
	/* Whole JSON even after an error (said on stderr): scripts parse it. */
	if (l.json && s) {
		jw_end_array(&l.jw);
		if (err)
			jw_string_field(&l.jw, "error", strerror(-err));
		else
			json_sizes(&l, "folios_kib", l.all);
		jw_end_object(&l.jw);
		printf("\n");
	}
	if (l.rf)
		fclose(l.rf);
	free(l.rbuf);
	free(l.rorder);
	scanner_close(s);
	free(pid);
	return err;
}
