/* SPDX-License-Identifier: MIT */
/*
 * rate/tb-chan: Go's idiom, kept as the baseline it is.  A ticker thread
 * puts one token every T into a channel of capacity `burst` (the chan
 * family's building block, chan_building_block in sema_chan.c), which
 * starts full; allow(1) is a try_recv, wait(1) a recv with the context.
 *
 * Ticker.  Tick i (i = 1, 2, ...) is due at base + ceil(i * T) ns, T in ps
 * (rate_interval_ps()), so ticks are on an absolute grid and never drift.
 * The ticker sleeps to absolute times with futex_wait(FUTEX_WAIT_BITSET,
 * CLOCK_MONOTONIC absolute timeout) rather than clock_nanosleep(TIMER_ABSTIME):
 * the same absolute sleep, but set_rate() and destroy() can wake it.  The
 * ticker runs with 1 ns timer slack (the default 50 us is half a T at 10k/s).
 *
 * Catch-up, not Go's drop.  When the ticker wakes late it adds every tick
 * that has come due at once, until the channel is full (a full channel
 * drops the rest: that is the bucket's cap).  Go's time.Ticker drops missed
 * ticks instead, so a Go limiter whose ticker is descheduled (on a loaded
 * machine, often) admits less than its rate, for good.  With catch-up the
 * long-run rate is exact, and since every token added corresponds to a
 * distinct tick due at or before the moment it is added, the events
 * admitted since creation never exceed b + r * t.  The price is the
 * any-window bound: a tick that came due while the channel was full should
 * have been dropped, and a late ticker cannot tell, so tokens added in one
 * catch-up may exceed b + r * w over a short window, by at most the number
 * of ticks missed (never more than b).  Exact limiters are tb-*, gcra-*.
 *
 * Batching.  One thread cannot wake every T when T is a few microseconds,
 * so the ticker wakes at most once per RATE_TBC_MIN_PERIOD (10 us): it
 * sleeps until tick k * m is due, m = ceil(10 us / T), and adds the k
 * tokens due then (the catch-up path does it).  Tokens are then up to
 * (k - 1) * T late, never early.
 *
 * Weighted calls are the idiom's flaw.  allow(n) try_recv's up to n tokens
 * and, if it finds fewer, puts them back: this is not atomic.  While it
 * holds some, other callers see fewer and fail although enough were there
 * (two allow(3)s on 4 tokens can both fail, each holding 2), and a put-back
 * into a channel the ticker has meanwhile refilled is lost (the bucket's
 * cap).  wait(n) receives n times and puts back the same way on a
 * cancellation or a deadline.
 *
 * wait(n, ctx).  rate.h wants a wait whose deadline cannot be met to fail
 * at once: the earliest time n tokens can be there is when the ticker adds
 * the missing ones, tick done + (n - len()) (done: ticks already handled).
 * If the deadline is before that, ETIMEDOUT at once, nothing taken.  This
 * ignores other waiters (they may take the tokens first), so it is a lower
 * bound; the channel's own recv still ends the wait at the deadline.
 * Cancellation comes from the channel's recv (ECANCELED); tokens taken by
 * then are put back.
 *
 * Not supported, by design:
 *   - reserve/cancel (no_reserve): a token in a channel cannot promise a
 *     future time; reserve() returns ENOTSUP, cancel() does nothing.
 *   - an injected clock (no_fake_clock): the ticker sleeps on real time;
 *     create() ignores clk.
 *   - set_burst() to anything but the current burst: EINVAL.  A channel's
 *     capacity is fixed at make(); swapping in a new one would need a lock
 *     (or a reference count) around every allow(), which is not the idiom
 *     this baseline measures.
 * set_rate() changes T: the grid restarts at the call (base = now, the
 * first new tick one new T later; the part of a T already elapsed is
 * forfeited, which is only ever stricter) and the ticker is woken.
 *
 * Infinite rate: allow() and wait() admit everything without touching the
 * channel; the ticker thread exists but sleeps until set_rate() gives it a
 * finite rate (it then starts from whatever the channel held).
 *
 * destroy() stops and joins the ticker, closes the channel (a waiter
 * blocked in recv gets EPIPE, returned as ECANCELED), waits until no
 * waiter is inside wait(), and frees.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "chan.h"
#include "clock.h"
#include "compiler.h"
#include "rate.h"
#include "rate_thread.h"

extern const struct chan_ops *const chan_building_block;

#define RATE_TBC_MIN_PERIOD_PS 10000000ull	/* 10 us */

