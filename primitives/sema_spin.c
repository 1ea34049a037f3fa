/* SPDX-License-Identifier: MIT */
/*
 * sema/spin: one atomic word, no kernel object at all.
 *
 * State: `avail`, the permits free now.  acquire CASes it down by n;
 * release is a single fetch_add with no waiter bookkeeping and never a
 * system call, which makes the uncontended path the cheapest there is.
 *
 * The price is paid by waiters, who cannot be woken because nothing records
 * them: they spin with exponential back-off up to SPIN_LIMIT pauses, then
 * sched_yield() YIELD_LIMIT times, then sleep in doubling steps from 1 us up
 * to SLEEP_MAX_NS, re-checking the word each time (a poll).  Wake-up latency
 * is therefore bounded by SLEEP_MAX_NS rather than by the releaser, and the
 * latency charts show it.
 *
 * A cancelled context is noticed the same way, at the next poll (within
 * SLEEP_MAX_NS), not by a wake-up: this is the one polling implementation,
 * kept to show what polling costs.
 *
 * Fairness: none; whoever polls at the right moment wins (barging).
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "chaos.h"
#include "clock.h"
#include "sema.h"

#define SPIN_LIMIT 1024
#define YIELD_LIMIT 16
#define SLEEP_MAX_NS 200000

struct spin_sema {
	_Atomic uint32_t avail;
	unsigned cap;
};

#define to_ss(s) ((struct spin_sema *)(s))

static int spin_create(struct sema **out, unsigned permits)
{
	struct spin_sema *p = aligned_alloc(CACHELINE, CACHELINE);

	if (!p)
		return ENOMEM;
	atomic_init(&p->avail, permits);
	p->cap = permits;
	*out = (struct sema *)p;
	return 0;
}

static void spin_destroy(struct sema *s)
{
	free(s);
}

static bool take(struct spin_sema *p, unsigned n)
{
	uint32_t v = atomic_load_explicit(&p->avail, memory_order_relaxed);

	/* Acquire pairs with the release fetch_add in spin_release. */
	while (v >= n)
		if (atomic_compare_exchange_weak_explicit(&p->avail, &v, v - n,
				memory_order_acquire, memory_order_relaxed))
			return true;
	return false;
}

static bool fits(struct spin_sema *p, unsigned n)
{
	return atomic_load_explicit(&p->avail, memory_order_relaxed) >= n;
}

static int spin_acquire(struct sema *s, unsigned n, const struct ctx *ctx)
{
	struct spin_sema *p = to_ss(s);
	uint64_t deadline = ctx_deadline(ctx);
	unsigned backoff = 1, spent = 0, yields = 0;
	long sleep_ns = 1000;

	int err;

	if (n == 0 || n > p->cap)
		return EINVAL;
	for (;;) {
		/* Cancellation is polled like the count: nothing can wake us. */
		if ((err = ctx_err(ctx)))
			return err;
		if (take(p, n))
			return 0;
		if (spent < SPIN_LIMIT) {
			for (unsigned i = 0; i < backoff && !fits(p, n); i++)
				cpu_relax();
			spent += backoff;
			backoff *= 2;
			continue;
		}
		if (deadline && mono_ns() >= deadline)
			return ETIMEDOUT;
		chaos_point();
		if (yields < YIELD_LIMIT) {
			yields++;
			sched_yield();
			continue;
		}
		if (deadline) {
			uint64_t left = deadline - mono_ns();

			if ((int64_t)left <= 0)
				return ETIMEDOUT;
			if ((uint64_t)sleep_ns > left)
				sleep_ns = (long)left;
		}
		nanosleep(&(struct timespec){ 0, sleep_ns }, NULL);
		if (sleep_ns < SLEEP_MAX_NS)
			sleep_ns *= 2;
	}
}

static int spin_try_acquire(struct sema *s, unsigned n)
{
	struct spin_sema *p = to_ss(s);

	if (n == 0 || n > p->cap)
		return EINVAL;
	return take(p, n) ? 0 : EAGAIN;
}

static void spin_release(struct sema *s, unsigned n)
{
	atomic_fetch_add_explicit(&to_ss(s)->avail, n, memory_order_release);
}

static unsigned spin_available(struct sema *s)
{
	return atomic_load(&to_ss(s)->avail);
}

const struct sema_ops sema_spin_ops = {
	.info = {
		.name = "spin",
		.desc = "one atomic word, CAS; waiters spin, yield, then poll with sleeps; barging",
	},
	.create = spin_create,
	.destroy = spin_destroy,
	.acquire = spin_acquire,
	.try_acquire = spin_try_acquire,
	.release = spin_release,
	.available = spin_available,
};
