// SPDX-License-Identifier: GPL-2.0
/*
 * khugepaged's policy counters as a table, and cgroups: paths to ids and back.
 *
 * khugepaged/policies/ has a directory per attached policy (global,
 * global-shadow, cg<id>, cg<id>-shadow) and one for the kernel's arm, each
 * with one value per file and hugepages-<size>kB/ directories of per-size
 * counters.  The table has a row per directory (the kernel's first) and a
 * column per file, a per-size file as <file>_order<N>: the columns are the
 * files the kernel has, so it may add some or lack some.
 *
 * A cgroup's id, as policies know it, is the inode number of its cgroup2
 * directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "mthp-policy.h"

/* The columns that are not counters. */
bool is_text_col(const char *col)
{
	return !strcmp(col, "name") || !strcmp(col, "mode") || !strcmp(col, "cgroup");
}

/* The kernel's rejection reasons, in its order (enum mthp_reject). */
const char * const reject_names[] = {
	"retval", "too_many", "range", "misaligned", "order", "overlap",
	"empty", "swap", "shared", "uffd", NULL,
};

/*
 * Where a column goes: the order of the kernel's old one-file table, so
 * that what the loader prints keeps its order.  Names the kernel adds
 * later go last, in name order.
 */
static int col_rank(const char *c)
{
	static const char * const first[] = {
		"name", "mode", "cgroup", "disabled", "calls",
		"plans_custom", "plans_default", "plans_rejected",
	};
	static const char * const fails[] = { "alloc", "busy", "changed", "limit", "other" };
	unsigned int i;
	int o;

	for (i = 0; i < sizeof(first) / sizeof(first[0]); i++)
		if (!strcmp(c, first[i]))
			return i;
	if (sscanf(c, "planned_order%d", &o) == 1)
		return 100 + o;
	if (!strcmp(c, "planned_none"))
		return 199;
	if (sscanf(c, "collapsed_order%d", &o) == 1)
		return 200 + o;
	if (!strcmp(c, "collapsed_none"))
		return 299;
	if (sscanf(c, "failed_order%d", &o) == 1)
		return 300 + o;
	for (i = 0; i < sizeof(fails) / sizeof(fails[0]); i++)
		if (!strncmp(c, "failed_", 7) && !strcmp(c + 7, fails[i]))
			return 400 + i;
	for (i = 0; reject_names[i]; i++)
		if (!strncmp(c, "rejected_", 9) && !strcmp(c + 9, reject_names[i]))
			return 500 + i;
	if (!strcmp(c, "time_ns"))
		return 600;
	return 1000;
}

static int col_cmp(const void *a, const void *b)
{
	const char *x = a, *y = b;
	int rx = col_rank(x), ry = col_rank(y);

	return rx != ry ? rx - ry : strcmp(x, y);
}

/* The order of a hugepages-<size>kB directory, or -1. */
static int size_dir_order(const char *name)
{
	unsigned long kb, page = sysconf(_SC_PAGESIZE) / 1024;
	char tail[4];
	int o;

	if (sscanf(name, "hugepages-%lukB%3s", &kb, tail) != 1 || !page)
		return -1;
	for (o = 0; o < 32; o++)
		if (page << o == kb)
			return o;
	return -1;
}

/* The first line of a policy directory's file, without its newline. */
static int read_entry(int dirfd, const char *path, char *buf, size_t len)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		err = -errno;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void add_col(struct ptable *t, const char *name)
{
	int i;

	for (i = 0; i < t->ncols; i++)
		if (!strcmp(t->col[i], name))
			return;
	if (t->ncols < PT_MAXCOLS)
		snprintf(t->col[t->ncols++], PT_NAMELEN, "%s", name);
}

/* The columns a policy directory has: its files, and one per size and file. */
static void add_cols(struct ptable *t, int dirfd)
{
	int fd = dup(dirfd), o;
	char col[PT_NAMELEN];
	struct dirent *e, *se;
	DIR *d, *sd;

	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		o = size_dir_order(e->d_name);
		if (o < 0) {
			add_col(t, e->d_name);
			continue;
		}
		fd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		sd = fd >= 0 ? fdopendir(fd) : NULL;
		if (!sd) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while ((se = readdir(sd)))
			if (se->d_name[0] != '.' &&
			    snprintf(col, sizeof(col), "%s_order%d", se->d_name, o) < (int)sizeof(col))
				add_col(t, col);
		closedir(sd);
	}
	closedir(d);
}

