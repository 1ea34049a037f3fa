/* SPDX-License-Identifier: MIT */
/*
 * The drain stress checker (contend stress drain).
 *
 * Thread 0 runs rounds; every other thread works in them.  A round is one
 * fresh drain.  Thread 0 creates it, publishes it, lets the workers at it
 * for 50 us - 1 ms, then closes and waits, under (at random) no context,
 * a plain deadline 0-500 us away, a distant plain deadline, or a
 * cancellable context (ctx/futex) whose deadline 0-500 us away the timer
 * service fires.  When that returns with units left, it waits again
 * without a deadline, which must end in 0 once the workers leave.  It then
 * gives the workers a moment to try enters on the closed drain, takes the
 * round down (waiting until no worker still uses it, hazard-pointer style:
 * each worker publishes the round it is in) and destroys the drain.
 *
 * Workers take the current round and play a burst of random operations on
 * it: enter; leave one of theirs; hand one of theirs to another thread
 * (a shared count of handed units, which anyone may take and leave: the
 * connection enters, the worker leaves); hold across a chaos point and a
 * little work or a nap; sample inflight(); and, once the round is closing,
 * now and then close_and_wait themselves under a short deadline, a second
 * waiter next to thread 0.  At the end of a burst a worker leaves what it
 * holds and takes what others handed, so a round can always drain.
 *
 * A shadow count follows the units: +1 after an enter returns 0, -1 before
 * the leave, so it never overstates what is really in flight.
 *
 * Checked (each violation message starts with the invariant's name):
 *   - admitted after close: an enter that began after a close_and_wait of
 *     its drain had returned was admitted;
 *   - refused while open: EPIPE before anyone called close_and_wait;
 *   - drained too early: close_and_wait returned 0 while the shadow count
 *     says an admitted unit had not left yet;
 *   - early: close_and_wait returned units still in flight before its plain
 *     deadline, or under a context that was not done, or without one;
 *   - negative: inflight() read as a negative count (above
 *     DRAIN_MAX_INFLIGHT);
 *   - left over: with every worker gone, the drain still counts units;
 *   - result: enter returned something other than 0 or EPIPE;
 *   - a waiter that is never woken once everything left (lost wake-up)
 *     is a thread stuck in close_and_wait: the driver's watchdog.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chaos.h"
#include "clock.h"
#include "ctx.h"
#include "drain.h"
#include "stress.h"

#define US 1000u
#define BURST 16

struct round {
	struct drain *d;
	_Atomic long shadow;		/* admitted, not yet leaving */
	_Atomic uint32_t handed;	/* units handed over, not yet taken */
	atomic_bool closing;		/* close_and_wait has been called */
	atomic_bool closed;		/* a close_and_wait has returned */
} cacheline_aligned;

struct hazard {
	_Atomic uint64_t at;		/* the round this worker uses, 0: none */
} cacheline_aligned;

struct drain_stress {
	const struct drain_ops *ops;
	_Atomic uint64_t cur;		/* the round open to workers, 0: none */
	struct round rounds[2];		/* round n is rounds[n % 2] */
	struct hazard *hz;
};

static void nap(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };

	nanosleep(&ts, NULL);
}

/* close_and_wait returned 0: nothing admitted may still be in flight. */
static void check_drained(struct stress_thread *t, struct round *rd,
			  uint64_t n, const char *who)
{
	long shadow = atomic_load(&rd->shadow);

	if (shadow)
		stress_violation(t->s, "drained too early: %s's close_and_wait returned 0 with %ld admitted units not yet left (round %llu)",
				 who, shadow, (unsigned long long)n);
}

static void leave_one(struct stress_thread *t, const struct drain_ops *ops,
		      struct round *rd)
{
	atomic_fetch_sub(&rd->shadow, 1);
	stress_begin(t, "leave", 0);
	ops->leave(rd->d);
	stress_end(t);
}

/* A worker's close_and_wait next to thread 0's, under a short deadline. */
static void side_wait(struct stress_thread *t, const struct drain_ops *ops,
		      struct round *rd, uint64_t n, unsigned held)
{
	uint64_t r = stress_rand(t);
	struct ctx plain = { .deadline_ns = mono_ns() + (r >> 8) % (300 * US) };
	struct ctx *c = NULL;
	unsigned long left;

	if (r % 2 && ctx_futex_ops.create(&c, NULL, plain.deadline_ns))
		return;
	stress_begin(t, "close_and_wait", (unsigned)n);
	left = ops->close_and_wait(rd->d, c ? c : &plain);
	stress_end(t);
	if (left == 0) {
		if (held)
			stress_violation(t->s, "drained too early: a worker's close_and_wait returned 0 while it held %u units (round %llu)",
					 held, (unsigned long long)n);
		else
			check_drained(t, rd, n, "a worker");
	} else if ((!c || !ctx_err(c)) && mono_ns() < plain.deadline_ns) {
		stress_violation(t->s, "early: a worker's close_and_wait returned %lu in flight before its deadline (round %llu)",
				 left, (unsigned long long)n);
	}
	if (c)
		ctx_futex_ops.destroy(c);
}

