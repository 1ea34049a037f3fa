/* SPDX-License-Identifier: MIT */
/*
 * rate/shaping: policing against shaping, seen in the departures.
 *
 * One thread is an open-loop source: every period_ns it issues a burst of
 * burst_in arrivals at once, so the average (burst_in / period_ns) may sit
 * below the rate while each burst exceeds it.  Each arrival calls
 * reserve(1) and the event departs at res.at (at once if that is not in
 * the future); an implementation that cannot reserve (no_reserve) is
 * called with wait(1) and the event departs when it returns, which blocks
 * the source like a real caller would (its later arrivals keep their
 * intended times).
 *
 * The latency histogram holds the inter-departure times: departure k
 * minus departure k - 1, in departure order (one source, so departures
 * come in order).  Policing (tb-*, gcra-*) lets a burst through when it
 * has credit: gaps near 0 inside a burst, then the idle rest of the
 * period.  Shaping (lb-queue) spaces every departure by T = 1/rate.
 *
 * Extra columns (measured phase): gap_p1_ns, gap_p50_ns, gap_p99_ns (the
 * inter-departure percentiles), share_close (the share of gaps shorter
 * than 0.5 T: ~0 when shaped), t_ns (T itself, for reading the others),
 * delay_p99_ns (departure minus the time reserve/wait was called: the
 * delay the limiter adds, without the source's own lag behind its
 * schedule), departures_s and offered_s.
 *
 * All times are the limiter's clock (CLOCK_MONOTONIC), since res.at is.
 * threads must be 1.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "hist.h"
#include "rate.h"
#include "workload.h"

enum { P_RATE, P_BURST, P_BURST_IN, P_PERIOD };
enum { X_P1, X_P50, X_P99, X_CLOSE, X_T, X_DELAY_P99, X_DEP_S, X_OFFERED_S };

static const struct param_spec shape_params[] = {
	[P_RATE] = { "rate", 100000, 10, 1e9, NULL, "limiter rate (events/s)", true },
	[P_BURST] = { "burst", 10, 1, 10000, NULL, "limiter burst (events)" },
	[P_BURST_IN] = { "burst_in", 10, 1, 10000, NULL,
			 "arrivals issued together every period_ns" },
	[P_PERIOD] = { "period_ns", 200000, 1000, 1e9, NULL,
		       "time between arrival bursts (ns)" },
	{ 0 },
};

static const char *const shape_extras[] = {
	[X_P1] = "gap_p1_ns",
	[X_P50] = "gap_p50_ns",
	[X_P99] = "gap_p99_ns",
	[X_CLOSE] = "share_close",
	[X_T] = "t_ns",
	[X_DELAY_P99] = "delay_p99_ns",
	[X_DEP_S] = "departures_s",
	[X_OFFERED_S] = "offered_s",
	NULL,
};

struct shape {
	const struct rate_ops *ops;
	struct rate *r;
	unsigned burst_in;
	uint64_t period;
	double t_ns;
	struct hist *gaps, *delay;	/* measured phase */
	uint64_t close, arrivals;
};

static const char *shape_check(const struct impl_info *impl, const double *param)
{
	(void)impl;
	if (!rate_valid(param[P_RATE], (unsigned)param[P_BURST]))
		return "rate and burst are not a valid limiter";
	return NULL;
}

static const char *shape_check_threads(const double *param, unsigned nthreads)
{
	(void)param;
	return nthreads != 1 ? "one source thread (threads = 1)" : NULL;
}

static void shape_free(struct shape *s)
{
	free(s->gaps);
	free(s->delay);
	free(s);
}

