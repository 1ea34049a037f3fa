/* SPDX-License-Identifier: MIT */
/*
 * rate/lb-queue: the leaky bucket as a QUEUE (shaping).  Admitted events
 * join a queue of at most `burst` and depart one every T; what does not
 * fit is shed (allow: EAGAIN).  Built on the chan family (the building
 * block, chan_building_block in sema_chan.c): a channel of capacity
 * `burst` carries tickets, in admission order, to one drain thread.
 *
 * Places.  The queue has `burst` places.  An event of weight n takes n
 * places when it is admitted (an atomic count, `queued`, checked and taken
 * with a CAS: that is the admission decision) and sends one ticket.  The
 * drain thread receives tickets in order; a ticket departs at
 *
 *	dep = max(arrival, end of the previous ticket's service)
 *
 * and is then served for n * T, giving back one place at dep + T, dep + 2T,
 * ..., dep + n*T (absolute times, T in ps, no drift).  The next ticket
 * is not received before that.  This is the leaky bucket exactly: an
 * event holds its place until one T after its departure, so at most b
 * places are taken at any instant, and places come back one per T.  Over
 * any window [s, s + w] the events admitted are at most the places free
 * at s plus the places given back in the window, b + r * w (a place given
 * back exactly at s was taken by an event that departed at s - T, so it
 * was not free just before s).  Why the count and not the channel's own
 * capacity: the drain takes a ticket out of the channel at its departure,
 * but the place is only free one T later; a full channel as the test would
 * admit b + 1 (the one in service and b queued).  The channel cannot hold
 * more tickets than places are taken, so a send into it always has room.
 *
 * Arrival.  The drain must not date a departure before the ticket arrived
 * (a drain that wakes late would otherwise give places back early).  A
 * ticket carries its arrival: a waiter's ticket is a struct with the time
 * in ns; allow()'s fire-and-forget ticket is not a pointer but a tagged
 * word (bit 0 set; the weight in bits 1-25; in bits 26-63 the arrival in
 * units of 1024 ns, rounded up, modulo 2^38, which is ~3.2 days: a ticket
 * may sit in the channel for no longer than that).  Its departure is only
 * counted (`departed`).
 * A waiter that had to sleep for its places is dated at the time the
 * drain's schedule gave them back (never before it called): otherwise a
 * saturated queue (burst 1 and a waiter calling back at once) would add
 * the wake-up latency to every departure and fall below its rate.  The
 * bound above holds for the schedule's dates; the moments wait() really
 * returns carry wake-up latency, and a drain descheduled for more than a
 * T gives back overdue places together (next paragraph), so over windows
 * shorter than that latency the returns can bunch.
 *
 * A late drain (descheduled) catches up: departures are computed on the
 * absolute schedule, so overdue tickets leave back to back until it is on
 * time again.  The mean departure rate is exact; the spacing suffers while
 * it is late, and places only ever come back late, never early.
 *
 * wait(n, ctx).  First wait for n places (a futex word the drain bumps
 * when it gives places back), then send a ticket and sleep on the
 * ticket's futex word until the drain marks it departed and wakes it: wait
 * returns at its departure.  The ticket is on the heap, not the waiter's
 * stack, with two references (waiter, drain): a cancelled waiter leaves at
 * once while its ticket is still in the channel.
 * Deadline: the earliest departure is the end of the current service plus
 * T for each place's worth of tickets queued ahead (`backlog`); a deadline
 * before that fails at once with ETIMEDOUT, taking nothing.  (Cancelled
 * tickets ahead can make the real departure earlier than this estimate.)
 * If the deadline passes while queued, the ticket is cancelled (below) and
 * wait returns ETIMEDOUT.
 *
 * The cancel rule.  A cancelled (or timed-out) waiter CASes its ticket
 * from WAITING to CANCELLED and leaves with ECANCELED (ETIMEDOUT).  The
 * drain, on reaching a CANCELLED ticket, gives its n places back at once
 * and goes on to the next ticket without serving: no T is spent on it, and
 * the next ticket departs in its stead.  If the drain wins the CAS (to
 * DEPARTED) first, the wait succeeded: a cancellation after departure is
 * too late, and the wait returns 0.  A waiter still waiting for places has
 * taken nothing; it just leaves.  The places of a cancelled ticket stay
 * taken until the drain reaches it (at most the queue ahead of it), which
 * is only ever stricter.
 *
 * reserve/cancel: not offered (no_reserve).  A ticket's departure is
 * decided when the drain reaches it (a cancelled ticket ahead gives its
 * slot to the next, a late drain catches up), so it is not known exactly
 * at admission, and a ticket in a channel cannot be taken back.
 *
 * set_rate() changes T for the rest of the service under way and after
 * (the drain is woken to re-aim its sleep).  set_burst() changes the
 * number of places, up to the burst given at create (the channel's
 * capacity); more is EINVAL.  Shrinking below the places taken admits
 * nothing until enough are back.  Infinite rate: everything is admitted
 * at once without touching the queue.
 *
 * Real time only (no_fake_clock): the drain sleeps to absolute
 * CLOCK_MONOTONIC times (futex_wait with an absolute timeout, which
 * set_rate and destroy can interrupt), with 1 ns timer slack; create()
 * ignores clk.
 *
 * destroy() wakes every waiter with ECANCELED: those waiting for places
 * at once; queued tickets are marked CLOSED by the drain, which, told to
 * stop, drains the closed channel without serving.  It then joins the
 * drain, waits until no waiter is inside wait(), and frees.
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

enum { TK_WAITING, TK_DEPARTED, TK_CANCELLED, TK_CLOSED };

struct lbq_ticket {
	_Atomic uint32_t state;		/* futex word */
	_Atomic uint32_t refs;		/* waiter + drain */
	unsigned n;
	uint64_t arrival;		/* ns */
};

