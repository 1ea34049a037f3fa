/* SPDX-License-Identifier: MIT */
/*
 * Parking for the lock-free channels (chan/lockfree, chan/ck): where a
 * sender waits for room and a receiver waits for an item once spinning
 * has not helped.  Internal to the chan family; nothing here knows about
 * rings, only about "try again" and "tell a sleeper".
 *
 * Each side of a channel (not_full for senders, not_empty for receivers)
 * has one `struct chan_park`, alone on its cache line:
 *
 *   seq      bumped by every wake; sleepers FUTEX_WAIT on it
 *   waiters  low half: sleepers, threads parked or about to park;
 *            high half: pending, wakes sent whose sleeper has not yet
 *            left (never more than the sleepers)
 *
 * The protocol is sema/futex's.  A waiter reads `seq`, announces itself
 * (sleepers + 1), re-runs its attempt, and sleeps only while `seq` still
 * holds what it read.  Whoever may have let a sleeper proceed (published
 * an item, freed a slot) calls chan_park_notify() AFTER that publication:
 * one load of `waiters`, and only if some sleeper has no wake on its way,
 * a CAS that counts one more pending, a bump of `seq` and a wake of one.
 * The caller must make its publication a seq_cst operation (an RMW, a
 * seq_cst store, or a store followed by a seq_cst fence) so that the load
 * of `waiters` cannot be ordered before it; the waiter's increment is a
 * seq_cst RMW and its re-check uses seq_cst loads.  Then either the
 * notifier sees the announcement and bumps seq after it (and so after
 * the waiter read seq: the futex word has changed, or the waiter is in
 * the kernel when the wake comes), or the waiter's re-check sees the
 * publication.  No lost wake-up.
 *
 * Why `pending`: without it a sleeper stays counted until it has been
 * scheduled and has run, and every publication in between (a fast
 * partner can make a hundred) pays a futex_wake for a thread that is
 * already awake.  With it, a notify that finds every sleeper covered
 * costs one load.  A sleeper leaving (for any reason) takes one pending
 * wake with it, whether or not that wake was meant for it; the count can
 * only end up too low, which costs a spare wake, never too high: a wake
 * that finds nobody in the kernel found every counted sleeper before its
 * futex_wait, with a seq it read BEFORE announcing (hence the order), so
 * every one of them returns and leaves.
 *
 * Skipping a notify while a wake is pending, and waking one thread per
 * notify, leave one duty to the woken: a parked waiter that proceeds
 * checks whether more could proceed (the caller's `ready` test) and, if
 * so, notifies its own side again (the chain wake).  That also covers a
 * FIFO ring whose woken receiver finds head still being filled (EBUSY)
 * while the next item is ready: the receiver that later takes head wakes
 * the next.  A waiter that gives up (cancelled, deadline) does the same,
 * passing on a wake it may have consumed.  The fast path never chains.
 *
 * Cancellation: a parked waiter with a cancellable context registers a
 * hook that bumps `seq` and wakes everyone on that side; each re-checks,
 * the cancelled one leaves.  A broadcast is wasteful, but cancellations
 * are rare and a futex word shared by a side cannot wake one chosen
 * thread.  The hook is stopped (and, if running, waited for) before the
 * waiter returns, so it may live on the waiter's stack.
 *
 * Deadline: futex_wait() with the context's absolute deadline returns
 * ETIMEDOUT; the waiter re-checks once more and leaves with ETIMEDOUT.
 *
 * Blocking is spin-then-park: CHAN_PARK_SPIN attempts separated by
 * cpu_relax(), then the futex.  No loop here waits on another thread
 * without a bound: after the spins, every wait is a futex sleep that a
 * notify, close() or the context ends.
 */
#ifndef CONTEND_CHAN_PARK_H
#define CONTEND_CHAN_PARK_H

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "chaos.h"
#include "clock.h"
#include "compiler.h"
#include "ctx.h"
#include "futex.h"

/*
 * Attempts (each after a cpu_relax) before parking.  A park costs a futex
 * wake by the partner and tens of microseconds of wake-up latency on a VM,
 * so the spin should cover about that long: with 100, one producer and one
 * consumer on two vCPUs parked on most items (about 1 M items/s); with
 * 1000, 8-12 M items/s, and 4 producers + 4 consumers on 2 vCPUs were not
 * measurably slower (interleaved runs, noisy shared VM).  An adaptive
 * budget (glibc's adaptive mutex rule) was tried and undershot: it tracks
 * the short waits and parks on the long ones.
 */
#define CHAN_PARK_SPIN 1000
/* A try_* call waits this many attempts at most for a neighbour caught in
 * the middle of its slot (EBUSY), then says EAGAIN. */
#define CHAN_TRY_SPIN 100

/* waiters: sleepers in the low half, wakes in flight in the high half. */
#define CHAN_PARK_PENDING (1ull << 32)

struct chan_park {
	_Atomic uint32_t seq;
	_Atomic uint64_t waiters;
} cacheline_aligned;

