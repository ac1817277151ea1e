// SPDX-License-Identifier: GPL-2.0
/*
 * mthp-policy: attach, replace, tune and watch khugepaged collapse
 * policies (struct_ops mthp_collapse_ops).
 *
 * The shipped policies are built in (libbpf skeletons); a path to a
 * .bpf.o file works too.  An attached policy stays attached after this
 * program exits: its link, and its parameter maps, are pinned under
 * /sys/fs/bpf/mthp-policy/.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/mthp_policy.h>

#include "default.skel.h"
#include "conservative.skel.h"
#include "aggressive.skel.h"
#include "threshold.skel.h"
#include "hot.skel.h"
#include "pmd-only.skel.h"

#define PIN_DIR		"/sys/fs/bpf/mthp-policy"
#define PIN_LINK	PIN_DIR "/link"
#define KHUGEPAGED	"/sys/kernel/mm/transparent_hugepage/khugepaged/"

struct shipped {
	const char *name;
	const void *(*elf_bytes)(size_t *sz);
	const char *what;
	const char *params;
};

static const struct shipped shipped[] = {
	{ "default", policy_default__elf_bytes,
	  "the kernel's own order selection, in BPF", "" },
	{ "conservative", policy_conservative__elf_bytes,
	  "fully occupied chunks only: never adds memory", "" },
	{ "aggressive", policy_aggressive__elf_bytes,
	  "any occupied chunk, to the largest enabled size", "" },
	{ "threshold", policy_threshold__elf_bytes,
	  "a chunk collapses at pct<order> percent occupancy", "pct2..pct9=0-100" },
	{ "hot", policy_hot__elf_bytes,
	  "the default plan, for ranges with young pages", "min_young=0-100" },
	{ "pmd-only", policy_pmd_only__elf_bytes,
	  "PMD-sized collapse only, as before mTHP collapse", "" },
};
#define NSHIPPED (sizeof(shipped) / sizeof(shipped[0]))

static char verifier_log[1 << 16];
static size_t log_len;

static int collect_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	if (log_len < sizeof(verifier_log))
		log_len += vsnprintf(verifier_log + log_len, sizeof(verifier_log) - log_len,
				     fmt, ap);
	return 0;
}

static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("mthp-policy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* The name of the attached policy ("none": the kernel default is in charge). */
static int current_policy(char *name, size_t len)
{
	int err = read_file(KHUGEPAGED "policy", name, len);

	if (!err)
		name[strcspn(name, "\n")] = '\0';
	return err;
}

static int check_kernel(void)
{
	struct btf *btf;
	char name[64];
	int found;

	if (current_policy(name, sizeof(name)))
		return fail("this kernel has no khugepaged BPF hook (%s is missing: CONFIG_KHUGEPAGED_BPF)",
			    KHUGEPAGED "policy");
	btf = btf__load_vmlinux_btf();
	if (!btf)
		return fail("cannot read the kernel's BTF: %s", strerror(errno));
	found = btf__find_by_name_kind(btf, "mthp_collapse_ops", BTF_KIND_STRUCT) >= 0;
	btf__free(btf);
	if (!found)
		return fail("this kernel's BTF has no struct mthp_collapse_ops");
	return 0;
}

static int check_root(const char *what)
{
	if (geteuid() != 0)
		return fail("%s needs root (CAP_BPF and CAP_SYS_ADMIN)", what);
	return 0;
}

static const struct shipped *find_shipped(const char *name)
{
	size_t i;

	for (i = 0; i < NSHIPPED; i++)
		if (!strcmp(shipped[i].name, name))
			return &shipped[i];
	return NULL;
}

/* Open a shipped policy by name, or a .bpf.o file by path. */
static struct bpf_object *open_policy(const char *name)
{
	const struct shipped *s = find_shipped(name);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
	struct bpf_object *obj;

