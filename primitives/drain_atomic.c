/* SPDX-License-Identifier: MIT */
/*
 * drain/atomic: one 32-bit word, one atomic read-modify-write per enter()
 * and per leave() on the fast path; the waiter sleeps on the word itself.
 *
 * The word:
 *   bit 31      CLOSED   set once by close_and_wait, never cleared
 *   bit 30      WAITERS  someone sleeps (or is about to) in close_and_wait;
 *                        set once, only on a closed drain, never cleared
 *   bits 0-29   count    units in flight (DRAIN_MAX_INFLIGHT = 2^29 fits)
 *
 * enter: load, and CAS count + 1 unless CLOSED is set (then EPIPE, and the
 * word is not touched).  A CAS rather than a fetch_add: a fetch_add would
 * admit first and undo on CLOSED, so a refused enter would show in the
 * count for a moment and the word of a closed drain would go up again; a
 * CAS keeps the count exact and makes a closed drain's word monotonic,
 * which is what the no-ABA argument below stands on.  Uncontended, the
 * CAS is the one RMW (the load hits the same line); contended, it retries.
 * leave: fetch_sub 1 (release); the leave whose result is exactly
 * CLOSED | WAITERS (a closed drain just emptied, someone waiting) wakes
 * every sleeper on the word.  On an open drain, or one still busy, leave
 * makes no system call.
 *
 * close_and_wait: fetch_or CLOSED; while count > 0, set WAITERS by CAS if
 * it is not set yet, then FUTEX_WAIT on the word with the value that CAS
 * wrote (or read).  No lost wake-up: every RMW on the word is in one
 * modification order.  A leave that emptied the drain before the waiter's
 * CAS made the CAS fail (or the waiter see count 0); after it, the leave
 * sees WAITERS and wakes, and the kernel either finds the waiter asleep or
 * finds the word changed and refuses to sleep.  On a closed drain the word
 * only ever moves one way (CLOSED and WAITERS stay set, the count only
 * falls, refused enters write nothing), so the value a waiter sleeps on
 * can never come back: no ABA.  The leave's release pairs with the
 * waiter's acquire load, so what a unit did before leave() happens before
 * close_and_wait returns 0.
 *
 * Cancellation: the waiter must also wake when its context is cancelled,
 * without a word that every cancellation changes: clearing WAITERS from a
 * hook would let another waiter set it again, and the word would come
 * back to the value the cancelled waiter is about to sleep on (ABA).  So a
 * cancellable waiter sleeps on two words with futex_waitv: the drain word,
 * and the context's err word, which goes from 0 to its error once and
 * never back.  The hook FUTEX_WAKEs the err word.  On a kernel without
 * futex_waitv (before 5.16) the cancellable wait falls back to sleeping on
 * the word in 1 ms slices, re-checking the context between them.
 *
 * Fairness: nothing queues; enters barge freely until the close.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "chaos.h"
#include "clock.h"
#include "drain.h"
#include "futex.h"

#define CLOSED (1u << 31)
#define WAITERS (1u << 30)
#define COUNT (WAITERS - 1)
#define FALLBACK_SLICE_NS 1000000u

struct atomic_drain {
	_Atomic uint32_t word;
} cacheline_aligned;

#define to_ad(d) ((struct atomic_drain *)(d))
#define err_word(c) ((_Atomic uint32_t *)&(c)->err)

static int atomic_create(struct drain **out)
{
	struct atomic_drain *a = aligned_alloc(CACHELINE, sizeof(*a));

	if (!a)
		return ENOMEM;
	atomic_init(&a->word, 0);
	*out = (struct drain *)a;
	return 0;
}

static void atomic_destroy(struct drain *d)
{
	free(d);
}

static int atomic_enter(struct drain *d)
{
	struct atomic_drain *a = to_ad(d);
	/* Acquire: a refusal sees what the closer did before it closed
	 * (pairs with the fetch_or in close_and_wait). */
	uint32_t v = atomic_load_explicit(&a->word, memory_order_acquire);

	do {
		if (unlikely(v & CLOSED))
			return EPIPE;
	} while (unlikely(!atomic_compare_exchange_weak_explicit(&a->word,
			&v, v + 1, memory_order_acquire, memory_order_acquire)));
	return 0;
}

static void atomic_leave(struct drain *d)
{
	struct atomic_drain *a = to_ad(d);
	/* Release: pairs with the waiter's acquire load of the word. */
	uint32_t v = atomic_fetch_sub_explicit(&a->word, 1, memory_order_release) - 1;

	if (unlikely(v == (CLOSED | WAITERS)))
		futex_wake(&a->word, INT_MAX);
}

/* A waiter's context was cancelled: wake whoever sleeps on its err word. */
static void waiter_cancelled(struct ctx_hook *h, struct ctx *c)
{
	(void)h;
	futex_wake(err_word(c), INT_MAX);
}

/* Sleep on the word (value v) and, if hooked, on ctx's err word. */
static int sleep_on(struct atomic_drain *a, uint32_t v, struct ctx *ctx,
		    bool hooked, uint64_t deadline)
{
	static atomic_bool no_waitv;
	uint64_t slice;
	int rc;

	if (!hooked)
		return futex_wait(&a->word, v, deadline);
	if (!atomic_load_explicit(&no_waitv, memory_order_relaxed)) {
		rc = futex_wait2(&a->word, v, err_word(ctx), 0, deadline);
		if (rc != ENOSYS)
			return rc;
		atomic_store_explicit(&no_waitv, true, memory_order_relaxed);
	}
	slice = mono_ns() + FALLBACK_SLICE_NS;
	if (deadline && deadline < slice)
		return futex_wait(&a->word, v, deadline);
	rc = futex_wait(&a->word, v, slice);
	return rc == ETIMEDOUT ? 0 : rc;
}

static unsigned long atomic_close_and_wait(struct drain *d, const struct ctx *cctx)
{
	struct atomic_drain *a = to_ad(d);
	struct ctx *ctx = (struct ctx *)cctx;
	uint64_t deadline = ctx_deadline(ctx);
	struct ctx_hook hook = { .fn = waiter_cancelled };
	bool hooked = false;
	uint32_t v = atomic_fetch_or(&a->word, CLOSED) | CLOSED;

	while (v & COUNT) {
		int rc;

		if (ctx_err(ctx))
			break;
		if (!(v & WAITERS) &&
		    !atomic_compare_exchange_weak(&a->word, &v, v | WAITERS))
			continue;	/* v is the new word: look again */
		v |= WAITERS;
		if (ctx_cancellable(ctx) && !hooked) {
			hooked = !ctx->ops->after_func(ctx, &hook);
			continue;	/* it may have run already: look again */
		}
		chaos_point();
		rc = sleep_on(a, v, ctx, hooked, deadline);
		/* Acquire: pairs with the release in atomic_leave. */
		v = atomic_load_explicit(&a->word, memory_order_acquire);
		if (rc == ETIMEDOUT)
			break;
	}
	if (hooked)
		ctx->ops->stop(ctx, &hook);
	return v & COUNT;
}

static unsigned long atomic_inflight(struct drain *d)
{
	return atomic_load_explicit(&to_ad(d)->word, memory_order_relaxed) & COUNT;
}

const struct drain_ops drain_atomic_ops = {
	.info = {
		.name = "atomic",
		.desc = "closed bit, waiter bit and count in one word: one RMW per enter and leave, waiter sleeps on the word",
	},
	.create = atomic_create,
	.destroy = atomic_destroy,
	.enter = atomic_enter,
	.leave = atomic_leave,
	.close_and_wait = atomic_close_and_wait,
	.inflight = atomic_inflight,
};