struct tbc {
	const struct chan_ops *co;
	struct chan *ch;
	unsigned burst;
	pthread_t ticker;
	/* The grid: written by set_rate and the ticker under lock; read
	 * racily (atomics) by wait()'s estimate. */
	pthread_mutex_t lock;
	_Atomic uint64_t t_ps;		/* 0: infinite */
	_Atomic uint64_t base;		/* ns: tick i due at base + ceil(i*T) */
	_Atomic uint64_t done;		/* ticks handled (added or dropped) */
	_Atomic uint32_t gen cacheline_aligned;	/* ticker's futex word */
	_Atomic bool stop;
	_Atomic uint32_t active cacheline_aligned;	/* waiters inside wait() */
};

#define to_tbc(r) ((struct tbc *)(r))

static uint64_t tick_due(uint64_t base, uint64_t i, uint64_t t_ps)
{
	return base + rate_ps_to_ns_up((unsigned __int128)i * t_ps);
}

/* Put one token in; false if the channel is full (or closed). */
static bool tbc_put(struct tbc *b)
{
	/* try_send may report EAGAIN while a receiver is mid-way through
	 * the slot it needs (chan.h); only a full channel is a full bucket. */
	for (int tries = 64; tries; tries--) {
		int rc = b->co->try_send(b->ch, NULL);

		if (rc != EAGAIN)
			return rc == 0;
		if (b->co->len(b->ch) >= b->burst)
			return false;
		cpu_relax();
	}
	return false;
}

