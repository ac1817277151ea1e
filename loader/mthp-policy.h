/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mthp-policy: what the loader's files share.
 *
 * util.c         messages, small files, stop signals, the PMD order
 *                (calls nothing else)
 * mthp-policy.c  the commands but ab, usage, main and the exit code
 * policy.c       policy objects: open, scope, load, attach, pins, detach
 * sysfs.c        the khugepaged "policies" table, cgroup paths and ids
 * arms.c         the arms of ab and stats: the policies table sampled and
 *                followed, counters by column name
 * ab.c           ab (side by side comparison): its arguments and run loop
 * report.c       ab's output: text table, workload view, JSON, Prometheus
 * json_writer.c  the JSON writer report.c writes through
 * workload.c     a cgroup's anonymous memory by folio size: the pagemap and
 *                kpageflags walk that ab and layout share
 * layout.c       layout: a process's or cgroup's folio sizes, per mapping
 *                and per PMD range
 * record.c       record (the ranges khugepaged plans, into a file) and
 *                replay (policies on a recording, with BPF_PROG_TEST_RUN)
 */
#ifndef MTHP_POLICY_LOADER_H
#define MTHP_POLICY_LOADER_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

struct bpf_object;
struct bpf_map;
struct bpf_link;

#define PIN_DIR		"/sys/fs/bpf/mthp-policy"
#define THP_DIR		"/sys/kernel/mm/transparent_hugepage/"
#ifndef KHUGEPAGED
#define KHUGEPAGED	THP_DIR "khugepaged/"
#endif
#define POLICIES	KHUGEPAGED "policies"
#define CGROUP_DEFAULT	"/sys/fs/cgroup"

/*
 * Errors: a function that can fail returns 0 (or data >= 0, a count, an
 * index) or a negative errno, and load_policy() NULL with errno set, as
 * libbpf does.  Whoever knows what failed says so, once, with fail().
 * Only main() turns an error into an exit code: 1, or 2 after a usage
 * error (usage_error).
 */

/* util.c */
int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool usage_error;	/* the usage went to stderr: main() exits 2, not 1 */
int read_file(const char *path, char *buf, size_t len);
extern volatile sig_atomic_t stop;	/* SIGINT, SIGTERM: how many so far */
void on_signal(int sig);
void block_stop_signals(sigset_t *orig);
void wait_signal(double secs, const sigset_t *orig);
int pmd_order(void);
/* @arg as seconds, > 0 and finite, into *v; else a message for @cmd's @opt. */
int parse_secs(const char *cmd, const char *opt, const char *arg, double *v);
/* The mTHP orders khugepaged collapses into: 2 (16K with 4K pages) .. PMD. */
#define MIN_COLLAPSE_ORDER	2

/*
 * Where a policy is attached: system-wide or one cgroup, active or shadow.
 * Each scope holds one active and one shadow policy at most.
 */
struct scope {
	__u64 cgid;			/* 0: system-wide; else the cgroup's inode */
	bool shadow;
	char path[PATH_MAX];		/* the cgroup's directory; "" system-wide */
	char display[PATH_MAX];		/* "/a/b", "/" for the root; "system-wide" */
};

/* policy.c */
struct shipped {
	const char *name;
	const void *(*elf_bytes)(size_t *sz);
	const char *what;
	const char *params;
};
extern const struct shipped shipped[];
extern const size_t nshipped;
const char *bpf_strerror(int err);

void quiet_libbpf(void);
int check_root(const char *what);
int check_kernel(void);
bool scope_is_default(const struct scope *s);
int policy_name_ok(const char *name);
int parse_param(const char *arg, char *map, size_t len, __u32 *idx, __u32 *val);
struct bpf_object *load_policy(const char *name, int argc, char **argv, const struct scope *s);
int prepare_policy(struct bpf_object *obj, const char *name, const struct scope *s);
int load_prepared(struct bpf_object *obj, const char *name);
int attach_ops(struct bpf_object *obj, const char *name, const struct scope *s,
	       struct bpf_link **link);
struct bpf_map *ops_map(struct bpf_object *obj);
void scope_key(const struct scope *s, char *buf, size_t len);
void scope_dir(const struct scope *s, char *buf, size_t len);
void scope_params(const struct scope *s, char *buf, size_t len);
const char *scope_where(const struct scope *s, char *buf, size_t len);
const char *scope_opts(const struct scope *s, char *buf, size_t len);
int scope_holder(const struct scope *s, char *name, size_t len);
int attach_policy(const char *name, int argc, char **argv, const struct scope *s,
		  __u32 *link_id);
int detach_scope(const struct scope *s);
int detach_all(void);
int detach_owned(const struct scope *s, __u32 link_id);
int replace_policy(const char *name, int argc, char **argv, const struct scope *s);
int set_params(const struct scope *s, int argc, char **argv);

/* sysfs.c: the policies table, columns by their header names */
#define PT_MAXCOLS	192
#define PT_NAMELEN	48

struct prow {
	char name[64];
	char mode[16];			/* active, shadow, kernel */
	__u64 cgid;
	long long v[PT_MAXCOLS];	/* by column of the table; -1: missing */
};

struct ptable {
	int ncols;
	char col[PT_MAXCOLS][PT_NAMELEN];
	int nrows;
	struct prow *rows;
};

int ptable_read(struct ptable *t);
void ptable_free(struct ptable *t);
int ptable_col(const struct ptable *t, const char *name);
const struct prow *ptable_find(const struct ptable *t, const char *mode, __u64 cgid);
bool is_text_col(const char *col);
extern const char * const reject_names[];	/* NULL-terminated */

const char *cgroup2_root(void);
int cgroup_resolve(const char *arg, struct scope *s);
const char *cgroup_name(__u64 id, char *buf, size_t len);
int cgroup_path_of(__u64 id, char *path, size_t len);

/* ab.c, report.c */
int cmd_ab(int argc, char **argv);
int print_policies_table(FILE *f);

/* record.c */
int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);

/* workload.c */
#define WL_ORDERS	20

struct workload {
	unsigned long long pages[WL_ORDERS];	/* by folio order; the last: or larger */
	unsigned long long total;		/* resident anonymous pages */
	unsigned int procs;
	bool no_pfn;				/* pagemap hid the PFNs */
	bool interrupted;
};

int workload_scan(const char *cgpath, struct workload *w, int cancel_at);
const char *size_label(int order, char *buf, size_t len);

/* An anonymous mapping of /proc/PID/maps. */
struct anon_mapping {
	unsigned long long start, end;
	char perms[8];
	const char *name;	/* "" for none; [heap], [stack], [anon:NAME] */
};

/* What scan_process() calls, in address order; vma and vma_end may be NULL. */
struct walk_ops {
	void (*vma)(void *ctx, const struct anon_mapping *v);
	/* A resident anonymous page, of a folio of that order (WL_ORDERS - 1: or larger). */
	void (*page)(void *ctx, unsigned long long va, int order);
	void (*vma_end)(void *ctx, const struct anon_mapping *v);
};

struct scanner;
int scanner_open(struct scanner **sp, bool once, int cancel_at);
void scanner_close(struct scanner *s);
int scan_process(struct scanner *s, int pid, const struct walk_ops *ops, void *ctx,
		 bool *no_pfn);
int cgroup_pids(const char *cgpath, int **pid);

/* layout.c */
int cmd_layout(int argc, char **argv);

#endif
