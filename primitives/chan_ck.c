/* SPDX-License-Identifier: MIT */
/*
 * chan/ck: the family's baseline, Concurrency Kit's ck_ring in MPMC mode,
 * made into a channel with an exact capacity, an exact close, and the
 * same futex parking as chan/lockfree (chan_park.h).
 *
 * Capacity.  ck_ring's size must be a power of two and it holds size - 1
 * items, so the ring is the smallest power of two above cap, and a count
 * word admits senders:
 *
 *   count = CK_CLOSED bit | sends admitted - receives finished
 *
 * A send reserves with a CAS that refuses when the count is at cap or the
 * closed bit is set, then enqueues; a receive dequeues, then decrements.
 * The enqueue cannot find the ring full: every item in the ring, and every
 * sender between its CAS on head and its commit, holds a unit of count, so
 * the ring never holds more than cap - 1 others (abort() if ck ever says
 * otherwise).  A CAS rather than fetch_add: an increment that must be
 * undone would make count > 0 for a moment on a closed empty channel, and
 * receivers would wait for an item that never comes.  A failing try_send
 * on a full channel is one load.
 *
 * Close.  close() sets CK_CLOSED with fetch_or; a send that reserved
 * before it completes its enqueue, no send reserves after.  A receiver
 * that finds the ring empty: count == 0 means empty (EPIPE if closed);
 * count > 0 means someone is in flight (EBUSY), a sender between reserve
 * and commit, whose item it waits for, or a receiver between dequeue and
 * decrement.  The receiver whose decrement leaves a closed channel at 0
 * wakes every receiver, so the ones waiting in that second case learn
 * EPIPE.  A send racing close is received or fails; nothing is lost.
 *
 * Wake-ups.  A receive's decrement is a seq_cst RMW and so orders itself
 * before the not_full sleeper load, and senders only ever wait on count,
 * so a notify after it needs nothing more.  A send's reservation is an RMW
 * too, which covers receivers that sleep on count == 0; but a receiver
 * that sleeps because a send is in flight waits for ck's commit, a plain
 * store inside ck, so the sender issues a seq_cst fence after the
 * enqueue before loading the not_empty sleeper count (a locked no-op on
 * x86, where ck is built).  Parked waiters that proceed or give up pass
 * wakes on as chan_park.h describes (ck_room / ck_has_item the tests).
 *
 * ck_ring's own waits are not ours to bound: a producer commits only
 * after the producer before it, spinning inside ck, so a producer that is
 * preempted between its reserve and commit stalls the others.  That is
 * ck_ring's design, kept as the baseline.
 *
 * ThreadSanitizer: ck's atomics are inline assembly, which TSan does not
 * see, and its slot copies (including a dequeue's speculative read that a
 * failing CAS throws away) look like races.  Under TSan the ring calls
 * run with the thread's memory accesses ignored; the happens-before a user
 * needs, from before a send to after the matching receive, comes from the
 * count word: every change to it is an RMW, so the receiver's decrement
 * acquires the sender's reservation through the release sequence.
 */
#include <ck_ring.h>
#include <errno.h>
#include <stdlib.h>

#include "chan.h"
#include "chan_park.h"
#include "chaos.h"

#if defined(__SANITIZE_THREAD__)
#define CK_CHAN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CK_CHAN_TSAN 1
#endif
#endif

#ifdef CK_CHAN_TSAN
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
#define tsan_ignore_begin() __tsan_ignore_thread_begin()
#define tsan_ignore_end() __tsan_ignore_thread_end()
#else
#define tsan_ignore_begin() do { } while (0)
#define tsan_ignore_end() do { } while (0)
#endif

#define CK_CLOSED (1u << 31)

struct ck_chan {
	struct ck_ring ring cacheline_aligned;
	_Atomic uint32_t count cacheline_aligned;	/* CK_CLOSED | admitted */
	struct chan_park not_full;	/* senders wait for room */
	struct chan_park not_empty;	/* receivers wait for an item */
	/* Read-only after create. */
	struct ck_ring_buffer *buf cacheline_aligned;
	unsigned cap;
};

#define to_ck(c) ((struct ck_chan *)(c))

static int ck_create(struct chan **out, unsigned cap)
{
	struct ck_chan *k;
	unsigned size = 2;

	if (cap == 0 || cap > CHAN_MAX_CAP)
		return EINVAL;
	while (size <= cap)
		size <<= 1;
	k = aligned_alloc(CACHELINE, sizeof(*k));
	if (!k)
		return ENOMEM;
	k->buf = calloc(size, sizeof(*k->buf));
	if (!k->buf) {
		free(k);
		return ENOMEM;
	}
	ck_ring_init(&k->ring, size);
	atomic_init(&k->count, 0);
	chan_park_init(&k->not_full);
	chan_park_init(&k->not_empty);
	k->cap = cap;
	*out = (struct chan *)k;
	return 0;
}

static void ck_destroy(struct chan *c)
{
	struct ck_chan *k = to_ck(c);

	free(k->buf);
	free(k);
}

