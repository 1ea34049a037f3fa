/* SPDX-License-Identifier: MIT */
/*
 * Open-loop arrivals, shared by the workloads that offer load on a
 * schedule that ignores how the system is doing (sema/open,
 * backpressure/overload).
 *
 * A schedule is a sequence of *intended* arrival times, fixed or Poisson
 * (exponential gaps) with a given mean gap.  The caller keeps the next
 * intended time and adds open_gap() to it after every arrival, whatever
 * happened to that arrival.  open_wait() waits until an intended time;
 * when it is already past (the caller fell behind, say blocked) it
 * returns at once, so the arrivals a stall delayed are all issued as soon
 * as it ends, each still carrying its own intended time: latency counted
 * from that time charges the stall to every one of them (no coordinated
 * omission).
 */
#ifndef CONTEND_OPEN_LOOP_H
#define CONTEND_OPEN_LOOP_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "clock.h"
#include "compiler.h"
#include "workload.h"

enum { ARRIVAL_FIXED, ARRIVAL_POISSON };

static const char *const open_arrival_names[] = { "fixed", "poisson", NULL };

/* Sleep only when the next arrival is further off than this; spin below. */
#define OPEN_SPIN_BELOW_NS 50000
#define OPEN_SLEEP_SLICE_NS 10000000

struct open_sched {
	double mean_gap_ns;
	bool poisson;
};

/* The gap to the next intended arrival. */
static inline uint64_t open_gap(struct worker *w, const struct open_sched *s)
{
	double u;

	if (!s->poisson)
		return (uint64_t)s->mean_gap_ns;
	/* Exponential inter-arrival: -mean * ln(U), U uniform on (0, 1]. */
	u = (double)((worker_rand(w) >> 11) + 1) * 0x1.0p-53;
	return (uint64_t)(-s->mean_gap_ns * log(u));
}

/*
 * Wait until now_ns() >= next: sleep while it is far off, then spin.
 * Returns the time it got there, or 0 when the trial's phase changed
 * while sleeping (the caller's loop re-checks worker_running() and calls
 * again).  Sleeps are at most OPEN_SLEEP_SLICE_NS, so a phase change is
 * seen within that.
 */
static inline uint64_t open_wait(struct worker *w, uint64_t next)
{
	uint64_t now = now_ns();

	while (now < next) {
		uint64_t left = next - now;

		if (left > OPEN_SPIN_BELOW_NS) {
			left -= OPEN_SPIN_BELOW_NS / 2;
			if (left > OPEN_SLEEP_SLICE_NS)
				left = OPEN_SLEEP_SLICE_NS;
			nanosleep(&(struct timespec){ 0, (long)left }, NULL);
			if (atomic_load_explicit(&w->trial->phase,
						 memory_order_relaxed) != (int)w->phase)
				return 0;
			now = now_ns();
			continue;
		}
		while ((now = now_ns()) < next)
			cpu_relax();
	}
	return now;
}

#endif
