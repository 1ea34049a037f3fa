/* SPDX-License-Identifier: MIT */
/*
 * rate/gcra-atomic: GCRA (the generic cell rate algorithm, virtual
 * scheduling), lock-free, in one 64-bit word.
 *
 * The word is the theoretical arrival time TAT (picoseconds since the
 * limiter was created, signed).  With tolerance tau = (b - 1) * T, an
 * event of weight n at t conforms iff
 *
 *	t >= TAT - tau - (n - 1) * T		(i.e. t >= TAT - (b - n) * T)
 *
 * and then TAT' = max(TAT, t) + n * T, in one compare-and-swap; a CAS that
 * fails retries with the value it found.  The limiter starts with TAT =
 * its creation time (full: b events conform at once).
 *
 * GCRA and the token bucket are the same rule in two coordinates (ITU-T
 * I.371): TAT = Z + b * T, where Z is tb-atomic's "instant the credit was
 * zero", and the conformance test is credit(t) >= n * T rewritten.  Both
 * are kept to show that, once both are lock-free, the choice of
 * coordinates costs nothing: the same load, compare and CAS.  (The one
 * practical difference: TAT starts at 0, so a huge b * T needs no clamp
 * at creation.)  A late t (earlier than one others already used) only
 * conforms less: it never moves TAT back.
 *
 * reserve() takes n * T whatever the time, so TAT may run ahead; the
 * events may happen at TAT - (b - n) * T.  Rate, burst, set_rate,
 * set_burst, the LOCKED window, the re-check of the configuration after
 * the CAS (burning what a CAS under a changed configuration took) and the
 * cancel rule are exactly tb-atomic's (see rate_tb_atomic.c), in TAT
 * coordinates: credit(t) = min(b * T, t - TAT + b * T).
 *
 * Range: signed 64-bit picoseconds from creation, about 106 days; past
 * that t is clamped (no more admissions) and a reservation that would end
 * past it is refused with EINVAL.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "clock.h"
#include "rate.h"
#include "rate_impl.h"

#define LOCKED INT64_MIN

struct gcra_atomic {
	_Atomic int64_t tat cacheline_aligned;
	struct rate_cfg *_Atomic cfg cacheline_aligned;
	uint64_t epoch;
	struct rate_clock clk;
	bool mono;
	pthread_mutex_t set_lock;
};

#define to_ga(r) ((struct gcra_atomic *)(r))

static inline int64_t clamp64(rate_i128 v)
{
	return v <= LOCKED ? LOCKED + 1 : v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static inline uint64_t ga_now(const struct gcra_atomic *a)
{
	return a->mono ? mono_ns() : a->clk.now(a->clk.arg);
}

static inline struct rate_cfg *cfg_of(struct gcra_atomic *a)
{
	return atomic_load_explicit(&a->cfg, memory_order_acquire);
}

static int ga_create(struct rate **out, double rate, unsigned burst,
		     const struct rate_clock *clk)
{
	struct gcra_atomic *a;
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
	atomic_init(&a->tat, 0);	/* now: full */
	*out = (struct rate *)a;
	return 0;
}

static void ga_destroy(struct rate *r)
{
	struct gcra_atomic *a = to_ga(r);

	rate_cfg_free_all(atomic_load(&a->cfg));
	pthread_mutex_destroy(&a->set_lock);
	free(a);
}

/*
 * Take n at t: 0 (with *cp the configuration, *tatp the TAT it left and
 * *atp when the events conform), EAGAIN or EINVAL.  `debt` (reserve)
 * takes whatever the time.
 */
static int take(struct gcra_atomic *a, unsigned n, uint64_t t, bool debt,
		struct rate_cfg **cp, int64_t *tatp, rate_i128 *atp)
{
	int64_t tp = clamp64(rate_ps_since(a->epoch, t));