#define LBQ_W_SHIFT 1
#define LBQ_W_BITS 25
#define LBQ_STAMP_SHIFT (LBQ_W_SHIFT + LBQ_W_BITS)
#define LBQ_STAMP_BITS (64 - LBQ_STAMP_SHIFT)
#define LBQ_STAMP_MASK ((1ull << LBQ_STAMP_BITS) - 1)

struct lbq {
	const struct chan_ops *co;
	struct chan *ch;
	unsigned cap;			/* the channel's capacity */
	_Atomic unsigned burst;
	_Atomic uint64_t t_ps;		/* 0: infinite */
	pthread_t drain;
	_Atomic uint32_t queued cacheline_aligned;	/* places taken */
	_Atomic uint64_t backlog;	/* weight of tickets not yet departed */
	_Atomic uint64_t serve_end;	/* ns: end of the current service */
	_Atomic uint64_t departed;	/* events departed (counted) */
	_Atomic uint64_t freed_at;	/* ns: when the last places came back */
	/* Waiters for places sleep on `freed`, bumped when places come back. */
	_Atomic uint32_t freed cacheline_aligned;
	_Atomic uint32_t freed_sleepers;
	_Atomic uint32_t gen cacheline_aligned;	/* the drain's futex word */
	_Atomic bool stop;
	_Atomic uint32_t active cacheline_aligned;	/* waiters inside wait() */
};

#define to_lbq(r) ((struct lbq *)(r))

static void *lbq_encode(unsigned n, uint64_t now)
{
	uint64_t stamp = ((now + 1023) >> 10) & LBQ_STAMP_MASK;

	return (void *)(uintptr_t)((stamp << LBQ_STAMP_SHIFT) |
				   ((uint64_t)n << LBQ_W_SHIFT) | 1);
}

/* A tagged ticket's arrival (rounded up, so never before the real one). */
static uint64_t lbq_stamp_arrival(uint64_t word, uint64_t now)
{
	uint64_t stamp = word >> LBQ_STAMP_SHIFT;
	uint64_t units_now = (now >> 10) + 1;	/* >= every stamp taken by now */
	uint64_t back = (units_now - stamp) & LBQ_STAMP_MASK;

	return (units_now - back) << 10;
}

static void lbq_wake_freed(struct lbq *q)
{
	if (atomic_load(&q->freed_sleepers)) {
		atomic_fetch_add(&q->freed, 1);
		futex_wake(&q->freed, INT_MAX);
	}
}

/* Give n places back, dated `at` (the schedule's time, ns). */
static void lbq_give_back(struct lbq *q, unsigned n, uint64_t at)
{
	atomic_store(&q->freed_at, at);
	atomic_fetch_sub(&q->queued, n);
	lbq_wake_freed(q);
}

static void lbq_ticket_put(struct lbq_ticket *t)
{
	if (atomic_fetch_sub(&t->refs, 1) == 1)
		free(t);
}

/* Sleep until `until` (absolute ns) or until stop; false if stopped. */
static bool lbq_drain_sleep(struct lbq *q, uint64_t until)
{
	for (;;) {
		uint32_t g = atomic_load(&q->gen);

		if (atomic_load(&q->stop))
			return false;
		if (mono_ns() >= until)
			return true;
		rate_sleep_until(&q->gen, g, until);
	}
}