static void burst(struct stress_thread *t, struct drain_stress *ds,
		  struct round *rd, uint64_t n)
{
	const struct drain_ops *ops = ds->ops;
	unsigned held = 0;
	uint32_t h;

	for (unsigned k = 0; k < BURST; k++) {
		uint64_t r = stress_rand(t);
		unsigned long v;
		bool was_closed;
		int rc;

		switch (r % 16) {
		case 0: case 1: case 2: case 3: case 4: case 5:
			was_closed = atomic_load(&rd->closed);
			stress_begin(t, "enter", (unsigned)n);
			rc = ops->enter(rd->d);
			stress_end(t);
			if (rc == 0) {
				atomic_fetch_add(&rd->shadow, 1);
				held++;
				if (was_closed)
					stress_violation(t->s, "admitted after close: an enter that began after close_and_wait returned was admitted (round %llu)",
							 (unsigned long long)n);
			} else if (rc != EPIPE) {
				stress_violation(t->s, "result: enter returned %d, not 0 or EPIPE", rc);
			} else if (!atomic_load(&rd->closing)) {
				stress_violation(t->s, "refused while open: enter returned EPIPE before any close_and_wait (round %llu)",
						 (unsigned long long)n);
			}
			break;
		case 6: case 7: case 8:
			if (held) {
				held--;
				leave_one(t, ops, rd);
			}
			break;
		case 9:
			if (held) {
				held--;
				atomic_fetch_add(&rd->handed, 1);
			}
			break;
		case 10: case 11:
			h = atomic_load(&rd->handed);
			while (h && !atomic_compare_exchange_weak(&rd->handed, &h, h - 1))
				;
			if (h)
				leave_one(t, ops, rd);
			break;
		case 12: case 13:
			chaos_point();
			if ((r >> 8) % 8)
				work_ns((r >> 16) % 2000);
			else
				nap((r >> 16) % (200 * US));
			break;
		case 14:
			v = ops->inflight(rd->d);
			if (v > DRAIN_MAX_INFLIGHT)
				stress_violation(t->s, "negative: inflight() read %lu (round %llu)",
						 v, (unsigned long long)n);
			break;
		default:
			if ((r >> 8) % 4 == 0 && atomic_load(&rd->closing))
				side_wait(t, ops, rd, n, held);
			break;
		}
	}
	while (held--)
		leave_one(t, ops, rd);
	h = atomic_load(&rd->handed);
	while (h) {
		if (atomic_compare_exchange_weak(&rd->handed, &h, h - 1)) {
			leave_one(t, ops, rd);
			h = atomic_load(&rd->handed);
		}
	}
}

static void worker(struct stress_thread *t, struct drain_stress *ds)
{
	_Atomic uint64_t *at = &ds->hz[t->id].at;

	while (stress_running(t)) {
		uint64_t n = atomic_load(&ds->cur);

		if (!n) {
			sched_yield();
			continue;
		}
		/* Hazard: publish, then make sure it is still current (both
		 * seq_cst, against thread 0's store of cur and load of at). */
		atomic_store(at, n);
		if (atomic_load(&ds->cur) == n)
			burst(t, ds, &ds->rounds[n % 2], n);
		atomic_store(at, 0);
	}
}