/* The file of a column: "calls", or "hugepages-64kB/collapsed" for collapsed_order4. */
static void col_path(const char *col, char *path, size_t len)
{
	unsigned long kb = sysconf(_SC_PAGESIZE) / 1024;
	const char *u = strstr(col, "_order");
	int o, n;

	if (u && sscanf(u, "_order%d%n", &o, &n) == 1 && !u[n] && o >= 0 && o < 32) {
		snprintf(path, len, "hugepages-%lukB/%.*s", kb << o, (int)(u - col), col);
		return;
	}
	snprintf(path, len, "%s", col);
}

static void read_row(const struct ptable *t, int dirfd, struct prow *r)
{
	char path[PT_NAMELEN + 32], val[128], *end;
	unsigned long long id;
	long long v;
	int i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < t->ncols; i++) {
		const char *c = t->col[i];

		r->v[i] = -1;
		col_path(c, path, sizeof(path));
		if (read_entry(dirfd, path, val, sizeof(val)))
			continue;
		if (!strcmp(c, "name")) {
			snprintf(r->name, sizeof(r->name), "%.*s", (int)sizeof(r->name) - 1, val);
		} else if (!strcmp(c, "mode")) {
			snprintf(r->mode, sizeof(r->mode), "%.*s", (int)sizeof(r->mode) - 1, val);
		} else if (!strcmp(c, "cgroup")) {
			/* An id, printed unsigned (%llu). */
			errno = 0;
			id = strtoull(val, &end, 10);
			if (errno || *end || end == val || val[0] == '-')
				continue;
			r->v[i] = id > (unsigned long long)LLONG_MAX ? LLONG_MAX : (long long)id;
			r->cgid = id;
		} else {
			/*
			 * Counters, printed signed (%ld): one that went below
			 * zero counts as none; out of range, the nearest end
			 * (ERANGE).
			 */
			errno = 0;
			v = strtoll(val, &end, 10);
			if ((errno && errno != ERANGE) || *end || end == val)
				continue;
			r->v[i] = v < 0 ? 0 : v;
		}
	}
}

/* kernel first, then global, global-shadow, then cgroups by id. */
static int row_cmp(const void *a, const void *b)
{
	const struct prow *x = a, *y = b;
	int kx = !strcmp(x->mode, "kernel"), ky = !strcmp(y->mode, "kernel");

	if (kx != ky)
		return ky - kx;
	if (x->cgid != y->cgid)
		return x->cgid < y->cgid ? -1 : 1;
	return strcmp(x->mode, y->mode);
}

