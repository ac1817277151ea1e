// SPDX-License-Identifier: GPL-2.0
/*
 * The khugepaged "policies" table, and cgroups: paths to ids and back.
 *
 * policies: a header line of column names, then one row per policy: the
 * kernel's own row and the attached policies in attach order (the kernel
 * row first now, last before; nothing here depends on where it is).
 * Rows that do not fit in the page are left out.  Columns are found by
 * their header names: a kernel may add some or lack some.
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

/* The whole file, NUL-terminated, in a malloc'ed buffer; NULL and errno. */
static char *slurp(const char *path)
{
	size_t len = 0, cap = 16384;
	char *buf = malloc(cap), *nb;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;
	ssize_t n;

	if (fd < 0 || !buf) {
		err = fd < 0 ? errno : ENOMEM;
		goto out;
	}
	for (;;) {
		if (cap - len < 4096) {
			nb = cap < (64U << 20) ? realloc(buf, cap * 2) : NULL;
			if (!nb) {
				err = ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			goto out;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	errno = err;
	return NULL;
}

/* The columns that are not counters. */
bool is_text_col(const char *col)
{
	return !strcmp(col, "name") || !strcmp(col, "mode") || !strcmp(col, "cgroup");
}

/* Split a line in place on blanks; returns the number of fields. */
static int split(char *line, char **field, int max)
{
	int n = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(line, " \t", &save); tok && n < max; tok = strtok_r(NULL, " \t", &save))
		field[n++] = tok;
	return n;
}

/* 0; -ENOENT if the kernel has no policies table; another -errno. */
int ptable_read(struct ptable *t)
{
	char *text, *line, *save = NULL, *field[PT_MAXCOLS];
	int n, i, cap = 0;

	memset(t, 0, sizeof(*t));
	text = slurp(POLICIES);
	if (!text)
		return -errno;
	/* Whole lines only: a last line without its newline is cut, left out. */
	line = strrchr(text, '\n');
	if (line)
		line[1] = '\0';
	else
		text[0] = '\0';
	line = strtok_r(text, "\n", &save);
	if (!line) {
		free(text);
		return -EINVAL;
	}
	n = split(line, field, PT_MAXCOLS);
	for (i = 0; i < n; i++)
		snprintf(t->col[i], PT_NAMELEN, "%s", field[i]);
	t->ncols = n;
	while ((line = strtok_r(NULL, "\n", &save))) {
		struct prow *r;

		n = split(line, field, PT_MAXCOLS);
		if (!n)
			continue;
		if (t->nrows == cap) {
			struct prow *nr = realloc(t->rows, (cap ? cap * 2 : 8) * sizeof(*nr));

			if (!nr)
				break;
			t->rows = nr;
			cap = cap ? cap * 2 : 8;
		}
		r = &t->rows[t->nrows++];
		memset(r, 0, sizeof(*r));
		for (i = 0; i < t->ncols; i++) {
			const char *c = t->col[i];
			unsigned long long id;
			long long v;
			char *end;

			r->v[i] = -1;
			if (i >= n)
				continue;
			if (!strcmp(c, "name")) {
				snprintf(r->name, sizeof(r->name), "%s", field[i]);
			} else if (!strcmp(c, "mode")) {
				snprintf(r->mode, sizeof(r->mode), "%s", field[i]);
			} else if (!strcmp(c, "cgroup")) {
				/* An id, printed unsigned (%llu). */
				errno = 0;
				id = strtoull(field[i], &end, 10);
				if (errno || *end || end == field[i] || field[i][0] == '-')
					continue;
				r->v[i] = id > (unsigned long long)LLONG_MAX ? LLONG_MAX : (long long)id;
				r->cgid = id;
			} else {
				/*
				 * Counters, printed signed (%ld): one that went
				 * below zero counts as none; out of range, the
				 * nearest end (ERANGE).
				 */
				errno = 0;
				v = strtoll(field[i], &end, 10);
				if ((errno && errno != ERANGE) || *end || end == field[i])
					continue;
				r->v[i] = v < 0 ? 0 : v;
			}
		}
	}
	free(text);
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
	int n;

	if (!arg || !arg[0])
		return fail("--cgroup needs a cgroup directory");
	if (arg[0] == '/')
		n = snprintf(path, sizeof(path), "%s", arg);
	else
		n = snprintf(path, sizeof(path), "%s/%s", root ? root : CGROUP_DEFAULT, arg);
	if (n < 0 || n >= (int)sizeof(path))
		return fail("cgroup path too long: %s", arg);
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
	if (stat(path, &st))
		return fail("no cgroup at %s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail("%s is not a directory: a cgroup is a directory of the cgroup2 file system",
			    path);
	if (!on_cgroup2(path))
		return fail("%s is not on cgroup2 (policies are scoped to cgroup v2 cgroups%s%s)",
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
