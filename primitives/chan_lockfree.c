/* SPDX-License-Identifier: MIT */
/*
 * chan/lockfree: a bounded MPMC ring in the style of Vyukov's bounded
 * queue, with crossbeam's ArrayQueue encoding so that any capacity is
 * exact, and futex parking (chan_park.h) when full or empty.
 *
 * Positions.  head and tail are 64-bit positions `lap | index`: index
 * (0 .. cap-1) sits in the low bits, below `mark`, the smallest power of
 * two above cap; laps count in units of one_lap = 2 * mark.  Stepping a
 * position is "index + 1, or index 0 of the next lap": a compare, never a
 * division, and cap need not be a power of two.  The bit `mark` itself is
 * never part of a position; in `tail` it means closed.
 *
 * Cells.  Each cell has a stamp saying whose turn it is:
 *   stamp == p            empty, the sender claiming position p may write
 *   stamp == p + 1        full, the receiver claiming position p may read
 *   stamp == p + one_lap  emptied again: the sender of the next lap's p
 * A sender loads tail, and when the cell's stamp equals it, claims the
 * position with a CAS on tail, writes the item and publishes it by storing
 * the stamp.  A receiver does the same with head, reads, and stores the
 * stamp of the next lap.  The stamp's store/load carry the item, so a
 * cell's item is a plain field.  Full is "the cell at tail is still in
 * use by the last lap and head is exactly one lap behind tail"; empty is
 * "the cell at head is not filled for this lap and tail == head".  A cell
 * that is claimed but not yet
 * published (or not yet emptied) with head/tail already past it is EBUSY:
 * another thread is in the middle of it.  try_* spin on that a bounded
 * number of times; blocking calls spin and then park for it.  A failing
 * try_send on a full ring is three loads (tail, stamp, head) and no store.
 *
 * Close.  close() sets `mark` in tail with fetch_or.  A sender's CAS
 * expects an unmarked tail, so no sender can claim a position afterwards,
 * and every sender that claimed one before will publish it.  A receiver
 * that finds head == tail with the mark set is closed-and-drained (EPIPE);
 * one that finds head != tail waits for the in-flight item as above, so a
 * send racing close either lands before the mark (and is received) or
 * fails with EPIPE.  Nothing is lost in between.
 *
 * Wake-ups.  After publishing an item a sender notifies not_empty; after
 * emptying a cell a receiver notifies not_full (chan_park.h: one load of
 * a sleeper word, and a futex call only if a sleeper has no wake on its
 * way).  That load must not be ordered before the publication, a store:
 * a store-to-load barrier, the one thing a release/acquire queue does not
 * have, is needed, or a receiver that announced itself and re-checked
 * just before the stamp store became visible sleeps while the sender,
 * having read the count too early, does not wake it.  The publishing
 * stamp store is therefore seq_cst (xchg on x86) rather than a release
 * store plus a seq_cst fence: it is cheaper here (the fence is a locked
 * instruction of its own), and ThreadSanitizer understands a seq_cst
 * store while it ignores fences.  The waiter's re-check loads are seq_cst
 * too (plain loads on x86).  Cost, measured on a shared, noisy 2-core VM:
 * a send+recv pair on one thread takes ~24 ns against ~15 ns with the
 * (incorrect) release stores, so ~5 ns per operation; across two threads
 * (1 producer, 1 consumer, capacity 100, ~100-700 ns per item there) the
 * difference was lost in the noise.  Paid on every operation because the
 * alternatives are worse: a sleeper that polls breaks the family's rule,
 * and an asymmetric barrier (membarrier(2) issued by the sleeper) is a
 * system call with IPIs that is not available everywhere.
 *
 * A woken receiver can find head still being filled (EBUSY) while the
 * item it was woken for sits at head + 1; it sleeps again, and the
 * receiver that later takes head passes the wake on (chan_park.h's chain
 * wake, with lf_has_item / lf_room as the test).  The fast path never
 * chains.
 *
 * Layout: the read-only fields, head, tail, and each side's park words
 * sit on cache lines of their own; cells are 16 bytes, four to a line.
 * Under chaos, points also sit in the claimed-but-not-published windows
 * (one relaxed load each when off) to widen the EBUSY races.
 */
#include <errno.h>
#include <stdlib.h>

#include "chan.h"
#include "chan_park.h"
#include "chaos.h"

struct lf_cell {
	_Atomic uint64_t stamp;
	void *item;
};

struct lf_chan {
	/* Read-only after create. */
	struct lf_cell *cells;
	uint64_t one_lap;
	uint64_t mark;		/* tail's closed bit, above every index */
	unsigned cap;
	_Atomic uint64_t head cacheline_aligned;
	_Atomic uint64_t tail cacheline_aligned;
	struct chan_park not_full;	/* senders wait for room */
	struct chan_park not_empty;	/* receivers wait for an item */
};

