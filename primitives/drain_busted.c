/* SPDX-License-Identifier: MIT */
/*
 * drain/busted: a deliberately broken drain, the negative control that
 * proves `contend stress drain` and the tests catch admission after close.
 * Registered with IMPL_TEST_ONLY: never part of `all`, never benchmarked.
 *
 * Everything but enter() is correct: a count, a closed flag, and a wait
 * group's wake (the waiter announces itself, reads a sequence word, checks
 * the count, sleeps while the sequence holds; the leave that empties the
 * drain with waiters bumps it and wakes them; all seq_cst, as in
 * drain/chan).  enter() forgets to look at the closed flag: it admits
 * after close_and_wait has begun, and after it has returned, so a
 * "drained" service goes on taking requests.  Everything is atomic, so
 * ThreadSanitizer stays quiet: the bug is in the protocol.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "chaos.h"
#include "drain.h"
#include "futex.h"

struct busted_drain {
	_Atomic uint32_t count;
	_Atomic uint32_t waiters;
	_Atomic uint32_t seq;
	atomic_bool closed;	/* set by close_and_wait; enter never looks */
} cacheline_aligned;

#define to_bd(d) ((struct busted_drain *)(d))

static int busted_create(struct drain **out)
{
	struct busted_drain *b = aligned_alloc(CACHELINE, sizeof(*b));

	if (!b)
		return ENOMEM;
	atomic_init(&b->count, 0);
	atomic_init(&b->waiters, 0);
	atomic_init(&b->seq, 0);
	atomic_init(&b->closed, false);
	*out = (struct drain *)b;
	return 0;
}

static void busted_destroy(struct drain *d)
{
	free(d);
}

static int busted_enter(struct drain *d)
{
	/* The bug: no look at closed. */
	atomic_fetch_add(&to_bd(d)->count, 1);
	return 0;
}

static void busted_leave(struct drain *d)
{
	struct busted_drain *b = to_bd(d);

	if (atomic_fetch_sub(&b->count, 1) == 1 && atomic_load(&b->waiters)) {
		atomic_fetch_add(&b->seq, 1);
		futex_wake(&b->seq, INT_MAX);
	}
}

static void waiter_cancelled(struct ctx_hook *h, struct ctx *c)
{
	struct busted_drain *b = h->arg;

	(void)c;
	atomic_fetch_add(&b->seq, 1);
	futex_wake(&b->seq, INT_MAX);
}

static unsigned long busted_close_and_wait(struct drain *d, const struct ctx *cctx)
{
	struct busted_drain *b = to_bd(d);
	struct ctx *ctx = (struct ctx *)cctx;
	struct ctx_hook hook = { .fn = waiter_cancelled, .arg = b };
	bool hooked = false;
	uint32_t left;

	atomic_store(&b->closed, true);
	if (!(left = atomic_load(&b->count)) || ctx_err(ctx))
		return left;
	if (ctx_cancellable(ctx))
		hooked = !ctx->ops->after_func(ctx, &hook);
	for (;;) {
		uint32_t seq;
		int rc;

		atomic_fetch_add(&b->waiters, 1);
		seq = atomic_load(&b->seq);
		left = atomic_load(&b->count);
		if (!left || ctx_err(ctx)) {
			atomic_fetch_sub(&b->waiters, 1);
			break;
		}
		chaos_point();
		rc = futex_wait(&b->seq, seq, ctx_deadline(ctx));
		atomic_fetch_sub(&b->waiters, 1);
		if (rc == ETIMEDOUT) {
			left = atomic_load(&b->count);
			break;
		}
	}
	if (hooked)
		ctx->ops->stop(ctx, &hook);
	return left;
}

static unsigned long busted_inflight(struct drain *d)
{
	return atomic_load_explicit(&to_bd(d)->count, memory_order_relaxed);
}

const struct drain_ops drain_busted_ops = {
	.info = {
		.name = "busted",
		.desc = "deliberately broken: enter ignores the closed flag (admits after close)",
		.flags = IMPL_TEST_ONLY,
	},
	.create = busted_create,
	.destroy = busted_destroy,
	.enter = busted_enter,
	.leave = busted_leave,
	.close_and_wait = busted_close_and_wait,
	.inflight = busted_inflight,
};
