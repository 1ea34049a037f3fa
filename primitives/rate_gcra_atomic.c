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
 * set_burst, the RATE_WORD_LOCKED window, the re-check of the configuration after
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


#define to_ga(r) ((struct rate_word *)(r))

static int ga_create(struct rate **out, double rate, unsigned burst,
		     const struct rate_clock *clk)
{
	struct rate_word *a;
	int rc = rate_word_create(&a, rate, burst, clk);

	if (rc)
		return rc;
	atomic_init(&a->v, 0);	/* now: full */
	*out = (struct rate *)a;
	return 0;
}

static void ga_destroy(struct rate *r)
{
	rate_word_destroy(to_ga(r));
}

/*
 * Take n at t: 0 (with *cp the configuration, *tatp the TAT it left and
 * *atp when the events conform), EAGAIN or EINVAL.  `debt` (reserve)
 * takes whatever the time.
 */
static int take(struct rate_word *a, unsigned n, uint64_t t, bool debt,
		struct rate_cfg **cp, int64_t *tatp, rate_i128 *atp)
{
	int64_t tp = rate_clamp64(rate_ps_since(a->epoch, t));

	for (;;) {
		struct rate_cfg *c = rate_word_cfg(a);
		int64_t tat = atomic_load_explicit(&a->v, memory_order_relaxed);
		rate_i128 need, next, conform;

		if (n == 0 || n > c->b)
			return EINVAL;
		*cp = c;
		if (!c->T)
			return 0;
		need = (rate_i128)n * c->T;
		for (;;) {
			if (tat == RATE_WORD_LOCKED) {
				cpu_relax();
				tat = atomic_load_explicit(&a->v, memory_order_relaxed);
				continue;
			}
			/* TAT - tau - (n - 1) * T */
			conform = (rate_i128)tat - (c->bT - need);
			if (!debt && tp < conform)
				return EAGAIN;
			next = (tat > tp ? tat : tp) + need;
			if (next > INT64_MAX)
				return debt ? EINVAL : EAGAIN;
			if (atomic_compare_exchange_weak(&a->v, &tat, (int64_t)next))
				break;
		}
		/* Same configuration: the CAS was on its state.  Otherwise
		 * what it took is burnt (stricter) and we start again. */
		if (rate_word_cfg(a) == c) {
			*tatp = (int64_t)next;
			*atp = conform;
			return 0;
		}
	}
}

static int ga_allow(struct rate *r, unsigned n)
{
	struct rate_word *a = to_ga(r);
	struct rate_cfg *c;
	int64_t tat;
	rate_i128 at;

	return take(a, n, rate_word_now(a), false, &c, &tat, &at);
}

static int ga_reserve(struct rate *r, unsigned n, struct rate_reservation *res)
{
	struct rate_word *a = to_ga(r);
	uint64_t t = rate_word_now(a);
	struct rate_cfg *c;
	int64_t tat = 0;
	rate_i128 at = 0;
	int rc = take(a, n, t, true, &c, &tat, &at);

	if (rc)
		return rc;
	rate_reserved(res, t, n, c, a->epoch, at, tat);
	return 0;
}

static int ga_wait(struct rate *r, unsigned n, const struct ctx *ctx)
{
	return rate_word_wait(r, n, ctx, &rate_gcra_atomic_ops);
}

/*
 * Publish configuration `next` with TAT rewritten for it (credit(now) kept,
 * rescaled to the new T, capped at the smaller burst): under set_lock, the
 * word RATE_WORD_LOCKED from the exchange to the final store.
 */
static void republish(struct rate_word *a, struct rate_cfg *old,
		      struct rate_cfg *next)
{
	int64_t tat = atomic_exchange(&a->v, RATE_WORD_LOCKED);
	int64_t tp = rate_clamp64(rate_ps_since(a->epoch, rate_word_now(a)));
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
	atomic_store_explicit(&a->v, rate_clamp64(tn), memory_order_release);
}

static int ga_set_rate(struct rate *r, double rate)
{
	return rate_reconfigure(to_ga(r), true, rate, 0, republish);
}

static int ga_set_burst(struct rate *r, unsigned burst)
{
	return rate_reconfigure(to_ga(r), false, 0, burst, republish);
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
	.cancel = rate_word_cancel,
	.wait = ga_wait,
	.set_rate = ga_set_rate,
	.set_burst = ga_set_burst,
};
