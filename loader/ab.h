/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ab's state, shared by its run loop (ab.c), the arms' sampling (arms.c)
 * and its output (report.c): the arms, their counters, the cgroups' folio
 * sizes.
 */
#ifndef MTHP_POLICY_AB_H
#define MTHP_POLICY_AB_H

#include "mthp-policy.h"

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

/* arms.c: the arms sampled from the policies table, their counters */
int cs_find(const struct colset *cs, const char *name);
long long av(const struct ab *ab, const struct arm *a, const char *col);
long long av_raw(const struct ab *ab, const struct arm *a, const char *col);
int col_order(const char *col, const char *prefix);
long long add_sat(long long a, long long b);
long long sum_orders(const struct ab *ab, const struct arm *a, const char *prefix,
		     bool pages, bool raw);
int sample(struct ab *ab, bool baseline);

/* report.c */
void print_table(FILE *f, const struct ab *ab);
void print_workload(FILE *f, const struct ab *ab);
void print_json(FILE *f, const struct ab *ab, double secs);
int prom_write(const struct ab *ab);

#endif
