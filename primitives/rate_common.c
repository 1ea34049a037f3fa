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

int rate_reconfigure(struct rate_word *a, bool set_rate, double rate,
		     unsigned burst,
		     void (*republish)(struct rate_word *a, struct rate_cfg *old,
				       struct rate_cfg *next))
{
	struct rate_cfg *old, *next;
	int rc = 0;

	pthread_mutex_lock(&a->set_lock);
	old = atomic_load(&a->cfg);
	if (!set_rate)
		rate = old->rate;
	else
		burst = old->b;
	if (!rate_valid(rate, burst))
		rc = EINVAL;
	else if (!(next = rate_cfg_new(rate, burst, old)))
		rc = ENOMEM;
	else
		republish(a, old, next);
	pthread_mutex_unlock(&a->set_lock);
	return rc;
}

void rate_cancel_word(pthread_mutex_t *lock, struct rate_cfg *_Atomic *cfg,
		      _Atomic int64_t *word, struct rate_reservation *res,
		      uint64_t now)
{
	struct rate_cfg *c;

	if (!res->n)
		return;
	pthread_mutex_lock(lock);
	c = atomic_load(cfg);
	if ((uintptr_t)c == res->priv[1] && c->T && now < res->at) {
		int64_t w = (int64_t)res->priv[0];

		atomic_compare_exchange_strong(word, &w,
			(int64_t)(w - (rate_i128)res->n * c->T));
	}
	pthread_mutex_unlock(lock);
	res->n = 0;
}

int rate_word_create(struct rate_word **out, double rate, unsigned burst,
		     const struct rate_clock *clk)
{
	struct rate_word *a;
	struct rate_cfg *c;

	if (!rate_valid(rate, burst))
		return EINVAL;
	a = aligned_alloc(CACHELINE, sizeof(*a));
	c = rate_cfg_new(rate, burst, NULL);
	if (!a || !c) {
		free(a);
		free(c);
		return ENOMEM;
	}
	a->clk = clk ? *clk : rate_clock_mono;
	a->mono = rate_clock_is_mono(&a->clk);
	a->epoch = a->clk.now(a->clk.arg);
	a->busted = false;
	pthread_mutex_init(&a->set_lock, NULL);
	atomic_init(&a->cfg, c);
	atomic_init(&a->v, 0);
	*out = a;
	return 0;
}

void rate_word_destroy(struct rate_word *a)
{
	rate_cfg_free_all(atomic_load(&a->cfg));
	pthread_mutex_destroy(&a->set_lock);
	free(a);
}

void rate_word_cancel(struct rate *r, struct rate_reservation *res)
{
	struct rate_word *a = (struct rate_word *)r;

	rate_cancel_word(&a->set_lock, &a->cfg, &a->v, res, rate_word_now(a));
}

int rate_word_wait(struct rate *r, unsigned n, const struct ctx *ctx,
		   const struct rate_ops *ops)
{
	struct rate_word *a = (struct rate_word *)r;

	if (n == 0 || n > rate_word_cfg(a)->b)
		return EINVAL;
	return rate_wait_reserved(r, n, ctx, ops, &a->clk);
}
