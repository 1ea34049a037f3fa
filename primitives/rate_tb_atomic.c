/* SPDX-License-Identifier: MIT */
/*
 * rate/tb-atomic: the token bucket, lock-free, in one 64-bit word.
 *
 * The word is the bucket's continuous state written as a time: Z, the
 * instant at which the credit was zero (picoseconds since the limiter was
 * created, signed).  Then
 *
 *	credit(t) = min(b * T, t - Z)
 *
 * and allow(n) at t admits iff credit(t) >= n * T, taking it with
 *
 *	Z' = max(Z, t - b * T) + n * T
 *
 * in one compare-and-swap; a CAS that fails retries with the value it
 * found.  Z only moves forward (cancel() excepted: it moves back exactly
 * what its reservation moved forward), and a caller whose t is late
 * (earlier than a t others already used) just computes less credit: it can
 * never rewind the state.  (Where (credit, last) would treat a late t as
 * `last`, the time form treats it as t: stricter, never looser.)
 * reserve() takes n * T whatever the credit, pushing Z past t (debt); the
 * events may happen at Z' (credit(Z') = n * T before they were taken).
 *
 * Rate and burst: an immutable struct rate_cfg read by pointer.
 * set_rate/set_burst (serialised by a mutex) swap the word to LOCKED,
 * publish the new configuration, then store Z in the new coordinates
 * (set_rate: credit(now) rescaled by T_new / T_old, rounded down;
 * set_burst: credit(now) capped at the smaller burst).  A caller loads the
 * configuration, then the word, CASes, then re-reads the configuration: if
 * it changed, the CAS may have been on a state of the new configuration
 * (the word can come back to a value it held before), so the caller
 * counts the credit it took as burnt and starts again.  That can only ever
 * make the limiter stricter.  Old configurations are freed at destroy.
 * A caller that finds LOCKED spins for the few instructions set_rate holds
 * it: that window is the one place the fast path is not lock-free.
 *
 * cancel() takes the configuration mutex (so no set_rate runs under it),
 * and refunds only if the configuration is the reservation's, its time has
 * not come and one CAS from exactly the Z' it left, back by n * T,
 * succeeds: anything admitted or reserved since moved Z further.
 *
 * Range: Z and t are signed 64-bit picoseconds from creation, about 106
 * days either way.  Past that, t is clamped (the limiter admits no more),
 * a burst deeper than that starts clamped (stricter), and a reservation
 * that would end past it is refused with EINVAL.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "clock.h"
#include "rate.h"
#include "rate_impl.h"

#define LOCKED INT64_MIN

struct tb_atomic {
	_Atomic int64_t z cacheline_aligned;
	struct rate_cfg *_Atomic cfg cacheline_aligned;
	uint64_t epoch;
	struct rate_clock clk;
	bool mono;
	pthread_mutex_t set_lock;
};

#define to_ta(r) ((struct tb_atomic *)(r))

static inline int64_t clamp64(rate_i128 v)
{
	return v <= LOCKED ? LOCKED + 1 : v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static inline uint64_t ta_now(const struct tb_atomic *a)
{
	return a->mono ? mono_ns() : a->clk.now(a->clk.arg);
}

static inline struct rate_cfg *cfg_of(struct tb_atomic *a)
{
	return atomic_load_explicit(&a->cfg, memory_order_acquire);
}

static int ta_create(struct rate **out, double rate, unsigned burst,
		     const struct rate_clock *clk)
{
	struct tb_atomic *a;
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
	pthread_mutex_init(&a->set_lock, NULL);
	atomic_init(&a->cfg, c);
	atomic_init(&a->z, clamp64(-c->bT));	/* full */
	*out = (struct rate *)a;
	return 0;
}

static void ta_destroy(struct rate *r)
{
	struct tb_atomic *a = to_ta(r);

	rate_cfg_free_all(atomic_load(&a->cfg));
	pthread_mutex_destroy(&a->set_lock);
	free(a);
}

/*
 * Take n at t: 0 (with *cp the configuration and *zp the Z it left), EAGAIN
 * or EINVAL.  `debt` (reserve) takes whatever the credit.
 */
static int take(struct tb_atomic *a, unsigned n, uint64_t t, bool debt,
		struct rate_cfg **cp, int64_t *zp)
{
	int64_t tp = clamp64(rate_ps_since(a->epoch, t));

	for (;;) {
		struct rate_cfg *c = cfg_of(a);
		int64_t z = atomic_load_explicit(&a->z, memory_order_relaxed);
		rate_i128 need, next;

		if (n == 0 || n > c->b)
			return EINVAL;
		*cp = c;
		if (!c->T)
			return 0;
		need = (rate_i128)n * c->T;
		for (;;) {
			if (z == LOCKED) {
				cpu_relax();
				z = atomic_load_explicit(&a->z, memory_order_relaxed);
				continue;
			}
			if (!debt && (rate_i128)tp - z < need)
				return EAGAIN;
			next = (rate_i128)tp - c->bT;
			next = (next > z ? next : z) + need;
			if (next > INT64_MAX)
				return debt ? EINVAL : EAGAIN;
			if (atomic_compare_exchange_weak(&a->z, &z, (int64_t)next))
				break;
		}
		/* Same configuration: the CAS was on its state.  Otherwise
		 * what it took is burnt (stricter) and we start again. */
		if (cfg_of(a) == c) {
			*zp = (int64_t)next;
			return 0;
		}
	}
}

