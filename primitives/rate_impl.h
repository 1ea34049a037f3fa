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

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "compiler.h"
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

/*
 * A lock-free limiter's object (tb-atomic: the word is Z; gcra-atomic: it
 * is TAT), in picoseconds since `epoch`, signed; RATE_WORD_LOCKED while a
 * reconfiguration rewrites it.
 */
#define RATE_WORD_LOCKED INT64_MIN

struct rate_word {
	_Atomic int64_t v cacheline_aligned;
	struct rate_cfg *_Atomic cfg cacheline_aligned;
	uint64_t epoch;
	bool busted;		/* rate/busted, the negative control */
	struct rate_clock clk;
	bool mono;
	pthread_mutex_t set_lock;
};

static inline int64_t rate_clamp64(rate_i128 v)
{
	return v <= RATE_WORD_LOCKED ? RATE_WORD_LOCKED + 1 :
	       v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static inline uint64_t rate_word_now(const struct rate_word *a)
{
	return a->mono ? mono_ns() : a->clk.now(a->clk.arg);
}

static inline struct rate_cfg *rate_word_cfg(struct rate_word *a)
{
	return atomic_load_explicit(&a->cfg, memory_order_acquire);
}

/* Allocate and set up everything but the word itself: 0, EINVAL, ENOMEM. */
int rate_word_create(struct rate_word **out, double rate, unsigned burst,
		     const struct rate_clock *clk);
void rate_word_destroy(struct rate_word *a);
/* cancel() of both lock-free limiters (rate_cancel_word on the word). */
void rate_word_cancel(struct rate *r, struct rate_reservation *res);
/* wait() of both: EINVAL checks, then rate_wait_reserved with ops. */
int rate_word_wait(struct rate *r, unsigned n, const struct ctx *ctx,
		   const struct rate_ops *ops);

/*
 * The lock-free limiters (tb-atomic, gcra-atomic) keep one signed 64-bit
 * word and an immutable rate_cfg.  What they share beside that:
 *
 * rate_reserved() fills a reservation taken at t under configuration c,
 * due at `due_ps` (picoseconds since epoch), having left `word` behind.
 */
static inline void rate_reserved(struct rate_reservation *res, uint64_t t,
				 unsigned n, const struct rate_cfg *c,
				 uint64_t epoch, rate_i128 due_ps, int64_t word)
{
	*res = (struct rate_reservation){ .at = t, .made = t, .n = n };
	if (c->T && due_ps > rate_ps_since(epoch, t))
		res->at = rate_ns_at(epoch, due_ps);
	res->priv[0] = (uint64_t)word;
	res->priv[1] = (uintptr_t)c;
}

/*
 * rate_cancel_word() refunds a reservation made by rate_reserved(): under
 * *lock (no reconfiguration meanwhile), only if the configuration is still
 * the reservation's, its time has not come at `now`, and one CAS from
 * exactly the word it left, back by n * T, succeeds.
 */
void rate_cancel_word(pthread_mutex_t *lock, struct rate_cfg *_Atomic *cfg,
		      _Atomic int64_t *word, struct rate_reservation *res,
		      uint64_t now);

/*
 * set_rate (rate given) or set_burst (burst given) for a lock-free limiter
 * whose configuration is an immutable rate_cfg: under *lock, validate, make
 * the next configuration and hand both to republish(self, old, next), which
 * rewrites the state for it and publishes it.  0, EINVAL or ENOMEM.
 */
int rate_reconfigure(struct rate_word *a, bool set_rate, double rate,
		     unsigned burst,
		     void (*republish)(struct rate_word *a, struct rate_cfg *old,
				       struct rate_cfg *next));

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
