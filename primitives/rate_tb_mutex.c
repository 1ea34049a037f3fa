/* SPDX-License-Identifier: MIT */
/*
 * rate/tb-mutex: the classic token bucket under a pthread mutex.
 *
 * State (all under the mutex, with the rate and the burst):
 *   credit  picoseconds of credit at `last` (n events need n * T); negative
 *           credit is what reservations took ahead of time
 *   last    the clock time (ns) credit was computed at
 *   gen     bumped by every change of the state, so cancel() can tell
 *           whether anything happened after a reservation
 *
 * At clock time t (a t before `last` counts as `last`: the state never
 * rewinds):  credit(t) = min(b * T, credit + (t - last)).  allow(n) admits
 * iff credit(t) >= n * T and then takes n * T; a refused call writes
 * nothing.  reserve(n) always takes n * T, possibly into debt, and says
 * when the credit would have covered it.  cancel() gives n * T back only if
 * gen is still what that reservation left (nothing was admitted, reserved,
 * refunded or reconfigured since) and its time has not come.
 *
 * set_rate keeps the tokens: credit(now) is rescaled by T_new / T_old,
 * rounded down (so debt rounds towards more debt).  From an infinite rate
 * the bucket starts full.  set_burst caps credit(now) at the new b * T.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "rate.h"
#include "rate_impl.h"

struct tb_mutex {
	pthread_mutex_t lock;
	rate_i128 credit;
	uint64_t last;
	uint64_t gen;
	uint64_t T;
	unsigned b;
	struct rate_clock clk;
} cacheline_aligned;

#define to_tm(r) ((struct tb_mutex *)(r))

static int tm_create(struct rate **out, double rate, unsigned burst,
		     const struct rate_clock *clk)
{
	struct tb_mutex *m;

	if (!rate_valid(rate, burst))
		return EINVAL;
	m = aligned_alloc(CACHELINE, sizeof(*m));
	if (!m)
		return ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->clk = clk ? *clk : rate_clock_mono;
	m->T = rate_interval_ps(rate);
	m->b = burst;
	m->credit = (rate_i128)m->T * burst;
	m->last = m->clk.now(m->clk.arg);
	m->gen = 0;
	*out = (struct rate *)m;
	return 0;
}

static void tm_destroy(struct rate *r)
{
	struct tb_mutex *m = to_tm(r);

	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Bring credit forward to t (under the lock); returns the time used. */
static uint64_t refill(struct tb_mutex *m, uint64_t t)
{
	rate_i128 cap = (rate_i128)m->T * m->b;

	if (t < m->last)
		t = m->last;
	m->credit += (rate_i128)(t - m->last) * RATE_PS_PER_NS;
	if (m->credit > cap)
		m->credit = cap;
	m->last = t;
	return t;
}

static int tm_allow(struct rate *r, unsigned n)
{
	struct tb_mutex *m = to_tm(r);
	rate_i128 need;
	int rc = EAGAIN;

	pthread_mutex_lock(&m->lock);
	if (n == 0 || n > m->b) {
		rc = EINVAL;
	} else if (!m->T) {
		rc = 0;
	} else {
		/* Refilling changes nothing a later call could tell apart,
		 * so a refused call leaves gen alone. */
		refill(m, m->clk.now(m->clk.arg));
		need = (rate_i128)n * m->T;
		if (m->credit >= need) {
			m->credit -= need;
			m->gen++;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int tm_reserve(struct rate *r, unsigned n, struct rate_reservation *res)
{
	struct tb_mutex *m = to_tm(r);
	uint64_t now, t;
	rate_i128 need;

	pthread_mutex_lock(&m->lock);
	if (n == 0 || n > m->b) {
		pthread_mutex_unlock(&m->lock);
		return EINVAL;
	}
	now = m->clk.now(m->clk.arg);
	*res = (struct rate_reservation){ .at = now, .made = now, .n = n };
	if (m->T) {
		t = refill(m, now);
		need = (rate_i128)n * m->T;
		if (m->credit < need)
			res->at = rate_ns_at(t, need - m->credit);
		m->credit -= need;
		res->priv[1] = m->T;
	}
	res->priv[0] = ++m->gen;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static void tm_cancel(struct rate *r, struct rate_reservation *res)
{
	struct tb_mutex *m = to_tm(r);

	if (!res->n)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->gen == res->priv[0] && m->T && m->T == res->priv[1] &&
	    m->clk.now(m->clk.arg) < res->at) {
		m->credit += (rate_i128)res->n * m->T;
		m->gen++;
	}
	pthread_mutex_unlock(&m->lock);
	res->n = 0;
}

static int tm_wait(struct rate *r, unsigned n, const struct ctx *ctx)
{
	struct tb_mutex *m = to_tm(r);
	unsigned b;

	pthread_mutex_lock(&m->lock);
	b = m->b;
	pthread_mutex_unlock(&m->lock);
	if (n == 0 || n > b)
		return EINVAL;
	return rate_wait_reserved(r, n, ctx, &rate_tb_mutex_ops, &m->clk);
}

static int tm_set_rate(struct rate *r, double rate)
{
	struct tb_mutex *m = to_tm(r);
	uint64_t T = rate_interval_ps(rate);

	pthread_mutex_lock(&m->lock);
	if (!rate_valid(rate, m->b)) {
		pthread_mutex_unlock(&m->lock);
		return EINVAL;
	}
	if (!m->T) {
		/* From an infinite rate: full. */
		m->credit = (rate_i128)T * m->b;
		m->last = m->clk.now(m->clk.arg);
	} else {
		refill(m, m->clk.now(m->clk.arg));
		m->credit = T ? rate_scale(m->credit, m->T, T) : 0;
	}
	m->T = T;
	m->gen++;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int tm_set_burst(struct rate *r, unsigned burst)
{
	struct tb_mutex *m = to_tm(r);
	rate_i128 cap;

	pthread_mutex_lock(&m->lock);
	if (burst < 1 || burst > RATE_MAX_BURST) {
		pthread_mutex_unlock(&m->lock);
		return EINVAL;
	}
	if (m->T)
		refill(m, m->clk.now(m->clk.arg));
	m->b = burst;
	cap = (rate_i128)m->T * burst;
	if (m->credit > cap)
		m->credit = cap;
	m->gen++;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

const struct rate_ops rate_tb_mutex_ops = {
	.info = {
		.name = "tb-mutex",
		.desc = "token bucket (credit, last) under a pthread mutex",
	},
	.create = tm_create,
	.destroy = tm_destroy,
	.allow = tm_allow,
	.reserve = tm_reserve,
	.cancel = tm_cancel,
	.wait = tm_wait,
	.set_rate = tm_set_rate,
	.set_burst = tm_set_burst,
};
