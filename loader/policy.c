// SPDX-License-Identifier: GPL-2.0
/*
 * Policy objects: open a shipped policy or a .bpf.o, set the scope it is
 * for (cgroup_id, flags) in its struct_ops map, load, attach, pin, detach.
 *
 * Pins: one directory per scope and mode under /sys/fs/bpf/mthp-policy/,
 * "global", "global-shadow", "cg<ID>", "cg<ID>-shadow", each with the
 * link ("link") and the parameter maps of the policy attached there.  The
 * pinned link holds the only reference to it: unpinning detaches.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/mthp_policy.h>

#include "mthp-policy.h"

#include "default.skel.h"
#include "conservative.skel.h"
#include "aggressive.skel.h"
#include "threshold.skel.h"
#include "hot.skel.h"
#include "pmd_only.skel.h"

const struct shipped shipped[] = {
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
	{ "pmd_only", policy_pmd_only__elf_bytes,
	  "PMD-sized collapse only, as before mTHP collapse", "" },
};
const size_t nshipped = sizeof(shipped) / sizeof(shipped[0]);

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

/* libbpf's messages go to the log printed when a load fails. */
void quiet_libbpf(void)
{
	libbpf_set_print(collect_log);
}

/* The name of the system-wide policy ("none": the kernel default is in charge). */
static int current_policy(char *name, size_t len)
{
	int err = read_file(KHUGEPAGED "policy", name, len);

	if (!err)
		name[strcspn(name, "\n")] = '\0';
	return err;
}

/* 0, or -EOPNOTSUPP for a kernel without the hook; -errno without its BTF. */
int check_kernel(void)
{
	struct btf *btf;
	char name[64];
	int found, err;

	if (current_policy(name, sizeof(name)))
		return fail(-EOPNOTSUPP, "this kernel has no khugepaged BPF hook (%s is missing: CONFIG_KHUGEPAGED_BPF)",
			    KHUGEPAGED "policy");
	btf = btf__load_vmlinux_btf();
	if (!btf) {
		err = -errno;
		return fail(err, "cannot read the kernel's BTF: %s", bpf_strerror(-err));
	}
	found = btf__find_by_name_kind(btf, "mthp_collapse_ops", BTF_KIND_STRUCT) >= 0;
	btf__free(btf);
	if (!found)
		return fail(-EOPNOTSUPP, "this kernel's BTF has no struct mthp_collapse_ops");
	return 0;
}

int check_root(const char *what)
{
	if (geteuid() != 0)
		return fail(-EPERM, "%s needs root (CAP_BPF and CAP_SYS_ADMIN)", what);
	return 0;
}

bool scope_is_default(const struct scope *s)
{
	return !s->cgid && !s->shadow;
}

static const struct shipped *find_shipped(const char *name)
{
	size_t i;

	for (i = 0; i < nshipped; i++)
		if (!strcmp(shipped[i].name, name))
			return &shipped[i];
	return NULL;
}

static bool is_object_path(const char *name)
{
	return strchr(name, '/') || strstr(name, ".bpf.o");
}

/* A policy's name is a C identifier: say so to whoever types pmd-only.  -ENOENT. */
static int no_such_policy(const char *name)
{
	char alt[64], *p;

	snprintf(alt, sizeof(alt), "%s", name);
	for (p = alt; *p; p++)
		if (*p == '-')
			*p = '_';
	if (strcmp(alt, name) && find_shipped(alt))
		return fail(-ENOENT, "no such policy '%s'; did you mean '%s'?", name, alt);
	return fail(-ENOENT, "no such policy '%s' (`mthp-policy list` shows them)", name);
}

/* A shipped name or a path: checked before anything is loaded. */
int policy_name_ok(const char *name)
{
	if (!name[0] || (!find_shipped(name) && !is_object_path(name)))
		return no_such_policy(name);
	return 0;
}

/*
 * An error's text, libbpf's own codes (LIBBPF_ERRNO__*, 4000 and up) too:
 * strerror() has none for them ("Unknown error 4001").  One buffer: one
 * call per message.
 */
const char *bpf_strerror(int err)
{
	static char buf[128];

	if (libbpf_strerror(err, buf, sizeof(buf)))
		snprintf(buf, sizeof(buf), "error %d", err);
	return buf;
}

/*
 * Open a shipped policy by name, or a .bpf.o file by path.  NULL and errno
 * set, as libbpf does, on failure.
 */
