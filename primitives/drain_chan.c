/* SPDX-License-Identifier: MIT */
/*
 * drain/chan: Go's shape.  A quit channel that shutdown closes (the
 * project's channel, chan_building_block from sema_chan.c, of capacity 1
 * that nobody ever sends on) next to a wait group (an atomic count, and a
 * sequence word its waiters sleep on, as sync.WaitGroup does with its
 * semaphore).
 *
 *   enter:           group add 1; then `select { case <-quit: ... default: }`
 *                    as try_recv on quit: EPIPE means closed, so undo the
 *                    add (a group done) and refuse
 *   leave:           group done
 *   close_and_wait:  close(quit), then group wait under the context
 *
 * The enter/close race, which a Go program gets wrong when it checks quit
 * before the Add: here enter adds *before* it looks at quit, and the
 * closer closes *before* it reads the count, each side with a seq_cst
 * fence between its write and its read (Dekker).  So either the enter sees
 * quit closed (and takes its add back, waking the closer if that emptied
 * the group), or the closer's wait sees its add and waits for its leave:
 * an enter that saw "open" is always counted.  The fences do not rely on
 * how the building block orders its own close and try_recv.  The price: a
 * refused enter shows in the count (and in inflight()) for the moment
 * between its add and its undo, and enter pays a fence on top of its RMW.
 *
 * The wait group: done is fetch_sub; the one that takes the count to zero
 * looks at `waiters` and, if anyone announced itself, bumps seq and wakes
 * them all.  A waiter announces itself in `waiters`, reads seq, then reads
 * the count and its context, and sleeps while seq still holds what it
 * read.  All seq_cst: a done that misses the announcement emptied the
 * group before the waiter read the count; one that sees it bumps seq after
 * the waiter read it, so the kernel refuses to let the waiter sleep or
 * wakes it.  A waiter's context hook bumps seq and wakes everyone, which
 * the same argument covers (seq is read before the context is checked).
 *
 * Fairness: none; the group counts, it does not queue.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "chan.h"
#include "chaos.h"
#include "drain.h"
#include "futex.h"

extern const struct chan_ops *const chan_building_block;

struct chan_drain {
	_Atomic uint32_t count;		/* the group: entered, not yet done */
	_Atomic uint32_t waiters;	/* in the group's wait, or about to be */
	_Atomic uint32_t seq;		/* bumped to wake them; the futex word */
	struct chan *quit;		/* closed by close_and_wait */
} cacheline_aligned;

#define to_cd(d) ((struct chan_drain *)(d))

static int chan_create(struct drain **out)
{
	struct chan_drain *c = aligned_alloc(CACHELINE, sizeof(*c));
	int rc;

	if (!c)
		return ENOMEM;
	atomic_init(&c->count, 0);
	atomic_init(&c->waiters, 0);
	atomic_init(&c->seq, 0);
	if ((rc = chan_building_block->create(&c->quit, 1))) {
		free(c);
		return rc;
	}
	*out = (struct drain *)c;
	return 0;
}

static void chan_destroy(struct drain *d)
{
	chan_building_block->destroy(to_cd(d)->quit);
	free(d);
}

static void group_done(struct chan_drain *c)
{
	/* seq_cst: ordered before the waiters load (see the top). */
	if (atomic_fetch_sub(&c->count, 1) == 1 && atomic_load(&c->waiters)) {
		atomic_fetch_add(&c->seq, 1);
		futex_wake(&c->seq, INT_MAX);
	}
}

/* quit is closed: a receive on it says EPIPE (nothing is ever sent). */
static bool quit_closed(struct chan_drain *c)
{
	void *nothing;

	return chan_building_block->try_recv(c->quit, &nothing) == EPIPE;
}

static int chan_enter(struct drain *d)
{
	struct chan_drain *c = to_cd(d);

	atomic_fetch_add(&c->count, 1);
	/* Pairs with the fence in close_and_wait: add, then look. */
	atomic_thread_fence(memory_order_seq_cst);
	if (unlikely(quit_closed(c))) {
		group_done(c);
		return EPIPE;
	}
	return 0;
}

static void chan_leave(struct drain *d)
{
	group_done(to_cd(d));
}

/* A waiter's context was cancelled: wake every waiter to re-check. */
static void waiter_cancelled(struct ctx_hook *h, struct ctx *ctx)
{
	struct chan_drain *c = h->arg;

	(void)ctx;
	atomic_fetch_add(&c->seq, 1);
	futex_wake(&c->seq, INT_MAX);
}

static unsigned long chan_close_and_wait(struct drain *d, const struct ctx *cctx)
{
	struct chan_drain *c = to_cd(d);
	struct ctx *ctx = (struct ctx *)cctx;
	uint64_t deadline = ctx_deadline(ctx);
	struct ctx_hook hook = { .fn = waiter_cancelled, .arg = c };
	bool hooked = false;
	uint32_t left;

	chan_building_block->close(c->quit);	/* EPIPE if already: fine */
	/* Pairs with the fence in chan_enter: close, then count. */
	atomic_thread_fence(memory_order_seq_cst);
	if (!(left = atomic_load(&c->count)) || ctx_err(ctx))
		return left;
	if (ctx_cancellable(ctx))
		hooked = !ctx->ops->after_func(ctx, &hook);
	for (;;) {
		uint32_t seq;
		int rc;

		atomic_fetch_add(&c->waiters, 1);
		seq = atomic_load(&c->seq);
		left = atomic_load(&c->count);
		if (!left || ctx_err(ctx)) {
			atomic_fetch_sub(&c->waiters, 1);
			break;
		}
		chaos_point();
		rc = futex_wait(&c->seq, seq, deadline);
		atomic_fetch_sub(&c->waiters, 1);
		if (rc == ETIMEDOUT) {
			left = atomic_load(&c->count);
			break;
		}
	}
	if (hooked)
		ctx->ops->stop(ctx, &hook);
	return left;
}

static unsigned long chan_inflight(struct drain *d)
{
	return atomic_load_explicit(&to_cd(d)->count, memory_order_relaxed);
}

const struct drain_ops drain_chan_ops = {
	.info = {
		.name = "chan",
		.desc = "Go's shape: a closed quit channel plus a wait group (atomic count, futex wake)",
	},
	.create = chan_create,
	.destroy = chan_destroy,
	.enter = chan_enter,
	.leave = chan_leave,
	.close_and_wait = chan_close_and_wait,
	.inflight = chan_inflight,
};
