/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The watchdog of the racing tests: a thread that says where each task is
 * in the kernel when a part runs late, and fails the test when it is
 * stuck; SIGALRM is the last net, if that thread is stuck too.
 */
#ifndef MTHP_WATCHDOG_H
#define MTHP_WATCHDOG_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

/*
 * Once, before the first part; installs the SIGALRM handler too.  @name is
 * the test's, for its "Bail out!" lines; @stuck the rest of the line when
 * stuck.  @dump prints the test's tasks after a "running late; our tasks:"
 * or "stuck; ..." line.  @bail ends the test's helpers, restores the knobs
 * and _exit()s: async-signal-safe.
 */
void watch_init(const char *name, const char *stuck, void (*dump)(bool stuck),
		void (*bail)(void));

/*
 * Watch a part of @secs seconds that started at @t0 (mono_now()): a
 * report after 45 s more, a failure after 200 s more, SIGALRM after 260 s.
 * 0, or -1 if the thread could not be started.
 */
int watch_start(pthread_t *tid, double t0, int secs);
void watch_end(pthread_t tid);

/* What watch_dump_tasks() prints of each task besides its kernel stack. */
#define WATCH_STATE	1U	/* its state (R, S, D, ...) */
#define WATCH_NOT_SELF	2U	/* not the calling thread (the watchdog) */

/*
 * Each task of process @pid: "[<who> ]task <tid>, ..., in the kernel at:",
 * then its kernel stack, one TAP comment a line.
 */
void watch_dump_tasks(pid_t pid, const char *who, unsigned int flags);

#endif