static struct bpf_object *open_policy(const char *name)
{
	const struct shipped *s = find_shipped(name);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
	struct bpf_object *obj;
	int err;

	if (s) {
		size_t sz;
		const void *bytes = s->elf_bytes(&sz);

		obj = bpf_object__open_mem(bytes, sz, &opts);
	} else if (is_object_path(name)) {
		obj = bpf_object__open_file(name, NULL);
	} else {
		errno = -no_such_policy(name);
		return NULL;
	}
	if (!obj) {
		err = -errno;
		fail(err, "cannot open policy '%s': %s", name, bpf_strerror(-err));
		errno = -err;	/* fail() may have changed it */
	}
	return obj;
}

/* The struct_ops map of a policy object: the only one it may have. */
struct bpf_map *ops_map(struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj)
		if (bpf_map__type(map) == BPF_MAP_TYPE_STRUCT_OPS)
			return map;
	return NULL;
}

/*
 * The policy's own type of its struct_ops value: what libbpf recorded for
 * the map, else the struct mthp_collapse_ops of the object's BTF.
 */
static const struct btf_type *ops_type(const struct btf *btf, const struct bpf_map *map)
{
	__u32 id = bpf_map__btf_value_type_id(map);
	const struct btf_type *t = id ? btf__type_by_id(btf, id) : NULL;
	int sid;

	if (t && btf_is_struct(t))
		return t;
	sid = btf__find_by_name_kind(btf, "mthp_collapse_ops", BTF_KIND_STRUCT);
	return sid > 0 ? btf__type_by_id(btf, sid) : NULL;
}

/* Byte offset of a non-bitfield member of the given size; -1 if none. */
static long member_offset(const struct btf *btf, const struct btf_type *t,
			  const char *name, long size)
{
	const struct btf_member *m = btf_members(t);
	__u16 i;

	for (i = 0; i < btf_vlen(t); i++, m++) {
		const char *mname = btf__name_by_offset(btf, m->name_off);

		if (!mname || strcmp(mname, name))
			continue;
		if (btf_member_bitfield_size(t, i) || btf__resolve_size(btf, m->type) != size)
			return -1;
		return btf_member_bit_offset(t, i) / 8;
	}
	return -1;
}

/*
 * Write the scope into the struct_ops map's initial value, before load:
 * cgroup_id, and the shadow bit of flags.  A policy built against a kernel
 * without them can only be attached system-wide and active.
 */
static int set_scope_fields(struct bpf_object *obj, struct bpf_map *map, const char *name,
			    const struct scope *s)
{
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *t = btf ? ops_type(btf, map) : NULL;
	long cg_off = -1, fl_off = -1;
	size_t size = 0;
	char *data;
	__u32 flags;

	if (t) {
		cg_off = member_offset(btf, t, "cgroup_id", sizeof(__u64));
		fl_off = member_offset(btf, t, "flags", sizeof(__u32));
	}
	data = bpf_map__initial_value(map, &size);
	if (cg_off < 0 || fl_off < 0 || !data || (size_t)cg_off + sizeof(__u64) > size ||
	    (size_t)fl_off + sizeof(__u32) > size) {
		if (scope_is_default(s))
			return 0;
		return fail(-EOPNOTSUPP, "policy %s was built without cgroup_id/flags: rebuild it against this kernel's vmlinux.h",
			    name);
	}
	/* Whatever the object says, the scope is the one asked for. */
	memcpy(data + cg_off, &s->cgid, sizeof(__u64));
	memcpy(&flags, data + fl_off, sizeof(flags));
	flags &= ~MTHP_POLICY_SHADOW;
	if (s->shadow)
		flags |= MTHP_POLICY_SHADOW;
	memcpy(data + fl_off, &flags, sizeof(flags));
	return 0;
}

/*
 * A parameter map: an array or a hash from u32 to u32.  The one rule for
 * what is pinned beside the link, listed and set, in a shipped policy and
 * a user's object alike: no table says which maps are parameters.  (The
 * maps libbpf makes for .bss, .data, .rodata are arrays too; the callers
 * that see an object leave them out with bpf_map__is_internal().)
 */
static bool param_shape(__u32 type, __u32 key_size, __u32 value_size)
{
	return (type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_HASH) &&
	       key_size == sizeof(__u32) && value_size == sizeof(__u32);
}