static int ta_allow(struct rate *r, unsigned n)
{
	struct tb_atomic *a = to_ta(r);
	struct rate_cfg *c;
	int64_t z;

	return take(a, n, ta_now(a), false, &c, &z);
}

static int ta_reserve(struct rate *r, unsigned n, struct rate_reservation *res)
{
	struct tb_atomic *a = to_ta(r);
	uint64_t t = ta_now(a);
	struct rate_cfg *c;
	int64_t z = 0;
	int rc = take(a, n, t, true, &c, &z);

	if (rc)
		return rc;
	*res = (struct rate_reservation){ .at = t, .made = t, .n = n };
	if (c->T && z > rate_ps_since(a->epoch, t))
		res->at = rate_ns_at(a->epoch, z);
	res->priv[0] = (uint64_t)z;
	res->priv[1] = (uintptr_t)c;
	return 0;
}

static void ta_cancel(struct rate *r, struct rate_reservation *res)
{
	struct tb_atomic *a = to_ta(r);
	struct rate_cfg *c;

	if (!res->n)
		return;
	pthread_mutex_lock(&a->set_lock);
	c = cfg_of(a);
	if ((uintptr_t)c == res->priv[1] && c->T && ta_now(a) < res->at) {
		int64_t z = (int64_t)res->priv[0];

		atomic_compare_exchange_strong(&a->z, &z,
			(int64_t)(z - (rate_i128)res->n * c->T));
	}
	pthread_mutex_unlock(&a->set_lock);
	res->n = 0;
}

static int ta_wait(struct rate *r, unsigned n, const struct ctx *ctx)
{
	struct tb_atomic *a = to_ta(r);

	if (n == 0 || n > cfg_of(a)->b)
		return EINVAL;
	return rate_wait_reserved(r, n, ctx, &rate_tb_atomic_ops, &a->clk);
}

/*
 * Publish configuration `next` with Z rewritten for it (credit(now) kept,
 * rescaled to the new T, capped at the smaller burst): under set_lock, the
 * word LOCKED from the exchange to the final store.
 */
static void republish(struct tb_atomic *a, struct rate_cfg *old,
		      struct rate_cfg *next)
{
	int64_t z = atomic_exchange(&a->z, LOCKED);
	int64_t tp = clamp64(rate_ps_since(a->epoch, ta_now(a)));
	rate_i128 credit, zn;

	if (!old->T) {
		zn = (rate_i128)tp - next->bT;		/* from infinite: full */
	} else if (!next->T) {
		zn = tp;
	} else {
		credit = (rate_i128)tp - z;
		if (credit > old->bT)
			credit = old->bT;
		if (next->T != old->T)
			credit = rate_scale(credit, old->T, next->T);
		if (credit > next->bT)
			credit = next->bT;
		zn = (rate_i128)tp - credit;
	}
	atomic_store_explicit(&a->cfg, next, memory_order_release);
	atomic_store_explicit(&a->z, clamp64(zn), memory_order_release);
}

static int ta_set_rate(struct rate *r, double rate)
{
	struct tb_atomic *a = to_ta(r);
	struct rate_cfg *old, *next;

	pthread_mutex_lock(&a->set_lock);
	old = atomic_load(&a->cfg);
	if (!rate_valid(rate, old->b)) {
		pthread_mutex_unlock(&a->set_lock);
		return EINVAL;
	}
	next = rate_cfg_new(rate, old->b, old);
	if (!next) {
		pthread_mutex_unlock(&a->set_lock);
		return ENOMEM;
	}
	republish(a, old, next);
	pthread_mutex_unlock(&a->set_lock);
	return 0;
}

static int ta_set_burst(struct rate *r, unsigned burst)
{
	struct tb_atomic *a = to_ta(r);
	struct rate_cfg *old, *next;

	pthread_mutex_lock(&a->set_lock);
	old = atomic_load(&a->cfg);
	if (!rate_valid(old->rate, burst)) {
		pthread_mutex_unlock(&a->set_lock);
		return EINVAL;
	}
	next = rate_cfg_new(old->rate, burst, old);
	if (!next) {
		pthread_mutex_unlock(&a->set_lock);
		return ENOMEM;
	}
	republish(a, old, next);
	pthread_mutex_unlock(&a->set_lock);
	return 0;
}

const struct rate_ops rate_tb_atomic_ops = {
	.info = {
		.name = "tb-atomic",
		.desc = "token bucket as one time word Z (credit = t - Z), one CAS",
	},
	.create = ta_create,
	.destroy = ta_destroy,
	.allow = ta_allow,
	.reserve = ta_reserve,
	.cancel = ta_cancel,
	.wait = ta_wait,
	.set_rate = ta_set_rate,
	.set_burst = ta_set_burst,
};
