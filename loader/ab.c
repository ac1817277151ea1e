// SPDX-License-Identifier: GPL-2.0
/*
 * ab: policies side by side on a running machine.
 *
 * The arms are the rows of the khugepaged policies table (the attached
 * policies, active and shadow, and the kernel's own row, wherever it is
 * in the table), matched by name, mode and cgroup.  ab attaches the arms
 * it is given, takes the counters as a baseline, and prints what each arm
 * counted since then every interval, with the folio sizes of the memory
 * of each cgroup that has an arm.  At the end (SIGINT, SIGTERM,
 * --duration) it takes the counters a last time, detaches what it
 * attached, and prints the final table, or one JSON object, with the
 * folio sizes after the detach.
 *
 * Counters are followed across samples, so an arm that goes away keeps
 * what it counted, and one that comes back (or restarts its counters)
 * adds to it: never a negative delta.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mthp-policy.h"

#define LABELW		22
#define CELLMIN		10
#define CELLMAX		36

struct colset {
	int n;
	char name[PT_MAXCOLS][PT_NAMELEN];
};

struct arm {
	char name[64];
	char mode[16];
	__u64 cgid;
	bool gone;			/* no longer in the table: (detached) */
	int req;			/* the ARM of the command line that is it, or -1 */
	bool has[PT_MAXCOLS];		/* by column of the colset */
	long long raw[PT_MAXCOLS];	/* the value last seen */
	long long prev[PT_MAXCOLS];	/* what the next sample is compared with */
	long long acc[PT_MAXCOLS];	/* counted since the start */
};

/* An ARM of the command line: POLICY[,key=val...][@CGROUP][:shadow] */
struct req {
	const char *arg;
	char *buf;			/* policy and params, split in place */
	char *policy;
	char *params[64];
	int nparams;
	struct scope scope;
	bool attached;
	__u32 link_id;
};

struct cgscan {
	__u64 cgid;
	char name[PATH_MAX];
	int err;
	struct workload w;
};

struct ab {
	struct colset cs;
	struct arm *arms;
	int narms;
	struct req *reqs;
	int nreqs;
	struct cgscan *scans;
	int nscans;
	bool absolute;			/* stats: the values, not what changed */
	bool json, keep;
	const char *prom;
	double interval, duration, start;
	bool warned;
};

static int cs_find(const struct colset *cs, const char *name)
{
	int i;

	for (i = 0; i < cs->n; i++)
		if (!strcmp(cs->name[i], name))
			return i;
	return -1;
}

static int cs_add(struct colset *cs, const char *name)
{
	int i = cs_find(cs, name);

	if (i >= 0 || cs->n == PT_MAXCOLS)
		return i;
	snprintf(cs->name[cs->n], PT_NAMELEN, "%s", name);
	return cs->n++;
}

/* A value of an arm by column name: what it counted since the start, or
 * (stats, and the state "disabled") its value; -1 if the kernel has no
 * such column. */
static long long av(const struct ab *ab, const struct arm *a, const char *col)
{
	int k = cs_find(&ab->cs, col);

	if (k < 0 || !a->has[k])
		return -1;
	return ab->absolute || !strcmp(col, "disabled") ? a->raw[k] : a->acc[k];
}

static long long av_raw(const struct ab *ab, const struct arm *a, const char *col)
{
	int k = cs_find(&ab->cs, col);

	return k < 0 || !a->has[k] ? -1 : a->raw[k];
}

/* The order N of a column "<prefix>N", or -1. */
static int col_order(const char *col, const char *prefix)
{
	size_t n = strlen(prefix);
	char *end;
	long o;

	if (strncmp(col, prefix, n) || !col[n])
		return -1;
	o = strtol(col + n, &end, 10);
	return *end || o < 0 || o > 62 ? -1 : (int)o;
}

/* a + b of two values >= 0, LLONG_MAX if it does not fit. */
static long long add_sat(long long a, long long b)
{
	long long r;

	return __builtin_add_overflow(a, b, &r) ? LLONG_MAX : r;
}

/* Sum of the columns <prefix>N over N, in chunks or in pages (<< N); -1: none. */
static long long sum_orders(const struct ab *ab, const struct arm *a, const char *prefix,
			    bool pages, bool raw)
{
	long long sum = -1, v, p;
	int i, o;

	for (i = 0; i < ab->cs.n; i++) {
		o = col_order(ab->cs.name[i], prefix);
		if (o < 0)
			continue;
		v = raw ? av_raw(ab, a, ab->cs.name[i]) : av(ab, a, ab->cs.name[i]);
		if (v < 0)
			continue;
		if (pages && __builtin_mul_overflow(v, 1LL << o, &p))
			p = LLONG_MAX;
		else if (!pages)
			p = v;
		sum = add_sat(sum < 0 ? 0 : sum, p);
	}
	return sum;
}

static struct arm *find_arm(struct ab *ab, const char *name, const char *mode, __u64 cgid)
{
	int i;

	for (i = 0; i < ab->narms; i++)
		if (!strcmp(ab->arms[i].name, name) && !strcmp(ab->arms[i].mode, mode) &&
		    ab->arms[i].cgid == cgid)
			return &ab->arms[i];
	return NULL;
}

/*
 * Read the table and follow every row's counters.  A row first seen in
 * the baseline starts from its values; one that appears later was
 * attached during the run and counts from zero.
 */
