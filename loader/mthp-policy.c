// SPDX-License-Identifier: GPL-2.0
/*
 * mthp-policy: attach, replace, tune, watch and compare khugepaged collapse
 * policies (struct_ops mthp_collapse_ops).
 *
 * The shipped policies are built in (libbpf skeletons); a path to a
 * .bpf.o file works too.  A policy is attached system-wide or to a cgroup,
 * active or as a shadow (its plans only counted).  An attached policy stays
 * attached after this program exits: its link, and its parameter maps, are
 * pinned under /sys/fs/bpf/mthp-policy/<scope>/.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/mthp_policy.h>

#include "mthp-policy.h"

/*
 * The scope options, anywhere among a command's arguments (argv[0] is the
 * command): --cgroup PATH, --shadow, and for detach --all.  On return
 * *argc and *argv are the other arguments, in order.
 */
static int scope_args(int *argc, char ***argv, struct scope *s, bool *all)
{
	static const struct option opts[] = {
		{ "cgroup", required_argument, NULL, 'c' },
		{ "shadow", no_argument, NULL, 's' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	char **av = *argv, *cg = NULL;
	int opt, n = 0;

	memset(s, 0, sizeof(*s));
	optind = 0;	/* start again */
	opterr = 0;
	/*
	 * "-": the other arguments come back in order as option 1, whatever
	 * POSIXLY_CORRECT says; each goes back into av[1..], which getopt
	 * has read already.
	 */
	while ((opt = getopt_long(*argc, av, "-:", opts, NULL)) != -1) {
		switch (opt) {
		case 1:
			av[++n] = optarg;
			break;
		case 'c':
			cg = optarg;
			break;
		case 's':
			s->shadow = true;
			break;
		case 'a':
			if (all) {
				*all = true;
				break;
			}
			return fail(-EINVAL, "%s: --all is for detach only", av[0]);
		case ':':
			return fail(-EINVAL, "%s: %s needs a value", av[0], av[optind - 1]);
		default:
			if (optopt)
				return fail(-EINVAL, "%s: unknown option -%c", av[0], optopt);
			return fail(-EINVAL, "%s: unknown option %s", av[0], av[optind - 1]);
		}
	}
	/* After "--", getopt returns the rest as they are. */
	while (optind < *argc)
		av[++n] = av[optind++];
	*argc = n;
	*argv = av + 1;
	if (cg)
		return cgroup_resolve(cg, s);
	snprintf(s->display, sizeof(s->display), "system-wide");
	return 0;
}

/* Where the policy of a row is: "system-wide", "/a", "(removed)". */
static const char *row_where(const struct prow *r, char *buf, size_t len)
{
	return cgroup_name(r->cgid, buf, len);
}

static int cmd_list(int argc, char **argv)
{
	char cur[64] = "", buf[PATH_MAX];
	struct ptable t;
	bool table, marked;
	size_t i;
	int k;

	if (argc > 1)
		return fail(-EINVAL, "list: unexpected argument '%s'", argv[1]);
	table = !ptable_read(&t);
	if (read_file(KHUGEPAGED "policy", cur, sizeof(cur)))
		cur[0] = '\0';
	cur[strcspn(cur, "\n")] = '\0';
	printf("%-14s %-52s %s\n", "policy", "what it does", "parameters");
	for (i = 0; i < nshipped; i++) {
		printf("%-14s %-52s %s", shipped[i].name, shipped[i].what, shipped[i].params);
		if (!table) {
			printf("%s\n", strcmp(cur, shipped[i].name) ? "" : "  [attached]");
			continue;
		}
		for (k = 0, marked = false; k < t.nrows; k++) {
			if (!strcmp(t.rows[k].mode, "kernel") || strcmp(t.rows[k].name, shipped[i].name))
				continue;
			printf("%s%s%s", marked ? ", " : "  [attached: ",
			       row_where(&t.rows[k], buf, sizeof(buf)),
			       strcmp(t.rows[k].mode, "shadow") ? "" : " (shadow)");
			marked = true;
		}
		printf("%s\n", marked ? "]" : "");
	}
	if (!table) {
		printf("attached now: %s\n", cur[0] ? cur : "(no khugepaged BPF hook in this kernel)");
		return 0;
	}
	for (k = 0, i = 0; k < t.nrows; k++) {
		struct scope s = { .cgid = t.rows[k].cgid };
		char params[512];

		if (!strcmp(t.rows[k].mode, "kernel"))
			continue;
		/* A user's object too: its parameters are what was pinned with it. */
		s.shadow = !strcmp(t.rows[k].mode, "shadow");
		scope_params(&s, params, sizeof(params));
		if (!i++)
			printf("attached now:\n  %-16s %-8s %-24s %s\n", "name", "mode", "cgroup",
			       "parameters");
		printf("  %-16s %-8s %-24s %s\n", t.rows[k].name, t.rows[k].mode,
		       row_where(&t.rows[k], buf, sizeof(buf)), params);
	}
	if (!i)
		printf("attached now: none (the kernel default is in charge)\n");
	ptable_free(&t);
	return 0;
}

/* Every key=value well formed: checked before anything is loaded or attached. */
static int params_ok(int argc, char **argv)
{
	char key[64];
	__u32 idx, val;
	int i, err;

	for (i = 0; i < argc; i++) {
		err = parse_param(argv[i], key, sizeof(key), &idx, &val);
		if (err)
			return err;
	}
	return 0;
}

/* attach POLICY [--cgroup PATH] [--shadow] [key=value...] */
static int cmd_attach(int argc, char **argv)
{
	char where[PATH_MAX + 64], cur[64];
	struct scope s;
	int err;

	err = scope_args(&argc, &argv, &s, NULL);
	if (err)
		return err;
	if (argc < 1)
		return fail(-EINVAL, "attach: which policy? (`mthp-policy list` shows them)");
	err = params_ok(argc - 1, argv + 1);
	if (!err)
		err = policy_name_ok(argv[0]);
	if (!err)
		err = attach_policy(argv[0], argc - 1, argv + 1, &s, NULL);
	if (err)
		return err;
	if (scope_holder(&s, cur, sizeof(cur)) <= 0)
		snprintf(cur, sizeof(cur), "?");
	if (scope_is_default(&s))
		printf("attached %s (sysfs policy: %s)\n", argv[0], cur);
	else
		printf("attached %s %s (sysfs name: %s)\n", argv[0],
		       scope_where(&s, where, sizeof(where)), cur);
	return 0;
}

/* detach [--cgroup PATH] [--shadow] | detach --all */
static int cmd_detach(int argc, char **argv)
{
	bool all = false;
	struct scope s;
	int err;

	err = scope_args(&argc, &argv, &s, &all);
	if (err)
		return err;
	if (argc)
		return fail(-EINVAL, "detach: unexpected argument '%s'", argv[0]);
	if (all && !scope_is_default(&s))
		return fail(-EINVAL,
			    "detach: --all detaches everything; no --cgroup or --shadow with it");
	return all ? detach_all() : detach_scope(&s);
}

/* replace POLICY [--cgroup PATH] [--shadow] [key=value...] */
static int cmd_replace(int argc, char **argv)
{
	struct scope s;
	int err;

	err = scope_args(&argc, &argv, &s, NULL);
	if (err)
		return err;
	if (argc < 1)
		return fail(-EINVAL, "replace: with which policy? (`mthp-policy list` shows them)");
	err = params_ok(argc - 1, argv + 1);
	if (!err)
		err = policy_name_ok(argv[0]);
	if (err)
		return err;
	return replace_policy(argv[0], argc - 1, argv + 1, &s);
}

/* set [--cgroup PATH] [--shadow] key=value... */
static int cmd_set(int argc, char **argv)
{
	struct scope s;
	int err;

	err = scope_args(&argc, &argv, &s, NULL);
	if (err)
		return err;
	if (!argc)
		return fail(-EINVAL, "set: expected key=value");
	err = params_ok(argc, argv);
	if (err)
		return err;
	return set_params(&s, argc, argv);
}

/* A counter of a row, by column name; -1 when the kernel has no such file. */
static long long row_value(const struct ptable *t, const struct prow *r, const char *col)
{
	int i = ptable_col(t, col);

	return i < 0 ? -1 : r->v[i];
}

/* The system-wide active policy's counters, from policies/global/. */
static int print_stats(const struct ptable *t, bool scoped)
{
	const struct prow *r = ptable_find(t, "active", 0);
	int o, pmd = pmd_order();
	char key[64];
	size_t i;

	if (pmd < 0)
		return pmd;
	if (!r) {
		printf("no %spolicy attached: the kernel default is in charge%s\n",
		       scoped ? "system-wide " : "", scoped ? " system-wide" : "");
		return 0;
	}
	printf("policy %s: calls %lld, plans used %lld, default asked %lld, rejected %lld\n",
	       r->name, row_value(t, r, "calls"), row_value(t, r, "plans_custom"),
	       row_value(t, r, "plans_default"), row_value(t, r, "plans_rejected"));
	printf("rejected chunks:");
	for (i = 0; reject_names[i]; i++) {
		snprintf(key, sizeof(key), "rejected_%s", reject_names[i]);
		printf(" %s %lld", reject_names[i], row_value(t, r, key));
	}
	printf("\n%-6s %-8s %10s %10s\n", "order", "size", "collapsed", "failed");
	for (o = MIN_COLLAPSE_ORDER; o <= pmd; o++) {
		long long c, f;

		snprintf(key, sizeof(key), "collapsed_order%d", o);
		c = row_value(t, r, key);
		snprintf(key, sizeof(key), "failed_order%d", o);
		f = row_value(t, r, key);
		printf("%-6d %5llukB %10lld %10lld\n", o,
		       (unsigned long long)sysconf(_SC_PAGESIZE) / 1024 << o, c, f);
	}
	return 0;
}

/* The system-wide policy as before; then every attached policy, if the kernel tells. */
static int show_stats(void)
{
	bool scoped = false, rows;
	struct ptable t;
	int k, err;

	err = ptable_read(&t);
	if (err)
		return fail(err, "cannot read %s: %s", POLICIES, strerror(-err));
	for (k = 0; k < t.nrows; k++)
		scoped |= strcmp(t.rows[k].mode, "kernel") &&
			  (t.rows[k].cgid || strcmp(t.rows[k].mode, "active"));
	err = print_stats(&t, scoped);
	rows = t.nrows > 0;
	ptable_free(&t);
	if (err)
		return err;
	if (rows) {
		printf("\nattached policies (%s):\n", POLICIES);
		print_policies_table(stdout);
	}
	return 0;
}

static int cmd_stats(int argc, char **argv)
{
	int opt, every = 0, err = 0;
	sigset_t orig;

	optind = 1;
	while ((opt = getopt(argc, argv, "w:")) != -1) {
		if (opt != 'w')
			return fail(-EINVAL, "usage: mthp-policy stats [-w SECONDS]");
		every = atoi(optarg);
		if (every <= 0)
			return fail(-EINVAL, "-w needs a positive number of seconds");
	}
	if (optind < argc)
		return fail(-EINVAL, "stats: unexpected argument '%s'", argv[optind]);
	if (!every)
		return show_stats();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	block_stop_signals(&orig);
	while (!stop) {
		time_t now = time(NULL);

		printf("--- %s", ctime(&now));
		err = show_stats();
		if (err)
			break;
		fflush(stdout);
		wait_signal(every, &orig);
	}
	sigprocmask(SIG_SETMASK, &orig, NULL);
	return err;
}

/*
 * One range for BPF_PROG_TEST_RUN in this machine's geometry: the scalars,
 * and data_in as <linux/mthp_policy.h> lays it out, four bitmaps of @words
 * u64 each (present, swap, shared, young), then a folio order byte per PTE.
 */
struct bench_range {
	struct mthp_policy_test t;
	unsigned int nr, order, words;	/* PTEs per PMD, the PMD order, words per bitmap */
	__u64 *present, *young;		/* swap and shared stay empty */
	void *data;
	size_t size;
};

/* For hpage_pmd_size over the page size; pmd_order() was checked by bench. */
static int bench_range_alloc(struct bench_range *r)
{
	memset(r, 0, sizeof(*r));
	r->order = pmd_order();
	r->nr = 1U << r->order;
	r->words = (r->nr + 63) / 64;
	r->size = 4 * r->words * sizeof(__u64) + r->nr;
	r->data = calloc(1, r->size);
	if (!r->data)
		return fail(-ENOMEM, "out of memory for a range of %u PTEs", r->nr);
	r->present = r->data;
	r->young = r->present + 3 * r->words;
	return 0;
}

/* An empty range: no PTE set, every scalar 0 but nr_ptes. */
static void bench_range_clear(struct bench_range *r)
{
	memset(&r->t, 0, sizeof(r->t));
	memset(r->data, 0, r->size);
	r->t.nr_ptes = r->nr;
}

/* Orders MIN_COLLAPSE_ORDER to @top, as a mask of struct mthp_policy_test.orders. */
static __u32 orders_upto(unsigned int top)
{
	return ((2U << top) - 1) & ~((1U << MIN_COLLAPSE_ORDER) - 1);
}

static void set_pte(__u64 *map, unsigned int i)
{
	map[i / 64] |= 1ULL << (i % 64);
}

/* Random occupancy at a few densities, as a scan would record it. */
static void random_range(struct bench_range *r, unsigned int seed)
{
	static const int density[] = { 2, 25, 50, 75, 98 };
	int d = density[seed % 5];
	unsigned int i;

	bench_range_clear(r);
	srand(seed);
	for (i = 0; i < r->nr; i++) {
		if (rand() % 100 >= d)
			continue;
		set_pte(r->present, i);
		/* Young only where a page is: the kernel refuses anything else. */
		if (rand() % 100 < 50)
			set_pte(r->young, i);
	}
	/* Every size khugepaged collapses into. */
	r->t.orders = orders_upto(r->order);
	r->t.max_ptes_none = seed % 2 ? r->nr - 1 : 0;
	r->t.max_ptes_swap = 64;
	r->t.max_ptes_shared = 256;
}

/* The range of make bench's scan-heavy workload: every other page. */
static void sparse_range(struct bench_range *r, unsigned int seed)
{
	unsigned int i;

	(void)seed;
	bench_range_clear(r);
	for (i = 0; i < r->nr; i += 2)
		set_pte(r->present, i);
	/* Every mTHP size but the PMD's: nothing to collapse. */
	r->t.orders = orders_upto(r->order - 1);
	r->t.max_ptes_swap = 64;
	r->t.max_ptes_shared = 256;
}

/*
 * Time the BPF default and the kernel's planner on @ranges ranges made by
 * @make, @repeat calls each, taking turns in alternating order so that
 * drift hits both alike.  0 and the mean ns per call of each, or a
 * negative errno.
 */
static int bench_ranges(int fd, void (*make)(struct bench_range *, unsigned int),
			int ranges, int repeat, double *bpf_ns, double *native_ns)
{
	struct bench_range r;
	int i, pass, err;

	err = bench_range_alloc(&r);
	if (err)
		return err;
	*bpf_ns = *native_ns = 0;
	for (i = 0; i < ranges && !err; i++) {
		for (pass = 0; pass < 2; pass++) {
			LIBBPF_OPTS(bpf_test_run_opts, run,
				    .ctx_in = &r.t, .ctx_size_in = sizeof(r.t),
				    .data_in = r.data, .data_size_in = r.size, .repeat = repeat);
			int native = (pass + i) % 2;

			make(&r, i);
			r.t.flags = native ? MTHP_TEST_NATIVE : 0;
			err = bpf_prog_test_run_opts(fd, &run);
			if (err) {
				fail(err, "BPF_PROG_TEST_RUN: %s", bpf_strerror(-err));
				break;
			}
			*(native ? native_ns : bpf_ns) += run.duration;
		}
	}
	free(r.data);
	if (err)
		return err;
	*bpf_ns /= ranges;
	*native_ns /= ranges;
	return 0;
}

static void bench_print(const char *what, double bpf_ns, double native_ns, const char *target)
{
	printf("%s\n  BPF default    %8.1f ns\n  kernel default %8.1f ns\n  ratio          %8.2fx%s\n",
	       what, bpf_ns, native_ns, native_ns > 0 ? bpf_ns / native_ns : 0.0, target);
}

static int cmd_bench(int argc, char **argv)
{
	static const struct scope system_wide;
	double bpf_ns, native_ns, sparse_bpf_ns, sparse_native_ns;
	int opt, ranges = 200, repeat = 2000, fd, err;
	struct bpf_program *prog;
	struct bpf_object *obj;
	char what[128];

	optind = 1;
	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		if (opt == 'n')
			ranges = atoi(optarg);
		else if (opt == 'r')
			repeat = atoi(optarg);
		else
			return fail(-EINVAL, "usage: mthp-policy bench [-n RANGES] [-r REPEAT]");
	}
	if (ranges <= 0 || repeat <= 0)
		return fail(-EINVAL, "bench: -n and -r need positive numbers");
	if (optind < argc)
		return fail(-EINVAL, "bench: unexpected argument '%s'", argv[optind]);
	err = pmd_order();
	if (err < 0)
		return err;
	obj = load_policy("default", 0, NULL, &system_wide);
	if (!obj)
		return -errno;
	prog = bpf_object__find_program_by_name(obj, "default_plan");
	fd = prog ? bpf_program__fd(prog) : -1;
	if (fd < 0)
		err = fail(-ENOENT, "default policy has no program default_plan");
	else
		err = bench_ranges(fd, random_range, ranges, repeat, &bpf_ns, &native_ns);
	if (!err)
		err = bench_ranges(fd, sparse_range, ranges, repeat, &sparse_bpf_ns,
				   &sparse_native_ns);
	bpf_object__close(obj);
	if (err)
		return err;
	snprintf(what, sizeof(what),
		 "per-call cost over %d ranges x %d calls each (one run, interleaved):",
		 ranges, repeat);
	bench_print(what, bpf_ns, native_ns, " (target <= 1.25x)");
	bench_print("the scan-heavy workload's range (every other page, nothing to collapse):",
		    sparse_bpf_ns, sparse_native_ns, "");
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mthp-policy <command> [arguments]\n"
		"  list                         the shipped policies, and what is attached where\n"
		"  attach <policy> [SCOPE] [key=value...]\n"
		"                               attach a policy (it stays after exit)\n"
		"  detach [SCOPE] | detach --all\n"
		"                               detach a policy attached with mthp-policy\n"
		"  replace <policy> [SCOPE] [key=value...]\n"
		"                               swap the policy attached at SCOPE for another, atomically\n"
		"  set [SCOPE] key=value...     change a parameter of the policy attached at SCOPE\n"
		"  stats [-w SECONDS]           the system-wide policy's counters, per order,\n"
		"                               and the counters of every attached policy\n"
		"  ab [--interval SEC] [--duration SEC] [--json] [--prom FILE] [--keep] [ARM...]\n"
		"                               compare policies side by side on this machine\n"
		"                               (`mthp-policy ab --help`)\n"
		"  bench [-n RANGES] [-r REPEAT] per-call cost: BPF default vs kernel default\n"
		"  record [--duration S] [--cgroup PATH] [--force] FILE\n"
		"                               record the ranges khugepaged plans, with the kernel's\n"
		"                               default plan, until S seconds pass or Ctrl-C\n"
		"                               (--force: even where an active policy plans them)\n"
		"  replay FILE POLICY...        run policies on a recording, side by side with what\n"
		"                               was recorded; POLICY `kernel` is the kernel's planner\n"
		"  layout [--ranges] [--json] PID... | --cgroup PATH\n"
		"                               the folio sizes of processes' anonymous memory, per\n"
		"                               mapping and PMD range (`mthp-policy layout --help`)\n"
		"<policy> is a shipped name or a path to a .bpf.o file.\n"
		"SCOPE: system-wide active without options; --cgroup PATH: for the memory of\n"
		"  that cgroup and its descendants (PATH absolute, or relative to the cgroup2\n"
		"  mount, /sys/fs/cgroup); --shadow: a shadow policy, whose plans are only\n"
		"  counted, never carried out.  One active and one shadow policy per scope;\n"
		"  a range gets the policy of its nearest cgroup that has one, else the\n"
		"  system-wide one, else the kernel default.\n"
		"ARM: POLICY[,key=value...][@CGROUP][:shadow], e.g. threshold,pct9=50@/sys/fs/cgroup/b\n");
}

