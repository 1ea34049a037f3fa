/* SPDX-License-Identifier: MIT */
/*
 * The rate-limiter family: token bucket, GCRA and leaky bucket, exact under
 * any contention.
 *
 * The one definition every algorithm shares
 * -----------------------------------------
 * A limiter has a rate r (events per second: fractional rates such as 0.5
 * are fine, and r = INFINITY admits everything) and a burst b (an integer,
 * at least 1).  It starts full.  Over ANY window of length w (closed at
 * both ends, anywhere in time) it admits at most
 *
 *	b + r * w
 *
 * events.  Time is integer nanoseconds; the emission interval T = 1/r is
 * kept in picoseconds, rounded UP (rate_interval_ps()), so rounding can
 * only make a limiter stricter than r, never looser (by at most 1 ps per
 * event).  In those units an event of weight n at time t is admitted iff
 *
 *	credit(t) >= n * T,   credit(t) = min(b * T, credit(last) + (t - last))
 *
 * and admitting it takes n * T of credit.  Exactly on time is admitted
 * (>=, not >).  A call whose time is earlier than the limiter's last one
 * (a caller that read the clock and was then delayed) is treated as
 * happening at the last time: the state only moves forward, so a late
 * caller can never rewind it and over-admit (x/time/rate's flaw).
 *
 * GCRA's virtual scheduling (TAT, tolerance tau = (b - 1) * T) and the
 * token bucket's continuous state are the same rule in two coordinates
 * (ITU-T I.371); tests/rate_vectors.h holds the shared vectors that every
 * implementation must reproduce exactly.
 *
 * Policing and shaping: the token bucket and GCRA police (an admitted
 * event may happen at once, so b events can leave together); the leaky
 * bucket as a queue (lb-queue) shapes: admitted events join a queue of at
 * most b and depart one every T, so reserve()'s `at` is the event's
 * departure time and departures are evenly spaced.  Admissions obey the
 * same bound either way.
 *
 * Time source: every limiter reads time through a struct rate_clock, the
 * real CLOCK_MONOTONIC by default; tests inject a clock they control, so
 * exact boundaries are tested without sleeping.
 *
 * Result codes:
 *   0          admitted (allow), reserved (reserve), waited (wait)
 *   EAGAIN     allow: not admitted now
 *   EINVAL     n == 0 or n > burst (never a hang); a bad rate or burst
 *   ETIMEDOUT  wait: the context's deadline passes before the events may
 *              happen; returned AT ONCE, without sleeping and without
 *              taking anything
 *   ECANCELED  wait: the context was cancelled (before or while sleeping);
 *              what the wait had reserved is refunded
 *   ENOMEM     create: out of memory
 */
#ifndef CONTEND_RATE_H
#define CONTEND_RATE_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "ctx.h"
#include "impl.h"

struct rate;	/* opaque: each implementation defines its own object */

/* Where a limiter reads the time: now(arg) in CLOCK_MONOTONIC-like ns. */
struct rate_clock {
	uint64_t (*now)(void *arg);
	void *arg;
};

/* The real clock (CLOCK_MONOTONIC ns), used when create() gets NULL. */
extern const struct rate_clock rate_clock_mono;

/* A reservation: the events it holds may happen at `at` (clock ns). */
struct rate_reservation {
	uint64_t at;		/* when the events may happen */
	uint64_t made;		/* clock time the reservation was made */
	unsigned n;		/* events reserved; 0 once cancelled */
	uint64_t priv[2];	/* the implementation's (e.g. what it took) */
};

#define RATE_MAX_BURST (1u << 24)

struct rate_ops {
	struct impl_info info;
	/* Non-NULL: why this implementation cannot reserve (cancel, refund). */
	const char *no_reserve;
	/* Non-NULL: why its wait() cannot be woken by a cancellation. */
	const char *no_cancel;
	/* Non-NULL: why it runs on real time only (a ticker or drain thread),
	 * so the injected-clock conformance vectors do not apply. */
	const char *no_fake_clock;
	/*
	 * Non-NULL: why it does not keep the bound exactly (a baseline kept
	 * as the idiom it is).  Its excess is measured and reported, not
	 * counted as a violation; every other implementation's is.
	 */
	const char *inexact;
	/*
	 * Non-NULL: why set_burst() can only keep or lower the burst given
	 * at create() (a channel's capacity is fixed); a larger one is
	 * EINVAL and changes nothing.
	 */
	const char *fixed_burst;
	/*
	 * A limiter of `rate` events/s (> 0, or INFINITY) and `burst`
	 * (1 .. RATE_MAX_BURST), full, reading time from clk (NULL: the
	 * real clock).  0, EINVAL or ENOMEM.
	 */
	int (*create)(struct rate **out, double rate, unsigned burst,
		      const struct rate_clock *clk);
	void (*destroy)(struct rate *r);
	/* Admit n events now, or take nothing: 0, EAGAIN or EINVAL. */
	int (*allow)(struct rate *r, unsigned n);
	/*
	 * Take n events now, whenever they may happen: res->at says when
	 * (<= now: at once).  0 or EINVAL.
	 */
	int (*reserve)(struct rate *r, unsigned n, struct rate_reservation *res);
	/*
	 * Give a reservation back.  If nothing was admitted or reserved
	 * after it and its time has not come, all of it is refunded (the
	 * limiter's state goes back by exactly what it took); otherwise
	 * nothing is (later callers relied on it, or it is spent).  Never
	 * more than was taken; a second cancel does nothing.
	 */
	void (*cancel)(struct rate *r, struct rate_reservation *res);
	/*
	 * Block until n events may happen, then take them: 0.  Fails at once
	 * with ETIMEDOUT if ctx's deadline comes before that; ECANCELED if
	 * ctx is or becomes cancelled (refunding).  Sleeps with nanosecond
	 * resolution (absolute CLOCK_MONOTONIC timed waits, 1 ns timer slack
	 * is the caller's business).
	 */
	int (*wait)(struct rate *r, unsigned n, const struct ctx *ctx);
	/* Change the rate or the burst at run time, keeping what was
	 * admitted: 0 or EINVAL. */
	int (*set_rate)(struct rate *r, double rate);
	int (*set_burst)(struct rate *r, unsigned burst);
};

static inline const struct rate_ops *rate_ops_of(const struct impl_info *i)
{
	return container_of(i, const struct rate_ops, info);
}

/* T = 1/rate in picoseconds, rounded up; 0 for INFINITY; 0 if invalid. */
uint64_t rate_interval_ps(double rate);
/* Whether rate and burst are acceptable (rate > 0 or INFINITY, NaN not). */
bool rate_valid(double rate, unsigned burst);

extern const struct rate_ops rate_tb_mutex_ops, rate_tb_atomic_ops,
	rate_gcra_atomic_ops, rate_lb_queue_ops, rate_tb_chan_ops,
	rate_busted_ops;

#endif
