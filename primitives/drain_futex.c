/* SPDX-License-Identifier: MIT */
/*
 * drain/futex: the count and the closed flag under a small futex lock
 * (musl/Drepper's three-state mutex), and a sequence word that waiters
 * sleep on.  drain/mutex without pthreads: the same critical sections,
 * but the lock is one word and the wake is one FUTEX_WAKE.
 *
 * State:
 *   lock     0 free, 1 held, 2 held and someone may sleep on it; taken by
 *            CAS 0 -> 1, else exchanged to 2 and slept on while it reads 2
 *            (after SPIN_LIMIT spins); released by exchange to 0, and a
 *            FUTEX_WAKE of one when it was 2
 *   count    units in flight                      (under lock)
 *   closed   set once by close_and_wait           (under lock)
 *   waiters  close_and_wait calls asleep or about to be (under lock)
 *   seq      bumped under the lock by the leave() that empties a closed
 *            drain with waiters, and (without it) by a waiter's context
 *            hook; waiters FUTEX_WAIT on it
 *
 * No lost wake-up: a waiter reads seq while it holds the lock, after
 * seeing count > 0, and sleeps while seq still holds that value.  The
 * leave() that takes count to zero does so under the same lock, later, so
 * it sees the waiter and bumps seq before waking: the waiter is either in
 * the kernel already (woken) or finds seq changed (not put to sleep).  The
 * lock's acquire/release orders everything under it; seq itself is only a
 * futex word, its bumps seq_cst.  A cancellation hook bumps seq and wakes
 * everyone the same way, so the same argument holds; every waiter then
 * re-checks its own context and the count.
 *
 * Fairness: the lock is barging, like any futex mutex.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "chaos.h"
#include "clock.h"
#include "drain.h"
#include "futex.h"

#define SPIN_LIMIT 100

struct futex_drain {
	_Atomic uint32_t lock;
	_Atomic uint32_t seq;
	uint32_t count, waiters;
	bool closed;
};

#define to_fd(d) ((struct futex_drain *)(d))

static void lock(struct futex_drain *f)
{
	uint32_t v = 0;

	/* Acquire pairs with the release exchange in unlock(). */
	if (atomic_compare_exchange_strong_explicit(&f->lock, &v, 1,
			memory_order_acquire, memory_order_relaxed))
		return;
	for (int spin = SPIN_LIMIT; spin; spin--) {
		cpu_relax();
		v = 0;
		if (atomic_load_explicit(&f->lock, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(&f->lock, &v, 1,
				memory_order_acquire, memory_order_relaxed))
			return;
	}
	while (atomic_exchange_explicit(&f->lock, 2, memory_order_acquire))
		futex_wait(&f->lock, 2, 0);
}

static void unlock(struct futex_drain *f)
{
	if (atomic_exchange_explicit(&f->lock, 0, memory_order_release) == 2)
		futex_wake(&f->lock, 1);
}

static int futex_create(struct drain **out)
{
	struct futex_drain *f = aligned_alloc(CACHELINE, CACHELINE);

	if (!f)
		return ENOMEM;
	atomic_init(&f->lock, 0);
	atomic_init(&f->seq, 0);
	f->count = 0;
	f->waiters = 0;
	f->closed = false;
	*out = (struct drain *)f;
	return 0;
}

static void futex_destroy(struct drain *d)
{
	free(d);
}

static int futex_enter(struct drain *d)
{
	struct futex_drain *f = to_fd(d);
	int rc = 0;

	lock(f);
	if (f->closed)
		rc = EPIPE;
	else
		f->count++;
	unlock(f);
	return rc;
}

static void futex_leave(struct drain *d)
{
	struct futex_drain *f = to_fd(d);
	bool wake;

	lock(f);
	wake = !--f->count && f->closed && f->waiters;
	if (wake)
		atomic_fetch_add(&f->seq, 1);
	unlock(f);
	/* After the unlock, so the woken waiters do not hit a held lock. */
	if (wake)
		futex_wake(&f->seq, INT_MAX);
}

/* A waiter's context was cancelled: wake every waiter to re-check. */
static void waiter_cancelled(struct ctx_hook *h, struct ctx *c)
{
	struct futex_drain *f = h->arg;

	(void)c;
	atomic_fetch_add(&f->seq, 1);
	futex_wake(&f->seq, INT_MAX);
}

static unsigned long futex_close_and_wait(struct drain *d, const struct ctx *cctx)
{
	struct futex_drain *f = to_fd(d);
	struct ctx *ctx = (struct ctx *)cctx;
	uint64_t deadline = ctx_deadline(ctx);
	struct ctx_hook hook = { .fn = waiter_cancelled, .arg = f };
	bool hooked = false;
	unsigned long left;

	lock(f);
	f->closed = true;
	left = f->count;
	unlock(f);
	if (!left || ctx_err(ctx))
		return left;
	if (ctx_cancellable(ctx))
		hooked = !ctx->ops->after_func(ctx, &hook);
	for (;;) {
		uint32_t seq;
		int rc;

		lock(f);
		/* Read before the context check: a hook's bump after this
		 * read makes the futex refuse to sleep; one before it was
		 * made after the err store the check then sees (the bump
		 * is seq_cst, this load acquires it). */
		seq = atomic_load(&f->seq);
		left = f->count;
		if (!left || ctx_err(ctx) ||
		    (deadline && mono_ns() >= deadline)) {
			unlock(f);
			break;
		}
		f->waiters++;
		unlock(f);
		chaos_point();
		rc = futex_wait(&f->seq, seq, deadline);
		lock(f);
		f->waiters--;
		left = f->count;
		unlock(f);
		if (!left || rc == ETIMEDOUT)
			break;
	}
	if (hooked)
		ctx->ops->stop(ctx, &hook);
	return left;
}

static unsigned long futex_inflight(struct drain *d)
{
	struct futex_drain *f = to_fd(d);
	unsigned long n;

	lock(f);
	n = f->count;
	unlock(f);
	return n;
}

const struct drain_ops drain_futex_ops = {
	.info = {
		.name = "futex",
		.desc = "count and closed flag under a three-state futex lock, waiters sleep on a sequence word",
	},
	.create = futex_create,
	.destroy = futex_destroy,
	.enter = futex_enter,
	.leave = futex_leave,
	.close_and_wait = futex_close_and_wait,
	.inflight = futex_inflight,
};