/* Serve n places from dep on; returns the end of the service (ns). */
static uint64_t lbq_serve(struct lbq *q, uint64_t dep, unsigned n)
{
	uint64_t at = dep;

	for (unsigned i = 0; i < n; i++) {
		/* Re-read T for each place: set_rate wakes us to re-aim. */
		for (;;) {
			uint32_t g = atomic_load(&q->gen);
			uint64_t t = atomic_load(&q->t_ps);
			uint64_t next = t ? dep + rate_ps_to_ns_up(
				(unsigned __int128)(i + 1) * t) : at;

			atomic_store(&q->serve_end, next);
			if (atomic_load(&q->stop) || mono_ns() >= next) {
				at = next;
				break;
			}
			rate_sleep_until(&q->gen, g, next);
		}
		lbq_give_back(q, 1, at);
		if (atomic_load(&q->stop)) {
			if (i + 1 < n)
				lbq_give_back(q, n - i - 1, at);
			break;
		}
	}
	return at;
}

static void *lbq_drain(void *arg)
{
	struct lbq *q = arg;
	uint64_t end = 0;	/* end of the previous service */
	void *item;

	rate_thread_precise();
	while (!q->co->recv(q->ch, &item, NULL)) {
		uintptr_t w = (uintptr_t)item;
		struct lbq_ticket *t = (w & 1) ? NULL : item;
		uint64_t now = mono_ns(), arrival, dep;
		unsigned n;

		if (t) {
			n = t->n;
			arrival = t->arrival;
		} else {
			n = (unsigned)((w >> LBQ_W_SHIFT) & ((1u << LBQ_W_BITS) - 1));
			arrival = lbq_stamp_arrival(w, now);
		}
		if (atomic_load(&q->stop)) {
			/* destroy(): no service; wake the waiter with CLOSED. */
			if (t) {
				uint32_t e = TK_WAITING;

				if (atomic_compare_exchange_strong(&t->state, &e, TK_CLOSED))
					futex_wake(&t->state, 1);
				lbq_ticket_put(t);
			}
			atomic_fetch_sub(&q->backlog, n);
			lbq_give_back(q, n, now);
			continue;
		}
		dep = arrival > end ? arrival : end;
		if (dep > now)	/* only by the stamp's rounding: < 1 us */
			lbq_drain_sleep(q, dep);
		if (t) {
			uint32_t e = TK_WAITING;
			bool won = atomic_compare_exchange_strong(&t->state, &e,
								  TK_DEPARTED);

			if (won)
				futex_wake(&t->state, 1);
			lbq_ticket_put(t);
			if (!won) {
				/* Cancelled: its places back now, no T spent. */
				atomic_fetch_sub(&q->backlog, n);
				lbq_give_back(q, n, mono_ns());
				continue;
			}
		}
		atomic_fetch_sub(&q->backlog, n);
		atomic_fetch_add(&q->departed, n);
		end = lbq_serve(q, dep, n);
	}
	return NULL;
}

static int lbq_create(struct rate **out, double rate, unsigned burst,
		      const struct rate_clock *clk)
{
	struct lbq *q;
	int rc;

	(void)clk;	/* real time only: see no_fake_clock */
	if (!rate_valid(rate, burst))
		return EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return ENOMEM;
	q->co = chan_building_block;
	q->cap = burst;
	atomic_init(&q->burst, burst);
	atomic_init(&q->t_ps, rate_interval_ps(rate));
	if ((rc = q->co->create(&q->ch, burst))) {
		free(q);
		return rc;
	}
	if (pthread_create(&q->drain, NULL, lbq_drain, q)) {
		q->co->destroy(q->ch);
		free(q);
		return ENOMEM;
	}
	*out = (struct rate *)q;
	return 0;
}

static void lbq_destroy(struct rate *r)
{
	struct lbq *q = to_lbq(r);

	atomic_store(&q->stop, true);
	atomic_fetch_add(&q->gen, 1);
	futex_wake(&q->gen, 1);
	atomic_fetch_add(&q->freed, 1);
	futex_wake(&q->freed, INT_MAX);
	q->co->close(q->ch);
	pthread_join(q->drain, NULL);
	rate_wait_waiters_gone(&q->active);
	q->co->destroy(q->ch);
	free(q);
}

/* Take n places if there are; false if the queue is too full. */
static bool lbq_take(struct lbq *q, unsigned n)
{
	unsigned cur = atomic_load_explicit(&q->queued, memory_order_relaxed);
	unsigned b = atomic_load_explicit(&q->burst, memory_order_relaxed);

	do {
		if (cur + n > b)
			return false;
	} while (!atomic_compare_exchange_weak(&q->queued, &cur, cur + n));
	return true;
}