static int sample(struct ab *ab, bool baseline)
{
	int cidx[PT_MAXCOLS], i, j, err;
	struct ptable t;
	bool *seen;

	err = ptable_read(&t);
	if (err)
		return err;
	for (j = 0; j < t.ncols; j++)
		cidx[j] = is_text_col(t.col[j]) ? -1 : cs_add(&ab->cs, t.col[j]);
	seen = calloc(ab->narms + t.nrows + 1, sizeof(*seen));
	if (!seen) {
		ptable_free(&t);
		return -ENOMEM;
	}
	for (i = 0; i < t.nrows; i++) {
		const struct prow *r = &t.rows[i];
		struct arm *a = find_arm(ab, r->name, r->mode, r->cgid);

		if (!a) {
			struct arm *na = realloc(ab->arms, (ab->narms + 1) * sizeof(*na));

			if (!na)
				continue;
			ab->arms = na;
			a = &ab->arms[ab->narms++];
			memset(a, 0, sizeof(*a));
			snprintf(a->name, sizeof(a->name), "%s", r->name);
			snprintf(a->mode, sizeof(a->mode), "%s", r->mode);
			a->cgid = r->cgid;
			a->req = -1;
			if (baseline)
				for (j = 0; j < t.ncols; j++)
					if (cidx[j] >= 0 && r->v[j] >= 0)
						a->prev[cidx[j]] = r->v[j];
		}
		seen[a - ab->arms] = true;
		a->gone = false;
		for (j = 0; j < t.ncols; j++) {
			int k = cidx[j];
			long long v = r->v[j];

			if (k < 0 || v < 0)
				continue;
			/* Lower than before: the counters started again. */
			a->acc[k] = add_sat(a->acc[k], v >= a->prev[k] ? v - a->prev[k] : v);
			a->prev[k] = v;
			a->raw[k] = v;
			a->has[k] = true;
		}
	}
	for (i = 0; i < ab->narms; i++) {
		if (seen[i] || ab->arms[i].gone)
			continue;
		/*
		 * Gone: keep what it counted.  A policy that comes back is
		 * attached again, with new counters: from zero.  The kernel's
		 * row comes back when a policy is attached again, its counters
		 * where they were, or lower if they started again.
		 */
		ab->arms[i].gone = true;
		if (strcmp(ab->arms[i].mode, "kernel"))
			memset(ab->arms[i].prev, 0, sizeof(ab->arms[i].prev));
	}
	free(seen);
	ptable_free(&t);
	return 0;
}

/* The arms in the order they show: the policies, then the kernel. */
static int display_order(const struct ab *ab, int *idx)
{
	int i, n = 0, pass;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < ab->narms; i++)
			if ((pass == 1) == !strcmp(ab->arms[i].mode, "kernel"))
				idx[n++] = i;
	return n;
}

struct tab {
	FILE *f;
	const struct ab *ab;
	int n;
	int *idx;
	int *w;
};

static const struct arm *tab_arm(const struct tab *t, int i)
{
	return &t->ab->arms[t->idx[i]];
}

/* s in w columns, right-aligned; the end of a longer one, after "...". */
static void put(FILE *f, int w, const char *s)
{
	size_t len = strlen(s);

	if (len <= (size_t)w || w < 4)
		fprintf(f, "  %*s", w, s);
	else
		fprintf(f, "  ...%s", s + len - (w - 3));
}

static void cell(const struct tab *t, int i, const char *s)
{
	put(t->f, t->w[i], s);
}

static void row_vals(const struct tab *t, const char *label, const long long *v)
{
	char buf[32];
	int i;

	fprintf(t->f, "%-*s", LABELW, label);
	for (i = 0; i < t->n; i++) {
		if (v[i] < 0)
			snprintf(buf, sizeof(buf), "-");
		else
			snprintf(buf, sizeof(buf), "%lld", v[i]);
		cell(t, i, buf);
	}
	fputc('\n', t->f);
}

/* A row of one column; only if some arm has it non-zero, unless always. */
static void row_col(const struct tab *t, const char *label, const char *col, bool always)
{
	long long v[t->n];
	bool any = false;
	int i;

	memset(v, 0, sizeof(v));
	for (i = 0; i < t->n; i++) {
		v[i] = av(t->ab, tab_arm(t, i), col);
		any |= v[i] > 0;
	}
	if (always || any)
		row_vals(t, label, v);
}

static void arm_label(const struct arm *a, char *buf, size_t len)
{
	bool kernel = !strcmp(a->mode, "kernel");

	snprintf(buf, len, "%s%s", a->name,
		 !a->gone ? "" : kernel ? " (no policy)" : " (detached)");
}

/* Orders with a column of any of the prefixes non-zero for some arm: a mask. */
static unsigned long long busy_orders(const struct tab *t)
{
	static const char * const prefix[] = { "planned_order", "collapsed_order", "failed_order" };
	unsigned long long mask = 0;
	int i, k, p, o;

	for (k = 0; k < t->ab->cs.n; k++)
		for (p = 0; p < 3; p++) {
			o = col_order(t->ab->cs.name[k], prefix[p]);
			if (o < 0)
				continue;
			for (i = 0; i < t->n; i++)
				if (av(t->ab, tab_arm(t, i), t->ab->cs.name[k]) > 0)
					mask |= 1ULL << o;
		}
	return mask;
}

