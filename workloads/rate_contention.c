/* SPDX-License-Identifier: MIT */
/*
 * rate/contention: what one allow() costs when every thread hammers one
 * limiter in a closed loop.
 *
 * Each thread loops on allow(1) and nothing else.  Two regimes, chosen by
 * `rate` (the suites run both):
 *   rate far above the offered load (1e12/s, T = 1 ps: every call is
 *        admitted, yet the full arithmetic runs; INFINITY would let an
 *        implementation short-circuit): the pure cost of the call;
 *   rate below it (e.g. 100k/s): almost every call is rejected, the cost
 *        of saying no under contention, and whether the limiter still
 *        admits its rate while being hammered.
 *
 * Throughput (throughput_ops_s) is allow() calls per second, admitted or
 * not; rejected calls are counted in `shed`.  Latency is the time one
 * allow() took, sampled as in sema/closed (worker_sample: two clock reads
 * and a record kept under 1% of a call).
 *
 * Extra columns: admitted_s (admitted per second), shed_rate (rejected /
 * calls) and admitted_over_rate (admitted_s / rate: about 1 when the
 * limiter is saturated, far below 1 in the 1e12 regime where nobody can
 * offer that much).  Admissions while measuring must not exceed
 * burst + rate * T, give or take one call per thread straddling the
 * phase changes (a violation otherwise; a coarse check: rate/accuracy is
 * the exact one).
 */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "rate.h"
#include "workload.h"

enum { P_RATE, P_BURST };
enum { X_ADMITTED_S, X_SHED_RATE, X_ADM_OVER_RATE };

static const struct param_spec cont_params[] = {
	[P_RATE] = { "rate", 1e12, 1, 1e12, NULL,
		     "limiter rate (events/s); 1e12 = far above any offered load", true },
	[P_BURST] = { "burst", 100, 1, RATE_MAX_BURST, NULL, "limiter burst (events)" },
	{ 0 },
};

static const char *const cont_extras[] = {
	[X_ADMITTED_S] = "admitted_s",
	[X_SHED_RATE] = "shed_rate",
	[X_ADM_OVER_RATE] = "admitted_over_rate",
	NULL,
};

struct cont {
	const struct rate_ops *ops;
	struct rate *r;
};

static const char *cont_check(const struct impl_info *impl, const double *param)
{
	(void)impl;
	if (!rate_valid(param[P_RATE], (unsigned)param[P_BURST]))
		return "rate and burst are not a valid limiter";
	return NULL;
}

static int cont_setup(struct trial *t)
{
	struct cont *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return ENOMEM;
	c->ops = rate_ops_of(t->impl);
	rc = c->ops->create(&c->r, t->param[P_RATE], (unsigned)t->param[P_BURST], NULL);
	if (rc) {
		free(c);
		return rc;
	}
	t->state = c;
	return 0;
}

static void cont_thread(struct worker *w)
{
	struct cont *c = w->trial->state;
	int (*allow)(struct rate *, unsigned) = c->ops->allow;
	struct rate *r = c->r;

	while (worker_running(w)) {
		bool timed = worker_sample(w);
		uint64_t t0 = timed ? now_ns() : 0;
		int rc = allow(r, 1);

		if (timed)
			worker_record(w, now_ns() - t0);
		w->ops++;
		if (rc == EAGAIN)
			w->shed++;
		else if (unlikely(rc))
			w->errors++;
	}
}

static void cont_finish(struct trial *t, struct trial_extra *x)
{
	double secs = (double)t->measure_ns / 1e9, calls = 0, shed = 0, adm;
	double rate = t->param[P_RATE], burst = t->param[P_BURST];

	for (unsigned i = 0; i < t->nthreads; i++) {
		calls += (double)t->workers[i].ops;
		shed += (double)(t->workers[i].shed + t->workers[i].errors);
	}
	adm = calls - shed;
	/*
	 * The measured phase is a window: at most burst + rate * T, plus one
	 * call per thread that straddles the runner's start or stop reading
	 * of the clock (each thread's phase changes when it next looks).
	 */
	if (adm > (burst + rate * secs) * (1 + 1e-9) + t->nthreads)
		t->workers[0].violations++;
	x->v[X_ADMITTED_S] = adm / secs;
	x->v[X_SHED_RATE] = calls ? shed / calls : 0;
	x->v[X_ADM_OVER_RATE] = adm / secs / rate;
}

static void cont_teardown(struct trial *t)
{
	struct cont *c = t->state;

	c->ops->destroy(c->r);
	free(c);
}

const struct workload rate_contention_workload = {
	.name = "rate/contention",
	.family = "rate",
	.desc = "every thread on one limiter, allow(1) in a closed loop: calls/s, allow() latency, shed rate",
	.params = cont_params,
	.extras = cont_extras,
	.sampled = true,
	.check = cont_check,
	.setup = cont_setup,
	.thread = cont_thread,
	.finish = cont_finish,
	.teardown = cont_teardown,
};