static int shape_setup(struct trial *t)
{
	struct shape *s = calloc(1, sizeof(*s));
	int rc = ENOMEM;

	if (!s)
		return ENOMEM;
	s->gaps = malloc(sizeof(*s->gaps));
	s->delay = malloc(sizeof(*s->delay));
	if (!s->gaps || !s->delay)
		goto fail;
	hist_init(s->gaps);
	hist_init(s->delay);
	s->ops = rate_ops_of(t->impl);
	s->burst_in = (unsigned)t->param[P_BURST_IN];
	s->period = (uint64_t)t->param[P_PERIOD];
	s->t_ns = 1e9 / t->param[P_RATE];
	rc = s->ops->create(&s->r, t->param[P_RATE], (unsigned)t->param[P_BURST], NULL);
	if (rc)
		goto fail;
	t->state = s;
	return 0;
fail:
	shape_free(s);
	return rc;
}

/* Wait on the limiter's clock until `next`; false if the phase changed. */
static bool mono_wait(struct worker *w, uint64_t next)
{
	uint64_t now;

	while ((now = mono_ns()) < next) {
		if (next - now > 100000) {
			uint64_t left = next - now - 50000;

			if (left > 10000000)
				left = 10000000;
			nanosleep(&(struct timespec){ 0, (long)left }, NULL);
			if (atomic_load_explicit(&w->trial->phase,
						 memory_order_relaxed) != (int)w->phase)
				return false;
		} else {
			cpu_relax();
		}
	}
	return true;
}

static void shape_thread(struct worker *w)
{
	struct shape *s = w->trial->state;
	const struct rate_ops *ops = s->ops;
	bool reserve = !ops->no_reserve;
	uint64_t next = mono_ns() + s->period, prev = 0;

	while (worker_running(w)) {
		bool measured;

		if (!mono_wait(w, next))
			continue;
		measured = w->phase == PHASE_MEASURE;
		for (unsigned i = 0; i < s->burst_in; i++) {
			struct rate_reservation res;
			uint64_t dep, call = mono_ns();
			int rc;

			if (reserve) {
				rc = ops->reserve(s->r, 1, &res);
				dep = rc ? 0 : res.at > res.made ? res.at : res.made;
			} else {
				rc = ops->wait(s->r, 1, NULL);
				dep = mono_ns();
			}
			if (unlikely(rc)) {
				w->errors++;
				continue;
			}
			if (measured) {
				s->arrivals++;
				if (prev) {
					uint64_t gap = dep > prev ? dep - prev : 0;

					worker_record(w, gap);
					hist_record(s->gaps, gap);
					s->close += (double)gap < 0.5 * s->t_ns;
				}
				hist_record(s->delay, dep > call ? dep - call : 0);
				w->ops++;
			}
			prev = dep;
		}
		next += s->period;
	}
}

static void shape_finish(struct trial *t, struct trial_extra *x)
{
	struct shape *s = t->state;
	double secs = (double)t->measure_ns / 1e9;
	bool any = s->gaps->count > 0;

	x->v[X_P1] = any ? (double)hist_percentile(s->gaps, 1) : 0;
	x->v[X_P50] = any ? (double)hist_percentile(s->gaps, 50) : 0;
	x->v[X_P99] = any ? (double)hist_percentile(s->gaps, 99) : 0;
	x->v[X_CLOSE] = any ? (double)s->close / (double)s->gaps->count : 0;
	x->v[X_T] = s->t_ns;
	x->v[X_DELAY_P99] = s->delay->count ? (double)hist_percentile(s->delay, 99) : 0;
	x->v[X_DEP_S] = (double)t->workers[0].ops / secs;
	x->v[X_OFFERED_S] = s->burst_in * 1e9 / (double)s->period;
}

static void shape_teardown(struct trial *t)
{
	struct shape *s = t->state;

	s->ops->destroy(s->r);
	shape_free(s);
}

const struct workload rate_shaping_workload = {
	.name = "rate/shaping",
	.family = "rate",
	.desc = "bursts of burst_in arrivals every period_ns through reserve(1) (or wait): inter-departure times, policing vs shaping",
	.lat_what = "inter-departure time",
	.params = shape_params,
	.extras = shape_extras,
	.check = shape_check,
	.check_threads = shape_check_threads,
	.setup = shape_setup,
	.thread = shape_thread,
	.finish = shape_finish,
	.teardown = shape_teardown,
};