/* planned or collapsed chunks by size (busy orders), their total, their pages. */
static void rows_orders(const struct tab *t, const char *what, const char *prefix,
			unsigned long long busy, const char *pages_label)
{
	char label[64], col[64], size[16];
	long long v[t->n];
	int i, o;

	memset(v, 0, sizeof(v));
	for (o = 0; o < 63; o++) {
		if (!(busy & (1ULL << o)))
			continue;
		snprintf(col, sizeof(col), "%s%d", prefix, o);
		snprintf(label, sizeof(label), "%s %s chunks", what, size_label(o, size, sizeof(size)));
		row_col(t, label, col, true);
	}
	for (i = 0; i < t->n; i++)
		v[i] = sum_orders(t->ab, tab_arm(t, i), prefix, false, false);
	snprintf(label, sizeof(label), "%s chunks", what);
	row_vals(t, label, v);
	for (i = 0; i < t->n; i++)
		v[i] = sum_orders(t->ab, tab_arm(t, i), prefix, true, false);
	row_vals(t, pages_label, v);
}

static bool known_col(const char *c)
{
	static const char * const known[] = {
		"disabled", "calls", "plans_custom", "plans_default", "plans_rejected",
		"planned_none", "collapsed_none", "time_ns",
	};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(c, known[i]))
			return true;
	return is_text_col(c) || col_order(c, "planned_order") >= 0 ||
	       col_order(c, "collapsed_order") >= 0 || col_order(c, "failed_order") >= 0 ||
	       !strncmp(c, "failed_", 7) || !strncmp(c, "rejected_", 9);
}

/* One column per arm: name, mode, cgroup, then the counters. */
static void print_table(FILE *f, const struct ab *ab)
{
	int idx[ab->narms + 1], w[ab->narms + 1], i, k;
	char label[PATH_MAX + 64], buf[64];
	struct tab t = { f, ab, 0, idx, w };
	unsigned long long busy;
	long long v[ab->narms + 1];

	memset(v, 0, sizeof(v));
	t.n = display_order(ab, idx);
	if (!t.n) {
		fprintf(f, "no policy attached\n");
		return;
	}
	for (i = 0; i < t.n; i++) {
		const struct arm *a = tab_arm(&t, i);
		size_t m = CELLMIN;

		arm_label(a, label, sizeof(label));
		m = strlen(label) > m ? strlen(label) : m;
		cgroup_name(a->cgid, label, sizeof(label));
		m = strlen(label) > m ? strlen(label) : m;
		w[i] = m > CELLMAX ? CELLMAX : (int)m;
	}
	fprintf(f, "%-*s", LABELW, "name");
	for (i = 0; i < t.n; i++) {
		arm_label(tab_arm(&t, i), label, sizeof(label));
		cell(&t, i, label);
	}
	fprintf(f, "\n%-*s", LABELW, "mode");
	for (i = 0; i < t.n; i++)
		cell(&t, i, tab_arm(&t, i)->mode);
	fprintf(f, "\n%-*s", LABELW, "cgroup");
	for (i = 0; i < t.n; i++)
		cell(&t, i, cgroup_name(tab_arm(&t, i)->cgid, label, sizeof(label)));
	fputc('\n', f);

	row_col(&t, "ranges", "calls", true);
	/* What the policy costs: the kernel's clock, per range asked. */
	if (cs_find(&ab->cs, "time_ns") >= 0) {
		fprintf(f, "%-*s", LABELW, "ns per range");
		for (i = 0; i < t.n; i++) {
			long long ns = av(ab, tab_arm(&t, i), "time_ns");
			long long calls = av(ab, tab_arm(&t, i), "calls");

			if (ns < 0 || calls <= 0 || !strcmp(tab_arm(&t, i)->mode, "kernel"))
				snprintf(buf, sizeof(buf), "-");
			else
				snprintf(buf, sizeof(buf), "%lld", ns / calls);
			cell(&t, i, buf);
		}
		fputc('\n', f);
	}
	row_col(&t, "plans custom", "plans_custom", true);
	row_col(&t, "plans default", "plans_default", true);
	row_col(&t, "plans rejected", "plans_rejected", true);
	busy = busy_orders(&t);
	rows_orders(&t, "planned", "planned_order", busy, "planned pages");
	row_col(&t, "planned bloat (PTEs)", "planned_none", true);
	rows_orders(&t, "collapsed", "collapsed_order", busy, "pages collapsed");
	row_col(&t, "bloat filled (PTEs)", "collapsed_none", true);
	fprintf(f, "%-*s", LABELW, "bloat %");
	for (i = 0; i < t.n; i++) {
		long long none = av(ab, tab_arm(&t, i), "collapsed_none");
		long long pages = sum_orders(ab, tab_arm(&t, i), "collapsed_order", true, false);

		if (none < 0 || pages <= 0)
			snprintf(buf, sizeof(buf), "-");
		else
			snprintf(buf, sizeof(buf), "%.1f%%", 100.0 * none / pages);
		cell(&t, i, buf);
	}
	fputc('\n', f);
	for (k = 0; k < ab->cs.n; k++) {
		const char *c = ab->cs.name[k];

		if (strncmp(c, "failed_", 7) || col_order(c, "failed_order") >= 0)
			continue;
		snprintf(label, sizeof(label), "failed %s", c + 7);
		row_col(&t, label, c, true);
	}
	for (i = 0; i < t.n; i++)
		v[i] = sum_orders(ab, tab_arm(&t, i), "failed_order", false, false);
	row_vals(&t, "failed chunks", v);
	for (k = 0; k < ab->cs.n; k++) {
		const char *c = ab->cs.name[k];

		if (strncmp(c, "rejected_", 9))
			continue;
		snprintf(label, sizeof(label), "rejected %s", c + 9);
		row_col(&t, label, c, false);
	}
	/* Columns of a newer kernel: as they are named. */
	for (k = 0; k < ab->cs.n; k++)
		if (!known_col(ab->cs.name[k]))
			row_col(&t, ab->cs.name[k], ab->cs.name[k], false);
	fprintf(f, "%-*s", LABELW, "disabled");
	for (i = 0; i < t.n; i++) {
		long long d = av(ab, tab_arm(&t, i), "disabled");

		cell(&t, i, d < 0 ? "-" : d ? "YES" : "no");
	}
	fputc('\n', f);
}

