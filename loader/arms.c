// SPDX-License-Identifier: GPL-2.0
/*
 * The arms of ab and of stats: the rows of the khugepaged policies table,
 * sampled and followed, and their counters by column name.  ab's run loop
 * (ab.c) samples; its output (report.c) and stats read.
 *
 * Counters are followed across samples, so an arm that goes away keeps
 * what it counted, and one that comes back (or restarts its counters)
 * adds to it: never a negative delta.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ab.h"

int cs_find(const struct colset *cs, const char *name)
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
long long av(const struct ab *ab, const struct arm *a, const char *col)
{
	int k = cs_find(&ab->cs, col);

	if (k < 0 || !a->has[k])
		return -1;
	return ab->absolute || !strcmp(col, "disabled") ? a->raw[k] : a->acc[k];
}

long long av_raw(const struct ab *ab, const struct arm *a, const char *col)
{
	int k = cs_find(&ab->cs, col);

	return k < 0 || !a->has[k] ? -1 : a->raw[k];
}

/* The order N of a column "<prefix>N", or -1. */
int col_order(const char *col, const char *prefix)
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
long long add_sat(long long a, long long b)
{
	long long r;

	return __builtin_add_overflow(a, b, &r) ? LLONG_MAX : r;
}

/* Sum of the columns <prefix>N over N, in chunks or in pages (<< N); -1: none. */
long long sum_orders(const struct ab *ab, const struct arm *a, const char *prefix,
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
int sample(struct ab *ab, bool baseline)
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
