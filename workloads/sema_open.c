/* SPDX-License-Identifier: MIT */
/*
 * sema/open: open-loop arrivals at a semaphore.
 *
 * Requests arrive on a schedule that does not care how the semaphore is
 * doing: a fixed interval or a Poisson process at `rate` requests/s in
 * total, split evenly over the threads (each thread runs its own schedule
 * at rate / threads).  Each request acquires `weight` permits, holds them
 * for hold_ns of CPU work and releases.
 *
 * Latency is counted from the request's *intended* arrival to the moment
 * its permits were obtained.  When a stall delays a thread, every request
 * scheduled during the stall starts late and each is charged the full
 * delay, so the stall shows up in the percentiles as often as it hurt
 * (no coordinated omission).  Every request is timed: the schedule already
 * needs a clock read per request.
 *
 * Extra columns: offered_ops_s (the configured rate), achieved_ratio
 * (measured throughput / offered) and max_lag_ns, the largest lateness of
 * a request's start behind its schedule.
 */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "open_loop.h"
#include "sema.h"
#include "sema_wl.h"
#include "workload.h"

enum { P_RATE, P_ARRIVAL, P_PERMITS, P_WEIGHT, P_HOLD };
enum { X_OFFERED, X_ACHIEVED, X_MAX_LAG };

static const struct param_spec open_params[] = {
	[P_RATE] = { "rate", 100000, 1, 1e9, NULL,
		     "offered requests per second, all threads together" },
	[P_ARRIVAL] = { "arrival", ARRIVAL_POISSON, 0, 1, open_arrival_names,
			"inter-arrival times: fixed or poisson" },
	[P_PERMITS] = { "permits", 1, 1, SEMA_MAX_PERMITS, NULL,
			"permits in the semaphore" },
	[P_WEIGHT] = { "weight", 1, 1, SEMA_MAX_PERMITS, NULL,
		       "permits taken by each request" },
	[P_HOLD] = { "hold_ns", 1000, 0, 1e9, NULL,
		     "CPU work done while holding the permits" },
	{ 0 },
};

static const char *const open_extras[] = {
	[X_OFFERED] = "offered_ops_s",
	[X_ACHIEVED] = "achieved_ratio",
	[X_MAX_LAG] = "max_lag_ns",
	NULL,
};

struct open {
	struct sema_wl sw;
	unsigned weight;
	uint64_t hold_iters;
	struct open_sched sched;	/* per thread: rate / threads */
};

static const char *open_check(const struct impl_info *impl,
			      const double *param)
{
	return sema_wl_check(impl, param[P_PERMITS], param[P_WEIGHT]);
}

static int open_setup(struct trial *t)
{
	struct open *o = calloc(1, sizeof(*o));
	int rc;

	if (!o)
		return ENOMEM;
	o->weight = (unsigned)t->param[P_WEIGHT];
	o->hold_iters = work_iters_for((uint64_t)t->param[P_HOLD]);
	o->sched.mean_gap_ns = 1e9 * t->nthreads / t->param[P_RATE];
	o->sched.poisson = t->param[P_ARRIVAL] == ARRIVAL_POISSON;
	rc = sema_wl_create(&o->sw, t, t->param[P_PERMITS]);
	if (rc) {
		free(o);
		return rc;
	}
	t->state = o;
	return 0;
}

static void open_thread(struct worker *w)
{
	struct open *o = w->trial->state;
	const struct sema_ops *ops = o->sw.ops;
	uint64_t next = now_ns() + open_gap(w, &o->sched), max_lag = 0;
	enum phase seen = PHASE_WARMUP;

	while (worker_running(w)) {
		uint64_t now, got;

		if (w->phase != seen) {
			seen = w->phase;
			max_lag = 0;
		}
		if (!(now = open_wait(w, next)))
			continue;	/* the phase changed while asleep */
		if (now - next > max_lag)
			max_lag = now - next;
		if (unlikely(ops->acquire(o->sw.s, o->weight, NULL))) {
			w->errors++;
			next += open_gap(w, &o->sched);
			continue;
		}
		got = now_ns();
		worker_record(w, got - next);
		work_iters(o->hold_iters);
		ops->release(o->sw.s, o->weight);
		w->ops++;
		next += open_gap(w, &o->sched);
	}
	w->extra[X_MAX_LAG] = (double)max_lag;
}

static void open_finish(struct trial *t, struct trial_extra *x)
{
	struct open *o = t->state;
	double ops = 0, lag = 0;

	for (unsigned i = 0; i < t->nthreads; i++) {
		ops += (double)t->workers[i].ops;
		if (t->workers[i].extra[X_MAX_LAG] > lag)
			lag = t->workers[i].extra[X_MAX_LAG];
	}
	x->v[X_OFFERED] = t->param[P_RATE];
	x->v[X_ACHIEVED] = ops / ((double)t->measure_ns / 1e9) / t->param[P_RATE];
	x->v[X_MAX_LAG] = lag;
	sema_wl_verify(t, &o->sw);
}

static void open_teardown(struct trial *t)
{
	struct open *o = t->state;

	sema_wl_destroy(&o->sw);
	free(o);
}

const struct workload sema_open_workload = {
	.name = "sema/open",
	.family = "sema",
	.desc = "open loop: fixed or Poisson arrivals, latency from intended start",
	.params = open_params,
	.extras = open_extras,
	.check = open_check,
	.setup = open_setup,
	.thread = open_thread,
	.finish = open_finish,
	.teardown = open_teardown,
};