/* 0; -ENOENT if the kernel has no policies directory; another -errno. */
int ptable_read(struct ptable *t)
{
	int pfd, *fds = NULL, nfd = 0, cap = 0, i, err = 0;
	struct dirent *e;
	DIR *d;

	memset(t, 0, sizeof(*t));
	pfd = open(POLICIES, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	d = fdopendir(pfd);
	if (!d) {
		err = -errno;
		close(pfd);
		return err;
	}
	/* A directory removed between readdir and open was detached: skipped. */
	while ((e = readdir(d))) {
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = openat(pfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (nfd == cap) {
			int *n = realloc(fds, (cap ? cap * 2 : 16) * sizeof(*n));

			if (!n) {
				close(fd);
				err = -ENOMEM;
				break;
			}
			fds = n;
			cap = cap ? cap * 2 : 16;
		}
		fds[nfd++] = fd;
	}
	closedir(d);
	for (i = 0; !err && i < nfd; i++)
		add_cols(t, fds[i]);
	qsort(t->col, t->ncols, sizeof(t->col[0]), col_cmp);
	if (!err && nfd) {
		t->rows = calloc(nfd, sizeof(*t->rows));
		if (!t->rows)
			err = -ENOMEM;
	}
	for (i = 0; !err && i < nfd; i++) {
		read_row(t, fds[i], &t->rows[t->nrows]);
		/* Gone while read (detached): no row. */
		if (t->rows[t->nrows].name[0])
			t->nrows++;
	}
	for (i = 0; i < nfd; i++)
		close(fds[i]);
	free(fds);
	if (err) {
		ptable_free(t);
		return err;
	}
	qsort(t->rows, t->nrows, sizeof(*t->rows), row_cmp);
	return 0;
}

void ptable_free(struct ptable *t)
{
	free(t->rows);
	t->rows = NULL;
	t->nrows = 0;
}

int ptable_col(const struct ptable *t, const char *name)
{
	int i;

	for (i = 0; i < t->ncols; i++)
		if (!strcmp(t->col[i], name))
			return i;
	return -1;
}

/* The policy attached at a scope (mode "active" or "shadow"), or NULL. */
const struct prow *ptable_find(const struct ptable *t, const char *mode, __u64 cgid)
{
	int i;

	for (i = 0; i < t->nrows; i++)
		if (!strcmp(t->rows[i].mode, mode) && t->rows[i].cgid == cgid)
			return &t->rows[i];
	return NULL;
}

static bool on_cgroup2(const char *path)
{
	struct statfs sfs;

	return !statfs(path, &sfs) && (unsigned long)sfs.f_type == CGROUP2_SUPER_MAGIC;
}

/* Where cgroup2 is mounted: /sys/fs/cgroup, its unified/ on hybrid systems, ... */
const char *cgroup2_root(void)
{
	static char root[PATH_MAX];
	static bool done;
	char line[PATH_MAX + 256], dev[256], dir[PATH_MAX], type[64];
	FILE *f;

	if (done)
		return root[0] ? root : NULL;
	done = true;
	if (on_cgroup2(CGROUP_DEFAULT)) {
		snprintf(root, sizeof(root), "%s", CGROUP_DEFAULT);
		return root;
	}
	if (on_cgroup2(CGROUP_DEFAULT "/unified")) {
		snprintf(root, sizeof(root), "%s", CGROUP_DEFAULT "/unified");
		return root;
	}
	f = fopen("/proc/self/mounts", "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %4095s %63s", dev, dir, type) == 3 &&
		    !strcmp(type, "cgroup2") && !strchr(dir, '\\')) {
			snprintf(root, sizeof(root), "%s", dir);
			break;
		}
	}
	if (f)
		fclose(f);
	return root[0] ? root : NULL;
}

/* A path under the cgroup2 root as the cgroup's name: "/a/b"; "/" the root. */
static void display_of(const char *path, char *out, size_t len)
{
	const char *root = cgroup2_root();
	size_t n = root ? strlen(root) : 0;

	if (root && !strncmp(path, root, n) && (path[n] == '/' || path[n] == '\0'))
		snprintf(out, len, "%s", path[n] ? path + n : "/");
	else
		snprintf(out, len, "%s", path);
}

/*
 * --cgroup PATH: absolute, or relative to the cgroup2 mount; a cgroup2
 * directory.  Fills the scope's cgroup id (its inode), path and name.
 */
