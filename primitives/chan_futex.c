/* SPDX-License-Identifier: MIT */
/*
 * chan/futex: chan/mutex's ring with the pthread parts replaced by futexes
 * of its own: a three-state lock guards the ring, and blocked senders and
 * receivers park on two sequence words instead of condvars.
 *
 * State:
 *   lock       0 free, 1 held, 2 held and someone may sleep on it (the
 *              mutex of Drepper's "Futexes Are Tricky", with a bounded spin
 *              before a locker marks it 2 and sleeps)
 *   ring, head, count, closed, send_sleepers, recv_sleepers
 *              under the lock
 *   not_full   sequence word senders sleep on; bumped when a receive frees
 *              a slot while a sender sleeps, by close(), and by the
 *              cancellation hook of a sleeping sender
 *   not_empty  the same for receivers: bumped by a send while a receiver
 *              sleeps, by close(), and by a sleeping receiver's hook
 *
 * Wake-up protocol.  A sender that finds the ring full (a receiver: empty)
 * announces itself in its side's sleeper count and reads the side's word,
 * both while it still holds the lock under which it saw the ring full;
 * it then unlocks and FUTEX_WAITs on the word while it holds what it read.
 * Whoever changes the state under the lock (a put, a take, close) decides
 * under that same lock whether to wake, from the sleeper count, and after
 * unlocking bumps the word and wakes.  So the sleeper's read of the word
 * comes before the bump of any change it did not see: the kernel finds the
 * word changed and does not put it to sleep, or the wake finds it queued.
 * No lost wake-up.  A put or take wakes one sleeper (one item or one slot
 * lets one thread proceed); close() wakes all of both sides.  A thread
 * woken but not yet back under the lock still counts as a sleeper, so a
 * second put in that window bumps the word again and wakes another.
 *
 * The fast path (the lock free, nobody asleep) is a CAS to lock, an
 * exchange to unlock and no system call: the sleeper counts say nobody
 * needs a wake, and unlock wakes only if the lock word says 2.
 *
 * Cancellation and deadlines: a sleeper with a cancellable context
 * registers a hook (outside the lock, before it first sleeps) that bumps
 * the word it sleeps on and wakes every sleeper there; each re-checks
 * under the lock and only the cancelled one leaves.  The hook's bump
 * comes after the context's err is set, so a sleeper that reads the
 * bumped word also sees the err; one that read the word earlier finds it
 * changed.  A deadline is the futex's absolute CLOCK_MONOTONIC timeout;
 * a sleeper also checks the clock on every wake, so a busy word cannot
 * keep it past its deadline.  The hook is stopped outside the lock, after
 * the call's outcome is decided.
 *
 * Every re-check looks at the context first: once cancelled, a waiter
 * takes nothing and sends nothing, even if the ring would let it (as a
 * sema waiter gives back a permit granted as it was cancelled).  A
 * sleeper that leaves with an error passes on a wake it may have consumed
 * if the ring says another sleeper on its side could proceed, so no
 * cancellation can strand one.
 *
 * Fairness: none; a running thread barges past woken sleepers.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "chaos.h"
#include "clock.h"
#include "futex.h"

#define SPIN_LIMIT 100

struct futex_chan {
	/* Written by every locker: the lock and what it guards. */
	_Atomic uint32_t lock;
	unsigned cap, head, count;	/* items at head .. head+count-1 (mod cap) */
	unsigned send_sleepers, recv_sleepers;
	bool closed;
	void **ring;
	/* Written by wakers and read by sleepers. */
	_Atomic uint32_t not_full cacheline_aligned;
	_Atomic uint32_t not_empty;
};

#define to_fc(c) ((struct futex_chan *)(c))

/* ---- the lock ------------------------------------------------------- */

static void chan_lock(struct futex_chan *f)
{
	uint32_t c = 0;

	if (likely(atomic_compare_exchange_strong_explicit(&f->lock, &c, 1,
			memory_order_acquire, memory_order_relaxed)))
		return;
	/* Held: the holder is usually about to let go; spin a little. */
	for (int spin = SPIN_LIMIT; spin; spin--) {
		cpu_relax();
		c = atomic_load_explicit(&f->lock, memory_order_relaxed);
		if (c == 0 && atomic_compare_exchange_weak_explicit(&f->lock, &c, 1,
				memory_order_acquire, memory_order_relaxed))
			return;
	}
	/*
	 * Mark the lock contended and sleep while it stays so.  Taking it
	 * with 2 (not 1) is conservative: we cannot know whether others
	 * still sleep, so our unlock will wake one, which may be spurious.
	 */
	while (atomic_exchange_explicit(&f->lock, 2, memory_order_acquire) != 0) {
		chaos_point();
		futex_wait(&f->lock, 2, 0);
	}
}

