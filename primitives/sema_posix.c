/* SPDX-License-Identifier: MIT */
/*
 * sema/posix: glibc's sem_t, the baseline everyone already has.
 *
 * glibc keeps the value and a waiter count in one 64-bit word and parks on
 * a futex; sem_post wakes one sleeper only when the count says there are
 * any.  It is not FIFO: a running caller barges past sleepers.
 *
 * sem_t has no weighted operations.  Acquiring n permits one at a time is
 * not atomic (two such callers can each hold half of what they need and
 * deadlock), so n > 1 is refused with ENOTSUP instead of faked.
 * Deadlines use sem_clockwait on CLOCK_MONOTONIC (glibc 2.30 and later).
 * Cancellation cannot be had: a thread in sem_wait wakes only for a
 * sem_post, which would create a permit, so a cancellable context is
 * refused with ENOTSUP (no_cancel) rather than polled.
 */
#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <time.h>

#include "sema.h"

struct posix_sema {
	sem_t sem;
	unsigned cap;
};

#define to_ps(s) ((struct posix_sema *)(s))

static int posix_create(struct sema **out, unsigned permits)
{
	struct posix_sema *p = malloc(sizeof(*p));

	if (!p)
		return ENOMEM;
	if (sem_init(&p->sem, 0, permits)) {
		int err = errno;

		free(p);
		return err;
	}
	p->cap = permits;
	*out = (struct sema *)p;
	return 0;
}

static void posix_destroy(struct sema *s)
{
	sem_destroy(&to_ps(s)->sem);
	free(s);
}

static int check_n(struct posix_sema *p, unsigned n)
{
	if (n == 0 || n > p->cap)
		return EINVAL;
	return n == 1 ? 0 : ENOTSUP;
}

static int posix_acquire(struct sema *s, unsigned n, const struct ctx *ctx)
{
	struct posix_sema *p = to_ps(s);
	uint64_t deadline = ctx_deadline(ctx);
	struct timespec ts;
	int rc = check_n(p, n);

	if (rc)
		return rc;
	if ((rc = ctx_err(ctx)))
		return rc;
	if (ctx_cancellable(ctx))
		return ENOTSUP;
	if (!deadline) {
		while (sem_wait(&p->sem))
			if (errno != EINTR)
				return errno;
		return 0;
	}
	ts.tv_sec = (time_t)(deadline / 1000000000u);
	ts.tv_nsec = (long)(deadline % 1000000000u);
	while (sem_clockwait(&p->sem, CLOCK_MONOTONIC, &ts))
		if (errno != EINTR)
			return errno;
	return 0;
}

static int posix_try_acquire(struct sema *s, unsigned n)
{
	struct posix_sema *p = to_ps(s);
	int rc = check_n(p, n);

	if (rc)
		return rc;
	while (sem_trywait(&p->sem))
		if (errno != EINTR)
			return EAGAIN;
	return 0;
}

/* Giving back n permits taken one at a time is fine: post n times. */
static void posix_release(struct sema *s, unsigned n)
{
	while (n--)
		sem_post(&to_ps(s)->sem);
}

static unsigned posix_available(struct sema *s)
{
	int v = 0;

	sem_getvalue(&to_ps(s)->sem, &v);
	return v < 0 ? 0 : (unsigned)v;
}

const struct sema_ops sema_posix_ops = {
	.info = {
		.name = "posix",
		.desc = "glibc sem_t (baseline); barging; unweighted only",
	},
	.no_weighted = "sem_t has no weighted acquire; n acquires of 1 are not atomic",
	.no_cancel = "a thread in sem_wait wakes only for sem_post, which would add a permit",
	.create = posix_create,
	.destroy = posix_destroy,
	.acquire = posix_acquire,
	.try_acquire = posix_try_acquire,
	.release = posix_release,
	.available = posix_available,
};