#define to_lf(c) ((struct lf_chan *)(c))

static int lf_create(struct chan **out, unsigned cap)
{
	struct lf_chan *l;
	uint64_t mark = 1;

	if (cap == 0 || cap > CHAN_MAX_CAP)
		return EINVAL;
	l = aligned_alloc(CACHELINE, sizeof(*l));
	if (!l)
		return ENOMEM;
	l->cells = aligned_alloc(CACHELINE, (cap * sizeof(struct lf_cell) +
					     CACHELINE - 1) & ~(size_t)(CACHELINE - 1));
	if (!l->cells) {
		free(l);
		return ENOMEM;
	}
	while (mark <= cap)
		mark <<= 1;
	l->mark = mark;
	l->one_lap = mark << 1;
	l->cap = cap;
	for (unsigned i = 0; i < cap; i++) {
		atomic_init(&l->cells[i].stamp, i);
		l->cells[i].item = NULL;
	}
	atomic_init(&l->head, 0);
	atomic_init(&l->tail, 0);
	chan_park_init(&l->not_full);
	chan_park_init(&l->not_empty);
	*out = (struct chan *)l;
	return 0;
}

static void lf_destroy(struct chan *c)
{
	struct lf_chan *l = to_lf(c);

	free(l->cells);
	free(l);
}

/* The position after pos: next index, or index 0 of the next lap. */
static inline uint64_t lf_next(const struct lf_chan *l, uint64_t pos)
{
	uint64_t idx = pos & (l->mark - 1);

	return idx + 1 < l->cap ? pos + 1 : (pos & ~(l->one_lap - 1)) + l->one_lap;
}

static inline struct lf_cell *lf_cell(const struct lf_chan *l, uint64_t pos)
{
	return &l->cells[pos & (l->mark - 1)];
}

/*
 * One send: 0, EPIPE (closed), EAGAIN (full), EBUSY (the cell at tail is
 * being emptied by a receiver).  Loops only while other senders move tail.
 */
static int lf_send_once(struct lf_chan *l, void *item)
{
	uint64_t tail = atomic_load(&l->tail);

	for (;;) {
		struct lf_cell *cell;
		uint64_t stamp, head, next, now;

		if (unlikely(tail & l->mark))
			return EPIPE;
		cell = lf_cell(l, tail);
		stamp = atomic_load(&cell->stamp);
		if (stamp == tail) {
			next = lf_next(l, tail);
			if (!atomic_compare_exchange_weak(&l->tail, &tail, next))
				continue;	/* tail reloaded */
			chaos_point();
			cell->item = item;
			/* seq_cst: ordered before the sleeper loads below. */
			atomic_store(&cell->stamp, tail + 1);
			chan_park_notify(&l->not_empty);
			return 0;
		}
		if ((int64_t)(stamp - tail) < 0) {
			/* The cell is still in use by an earlier lap. */
			head = atomic_load(&l->head);
			if (head + l->one_lap == tail)
				return EAGAIN;
			now = atomic_load(&l->tail);
			if (now == tail)
				return EBUSY;
			tail = now;
			continue;
		}
		/* Our tail is stale: other senders moved on. */
		cpu_relax();
		tail = atomic_load(&l->tail);
	}
}

/*
 * One receive: 0, EPIPE (closed and drained), EAGAIN (empty), EBUSY (the
 * cell at head is claimed by a sender that has not published yet).
 */
static int lf_recv_once(struct lf_chan *l, void **item)
{
	uint64_t head = atomic_load(&l->head);

	for (;;) {
		struct lf_cell *cell = lf_cell(l, head);
		uint64_t stamp, tail, next, now;

		stamp = atomic_load(&cell->stamp);
		if (stamp == head + 1) {
			next = lf_next(l, head);
			if (!atomic_compare_exchange_weak(&l->head, &head, next))
				continue;	/* head reloaded */
			chaos_point();
			*item = cell->item;
			/* seq_cst: ordered before the sleeper loads below. */
			atomic_store(&cell->stamp, head + l->one_lap);
			chan_park_notify(&l->not_full);
			return 0;
		}
		if ((int64_t)(stamp - head) <= 0) {
			/* Not filled for this lap yet: empty, or in flight. */
			tail = atomic_load(&l->tail);
			if ((tail & ~l->mark) == head)
				return tail & l->mark ? EPIPE : EAGAIN;
			now = atomic_load(&l->head);
			if (now == head)
				return EBUSY;
			head = now;
			continue;
		}
		/* Our head is stale: other receivers moved on. */
		cpu_relax();
		head = atomic_load(&l->head);
	}
}

