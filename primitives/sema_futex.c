/* SPDX-License-Identifier: MIT */
/*
 * sema/futex: the permit count is itself the futex word.
 *
 * State:
 *   avail   permits free now (the futex word; acquirers sleep on it)
 *   waiters acquirers that are parked or about to park
 *   heavy   how many of those want more than one permit
 *
 * acquire: CAS avail down by n if it fits; otherwise spin SPIN_LIMIT times
 * re-checking (a holder is often about to release), then announce itself in
 * `waiters` and sleep while avail still reads the value it saw.
 * release: add n to avail, then wake only if someone announced itself.  The
 * waiter's announce-then-load and the releaser's add-then-load are seq_cst,
 * so either the releaser sees the waiter or the waiter sees the new count
 * and the kernel's value check refuses to put it to sleep: no lost wake-up.
 *
 * Wake policy: n permits wake n sleepers when all sleepers want one permit;
 * if any wants more, everyone is woken, because waking one heavy waiter
 * that still does not fit would strand a light one that does.  A waiter
 * that gives up at its deadline passes on any wake it may have consumed.
 *
 * Fairness: none.  Callers barge: a running thread that finds permits free
 * takes them even while others sleep, which is fast and can starve.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "chaos.h"
#include "clock.h"
#include "futex.h"
#include "sema.h"

#define SPIN_LIMIT 100

struct futex_sema {
	_Atomic uint32_t avail;
	_Atomic uint32_t waiters;
	_Atomic uint32_t heavy;
	unsigned cap;
};

#define to_fs(s) ((struct futex_sema *)(s))

static int futex_create(struct sema **out, unsigned permits)
{
	struct futex_sema *f = aligned_alloc(CACHELINE, CACHELINE);

	if (!f)
		return ENOMEM;
	atomic_init(&f->avail, permits);
	atomic_init(&f->waiters, 0);
	atomic_init(&f->heavy, 0);
	f->cap = permits;
	*out = (struct sema *)f;
	return 0;
}

static void futex_destroy(struct sema *s)
{
	free(s);
}

static bool take(struct futex_sema *f, unsigned n)
{
	uint32_t v = atomic_load_explicit(&f->avail, memory_order_relaxed);

	/* Acquire pairs with the release in futex_release's fetch_add. */
	while (v >= n)
		if (atomic_compare_exchange_weak_explicit(&f->avail, &v, v - n,
				memory_order_acquire, memory_order_relaxed))
			return true;
	return false;
}

static void wake(struct futex_sema *f, uint32_t n)
{
	int many = atomic_load(&f->heavy) ? INT_MAX : (int)(n > INT_MAX ? INT_MAX : n);

	futex_wake(&f->avail, many);
}

static int futex_acquire(struct sema *s, unsigned n, const struct ctx *ctx)
{
	struct futex_sema *f = to_fs(s);
	uint64_t deadline = ctx_deadline(ctx);
	int rc;

	if (n == 0 || n > f->cap)
		return EINVAL;
	if (take(f, n))
		return 0;
	for (int spin = SPIN_LIMIT; spin; spin--) {
		cpu_relax();
		if (atomic_load_explicit(&f->avail, memory_order_relaxed) >= n &&
		    take(f, n))
			return 0;
	}
	for (;;) {
		uint32_t v;

		atomic_fetch_add(&f->waiters, 1);
		if (n > 1)
			atomic_fetch_add(&f->heavy, 1);
		v = atomic_load(&f->avail);
		rc = 0;
		if (v < n) {
			chaos_point();
			rc = futex_wait(&f->avail, v, deadline);
		}
		if (n > 1)
			atomic_fetch_sub(&f->heavy, 1);
		atomic_fetch_sub(&f->waiters, 1);
		if (take(f, n))
			return 0;
		if (rc == ETIMEDOUT || (deadline && mono_ns() >= deadline)) {
			/* We may have eaten a wake meant for someone. */
			v = atomic_load(&f->avail);
			if (v && atomic_load(&f->waiters))
				wake(f, v);
			return ETIMEDOUT;
		}
	}
}

static int futex_try_acquire(struct sema *s, unsigned n)
{
	struct futex_sema *f = to_fs(s);

	if (n == 0 || n > f->cap)
		return EINVAL;
	return take(f, n) ? 0 : EAGAIN;
}

static void futex_release(struct sema *s, unsigned n)
{
	struct futex_sema *f = to_fs(s);

	/* seq_cst: orders the add before the waiters load (see the top). */
	atomic_fetch_add(&f->avail, n);
	if (atomic_load(&f->waiters))
		wake(f, n);
}

static unsigned futex_available(struct sema *s)
{
	return atomic_load(&to_fs(s)->avail);
}

const struct sema_ops sema_futex_ops = {
	.info = {
		.name = "futex",
		.desc = "count is the futex word; spin then park, wake on demand; barging",
	},
	.create = futex_create,
	.destroy = futex_destroy,
	.acquire = futex_acquire,
	.try_acquire = futex_try_acquire,
	.release = futex_release,
	.available = futex_available,
};