static void chan_unlock(struct futex_chan *f)
{
	if (atomic_exchange_explicit(&f->lock, 0, memory_order_release) == 2)
		futex_wake(&f->lock, 1);
}

/* ---- waking sleepers ------------------------------------------------ */

/* After unlocking: tell n sleepers on word that the state changed. */
static void wake(_Atomic uint32_t *word, int n)
{
	atomic_fetch_add(word, 1);
	futex_wake(word, n);
}

/* The sleeper's context was cancelled: wake everyone on its word. */
static void sleeper_cancelled(struct ctx_hook *h, struct ctx *c)
{
	(void)c;
	wake(h->arg, INT_MAX);
}

/* ---- the ring (lock held) ------------------------------------------- */

static int futex_create(struct chan **out, unsigned cap)
{
	struct futex_chan *f;

	if (cap == 0 || cap > CHAN_MAX_CAP)
		return EINVAL;
	/* The aligned member makes sizeof a multiple of CACHELINE. */
	f = aligned_alloc(CACHELINE, sizeof(*f));
	if (!f || !(f->ring = calloc(cap, sizeof(void *)))) {
		free(f);
		return ENOMEM;
	}
	atomic_init(&f->lock, 0);
	f->cap = cap;
	f->head = f->count = 0;
	f->send_sleepers = f->recv_sleepers = 0;
	f->closed = false;
	atomic_init(&f->not_full, 0);
	atomic_init(&f->not_empty, 0);
	*out = (struct chan *)f;
	return 0;
}

static void futex_destroy(struct chan *c)
{
	struct futex_chan *f = to_fc(c);

	free(f->ring);
	free(f);
}

/* Room checked; returns whether a receiver must be woken. */
static bool put(struct futex_chan *f, void *item)
{
	unsigned tail = f->head + f->count;

	f->ring[tail >= f->cap ? tail - f->cap : tail] = item;
	f->count++;
	return f->recv_sleepers != 0;
}

/* An item checked; returns whether a sender must be woken. */
static bool take(struct futex_chan *f, void **item)
{
	*item = f->ring[f->head];
	f->head = f->head + 1 == f->cap ? 0 : f->head + 1;
	f->count--;
	return f->send_sleepers != 0;
}

/* ---- blocking ------------------------------------------------------- */

/* One side of the channel, as a sleeper sees it. */
struct side {
	_Atomic uint32_t *word;
	unsigned *sleepers;
	bool sending;
};

static bool can_go(struct futex_chan *f, const struct side *s)
{
	return s->sending ? f->count < f->cap : f->count > 0;
}

/* A sleeper's state across the loop of one blocking call. */
struct waiter {
	struct ctx *ctx;
	uint64_t deadline;
	struct ctx_hook hook;	/* initialised only on the slow path */
	bool hook_tried, hooked, timed_out;
};

/*
 * The ring said no (lock held).  Returns 0 after a sleep (the caller
 * re-checks everything), EAGAIN after registering the hook (likewise), or
 * the error to leave with.  The lock is held again on return.
 */
static int wait_once(struct futex_chan *f, const struct side *s, struct waiter *w)
{
	uint32_t seq;
	int rc;

	if (w->timed_out)
		return ETIMEDOUT;
	if ((rc = ctx_err(w->ctx)))
		return rc;
	if (ctx_cancellable(w->ctx) && !w->hook_tried) {
		/* after_func may run the hook at once: never under our lock. */
		w->hook_tried = true;
		w->hook = (struct ctx_hook){ .fn = sleeper_cancelled, .arg = s->word };
		chan_unlock(f);
		w->hooked = !w->ctx->ops->after_func(w->ctx, &w->hook);
		chaos_point();
		chan_lock(f);
		return EAGAIN;
	}
	(*s->sleepers)++;
	seq = atomic_load(s->word);
	chan_unlock(f);
	chaos_point();
	rc = futex_wait(s->word, seq, w->deadline);
	if (rc == ETIMEDOUT || (w->deadline && mono_ns() >= w->deadline))
		w->timed_out = true;
	chaos_point();
	chan_lock(f);
	(*s->sleepers)--;
	return 0;
}

/*
 * Leaving the lock: wake the other side if the call changed the ring, or
 * pass a wake on along our own side if we leave with an error while a
 * sleeper there could go.  Then drop the hook.
 */