static bool is_param(const struct bpf_map *map)
{
	return !bpf_map__is_internal(map) &&
	       param_shape(bpf_map__type(map), bpf_map__key_size(map), bpf_map__value_size(map));
}

/*
 * key=value into a parameter map (fd): an array's index must be in range;
 * a hash takes any key while it has room.  A new entry in a full hash is
 * E2BIG, which says nothing to whoever set it.
 */
static int update_param(int fd, const char *name, __u32 type, __u32 max_entries,
			const char *arg, __u32 idx, __u32 val)
{
	int err;

	if (type == BPF_MAP_TYPE_ARRAY && idx >= max_entries)
		return fail(-EINVAL, "parameter %s: index %u out of range (0..%u)", name, idx,
			    max_entries - 1);
	err = bpf_map_update_elem(fd, &idx, &val, BPF_ANY) ? -errno : 0;
	if (err == -E2BIG)
		return fail(err, "cannot set %s: parameter %s is full (%u keys)", arg, name,
			    max_entries);
	if (err)
		return fail(err, "cannot set %s: %s", arg, bpf_strerror(-err));
	return 0;
}

/*
 * "key=value": key is a map of the policy, optionally followed by an
 * index, or a hash's key (pct4=50 is index 4 of map pct, deny_tgid812=1
 * key 812 of hash deny_tgid; none: 0); value a decimal u32.
 */
int parse_param(const char *arg, char *map, size_t len, __u32 *idx, __u32 *val)
{
	const char *eq = strchr(arg, '=');
	unsigned long v;
	size_t n, d;
	char *end;

	if (!eq || eq == arg || eq[1] == '\0')
		return fail(-EINVAL, "bad parameter '%s': expected key=value", arg);
	n = eq - arg;
	for (d = n; d > 0 && arg[d - 1] >= '0' && arg[d - 1] <= '9'; d--)
		;
	if (d == 0 || d >= len)
		return fail(-EINVAL, "bad parameter name in '%s'", arg);
	memcpy(map, arg, d);
	map[d] = '\0';
	*idx = 0;
	if (d < n) {
		errno = 0;
		v = strtoul(arg + d, &end, 10);
		if (errno || end != eq || v > 0xffffffffUL)
			return fail(-EINVAL, "bad index in '%s': expected a number up to %u", arg,
				    0xffffffffU);
		*idx = v;
	}
	errno = 0;
	v = strtoul(eq + 1, &end, 10);
	if (errno || *end || eq[1] == '-' || v > 0xffffffffUL)
		return fail(-EINVAL, "bad value in '%s': expected a number", arg);
	*val = v;
	return 0;
}

static int set_params_obj(struct bpf_object *obj, int argc, char **argv)
{
	int i, err;

	for (i = 0; i < argc; i++) {
		char name[64];
		struct bpf_map *map;
		__u32 idx, val;

		err = parse_param(argv[i], name, sizeof(name), &idx, &val);
		if (err)
			return err;
		map = bpf_object__find_map_by_name(obj, name);
		if (!map || bpf_map__is_internal(map))
			return fail(-ENOENT, "policy has no parameter '%s'", name);
		if (!is_param(map))
			return fail(-EINVAL, "'%s' is not a parameter: parameters are arrays and hashes from 32-bit keys to 32-bit values (map type %u, key %u bytes, value %u bytes)",
				    name, bpf_map__type(map), bpf_map__key_size(map),
				    bpf_map__value_size(map));
		err = update_param(bpf_map__fd(map), name, bpf_map__type(map),
				   bpf_map__max_entries(map), argv[i], idx, val);
		if (err)
			return err;
	}
	return 0;
}

/*
 * MTHP_VERIFIER_STATS=1: before the load, ask the verifier for its
 * statistics; after it, print them, one line per program, on stderr.
 */
static int verifier_stats(struct bpf_object *obj, bool print)
{
	static char logs[4][1024];
	struct bpf_program *prog;
	int i = 0, err;

	bpf_object__for_each_program(prog, obj) {
		if (i == 4)
			break;
		if (!print) {
			logs[i][0] = 0;
			err = bpf_program__set_log_buf(prog, logs[i], sizeof(logs[i]));
			if (!err)
				err = bpf_program__set_log_level(prog, 4);
			if (err)
				return fail(err, "cannot ask for verifier statistics");
		} else {
			const char *p = strstr(logs[i], "processed ");

			fprintf(stderr, "verifier: %s: %.*s\n", bpf_program__name(prog),
				p ? (int)strcspn(p, "\n") : 0, p ? p : "");
		}
		i++;
	}
	return 0;
}