/* The policies table as it is now, one column per policy (stats). */
int print_policies_table(FILE *f)
{
	struct ab ab;
	int err;

	memset(&ab, 0, sizeof(ab));
	ab.absolute = true;
	err = sample(&ab, true);
	if (!err && ab.narms)
		print_table(f, &ab);
	free(ab.arms);
	return err;
}

/* Orders the workload view shows: 4K, 16K .. 2M, and any other that is there. */
/* The size a row of the workload view counts: the last one is that size and up. */
static void wl_label(int o, char *label, size_t len)
{
	size_label(o, label, len);
	if (o == WL_ORDERS - 1 && strlen(label) + 1 < len)
		strcat(label, "+");
}

static bool wl_shown(const struct ab *ab, int o)
{
	int i;

	if (o == 0 || (o >= MIN_COLLAPSE_ORDER && o <= pmd_order()))
		return true;
	for (i = 0; i < ab->nscans; i++)
		if (!ab->scans[i].err && ab->scans[i].w.pages[o])
			return true;
	return false;
}

/* The cgroups of the arms (not removed), each scanned once. */
static void scan_cgroups(struct ab *ab, int cancel_at)
{
	char path[PATH_MAX];
	int i, j;

	ab->nscans = 0;
	free(ab->scans);
	ab->scans = calloc(ab->narms + 1, sizeof(*ab->scans));
	if (!ab->scans)
		return;
	for (i = 0; i < ab->narms; i++) {
		struct cgscan *c;

		if (!ab->arms[i].cgid || cgroup_path_of(ab->arms[i].cgid, path, sizeof(path)))
			continue;
		for (j = 0; j < ab->nscans; j++)
			if (ab->scans[j].cgid == ab->arms[i].cgid)
				break;
		if (j < ab->nscans)
			continue;
		c = &ab->scans[ab->nscans++];
		c->cgid = ab->arms[i].cgid;
		cgroup_name(c->cgid, c->name, sizeof(c->name));
		c->err = workload_scan(path, &c->w, cancel_at);
	}
}

static double pct(const struct workload *w, int o)
{
	return w->total ? 100.0 * w->pages[o] / w->total : 0.0;
}

