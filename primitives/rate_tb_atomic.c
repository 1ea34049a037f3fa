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
 * set_rate/set_burst (serialised by a mutex) swap the word to RATE_WORD_LOCKED,
 * publish the new configuration, then store Z in the new coordinates
 * (set_rate: credit(now) rescaled by T_new / T_old, rounded down;
 * set_burst: credit(now) capped at the smaller burst).  A caller loads the
 * configuration, then the word, CASes, then re-reads the configuration: if
 * it changed, the CAS may have been on a state of the new configuration
 * (the word can come back to a value it held before), so the caller
 * counts the credit it took as burnt and starts again.  That can only ever
 * make the limiter stricter.  Old configurations are freed at destroy.
 * A caller that finds RATE_WORD_LOCKED spins for the few instructions set_rate holds
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

#define BUSTED_PAUSES 64

#define to_ta(r) ((struct rate_word *)(r))

static int ta_create(struct rate **out, double rate, unsigned burst,
		     const struct rate_clock *clk)
{
	struct rate_word *a;
	int rc = rate_word_create(&a, rate, burst, clk);

	if (rc)
		return rc;
	atomic_init(&a->v, rate_clamp64(-rate_word_cfg(a)->bT));	/* full */
	*out = (struct rate *)a;
	return 0;
}

static void ta_destroy(struct rate *r)
{
	rate_word_destroy(to_ta(r));
}

/*
 * Take n at t: 0 (with *cp the configuration and *zp the Z it left), EAGAIN
 * or EINVAL.  `debt` (reserve) takes whatever the credit.
 */
static inline int take_(struct rate_word *a, unsigned n, uint64_t t,
			bool debt, struct rate_cfg **cp, int64_t *zp,
			const bool busted)
{
	int64_t tp = rate_clamp64(rate_ps_since(a->epoch, t));

	for (;;) {
		struct rate_cfg *c = rate_word_cfg(a);
		int64_t z = atomic_load_explicit(&a->v, memory_order_relaxed);
		rate_i128 need, next;

		if (n == 0 || n > c->b)
			return EINVAL;
		*cp = c;
		if (!c->T)
			return 0;
		need = (rate_i128)n * c->T;
		for (;;) {
			if (z == RATE_WORD_LOCKED) {
				cpu_relax();
				z = atomic_load_explicit(&a->v, memory_order_relaxed);
				continue;
			}
			if (!debt && (rate_i128)tp - z < need)
				return EAGAIN;
			next = (rate_i128)tp - c->bT;
			next = (next > z ? next : z) + need;
			if (next > INT64_MAX)
				return debt ? EINVAL : EAGAIN;
			if (busted) {
				/* rate/busted: decide, pause, then store over
				 * whatever others wrote meanwhile. */
				for (int i = 0; i < BUSTED_PAUSES; i++)
					cpu_relax();
				atomic_store_explicit(&a->v, (int64_t)next,
						      memory_order_relaxed);
				break;
			}
			if (atomic_compare_exchange_weak(&a->v, &z, (int64_t)next))
				break;
		}
		/* Same configuration: the CAS was on its state.  Otherwise
		 * what it took is burnt (stricter) and we start again. */
		if (rate_word_cfg(a) == c) {
			*zp = (int64_t)next;
			return 0;
		}
	}
}

static int take(struct rate_word *a, unsigned n, uint64_t t, bool debt,
		struct rate_cfg **cp, int64_t *zp)
{
	return a->busted ? take_(a, n, t, debt, cp, zp, true) :
			   take_(a, n, t, debt, cp, zp, false);
}

static int ta_allow(struct rate *r, unsigned n)
{
	struct rate_word *a = to_ta(r);
	struct rate_cfg *c;
	int64_t z;

	return take(a, n, rate_word_now(a), false, &c, &z);
}

static int ta_reserve(struct rate *r, unsigned n, struct rate_reservation *res)
{
	struct rate_word *a = to_ta(r);
	uint64_t t = rate_word_now(a);
	struct rate_cfg *c;
	int64_t z = 0;
	int rc = take(a, n, t, true, &c, &z);

	if (rc)
		return rc;
	rate_reserved(res, t, n, c, a->epoch, z, z);
	return 0;
}

static int ta_wait(struct rate *r, unsigned n, const struct ctx *ctx)
{
	return rate_word_wait(r, n, ctx, &rate_tb_atomic_ops);
}

/*
 * Publish configuration `next` with Z rewritten for it (credit(now) kept,
 * rescaled to the new T, capped at the smaller burst): under set_lock, the
 * word RATE_WORD_LOCKED from the exchange to the final store.
 */
static void republish(struct rate_word *a, struct rate_cfg *old,
		      struct rate_cfg *next)
{
	int64_t z = atomic_exchange(&a->v, RATE_WORD_LOCKED);
	int64_t tp = rate_clamp64(rate_ps_since(a->epoch, rate_word_now(a)));
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
	atomic_store_explicit(&a->v, rate_clamp64(zn), memory_order_release);
}

static int ta_set_rate(struct rate *r, double rate)
{
	return rate_reconfigure(to_ta(r), true, rate, 0, republish);
}

static int ta_set_burst(struct rate *r, unsigned burst)
{
	return rate_reconfigure(to_ta(r), false, 0, burst, republish);
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
	.cancel = rate_word_cancel,
	.wait = ta_wait,
	.set_rate = ta_set_rate,
	.set_burst = ta_set_burst,
};

/*
 * rate/busted: the negative control that proves a rate checker catches
 * over-admission (IMPL_TEST_ONLY: never in `all`, never benchmarked).  It
 * is tb-atomic with the classic check-then-act bug: it loads Z, decides,
 * pauses (a stand-in for a preemption, which widens the window so the
 * checker catches it on every run) and then STORES Z' instead of
 * compare-and-swapping from the Z it decided on.  Two callers that both saw
 * the credit both get in, and one update is lost.  Alone, nothing comes
 * between the load and the store, so every single-threaded vector passes;
 * everything is atomic, so ThreadSanitizer stays quiet: the bug is in the
 * protocol.  take() picks the variant once per call, so tb-atomic's own
 * code path has no trace of it.
 */
static int bu_create(struct rate **out, double rate, unsigned burst,
		     const struct rate_clock *clk)
{
	int rc = ta_create(out, rate, burst, clk);

	if (!rc)
		to_ta(*out)->busted = true;
	return rc;
}

const struct rate_ops rate_busted_ops = {
	.info = {
		.name = "busted",
		.desc = "tb-atomic with a plain store for the CAS: over-admits (negative control)",
		.flags = IMPL_TEST_ONLY,
	},
	.create = bu_create,
	.destroy = ta_destroy,
	.allow = ta_allow,
	.reserve = ta_reserve,
	.cancel = rate_word_cancel,
	.wait = ta_wait,
	.set_rate = ta_set_rate,
	.set_burst = ta_set_burst,
};