/* One send: 0, EPIPE (closed), EAGAIN (full). */
static int ck_send_once(struct ck_chan *k, void *item)
{
	uint32_t v = atomic_load(&k->count);
	bool ok;

	do {
		if (unlikely(v & CK_CLOSED))
			return EPIPE;
		if (v >= k->cap)
			return EAGAIN;
	} while (!atomic_compare_exchange_weak(&k->count, &v, v + 1));
	chaos_point();
	tsan_ignore_begin();
	ok = ck_ring_enqueue_mpmc(&k->ring, k->buf, item);
	tsan_ignore_end();
	if (unlikely(!ok))
		abort();	/* count admitted more than the ring holds */
	/* ck's commit is a plain store: order it before the sleeper load. */
	atomic_thread_fence(memory_order_seq_cst);
	chan_park_notify(&k->not_empty);
	return 0;
}

/*
 * One receive: 0, EPIPE (closed and drained), EAGAIN (empty), EBUSY (the
 * ring is empty but a send or another receive is in flight).
 */
static int ck_recv_once(struct ck_chan *k, void **item)
{
	uint32_t v;
	bool ok;

	tsan_ignore_begin();
	ok = ck_ring_dequeue_mpmc(&k->ring, k->buf, item);
	tsan_ignore_end();
	if (ok) {
		chaos_point();
		v = atomic_fetch_sub(&k->count, 1);
		chan_park_notify(&k->not_full);
		/* Closed and now drained: receivers waiting on in-flight ones. */
		if (unlikely(v == (CK_CLOSED | 1)))
			chan_park_wake_all(&k->not_empty);
		return 0;
	}
	v = atomic_load(&k->count);
	if (!(v & ~CK_CLOSED))
		return v & CK_CLOSED ? EPIPE : EAGAIN;
	return EBUSY;
}

struct ck_send_arg {
	struct ck_chan *k;
	void *item;
};

struct ck_recv_arg {
	struct ck_chan *k;
	void **item;
};

static int ck_send_attempt(void *arg)
{
	struct ck_send_arg *a = arg;

	return ck_send_once(a->k, a->item);
}

static int ck_recv_attempt(void *arg)
{
	struct ck_recv_arg *a = arg;

	return ck_recv_once(a->k, a->item);
}

/* For a parked sender leaving: could another sender proceed now? */
static bool ck_room(void *arg)
{
	struct ck_chan *k = ((struct ck_send_arg *)arg)->k;

	return atomic_load(&k->count) < k->cap;	/* false once closed */
}

/* For a parked receiver leaving: could another receiver proceed now? */
static bool ck_has_item(void *arg)
{
	struct ck_chan *k = ((struct ck_recv_arg *)arg)->k;

	return ck_ring_size(&k->ring) != 0;
}

static int ck_send(struct chan *c, void *item, const struct ctx *ctx)
{
	struct ck_send_arg a = { to_ck(c), item };
	int rc;

	if ((rc = ctx_err(ctx)))
		return rc;
	rc = ck_send_once(a.k, item);
	if (likely(chan_attempt_done(rc)))
		return rc;
	return chan_park_block(&a.k->not_full, ck_send_attempt, ck_room, &a, ctx);
}

static int ck_recv(struct chan *c, void **item, const struct ctx *ctx)
{
	struct ck_recv_arg a = { to_ck(c), item };
	int rc;

	if ((rc = ctx_err(ctx)))
		return rc;
	rc = ck_recv_once(a.k, item);
	if (likely(chan_attempt_done(rc)))
		return rc;
	return chan_park_block(&a.k->not_empty, ck_recv_attempt, ck_has_item, &a, ctx);
}

static int ck_try_send(struct chan *c, void *item)
{
	return ck_send_once(to_ck(c), item);
}

/* An in-flight send is waited for a bounded while, then EAGAIN. */
static int ck_try_recv(struct chan *c, void **item)
{
	struct ck_chan *k = to_ck(c);
	int rc = ck_recv_once(k, item);

	for (int spin = CHAN_TRY_SPIN; rc == EBUSY && spin; spin--) {
		cpu_relax();
		rc = ck_recv_once(k, item);
	}
	return rc == EBUSY ? EAGAIN : rc;
}

static int ck_close(struct chan *c)
{
	struct ck_chan *k = to_ck(c);

	if (atomic_fetch_or(&k->count, CK_CLOSED) & CK_CLOSED)
		return EPIPE;
	chan_park_wake_all(&k->not_full);
	chan_park_wake_all(&k->not_empty);
	return 0;
}

/* Admitted and not yet received: never above cap. */
static unsigned ck_len(struct chan *c)
{
	return atomic_load(&to_ck(c)->count) & ~CK_CLOSED;
}

static unsigned ck_cap(struct chan *c)
{
	return to_ck(c)->cap;
}

const struct chan_ops chan_ck_ops = {
	.info = {
		.name = "ck",
		.desc = "Concurrency Kit ck_ring MPMC + exact-capacity count word + futex parking (baseline)",
	},
	.create = ck_create,
	.destroy = ck_destroy,
	.send = ck_send,
	.recv = ck_recv,
	.try_send = ck_try_send,
	.try_recv = ck_try_recv,
	.close = ck_close,
	.len = ck_len,
	.cap = ck_cap,
};
