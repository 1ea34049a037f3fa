/* SPDX-License-Identifier: MIT */
/*
 * The rate-limiter stress checker (contend stress rate).
 *
 * Threads play rounds on one shared limiter, kept in a slot as chan_stress
 * and ctx_stress keep theirs (stress_slot_own/join).  The thread that
 * finds the slot empty owns the next round: it picks a rate (1k/s .. 5M/s,
 * log-uniform, or a round value), a burst (1 .. 1000) and a length
 * (2-17 ms, shorter where the rate is high, so the logs hold every
 * admission), creates the limiter on the real clock, opens the slot, and
 * then, in a "changes" round, calls set_rate/set_burst at random moments,
 * or in a "cancels" round cancels the contexts of waits in progress.  Then
 * it closes the slot, cancels the round's sleeper (below), waits for the
 * joiners to leave and checks the round.
 *
 * A joiner hammers the limiter in a tight loop until the round closes.
 * In a "cancels" round: allow(n), reserve(n) (budgeted so the debt stays
 * within the round), cancel of its outstanding reservations (sometimes
 * twice), wait(n) under a plain deadline, under a ctx/futex context the
 * owner may cancel, or under one already cancelled, and now and then a
 * call with n = 0 or n > burst.  In a "changes" round, allow(n) alone: a
 * reservation's time (a sleeping wait's too) is fixed under the
 * configuration it was made in, and a change keeps the tokens, not the
 * time, so a limiter may rightly schedule new events beside one made
 * before the change: the definition's bound does not span that.  n is 1
 * half the time, else 1 .. burst.
 * One joiner of a "cancels" round may become its sleeper instead: it
 * drains a private limiter of 0.1/s (T = 10 s), waits for one event under
 * a ctx/futex context without deadline, and the owner cancels that
 * context when it closes the round.
 *
 * Every admission goes into the thread's own log as an interval [lo, hi]
 * holding the moment the limiter admitted it, with its weight n:
 *   - allow() or wait() returning 0: lo = CLOCK_MONOTONIC read just before
 *     the call, hi = just after it.  The limiter reads its clock inside
 *     the call and only moves its time forward (rate.h), so its admission
 *     time lies in [lo, hi];
 *   - reserve(): the events happen at res.at, or at once when res.at is
 *     not later than the call: [max(at - 1, lo), max(at, hi)].  The 1 ns:
 *     res.at is the moment the credit is back, rounded up to the ns, so
 *     the exact moment (in ps) later events are reckoned from may be up
 *     to 1 ns before it.
 * A cancelled reservation is struck from the log (under contention the
 * checker cannot know whether it was refunded, so it counts it as not:
 * fewer events counted can only hide a violation, never invent one).
 *
 * The bound, exactly, without ever failing a correct limiter: an event is
 * counted in the window [s, s + w] only if its whole interval lies inside
 * (lo >= s and hi <= s + w), so the window's true length is at most w, and
 * it must hold at most burst + w / T events (T = rate_interval_ps, in ps,
 * weighted by n).  At the end of each round the logs are merged and
 * sorted twice, by lo (A) and by hi (B), and a two-pointer sweep puts s at
 * every A[k].lo: the events with hi <= s + w (a pointer into B, which only
 * moves forward as s does) less the weight of A[0..k-1] (events that began
 * before s) is a lower bound of what [s, s + w] certainly holds, exact
 * when no earlier interval ends past s + w, that is for every event but
 * the few caught mid-call by a preemption.  Windows: T/2 (the burst
 * alone), T, 3T, 10T, 100T and the whole round.
 *
 * set_rate/set_burst under load: the owner logs each change with the
 * interval [lo, hi] of its call.  A window is checked against the largest
 * burst and the highest rate of every configuration that may have been in
 * effect in it (the one before it, and every change whose call overlaps
 * it), plus, for each such change, one event and whatever a raise of the
 * burst added: whichever way an implementation carries its state over a
 * change (tokens kept, a GCRA raising its tolerance with the burst, a
 * rounding of the rescaled credit), a correct one stays within it.
 *
 * A thread with no round at hand (or now and then anyway) plays a private
 * sequence where every result is known:
 *   - on an injected clock (not for no_fake_clock implementations), a
 *     random walk of allow, reserve, cancel, a second cancel and clock
 *     steps, each result compared with an exact model of rate.h's
 *     definition (credit in ps); after every cancel a probe finds, to the
 *     nanosecond, when allow(1) admits again, which pins down exactly what
 *     the cancel refunded under the rule of rate.h (all of it if nothing
 *     was admitted or reserved after the reservation and its time has not
 *     come, else nothing).  Cases where implementations may honestly
 *     differ are not played: a cancel exactly at res.at, and one whose
 *     only later reservations were all refunded;
 *   - on the real clock: a full limiter admits burst at once, then
 *     wait(k) must not return before k * T after the limiter was created;
 *     n = 0, n > burst, bad rates and bursts are EINVAL (for wait without
 *     a deadline too: a hang is the watchdog's).
 *
 * Checked (each violation message starts with the invariant's name):
 *   - bound: no window of length w holds more than burst + rate * w;
 *   - model: a private sequence's allow, reserve (res.at) and the effect
 *     of cancel agree exactly with rate.h (refund, second cancel);
 *   - wait: never returns 0 before its time; returns ECANCELED promptly
 *     when its context is cancelled (the sleeper; one that never returns
 *     is a hang, which the watchdog reports); ETIMEDOUT only with a
 *     deadline, ECANCELED only from a cancelled context;
 *   - einval: n = 0 or n > burst gives EINVAL at once, and only those;
 *     bad configurations are EINVAL;
 *   - full: a new limiter admits its burst at once;
 *   - result: every call returns one of its documented codes.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chaos.h"
#include "clock.h"
#include "ctx.h"
#include "rate.h"
#include "stress.h"

#define US 1000ull
#define MS 1000000ull
#define LOG_CAP (1u << 15)		/* admissions per thread per round */
#define ROUND_EVENTS 12000u		/* what a round's length aims at */
#define MAX_CHANGES 12
#define MAX_OUT 4			/* outstanding reservations per thread */
#define SLEEP_RATE 0.1			/* the sleeper's limiter: T = 10 s */
#define PROMPT_NS (1000 * MS)		/* a cancelled wait returns within */
#define WAIT_GUARD_NS (1000 * MS)	/* deadline of waits that must not block */

enum mode { MODE_CHANGES, MODE_CANCELS };

enum sleeper_state {
	SL_NONE,	/* nobody: a joiner may claim it */
	SL_CLAIMED,	/* a joiner is setting up */
	SL_WAITING,	/* its context is published, it is (about to be) in wait() */
	SL_RETURNED,	/* its wait() returned */
	SL_CLOSED,	/* the owner closed the round with no sleeper */
};

/* One admission: the limiter admitted n events at some time in [lo, hi]. */
struct ev {
	uint64_t lo, hi;
	uint32_t n;		/* 0: struck (a cancelled reservation) */
};

struct tlog {
	struct ev *ev;
	unsigned len;
	uint64_t round;		/* the round these entries belong to */
} cacheline_aligned;

struct cfg {
	double rate;
	uint64_t T;		/* ps */
	unsigned burst;
};

struct change {
	uint64_t lo, hi;	/* the set_* call */
	struct cfg c;		/* in effect after it */
	bool burst;		/* set_burst (else set_rate) */
};