static void *tbc_ticker(void *arg)
{
	struct tbc *b = arg;

	rate_thread_precise();
	pthread_mutex_lock(&b->lock);
	for (;;) {
		uint32_t g = atomic_load(&b->gen);
		uint64_t t = atomic_load(&b->t_ps), base, done, now, due, m, next;

		if (atomic_load(&b->stop))
			break;
		if (!t) {
			pthread_mutex_unlock(&b->lock);
			futex_wait(&b->gen, g, 0);
			pthread_mutex_lock(&b->lock);
			continue;
		}
		base = atomic_load(&b->base);
		done = atomic_load(&b->done);
		now = mono_ns();
		/* Ticks due by now: the largest i with base + ceil(i*T) <= now,
		 * i.e. i * T <= (now - base) * 1000. */
		due = now > base ?
			(uint64_t)((unsigned __int128)(now - base) * 1000 / t) : 0;
		if (due > done) {
			/* Catch up: every due tick adds a token, up to the cap. */
			for (uint64_t i = done; i < due; i++)
				if (!tbc_put(b))
					break;
			atomic_store(&b->done, due);
			done = due;
		}
		/* Batching: wake at most once per 10 us, on a multiple of m. */
		m = (RATE_TBC_MIN_PERIOD_PS + t - 1) / t;
		next = tick_due(base, (done / m + 1) * m, t);
		pthread_mutex_unlock(&b->lock);
		/*
		 * A plain timed sleep, not rate_sleep_until's final spin: the
		 * ticker batches anyway, and a spinning ticker would hold a
		 * core whenever its batch period is under RATE_SPIN_NS.
		 */
		futex_wait(&b->gen, g, next ? next : 1);
		pthread_mutex_lock(&b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static int tbc_create(struct rate **out, double rate, unsigned burst,
		      const struct rate_clock *clk)
{
	struct tbc *b;
	int rc;

	(void)clk;	/* real time only: see no_fake_clock */
	if (!rate_valid(rate, burst))
		return EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return ENOMEM;
	b->co = chan_building_block;
	b->burst = burst;
	if ((rc = b->co->create(&b->ch, burst)))
		goto fail_free;
	for (unsigned i = 0; i < burst; i++)	/* it starts full */
		if (b->co->try_send(b->ch, NULL)) {
			rc = ENOMEM;
			goto fail_chan;
		}
	pthread_mutex_init(&b->lock, NULL);
	atomic_init(&b->t_ps, rate_interval_ps(rate));
	atomic_init(&b->base, mono_ns());
	if (pthread_create(&b->ticker, NULL, tbc_ticker, b)) {
		rc = ENOMEM;
		pthread_mutex_destroy(&b->lock);
		goto fail_chan;
	}
	*out = (struct rate *)b;
	return 0;
fail_chan:
	b->co->destroy(b->ch);
fail_free:
	free(b);
	return rc;
}

static void tbc_wake_ticker(struct tbc *b)
{
	atomic_fetch_add(&b->gen, 1);
	futex_wake(&b->gen, 1);
}

static void tbc_destroy(struct rate *r)
{
	struct tbc *b = to_tbc(r);

	atomic_store(&b->stop, true);
	tbc_wake_ticker(b);
	pthread_join(b->ticker, NULL);
	b->co->close(b->ch);
	rate_wait_waiters_gone(&b->active);
	b->co->destroy(b->ch);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* Put back what a failed weighted call took (lost if the ticker refilled). */
static void tbc_put_back(struct tbc *b, unsigned got)
{
	while (got--)
		if (!tbc_put(b))
			break;
}

static int tbc_allow(struct rate *r, unsigned n)
{
	struct tbc *b = to_tbc(r);
	void *tok;
	unsigned got;

	if (unlikely(n == 0 || n > b->burst))
		return EINVAL;
	if (unlikely(!atomic_load_explicit(&b->t_ps, memory_order_relaxed)))
		return 0;
	if (likely(n == 1))
		return b->co->try_recv(b->ch, &tok) ? EAGAIN : 0;
	for (got = 0; got < n; got++)
		if (b->co->try_recv(b->ch, &tok))
			break;
	if (got == n)
		return 0;
	tbc_put_back(b, got);
	return EAGAIN;
}

/* The earliest time n tokens can be in the channel (a lower bound). */
static uint64_t tbc_earliest(struct tbc *b, unsigned n, uint64_t now)
{
	unsigned have = b->co->len(b->ch);
	uint64_t t = atomic_load(&b->t_ps), at;

	if (have >= n)
		return now;
	at = tick_due(atomic_load(&b->base), atomic_load(&b->done) + (n - have), t);
	return at > now ? at : now;
}

static int tbc_wait(struct rate *r, unsigned n, const struct ctx *ctx)
{
	struct tbc *b = to_tbc(r);
	uint64_t deadline = ctx_deadline(ctx);
	unsigned got = 0;
	void *tok;
	int rc;

	if (n == 0 || n > b->burst)
		return EINVAL;
	if ((rc = ctx_err(ctx)))
		return rc;
	if (!atomic_load(&b->t_ps))
		return 0;
	if (deadline && tbc_earliest(b, n, mono_ns()) > deadline)
		return ETIMEDOUT;
	rate_enter(&b->active);
	for (; got < n; got++)
		if ((rc = b->co->recv(b->ch, &tok, ctx)))
			break;
	if (rc) {
		tbc_put_back(b, got);
		if (rc == EPIPE)	/* destroy() closed the channel */
			rc = ECANCELED;
	}
	rate_leave(&b->active);
	return rc;
}

static int tbc_reserve(struct rate *r, unsigned n, struct rate_reservation *res)
{
	(void)r;
	(void)n;
	(void)res;
	return ENOTSUP;
}

static void tbc_cancel(struct rate *r, struct rate_reservation *res)
{
	(void)r;
	(void)res;
}

static int tbc_set_rate(struct rate *r, double rate)
{
	struct tbc *b = to_tbc(r);

	if (!rate_valid(rate, b->burst))
		return EINVAL;
	pthread_mutex_lock(&b->lock);
	atomic_store(&b->t_ps, rate_interval_ps(rate));
	atomic_store(&b->base, mono_ns());
	atomic_store(&b->done, 0);
	pthread_mutex_unlock(&b->lock);
	tbc_wake_ticker(b);
	return 0;
}

static int tbc_set_burst(struct rate *r, unsigned burst)
{
	struct tbc *b = to_tbc(r);

	/* The channel's capacity is the burst, fixed at create (above). */
	return burst == b->burst ? 0 : EINVAL;
}

const struct rate_ops rate_tb_chan_ops = {
	.info = {
		.name = "tb-chan",
		.desc = "Go's idiom: a ticker thread feeds a channel of burst tokens; allow = try_recv",
	},
	.no_reserve = "a token in a channel cannot promise a future time",
	.no_fake_clock = "a ticker thread runs on real time",
	.fixed_burst = "the token channel's capacity is the burst given at create()",
	.inexact = "a ticker that wakes late adds the ticks it missed at once, so a short window can see more than burst + rate x w",
	.create = tbc_create,
	.destroy = tbc_destroy,
	.allow = tbc_allow,
	.reserve = tbc_reserve,
	.cancel = tbc_cancel,
	.wait = tbc_wait,
	.set_rate = tbc_set_rate,
	.set_burst = tbc_set_burst,
};