static void leave(struct futex_chan *f, const struct side *s, struct waiter *w,
		  int rc, bool wake_other)
{
	bool pass_on = rc && rc != EPIPE && can_go(f, s) && *s->sleepers;

	chan_unlock(f);
	if (wake_other)
		wake(s->sending ? &f->not_empty : &f->not_full, 1);
	if (pass_on)
		wake(s->word, 1);
	if (w->hooked)
		w->ctx->ops->stop(w->ctx, &w->hook);
}

static int futex_send(struct chan *c, void *item, const struct ctx *cctx)
{
	struct futex_chan *f = to_fc(c);
	struct side s = { &f->not_full, &f->send_sleepers, true };
	struct waiter w;
	bool woke = false;
	int rc;

	/* Already cancelled: fail without sending, even if there is room. */
	if ((rc = ctx_err(cctx)))
		return rc;
	w.ctx = (struct ctx *)cctx;
	w.deadline = ctx_deadline(cctx);
	w.hook_tried = w.hooked = w.timed_out = false;
	chan_lock(f);
	for (;;) {
		/* Cancellation first: a cancelled waiter sends nothing. */
		if ((rc = ctx_err(cctx)))
			break;
		if (f->closed) {
			rc = EPIPE;
			break;
		}
		if (f->count < f->cap) {
			woke = put(f, item);
			rc = 0;
			break;
		}
		rc = wait_once(f, &s, &w);
		if (rc && rc != EAGAIN)
			break;
	}
	leave(f, &s, &w, rc, woke);
	return rc;
}

static int futex_recv(struct chan *c, void **item, const struct ctx *cctx)
{
	struct futex_chan *f = to_fc(c);
	struct side s = { &f->not_empty, &f->recv_sleepers, false };
	struct waiter w;
	bool woke = false;
	int rc;

	if ((rc = ctx_err(cctx)))
		return rc;
	w.ctx = (struct ctx *)cctx;
	w.deadline = ctx_deadline(cctx);
	w.hook_tried = w.hooked = w.timed_out = false;
	chan_lock(f);
	for (;;) {
		/* Cancellation first: a cancelled waiter takes nothing. */
		if ((rc = ctx_err(cctx)))
			break;
		if (f->count) {
			woke = take(f, item);
			rc = 0;
			break;
		}
		if (f->closed) {
			rc = EPIPE;
			break;
		}
		rc = wait_once(f, &s, &w);
		if (rc && rc != EAGAIN)
			break;
	}
	leave(f, &s, &w, rc, woke);
	return rc;
}

static int futex_try_send(struct chan *c, void *item)
{
	struct futex_chan *f = to_fc(c);
	bool woke = false;
	int rc = 0;

	chan_lock(f);
	if (f->closed)
		rc = EPIPE;
	else if (f->count < f->cap)
		woke = put(f, item);
	else
		rc = EAGAIN;
	chan_unlock(f);
	if (woke)
		wake(&f->not_empty, 1);
	return rc;
}

static int futex_try_recv(struct chan *c, void **item)
{
	struct futex_chan *f = to_fc(c);
	bool woke = false;
	int rc = 0;

	chan_lock(f);
	if (f->count)
		woke = take(f, item);
	else
		rc = f->closed ? EPIPE : EAGAIN;
	chan_unlock(f);
	if (woke)
		wake(&f->not_full, 1);
	return rc;
}

static int futex_close(struct chan *c)
{
	struct futex_chan *f = to_fc(c);
	bool was;

	chan_lock(f);
	was = f->closed;
	f->closed = true;
	chan_unlock(f);
	if (was)
		return EPIPE;
	/* Everyone re-checks: senders leave, receivers drain then leave. */
	wake(&f->not_full, INT_MAX);
	wake(&f->not_empty, INT_MAX);
	return 0;
}

static unsigned futex_len(struct chan *c)
{
	struct futex_chan *f = to_fc(c);
	unsigned n;

	chan_lock(f);
	n = f->count;
	chan_unlock(f);
	return n;
}

static unsigned futex_cap(struct chan *c)
{
	return to_fc(c)->cap;
}

const struct chan_ops chan_futex_ops = {
	.info = {
		.name = "futex",
		.desc = "ring under a futex lock; sleepers park on futex sequence words",
	},
	.create = futex_create,
	.destroy = futex_destroy,
	.send = futex_send,
	.recv = futex_recv,
	.try_send = futex_try_send,
	.try_recv = futex_try_recv,
	.close = futex_close,
	.len = futex_len,
	.cap = futex_cap,
};