/*
 * Make an opened policy object ready to load for a scope: its struct_ops
 * map gets the scope's fields, and a real link, whatever the section
 * (".struct_ops" too): pinned, it holds the policy, and unpinning it
 * detaches.  0, or a negative errno after a message.
 */
int prepare_policy(struct bpf_object *obj, const char *name, const struct scope *s)
{
	struct bpf_map *map = ops_map(obj);
	int err;

	if (!map)
		return fail(-EINVAL, "'%s' has no struct_ops map: not a collapse policy", name);
	err = set_scope_fields(obj, map, name, s);
	if (err)
		return err;
	err = bpf_map__set_map_flags(map, bpf_map__map_flags(map) | BPF_F_LINK);
	if (err)
		return fail(err, "cannot set up policy '%s': %s", name, bpf_strerror(-err));
	return 0;
}

/* Load a prepared object; on failure print the verifier log.  0 or -errno. */
int load_prepared(struct bpf_object *obj, const char *name)
{
	int err;

	log_len = 0;
	if (getenv("MTHP_VERIFIER_STATS")) {
		err = verifier_stats(obj, false);
		if (err)
			return err;
	}
	err = bpf_object__load(obj);
	if (err) {
		fail(err, "the kernel refused policy '%s': %s", name, bpf_strerror(-err));
		if (log_len)
			fprintf(stderr, "--- verifier and libbpf log ---\n%s", verifier_log);
		return err;
	}
	if (getenv("MTHP_VERIFIER_STATS"))
		verifier_stats(obj, true);
	return 0;
}

/*
 * Open, scope, load and parametrise a policy; on failure print the verifier
 * log, and return NULL with errno set (libbpf's way for a pointer).
 */
struct bpf_object *load_policy(const char *name, int argc, char **argv, const struct scope *s)
{
	struct bpf_object *obj;
	char key[64];
	__u32 idx, val;
	int i, err;

	/* Refuse bad syntax before loading anything. */
	for (i = 0; i < argc; i++) {
		err = parse_param(argv[i], key, sizeof(key), &idx, &val);
		if (err) {
			errno = -err;
			return NULL;
		}
	}
	obj = open_policy(name);
	if (!obj)
		return NULL;
	err = prepare_policy(obj, name, s);
	if (!err)
		err = load_prepared(obj, name);
	/* Parameters go into the loaded maps (arrays start zeroed). */
	if (!err)
		err = set_params_obj(obj, argc, argv);
	if (err)
		goto err;
	return obj;
err:
	bpf_object__close(obj);
	errno = -err;
	return NULL;
}

void scope_key(const struct scope *s, char *buf, size_t len)
{
	if (s->cgid)
		snprintf(buf, len, "cg%llu%s", (unsigned long long)s->cgid,
			 s->shadow ? "-shadow" : "");
	else
		snprintf(buf, len, "global%s", s->shadow ? "-shadow" : "");
}

void scope_dir(const struct scope *s, char *buf, size_t len)
{
	char key[64];

	scope_key(s, key, sizeof(key));
	snprintf(buf, len, PIN_DIR "/%s", key);
}

/* "system-wide", "to cgroup /a as shadow", ...: fits "attached %s". */
const char *scope_where(const struct scope *s, char *buf, size_t len)
{
	if (s->cgid)
		snprintf(buf, len, "to cgroup %s%s", s->display, s->shadow ? " as shadow" : "");
	else
		snprintf(buf, len, "system-wide%s", s->shadow ? " as shadow" : "");
	return buf;
}

/* The options that select the scope again: " --cgroup /a --shadow". */
const char *scope_opts(const struct scope *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", s->cgid ? " --cgroup " : "", s->cgid ? s->path : "",
		 s->shadow ? " --shadow" : "");
	return buf;
}

/*
 * What is attached at a scope: 1 and its name, 0 if nothing, a negative
 * errno if the kernel cannot tell.  The policies table knows every scope;
 * a kernel without it only has the system-wide active policy.
 */
