/* SPDX-License-Identifier: MIT */
/*
 * What drain implementations share (not part of the family interface):
 * a wait queue for the designs whose count is an atomic word outside any
 * lock (drain/chan's wait group, drain/sharded after close).  The leave
 * that empties a closed drain calls drain_waitq_wake(); close_and_wait
 * sleeps in drain_waitq_wait().
 *
 * No lost wake-up, all seq_cst: a waiter announces itself in `waiters`,
 * then reads `seq`, then reads the count (and its context), and sleeps
 * while seq still holds what it read.  The emptying leave takes the count
 * to zero, then loads `waiters`: if it misses the announcement, the
 * waiter's later read of the count sees zero; if it sees it, it bumps seq
 * and wakes, so the waiter is either in the kernel already or finds seq
 * changed.  A waiter's context hook bumps seq and wakes every waiter, and
 * each re-checks its own context (seq is read before the check).
 */
#ifndef CONTEND_DRAIN_IMPL_H
#define CONTEND_DRAIN_IMPL_H

#include <limits.h>

#include "chaos.h"
#include "clock.h"
#include "drain.h"
#include "futex.h"

struct drain_waitq {
	_Atomic uint32_t seq;		/* bumped to wake; the futex word */
	_Atomic uint32_t waiters;	/* in drain_waitq_wait, or about to be */
};

/* After the count reached zero: wake whoever waits for that. */
static inline void drain_waitq_wake(struct drain_waitq *q)
{
	if (atomic_load(&q->waiters)) {
		atomic_fetch_add(&q->seq, 1);
		futex_wake(&q->seq, INT_MAX);
	}
}

/* A waiter's context was cancelled: wake every waiter to re-check. */
static inline void drain_waitq_cancelled(struct ctx_hook *h, struct ctx *c)
{
	struct drain_waitq *q = h->arg;

	(void)c;
	atomic_fetch_add(&q->seq, 1);
	futex_wake(&q->seq, INT_MAX);
}

/*
 * Sleep until left(d) is 0 or the context says stop (cancelled, or its
 * deadline passed); returns left(d) as last read.
 */
static inline unsigned long drain_waitq_wait(struct drain_waitq *q,
		const struct ctx *cctx, unsigned long (*left)(struct drain *),
		struct drain *d)
{
	struct ctx *ctx = (struct ctx *)cctx;
	uint64_t deadline = ctx_deadline(ctx);
	struct ctx_hook hook = { .fn = drain_waitq_cancelled, .arg = q };
	bool hooked = false;
	unsigned long n;

	if (!(n = left(d)) || ctx_err(ctx))
		return n;
	if (ctx_cancellable(ctx))
		hooked = !ctx->ops->after_func(ctx, &hook);
	atomic_fetch_add(&q->waiters, 1);
	for (;;) {
		uint32_t seq = atomic_load(&q->seq);

		n = left(d);
		if (!n || ctx_err(ctx) || (deadline && mono_ns() >= deadline))
			break;
		chaos_point();
		futex_wait(&q->seq, seq, deadline);
	}
	atomic_fetch_sub(&q->waiters, 1);
	if (hooked)
		ctx->ops->stop(ctx, &hook);
	return n;
}

#endif