static int lbq_allow(struct rate *r, unsigned n)
{
	struct lbq *q = to_lbq(r);

	if (unlikely(n == 0 || n > atomic_load_explicit(&q->burst, memory_order_relaxed)))
		return EINVAL;
	if (unlikely(!atomic_load_explicit(&q->t_ps, memory_order_relaxed)))
		return 0;
	if (!lbq_take(q, n))
		return EAGAIN;
	atomic_fetch_add(&q->backlog, n);
	/* Room is certain: the channel holds no more tickets than places. */
	if (q->co->send(q->ch, lbq_encode(n, mono_ns()), NULL)) {
		atomic_fetch_sub(&q->backlog, n);	/* closed: destroy() */
		lbq_give_back(q, n, mono_ns());
		return EAGAIN;
	}
	return 0;
}

/* The earliest departure of a ticket sent now (see the header). */
static uint64_t lbq_earliest(struct lbq *q, uint64_t now)
{
	uint64_t end = atomic_load(&q->serve_end);
	uint64_t from = end > now ? end : now;

	return from + rate_ps_to_ns_down((unsigned __int128)atomic_load(&q->backlog) *
					 atomic_load(&q->t_ps));
}

struct lbq_waiter {
	struct lbq *q;
	struct lbq_ticket *_Atomic ticket;
	_Atomic bool cancelled;
};

static void lbq_cancelled(struct ctx_hook *h, struct ctx *c)
{
	struct lbq_waiter *w = h->arg;
	struct lbq_ticket *t;

	(void)c;
	atomic_store(&w->cancelled, true);
	t = atomic_load(&w->ticket);
	if (t) {
		uint32_t e = TK_WAITING;

		if (atomic_compare_exchange_strong(&t->state, &e, TK_CANCELLED))
			futex_wake(&t->state, 1);
	}
	/* It may be waiting for places: everyone there re-checks. */
	atomic_fetch_add(&w->q->freed, 1);
	futex_wake(&w->q->freed, INT_MAX);
}

/*
 * Wait for n places: 0, or ECANCELED / ETIMEDOUT having taken nothing.
 * *arrival: when the waiter joins the queue.  One that had to wait for
 * its places joins at the time the drain's schedule gave them back (not
 * when it woke up and saw it): the place was its from then on, and
 * dating it later would add the wake-up latency to every departure of a
 * saturated queue (a full queue of one would fall behind its rate).
 */
static int lbq_wait_places(struct lbq *q, struct lbq_waiter *w, unsigned n,
			   const struct ctx *ctx, uint64_t deadline,
			   uint64_t *arrival)
{
	uint64_t start = mono_ns(), freed;
	int rc = 0;

	*arrival = start;
	if (lbq_take(q, n))
		return 0;
	for (;;) {
		uint32_t seq = atomic_load(&q->freed);
		bool took;

		atomic_fetch_add(&q->freed_sleepers, 1);
		if (atomic_load(&w->cancelled) || atomic_load(&q->stop)) {
			atomic_fetch_sub(&q->freed_sleepers, 1);
			rc = ctx_err(ctx);
			return rc && atomic_load(&w->cancelled) ? rc : ECANCELED;
		}
		took = lbq_take(q, n);
		if (!took && rc == ETIMEDOUT) {
			atomic_fetch_sub(&q->freed_sleepers, 1);
			return ETIMEDOUT;
		}
		if (!took)
			rc = futex_wait(&q->freed, seq, deadline);
		atomic_fetch_sub(&q->freed_sleepers, 1);
		if (took)
			break;
	}
	/* Never before it came; never after now (freed_at <= now). */
	freed = atomic_load(&q->freed_at);
	if (freed > start)
		*arrival = freed;
	return 0;
}