	if (s) {
		size_t sz;
		const void *bytes = s->elf_bytes(&sz);

		obj = bpf_object__open_mem(bytes, sz, &opts);
	} else if (strchr(name, '/') || strstr(name, ".bpf.o")) {
		obj = bpf_object__open_file(name, NULL);
	} else {
		fail("no such policy '%s' (`mthp-policy list` shows them)", name);
		return NULL;
	}
	if (!obj) {
		fail("cannot open policy '%s': %s", name, strerror(errno));
		return NULL;
	}
	return obj;
}

/* The struct_ops map of a policy object: the only one it may have. */
static struct bpf_map *ops_map(struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj)
		if (bpf_map__type(map) == BPF_MAP_TYPE_STRUCT_OPS)
			return map;
	return NULL;
}

/*
 * "key=value": key is a map of the policy, optionally followed by an
 * index (pct4=50 is index 4 of map pct); value a decimal u32.
 */
static int parse_param(const char *arg, char *map, size_t len, __u32 *idx, __u32 *val)
{
	const char *eq = strchr(arg, '=');
	size_t n, d;
	char *end;

	if (!eq || eq == arg || eq[1] == '\0')
		return fail("bad parameter '%s': expected key=value", arg);
	n = eq - arg;
	for (d = n; d > 0 && arg[d - 1] >= '0' && arg[d - 1] <= '9'; d--)
		;
	if (d == 0 || d >= len)
		return fail("bad parameter name in '%s'", arg);
	memcpy(map, arg, d);
	map[d] = '\0';
	*idx = d < n ? strtoul(arg + d, NULL, 10) : 0;
	errno = 0;
	*val = strtoul(eq + 1, &end, 10);
	if (errno || *end)
		return fail("bad value in '%s': expected a number", arg);
	return 0;
}

static int set_params_obj(struct bpf_object *obj, int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++) {
		char name[64];
		struct bpf_map *map;
		__u32 idx, val;

		if (parse_param(argv[i], name, sizeof(name), &idx, &val))
			return 1;
		map = bpf_object__find_map_by_name(obj, name);
		if (!map || bpf_map__type(map) != BPF_MAP_TYPE_ARRAY)
			return fail("policy has no parameter '%s'", name);
		if (idx >= bpf_map__max_entries(map))
			return fail("parameter %s: index %u out of range (0..%u)", name, idx,
				    bpf_map__max_entries(map) - 1);
		if (bpf_map__update_elem(map, &idx, sizeof(idx), &val, sizeof(val), 0))
			return fail("cannot set %s: %s", argv[i], strerror(errno));
	}
	return 0;
}

static int pin_params(struct bpf_object *obj)
{
	struct bpf_map *map;
	char path[256];

	bpf_object__for_each_map(map, obj) {
		if (bpf_map__type(map) != BPF_MAP_TYPE_ARRAY || bpf_map__is_internal(map))
			continue;
		snprintf(path, sizeof(path), PIN_DIR "/%s", bpf_map__name(map));
		unlink(path);
		if (bpf_map__pin(map, path))
			return fail("cannot pin %s: %s", path, strerror(errno));
	}
	return 0;
}

/* Unpin every parameter map pinned with the policy (all but the link). */
static void unpin_params(void)
{
	DIR *dir = opendir(PIN_DIR);
	struct dirent *d;
	char path[512];

	while (dir && (d = readdir(dir))) {
		if (d->d_name[0] == '.' || !strcmp(d->d_name, "link"))
			continue;
		snprintf(path, sizeof(path), PIN_DIR "/%s", d->d_name);
		unlink(path);
	}
	if (dir)
		closedir(dir);
}

/* Open, parametrise and load a policy; on failure print the verifier log. */
static struct bpf_object *load_policy(const char *name, int argc, char **argv)
{
	struct bpf_object *obj;
	char key[64];
	__u32 idx, val;
	int i;

