/* SPDX-License-Identifier: MIT */
/*
 * sema/busted: a deliberately broken semaphore, the negative control that
 * proves `contend stress sema` can catch over-admission.  Registered with
 * IMPL_TEST_ONLY: never part of `all`, never benchmarked.
 *
 * The bug is the classic check-then-act: it loads the count, checks that n
 * fit, and then stores count - n instead of compare-and-swapping.  Two
 * acquirers that load the same value both succeed.  A short pause between
 * the check and the store (a stand-in for a preemption or cache miss)
 * widens the window so the stress test catches it on every run rather
 * than eventually.  Everything is atomic, so ThreadSanitizer stays quiet:
 * the bug is in the protocol, which is what the checker must find.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "chaos.h"
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
	uint32_t v = atomic_load(&b->avail);

	if (v < n)
		return false;
	for (int i = 0; i < WINDOW_PAUSES; i++)
		cpu_relax();
	atomic_store(&b->avail, v - n);	/* BUG: should be a CAS from v */
	return true;
}

static int busted_acquire(struct sema *s, unsigned n, const struct ctx *ctx)
{
	struct busted_sema *b = to_bs(s);

	(void)ctx;
	if (n == 0 || n > b->cap)
		return EINVAL;
	while (!take_racy(b, n)) {
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
	return atomic_load(&to_bs(s)->avail);
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