#define NEEDS_ROOT	(1U << 0)	/* CAP_BPF and CAP_SYS_ADMIN: be root */
#define NEEDS_HOOK	(1U << 1)	/* a kernel with mthp_collapse_ops */

/* Each command gets its own name as argv[0], and its arguments. */
static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	unsigned int needs;
	const char *what;	/* "<what> needs root" */
} cmds[] = {
	{ "list",	cmd_list,	0,				NULL },
	{ "attach",	cmd_attach,	NEEDS_ROOT | NEEDS_HOOK,	"attaching a policy" },
	{ "detach",	cmd_detach,	NEEDS_ROOT | NEEDS_HOOK,	"detaching a policy" },
	{ "replace",	cmd_replace,	NEEDS_ROOT | NEEDS_HOOK,	"replacing a policy" },
	{ "set",	cmd_set,	NEEDS_ROOT | NEEDS_HOOK,	"setting parameters" },
	{ "stats",	cmd_stats,	NEEDS_HOOK,			NULL },
	{ "ab",		cmd_ab,		NEEDS_ROOT | NEEDS_HOOK,	"ab" },
	{ "bench",	cmd_bench,	NEEDS_ROOT | NEEDS_HOOK,	"bench" },
	{ "record",	cmd_record,	NEEDS_ROOT | NEEDS_HOOK,	"record" },
	{ "replay",	cmd_replay,	NEEDS_ROOT | NEEDS_HOOK,	"replay" },
	/* Any kernel with pagemap and kpageflags: no hook needed. */
	{ "layout",	cmd_layout,	NEEDS_ROOT,			"layout (pagemap's page frames)" },
};

