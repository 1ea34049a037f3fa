/* SPDX-License-Identifier: MIT */
/*
 * drain/sharded: per-thread counters while the drain is open, one atomic
 * count once it closes (the idea of Linux's percpu_ref, with membarrier(2)
 * in the role of RCU).  Every request pays enter+leave; with this design
 * it pays no atomic read-modify-write and shares no cache line.
 *
 * State:
 *   shard[i]  one per thread that ever entered or left (found through a
 *             small thread-local cache keyed by the drain's unique id):
 *               count   enters minus leaves by its owner; signed, since a
 *                       unit may enter on one thread and leave on another
 *               busy    1 while its owner is inside enter/leave
 *             written only by its owner, with plain (relaxed) stores
 *   closed    0, then 1 for good (close_and_wait)
 *   central   the in-flight count after close: leaves subtract from it
 *   summed    set once the closer has added the shards into central
 *   q         the waiters (drain_impl.h): the leave that empties
 *             central wakes them
 *
 * Open (fast path): busy = 1; (compiler barrier) load closed; if open,
 * count += 1 (or -= 1); busy = 0 (release).  No fence, no lock prefix.
 *
 * Closing (once, under close_lock): closed = 1; membarrier(PRIVATE_
 * EXPEDITED); then for each shard, wait while busy, and add its count
 * (acquire) into central; then summed = 1.  Why nothing is lost, the
 * asymmetric Dekker argument: membarrier makes every running thread of
 * the process execute a full barrier before it returns (a thread not
 * running passes one when it is switched out), so for each fast path
 * either its load of `closed` came after that barrier and saw 1 (it then
 * refuses, or takes the slow leave below), or its busy = 1 store was
 * visible to the closer's later load: the closer waits for busy = 0,
 * whose release publishes the count.  A fast path that ended before the
 * barrier is visible with it.  So an enter racing with close is either
 * refused or counted, and every shard's final value is read once, when no
 * owner can change it again.
 *
 * Closed: enter refuses; leave subtracts 1 from central (seq_cst).  Until
 * the closer adds the shard sum, central only goes down from 0, so no
 * leave can see it reach 0 early; afterwards central is exactly what is in
 * flight, and the leave that takes it to 0 bumps seq and wakes the
 * waiters: one wake, from the last leave, as in drain/atomic.
 *
 * A thread beyond SHARDS threads shares the overflow shard, updated with
 * atomic RMWs (its busy is a count of threads inside): slower, same
 * argument.  membarrier needs Linux 4.14 for the expedited command; on a
 * kernel without it close falls back to the global command (slow, still
 * correct), and create fails with ENOTSUP when neither exists.
 *
 * Costs: enter+leave open is two plain stores and a load per call on an
 * owned cache line; close costs one membarrier (an IPI to each CPU
 * running this process) plus a walk over the shards; memory is SHARDS
 * cache lines per drain.
 */
#include <errno.h>
#include <limits.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "drain_impl.h"

#define SHARDS 128
#define CACHE 4		/* thread-local (drain id -> shard) entries */

struct shard {
	_Atomic long count;
	_Atomic unsigned long busy;	/* owner inside (overflow: how many) */
	_Atomic pid_t owner;		/* 0: free */
} cacheline_aligned;

struct sharded_drain {
	struct shard shard[SHARDS];
	struct shard overflow;
	uint64_t id;			/* unique for the process's life */
	_Atomic int closed cacheline_aligned;
	_Atomic int summed;
	_Atomic long central;
	struct drain_waitq q;
	_Atomic unsigned nshards;
	pthread_mutex_t lock;		/* shard allocation, and the close */
};

#define to_sd(d) ((struct sharded_drain *)(d))

static _Atomic uint64_t next_id = 1;
static int barrier_cmd;			/* the membarrier command to use */
static pthread_once_t barrier_once = PTHREAD_ONCE_INIT;

static __thread struct {
	uint64_t id;
	struct shard *s;
} cache[CACHE];

static void barrier_init(void)
{
	long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    !syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0))
		barrier_cmd = MEMBARRIER_CMD_PRIVATE_EXPEDITED;
	else if (cmds > 0 && (cmds & MEMBARRIER_CMD_GLOBAL))
		barrier_cmd = MEMBARRIER_CMD_GLOBAL;
}

static int sharded_create(struct drain **out)
{
	struct sharded_drain *s;

	pthread_once(&barrier_once, barrier_init);
	if (!barrier_cmd)
		return ENOTSUP;
	s = aligned_alloc(CACHELINE, sizeof(*s));
	if (!s)
		return ENOMEM;
	memset(s, 0, sizeof(*s));
	s->id = atomic_fetch_add(&next_id, 1);
	pthread_mutex_init(&s->lock, NULL);
	*out = (struct drain *)s;
	return 0;
}