	/* Refuse bad syntax before loading anything. */
	for (i = 0; i < argc; i++)
		if (parse_param(argv[i], key, sizeof(key), &idx, &val))
			return NULL;
	obj = open_policy(name);
	if (!obj)
		return NULL;
	if (!ops_map(obj)) {
		fail("'%s' has no struct_ops map: not a collapse policy", name);
		goto err;
	}
	log_len = 0;
	if (bpf_object__load(obj)) {
		int err = errno;

		fail("the kernel refused policy '%s': %s", name, strerror(err));
		if (log_len)
			fprintf(stderr, "--- verifier and libbpf log ---\n%s", verifier_log);
		goto err;
	}
	/* Parameters go into the loaded maps (arrays start zeroed). */
	if (set_params_obj(obj, argc, argv))
		goto err;
	return obj;
err:
	bpf_object__close(obj);
	return NULL;
}

static int cmd_list(void)
{
	char cur[64] = "", *d;
	size_t i;

	current_policy(cur, sizeof(cur));
	/* BPF object names allow no '-': pmd-only runs as pmd_only. */
	for (d = cur; *d; d++)
		if (*d == '_')
			*d = '-';
	printf("%-14s %-52s %s\n", "policy", "what it does", "parameters");
	for (i = 0; i < NSHIPPED; i++)
		printf("%-14s %-52s %s%s\n", shipped[i].name, shipped[i].what,
		       shipped[i].params, strcmp(cur, shipped[i].name) ? "" : "  [attached]");
	printf("attached now: %s\n", cur[0] ? cur : "(no khugepaged BPF hook in this kernel)");
	return 0;
}

static int cmd_attach(const char *name, int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_link *link;
	char cur[64];

	if (check_root("attaching a policy") || check_kernel())
		return 1;
	current_policy(cur, sizeof(cur));
	if (strcmp(cur, "none"))
		return fail("policy '%s' is already attached: `mthp-policy replace %s`, or detach it first",
			    cur, name);
	obj = load_policy(name, argc, argv);
	if (!obj)
		return 1;
	link = bpf_map__attach_struct_ops(ops_map(obj));
	if (!link) {
		int err = errno;

		bpf_object__close(obj);
		if (err == EEXIST)
			return fail("another policy got attached first");
		return fail("cannot attach '%s': %s", name, strerror(err));
	}
	mkdir(PIN_DIR, 0700);
	if (bpf_link__pin(link, PIN_LINK) || pin_params(obj)) {
		int err = errno;

		bpf_link__destroy(link);
		bpf_object__close(obj);
		return fail("cannot pin the policy under %s: %s (is bpffs mounted?)", PIN_DIR,
			    strerror(err));
	}
	current_policy(cur, sizeof(cur));
	printf("attached %s (sysfs policy: %s)\n", name, cur);
	bpf_link__disconnect(link);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}

static int cmd_detach(void)
{
	char cur[64];

	if (check_root("detaching a policy") || check_kernel())
		return 1;
	current_policy(cur, sizeof(cur));
	if (access(PIN_LINK, F_OK)) {
		if (strcmp(cur, "none"))
			return fail("policy '%s' was not attached by mthp-policy; detach it with the tool that attached it (bpftool struct_ops unregister)",
				    cur);
		return fail("no policy is attached");
	}
	/* The pinned link holds the only reference: unpinning detaches. */
	if (unlink(PIN_LINK))
		return fail("cannot unpin %s: %s", PIN_LINK, strerror(errno));
	unpin_params();
	rmdir(PIN_DIR);
	current_policy(cur, sizeof(cur));
	printf("detached (sysfs policy: %s)\n", cur);
	return 0;
}

static int cmd_replace(const char *name, int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_link *link;
	char old[64], cur[64];
	int err;

	if (check_root("replacing a policy") || check_kernel())
		return 1;
	current_policy(old, sizeof(old));
	link = bpf_link__open(PIN_LINK);
	if (!link)
		return fail("no policy attached by mthp-policy to replace (use attach)");
	obj = load_policy(name, argc, argv);
	if (!obj) {
		bpf_link__destroy(link);
		return 1;
	}
	/* One link update: khugepaged sees the old policy or the new one. */
	err = bpf_link__update_map(link, ops_map(obj)) ? errno : 0;
	if (!err) {
		unpin_params();
		err = pin_params(obj) ? errno : 0;
	}
	bpf_link__disconnect(link);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	if (err)
		return fail("cannot replace '%s' with '%s': %s", old, name, strerror(err));
	current_policy(cur, sizeof(cur));
	printf("replaced %s with %s (sysfs policy: %s)\n", old, name, cur);
	return 0;
}