int scope_holder(const struct scope *s, char *name, size_t len)
{
	struct ptable t;
	const struct prow *r;
	int err = ptable_read(&t);

	if (!err) {
		r = ptable_find(&t, s->shadow ? "shadow" : "active", s->cgid);
		if (r)
			snprintf(name, len, "%s", r->name);
		ptable_free(&t);
		return r ? 1 : 0;
	}
	if (err != -ENOENT)
		return err;
	if (!scope_is_default(s))
		return -EOPNOTSUPP;
	err = current_policy(name, len);
	if (err)
		return err;
	return strcmp(name, "none") ? 1 : 0;
}

static bool exists(const char *path)
{
	return !access(path, F_OK);
}

/*
 * Pin the parameter maps of a policy in dir: 0, or -errno (and the path
 * that failed in failed, for the caller's message).
 */
static int pin_params(struct bpf_object *obj, const char *dir, char *failed, size_t len)
{
	struct bpf_map *map;
	char path[PATH_MAX + 64];
	int err;

	bpf_object__for_each_map(map, obj) {
		if (!is_param(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		unlink(path);
		err = bpf_map__pin(map, path);
		if (err) {
			snprintf(failed, len, "%s", path);
			return err;
		}
	}
	return 0;
}

/* Unpin every parameter map pinned with the policy in dir (all but the link). */
static void unpin_params(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX + 256];

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "link") || e->d_type == DT_DIR)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
}

/* Unpin the link in dir, and the maps next to it; remove what is left empty. */
static int unpin_dir(const char *dir)
{
	char path[PATH_MAX + 8];
	int err;

	snprintf(path, sizeof(path), "%s/link", dir);
	if (unlink(path) && errno != ENOENT) {
		err = -errno;
		return fail(err, "cannot unpin %s: %s", path, bpf_strerror(-err));
	}
	unpin_params(dir);
	if (strcmp(dir, PIN_DIR))
		rmdir(dir);
	rmdir(PIN_DIR);
	return 0;
}

/* Where the link of a scope is pinned, if mthp-policy attached one there. */
static bool find_pin_dir(const struct scope *s, char *dir, size_t len)
{
	char path[PATH_MAX + 8];

	scope_dir(s, dir, len);
	snprintf(path, sizeof(path), "%s/link", dir);
	return exists(path);
}

/*
 * The parameters pinned with the policy at a scope, as "name[entries]"
 * separated by spaces, in @buf: "" when it has none, "-" when mthp-policy
 * did not attach it (bpftool did: nothing is pinned where we look).
 */
void scope_params(const struct scope *s, char *buf, size_t len)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct bpf_map_info info;
	struct dirent *e;
	size_t off = 0;
	__u32 ilen;
	DIR *d;
	int fd;

	buf[0] = '\0';
	if (!find_pin_dir(s, dir, sizeof(dir))) {
		snprintf(buf, len, "-");
		return;
	}
	d = opendir(dir);
	while (d && (e = readdir(d)) && off < len) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "link"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		ilen = sizeof(info);
		if (!bpf_map_get_info_by_fd(fd, &info, &ilen) &&
		    param_shape(info.type, info.key_size, info.value_size))
			off += snprintf(buf + off, len - off, "%s%s[%u]", off ? " " : "",
					e->d_name, info.max_entries);
		close(fd);
	}
	if (d)
		closedir(d);
}

/*
 * Why the kernel refused (err, a negative errno) to attach a policy at a
 * scope, or to replace one there; head says what failed ("cannot attach
 * 'x' to cgroup /a").  Returns err.
 */
static int explain(int err, const char *head, const struct scope *s, bool replace)
{
	char parent[PATH_MAX], *slash;

	switch (-err) {
	case EEXIST:
		return fail(err, "%s: %s policy is already attached there", head,
			    s->shadow ? "a shadow" : "an active");
	case ENOLINK:
		if (replace)
			return fail(err, "%s: the policy there was detached meanwhile (attach it instead)",
				    head);
		break;
	case ENOENT:
		if (replace)
			return fail(err, "%s: the policy there was detached meanwhile (attach it instead)",
				    head);
		if (s->cgid)
			return fail(err, "%s: no cgroup with id %llu (was it removed?)", head,
				    (unsigned long long)s->cgid);
		break;
	case EINVAL:
		if (replace)
			return fail(err, "%s: %s; a replacement must keep the scope (cgroup) and mode (active or shadow) of the policy it replaces",
				    head, bpf_strerror(-err));
		if (s->cgid) {
			snprintf(parent, sizeof(parent), "%s", s->path);
			slash = strrchr(parent, '/');
			if (slash && slash != parent)
				*slash = '\0';
			return fail(err, "%s: %s; probably the cgroup has no memory controller of its own (enable it in its parent: echo +memory > %s/cgroup.subtree_control)",
				    head, bpf_strerror(-err), parent);
		}
		break;
	case ENOSPC:
		return fail(err, "%s: 8 policies are attached already, the kernel's limit; detach one first",
			    head);
	case EOPNOTSUPP:
		if (!scope_is_default(s))
			return fail(err, "%s: this kernel has no memory cgroups (CONFIG_MEMCG), which cgroup and shadow policies need",
				    head);
		break;
	}
	return fail(err, "%s: %s", head, bpf_strerror(-err));
}

