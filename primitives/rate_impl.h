/* SPDX-License-Identifier: MIT */
/*
 * What the rate limiters share privately: exact picosecond arithmetic, the
 * immutable configuration object the lock-free ones read by pointer, and
 * the one wait() (reserve, then sleep until the reservation's time unless
 * the context's deadline or a cancellation says otherwise).
 *
 * Arithmetic is done in 128 bits: b * T alone can reach 2^24 * 1.8e19 ps.
 */
#ifndef CONTEND_RATE_IMPL_H
#define CONTEND_RATE_IMPL_H

#include <stdint.h>

#include "rate.h"

/*
 * How close to its time a sleeper stops sleeping and spins: about the
 * wake-up latency of a timed futex sleep on a VM (tens of microseconds,
 * with 1 ns timer slack), so an event is released on time, not one
 * wake-up late.  Spinning is bounded by this.
 */
#define RATE_SPIN_NS 50000ull

typedef __int128 rate_i128;

#define RATE_PS_PER_NS 1000

/* Picoseconds from epoch (ns) to clock time t (ns); negative before it. */
static inline rate_i128 rate_ps_since(uint64_t epoch, uint64_t t)
{
	return ((rate_i128)t - (rate_i128)epoch) * RATE_PS_PER_NS;
}

/* The clock time (ns, rounded UP) of ps picoseconds after epoch. */
static inline uint64_t rate_ns_at(uint64_t epoch, rate_i128 ps)
{
	rate_i128 ns = ps >= 0 ? (ps + RATE_PS_PER_NS - 1) / RATE_PS_PER_NS
			       : -(-ps / RATE_PS_PER_NS);
	rate_i128 t = (rate_i128)epoch + ns;

	return t < 0 ? 0 : t > (rate_i128)UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

/*
 * Credit c (ps at interval to) in the units of interval tn: floor(c * tn /
 * to), rounded down (towards the stricter) for credit and debt alike.
 */
static inline rate_i128 rate_scale(rate_i128 c, uint64_t to, uint64_t tn)
{
	rate_i128 q = c / (rate_i128)to, rem = c % (rate_i128)to;

	if (rem < 0) {
		q--;
		rem += to;
	}
	/* rem < to < 2^64 and tn < 2^64: the product fits 128 bits. */
	return q * (rate_i128)tn +
	       (rate_i128)((unsigned __int128)rem * tn / to);
}

/*
 * A configuration, immutable once published.  The lock-free limiters read
 * it by pointer; set_rate/set_burst publish a new one and keep the old on
 * the `older` list until destroy (nothing is freed while a reader might
 * still hold it).
 */
struct rate_cfg {
	uint64_t T;		/* emission interval, ps; 0: infinite rate */
	unsigned b;		/* burst */
	double rate;
	rate_i128 bT;		/* b * T */
	struct rate_cfg *older;
};

struct rate_cfg *rate_cfg_new(double rate, unsigned burst, struct rate_cfg *older);
void rate_cfg_free_all(struct rate_cfg *c);

static inline bool rate_clock_is_mono(const struct rate_clock *clk)
{
	return clk->now == rate_clock_mono.now;
}

/*
 * wait() for every limiter that can reserve and cancel: n already checked
 * against 0 and the burst.  Reserves; returns 0 at once if the time has
 * come; cancels and returns ETIMEDOUT without sleeping if ctx's deadline
 * comes first; otherwise sleeps until then (a futex with the absolute
 * deadline and a ctx hook that wakes it when ctx is cancellable; a
 * clock_nanosleep TIMER_ABSTIME otherwise) and, if cancelled first, cancels
 * the reservation and returns the context's error.  An injected clock's
 * time is converted: the sleep lasts (at - clk.now()).
 */
int rate_wait_reserved(struct rate *r, unsigned n, const struct ctx *ctx,
		       const struct rate_ops *ops, const struct rate_clock *clk);

#endif