static int cmd_set(int argc, char **argv)
{
	int i;

	if (check_root("setting parameters") || check_kernel())
		return 1;
	if (!argc)
		return fail("set: expected key=value");
	if (access(PIN_LINK, F_OK))
		return fail("no policy attached by mthp-policy");
	for (i = 0; i < argc; i++) {
		char name[64], path[256];
		__u32 idx, val;
		int fd;

		if (parse_param(argv[i], name, sizeof(name), &idx, &val))
			return 1;
		snprintf(path, sizeof(path), PIN_DIR "/%s", name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			return fail("the attached policy has no parameter '%s'", name);
		if (bpf_map_update_elem(fd, &idx, &val, 0)) {
			int err = errno;

			close(fd);
			return fail("cannot set %s: %s", argv[i], strerror(err));
		}
		close(fd);
		printf("set %s\n", argv[i]);
	}
	return 0;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long stat_value(const char *text, const char *key)
{
	size_t n = strlen(key);
	const char *p = text;

	while ((p = strstr(p, key))) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtol(p + n + 1, NULL, 10);
		p += n;
	}
	return -1;
}

static int print_stats(void)
{
	static const char * const reasons[] = {
		"retval", "too_many", "range", "misaligned", "order", "overlap",
		"empty", "swap", "shared", "uffd",
	};
	char text[4096], key[64], name[64];
	size_t i;
	int o;

	if (read_file(KHUGEPAGED "policy_stats", text, sizeof(text)))
		return fail("cannot read %s: %s", KHUGEPAGED "policy_stats", strerror(errno));
	if (sscanf(text, "name %63s", name) != 1)
		return fail("unexpected policy_stats format");
	if (!strcmp(name, "none")) {
		printf("no policy attached: the kernel default is in charge\n");
		return 0;
	}
	printf("policy %s: calls %ld, plans used %ld, default asked %ld, rejected %ld\n", name,
	       stat_value(text, "calls"), stat_value(text, "plans_custom"),
	       stat_value(text, "plans_default"), stat_value(text, "plans_rejected"));
	printf("rejected chunks:");
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		snprintf(key, sizeof(key), "rejected_%s", reasons[i]);
		printf(" %s %ld", reasons[i], stat_value(text, key));
	}
	printf("\n%-6s %-8s %10s %10s\n", "order", "size", "collapsed", "failed");
	for (o = 2; o <= 9; o++) {
		long c, f;

		snprintf(key, sizeof(key), "collapsed_order%d", o);
		c = stat_value(text, key);
		snprintf(key, sizeof(key), "failed_order%d", o);
		f = stat_value(text, key);
		printf("%-6d %5lukB %10ld %10ld\n", o, 4UL << o, c, f);
	}
	return 0;
}

static int cmd_stats(int argc, char **argv)
{
	int opt, every = 0;

	optind = 1;
	while ((opt = getopt(argc, argv, "w:")) != -1) {
		if (opt != 'w')
			return fail("usage: mthp-policy stats [-w SECONDS]");
		every = atoi(optarg);
		if (every <= 0)
			return fail("-w needs a positive number of seconds");
	}
	if (check_kernel())
		return 1;
	if (!every)
		return print_stats();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop) {
		time_t now = time(NULL);

		printf("--- %s", ctime(&now));
		if (print_stats())
			return 1;
		fflush(stdout);
		sleep(every);
	}
	return 0;
}

