/* SPDX-License-Identifier: MIT */
/*
 * rate/busted: a deliberately broken limiter, the negative control that
 * proves a rate checker can catch over-admission.  Registered with
 * IMPL_TEST_ONLY: never part of `all`, never benchmarked.
 *
 * It is tb-atomic (the token bucket as one time word Z, see
 * rate_tb_atomic.c) with the classic check-then-act bug: it loads Z,
 * decides, pauses a little (a stand-in for a preemption or a cache miss,
 * which widens the window so a checker catches it on every run), and then
 * STORES Z' instead of compare-and-swapping from the Z it decided on.  Two
 * callers that both saw the credit both get in, and one's update is lost,
 * so the limiter over-admits under contention.  Alone, nothing can come
 * between the load and the store: every single-threaded vector passes.
 * Everything is atomic, so ThreadSanitizer stays quiet: the bug is in the
 * protocol.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "clock.h"
#include "rate.h"
#include "rate_impl.h"

#define LOCKED INT64_MIN
#define WINDOW_PAUSES 64

struct busted {
	_Atomic int64_t z cacheline_aligned;
	struct rate_cfg *_Atomic cfg cacheline_aligned;
	uint64_t epoch;
	struct rate_clock clk;
	bool mono;
	pthread_mutex_t set_lock;
};

#define to_bu(r) ((struct busted *)(r))

static inline int64_t clamp64(rate_i128 v)
{
	return v <= LOCKED ? LOCKED + 1 : v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static inline uint64_t bu_now(const struct busted *a)
{
	return a->mono ? mono_ns() : a->clk.now(a->clk.arg);
}

static inline struct rate_cfg *cfg_of(struct busted *a)
{
	return atomic_load_explicit(&a->cfg, memory_order_acquire);
}

static int bu_create(struct rate **out, double rate, unsigned burst,
		     const struct rate_clock *clk)
{
	struct busted *a;
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

static void bu_destroy(struct rate *r)
{
	struct busted *a = to_bu(r);

	rate_cfg_free_all(atomic_load(&a->cfg));
	pthread_mutex_destroy(&a->set_lock);
	free(a);
}

/*
 * Take n at t: 0 (with *cp the configuration and *zp the Z it left), EAGAIN
 * or EINVAL.  `debt` (reserve) takes whatever the credit.
 */
static int take(struct busted *a, unsigned n, uint64_t t, bool debt,
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
			/* The bug: decide, wait, then store over whatever
			 * others wrote meanwhile. */
			for (int i = 0; i < WINDOW_PAUSES; i++)
				cpu_relax();
			atomic_store_explicit(&a->z, (int64_t)next, memory_order_relaxed);
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

static int bu_allow(struct rate *r, unsigned n)
{
	struct busted *a = to_bu(r);
	struct rate_cfg *c;
	int64_t z;

	return take(a, n, bu_now(a), false, &c, &z);
}

static int bu_reserve(struct rate *r, unsigned n, struct rate_reservation *res)
{
	struct busted *a = to_bu(r);
	uint64_t t = bu_now(a);
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

static void bu_cancel(struct rate *r, struct rate_reservation *res)
{
	struct busted *a = to_bu(r);
	struct rate_cfg *c;

	if (!res->n)
		return;
	pthread_mutex_lock(&a->set_lock);
	c = cfg_of(a);
	if ((uintptr_t)c == res->priv[1] && c->T && bu_now(a) < res->at) {
		int64_t z = (int64_t)res->priv[0];

		atomic_compare_exchange_strong(&a->z, &z,
			(int64_t)(z - (rate_i128)res->n * c->T));
	}
	pthread_mutex_unlock(&a->set_lock);
	res->n = 0;
}

static int bu_wait(struct rate *r, unsigned n, const struct ctx *ctx)
{
	struct busted *a = to_bu(r);

	if (n == 0 || n > cfg_of(a)->b)
		return EINVAL;
	return rate_wait_reserved(r, n, ctx, &rate_busted_ops, &a->clk);
}

/*
 * Publish configuration `next` with Z rewritten for it (credit(now) kept,
 * rescaled to the new T, capped at the smaller burst): under set_lock, the
 * word LOCKED from the exchange to the final store.
 */
static void republish(struct busted *a, struct rate_cfg *old,
		      struct rate_cfg *next)
{
	int64_t z = atomic_exchange(&a->z, LOCKED);
	int64_t tp = clamp64(rate_ps_since(a->epoch, bu_now(a)));
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

static int bu_set_rate(struct rate *r, double rate)
{
	struct busted *a = to_bu(r);
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

static int bu_set_burst(struct rate *r, unsigned burst)
{
	struct busted *a = to_bu(r);
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

const struct rate_ops rate_busted_ops = {
	.info = {
		.name = "busted",
		.desc = "tb-atomic with a plain store for the CAS: over-admits (negative control)",
		.flags = IMPL_TEST_ONLY,
	},
	.create = bu_create,
	.destroy = bu_destroy,
	.allow = bu_allow,
	.reserve = bu_reserve,
	.cancel = bu_cancel,
	.wait = bu_wait,
	.set_rate = bu_set_rate,
	.set_burst = bu_set_burst,
};
