/* SPDX-License-Identifier: MIT */
/*
 * chan/busted: a deliberately broken channel, the negative control that
 * proves a chan checker can catch lost and duplicated items.  Registered
 * with IMPL_TEST_ONLY: never part of `all`, never benchmarked.
 *
 * It is a ring indexed by two free-running counters, `head` (next to
 * receive) and `tail` (next to send), with the classic check-then-act bug
 * on both: a sender loads tail, checks there is room, writes the slot and
 * then stores tail + 1; a receiver loads head, checks there is an item,
 * reads the slot and then stores head + 1 (instead of claiming the index
 * with one compare-and-swap from the value it checked).  Two senders that
 * load the same tail write the same slot, and one item is lost; two
 * receivers that load the same head both take the same item, a duplicate.
 * A stale store can also move an index backwards, which loses or repeats
 * a run of items.  A short pause between the check and the act (a
 * stand-in for a preemption or a cache miss) widens the window so a
 * concurrent stress run catches it every time rather than eventually.
 * Single-threaded, nothing races and it is a correct bounded FIFO, so
 * simple conformance checks pass and only a concurrent checker fails it.
 *
 * The fill level is the signed difference tail - head, clamped to
 * 0 .. cap, so indices that have crossed make the ring look empty or full,
 * never produce an endless stream: every call still terminates.  close()
 * is a flag that sends check first (a send racing with it may land after
 * the drain, one more way to lose an item).
 *
 * Blocking calls poll: retry, then sleep POLL_NS, re-checking close, the
 * context and the deadline each round, so a blocked call always returns
 * and a stress run never hangs on this channel (the family contract's
 * "never poll" is waived for the test-only control).  Every shared word is
 * atomic, so ThreadSanitizer stays quiet: the bug is in the protocol.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "chan.h"
#include "chaos.h"
#include "clock.h"

#define WINDOW_PAUSES 64
#define POLL_NS 50000

struct busted_chan {
	_Atomic uint32_t head, tail;	/* free-running; slot = index % cap */
	atomic_bool closed;
	unsigned cap;
	_Atomic(void *) *ring;
};

#define to_bc(c) ((struct busted_chan *)(c))

static int busted_create(struct chan **out, unsigned cap)
{
	struct busted_chan *b;

	if (cap == 0 || cap > CHAN_MAX_CAP)
		return EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b || !(b->ring = calloc(cap, sizeof(*b->ring)))) {
		free(b);
		return ENOMEM;
	}
	atomic_init(&b->head, 0);
	atomic_init(&b->tail, 0);
	atomic_init(&b->closed, false);
	b->cap = cap;
	*out = (struct chan *)b;
	return 0;
}

static void busted_destroy(struct chan *c)
{
	struct busted_chan *b = to_bc(c);

	free(b->ring);
	free(b);
}

/* tail - head as the ring sees it; negative once a stale store crossed them. */
static int32_t fill(uint32_t head, uint32_t tail)
{
	return (int32_t)(tail - head);
}

static void window(void)
{
	for (int i = 0; i < WINDOW_PAUSES; i++)
		cpu_relax();
}

static int send_racy(struct busted_chan *b, void *item)
{
	uint32_t tail, head;

	if (atomic_load(&b->closed))
		return EPIPE;
	tail = atomic_load(&b->tail);
	head = atomic_load(&b->head);
	if (fill(head, tail) >= (int32_t)b->cap)
		return EAGAIN;
	window();
	atomic_store(&b->ring[tail % b->cap], item);
	atomic_store(&b->tail, tail + 1);	/* BUG: should be a CAS from tail */
	return 0;
}

static int recv_racy(struct busted_chan *b, void **item)
{
	uint32_t head, tail;

	head = atomic_load(&b->head);
	tail = atomic_load(&b->tail);
	if (fill(head, tail) <= 0)
		return atomic_load(&b->closed) ? EPIPE : EAGAIN;
	window();
	*item = atomic_load(&b->ring[head % b->cap]);
	atomic_store(&b->head, head + 1);	/* BUG: should be a CAS from head */
	return 0;
}

/* Retry op until it stops saying EAGAIN or ctx says stop; sleep between. */
static int poll_until(struct busted_chan *b, void *arg, const struct ctx *ctx,
		      int (*op)(struct busted_chan *, void *))
{
	uint64_t deadline = ctx_deadline(ctx);
	struct timespec ts = { 0, POLL_NS };
	int rc;

	/* Already cancelled: fail without doing anything. */
	if ((rc = ctx_err(ctx)))
		return rc;
	while ((rc = op(b, arg)) == EAGAIN) {
		if ((rc = ctx_err(ctx)))
			return rc;
		if (deadline && mono_ns() >= deadline)
			return ETIMEDOUT;
		chaos_point();
		nanosleep(&ts, NULL);
	}
	return rc;
}

static int recv_op(struct busted_chan *b, void *item)
{
	return recv_racy(b, item);
}

static int busted_send(struct chan *c, void *item, const struct ctx *ctx)
{
	return poll_until(to_bc(c), item, ctx, send_racy);
}

static int busted_recv(struct chan *c, void **item, const struct ctx *ctx)
{
	return poll_until(to_bc(c), item, ctx, recv_op);
}

static int busted_try_send(struct chan *c, void *item)
{
	return send_racy(to_bc(c), item);
}

static int busted_try_recv(struct chan *c, void **item)
{
	return recv_racy(to_bc(c), item);
}

static int busted_close(struct chan *c)
{
	return atomic_exchange(&to_bc(c)->closed, true) ? EPIPE : 0;
}

static unsigned busted_len(struct chan *c)
{
	struct busted_chan *b = to_bc(c);
	int32_t n = fill(atomic_load(&b->head), atomic_load(&b->tail));

	return n < 0 ? 0 : n > (int32_t)b->cap ? b->cap : (unsigned)n;
}

static unsigned busted_cap(struct chan *c)
{
	return to_bc(c)->cap;
}

const struct chan_ops chan_busted_ops = {
	.info = {
		.name = "busted",
		.desc = "check-then-act on ring indices: loses and duplicates items (negative control)",
		.flags = IMPL_TEST_ONLY,
	},
	.create = busted_create,
	.destroy = busted_destroy,
	.send = busted_send,
	.recv = busted_recv,
	.try_send = busted_try_send,
	.try_recv = busted_try_recv,
	.close = busted_close,
	.len = busted_len,
	.cap = busted_cap,
};
