/* SPDX-License-Identifier: MIT */
/*
 * sema/futex: a count word, and a sequence word that sleepers wait on.
 *
 * State:
 *   avail   permits free now
 *   seq     bumped by whoever may have let a sleeper proceed (a release
 *           while someone sleeps, or the cancellation of a sleeper's
 *           context); sleepers FUTEX_WAIT on it
 *   waiters acquirers that are parked or about to park
 *   heavy   how many of those want more than one permit
 *
 * acquire: CAS avail down by n if it fits; otherwise spin SPIN_LIMIT times
 * re-checking (a holder is often about to release), then announce itself
 * in `waiters`, read seq, re-check avail and its context, and sleep while
 * seq still holds what it read.  release: add n to avail and, only if
 * someone announced itself, bump seq and wake.  Every one of these is
 * seq_cst: a releaser that misses the announcement added its permits
 * before the waiter re-checked them; one that sees it bumps seq after the
 * add, so the waiter either reads the new seq (and the new count) or finds
 * its futex word changed and is not put to sleep.  No lost wake-up.
 * Sleeping on seq rather than on avail is what lets a cancellation wake a
 * sleeper without touching the count: the waiter's context hook bumps seq
 * and wakes everyone, and each re-checks.
 *
 * Wake policy: n permits wake n sleepers when all sleepers want one permit;
 * if any wants more, everyone is woken, because waking one heavy waiter
 * that still does not fit would strand a light one that does.  A waiter
 * that gives up (deadline, cancellation) passes on any wake it may have
 * consumed.  The uncontended path is one CAS to acquire and one fetch_add
 * plus one load to release, as before.
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
	_Atomic uint32_t seq;
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
	atomic_init(&f->seq, 0);
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

	atomic_fetch_add(&f->seq, 1);
	futex_wake(&f->seq, many);
}

/* The waiter's context was cancelled: wake every sleeper to re-check. */
static void waiter_cancelled(struct ctx_hook *h, struct ctx *c)
{
	struct futex_sema *f = h->arg;

	(void)c;
	atomic_fetch_add(&f->seq, 1);
	futex_wake(&f->seq, INT_MAX);
}

/* Leaving without permits: pass on a wake we may have consumed. */
static void pass_on(struct futex_sema *f)
{
	uint32_t v = atomic_load(&f->avail);

	if (v && atomic_load(&f->waiters))
		wake(f, v);
}

static int futex_acquire(struct sema *s, unsigned n, const struct ctx *cctx)
{
	struct futex_sema *f = to_fs(s);
	struct ctx *ctx = (struct ctx *)cctx;
	uint64_t deadline = ctx_deadline(ctx);
	struct ctx_hook hook;	/* initialised only on the slow path */
	bool hooked = false;
	int rc;

	if (n == 0 || n > f->cap)
		return EINVAL;
	/* Already cancelled: fail without taking anything. */
	if ((rc = ctx_err(ctx)))
		return rc;
	if (take(f, n))
		return 0;
	for (int spin = SPIN_LIMIT; spin; spin--) {
		cpu_relax();
		if (atomic_load_explicit(&f->avail, memory_order_relaxed) >= n &&
		    take(f, n))
			return 0;
	}
	if (ctx_cancellable(ctx)) {
		hook = (struct ctx_hook){ .fn = waiter_cancelled, .arg = f };
		hooked = !ctx->ops->after_func(ctx, &hook);
	}
	for (;;) {
		uint32_t seq;
		bool got;

		atomic_fetch_add(&f->waiters, 1);
		if (n > 1)
			atomic_fetch_add(&f->heavy, 1);
		seq = atomic_load(&f->seq);
		got = take(f, n);
		rc = got ? 0 : ctx_err(ctx);
		if (!got && !rc) {
			chaos_point();
			rc = futex_wait(&f->seq, seq, deadline);
			if (rc != ETIMEDOUT)
				rc = 0;
		}
		if (n > 1)
			atomic_fetch_sub(&f->heavy, 1);
		atomic_fetch_sub(&f->waiters, 1);
		if (got) {
			rc = 0;
			break;
		}
		/* Cancelled: leave without taking, even if permits are free. */
		if (ctx_err(ctx)) {
			rc = ctx_err(ctx);
			pass_on(f);
			break;
		}
		if (take(f, n)) {
			rc = 0;
			break;
		}
		if (rc == ETIMEDOUT || (deadline && mono_ns() >= deadline)) {
			rc = ETIMEDOUT;
			pass_on(f);
			break;
		}
	}
	if (hooked)
		ctx->ops->stop(ctx, &hook);
	return rc;
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