static void sharded_destroy(struct drain *d)
{
	struct sharded_drain *s = to_sd(d);

	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* This thread's shard (first use: find or claim one, under the lock). */
static struct shard *claim(struct sharded_drain *s)
{
	pid_t me = (pid_t)syscall(SYS_gettid);
	struct shard *sh = NULL;
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = atomic_load_explicit(&s->nshards, memory_order_relaxed);
	/* A tid is reused only after its thread is gone: its shard is ours. */
	for (unsigned i = 0; i < n && !sh; i++)
		if (atomic_load_explicit(&s->shard[i].owner, memory_order_relaxed) == me)
			sh = &s->shard[i];
	if (!sh && n < SHARDS) {
		sh = &s->shard[n];
		atomic_store_explicit(&sh->owner, me, memory_order_relaxed);
		atomic_store_explicit(&s->nshards, n + 1, memory_order_release);
	}
	if (!sh)
		sh = &s->overflow;
	pthread_mutex_unlock(&s->lock);
	cache[s->id % CACHE].id = s->id;
	cache[s->id % CACHE].s = sh;
	return sh;
}

static inline struct shard *mine(struct sharded_drain *s)
{
	unsigned k = s->id % CACHE;

	if (likely(cache[k].id == s->id))
		return cache[k].s;
	return claim(s);
}

/*
 * After close: one unit leaves the central count; the last one wakes.
 * Before the closer adds the shards' sum, central is 0 or below, so only
 * a leave after that add can take it from 1 to 0.
 */
static void leave_closed(struct sharded_drain *s)
{
	if (atomic_fetch_sub(&s->central, 1) == 1)
		drain_waitq_wake(&s->q);
}

/* The overflow shard: shared, so every step is an RMW. */
static int shared_op(struct sharded_drain *s, long delta)
{
	struct shard *o = &s->overflow;
	int rc = 0;

	atomic_fetch_add(&o->busy, 1);
	if (atomic_load(&s->closed))
		rc = EPIPE;
	else
		atomic_fetch_add(&o->count, delta);
	atomic_fetch_sub_explicit(&o->busy, 1, memory_order_release);
	return rc;
}

/*
 * The fast path: busy = 1, then the closed check, with only a compiler
 * barrier between them: the closer's membarrier supplies the hardware one
 * (see the top).  Returns false when closed: nothing counted.
 */
static inline bool owned_op(struct sharded_drain *s, struct shard *sh, long delta)
{
	bool open;

	atomic_store_explicit(&sh->busy, 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	open = !atomic_load_explicit(&s->closed, memory_order_relaxed);
	if (likely(open))
		atomic_store_explicit(&sh->count,
			atomic_load_explicit(&sh->count, memory_order_relaxed) + delta,
			memory_order_relaxed);
	atomic_store_explicit(&sh->busy, 0, memory_order_release);
	return open;
}

static int sharded_enter(struct drain *d)
{
	struct sharded_drain *s = to_sd(d);
	struct shard *sh = mine(s);

	if (unlikely(sh == &s->overflow))
		return shared_op(s, 1);
	return owned_op(s, sh, 1) ? 0 : EPIPE;
}

static void sharded_leave(struct drain *d)
{
	struct sharded_drain *s = to_sd(d);
	struct shard *sh = mine(s);

	if (unlikely(sh == &s->overflow)) {
		if (shared_op(s, -1))
			leave_closed(s);
		return;
	}
	if (unlikely(!owned_op(s, sh, -1)))
		leave_closed(s);
}

/* Close once: stop the fast paths, then fold the shards into central. */
static void close_once(struct sharded_drain *s)
{
	long sum = 0;
	unsigned n;

	pthread_mutex_lock(&s->lock);
	if (atomic_load(&s->summed)) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	atomic_store(&s->closed, 1);
	syscall(SYS_membarrier, barrier_cmd, 0, 0);
	chaos_point();
	n = atomic_load(&s->nshards);	/* no shard is claimed after this: */
	for (unsigned i = 0; i <= n; i++) {	/* claims need the lock we hold */
		struct shard *sh = i < n ? &s->shard[i] : &s->overflow;

		/* An owner preempted inside its fast path holds us up until
		 * it runs again; yield rather than burn its CPU. */
		while (atomic_load_explicit(&sh->busy, memory_order_acquire))
			sched_yield();
		sum += atomic_load_explicit(&sh->count, memory_order_relaxed);
	}
	/* The leaves since the close have already taken their part off.
	 * Every waiter passes through here (and this lock) before it
	 * sleeps, so none can be asleep yet: nothing to wake. */
	atomic_fetch_add(&s->central, sum);
	atomic_store(&s->summed, 1);
	pthread_mutex_unlock(&s->lock);
}

static unsigned long left_of(struct drain *d)
{
	long v = atomic_load(&to_sd(d)->central);

	return v > 0 ? (unsigned long)v : 0;
}

static unsigned long sharded_close_and_wait(struct drain *d, const struct ctx *ctx)
{
	close_once(to_sd(d));
	return drain_waitq_wait(&to_sd(d)->q, ctx, left_of, d);
}

static unsigned long sharded_inflight(struct drain *d)
{
	struct sharded_drain *s = to_sd(d);
	long sum = 0;
	unsigned n;

	if (atomic_load(&s->summed))
		return left_of(d);
	/* Open: a racy sum of the shards (one may be mid-update, and a unit
	 * entered on one thread and left on another may be seen half). */
	n = atomic_load_explicit(&s->nshards, memory_order_acquire);
	for (unsigned i = 0; i < n; i++)
		sum += atomic_load_explicit(&s->shard[i].count, memory_order_relaxed);
	sum += atomic_load(&s->overflow.count);
	return sum > 0 ? (unsigned long)sum : 0;
}

const struct drain_ops drain_sharded_ops = {
	.info = {
		.name = "sharded",
		.desc = "per-thread counters, no atomic RMW while open; close folds them into one count after a membarrier (percpu_ref's idea)",
	},
	.create = sharded_create,
	.destroy = sharded_destroy,
	.enter = sharded_enter,
	.leave = sharded_leave,
	.close_and_wait = sharded_close_and_wait,
	.inflight = sharded_inflight,
};
