// SPDX-License-Identifier: GPL-2.0
/*
 * ab's output: the text table of the arms' counters, the workload view
 * (each cgroup's memory by folio size), one JSON object, and the
 * Prometheus textfile.  It only reads struct ab.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ab.h"
#include "json_writer.h"

#define LABELW		22
#define CELLMIN		10
#define CELLMAX		36

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
void print_table(FILE *f, const struct ab *ab)
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

static double pct(const struct workload *w, int o)
{
	return w->total ? 100.0 * w->pages[o] / w->total : 0.0;
}

void print_workload(FILE *f, const struct ab *ab)
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

static const struct cgscan *scan_of(const struct ab *ab, __u64 cgid)
{
	int i;

	for (i = 0; i < ab->nscans; i++)
		if (ab->scans[i].cgid == cgid)
			return &ab->scans[i];
	return NULL;
}

void print_json(FILE *f, const struct ab *ab, double secs)
{
	int idx[ab->narms + 1], n = display_order(ab, idx), i, k, o;
	char name[PATH_MAX], label[32];
	struct json_writer w;

	jw_init(&w, f);
	jw_start_object(&w);
	jw_float_field(&w, "duration_s", "%.1f", secs);
	jw_float_field(&w, "interval_s", "%g", ab->interval);
	jw_key(&w, "arms");
	jw_start_array(&w);
	for (i = 0; i < n; i++) {
		const struct arm *a = &ab->arms[idx[i]];
		const struct cgscan *c = a->cgid ? scan_of(ab, a->cgid) : NULL;
		long long pages = sum_orders(ab, a, "collapsed_order", true, false);
		long long none = av(ab, a, "collapsed_none");

		jw_start_object(&w);
		jw_string_field(&w, "name", a->name);
		jw_string_field(&w, "mode", a->mode);
		jw_string_field(&w, "cgroup", cgroup_name(a->cgid, name, sizeof(name)));
		jw_uint_field(&w, "cgroup_id", a->cgid);
		jw_bool_field(&w, "detached", a->gone);
		jw_bool_field(&w, "attached_by_ab", a->req >= 0);
		jw_key(&w, "counters");
		jw_start_object(&w);
		for (k = 0; k < ab->cs.n; k++) {
			long long v = av(ab, a, ab->cs.name[k]);

			if (v >= 0)
				jw_int_field(&w, ab->cs.name[k], v);
		}
		jw_end_object(&w);
		jw_int_field(&w, "pages_collapsed", pages < 0 ? 0 : pages);
		jw_float_field(&w, "bloat_pct", "%.2f",
			       pages > 0 && none >= 0 ? 100.0 * none / pages : NAN);
		jw_key(&w, "workload");
		if (!c || c->err) {
			jw_null(&w);
		} else {
			jw_start_object(&w);
			for (o = 0; o < WL_ORDERS; o++) {
				if (!wl_shown(ab, o))
					continue;
				wl_label(o, label, sizeof(label));
				jw_float_field(&w, label, "%.2f", pct(&c->w, o));
			}
			jw_uint_field(&w, "total_kib",
				      c->w.total * (unsigned long long)(sysconf(_SC_PAGESIZE) / 1024));
			jw_uint_field(&w, "processes", c->w.procs);
			if (c->w.interrupted)
				jw_bool_field(&w, "interrupted", true);
			jw_end_object(&w);
		}
		jw_end_object(&w);
	}
	jw_end_array(&w);
	jw_end_object(&w);
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

int prom_write(const struct ab *ab)
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

