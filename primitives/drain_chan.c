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
 * wakes the group's waiters through drain_impl.h's wait queue (whose
 * comment has the no-lost-wake-up argument).
 *
 * Fairness: none; the group counts, it does not queue.
 *
 * drain/busted, the test-only negative control, is this drain with one
 * thing missing: its enter adds to the group and never looks at quit, so
 * it admits after close_and_wait has begun, and after it has returned (a
 * "drained" service goes on taking requests).  Everything is atomic, so
 * ThreadSanitizer stays quiet: the bug is in the protocol, and the stress
 * checker and the server's audit must catch it.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "chan.h"
#include "drain_impl.h"

extern const struct chan_ops *const chan_building_block;

struct chan_drain {
	_Atomic uint32_t count;		/* the group: entered, not yet done */
	struct drain_waitq q;		/* the group's waiters */
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
	atomic_init(&c->q.seq, 0);
	atomic_init(&c->q.waiters, 0);
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
	/* seq_cst: ordered before the waiters load (see drain_impl.h). */
	if (atomic_fetch_sub(&c->count, 1) == 1)
		drain_waitq_wake(&c->q);
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

/* seq_cst: the wait queue reads the count after seq (drain_impl.h). */
static unsigned long chan_inflight(struct drain *d)
{
	return atomic_load(&to_cd(d)->count);
}

static unsigned long chan_close_and_wait(struct drain *d, const struct ctx *ctx)
{
	struct chan_drain *c = to_cd(d);

	chan_building_block->close(c->quit);	/* EPIPE if already: fine */
	/* Pairs with the fence in chan_enter: close, then count. */
	atomic_thread_fence(memory_order_seq_cst);
	return drain_waitq_wait(&c->q, ctx, chan_inflight, d);
}

/* drain/busted's enter: the group's add without the look at quit. */
static int busted_enter(struct drain *d)
{
	atomic_fetch_add(&to_cd(d)->count, 1);
	return 0;
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

const struct drain_ops drain_busted_ops = {
	.info = {
		.name = "busted",
		.desc = "deliberately broken: drain/chan whose enter never looks at quit (admits after close)",
		.flags = IMPL_TEST_ONLY,
	},
	.create = chan_create,
	.destroy = chan_destroy,
	.enter = busted_enter,
	.leave = chan_leave,
	.close_and_wait = chan_close_and_wait,
	.inflight = chan_inflight,
};
