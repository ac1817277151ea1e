// SPDX-License-Identifier: GPL-2.0
/*
 * What every file of the loader uses: messages, reading a small file, and
 * the stop signals.  It calls nothing else of the loader.
 */
#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "mthp-policy.h"

static void vsay(const char *fmt, va_list ap)
{
	fputs("mthp-policy: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* An error on stderr; returns err, a negative errno, for "return fail(-E..., ...)". */
int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	return err;
}

bool usage_error;

/* A message on stderr that is not an error. */
void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

/* A small file into buf, as a string: 0, or -errno. */
int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		err = -errno;	/* before close() can change it */
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	return 0;
}

volatile sig_atomic_t stop;

void on_signal(int sig)
{
	(void)sig;
	stop = stop + 1;
}

/*
 * Block the signals that set stop (SIGINT, SIGTERM, SIGHUP); orig gets
 * the mask before.  With them blocked, checking stop and then waiting in
 * wait_signal() loses none: one that came in between ends the wait.
 */
void block_stop_signals(sigset_t *orig)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, orig);
}

/*
 * Wait secs seconds, with the signal mask orig: a signal it lets in (one
 * pending already too) runs its handler and ends the wait at once.
 */
void wait_signal(double secs, const sigset_t *orig)
{
	struct timespec ts;

	if (!(secs > 0))
		return;
	if (secs > 1e9)
		secs = 1e9;
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - ts.tv_sec) * 1e9);
	if (ts.tv_nsec < 0 || ts.tv_nsec > 999999999)
		ts.tv_nsec = 999999999;
	pselect(0, NULL, NULL, NULL, &ts, orig);
}

/*
 * The PMD order, from the kernel's hpage_pmd_size and the page size (9
 * with 4K pages, 11 with 16K, 13 with 64K); without THP a negative errno,
 * and a message the first time.
 */
int pmd_order(void)
{
	static bool done;
	static int order;
	unsigned long long pmd, page = (unsigned long long)sysconf(_SC_PAGESIZE);
	char buf[64];

	if (done)
		return order;
	done = true;
	order = read_file(THP_DIR "hpage_pmd_size", buf, sizeof(buf));
	if (order)
		return fail(order, "cannot read %s: %s", THP_DIR "hpage_pmd_size",
			    strerror(-order));
	pmd = strtoull(buf, NULL, 10);
	if (!page || pmd < page || pmd % page || (pmd / page) & (pmd / page - 1)) {
		order = -EINVAL;
		return fail(order, "unexpected %s: %s", THP_DIR "hpage_pmd_size", buf);
	}
	order = __builtin_ctzll(pmd / page);
	return order;
}

int parse_secs(const char *cmd, const char *opt, const char *arg, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(*v) || *v <= 0 || *v > 1e9)
		return fail(-EINVAL, "%s: %s needs a positive number of seconds, not '%s'",
			    cmd, opt, arg);
	return 0;
}