static int lbq_wait(struct rate *r, unsigned n, const struct ctx *cctx)
{
	struct lbq *q = to_lbq(r);
	struct ctx *ctx = (struct ctx *)cctx;
	uint64_t deadline = ctx_deadline(ctx);
	struct lbq_waiter w = { .q = q };
	struct ctx_hook hook;
	struct lbq_ticket *t;
	bool hooked = false;
	uint64_t arrival;
	uint32_t s;
	int rc;

	if (n == 0 || n > atomic_load(&q->burst))
		return EINVAL;
	if ((rc = ctx_err(ctx)))
		return rc;
	if (!atomic_load(&q->t_ps))
		return 0;
	if (deadline && lbq_earliest(q, mono_ns()) > deadline)
		return ETIMEDOUT;
	t = malloc(sizeof(*t));
	if (!t)
		return ENOMEM;
	rate_enter(&q->active);
	if (ctx_cancellable(ctx)) {
		hook = (struct ctx_hook){ .fn = lbq_cancelled, .arg = &w };
		hooked = !ctx->ops->after_func(ctx, &hook);
	}
	if ((rc = lbq_wait_places(q, &w, n, ctx, deadline, &arrival))) {
		free(t);
		t = NULL;
		goto out;
	}
	atomic_init(&t->state, TK_WAITING);
	atomic_init(&t->refs, 2);
	t->n = n;
	t->arrival = arrival;
	atomic_fetch_add(&q->backlog, n);
	if (q->co->send(q->ch, t, NULL)) {	/* closed: destroy() */
		atomic_fetch_sub(&q->backlog, n);
		lbq_give_back(q, n, mono_ns());
		free(t);
		t = NULL;
		rc = ECANCELED;
		goto out;
	}
	/* From here the drain owns a reference; the hook may cancel it. */
	atomic_store(&w.ticket, t);
	if (atomic_load(&w.cancelled)) {
		uint32_t e = TK_WAITING;

		atomic_compare_exchange_strong(&t->state, &e, TK_CANCELLED);
	}
	/*
	 * Spin up to RATE_SPIN_NS for the departure before sleeping: the
	 * drain releases on time (rate_sleep_until), and a futex wake-up on
	 * a VM would add tens of microseconds to every departure.
	 */
	for (uint64_t t0 = mono_ns();
	     atomic_load_explicit(&t->state, memory_order_relaxed) == TK_WAITING &&
	     mono_ns() - t0 < RATE_SPIN_NS;)
		cpu_relax();
	while ((s = atomic_load(&t->state)) == TK_WAITING) {
		if (futex_wait(&t->state, TK_WAITING, deadline) == ETIMEDOUT) {
			uint32_t e = TK_WAITING;

			if (atomic_compare_exchange_strong(&t->state, &e, TK_CANCELLED)) {
				s = TK_CANCELLED;
				break;
			}
		}
	}
	switch (s) {
	case TK_DEPARTED:
		rc = 0;
		break;
	case TK_CANCELLED:	/* by the context, or by our own deadline */
		if (!(rc = ctx_err(ctx)))
			rc = atomic_load(&w.cancelled) ? ECANCELED : ETIMEDOUT;
		break;
	default:	/* TK_CLOSED */
		rc = ECANCELED;
	}
out:
	if (hooked)
		ctx->ops->stop(ctx, &hook);
	if (t)
		lbq_ticket_put(t);
	rate_leave(&q->active);
	return rc;
}

static int lbq_reserve(struct rate *r, unsigned n, struct rate_reservation *res)
{
	(void)r;
	(void)n;
	(void)res;
	return ENOTSUP;
}

static void lbq_cancel(struct rate *r, struct rate_reservation *res)
{
	(void)r;
	(void)res;
}

static int lbq_set_rate(struct rate *r, double rate)
{
	struct lbq *q = to_lbq(r);

	if (!rate_valid(rate, atomic_load(&q->burst)))
		return EINVAL;
	atomic_store(&q->t_ps, rate_interval_ps(rate));
	atomic_fetch_add(&q->gen, 1);
	futex_wake(&q->gen, 1);
	return 0;
}

static int lbq_set_burst(struct rate *r, unsigned burst)
{
	struct lbq *q = to_lbq(r);

	if (!rate_valid(1, burst) || burst > q->cap)
		return EINVAL;
	atomic_store(&q->burst, burst);
	lbq_wake_freed(q);
	return 0;
}

const struct rate_ops rate_lb_queue_ops = {
	.info = {
		.name = "lb-queue",
		.desc = "leaky bucket as a queue (shaping): a channel of tickets, a drain thread departs one per T",
		.flags = IMPL_FIFO,
	},
	.no_reserve = "a departure is decided when the drain reaches the ticket (a cancelled one ahead gives up its slot), and a ticket in a channel cannot be taken back",
	.no_fake_clock = "a drain thread runs on real time",
	.fixed_burst = "the ticket channel's capacity is the burst given at create()",
	.create = lbq_create,
	.destroy = lbq_destroy,
	.allow = lbq_allow,
	.reserve = lbq_reserve,
	.cancel = lbq_cancel,
	.wait = lbq_wait,
	.set_rate = lbq_set_rate,
	.set_burst = lbq_set_burst,
};