struct lf_send_arg {
	struct lf_chan *l;
	void *item;
};

struct lf_recv_arg {
	struct lf_chan *l;
	void **item;
};

static int lf_send_attempt(void *arg)
{
	struct lf_send_arg *a = arg;

	return lf_send_once(a->l, a->item);
}

static int lf_recv_attempt(void *arg)
{
	struct lf_recv_arg *a = arg;

	return lf_recv_once(a->l, a->item);
}

/* For a parked sender leaving: could another sender proceed now? */
static bool lf_room(void *arg)
{
	struct lf_chan *l = ((struct lf_send_arg *)arg)->l;
	uint64_t tail = atomic_load(&l->tail);

	return !(tail & l->mark) && atomic_load(&lf_cell(l, tail)->stamp) == tail;
}

/*
 * For a parked receiver leaving: could another receiver proceed now (an
 * item at head, or a closed channel, which ends in EPIPE once drained)?
 */
static bool lf_has_item(void *arg)
{
	struct lf_chan *l = ((struct lf_recv_arg *)arg)->l;
	uint64_t head = atomic_load(&l->head);

	return atomic_load(&lf_cell(l, head)->stamp) == head + 1 ||
	       (atomic_load(&l->tail) & l->mark);
}

static int lf_send(struct chan *c, void *item, const struct ctx *ctx)
{
	struct lf_send_arg a = { to_lf(c), item };
	int rc;

	if ((rc = ctx_err(ctx)))
		return rc;
	rc = lf_send_once(a.l, item);
	if (likely(chan_attempt_done(rc)))
		return rc;
	return chan_park_block(&a.l->not_full, lf_send_attempt, lf_room, &a, ctx);
}

static int lf_recv(struct chan *c, void **item, const struct ctx *ctx)
{
	struct lf_recv_arg a = { to_lf(c), item };
	int rc;

	if ((rc = ctx_err(ctx)))
		return rc;
	rc = lf_recv_once(a.l, item);
	if (likely(chan_attempt_done(rc)))
		return rc;
	return chan_park_block(&a.l->not_empty, lf_recv_attempt, lf_has_item, &a, ctx);
}

/* try_*: an in-flight neighbour is waited for a bounded while, then EAGAIN. */
static int lf_try_send(struct chan *c, void *item)
{
	struct lf_chan *l = to_lf(c);
	int rc = lf_send_once(l, item);

	for (int spin = CHAN_TRY_SPIN; rc == EBUSY && spin; spin--) {
		cpu_relax();
		rc = lf_send_once(l, item);
	}
	return rc == EBUSY ? EAGAIN : rc;
}

static int lf_try_recv(struct chan *c, void **item)
{
	struct lf_chan *l = to_lf(c);
	int rc = lf_recv_once(l, item);

	for (int spin = CHAN_TRY_SPIN; rc == EBUSY && spin; spin--) {
		cpu_relax();
		rc = lf_recv_once(l, item);
	}
	return rc == EBUSY ? EAGAIN : rc;
}

static int lf_close(struct chan *c)
{
	struct lf_chan *l = to_lf(c);

	if (atomic_fetch_or(&l->tail, l->mark) & l->mark)
		return EPIPE;
	chan_park_wake_all(&l->not_full);
	chan_park_wake_all(&l->not_empty);
	return 0;
}

/* tail - head in positions, from a head read between two equal tails. */
static unsigned lf_len(struct chan *c)
{
	struct lf_chan *l = to_lf(c);
	uint64_t head, tail, hix, tix;

	for (int tries = 8;; tries--) {
		tail = atomic_load(&l->tail) & ~l->mark;
		head = atomic_load(&l->head);
		if (!tries || (atomic_load(&l->tail) & ~l->mark) == tail)
			break;
	}
	hix = head & (l->mark - 1);
	tix = tail & (l->mark - 1);
	if (hix < tix)
		return (unsigned)(tix - hix);
	if (hix > tix)
		return (unsigned)(l->cap - hix + tix);
	return tail == head ? 0 : l->cap;
}

static unsigned lf_cap(struct chan *c)
{
	return to_lf(c)->cap;
}

const struct chan_ops chan_lockfree_ops = {
	.info = {
		.name = "lockfree",
		.desc = "Vyukov-style MPMC ring, lap|index positions (exact capacity), close mark in tail, futex parking",
	},
	.create = lf_create,
	.destroy = lf_destroy,
	.send = lf_send,
	.recv = lf_recv,
	.try_send = lf_try_send,
	.try_recv = lf_try_recv,
	.close = lf_close,
	.len = lf_len,
	.cap = lf_cap,
};