/* Per thread: the context of a wait in progress, for the owner to cancel. */
struct pub {
	struct ctx *_Atomic ctx;
	_Atomic bool handed;	/* the owner is done with it */
} cacheline_aligned;

/* A point of a sorted list: a time and a weight. */
struct pt {
	uint64_t t;
	uint64_t n;
};

struct round {
	_Atomic uint32_t state;		/* the slot word (stress.h) */
	/* Set up by the owner under BUSY alone, read-only while open. */
	uint64_t id;
	struct rate *r;
	enum mode mode;
	struct cfg cfg0;
	unsigned minb, maxb;		/* over every configuration of the round */
	uint64_t len;
	_Atomic int64_t budget;		/* reservable events left */
	/* The owner's alone until the check. */
	struct change ch[MAX_CHANGES];
	unsigned nch;
	/* The sleeper. */
	_Atomic int sleeper;		/* enum sleeper_state */
	struct ctx *_Atomic sleeper_ctx;
	_Atomic bool sleeper_cancelled;	/* the owner's cancel() returned */
	_Atomic int sleeper_rc;
	_Atomic uint64_t sleeper_t0, sleeper_tr;
	/* Counts, for the report. */
	_Atomic uint64_t admitted, rejected, reserved, cancels, waits;
} cacheline_aligned;

struct rate_stress {
	const struct rate_ops *ops;
	unsigned nthreads;
	struct tlog *logs;
	struct pub *pubs;
	struct pt *a, *b, *tmp;		/* the owner's merge buffers */
	_Atomic uint64_t rounds, events, solos, model_steps;
	struct round rd;
};

/* ---- small helpers --------------------------------------------------- */

static void nap(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };

	nanosleep(&ts, NULL);
}

static const char *code(int rc)
{
	static const char *const names[] = {
		[0] = "0", [EAGAIN] = "EAGAIN", [EINVAL] = "EINVAL",
		[ETIMEDOUT] = "ETIMEDOUT", [ECANCELED] = "ECANCELED",
		[ENOMEM] = "ENOMEM",
	};

	if (rc >= 0 && (size_t)rc < ARRAY_SIZE(names) && names[rc])
		return names[rc];
	return "an unknown code";
}

static struct cfg make_cfg(double rate, unsigned burst)
{
	return (struct cfg){ rate, rate_interval_ps(rate), burst };
}

/* 1k/s .. 5M/s: a round value, or log-uniform. */
static double pick_rate(uint64_t r)
{
	static const double round_rates[] = {
		1e3, 2e3, 1e4, 5e4, 1e5, 333333, 1e6, 5e6,
	};

	if (r % 4 == 0)
		return round_rates[(r >> 2) % ARRAY_SIZE(round_rates)];
	return 1e3 * pow(5e3, (double)((r >> 8) % 1000000) / 1e6);
}

static unsigned pick_burst(uint64_t r)
{
	static const unsigned bursts[] = { 1, 1, 2, 3, 5, 7, 10, 16, 64, 100, 333, 1000 };

	return bursts[r % ARRAY_SIZE(bursts)];
}