/* Random occupancy at a few densities, as a scan would record it. */
static void random_range(struct mthp_policy_test *t, unsigned int seed)
{
	static const int density[] = { 2, 25, 50, 75, 98 };
	int d = density[seed % 5], i;

	memset(t, 0, sizeof(*t));
	srand(seed);
	for (i = 0; i < MTHP_POLICY_NR_PTES; i++) {
		if (rand() % 100 < d)
			t->present[i / 64] |= 1ULL << (i % 64);
		if (rand() % 100 < 50)
			t->young[i / 64] |= 1ULL << (i % 64);
	}
	t->orders = 0x3fc;
	t->max_ptes_none = seed % 2 ? 511 : 0;
	t->max_ptes_swap = 64;
	t->max_ptes_shared = 256;
}

static int cmd_bench(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct mthp_policy_test t;
	double bpf_ns = 0, native_ns = 0;
	int opt, ranges = 200, repeat = 2000, i, fd;

	optind = 1;
	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		if (opt == 'n')
			ranges = atoi(optarg);
		else if (opt == 'r')
			repeat = atoi(optarg);
		else
			return fail("usage: mthp-policy bench [-n RANGES] [-r REPEAT]");
	}
	if (ranges <= 0 || repeat <= 0)
		return fail("bench: -n and -r need positive numbers");
	if (check_root("bench") || check_kernel())
		return 1;
	obj = load_policy("default", 0, NULL);
	if (!obj)
		return 1;
	prog = bpf_object__find_program_by_name(obj, "default_plan");
	fd = prog ? bpf_program__fd(prog) : -1;
	for (i = 0; i < ranges && fd >= 0; i++) {
		int pass;

		/* Alternate the order of the two, so drift hits both alike. */
		for (pass = 0; pass < 2; pass++) {
			LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = &t, .ctx_size_in = sizeof(t),
				    .repeat = repeat);
			int native = (pass + i) % 2;

			random_range(&t, i);
			t.flags = native ? MTHP_TEST_NATIVE : 0;
			if (bpf_prog_test_run_opts(fd, &run)) {
				bpf_object__close(obj);
				return fail("BPF_PROG_TEST_RUN: %s", strerror(errno));
			}
			if (native)
				native_ns += run.duration;
			else
				bpf_ns += run.duration;
		}
	}
	bpf_object__close(obj);
	if (fd < 0)
		return fail("default policy has no program default_plan");
	printf("per-call cost over %d ranges x %d calls each (one run, interleaved):\n",
	       ranges, repeat);
	printf("  BPF default    %8.1f ns\n  kernel default %8.1f ns\n  ratio          %8.2fx (target <= 1.25x)\n",
	       bpf_ns / ranges, native_ns / ranges, native_ns > 0 ? bpf_ns / native_ns : 0.0);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mthp-policy <command> [arguments]\n"
		"  list                         the shipped policies, and the one in charge\n"
		"  attach <policy> [key=value]  attach a policy system-wide (it stays after exit)\n"
		"  detach                       detach the policy attached with mthp-policy\n"
		"  replace <policy> [key=value] swap the attached policy for another, atomically\n"
		"  set key=value...             change a parameter of the attached policy\n"
		"  stats [-w SECONDS]           the attached policy's counters, per order\n"
		"  bench [-n RANGES] [-r REPEAT] per-call cost: BPF default vs kernel default\n"
		"<policy> is a shipped name or a path to a .bpf.o file.\n");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	libbpf_set_print(collect_log);
	if (!strcmp(cmd, "list"))
		return cmd_list();
	if (!strcmp(cmd, "attach") && argc >= 3)
		return cmd_attach(argv[2], argc - 3, argv + 3);
	if (!strcmp(cmd, "detach") && argc == 2)
		return cmd_detach();
	if (!strcmp(cmd, "replace") && argc >= 3)
		return cmd_replace(argv[2], argc - 3, argv + 3);
	if (!strcmp(cmd, "set"))
		return cmd_set(argc - 2, argv + 2);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc - 1, argv + 1);
	if (!strcmp(cmd, "bench"))
		return cmd_bench(argc - 1, argv + 1);
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