int cgroup_resolve(const char *arg, struct scope *s)
{
	const char *root = cgroup2_root();
	char path[PATH_MAX], real[PATH_MAX];
	struct stat st;
	int n, err;

	if (!arg || !arg[0])
		return fail(-EINVAL, "--cgroup needs a cgroup directory");
	if (arg[0] == '/')
		n = snprintf(path, sizeof(path), "%s", arg);
	else
		n = snprintf(path, sizeof(path), "%s/%s", root ? root : CGROUP_DEFAULT, arg);
	if (n < 0 || n >= (int)sizeof(path))
		return fail(-ENAMETOOLONG, "cgroup path too long: %s", arg);
	/*
	 * "/a" as list and ab show it: /sys/fs/cgroup/a, when /a itself is
	 * not a cgroup2 directory ("/" is the root cgroup).
	 */
	if (arg[0] == '/' && root && (stat(path, &st) || !S_ISDIR(st.st_mode) || !on_cgroup2(path))) {
		char alt[PATH_MAX];

		n = snprintf(alt, sizeof(alt), "%s%s", root, strcmp(arg, "/") ? arg : "");
		if (n > 0 && n < (int)sizeof(alt) && !stat(alt, &st) && S_ISDIR(st.st_mode) &&
		    on_cgroup2(alt))
			memcpy(path, alt, sizeof(path));
	}
	if (stat(path, &st)) {
		err = -errno;
		return fail(err, "no cgroup at %s: %s", path, strerror(-err));
	}
	if (!S_ISDIR(st.st_mode))
		return fail(-ENOTDIR, "%s is not a directory: a cgroup is a directory of the cgroup2 file system",
			    path);
	if (!on_cgroup2(path))
		return fail(-EINVAL,
			    "%s is not on cgroup2 (policies are scoped to cgroup v2 cgroups%s%s)",
			    path, root ? "; cgroup2 is mounted at " : "; is cgroup2 mounted?",
			    root ? root : "");
	if (!realpath(path, real))
		memcpy(real, path, sizeof(real));
	s->cgid = st.st_ino;
	memcpy(s->path, real, sizeof(s->path));
	display_of(real, s->display, sizeof(s->display));
	return 0;
}

/* Depth first under dir (path in buf, of length len) for a directory of inode id. */
static bool find_ino(char *buf, size_t len, size_t cap, __u64 id, int depth)
{
	DIR *d;
	struct dirent *e;
	bool found = false;

	if (depth > 64)
		return false;
	d = opendir(buf);
	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		struct stat st;
		size_t n;

		if (e->d_name[0] == '.' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
			continue;
		n = strlen(e->d_name);
		if (len + 1 + n >= cap)
			continue;
		buf[len] = '/';
		memcpy(buf + len + 1, e->d_name, n + 1);
		if (lstat(buf, &st) || !S_ISDIR(st.st_mode)) {
			buf[len] = '\0';
			continue;
		}
		if (st.st_ino == id)
			found = true;
		else
			found = find_ino(buf, len + 1 + n, cap, id, depth + 1);
		if (!found)
			buf[len] = '\0';
	}
	closedir(d);
	return found;
}

/*
 * The directory of a cgroup id: 0 and its path, -ENOENT if there is no
 * such cgroup (any more).  Remembers what it found: ids are not reused.
 */
int cgroup_path_of(__u64 id, char *path, size_t len)
{
	static struct { __u64 id; char path[PATH_MAX]; bool gone; } cache[32];
	static unsigned int next;
	const char *root = cgroup2_root();
	char buf[PATH_MAX];
	struct stat st;
	unsigned int i;

	if (!root)
		return -ENOENT;
	for (i = 0; i < sizeof(cache) / sizeof(cache[0]); i++) {
		if (!cache[i].id || cache[i].id != id)
			continue;
		if (cache[i].gone)
			return -ENOENT;
		if (!stat(cache[i].path, &st) && S_ISDIR(st.st_mode) && st.st_ino == id) {
			snprintf(path, len, "%s", cache[i].path);
			return 0;
		}
		cache[i].id = 0;	/* moved or gone: look again */
	}
	snprintf(buf, sizeof(buf), "%s", root);
	if (!stat(buf, &st) && st.st_ino == id) {
		;
	} else if (!find_ino(buf, strlen(buf), sizeof(buf), id, 0)) {
		i = next++ % (sizeof(cache) / sizeof(cache[0]));
		cache[i].id = id;
		cache[i].gone = true;
		return -ENOENT;
	}
	i = next++ % (sizeof(cache) / sizeof(cache[0]));
	cache[i].id = id;
	cache[i].gone = false;
	snprintf(cache[i].path, sizeof(cache[i].path), "%s", buf);
	snprintf(path, len, "%s", buf);
	return 0;
}

/* How a cgroup id reads: "system-wide" (0), "/" (the root), "/a/b", "(removed)". */
const char *cgroup_name(__u64 id, char *buf, size_t len)
{
	char path[PATH_MAX];

	if (!id)
		snprintf(buf, len, "system-wide");
	else if (cgroup_path_of(id, path, sizeof(path)))
		snprintf(buf, len, "(removed)");
	else
		display_of(path, buf, len);
	return buf;
}