/* n for a call: 1 half the time, else 1 .. max. */
static unsigned pick_n(uint64_t r, unsigned max)
{
	return r % 2 ? 1 : 1 + (unsigned)((r >> 1) % max);
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/* ---- sorting --------------------------------------------------------- */

/* Bottom-up merge sort of n points by time (stable), using tmp. */
static void sort_pts(struct pt *p, struct pt *tmp, size_t n)
{
	struct pt *src = p, *dst = tmp;

	for (size_t width = 1; width < n; width *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * width) {
			size_t mid = lo + width < n ? lo + width : n;
			size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
			size_t i = lo, j = mid, k = lo;

			while (i < mid && j < hi)
				dst[k++] = src[j].t < src[i].t ? src[j++] : src[i++];
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		struct pt *x = src;

		src = dst;
		dst = x;
	}
	if (src != p)
		memcpy(p, src, n * sizeof(*p));
}

/* ---- the bound ------------------------------------------------------- */

/*
 * What a window [s, x] may hold: the largest burst and rate of every
 * configuration that may have been in effect in it, one event per change
 * and what each raise of the burst added.  Returns false when some
 * configuration is unlimited (T = 0): nothing to check.  *lo_idx is the
 * first change whose call ends at or after s; it only moves forward.
 */
static bool window_limit(const struct round *rd, uint64_t s, uint64_t x,
			 unsigned *lo_idx, uint64_t *slack, uint64_t *tmin,
			 unsigned *bmax)
{
	unsigned i = *lo_idx;
	struct cfg prev;

	while (i < rd->nch && rd->ch[i].hi < s)
		i++;
	*lo_idx = i;
	prev = i ? rd->ch[i - 1].c : rd->cfg0;
	*tmin = prev.T;
	*bmax = prev.burst;
	*slack = 0;
	for (; i < rd->nch && rd->ch[i].lo <= x; i++) {
		const struct cfg *c = &rd->ch[i].c;

		if (c->T < *tmin)
			*tmin = c->T;
		if (c->burst > *bmax)
			*bmax = c->burst;
		*slack += 1 + (c->burst > prev.burst ? c->burst - prev.burst : 0);
		prev = *c;
	}
	return *tmin != 0;
}

/*
 * Sweep windows of length w over the round's n admissions (a: sorted by
 * lo, b: by hi).  Reports one violation for the worst window, if any is
 * over; returns whether one was.
 */
static bool sweep(struct stress *s, const struct round *rd,
		  const struct pt *a, const struct pt *b, size_t n,
		  uint64_t w, const char *wname)
{
	uint64_t before = 0, upto = 0;	/* weight of a[0..k-1]; of b[0..j-1] */
	uint64_t worst_over = 0, worst_count = 0, worst_allowed = 0;
	uint64_t worst_s = 0, worst_tmin = 0;
	unsigned lo_idx = 0, worst_b = 0;
	size_t j = 0;

	for (size_t k = 0; k < n; before += a[k].n, k++) {
		uint64_t start = a[k].t, end = start + w, slack, tmin, count;
		unsigned bmax;
		__int128 allowed;

		if (k && a[k - 1].t == start)
			continue;	/* the first of equal starts counts most */
		while (j < n && b[j].t <= end)
			upto += b[j++].n;
		if (upto <= before)
			continue;
		count = upto - before;
		if (!window_limit(rd, start, end, &lo_idx, &slack, &tmin, &bmax))
			continue;
		allowed = (__int128)bmax + slack + (__int128)w * 1000 / tmin;
		if ((__int128)count > allowed &&
		    (uint64_t)((__int128)count - allowed) > worst_over) {
			worst_over = (uint64_t)((__int128)count - allowed);
			worst_count = count;
			worst_allowed = (uint64_t)allowed;
			worst_s = start;
			worst_tmin = tmin;
			worst_b = bmax;
		}
	}
	/* A baseline that promised no better (rate_ops.inexact): noted. */
	if (!worst_over || rate_ops_of(s->impl)->inexact)
		return false;
	stress_violation(s, "bound: %llu events admitted within %llu ns (window %s), at most %llu allowed (burst %u + rate %.6g/s x window%s) in round %llu (%s round, rate %.6g/s, burst %u, %u changes; %.3f ms into it)",
			 (unsigned long long)worst_count, (unsigned long long)w,
			 wname, (unsigned long long)worst_allowed, worst_b,
			 1e12 / (double)worst_tmin,
			 rd->nch ? " + changes" : "", (unsigned long long)rd->id,
			 rd->mode == MODE_CHANGES ? "a changes" : "a cancels",
			 rd->cfg0.rate, rd->cfg0.burst, rd->nch,
			 (double)(worst_s - a[0].t) / 1e6);
	return true;
}

/* ---- the round's check ------------------------------------------------ */

static void check_round(struct stress_thread *t, struct rate_stress *rs)
{
	struct round *rd = &rs->rd;
	uint64_t T = rd->cfg0.T, first = UINT64_MAX, last = 0;
	size_t n = 0;

	for (unsigned i = 0; i < rd->nch; i++)
		if (rd->ch[i].c.T < T)
			T = rd->ch[i].c.T;
	for (unsigned i = 0; i < rs->nthreads; i++) {
		const struct tlog *lg = &rs->logs[i];

		if (lg->round != rd->id)
			continue;
		for (unsigned k = 0; k < lg->len; k++) {
			const struct ev *e = &lg->ev[k];

			if (!e->n)
				continue;
			rs->a[n] = (struct pt){ e->lo, e->n };
			rs->b[n] = (struct pt){ e->hi, e->n };
			if (e->lo < first)
				first = e->lo;
			if (e->hi > last)
				last = e->hi;
			n++;
		}
	}
	atomic_fetch_add_explicit(&rs->events, n, memory_order_relaxed);
	if (!n || !T)
		return;
	stress_begin(t, "check the round", (unsigned)n);
	sort_pts(rs->a, rs->tmp, n);
	sort_pts(rs->b, rs->tmp, n);
	/* Most telling first: one violation per round is enough. */
	if (!sweep(t->s, rd, rs->a, rs->b, n, T / 2000, "T/2") &&
	    !sweep(t->s, rd, rs->a, rs->b, n, T / 1000, "T") &&
	    !sweep(t->s, rd, rs->a, rs->b, n, 3 * T / 1000, "3T") &&
	    !sweep(t->s, rd, rs->a, rs->b, n, 10 * T / 1000, "10T") &&
	    !sweep(t->s, rd, rs->a, rs->b, n, 100 * T / 1000, "100T"))
		sweep(t->s, rd, rs->a, rs->b, n, last - first, "the whole round");
	stress_end(t);
}

/* ---- what a round's owner does ---------------------------------------- */

static void plan_round(struct stress_thread *t, struct rate_stress *rs,
		       struct cfg *plan, bool *is_burst, unsigned *nplan)
{
	struct round *rd = &rs->rd;
	uint64_t r = stress_rand(t), tmin, tmax;
	struct cfg c;

	rd->mode = r % 3 == 0 ? MODE_CHANGES : MODE_CANCELS;
	rd->cfg0 = make_cfg(pick_rate(stress_rand(t)), pick_burst(r >> 4));
	rd->minb = rd->maxb = rd->cfg0.burst;
	tmin = tmax = rd->cfg0.T;
	*nplan = 0;
	c = rd->cfg0;
	if (rd->mode == MODE_CHANGES) {
		*nplan = 1 + (unsigned)((r >> 12) % MAX_CHANGES);
		for (unsigned i = 0; i < *nplan; i++) {
			uint64_t q = stress_rand(t);

			is_burst[i] = q % 2;
			if (is_burst[i])
				c = make_cfg(c.rate, pick_burst(q >> 4));
			else
				c = make_cfg(pick_rate(q >> 4), c.burst);
			plan[i] = c;
			if (c.burst < rd->minb)
				rd->minb = c.burst;
			if (c.burst > rd->maxb)
				rd->maxb = c.burst;
			if (c.T < tmin)
				tmin = c.T;
			if (c.T > tmax)
				tmax = c.T;
		}
	}
	/* 2-17 ms, shorter where the fastest rate would fill the logs. */
	rd->len = 2 * MS + (r >> 20) % (15 * MS);
	if (rd->len > (uint64_t)(ROUND_EVENTS - rd->maxb) * tmin / 1000)
		rd->len = (uint64_t)(ROUND_EVENTS - rd->maxb) * tmin / 1000;
	/* Reservations: half of what the slowest rate gives in the round. */
	atomic_store_explicit(&rd->budget,
			      (int64_t)(rd->len * 1000 / tmax / 2) + 1,
			      memory_order_relaxed);
}

/* Cancel the wait some joiner has in progress under a published context. */
static void cancel_someone(struct stress_thread *t, struct rate_stress *rs)
{
	unsigned i = (unsigned)(stress_rand(t) % rs->nthreads);
	struct pub *pb = &rs->pubs[i];
	struct ctx *c;

	if (i == t->id || !atomic_load_explicit(&pb->ctx, memory_order_relaxed))
		return;
	c = atomic_exchange_explicit(&pb->ctx, NULL, memory_order_acq_rel);
	if (!c)
		return;
	chaos_point();
	stress_begin(t, "cancel a joiner's wait", i);
	ctx_futex_ops.cancel(c, ECANCELED, "stress: the round's owner");
	stress_end(t);
	atomic_store_explicit(&pb->handed, true, memory_order_release);
}

/* Close the sleeper's round: cancel its wait and check how it returned. */
static void end_sleeper(struct stress_thread *t, struct rate_stress *rs)
{
	struct round *rd = &rs->rd;
	int st = SL_NONE;
	uint64_t tc, tr, t0;
	struct ctx *c;
	int rc;

	if (atomic_compare_exchange_strong(&rd->sleeper, &st, SL_CLOSED))
		return;
	stress_begin(t, "await the sleeper's context", 0);
	while ((st = atomic_load_explicit(&rd->sleeper, memory_order_acquire)) == SL_CLAIMED)
		sched_yield();
	stress_end(t);
	c = atomic_load_explicit(&rd->sleeper_ctx, memory_order_acquire);
	tc = mono_ns();
	if (c) {
		chaos_point();
		stress_begin(t, "cancel the sleeper", 0);
		ctx_futex_ops.cancel(c, ECANCELED, "stress: the round's owner");
		stress_end(t);
	}
	/* A wait that ignores the cancel keeps us here: the watchdog's. */
	stress_begin(t, "await the cancelled sleeper", 0);
	while (atomic_load_explicit(&rd->sleeper, memory_order_acquire) != SL_RETURNED)
		sched_yield();
	stress_end(t);
	atomic_store_explicit(&rd->sleeper_cancelled, true, memory_order_release);
	if (!c)
		return;		/* it could not set up: counted there */
	rc = atomic_load(&rd->sleeper_rc);
	tr = atomic_load(&rd->sleeper_tr);
	t0 = atomic_load(&rd->sleeper_t0);
	if (rc == 0 && tr < t0 + (uint64_t)(1e9 / SLEEP_RATE))
		stress_violation(t->s, "wait: returned 0 %.3f s after a wait(1) on a drained limiter of %g/s, whose event was due %.0f s after",
				 (double)(tr - t0) / 1e9, SLEEP_RATE, 1 / SLEEP_RATE);
	else if (rc != 0 && rc != ECANCELED)
		stress_violation(t->s, "wait: a wait whose context was cancelled returned %s, not ECANCELED",
				 code(rc));
	else if (rc == ECANCELED && tr > tc && tr - tc > PROMPT_NS)
		stress_violation(t->s, "wait: returned %.3f s after its context was cancelled",
				 (double)(tr - tc) / 1e9);
}

static void own_round(struct stress_thread *t, struct rate_stress *rs)
{
	struct round *rd = &rs->rd;
	const struct rate_ops *ops = rs->ops;
	struct cfg plan[MAX_CHANGES];
	bool is_burst[MAX_CHANGES];
	unsigned nplan, done = 0;
	uint64_t start, due[MAX_CHANGES];
	int rc;

	plan_round(t, rs, plan, is_burst, &nplan);
	stress_begin(t, "create", rd->cfg0.burst);
	rc = ops->create(&rd->r, rd->cfg0.rate, rd->cfg0.burst, NULL);
	stress_end(t);
	if (rc) {
		stress_violation(t->s, "result: create(%g, %u) failed: %s",
				 rd->cfg0.rate, rd->cfg0.burst, code(rc));
		atomic_store_explicit(&rd->state, 0, memory_order_release);
		return;
	}
	rd->id = atomic_fetch_add(&rs->rounds, 1) + 1;
	rd->nch = 0;
	atomic_store(&rd->sleeper, SL_NONE);
	atomic_store(&rd->sleeper_ctx, NULL);
	atomic_store(&rd->sleeper_cancelled, false);
	start = mono_ns();
	for (unsigned i = 0; i < nplan; i++)
		due[i] = start + stress_rand(t) % rd->len;
	/* In order: the changes follow one another. */
	for (unsigned i = 1; i < nplan; i++)
		for (unsigned k = i; k && due[k - 1] > due[k]; k--) {
			uint64_t x = due[k];

			due[k] = due[k - 1];
			due[k - 1] = x;
		}
	/* Pairs with the joiners' acquire CAS: the round is ready. */
	atomic_store_explicit(&rd->state, STRESS_SLOT_BUSY | STRESS_SLOT_OPEN | 1,
			      memory_order_release);

	while (stress_running(t)) {
		uint64_t now = mono_ns(), q;

		if (now - start >= rd->len)
			break;
		if (done < nplan && now >= due[done]) {
			struct change *ch = &rd->ch[rd->nch];
			const struct cfg *c = &plan[done];

			ch->c = *c;
			ch->burst = is_burst[done];
			chaos_point();
			ch->lo = mono_ns();
			stress_begin(t, ch->burst ? "set_burst" : "set_rate", c->burst);
			rc = ch->burst ? ops->set_burst(rd->r, c->burst) :
					 ops->set_rate(rd->r, c->rate);
			stress_end(t);
			ch->hi = mono_ns();
			/* A fixed-capacity limiter may refuse a larger burst. */
			if (rc == EINVAL && ch->burst && ops->fixed_burst)
				;
			else if (rc)
				stress_violation(t->s, "result: %s(%g) returned %s",
						 ch->burst ? "set_burst" : "set_rate",
						 ch->burst ? (double)c->burst : c->rate,
						 code(rc));
			else
				rd->nch++;
			done++;
			continue;
		}
		q = stress_rand(t);
		if (rd->mode == MODE_CANCELS && !ops->no_cancel && q % 4 == 0)
			cancel_someone(t, rs);
		if (q % 8 == 0)
			nap((q >> 8) % (50 * US));
		else
			sched_yield();
	}
	atomic_fetch_and(&rd->state, ~STRESS_SLOT_OPEN);
	end_sleeper(t, rs);
	stress_begin(t, "await the round's joiners", 0);
	while ((atomic_load_explicit(&rd->state, memory_order_acquire) &
		STRESS_SLOT_USERS) > 1)
		sched_yield();
	stress_end(t);
	check_round(t, rs);
	stress_begin(t, "destroy", 0);
	ops->destroy(rd->r);
	stress_end(t);
	rd->r = NULL;
	/* Pairs with the next owner's acquire CAS. */
	atomic_store_explicit(&rd->state, 0, memory_order_release);
}

/* ---- what a joiner does ----------------------------------------------- */

struct joiner {
	struct stress_thread *t;
	struct rate_stress *rs;
	struct round *rd;
	const struct rate_ops *ops;
	struct tlog *lg;
	struct rate_reservation out[MAX_OUT];
	unsigned out_ev[MAX_OUT];	/* their log entries */
	unsigned nout;
};

static bool log_full(const struct joiner *j)
{
	return j->lg->len == LOG_CAP;
}

static void log_ev(struct joiner *j, uint64_t lo, uint64_t hi, unsigned n)
{
	j->lg->ev[j->lg->len++] = (struct ev){ lo, hi, n };
}

/* n = 0 or n > burst: EINVAL, at once. */
static void call_einval(struct joiner *j, uint64_t r)
{
	unsigned n = r % 4 == 0 ? 0 : j->rd->maxb + 1 + (unsigned)((r >> 2) % 3);
	struct rate_reservation res;
	const char *name;
	int rc;

	switch ((r >> 8) % 3) {
	case 0:
		name = "allow";
		stress_begin(j->t, name, n);
		rc = j->ops->allow(j->rd->r, n);
		break;
	case 1:
		if (!j->ops->no_reserve) {
			name = "reserve";
			stress_begin(j->t, name, n);
			rc = j->ops->reserve(j->rd->r, n, &res);
			break;
		}
		/* fall through */
	default:
		/* No deadline: anything but EINVAL at once hangs here. */
		name = "wait";
		stress_begin(j->t, name, n);
		rc = j->ops->wait(j->rd->r, n, NULL);
		break;
	}
	stress_end(j->t);
	if (rc != EINVAL)
		stress_violation(j->t->s, "einval: %s(%u) with burst %u returned %s, not EINVAL",
				 name, n, j->rd->maxb, code(rc));
}

/* A valid n failed with EINVAL: only when a change lowered the burst. */
static void bad_einval(struct joiner *j, const char *name, unsigned n, int rc)
{
	if (rc == EINVAL && n > j->rd->minb)
		return;
	stress_violation(j->t->s, "%s: %s(%u) returned %s (burst %u..%u)",
			 rc == EINVAL ? "einval" : "result", name, n, code(rc),
			 j->rd->minb, j->rd->maxb);
}

static void call_allow(struct joiner *j, unsigned n)
{
	uint64_t lo, hi;
	int rc;

	stress_begin(j->t, "allow", n);
	lo = mono_ns();
	rc = j->ops->allow(j->rd->r, n);
	hi = mono_ns();
	stress_end(j->t);
	if (rc == 0) {
		log_ev(j, lo, hi, n);
		atomic_fetch_add_explicit(&j->rd->admitted, 1, memory_order_relaxed);
	} else if (rc == EAGAIN) {
		atomic_fetch_add_explicit(&j->rd->rejected, 1, memory_order_relaxed);
	} else {
		bad_einval(j, "allow", n, rc);
	}
}

static void cancel_out(struct joiner *j, unsigned i, bool twice)
{
	struct rate_reservation *res = &j->out[i];

	chaos_point();
	stress_begin(j->t, "cancel", res->n);
	j->ops->cancel(j->rd->r, res);
	if (twice)
		j->ops->cancel(j->rd->r, res);
	stress_end(j->t);
	if (res->n)
		stress_violation(j->t->s, "result: a cancelled reservation still says n = %u",
				 res->n);
	/* Refunded or not, it no longer counts (see the top). */
	j->lg->ev[j->out_ev[i]].n = 0;
	atomic_fetch_add_explicit(&j->rd->cancels, 1, memory_order_relaxed);
	j->out[i] = j->out[--j->nout];
	j->out_ev[i] = j->out_ev[j->nout];
}

static void call_reserve(struct joiner *j, unsigned n, uint64_t r)
{
	struct rate_reservation res;
	uint64_t lo, hi;
	int rc;

	/* Budgeted: the debt stays within the round, so waits can be served. */
	if (atomic_fetch_sub_explicit(&j->rd->budget, n, memory_order_relaxed) < (int64_t)n) {
		atomic_fetch_add_explicit(&j->rd->budget, n, memory_order_relaxed);
		call_allow(j, n);
		return;
	}
	memset(&res, 0, sizeof(res));
	stress_begin(j->t, "reserve", n);
	lo = mono_ns();
	rc = j->ops->reserve(j->rd->r, n, &res);
	hi = mono_ns();
	stress_end(j->t);
	if (rc) {
		bad_einval(j, "reserve", n, rc);
		return;
	}
	if (res.n != n)
		stress_violation(j->t->s, "result: reserve(%u) returned a reservation of %u",
				 n, res.n);
	/*
	 * The events happen at res.at, or at once if that is not later.
	 * res.at is the credit's return rounded up to the ns, up to 1 ns
	 * after the exact (ps) moment the next event is reckoned from.
	 */
	log_ev(j, res.at > lo + 1 ? res.at - 1 : lo, res.at > hi ? res.at : hi, n);
	atomic_fetch_add_explicit(&j->rd->reserved, 1, memory_order_relaxed);
	if (j->rd->mode != MODE_CANCELS)
		return;
	if (j->nout == MAX_OUT)
		cancel_out(j, (unsigned)(r % MAX_OUT), (r >> 4) % 4 == 0);
	j->out[j->nout] = res;
	j->out_ev[j->nout++] = j->lg->len - 1;
	if ((r >> 8) % 2)
		cancel_out(j, j->nout - 1, (r >> 12) % 4 == 0);
}

enum wait_how { W_PLAIN, W_CANCELLABLE, W_CANCELLED };

static void call_wait(struct joiner *j, unsigned n, uint64_t r)
{
	struct pub *pb = &j->rs->pubs[j->t->id];
	enum wait_how how = W_PLAIN;
	struct ctx plain = { 0 }, *c = NULL;
	const struct ctx *arg = &plain;
	uint64_t lo, hi, deadline;
	int rc, cerr;

	deadline = mono_ns() + (r >> 8) % (j->rd->len / 2 + 1);
	if (j->rd->mode == MODE_CANCELS && !j->ops->no_cancel)
		how = r % 8 == 0 ? W_CANCELLED : r % 2 ? W_CANCELLABLE : W_PLAIN;
	if (how != W_PLAIN) {
		if (ctx_futex_ops.create(&c, NULL, how == W_CANCELLED ? 0 : deadline)) {
			stress_violation(j->t->s, "result: ctx/futex create failed");
			return;
		}
		arg = c;
		if (how == W_CANCELLED) {
			ctx_futex_ops.cancel(c, ECANCELED, "stress: before the call");
		} else {
			atomic_store_explicit(&pb->handed, false, memory_order_relaxed);
			/* Pairs with the owner's exchange. */
			atomic_store_explicit(&pb->ctx, c, memory_order_release);
		}
	} else {
		plain.deadline_ns = deadline;
	}
	stress_begin(j->t, how == W_PLAIN ? "wait (deadline)" :
		     how == W_CANCELLED ? "wait (cancelled context)" :
		     "wait (cancellable)", n);
	lo = mono_ns();
	rc = j->ops->wait(j->rd->r, n, arg);
	hi = mono_ns();
	stress_end(j->t);
	atomic_fetch_add_explicit(&j->rd->waits, 1, memory_order_relaxed);
	cerr = ctx_err(arg);
	switch (rc) {
	case 0:
		if (how == W_CANCELLED)
			stress_violation(j->t->s, "wait: wait(%u) under a context already cancelled went ahead",
					 n);
		log_ev(j, lo, hi, n);
		break;
	case ETIMEDOUT:
		if (how == W_CANCELLED)
			stress_violation(j->t->s, "wait: wait(%u) under a cancelled context (no deadline) returned ETIMEDOUT",
					 n);
		break;
	case ECANCELED:
		if (cerr != ECANCELED)
			stress_violation(j->t->s, "wait: wait(%u) returned ECANCELED, its context's err is %s",
					 n, code(cerr));
		break;
	default:
		bad_einval(j, "wait", n, rc);
		break;
	}
	if (how == W_CANCELLABLE &&
	    !atomic_exchange_explicit(&pb->ctx, NULL, memory_order_acq_rel))
		while (!atomic_load_explicit(&pb->handed, memory_order_acquire))
			sched_yield();
	if (c)
		ctx_futex_ops.destroy(c);
}

/*
 * The round's sleeper: a wait that only the owner's cancel can end (its
 * event is 10 s away), on a private limiter so the round's check is not
 * concerned.
 */
static void sleeper(struct joiner *j)
{
	struct round *rd = j->rd;
	struct rate *r = NULL;
	struct ctx *c = NULL;
	uint64_t t0;
	int rc;

	t0 = mono_ns();
	rc = j->ops->create(&r, SLEEP_RATE, 1, NULL);
	if (rc) {
		stress_violation(j->t->s, "result: create(%g, 1) failed: %s",
				 SLEEP_RATE, code(rc));
	} else if ((rc = j->ops->allow(r, 1))) {
		stress_violation(j->t->s, "full: allow(1) on a new limiter of burst 1 returned %s",
				 code(rc));
	} else if (ctx_futex_ops.create(&c, NULL, 0)) {
		stress_violation(j->t->s, "result: ctx/futex create failed");
		c = NULL;
	}
	if (!c) {
		atomic_store_explicit(&rd->sleeper, SL_RETURNED, memory_order_release);
	} else {
		atomic_store_explicit(&rd->sleeper_t0, t0, memory_order_relaxed);
		atomic_store_explicit(&rd->sleeper_ctx, c, memory_order_relaxed);
		atomic_store_explicit(&rd->sleeper, SL_WAITING, memory_order_release);
		stress_begin(j->t, "wait (the sleeper)", 1);
		rc = j->ops->wait(r, 1, c);
		stress_end(j->t);
		atomic_store_explicit(&rd->sleeper_tr, mono_ns(), memory_order_relaxed);
		atomic_store_explicit(&rd->sleeper_rc, rc, memory_order_relaxed);
		atomic_store_explicit(&rd->sleeper, SL_RETURNED, memory_order_release);
	}
	/* The owner may still be inside cancel(). */
	stress_begin(j->t, "await the owner's cancel", 0);
	while (!atomic_load_explicit(&rd->sleeper_cancelled, memory_order_acquire))
		sched_yield();
	stress_end(j->t);
	if (c)
		ctx_futex_ops.destroy(c);
	if (r)
		j->ops->destroy(r);
}

static void join_round(struct stress_thread *t, struct rate_stress *rs)
{
	struct joiner j = {
		.t = t, .rs = rs, .rd = &rs->rd, .ops = rs->ops,
		.lg = &rs->logs[t->id],
	};
	struct round *rd = j.rd;
	int st = SL_NONE;

	if (j.lg->round != rd->id) {
		j.lg->round = rd->id;
		j.lg->len = 0;
	}
	chaos_point();
	if (rd->mode == MODE_CANCELS && !j.ops->no_cancel &&
	    stress_rand(t) % 4 == 0 &&
	    atomic_compare_exchange_strong(&rd->sleeper, &st, SL_CLAIMED)) {
		sleeper(&j);
	} else {
		while (stress_running(t) && !log_full(&j) &&
		       (atomic_load_explicit(&rd->state, memory_order_relaxed) &
			STRESS_SLOT_OPEN)) {
			uint64_t r = stress_rand(t);
			unsigned n = pick_n(r >> 16, r % 4 ? rd->minb : rd->maxb);

			if (n > rd->minb && r % 2)
				n = rd->minb;
			/*
			 * Changes rounds: allow only.  A reservation's `at`
			 * (a sleeping wait's too) is fixed under the
			 * configuration it was made in; a change keeps the
			 * tokens, not the time, so the limiter may schedule
			 * new events right beside it.  The definition's bound
			 * does not cover events that straddle a change.
			 */
			if (rd->mode == MODE_CHANGES && r % 32 < 4 &&
			    (r % 32 || (r >> 8) % 8))
				r |= 4;
			switch (r % 32) {
			case 0:
				if ((r >> 8) % 8 == 0) {
					call_einval(&j, r >> 12);
					break;
				}
				/* fall through */
			case 1: case 2:
				if (!j.ops->no_reserve) {
					call_reserve(&j, n, r >> 12);
					break;
				}
				/* fall through */
			case 3:
				call_wait(&j, n, r >> 12);
				break;
			default:
				call_allow(&j, n);
				break;
			}
			if (r % 64 == 0)
				chaos_point();
		}
		/* Outstanding reservations: cancel some, keep the others. */
		while (j.nout)
			if (stress_rand(t) % 2)
				cancel_out(&j, j.nout - 1, false);
			else
				j.nout--;
	}
	/* Pairs with the owner's acquire load: our log is complete. */
	atomic_fetch_sub_explicit(&rd->state, 1, memory_order_acq_rel);
}

/* ---- one thread, an injected clock: every result known ---------------- */

struct fake_clock {
	_Atomic uint64_t now;
};

static uint64_t fake_now(void *arg)
{
	return atomic_load_explicit(&((struct fake_clock *)arg)->now,
				    memory_order_relaxed);
}

/* rate.h's definition, exactly: credit in ps, signed (reserve's debt). */
struct model {
	uint64_t T;
	unsigned b;
	uint64_t last;
	__int128 credit;
};

static void model_advance(struct model *m, uint64_t t)
{
	if (t > m->last) {
		m->credit += (__int128)(t - m->last) * 1000;
		if (m->credit > (__int128)m->b * m->T)
			m->credit = (__int128)m->b * m->T;
		m->last = t;
	}
}

/* A reservation of the private sequence and what the model knows of it. */
struct mres {
	struct rate_reservation res;
	uint64_t at;
	unsigned n;
	bool live;		/* not cancelled yet */
	bool later_any;		/* something admitted or reserved after it */
	unsigned later_kept;	/* ... and not refunded since */
	uint64_t seq;		/* the order reservations were made in */
};

struct solo {
	struct stress_thread *t;
	const struct rate_ops *ops;
	struct rate *r;
	struct fake_clock clk;
	struct model m;
	double rate;
	uint64_t seq;
	struct mres res[MAX_OUT];
};

static bool solo_fail(struct solo *so, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool solo_fail(struct solo *so, const char *fmt, ...)
{
	char buf[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	stress_violation(so->t->s, "model: one thread, injected clock, rate %.6g/s, burst %u, %llu ns after create: %s",
			 so->rate, so->m.b,
			 (unsigned long long)(so->m.last - 1000000000ull), buf);
	return false;
}

static void set_clock(struct solo *so, uint64_t t)
{
	atomic_store_explicit(&so->clk.now, t, memory_order_relaxed);
}

/* Something was admitted or reserved: no older reservation is refundable. */
static void admitted_after(struct solo *so)
{
	for (unsigned i = 0; i < MAX_OUT; i++)
		if (so->res[i].live) {
			so->res[i].later_any = true;
			so->res[i].later_kept++;
		}
}

static bool solo_allow(struct solo *so, unsigned n, const char *why)
{
	struct model *m = &so->m;
	uint64_t now = fake_now(&so->clk);
	int want, rc;

	model_advance(m, now);
	if (n == 0 || n > m->b)
		want = EINVAL;
	else
		want = m->credit >= (__int128)n * m->T ? 0 : EAGAIN;
	stress_begin(so->t, "solo allow", n);
	rc = so->ops->allow(so->r, n);
	stress_end(so->t);
	if (want == 0) {
		m->credit -= (__int128)n * m->T;
		admitted_after(so);
	}
	if (rc != want)
		return solo_fail(so, "allow(%u) returned %s, not %s (model: credit %.3f events)%s%s",
				 n, code(rc), code(want),
				 (double)m->credit / (double)m->T, *why ? " " : "", why);
	return true;
}

static bool solo_reserve(struct solo *so, unsigned n)
{
	struct model *m = &so->m;
	uint64_t now = fake_now(&so->clk), at;
	struct mres *mr = NULL;
	int rc;

	for (unsigned i = 0; i < MAX_OUT; i++)
		if (!so->res[i].live)
			mr = &so->res[i];
	if (!mr)
		return true;
	model_advance(m, now);
	memset(mr, 0, sizeof(*mr));
	stress_begin(so->t, "solo reserve", n);
	rc = so->ops->reserve(so->r, n, &mr->res);
	stress_end(so->t);
	if (n == 0 || n > m->b)
		return rc == EINVAL ||
		       solo_fail(so, "reserve(%u) returned %s, not EINVAL",
				 n, code(rc));
	if (rc)
		return solo_fail(so, "reserve(%u) returned %s", n, code(rc));
	admitted_after(so);
	m->credit -= (__int128)n * m->T;
	at = m->credit >= 0 ? now : now + (uint64_t)((-m->credit + 999) / 1000);
	mr->at = at;
	mr->n = n;
	mr->live = true;
	mr->seq = ++so->seq;
	if (mr->res.at != at || mr->res.n != n)
		return solo_fail(so, "reserve(%u) said at +%lld ns, n %u; due at +%lld ns, n %u",
				 n, (long long)(mr->res.at - now), mr->res.n,
				 (long long)(at - now), n);
	return true;
}

/*
 * When allow(1) first admits, by the model: check that it does not 1 ns
 * before, and does then.  This measures the limiter's credit exactly.
 */
static bool solo_probe(struct solo *so, const char *after)
{
	struct model *m = &so->m;
	uint64_t now = fake_now(&so->clk), when = now;
	char why[128];

	model_advance(m, now);
	if (m->credit < (__int128)m->T)
		when = now + (uint64_t)(((__int128)m->T - m->credit + 999) / 1000);
	if (when > now) {
		set_clock(so, when - 1);
		snprintf(why, sizeof(why), "in a probe 1 ns before allow(1) is due, %s", after);
		if (!solo_allow(so, 1, why))
			return false;
	}
	set_clock(so, when);
	snprintf(why, sizeof(why), "in a probe when allow(1) is due, %s", after);
	return solo_allow(so, 1, why);
}

static bool solo_cancel(struct solo *so, unsigned i)
{
	struct mres *mr = &so->res[i];
	struct model *m = &so->m;
	uint64_t now = fake_now(&so->clk);
	bool refund, twice = stress_rand(so->t) % 2;

	if (!mr->live)
		return true;
	if (now == mr->at || (mr->later_any && !mr->later_kept))
		return true;	/* where implementations may honestly differ */
	model_advance(m, now);
	refund = !mr->later_any && now < mr->at;
	stress_begin(so->t, "solo cancel", mr->n);
	so->ops->cancel(so->r, &mr->res);
	if (twice)
		so->ops->cancel(so->r, &mr->res);
	stress_end(so->t);
	mr->live = false;
	if (refund) {
		m->credit += (__int128)mr->n * m->T;
		for (unsigned k = 0; k < MAX_OUT; k++)
			if (so->res[k].live && so->res[k].seq < mr->seq)
				so->res[k].later_kept--;
	}
	if (mr->res.n)
		return solo_fail(so, "a cancelled reservation still says n = %u",
				 mr->res.n);
	return solo_probe(so, refund ? (twice ? "after a cancel that refunds and a second cancel" :
					"after a cancel that refunds") :
				       (twice ? "after a cancel that refunds nothing and a second cancel" :
					"after a cancel that refunds nothing"));
}

static void solo_model(struct stress_thread *t, const struct rate_ops *ops)
{
	static const double rates[] = { 10, 1000, 3, 0.5, 7919.3, 1e6, 33333.3, 123456 };
	static const unsigned bursts[] = { 1, 2, 3, 5, 10, 100 };
	uint64_t r = stress_rand(t);
	struct solo so = { .t = t, .ops = ops };
	struct rate_clock clk = { fake_now, &so.clk };
	bool ok = true;
	int rc;

	so.rate = rates[r % ARRAY_SIZE(rates)];
	so.m.b = bursts[(r >> 4) % ARRAY_SIZE(bursts)];
	so.m.T = rate_interval_ps(so.rate);
	so.m.last = 1000000000ull;
	so.m.credit = (__int128)so.m.b * so.m.T;
	set_clock(&so, so.m.last);
	stress_begin(t, "solo create", so.m.b);
	rc = ops->create(&so.r, so.rate, so.m.b, &clk);
	stress_end(t);
	if (rc) {
		stress_violation(t->s, "result: create(%g, %u) on an injected clock failed: %s",
				 so.rate, so.m.b, code(rc));
		return;
	}
	for (unsigned step = 0; ok && step < 48; step++) {
		uint64_t q = stress_rand(t);
		uint64_t Tns = div_up(so.m.T, 1000);
		unsigned n = 1 + (unsigned)((q >> 8) % so.m.b);

		switch (q % 8) {
		case 0: case 1:
			/* Time passes: a little, up to 2T, or a long idle. */
			set_clock(&so, so.m.last + ((q >> 16) % 16 ? (q >> 20) % (2 * Tns + 1) :
						    (uint64_t)so.m.b * Tns * 2));
			break;
		case 2: case 3:
			ok = solo_allow(&so, (q >> 16) % 32 ? n :
					(q >> 21) % 2 ? 0 : so.m.b + 1, "");
			break;
		case 4:
			ok = solo_probe(&so, "in a random walk");
			break;
		default:
			if (ops->no_reserve) {
				ok = solo_allow(&so, n, "");
				break;
			}
			if (q % 8 == 5 || (q >> 16) % 4 == 0)
				ok = solo_reserve(&so, (q >> 18) % 32 ? n : so.m.b + 1);
			else
				ok = solo_cancel(&so, (unsigned)((q >> 24) % MAX_OUT));
			break;
		}
	}
	atomic_fetch_add_explicit(&((struct rate_stress *)t->s->state)->model_steps,
				  1, memory_order_relaxed);
	stress_begin(t, "solo destroy", 0);
	ops->destroy(so.r);
	stress_end(t);
}

/* ---- one thread, the real clock: wait's time, EINVAL ------------------ */

static void expect_einval(struct stress_thread *t, const char *what, int rc)
{
	if (rc != EINVAL)
		stress_violation(t->s, "einval: %s returned %s, not EINVAL",
				 what, code(rc));
}

static void solo_real(struct stress_thread *t, const struct rate_ops *ops)
{
	uint64_t r = stress_rand(t), c0, tr, due;
	unsigned b = 1u << (r % 4), k = 1 + (unsigned)((r >> 4) % b);
	/* k events take 20-300 us. */
	double Tns = (double)(20 * US + (r >> 8) % (280 * US)) / k;
	double rate = 1e9 / Tns;
	struct rate_reservation res;
	struct ctx dl = { 0 };
	struct rate *rl, *bad;
	char what[96];
	int rc;

	if ((r >> 30) % 8 == 0) {
		static const double bad_rates[] = { 0, -1, NAN };
		double br = bad_rates[(r >> 33) % 3];
		unsigned bb = (r >> 35) % 2 ? 0 : RATE_MAX_BURST + 1;

		rc = ops->create(&bad, br, 1, NULL);
		if (rc == 0)
			ops->destroy(bad);
		snprintf(what, sizeof(what), "create(%g, 1)", br);
		expect_einval(t, what, rc);
		rc = ops->create(&bad, 100, bb, NULL);
		if (rc == 0)
			ops->destroy(bad);
		snprintf(what, sizeof(what), "create(100, %u)", bb);
		expect_einval(t, what, rc);
	}
	c0 = mono_ns();
	stress_begin(t, "solo create", b);
	rc = ops->create(&rl, rate, b, NULL);
	stress_end(t);
	if (rc) {
		stress_violation(t->s, "result: create(%g, %u) failed: %s",
				 rate, b, code(rc));
		return;
	}
	/* Nothing of these may take anything. */
	stress_begin(t, "solo allow", 0);
	expect_einval(t, "allow(0)", ops->allow(rl, 0));
	stress_end(t);
	snprintf(what, sizeof(what), "allow(%u) with burst %u", b + 1, b);
	stress_begin(t, "solo allow", b + 1);
	expect_einval(t, what, ops->allow(rl, b + 1));
	stress_end(t);
	if (!ops->no_reserve) {
		snprintf(what, sizeof(what), "reserve(%u) with burst %u", b + 1, b);
		stress_begin(t, "solo reserve", b + 1);
		expect_einval(t, what, ops->reserve(rl, b + 1, &res));
		stress_end(t);
	}
	/* No deadline: a hang here is the watchdog's. */
	snprintf(what, sizeof(what), "wait(%u) with burst %u and no deadline", b + 1, b);
	stress_begin(t, "solo wait (n > burst)", b + 1);
	expect_einval(t, what, ops->wait(rl, b + 1, NULL));
	stress_end(t);
	if ((r >> 36) % 4 == 0) {
		stress_begin(t, "solo set_rate", 0);
		expect_einval(t, "set_rate(0)", ops->set_rate(rl, 0));
		expect_einval(t, "set_rate(NAN)", ops->set_rate(rl, NAN));
		expect_einval(t, "set_burst(0)", ops->set_burst(rl, 0));
		stress_end(t);
	}

	/* Full: the burst at once.  Then k more take k * T from creation. */
	stress_begin(t, "solo allow", b);
	rc = ops->allow(rl, b);
	stress_end(t);
	if (rc)
		stress_violation(t->s, "full: allow(%u) on a new limiter of burst %u (rate %.6g/s) returned %s",
				 b, b, rate, code(rc));
	dl.deadline_ns = mono_ns() + WAIT_GUARD_NS;
	stress_begin(t, "solo wait", k);
	rc = ops->wait(rl, k, &dl);
	tr = mono_ns();
	stress_end(t);
	due = c0 + div_up((uint64_t)k * rate_interval_ps(rate), 1000);
	if (rc)
		stress_violation(t->s, "wait: wait(%u) due %.1f us after a full limiter of burst %u was drained returned %s (deadline %u ms away)",
				 k, (double)(due - c0) / 1e3, b, code(rc),
				 (unsigned)(WAIT_GUARD_NS / MS));
	else if (!rc && tr < due)
		stress_violation(t->s, "wait: wait(%u) returned %llu ns before its time (rate %.6g/s, burst %u, drained at creation)",
				 k, (unsigned long long)(due - tr), rate, b);
	stress_begin(t, "solo destroy", 0);
	ops->destroy(rl);
	stress_end(t);
}

static void solo(struct stress_thread *t, struct rate_stress *rs)
{
	atomic_fetch_add_explicit(&rs->solos, 1, memory_order_relaxed);
	if (!rs->ops->no_fake_clock && stress_rand(t) % 2)
		solo_model(t, rs->ops);
	else
		solo_real(t, rs->ops);
}

/* ---- the driver's plug ------------------------------------------------ */

static void stress_teardown(struct stress *st);

static int stress_setup(struct stress *st)
{
	struct rate_stress *rs = aligned_alloc(CACHELINE, sizeof(*rs));
	size_t total = (size_t)st->nthreads * LOG_CAP;

	if (!rs)
		return ENOMEM;
	memset(rs, 0, sizeof(*rs));
	rs->ops = rate_ops_of(st->impl);
	rs->nthreads = st->nthreads;
	st->state = rs;
	rs->logs = aligned_alloc(CACHELINE, st->nthreads * sizeof(*rs->logs));
	rs->pubs = aligned_alloc(CACHELINE, st->nthreads * sizeof(*rs->pubs));
	rs->a = malloc(total * sizeof(*rs->a));
	rs->b = malloc(total * sizeof(*rs->b));
	rs->tmp = malloc(total * sizeof(*rs->tmp));
	if (!rs->logs || !rs->pubs || !rs->a || !rs->b || !rs->tmp) {
		stress_teardown(st);
		return ENOMEM;
	}
	memset(rs->logs, 0, st->nthreads * sizeof(*rs->logs));
	for (unsigned i = 0; i < st->nthreads; i++) {
		rs->logs[i].ev = malloc(LOG_CAP * sizeof(struct ev));
		atomic_init(&rs->pubs[i].ctx, NULL);
		atomic_init(&rs->pubs[i].handed, false);
		if (!rs->logs[i].ev) {
			stress_teardown(st);
			return ENOMEM;
		}
	}
	atomic_init(&rs->rd.state, 0);
	snprintf(st->note, sizeof(st->note), "%s%s%s%s%s%s%s%s",
		 rs->ops->no_reserve ? "reserve/cancel skipped: " : "",
		 rs->ops->no_reserve ? rs->ops->no_reserve : "",
		 rs->ops->no_cancel ? (rs->ops->no_reserve ? "; cancellable waits skipped: " :
				       "cancellable waits skipped: ") : "",
		 rs->ops->no_cancel ? rs->ops->no_cancel : "",
		 rs->ops->no_fake_clock ? (rs->ops->no_reserve || rs->ops->no_cancel ?
					   "; injected-clock model skipped: " :
					   "injected-clock model skipped: ") : "",
		 rs->ops->no_fake_clock ? rs->ops->no_fake_clock : "",
		 rs->ops->inexact ? "; bound not enforced (inexact): " : "",
		 rs->ops->inexact ? rs->ops->inexact : "");
	return 0;
}

static void stress_thread(struct stress_thread *t)
{
	struct rate_stress *rs = t->s->state;
	const size_t stride = sizeof(struct round);

	while (stress_running(t)) {
		uint64_t r = stress_rand(t);

		if (r % 16 == 0)
			solo(t, rs);
		else if (stress_slot_join(t, &rs->rd.state, stride, 1) >= 0)
			join_round(t, rs);
		else if (stress_slot_own(t, &rs->rd.state, stride, 1) >= 0)
			own_round(t, rs);
		else
			solo(t, rs);
	}
}

static void stress_finish(struct stress *st)
{
	struct rate_stress *rs = st->state;
	uint32_t s = atomic_load(&rs->rd.state);
	size_t used = strlen(st->note);

	if (s)
		stress_violation(st, "result: the round's slot still held after every thread left (state %#x)",
				 s);
	snprintf(st->note + used, sizeof(st->note) - used,
		 "%s%llu rounds, %llu admissions checked, %llu private sequences",
		 used ? "; " : "", (unsigned long long)atomic_load(&rs->rounds),
		 (unsigned long long)atomic_load(&rs->events),
		 (unsigned long long)atomic_load(&rs->solos));
}

/* No call into the limiter here: it may be what hangs. */
static void stress_describe(struct stress *st, char *buf, size_t len)
{
	struct rate_stress *rs = st->state;
	struct round *rd = &rs->rd;
	static const char *const sl[] = {
		"none", "claimed", "waiting", "returned", "closed",
	};
	uint32_t s = atomic_load(&rd->state);

	if (!s) {
		snprintf(buf, len, "round %llu over",
			 (unsigned long long)atomic_load(&rs->rounds));
		return;
	}
	snprintf(buf, len, "round %llu %s, %u users, %s round, rate %.6g/s, burst %u, %u changes, sleeper %s; %llu admitted, %llu rejected, %llu reserved, %llu cancels, %llu waits",
		 (unsigned long long)rd->id, s & STRESS_SLOT_OPEN ? "open" : "closed",
		 s & STRESS_SLOT_USERS,
		 rd->mode == MODE_CHANGES ? "changes" : "cancels",
		 rd->cfg0.rate, rd->cfg0.burst, rd->nch,
		 sl[atomic_load(&rd->sleeper) % 5],
		 (unsigned long long)atomic_load(&rd->admitted),
		 (unsigned long long)atomic_load(&rd->rejected),
		 (unsigned long long)atomic_load(&rd->reserved),
		 (unsigned long long)atomic_load(&rd->cancels),
		 (unsigned long long)atomic_load(&rd->waits));
}

static void stress_teardown(struct stress *st)
{
	struct rate_stress *rs = st->state;

	if (rs->logs)
		for (unsigned i = 0; i < rs->nthreads; i++)
			free(rs->logs[i].ev);
	free(rs->logs);
	free(rs->pubs);
	free(rs->a);
	free(rs->b);
	free(rs->tmp);
	free(rs);
}

const struct stress_family rate_stress = {
	.family = "rate",
	.checks = "bound: no window (T/2, T, 3T, 10T, 100T, the whole round) holds more than burst + rate x window of the admissions (allow, reserve at res.at, wait) logged by every thread under maximum contention, mixed rates 1k-5M/s and bursts 1-1000, random n, reservations cancelled at random, set_rate/set_burst at random (checked against the largest configuration around); model: a private sequence on an injected clock matches rate.h exactly (allow, reserve's at, cancel's refund, a second cancel); wait never returns before its time and returns on cancel (watchdog); EINVAL for n = 0 or n > burst, never a hang",
	.setup = stress_setup,
	.thread = stress_thread,
	.finish = stress_finish,
	.describe = stress_describe,
	.teardown = stress_teardown,
};