	for (;;) {
		struct rate_cfg *c = cfg_of(a);
		int64_t tat = atomic_load_explicit(&a->tat, memory_order_relaxed);
		rate_i128 need, next, conform;

		if (n == 0 || n > c->b)
			return EINVAL;
		*cp = c;
		if (!c->T)
			return 0;
		need = (rate_i128)n * c->T;
		for (;;) {
			if (tat == LOCKED) {
				cpu_relax();
				tat = atomic_load_explicit(&a->tat, memory_order_relaxed);
				continue;
			}
			/* TAT - tau - (n - 1) * T */
			conform = (rate_i128)tat - (c->bT - need);
			if (!debt && tp < conform)
				return EAGAIN;
			next = (tat > tp ? tat : tp) + need;
			if (next > INT64_MAX)
				return debt ? EINVAL : EAGAIN;
			if (atomic_compare_exchange_weak(&a->tat, &tat, (int64_t)next))
				break;
		}
		/* Same configuration: the CAS was on its state.  Otherwise
		 * what it took is burnt (stricter) and we start again. */
		if (cfg_of(a) == c) {
			*tatp = (int64_t)next;
			*atp = conform;
			return 0;
		}
	}
}

static int ga_allow(struct rate *r, unsigned n)
{
	struct gcra_atomic *a = to_ga(r);
	struct rate_cfg *c;
	int64_t tat;
	rate_i128 at;

	return take(a, n, ga_now(a), false, &c, &tat, &at);
}

static int ga_reserve(struct rate *r, unsigned n, struct rate_reservation *res)
{
	struct gcra_atomic *a = to_ga(r);
	uint64_t t = ga_now(a);
	struct rate_cfg *c;
	int64_t tat = 0;
	rate_i128 at = 0;
	int rc = take(a, n, t, true, &c, &tat, &at);

	if (rc)
		return rc;
	*res = (struct rate_reservation){ .at = t, .made = t, .n = n };
	if (c->T && at > rate_ps_since(a->epoch, t))
		res->at = rate_ns_at(a->epoch, at);
	res->priv[0] = (uint64_t)tat;
	res->priv[1] = (uintptr_t)c;
	return 0;
}

static void ga_cancel(struct rate *r, struct rate_reservation *res)
{
	struct gcra_atomic *a = to_ga(r);
	struct rate_cfg *c;

	if (!res->n)
		return;
	pthread_mutex_lock(&a->set_lock);
	c = cfg_of(a);
	if ((uintptr_t)c == res->priv[1] && c->T && ga_now(a) < res->at) {
		int64_t tat = (int64_t)res->priv[0];

		atomic_compare_exchange_strong(&a->tat, &tat,
			(int64_t)(tat - (rate_i128)res->n * c->T));
	}
	pthread_mutex_unlock(&a->set_lock);
	res->n = 0;
}

static int ga_wait(struct rate *r, unsigned n, const struct ctx *ctx)
{
	struct gcra_atomic *a = to_ga(r);

	if (n == 0 || n > cfg_of(a)->b)
		return EINVAL;
	return rate_wait_reserved(r, n, ctx, &rate_gcra_atomic_ops, &a->clk);
}

/*
 * Publish configuration `next` with TAT rewritten for it (credit(now) kept,
 * rescaled to the new T, capped at the smaller burst): under set_lock, the
 * word LOCKED from the exchange to the final store.
 */
static void republish(struct gcra_atomic *a, struct rate_cfg *old,
		      struct rate_cfg *next)
{
	int64_t tat = atomic_exchange(&a->tat, LOCKED);
	int64_t tp = clamp64(rate_ps_since(a->epoch, ga_now(a)));
	rate_i128 credit, tn;

	if (!old->T || !next->T) {
		tn = tp;		/* from infinite: full */
	} else {
		credit = (rate_i128)tp - tat + old->bT;
		if (credit > old->bT)
			credit = old->bT;
		if (next->T != old->T)
			credit = rate_scale(credit, old->T, next->T);
		if (credit > next->bT)
			credit = next->bT;
		tn = (rate_i128)tp - credit + next->bT;
	}
	atomic_store_explicit(&a->cfg, next, memory_order_release);
	atomic_store_explicit(&a->tat, clamp64(tn), memory_order_release);
}

static int ga_set_rate(struct rate *r, double rate)
{
	struct gcra_atomic *a = to_ga(r);
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

static int ga_set_burst(struct rate *r, unsigned burst)
{
	struct gcra_atomic *a = to_ga(r);
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

const struct rate_ops rate_gcra_atomic_ops = {
	.info = {
		.name = "gcra-atomic",
		.desc = "GCRA virtual scheduling: one TAT word, one CAS",
	},
	.create = ga_create,
	.destroy = ga_destroy,
	.allow = ga_allow,
	.reserve = ga_reserve,
	.cancel = ga_cancel,
	.wait = ga_wait,
	.set_rate = ga_set_rate,
	.set_burst = ga_set_burst,
};