/*
 * The exit code of what a command returned: 0 or a negative errno.  Any
 * error exits 1, whatever its errno, but a usage error, after which the
 * usage went to stderr (an unknown command, ab's unknown option): 2.
 */
static int exit_code(int ret)
{
	if (!ret)
		return 0;
	return usage_error ? 2 : 1;
}

/* "<command> -h" or "<command> --help": the first argument only, not a value. */
static bool wants_help(int argc, char **argv)
{
	return argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "";
	const struct cmd *c = NULL;
	size_t i;
	int err;

	if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(name, cmds[i].name))
			c = &cmds[i];
	if (!c) {
		err = -EINVAL;
		if (name[0])
			fail(err, "unknown command '%s'", name);
		usage(stderr);
		usage_error = true;
		return exit_code(err);
	}
	quiet_libbpf();
	/* Asking for help needs nothing; ab and layout have a page of their own. */
	if (wants_help(argc - 1, argv + 1)) {
		if (c->fn == cmd_ab || c->fn == cmd_layout)
			return exit_code(c->fn(argc - 1, argv + 1));
		usage(stdout);
		return 0;
	}
	err = (c->needs & NEEDS_ROOT) ? check_root(c->what) : 0;
	if (!err && (c->needs & NEEDS_HOOK))
		err = check_kernel();
	if (!err)
		err = c->fn(argc - 1, argv + 1);
	return exit_code(err);
}
