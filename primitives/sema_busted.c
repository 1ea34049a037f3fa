/* SPDX-License-Identifier: MIT */
/*
 * sema/busted: a deliberately broken semaphore, the negative control that
 * proves `contend stress sema` can catch over-admission.  Registered with
 * IMPL_TEST_ONLY: never part of `all`, never benchmarked.
 *
 * The bug is the classic check-then-act: it loads the count, checks that n
 * fit, and then subtracts n without re-checking (instead of one
 * compare-and-swap from the value it checked).  Two acquirers that both
 * see n free both succeed.  A short pause between the check and the
 * subtraction (a stand-in for a preemption or cache miss) widens the
 * window so the stress test catches it on every run rather than
 * eventually.  The subtraction is a fetch_sub, so no release is ever lost:
 * the one failure is over-admission, which is what the checker must find
 * (a plain store of count - n would also lose releases and end in a hang,
 * which the watchdog catches but which proves less).  Everything is
 * atomic, so ThreadSanitizer stays quiet: the bug is in the protocol.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "chaos.h"
#include "clock.h"
#include "sema.h"

#define WINDOW_PAUSES 64

struct busted_sema {
	_Atomic uint32_t avail;
	unsigned cap;
};

#define to_bs(s) ((struct busted_sema *)(s))

static int busted_create(struct sema **out, unsigned permits)
{
	struct busted_sema *b = aligned_alloc(CACHELINE, CACHELINE);

	if (!b)
		return ENOMEM;
	atomic_init(&b->avail, permits);
	b->cap = permits;
	*out = (struct sema *)b;
	return 0;
}

static void busted_destroy(struct sema *s)
{
	free(s);
}

static bool take_racy(struct busted_sema *b, unsigned n)
{
	int32_t v = (int32_t)atomic_load(&b->avail);

	if (v < (int32_t)n)
		return false;
	for (int i = 0; i < WINDOW_PAUSES; i++)
		cpu_relax();
	atomic_fetch_sub(&b->avail, n);	/* BUG: should be a CAS from v */
	return true;
}

static int busted_acquire(struct sema *s, unsigned n, const struct ctx *ctx)
{
	struct busted_sema *b = to_bs(s);

	uint64_t deadline = ctx_deadline(ctx);

	if (n == 0 || n > b->cap)
		return EINVAL;
	while (!take_racy(b, n)) {
		if (ctx_err(ctx))
			return ctx_err(ctx);
		if (deadline && mono_ns() >= deadline)
			return ETIMEDOUT;
		chaos_point();
		sched_yield();
	}
	return 0;
}

static int busted_try_acquire(struct sema *s, unsigned n)
{
	struct busted_sema *b = to_bs(s);

	if (n == 0 || n > b->cap)
		return EINVAL;
	return take_racy(b, n) ? 0 : EAGAIN;
}

static void busted_release(struct sema *s, unsigned n)
{
	atomic_fetch_add(&to_bs(s)->avail, n);
}

static unsigned busted_available(struct sema *s)
{
	int32_t v = (int32_t)atomic_load(&to_bs(s)->avail);

	return v < 0 ? 0 : (unsigned)v;
}

const struct sema_ops sema_busted_ops = {
	.info = {
		.name = "busted",
		.desc = "check-then-act race: over-admits under contention (negative control)",
		.flags = IMPL_TEST_ONLY,
	},
	.create = busted_create,
	.destroy = busted_destroy,
	.acquire = busted_acquire,
	.try_acquire = busted_try_acquire,
	.release = busted_release,
	.available = busted_available,
};
