// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kselftest.h"
#include "watchdog.h"

static const char *test_name, *stuck_msg;
static void (*dump_fn)(bool stuck);
static void (*bail_fn)(void);
static char alarm_msg[128];	/* formatted before: the handler only writes it */

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watch_cond;
static int part_done;
static double watch_soft, watch_hard;	/* CLOCK_MONOTONIC deadlines */

static void on_alarm(int sig)
{
	ssize_t ignored;

	(void)sig;
	ignored = write(STDOUT_FILENO, alarm_msg, strlen(alarm_msg));
	(void)ignored;
	bail_fn();
}

void watch_init(const char *name, const char *stuck, void (*dump)(bool stuck),
		void (*bail)(void))
{
	pthread_condattr_t attr;

	test_name = name;
	stuck_msg = stuck;
	dump_fn = dump;
	bail_fn = bail;
	snprintf(alarm_msg, sizeof(alarm_msg),
		 "Bail out! %s: still running past its time limit\n", name);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&watch_cond, &attr);
	signal(SIGALRM, on_alarm);
}

/* The one-letter state of a task (R, S, D, ...), from its stat. */
static char task_state(const char *path)
{
	char buf[512], *p;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	/* The name in parentheses may hold anything: the state follows the last ')'. */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] ? p[2] : '?';
}

void watch_dump_tasks(pid_t pid, const char *who, unsigned int flags)
{
	char dir[64], path[384], line[512], state[16] = "";	/* a d_name is up to 255 */
	pid_t self = (pid_t)syscall(SYS_gettid);
	struct dirent *de;
	FILE *f;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    ((flags & WATCH_NOT_SELF) && atoi(de->d_name) == self))
			continue;
		if (flags & WATCH_STATE) {
			snprintf(path, sizeof(path), "%s/%s/stat", dir, de->d_name);
			snprintf(state, sizeof(state), ", state %c", task_state(path));
		}
		ksft_print_msg("%s%stask %s%s, in the kernel at:\n", who ? who : "", who ? " " : "",
			       de->d_name, state);
		snprintf(path, sizeof(path), "%s/%s/stack", dir, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		/* One message per line, so that each stays a TAP comment. */
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (line[0])
				ksft_print_msg("  %s\n", line);
		}
		fclose(f);
	}
	closedir(d);
}

/*
 * A part past its soft deadline is slow (a loaded host, a debug kernel):
 * say where its tasks are and go on.  Past the hard one it is stuck: say
 * where again (a stack that has not moved is a hang), and fail.
 */
static void *watchdog_fn(void *arg)
{
	struct timespec ts;
	bool late = false;

	(void)arg;
	pthread_mutex_lock(&watch_lock);
	while (!part_done) {
		double t = late ? watch_hard : watch_soft;

		ts.tv_sec = (time_t)t;
		ts.tv_nsec = (long)((t - ts.tv_sec) * 1e9);
		if (pthread_cond_timedwait(&watch_cond, &watch_lock, &ts) != ETIMEDOUT ||
		    part_done)
			continue;
		pthread_mutex_unlock(&watch_lock);
		ksft_print_msg("%s; our tasks:\n", late ? "stuck" : "running late");
		dump_fn(late);
		if (late) {
			ksft_print_msg("Bail out! %s: %s\n", test_name, stuck_msg);
			bail_fn();
		}
		late = true;
		pthread_mutex_lock(&watch_lock);
	}
	pthread_mutex_unlock(&watch_lock);
	return NULL;
}

int watch_start(pthread_t *tid, double t0, int secs)
{
	part_done = 0;
	/* The tail is a second or two; a loaded debug kernel took 77 s once. */
	watch_soft = t0 + secs + 45;
	watch_hard = t0 + secs + 200;
	if (pthread_create(tid, NULL, watchdog_fn, NULL))
		return -1;
	alarm(secs + 260);
	return 0;
}

void watch_end(pthread_t tid)
{
	pthread_mutex_lock(&watch_lock);
	part_done = 1;
	pthread_cond_signal(&watch_cond);
	pthread_mutex_unlock(&watch_lock);
	pthread_join(tid, NULL);
	alarm(0);
}