static void print_workload(FILE *f, const struct ab *ab)
{
	int w[ab->nscans + 1], i, o;
	char label[32], buf[64];
	bool no_pfn = false;

	if (!ab->nscans)
		return;
	for (i = 0; i < ab->nscans; i++) {
		size_t n = strlen(ab->scans[i].name);

		w[i] = n < CELLMIN + 2 ? CELLMIN + 2 : n > CELLMAX ? CELLMAX : (int)n;
	}
	fprintf(f, "\nworkload: anonymous resident memory by folio size\n%-*s", LABELW, "cgroup");
	for (i = 0; i < ab->nscans; i++)
		put(f, w[i], ab->scans[i].name);
	fputc('\n', f);
	for (o = 0; o < WL_ORDERS; o++) {
		if (!wl_shown(ab, o))
			continue;
		wl_label(o, label, sizeof(label));
		fprintf(f, "%-*s", LABELW, label);
		for (i = 0; i < ab->nscans; i++) {
			if (ab->scans[i].err)
				snprintf(buf, sizeof(buf), "-");
			else
				snprintf(buf, sizeof(buf), "%.1f%%", pct(&ab->scans[i].w, o));
			fprintf(f, "  %*s", w[i], buf);
		}
		fputc('\n', f);
	}
	fprintf(f, "%-*s", LABELW, "total MiB");
	for (i = 0; i < ab->nscans; i++) {
		const struct cgscan *c = &ab->scans[i];

		if (c->err)
			snprintf(buf, sizeof(buf), "%s", c->err == -ENOENT ? "(removed)" : "?");
		else
			snprintf(buf, sizeof(buf), "%.1f%s",
				 (double)c->w.total * sysconf(_SC_PAGESIZE) / (1 << 20),
				 c->w.interrupted ? " (cut)" : "");
		fprintf(f, "  %*s", w[i], buf);
		no_pfn |= !c->err && c->w.no_pfn;
	}
	fprintf(f, "\n%-*s", LABELW, "processes");
	for (i = 0; i < ab->nscans; i++)
		fprintf(f, "  %*u", w[i], ab->scans[i].err ? 0 : ab->scans[i].w.procs);
	fputc('\n', f);
	for (i = 0; i < ab->nscans; i++)
		if (ab->scans[i].err && ab->scans[i].err != -ENOENT)
			fprintf(f, "(%s: %s)\n", ab->scans[i].name, strerror(-ab->scans[i].err));
	if (no_pfn)
		fprintf(f, "(pagemap hid page frames: reading them needs CAP_SYS_ADMIN)\n");
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static const struct cgscan *scan_of(const struct ab *ab, __u64 cgid)
{
	int i;

	for (i = 0; i < ab->nscans; i++)
		if (ab->scans[i].cgid == cgid)
			return &ab->scans[i];
	return NULL;
}

static void print_json(FILE *f, const struct ab *ab, double secs)
{
	int idx[ab->narms + 1], n = display_order(ab, idx), i, k, o;
	char name[PATH_MAX], label[32];

	fprintf(f, "{\"duration_s\":%.1f,\"interval_s\":%g,\"arms\":[", secs, ab->interval);
	for (i = 0; i < n; i++) {
		const struct arm *a = &ab->arms[idx[i]];
		const struct cgscan *c = a->cgid ? scan_of(ab, a->cgid) : NULL;
		long long pages = sum_orders(ab, a, "collapsed_order", true, false);
		long long none = av(ab, a, "collapsed_none");
		bool first = true;

		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_str(f, a->name);
		fputs(",\"mode\":", f);
		json_str(f, a->mode);
		fputs(",\"cgroup\":", f);
		json_str(f, cgroup_name(a->cgid, name, sizeof(name)));
		fprintf(f, ",\"cgroup_id\":%llu,\"detached\":%s,\"attached_by_ab\":%s,\"counters\":{",
			(unsigned long long)a->cgid, a->gone ? "true" : "false",
			a->req >= 0 ? "true" : "false");
		for (k = 0; k < ab->cs.n; k++) {
			long long v = av(ab, a, ab->cs.name[k]);

			if (v < 0)
				continue;
			fprintf(f, "%s", first ? "" : ",");
			json_str(f, ab->cs.name[k]);
			fprintf(f, ":%lld", v);
			first = false;
		}
		fprintf(f, "},\"pages_collapsed\":%lld,\"bloat_pct\":", pages < 0 ? 0 : pages);
		if (pages > 0 && none >= 0)
			fprintf(f, "%.2f", 100.0 * none / pages);
		else
			fputs("null", f);
		fputs(",\"workload\":", f);
		if (!c || c->err) {
			fputs("null", f);
		} else {
			fputc('{', f);
			for (o = 0; o < WL_ORDERS; o++) {
				if (!wl_shown(ab, o))
					continue;
				wl_label(o, label, sizeof(label));
				json_str(f, label);
				fprintf(f, ":%.2f,", pct(&c->w, o));
			}
			fprintf(f, "\"total_kib\":%llu,\"processes\":%u%s}",
				c->w.total * (unsigned long long)(sysconf(_SC_PAGESIZE) / 1024),
				c->w.procs, c->w.interrupted ? ",\"interrupted\":true" : "");
		}
		fputc('}', f);
	}
	fputs("]}\n", f);
}

/* A label value in the Prometheus text format. */
static void prom_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void prom_labels(FILE *f, const struct arm *a, const char *key, const char *val)
{
	char name[PATH_MAX];

	fputs("{policy=", f);
	prom_str(f, a->name);
	fputs(",mode=", f);
	prom_str(f, a->mode);
	fputs(",cgroup=", f);
	/* system-wide: an empty cgroup, no label at all for Prometheus */
	prom_str(f, a->cgid ? cgroup_name(a->cgid, name, sizeof(name)) : "");
	fprintf(f, ",cgroup_id=\"%llu\"", (unsigned long long)a->cgid);
	if (key) {
		fprintf(f, ",%s=", key);
		prom_str(f, val);
	}
	fputc('}', f);
}

static void prom_head(FILE *f, const char *metric, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

/* One family of one column per arm present: its value now. */
static void prom_col(FILE *f, const struct ab *ab, const char *metric, const char *type,
		     const char *help, const char *col)
{
	int i;

	prom_head(f, metric, type, help);
	for (i = 0; i < ab->narms; i++) {
		long long v = av_raw(ab, &ab->arms[i], col);

		if (ab->arms[i].gone || v < 0)
			continue;
		fputs(metric, f);
		prom_labels(f, &ab->arms[i], NULL, NULL);
		fprintf(f, " %lld\n", v);
	}
}

/* One family of the columns <prefix>X, labelled key="X". */
static void prom_cols(FILE *f, const struct ab *ab, const char *metric, const char *help,
		      const char *prefix, const char *key, bool orders)
{
	size_t n = strlen(prefix);
	int i, k;

	prom_head(f, metric, "counter", help);
	for (i = 0; i < ab->narms; i++) {
		if (ab->arms[i].gone)
			continue;
		for (k = 0; k < ab->cs.n; k++) {
			const char *c = ab->cs.name[k];
			long long v = av_raw(ab, &ab->arms[i], c);

			if (strncmp(c, prefix, n) || v < 0)
				continue;
			if (orders != (col_order(c, "failed_order") >= 0 ||
				       col_order(c, prefix) >= 0))
				continue;
			fputs(metric, f);
			prom_labels(f, &ab->arms[i], key, c + n);
			fprintf(f, " %lld\n", v);
		}
	}
}

static int prom_write(const struct ab *ab)
{
	char tmp[PATH_MAX + 8], label[32];
	int i, o, err, fd, n;
	FILE *f;

	/*
	 * A new file next to FILE, of a name made here and created with
	 * O_EXCL (no symlink is followed), renamed over FILE when complete.
	 */
	n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", ab->prom);
	if (n < 0 || n >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	f = fchmod(fd, 0644) ? NULL : fdopen(fd, "w");
	if (!f) {
		err = errno;
		close(fd);
		unlink(tmp);
		return -err;
	}
	prom_col(f, ab, "mthp_policy_ranges_total", "counter",
		 "PMD ranges the policy was called for (kernel: the ranges no active policy planned)",
		 "calls");
	prom_head(f, "mthp_policy_time_seconds_total", "counter",
		  "Time spent in the policy's calls, its plan checks included");
	for (i = 0; i < ab->narms; i++) {
		long long v = av_raw(ab, &ab->arms[i], "time_ns");

		if (ab->arms[i].gone || v < 0)
			continue;
		fputs("mthp_policy_time_seconds_total", f);
		prom_labels(f, &ab->arms[i], NULL, NULL);
		fprintf(f, " %.9f\n", v / 1e9);
	}
	prom_col(f, ab, "mthp_policy_custom_plans_total", "counter",
		 "Plans the policy made itself", "plans_custom");
	prom_col(f, ab, "mthp_policy_default_plans_total", "counter",
		 "Ranges the policy left to the kernel's default plan", "plans_default");
	prom_col(f, ab, "mthp_policy_rejected_plans_total", "counter",
		 "Plans the kernel rejected (the default plan was used instead)", "plans_rejected");
	prom_cols(f, ab, "mthp_policy_planned_chunks_total",
		  "Chunks in the plans the policy made (shadow: would have made), by order",
		  "planned_order", "order", true);
	prom_col(f, ab, "mthp_policy_planned_bloat_ptes_total", "counter",
		 "Empty PTEs the planned chunks cover", "planned_none");
	prom_cols(f, ab, "mthp_policy_collapsed_chunks_total", "Chunks collapsed, by order",
		  "collapsed_order", "order", true);
	prom_head(f, "mthp_policy_collapsed_pages_total", "counter",
		  "Pages collapsed: collapsed chunks times their size in pages");
	for (i = 0; i < ab->narms; i++) {
		long long v = sum_orders(ab, &ab->arms[i], "collapsed_order", true, true);

		if (ab->arms[i].gone || v < 0)
			continue;
		fputs("mthp_policy_collapsed_pages_total", f);
		prom_labels(f, &ab->arms[i], NULL, NULL);
		fprintf(f, " %lld\n", v);
	}
	prom_col(f, ab, "mthp_policy_bloat_ptes_total", "counter",
		 "Empty PTEs filled by collapses (memory added)", "collapsed_none");
	prom_cols(f, ab, "mthp_policy_failed_chunks_total", "Chunks that failed to collapse, by order",
		  "failed_order", "order", true);
	prom_cols(f, ab, "mthp_policy_failed_total", "Failed collapses, by reason",
		  "failed_", "reason", false);
	prom_cols(f, ab, "mthp_policy_plan_rejects_total",
		  "Plans the kernel rejected, by reason", "rejected_", "reason", false);
	prom_col(f, ab, "mthp_policy_disabled", "gauge",
		 "1 if the kernel stopped calling the policy (one call took over 100 ms)", "disabled");
	prom_head(f, "mthp_cgroup_anon_bytes", "gauge",
		  "Anonymous resident memory of the cgroup (and its descendants), by folio size");
	for (i = 0; i < ab->nscans; i++) {
		const struct cgscan *c = &ab->scans[i];

		if (c->err || c->w.interrupted)
			continue;
		for (o = 0; o < WL_ORDERS; o++) {
			if (!wl_shown(ab, o))
				continue;
			wl_label(o, label, sizeof(label));
			fputs("mthp_cgroup_anon_bytes{cgroup=", f);
			prom_str(f, c->name);
			fprintf(f, ",cgroup_id=\"%llu\",size=", (unsigned long long)c->cgid);
			prom_str(f, label);
			fprintf(f, "} %llu\n", c->w.pages[o] * (unsigned long long)sysconf(_SC_PAGESIZE));
		}
	}
	err = 0;
	if (fflush(f))
		err = errno ? errno : EIO;
	else if (ferror(f))
		err = EIO;
	if (!err && fsync(fileno(f)))
		err = errno;
	if (fclose(f) && !err)
		err = errno ? errno : EIO;
	if (!err && rename(tmp, ab->prom))
		err = errno;
	if (err)
		unlink(tmp);
	return -err;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_secs(const char *opt, const char *arg, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(*v) || *v <= 0 || *v > 1e9)
		return fail("ab: %s needs a positive number of seconds, not '%s'", opt, arg);
	return 0;
}

static int bad_arm(const char *arg, const char *why)
{
	return fail("ab: bad ARM '%s': %s (expected POLICY[,key=value...][@CGROUP][:shadow])",
		    arg, why);
}

/*
 * POLICY[,key=value...][@CGROUP][:shadow].  The cgroup follows the first
 * '@' (cgroup names have '@'s: user@1000.service); ":shadow" (or
 * ":active") ends the ARM.
 */
static int parse_arm(const char *arg, struct req *r)
{
	char *at, *colon, *p, *save = NULL, key[64];
	size_t len;
	__u32 idx, val;

	memset(r, 0, sizeof(*r));
	r->arg = arg;
	r->buf = strdup(arg);
	if (!r->buf)
		return fail("out of memory");
	len = strlen(r->buf);
	if (len > 7 && !strcmp(r->buf + len - 7, ":shadow")) {
		r->scope.shadow = true;
		r->buf[len - 7] = '\0';
	} else if (len > 7 && !strcmp(r->buf + len - 7, ":active")) {
		r->buf[len - 7] = '\0';
	}
	at = strchr(r->buf, '@');
	if (at)
		*at++ = '\0';
	colon = strchr(r->buf, ':');
	if (colon)
		return bad_arm(arg, "the mode after ':' is shadow or active");
	if (at && !*at)
		return bad_arm(arg, "no cgroup after '@'");
	p = strtok_r(r->buf, ",", &save);
	if (!p || !*p || r->buf[0] == ',')
		return bad_arm(arg, "no policy");
	r->policy = p;
	while ((p = strtok_r(NULL, ",", &save))) {
		if ((size_t)r->nparams == sizeof(r->params) / sizeof(r->params[0]))
			return bad_arm(arg, "too many parameters");
		if (parse_param(p, key, sizeof(key), &idx, &val))
			return bad_arm(arg, "parameters are key=value, after commas");
		r->params[r->nparams++] = p;
	}
	if (policy_name_ok(r->policy))
		return 1;
	if (at) {
		if (cgroup_resolve(at, &r->scope))
			return fail("ab: cannot use ARM '%s': its cgroup (above)", arg);
	} else {
		snprintf(r->scope.display, sizeof(r->scope.display), "system-wide");
	}
	return 0;
}

/*
 * Detach what this run attached (unless --keep), newest first; each once.
 * 0, or 1 if one of them could not be detached.
 */
static int detach_ours(struct ab *ab, bool keep)
{
	char where[PATH_MAX + 64], opts[PATH_MAX + 64];
	int i, bad = 0;

	for (i = ab->nreqs - 1; i >= 0; i--) {
		struct req *r = &ab->reqs[i];

		if (!r->attached)
			continue;
		r->attached = false;
		scope_where(&r->scope, where, sizeof(where));
		if (keep) {
			note("ab: kept %s attached %s", r->policy, where);
			continue;
		}
		switch (detach_owned(&r->scope, r->link_id)) {
		case 0:
			note("ab: detached %s (%s)", r->policy, where);
			break;
		case 1:
			note("ab: %s (%s) was detached already", r->policy, where);
			break;
		default:
			fail("ab: cannot detach %s (%s): it is still attached (mthp-policy detach%s)",
			     r->policy, where, scope_opts(&r->scope, opts, sizeof(opts)));
			bad = 1;
			break;
		}
	}
	return bad;
}

static void ab_usage(FILE *f)
{
	fprintf(f,
		"usage: mthp-policy ab [--interval SEC] [--duration SEC] [--json] [--prom FILE] [--keep] [ARM...]\n"
		"  ARM: POLICY[,key=value...][@CGROUP][:shadow]\n"
		"       POLICY            active, system-wide\n"
		"       POLICY:shadow     shadow, system-wide: its plans are only counted\n"
		"       POLICY@CGROUP     active for the memory of a cgroup (and its descendants)\n"
		"       POLICY@CGROUP:shadow\n"
		"       e.g. threshold,pct9=50@/sys/fs/cgroup/b   conservative@b:shadow\n"
		"  Attaches the ARMs (and detaches them at the end, unless --keep); with\n"
		"  none, compares what is attached.  Every --interval (5 s) it prints what\n"
		"  each policy and the kernel counted since the start, side by side, and\n"
		"  the folio sizes of each cgroup's anonymous memory; at SIGINT, SIGTERM or\n"
		"  after --duration, the final table.\n"
		"  --json       only one JSON object, at the end\n"
		"  --prom FILE  write the counters (absolute) for node_exporter's textfile\n"
		"               collector, every interval and at the end\n"
		"  --keep       leave the ARMs attached at the end\n");
}

/* Redraw in place on a terminal that can; a log gets one table after another. */
static bool can_redraw(void)
{
	const char *term = getenv("TERM");

	return isatty(STDOUT_FILENO) && term && *term && strcmp(term, "dumb");
}

static void show(struct ab *ab, const char *fmt, double secs)
{
	if (can_redraw())
		fputs("\033[H\033[2J", stdout);
	printf(fmt, secs);
	print_table(stdout, ab);
	print_workload(stdout, ab);
	fflush(stdout);
}

static void resample(struct ab *ab)
{
	int err = sample(ab, false);

	if (err && !ab->warned) {
		note("ab: cannot read %s: %s (the values are the last seen)", POLICIES,
		     strerror(-err));
		ab->warned = true;
	}
}

/* The --prom file, as things are now: 0, or 1 after a message. */
static int write_prom(struct ab *ab)
{
	int err;

	if (!ab->prom)
		return 0;
	err = prom_write(ab);
	if (err)
		note("ab: cannot write %s: %s", ab->prom, strerror(-err));
	return err ? 1 : 0;
}

/*
 * Attach the ARMs, take the baseline, a table every interval; at the end
 * the final counters, then the detach, then the final workload and
 * output.  0, or 1 after a message: what the run attached and could not
 * detach, the final --prom file, or the JSON on stdout, went wrong.
 */
static int run(struct ab *ab)
{
	double next, end, t;
	long long tick;
	sigset_t orig;
	int i, err, ret = 0;

	for (i = 0; i < ab->nreqs && !stop; i++) {
		struct req *r = &ab->reqs[i];
		char where[PATH_MAX + 64];

		if (attach_policy(r->policy, r->nparams, r->params, &r->scope, &r->link_id)) {
			if (i)
				note("ab: detaching the %d ARM%s attached before", i, i > 1 ? "s" : "");
			return 1;
		}
		r->attached = true;
		note("ab: attached %s %s", r->policy, scope_where(&r->scope, where, sizeof(where)));
	}
	err = sample(ab, true);
	if (err)
		return fail("ab: cannot read %s: %s", POLICIES, strerror(-err));
	for (i = 0; i < ab->nreqs; i++) {
		int k;

		for (k = 0; k < ab->narms; k++)
			if (ab->arms[k].cgid == ab->reqs[i].scope.cgid &&
			    !strcmp(ab->arms[k].mode, ab->reqs[i].scope.shadow ? "shadow" : "active"))
				ab->arms[k].req = i;
	}
	for (i = 0; i < ab->narms; i++)
		if (strcmp(ab->arms[i].mode, "kernel"))
			break;
	if (i == ab->narms && !stop)
		return fail("ab: no policy is attached: nothing to compare (name ARMs: mthp-policy ab POLICY[@CGROUP][:shadow]...)");
	ab->start = now();
	if (ab->prom) {
		scan_cgroups(ab, 1);
		err = prom_write(ab);
		if (err)
			return fail("ab: cannot write %s: %s", ab->prom, strerror(-err));
	}
	if (!ab->json) {
		printf("ab: baseline taken; a table every %g s (Ctrl-C: the final one)\n",
		       ab->interval);
		fflush(stdout);
	}
	tick = 1;
	next = ab->start + ab->interval;
	end = ab->duration > 0 ? ab->start + ab->duration : 0;
	/*
	 * SIGINT, SIGTERM (and SIGHUP) are let in only while the run waits
	 * for the next tick, in the wait itself, and while it samples and
	 * scans (a scan stops at one): one that comes after the check of
	 * stop ends the wait at once.
	 */
	block_stop_signals(&orig);
	while (!stop) {
		t = now();
		if (end && t >= end)
			break;
		if (t < next) {
			wait_signal((end && end < next ? end : next) - t, &orig);
			continue;
		}
		/* The tick after now, computed: however late, no stepping to it. */
		tick = (long long)((t - ab->start) / ab->interval) + 1;
		next = ab->start + tick * ab->interval;
		if (next <= t)
			next = ab->start + ++tick * ab->interval;
		sigprocmask(SIG_SETMASK, &orig, NULL);
		resample(ab);
		if (!ab->json || ab->prom)
			scan_cgroups(ab, 1);
		if (!stop) {
			/* The tick this is for: 5 s, 10 s, ... */
			if (!ab->json)
				show(ab, "--- after %g s ---\n", (tick - 1) * ab->interval);
			write_prom(ab);
			/* Nobody reads any more (a closed pipe): wind up, and detach. */
			if (ferror(stdout))
				stop = stop + 1;
		}
		block_stop_signals(NULL);
	}
	sigprocmask(SIG_SETMASK, &orig, NULL);
	t = now() - ab->start;
	/* The final counters are these: taken before the ARMs go. */
	resample(ab);
	if (detach_ours(ab, ab->keep))
		ret = 1;
	scan_cgroups(ab, 2);
	if (ab->json) {
		print_json(stdout, ab, t);
		errno = 0;
		if (fflush(stdout) || ferror(stdout))
			ret = fail("ab: cannot write the JSON to standard output: %s",
				   strerror(errno ? errno : EIO));
	} else {
		show(ab, "=== final, %.0f s ===\n", t);
	}
	if (write_prom(ab))
		ret = 1;
	return ret;
}

int cmd_ab(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "prom", required_argument, NULL, 'p' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa;
	struct ab ab;
	int opt, i, j, ret = 1;

	memset(&ab, 0, sizeof(ab));
	ab.interval = 5;
	optind = 0;	/* GNU getopt: start again, and move the ARMs to the end */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "i:d:jp:kh", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (parse_secs("--interval", optarg, &ab.interval))
				return 1;
			if (ab.interval < 0.1)
				return fail("ab: --interval must be at least 0.1 s, not '%s'", optarg);
			break;
		case 'd':
			if (parse_secs("--duration", optarg, &ab.duration))
				return 1;
			break;
		case 'j':
			ab.json = true;
			break;
		case 'p':
			if (!optarg[0])
				return fail("ab: --prom needs a file");
			ab.prom = optarg;
			break;
		case 'k':
			ab.keep = true;
			break;
		case 'h':
			ab_usage(stdout);
			return 0;
		default:
			fail("ab: unknown option, or an option without its value: %s",
			     argv[optind - 1]);
			ab_usage(stderr);
			return 2;
		}
	}
	ab.reqs = calloc(argc + 1, sizeof(*ab.reqs));
	if (!ab.reqs)
		return fail("out of memory");
	for (i = optind; i < argc; i++)
		if (parse_arm(argv[i], &ab.reqs[ab.nreqs++]))
			goto out;
	for (i = 0; i < ab.nreqs; i++)
		for (j = 0; j < i; j++)
			if (ab.reqs[i].scope.cgid == ab.reqs[j].scope.cgid &&
			    ab.reqs[i].scope.shadow == ab.reqs[j].scope.shadow) {
				const struct scope *sc = &ab.reqs[i].scope;

				fail("ab: ARMs '%s' and '%s' are both %s %s%s: one policy per scope and mode",
				     ab.reqs[j].arg, ab.reqs[i].arg, sc->shadow ? "shadow" : "active",
				     sc->cgid ? "for cgroup " : "system-wide", sc->cgid ? sc->display : "");
				goto out;
			}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* stop: the wait for a tick ends at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);	/* a closed pipe must not skip the detach */

	ret = run(&ab);
	/* What an early end of the run left attached (the run detaches at its end). */
	if (detach_ours(&ab, ab.keep && !ret))
		ret = 1;
out:
	for (i = 0; i < ab.nreqs; i++)
		free(ab.reqs[i].buf);
	free(ab.reqs);
	free(ab.arms);
	free(ab.scans);
	return ret;
}