/*
 * An attempt returns 0 or EPIPE when the caller is done (success, closed),
 * EAGAIN when there is nothing to take or no room, EBUSY when the slot it
 * needs is being filled or emptied by another thread right now.  The last
 * two keep a blocking caller waiting.
 */
typedef int (*chan_attempt_fn)(void *arg);
/* Whether some waiter on the same side could proceed now. */
typedef bool (*chan_ready_fn)(void *arg);

static inline bool chan_attempt_done(int rc)
{
	return rc != EAGAIN && rc != EBUSY;
}

static inline void chan_park_init(struct chan_park *p)
{
	atomic_init(&p->seq, 0);
	atomic_init(&p->waiters, 0);
}

static inline void chan_park_wake(struct chan_park *p, int n)
{
	atomic_fetch_add(&p->seq, 1);
	futex_wake(&p->seq, n);
}

/*
 * After a seq_cst publication: wake one sleeper, unless nobody announced
 * itself or every sleeper already has a wake on its way.  One load when
 * there is nothing to do.
 */
static inline void chan_park_notify(struct chan_park *p)
{
	uint64_t w = atomic_load(&p->waiters);

	while (unlikely((uint32_t)w > (uint32_t)(w >> 32)))
		if (atomic_compare_exchange_weak(&p->waiters, &w,
						 w + CHAN_PARK_PENDING)) {
			chan_park_wake(p, 1);
			return;
		}
}

/* close(), a cancellation: everyone re-checks.  Unconditional: rare. */
static inline void chan_park_wake_all(struct chan_park *p)
{
	chan_park_wake(p, INT_MAX);
}

static inline void chan_park_cancelled(struct ctx_hook *h, struct ctx *c)
{
	(void)c;
	chan_park_wake_all(h->arg);
}

/* Stop being a sleeper, taking one wake in flight (if any) with us. */
static inline void chan_park_leave(struct chan_park *p)
{
	uint64_t w = atomic_load(&p->waiters), n;

	do {
		n = w - 1;
		if (w >> 32)
			n -= CHAN_PARK_PENDING;
	} while (!atomic_compare_exchange_weak(&p->waiters, &w, n));
}

/*
 * The blocking slow path, after one attempt found no item / no room:
 * spin, then park on p until attempt(arg) is done, or ctx says stop.
 * Returns attempt's 0 or EPIPE, or ECANCELED / ETIMEDOUT.  Every re-check
 * looks at the context first: once cancelled, a waiter sends and takes
 * nothing, even if it could (as chan/mutex and chan/futex).  An attempt
 * already made is never undone, so a cancellation that lands during one
 * loses to it.  After the deadline the ring is still checked once.
 */
static inline int chan_park_block(struct chan_park *p, chan_attempt_fn attempt,
				  chan_ready_fn ready, void *arg,
				  const struct ctx *cctx)
{
	struct ctx *ctx = (struct ctx *)cctx;
	uint64_t deadline = ctx_deadline(ctx);
	struct ctx_hook hook;	/* initialised only if the context is cancellable */
	bool hooked = false;
	int rc;

	for (int spin = CHAN_PARK_SPIN; spin; spin--) {
		cpu_relax();
		if ((rc = ctx_err(ctx)))
			return rc;
		rc = attempt(arg);
		if (chan_attempt_done(rc))
			return rc;
	}
	if (ctx_cancellable(ctx)) {
		hook = (struct ctx_hook){ .fn = chan_park_cancelled, .arg = p };
		hooked = !ctx->ops->after_func(ctx, &hook);
	}
	for (;;) {
		uint32_t seq = atomic_load(&p->seq);
		int woke = 0;
		bool done;

		atomic_fetch_add(&p->waiters, 1);
		/* Every re-check looks at the context first. */
		rc = ctx_err(ctx);
		if (!rc)
			rc = attempt(arg);
		done = chan_attempt_done(rc);
		if (!done) {
			chaos_point();
			woke = futex_wait(&p->seq, seq, deadline);
		}
		chan_park_leave(p);
		if (done)
			break;
		if ((rc = ctx_err(ctx)))
			break;
		chaos_point();
		rc = attempt(arg);
		if (chan_attempt_done(rc))
			break;
		if (woke == ETIMEDOUT || (deadline && mono_ns() >= deadline)) {
			rc = ETIMEDOUT;
			break;
		}
	}
	/*
	 * Proceeded: wake the next sleeper if there is more for it (the chain
	 * wake).  Gave up: pass on a wake we may have consumed.
	 */
	if (rc == EPIPE) {
		/*
		 * Closed and drained: tell everyone still parked.  One of them
		 * may have parked after close() woke the side (an item it saw
		 * in flight then), and the notify of that item's sender can
		 * wake someone else.
		 */
		if (atomic_load(&p->waiters))
			chan_park_wake_all(p);
	} else if (ready(arg)) {
		chan_park_notify(p);
	}
	if (hooked)
		ctx->ops->stop(ctx, &hook);
	return rc;
}

#endif
