// SPDX-License-Identifier: GPL-2.0
/*
 * ab: policies side by side on a running machine.
 *
 * The arms are the rows of the khugepaged policies table (the attached
 * policies, active and shadow, and the kernel's own row, wherever it is
 * in the table), matched by name, mode and cgroup.  ab attaches the arms
 * it is given, takes the counters as a baseline, and prints what each arm
 * counted since then every interval, with the folio sizes of the memory
 * of each cgroup that has an arm.  At the end (SIGINT, SIGTERM,
 * --duration) it takes the counters a last time, detaches what it
 * attached, and prints the final table, or one JSON object, with the
 * folio sizes after the detach.
 *
 * The arms' counters are arms.c's; what is printed, report.c's.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ab.h"

/* The cgroups of the arms (not removed), each scanned once. */
static void scan_cgroups(struct ab *ab, int cancel_at)
{
	char path[PATH_MAX];
	int i, j;

	ab->nscans = 0;
	free(ab->scans);
	ab->scans = calloc(ab->narms + 1, sizeof(*ab->scans));
	if (!ab->scans)
		return;
	for (i = 0; i < ab->narms; i++) {
		struct cgscan *c;

		if (!ab->arms[i].cgid || cgroup_path_of(ab->arms[i].cgid, path, sizeof(path)))
			continue;
		for (j = 0; j < ab->nscans; j++)
			if (ab->scans[j].cgid == ab->arms[i].cgid)
				break;
		if (j < ab->nscans)
			continue;
		c = &ab->scans[ab->nscans++];
		c->cgid = ab->arms[i].cgid;
		cgroup_name(c->cgid, c->name, sizeof(c->name));
		c->err = workload_scan(path, &c->w, cancel_at);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bad_arm(const char *arg, const char *why)
{
	return fail(-EINVAL,
		    "ab: bad ARM '%s': %s (expected POLICY[,key=value...][@CGROUP][:shadow])",
		    arg, why);
}

/*
 * POLICY[,key=value...][@CGROUP][:shadow].  The cgroup follows the first
 * '@' (cgroup names have '@'s: user@1000.service); ":shadow" (or
 * ":active") ends the ARM.
 */
static int parse_arm(const char *arg, struct req *r)
{
	char *at, *colon, *p, *save = NULL, key[64];
	size_t len;
	__u32 idx, val;
	int err;

	memset(r, 0, sizeof(*r));
	r->arg = arg;
	r->buf = strdup(arg);
	if (!r->buf)
		return fail(-ENOMEM, "out of memory");
	len = strlen(r->buf);
	if (len > 7 && !strcmp(r->buf + len - 7, ":shadow")) {
		r->scope.shadow = true;
		r->buf[len - 7] = '\0';
	} else if (len > 7 && !strcmp(r->buf + len - 7, ":active")) {
		r->buf[len - 7] = '\0';
	}
	at = strchr(r->buf, '@');
	if (at)
		*at++ = '\0';
	colon = strchr(r->buf, ':');
	if (colon)
		return bad_arm(arg, "the mode after ':' is shadow or active");
	if (at && !*at)
		return bad_arm(arg, "no cgroup after '@'");
	p = strtok_r(r->buf, ",", &save);
	if (!p || !*p || r->buf[0] == ',')
		return bad_arm(arg, "no policy");
	r->policy = p;
	while ((p = strtok_r(NULL, ",", &save))) {
		if ((size_t)r->nparams == sizeof(r->params) / sizeof(r->params[0]))
			return bad_arm(arg, "too many parameters");
		if (parse_param(p, key, sizeof(key), &idx, &val))
			return bad_arm(arg, "parameters are key=value, after commas");
		r->params[r->nparams++] = p;
	}
	err = policy_name_ok(r->policy);
	if (err)
		return err;
	if (at) {
		err = cgroup_resolve(at, &r->scope);
		if (err)
			return fail(err, "ab: cannot use ARM '%s': its cgroup (above)", arg);
	} else {
		snprintf(r->scope.display, sizeof(r->scope.display), "system-wide");
	}
	return 0;
}

/*
 * Detach what this run attached (unless --keep), newest first; each once.
 * 0, or the error of the first that could not be detached.
 */
static int detach_ours(struct ab *ab, bool keep)
{
	char where[PATH_MAX + 64], opts[PATH_MAX + 64];
	int i, ret, err = 0;

	for (i = ab->nreqs - 1; i >= 0; i--) {
		struct req *r = &ab->reqs[i];

		if (!r->attached)
			continue;
		r->attached = false;
		scope_where(&r->scope, where, sizeof(where));
		if (keep) {
			note("ab: kept %s attached %s", r->policy, where);
			continue;
		}
		ret = detach_owned(&r->scope, r->link_id);
		switch (ret) {
		case 0:
			note("ab: detached %s (%s)", r->policy, where);
			break;
		case 1:
			note("ab: %s (%s) was detached already", r->policy, where);
			break;
		default:
			fail(ret, "ab: cannot detach %s (%s): it is still attached (mthp-policy detach%s)",
			     r->policy, where, scope_opts(&r->scope, opts, sizeof(opts)));
			if (!err)
				err = ret;
			break;
		}
	}
	return err;
}

static void ab_usage(FILE *f)
{
	fprintf(f,
		"usage: mthp-policy ab [--interval SEC] [--duration SEC] [--json] [--prom FILE] [--keep] [ARM...]\n"
		"  ARM: POLICY[,key=value...][@CGROUP][:shadow]\n"
		"       POLICY            active, system-wide\n"
		"       POLICY:shadow     shadow, system-wide: its plans are only counted\n"
		"       POLICY@CGROUP     active for the memory of a cgroup (and its descendants)\n"
		"       POLICY@CGROUP:shadow\n"
		"       e.g. threshold,pct9=50@/sys/fs/cgroup/b   conservative@b:shadow\n"
		"  Attaches the ARMs (and detaches them at the end, unless --keep); with\n"
		"  none, compares what is attached.  Every --interval (5 s) it prints what\n"
		"  each policy and the kernel counted since the start, side by side, and\n"
		"  the folio sizes of each cgroup's anonymous memory; at SIGINT, SIGTERM or\n"
		"  after --duration, the final table.\n"
		"  --json       only one JSON object, at the end\n"
		"  --prom FILE  write the counters (absolute) for node_exporter's textfile\n"
		"               collector, every interval and at the end\n"
		"  --keep       leave the ARMs attached at the end\n");
}

/* Redraw in place on a terminal that can; a log gets one table after another. */
static bool can_redraw(void)
{
	const char *term = getenv("TERM");

	return isatty(STDOUT_FILENO) && term && *term && strcmp(term, "dumb");
}

static void show(struct ab *ab, const char *fmt, double secs)
{
	if (can_redraw())
		fputs("\033[H\033[2J", stdout);
	printf(fmt, secs);
	print_table(stdout, ab);
	print_workload(stdout, ab);
	fflush(stdout);
}

static void resample(struct ab *ab)
{
	int err = sample(ab, false);

	if (err && !ab->warned) {
		note("ab: cannot read %s: %s (the values are the last seen)", POLICIES,
		     strerror(-err));
		ab->warned = true;
	}
}

/* The --prom file, as things are now: 0, or a negative errno after a message. */
static int write_prom(struct ab *ab)
{
	int err;

	if (!ab->prom)
		return 0;
	err = prom_write(ab);
	if (err)
		note("ab: cannot write %s: %s", ab->prom, strerror(-err));
	return err;
}

/*
 * Attach the ARMs, take the baseline, a table every interval; at the end
 * the final counters, then the detach, then the final workload and
 * output.  0, or the first negative errno after a message: what the run
 * attached and could not detach, the final --prom file, or the JSON on
 * stdout, went wrong.
 */
static int run(struct ab *ab)
{
	double next, end, t;
	long long tick;
	sigset_t orig;
	int i, err, ret = 0;

	for (i = 0; i < ab->nreqs && !stop; i++) {
		struct req *r = &ab->reqs[i];
		char where[PATH_MAX + 64];

		err = attach_policy(r->policy, r->nparams, r->params, &r->scope, &r->link_id);
		if (err) {
			if (i)
				note("ab: detaching the %d ARM%s attached before", i, i > 1 ? "s" : "");
			return err;
		}
		r->attached = true;
		note("ab: attached %s %s", r->policy, scope_where(&r->scope, where, sizeof(where)));
	}
	err = sample(ab, true);
	if (err)
		return fail(err, "ab: cannot read %s: %s", POLICIES, strerror(-err));
	for (i = 0; i < ab->nreqs; i++) {
		int k;

		for (k = 0; k < ab->narms; k++)
			if (ab->arms[k].cgid == ab->reqs[i].scope.cgid &&
			    !strcmp(ab->arms[k].mode, ab->reqs[i].scope.shadow ? "shadow" : "active"))
				ab->arms[k].req = i;
	}
	for (i = 0; i < ab->narms; i++)
		if (strcmp(ab->arms[i].mode, "kernel"))
			break;
	if (i == ab->narms && !stop)
		return fail(-ENOENT, "ab: no policy is attached: nothing to compare (name ARMs: mthp-policy ab POLICY[@CGROUP][:shadow]...)");
	ab->start = now();
	if (ab->prom) {
		scan_cgroups(ab, 1);
		err = prom_write(ab);
		if (err)
			return fail(err, "ab: cannot write %s: %s", ab->prom, strerror(-err));
	}
	if (!ab->json) {
		printf("ab: baseline taken; a table every %g s (Ctrl-C: the final one)\n",
		       ab->interval);
		fflush(stdout);
	}
	tick = 1;
	next = ab->start + ab->interval;
	end = ab->duration > 0 ? ab->start + ab->duration : 0;
	/*
	 * SIGINT, SIGTERM (and SIGHUP) are let in only while the run waits
	 * for the next tick, in the wait itself, and while it samples and
	 * scans (a scan stops at one): one that comes after the check of
	 * stop ends the wait at once.
	 */
	block_stop_signals(&orig);
	while (!stop) {
		t = now();
		if (end && t >= end)
			break;
		if (t < next) {
			wait_signal((end && end < next ? end : next) - t, &orig);
			continue;
		}
		/* The tick after now, computed: however late, no stepping to it. */
		tick = (long long)((t - ab->start) / ab->interval) + 1;
		next = ab->start + tick * ab->interval;
		if (next <= t)
			next = ab->start + ++tick * ab->interval;
		sigprocmask(SIG_SETMASK, &orig, NULL);
		resample(ab);
		if (!ab->json || ab->prom)
			scan_cgroups(ab, 1);
		if (!stop) {
			/* The tick this is for: 5 s, 10 s, ... */
			if (!ab->json)
				show(ab, "--- after %g s ---\n", (tick - 1) * ab->interval);
			write_prom(ab);
			/* Nobody reads any more (a closed pipe): wind up, and detach. */
			if (ferror(stdout))
				stop = stop + 1;
		}
		block_stop_signals(NULL);
	}
	sigprocmask(SIG_SETMASK, &orig, NULL);
	t = now() - ab->start;
	/* The final counters are these: taken before the ARMs go. */
	resample(ab);
	ret = detach_ours(ab, ab->keep);
	scan_cgroups(ab, 2);
	if (ab->json) {
		print_json(stdout, ab, t);
		errno = 0;
		if (fflush(stdout) || ferror(stdout)) {
			err = errno ? -errno : -EIO;
			fail(err, "ab: cannot write the JSON to standard output: %s",
			     strerror(-err));
			if (!ret)
				ret = err;
		}
	} else {
		show(ab, "=== final, %.0f s ===\n", t);
	}
	err = write_prom(ab);
	return ret ? ret : err;
}

int cmd_ab(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "prom", required_argument, NULL, 'p' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa;
	struct ab ab;
	int opt, i, j, err, ret;

	memset(&ab, 0, sizeof(ab));
	ab.interval = 5;
	optind = 0;	/* GNU getopt: start again, and move the ARMs to the end */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "i:d:jp:kh", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			err = parse_secs("ab", "--interval", optarg, &ab.interval);
			if (err)
				return err;
			if (ab.interval < 0.1)
				return fail(-EINVAL, "ab: --interval must be at least 0.1 s, not '%s'",
					    optarg);
			break;
		case 'd':
			err = parse_secs("ab", "--duration", optarg, &ab.duration);
			if (err)
				return err;
			break;
		case 'j':
			ab.json = true;
			break;
		case 'p':
			if (!optarg[0])
				return fail(-EINVAL, "ab: --prom needs a file");
			ab.prom = optarg;
			break;
		case 'k':
			ab.keep = true;
			break;
		case 'h':
			ab_usage(stdout);
			return 0;
		default:
			fail(-EINVAL, "ab: unknown option, or an option without its value: %s",
			     argv[optind - 1]);
			ab_usage(stderr);
			usage_error = true;
			return -EINVAL;
		}
	}
	ab.reqs = calloc(argc + 1, sizeof(*ab.reqs));
	if (!ab.reqs)
		return fail(-ENOMEM, "out of memory");
	for (i = optind; i < argc; i++) {
		ret = parse_arm(argv[i], &ab.reqs[ab.nreqs++]);
		if (ret)
			goto out;
	}
	for (i = 0; i < ab.nreqs; i++)
		for (j = 0; j < i; j++)
			if (ab.reqs[i].scope.cgid == ab.reqs[j].scope.cgid &&
			    ab.reqs[i].scope.shadow == ab.reqs[j].scope.shadow) {
				const struct scope *sc = &ab.reqs[i].scope;

				ret = fail(-EINVAL, "ab: ARMs '%s' and '%s' are both %s %s%s: one policy per scope and mode",
					   ab.reqs[j].arg, ab.reqs[i].arg,
					   sc->shadow ? "shadow" : "active",
					   sc->cgid ? "for cgroup " : "system-wide",
					   sc->cgid ? sc->display : "");
				goto out;
			}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* stop: the wait for a tick ends at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);	/* a closed pipe must not skip the detach */

	ret = run(&ab);
	/* What an early end of the run left attached (the run detaches at its end). */
	err = detach_ours(&ab, ab.keep && !ret);
	if (!ret)
		ret = err;
out:
	for (i = 0; i < ab.nreqs; i++)
		free(ab.reqs[i].buf);
	free(ab.reqs);
	free(ab.arms);
	free(ab.scans);
	return ret;
}
