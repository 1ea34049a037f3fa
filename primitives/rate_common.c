/* SPDX-License-Identifier: MIT */
/*
 * What every rate limiter shares: the emission interval in picoseconds,
 * the validity of a configuration, and the real clock; and (rate_impl.h)
 * the configuration objects and the one wait().
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "chaos.h"
#include "clock.h"
#include "futex.h"
#include "rate.h"
#include "rate_impl.h"

static uint64_t mono_now(void *arg)
{
	(void)arg;
	return mono_ns();
}

const struct rate_clock rate_clock_mono = { mono_now, NULL };

bool rate_valid(double rate, unsigned burst)
{
	if (burst < 1 || burst > RATE_MAX_BURST || isnan(rate) || rate <= 0)
		return false;
	/* T must fit: at least 1 ps (1e12/s), at most about 213 days. */
	return isinf(rate) || (rate <= 1e12 && 1e12 / rate < 1.8e19);
}

uint64_t rate_interval_ps(double rate)
{
	double t;
	uint64_t ps;

	if (isinf(rate) && rate > 0)
		return 0;
	if (!(rate > 0) || rate > 1e12)
		return 0;
	t = 1e12 / rate;
	if (t >= 1.8e19)
		return 0;
	ps = (uint64_t)t;
	/* Round up: a limiter may only ever be stricter than its rate. */
	if ((double)ps < t)
		ps++;
	return ps ? ps : 1;
}

struct rate_cfg *rate_cfg_new(double rate, unsigned burst, struct rate_cfg *older)
{
	struct rate_cfg *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	c->T = rate_interval_ps(rate);
	c->b = burst;
	c->rate = rate;
	c->bT = (rate_i128)c->T * burst;
	c->older = older;
	return c;
}

void rate_cfg_free_all(struct rate_cfg *c)
{
	while (c) {
		struct rate_cfg *o = c->older;

		free(c);
		c = o;
	}
}

/* The sleeper's context was cancelled: change its word and wake it. */
static void sleeper_cancelled(struct ctx_hook *h, struct ctx *c)
{
	_Atomic uint32_t *word = h->arg;

	(void)c;
	atomic_fetch_add(word, 1);
	futex_wake(word, 1);
}

int rate_wait_reserved(struct rate *r, unsigned n, const struct ctx *cctx,
		       const struct rate_ops *ops, const struct rate_clock *clk)
{
	struct ctx *ctx = (struct ctx *)cctx;
	struct rate_reservation res;
	uint64_t now, wake, deadline = ctx_deadline(ctx);
	_Atomic uint32_t word = 0;
	struct ctx_hook hook;
	bool hooked = false;
	int rc;

	/* Already cancelled: fail without taking anything. */
	if ((rc = ctx_err(ctx)))
		return rc;
	if ((rc = ops->reserve(r, n, &res)))
		return rc;
	now = clk->now(clk->arg);
	if (res.at <= now)
		return 0;
	/* When to wake, in CLOCK_MONOTONIC (what deadlines and futexes speak). */
	wake = rate_clock_is_mono(clk) ? res.at : mono_ns() + (res.at - now);
	if (deadline && deadline < wake) {
		ops->cancel(r, &res);
		return ETIMEDOUT;
	}
	if (ctx_cancellable(ctx)) {
		hook = (struct ctx_hook){ .fn = sleeper_cancelled, .arg = &word };
		hooked = !ctx->ops->after_func(ctx, &hook);
	}
	/*
	 * Sleep to RATE_SPIN_NS before the time, then spin: a timed sleep on
	 * a VM wakes tens of microseconds late, which at 100k/s is several
	 * whole intervals.  The spin polls only the clock and the context.
	 */
	for (;;) {
		uint32_t seen = atomic_load(&word);
		uint64_t t = mono_ns();

		/* The time has come: a cancellation now is too late. */
		if (t >= wake) {
			rc = 0;
			break;
		}
		if ((rc = ctx_err(ctx)))
			break;
		if (wake - t > RATE_SPIN_NS) {
			chaos_point();
			futex_wait(&word, seen, wake - RATE_SPIN_NS);
		} else {
			cpu_relax();
		}
	}
	if (hooked)
		ctx->ops->stop(ctx, &hook);
	if (rc)
		ops->cancel(r, &res);
	return rc;
}