static __u32 link_id_of(int fd)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (fd < 0 || bpf_link_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

/*
 * Attach a loaded policy object at its scope, unpinned: the link lives as
 * long as *link (and this process) does.  0, or a negative errno after
 * the kernel's refusal is explained.
 */
int attach_ops(struct bpf_object *obj, const char *name, const struct scope *s,
	       struct bpf_link **link)
{
	char where[PATH_MAX + 64], head[PATH_MAX + 160];
	int err;

	*link = bpf_map__attach_struct_ops(ops_map(obj));
	if (*link)
		return 0;
	err = -errno;
	snprintf(head, sizeof(head), "cannot attach '%s' %s", name,
		 scope_where(s, where, sizeof(where)));
	return explain(err, head, s, false);
}

/*
 * Attach a policy at a scope, and pin it there: it stays attached after
 * this program exits.  The caller checked root and the kernel.
 */
int attach_policy(const char *name, int argc, char **argv, const struct scope *s, __u32 *link_id)
{
	char cur[64], where[PATH_MAX + 64], opts[PATH_MAX + 64], dir[PATH_MAX], path[PATH_MAX + 8];
	char head[PATH_MAX + 160], failed[PATH_MAX + 64];
	struct bpf_link *link = NULL;
	struct bpf_object *obj;
	int err, held;

	scope_where(s, where, sizeof(where));
	held = scope_holder(s, cur, sizeof(cur));
	if (held > 0)
		return fail(-EEXIST, "policy '%s' is already attached %s: `mthp-policy replace %s%s`, or detach it first",
			    cur, where, name, scope_opts(s, opts, sizeof(opts)));
	/* A link pinned here while nothing is attached at the scope is stale. */
	scope_dir(s, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/link", dir);
	if (!held && exists(path))
		unpin_dir(dir);
	obj = load_policy(name, argc, argv, s);
	if (!obj)
		return -errno;
	link = bpf_map__attach_struct_ops(ops_map(obj));
	if (!link) {
		err = -errno;
		snprintf(head, sizeof(head), "cannot attach '%s' %s", name, where);
		explain(err, head, s, false);
		goto out;
	}
	if ((mkdir(PIN_DIR, 0700) && errno != EEXIST) || (mkdir(dir, 0700) && errno != EEXIST) ||
	    bpf_link__pin(link, path)) {
		err = -errno;
		fail(err, "cannot pin the policy under %s: %s (is bpffs mounted?)", dir,
		     bpf_strerror(-err));
		rmdir(dir);
		rmdir(PIN_DIR);
		goto out;
	}
	err = pin_params(obj, dir, failed, sizeof(failed));
	if (err) {
		fail(err, "cannot pin %s: %s", failed, bpf_strerror(-err));
		/* Unpinned, the link goes with the last reference, ours. */
		unpin_dir(dir);
		goto out;
	}
	if (link_id)
		*link_id = link_id_of(bpf_link__fd(link));
	/* The pin holds the link now: closing our fd must not detach it. */
	bpf_link__disconnect(link);
out:
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return err;
}

/* Detach what mthp-policy attached at a scope. */
int detach_scope(const struct scope *s)
{
	char cur[64] = "", where[PATH_MAX + 64], dir[PATH_MAX], path[PATH_MAX + 8];
	bool pinned;
	int held = scope_holder(s, cur, sizeof(cur)), err;

	scope_where(s, where, sizeof(where));
	scope_dir(s, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/link", dir);
	pinned = exists(path);
	if (!pinned) {
		if (held > 0)
			return fail(-EPERM, "policy '%s' %s was not attached by mthp-policy; detach it with the tool that attached it (bpftool struct_ops unregister)",
				    cur, where);
		return fail(-ENOENT, "no policy is attached %s", where);
	}
	err = unpin_dir(dir);
	if (err)
		return err;
	if (scope_is_default(s)) {
		current_policy(cur, sizeof(cur));
		printf("detached (sysfs policy: %s)\n", cur);
	} else if (s->cgid) {
		printf("detached %s from cgroup %s%s\n", held > 0 ? cur : "the policy", s->display,
		       s->shadow ? " (shadow)" : "");
	} else {
		printf("detached %s (system-wide, shadow)\n", held > 0 ? cur : "the policy");
	}
	return 0;
}

/* The scope of a pin directory's name; false for a name of no scope. */
static bool scope_of_key(const char *key, struct scope *s)
{
	unsigned long long id;
	int n = 0;

	memset(s, 0, sizeof(*s));
	if (!strcmp(key, "global") || !strcmp(key, "global-shadow")) {
		s->shadow = key[6] != '\0';
		snprintf(s->display, sizeof(s->display), "system-wide");
		return true;
	}
	if (sscanf(key, "cg%llu%n", &id, &n) != 1 || !id ||
	    (key[n] && strcmp(key + n, "-shadow")))
		return false;
	s->cgid = id;
	s->shadow = key[n] != '\0';
	cgroup_name(id, s->display, sizeof(s->display));
	cgroup_path_of(id, s->path, sizeof(s->path));
	return true;
}

/* Detach every policy mthp-policy attached, at every scope: 0, or the first error. */
int detach_all(void)
{
	DIR *d = opendir(PIN_DIR);
	struct dirent *e;
	int done = 0, err = 0, ret;

	while (d && (e = readdir(d))) {
		char dir[PATH_MAX], path[PATH_MAX + 8];
		struct scope s;

		if (e->d_name[0] == '.' || !scope_of_key(e->d_name, &s))
			continue;
		snprintf(dir, sizeof(dir), PIN_DIR "/%s", e->d_name);
		snprintf(path, sizeof(path), "%s/link", dir);
		if (!exists(path)) {
			unpin_dir(dir);
			continue;
		}
		ret = detach_scope(&s);
		if (!ret)
			done++;
		else if (!err)
			err = ret;
	}
	if (d)
		closedir(d);
	if (!done && !err)
		return fail(-ENOENT, "no policy is attached by mthp-policy");
	return err;
}

/*
 * Detach, at the end of ab, a policy this run attached: only if the link
 * pinned at its scope is still the one it created.  0: detached; 1: it
 * was gone already, or is not ours; a negative errno: cannot unpin.
 */
int detach_owned(const struct scope *s, __u32 link_id)
{
	char dir[PATH_MAX], path[PATH_MAX + 8], where[PATH_MAX + 64];
	__u32 id;
	int fd;

	scope_dir(s, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/link", dir);
	scope_where(s, where, sizeof(where));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 1;	/* someone detached it already */
	id = link_id_of(fd);
	close(fd);
	if (link_id && id != link_id) {
		note("left the policy attached %s alone: it is not the one ab attached", where);
		return 1;
	}
	return unpin_dir(dir);
}

/*
 * The new policy attached itself, with a link of its own: the policy it
 * was to replace had gone.  Its link takes the old one's pin in dir, and
 * its parameter maps the old ones' places.  0, or a negative errno after
 * a message.
 */
static int repin(struct bpf_link *created, struct bpf_object *obj, const char *dir,
		 const char *path)
{
	char failed[PATH_MAX + 64];
	int err;

	unlink(path);
	err = bpf_link__pin(created, path);
	if (err) {
		/* Not pinned, it goes with our reference: nothing is attached. */
		bpf_link__destroy(created);
		unpin_dir(dir);
		return fail(err, "the policy it was to replace was gone, and the new one cannot be pinned at %s: %s (nothing is attached now)",
			    path, bpf_strerror(-err));
	}
	bpf_link__disconnect(created);
	bpf_link__destroy(created);
	unpin_params(dir);
	err = pin_params(obj, dir, failed, sizeof(failed));
	if (err)
		return fail(err, "attached, but the parameter maps could not be pinned: %s: %s",
			    failed, bpf_strerror(-err));
	return 0;
}

int replace_policy(const char *name, int argc, char **argv, const struct scope *s)
{
	char old[64] = "?", cur[64], where[PATH_MAX + 64], dir[PATH_MAX], path[PATH_MAX + 8];
	char head[PATH_MAX + 200], failed[PATH_MAX + 64];
	struct bpf_link *link, *created;
	struct bpf_object *obj;
	struct bpf_map *map;
	int err;

	scope_where(s, where, sizeof(where));
	if (!find_pin_dir(s, dir, sizeof(dir)))
		return fail(-ENOENT, "no policy attached by mthp-policy %s to replace (use attach)",
			    where);
	snprintf(path, sizeof(path), "%s/link", dir);
	scope_holder(s, old, sizeof(old));
	link = bpf_link__open(path);
	if (!link) {
		err = -errno;
		return fail(err, "cannot open the pinned link %s: %s", path, bpf_strerror(-err));
	}
	obj = load_policy(name, argc, argv, s);
	if (!obj) {
		err = -errno;
		goto out_link;
	}
	map = ops_map(obj);
	snprintf(head, sizeof(head), "cannot replace '%s' %s with '%s'", old, where, name);
	/*
	 * Attaching writes the new policy's struct_ops value into its map;
	 * the link it then asks for the kernel refuses (EEXIST), since the
	 * scope has a policy: the one to replace.
	 */
	created = bpf_map__attach_struct_ops(map);
	if (created) {
		err = repin(created, obj, dir, path);
		if (!err)
			printf("attached %s %s: the policy it was to replace (%s) was detached meanwhile\n",
			       name, where, old);
		goto out;
	}
	err = -errno;
	if (err != -EEXIST) {
		explain(err, head, s, false);
		goto out;
	}
	/* One link update: khugepaged sees the old policy or the new one. */
	err = bpf_link_update(bpf_link__fd(link), bpf_map__fd(map), NULL);
	if (err) {
		explain(err, head, s, true);
		goto out;
	}
	unpin_params(dir);
	err = pin_params(obj, dir, failed, sizeof(failed));
	if (err) {
		fail(err, "replaced, but the parameter maps could not be pinned: %s: %s", failed,
		     bpf_strerror(-err));
		goto out;
	}
	if (scope_is_default(s)) {
		current_policy(cur, sizeof(cur));
		printf("replaced %s with %s (sysfs policy: %s)\n", old, name, cur);
	} else {
		if (scope_holder(s, cur, sizeof(cur)) <= 0)
			snprintf(cur, sizeof(cur), "?");
		printf("replaced %s with %s %s (sysfs name: %s)\n", old, name, where, cur);
	}
out:
	bpf_object__close(obj);
out_link:
	bpf_link__destroy(link);	/* our fd; the pin holds the link */
	return err;
}

/* key=value into the parameter map pinned in dir with the policy. */
static int set_pinned_param(const char *dir, const char *arg)
{
	char name[64], path[PATH_MAX + 80];
	struct bpf_map_info info;
	__u32 idx, val, len = sizeof(info);
	int fd, err;

	err = parse_param(arg, name, sizeof(name), &idx, &val);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = strcmp(name, "link") ? bpf_obj_get(path) : -1;
	if (fd < 0)
		return fail(-ENOENT, "the attached policy has no parameter '%s' (its parameters are its u32 array and hash maps, pinned in %s)",
			    name, dir);
	/* What is pinned there is not necessarily ours: check its shape. */
	memset(&info, 0, sizeof(info));
	err = bpf_map_get_info_by_fd(fd, &info, &len);
	if (err) {
		fail(err, "'%s' pinned with the policy is not a parameter map: %s", name,
		     bpf_strerror(-err));
		goto out;
	}
	if (!param_shape(info.type, info.key_size, info.value_size)) {
		err = fail(-EINVAL, "cannot set %s: '%s' is not a parameter: not an array or hash from 32-bit keys to 32-bit values (map type %u, key %u bytes, value %u bytes)",
			   arg, name, info.type, info.key_size, info.value_size);
		goto out;
	}
	err = update_param(fd, name, info.type, info.max_entries, arg, idx, val);
out:
	close(fd);
	return err;
}

int set_params(const struct scope *s, int argc, char **argv)
{
	char where[PATH_MAX + 64], dir[PATH_MAX];
	int i, err;

	scope_where(s, where, sizeof(where));
	if (!find_pin_dir(s, dir, sizeof(dir)))
		return fail(-ENOENT, "no policy attached by mthp-policy %s", where);
	for (i = 0; i < argc; i++) {
		err = set_pinned_param(dir, argv[i]);
		if (err)
			return err;
		printf("set %s\n", argv[i]);
	}
	return 0;
}