/* Thread 0: one round from create to destroy. */
static void round_run(struct stress_thread *t, struct drain_stress *ds,
		      uint64_t n)
{
	const struct drain_ops *ops = ds->ops;
	struct round *rd = &ds->rounds[n % 2];
	uint64_t r = stress_rand(t), deadline = 0;
	struct ctx plain = { 0 }, *c = NULL;
	const struct ctx *how = NULL;
	unsigned long left;
	bool busy;

	if (ops->create(&rd->d)) {
		stress_violation(t->s, "result: create failed");
		return;
	}
	atomic_store(&rd->shadow, 0);
	atomic_store(&rd->handed, 0);
	atomic_store(&rd->closing, false);
	atomic_store(&rd->closed, false);
	atomic_store(&ds->cur, n);
	nap(50 * US + (r >> 8) % (950 * US));

	switch (stress_running(t) ? r % 4 : 0) {
	case 1:
		deadline = mono_ns() + (r >> 20) % (500 * US);
		break;
	case 2:
		deadline = mono_ns() + 5000000000ull;
		break;
	case 3:
		if (!ctx_futex_ops.create(&c, NULL, mono_ns() + (r >> 20) % (500 * US)))
			how = c;
		break;
	}
	if (deadline) {
		plain.deadline_ns = deadline;
		how = &plain;
	}
	/* A context's deadline passes a little before its timer fires: a
	 * wait may end at the deadline with the context not yet done. */
	atomic_store(&rd->closing, true);
	stress_begin(t, "close_and_wait", (unsigned)n);
	left = ops->close_and_wait(rd->d, how);
	stress_end(t);
	if (!left)
		check_drained(t, rd, n, "thread 0");
	else if (!ctx_err(how) && (!ctx_deadline(how) || mono_ns() < ctx_deadline(how)))
		stress_violation(t->s, "early: close_and_wait returned %lu in flight %s (round %llu)",
				 left, ctx_deadline(how) ? "before its deadline, its context not done" :
				 "without a deadline", (unsigned long long)n);
	atomic_store(&rd->closed, true);
	if (c)
		ctx_futex_ops.destroy(c);
	nap(20 * US + (r >> 40) % (200 * US));
	if (left) {
		stress_begin(t, "close_and_wait", (unsigned)n);
		left = ops->close_and_wait(rd->d, NULL);
		stress_end(t);
		if (left)
			stress_violation(t->s, "early: a second close_and_wait without a deadline returned %lu in flight (round %llu)",
					 left, (unsigned long long)n);
		else
			check_drained(t, rd, n, "thread 0 (again)");
	}

	/* Take the round down once no worker uses it. */
	atomic_store(&ds->cur, 0);
	stress_begin(t, "waiting for workers to leave round", (unsigned)n);
	do {
		busy = false;
		for (unsigned i = 1; i < t->s->nthreads; i++)
			busy |= atomic_load(&ds->hz[i].at) == n;
		if (busy)
			sched_yield();
	} while (busy);
	stress_end(t);
	left = ops->inflight(rd->d);
	if (left || atomic_load(&rd->shadow) || atomic_load(&rd->handed))
		stress_violation(t->s, "left over: %lu in flight, shadow %ld, %u handed, with every worker gone (round %llu)",
				 left, atomic_load(&rd->shadow),
				 atomic_load(&rd->handed), (unsigned long long)n);
	ops->destroy(rd->d);
	rd->d = NULL;
}

static int stress_setup(struct stress *st)
{
	struct drain_stress *ds = aligned_alloc(CACHELINE, sizeof(*ds));

	if (!ds)
		return ENOMEM;
	memset(ds, 0, sizeof(*ds));
	ds->ops = drain_ops_of(st->impl);
	atomic_init(&ds->cur, 0);
	ds->hz = aligned_alloc(CACHELINE, st->nthreads * sizeof(*ds->hz));
	if (!ds->hz) {
		free(ds);
		return ENOMEM;
	}
	for (unsigned i = 0; i < st->nthreads; i++)
		atomic_init(&ds->hz[i].at, 0);
	st->state = ds;
	return 0;
}

static void stress_thread(struct stress_thread *t)
{
	struct drain_stress *ds = t->s->state;

	if (t->id) {
		worker(t, ds);
		return;
	}
	for (uint64_t n = 1; stress_running(t); n++)
		round_run(t, ds, n);
}

/* No call into the drain here: it may be what hangs. */
static void stress_describe(struct stress *st, char *buf, size_t len)
{
	struct drain_stress *ds = st->state;
	uint64_t n = atomic_load(&ds->cur);
	struct round *rd = &ds->rounds[n % 2];

	if (!n) {
		snprintf(buf, len, "no round open to workers");
		return;
	}
	snprintf(buf, len, "round %llu %s, shadow count %ld, %u handed",
		 (unsigned long long)n,
		 atomic_load(&rd->closed) ? "closed" :
		 atomic_load(&rd->closing) ? "closing" : "open",
		 atomic_load(&rd->shadow), atomic_load(&rd->handed));
}

static void stress_teardown(struct stress *st)
{
	struct drain_stress *ds = st->state;

	/* A drain still in use (a hang) is leaked, never freed under a thread. */
	free(ds->hz);
	free(ds);
}

const struct stress_family drain_stress = {
	.family = "drain",
	.checks = "in fresh drain per round: no enter admitted after close_and_wait returned, EPIPE only once closing, close_and_wait returns 0 only with no admitted unit left (shadow count) and units left only at its deadline or cancellation, a second wait ends in 0, inflight() never negative, nothing left over; units handed between threads; a waiter left asleep once all left is a hang (watchdog)",
	.setup = stress_setup,
	.thread = stress_thread,
	.describe = stress_describe,
	.teardown = stress_teardown,
};
