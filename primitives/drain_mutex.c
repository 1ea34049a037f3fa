/* SPDX-License-Identifier: MIT */
/*
 * drain/mutex: a count and a closed flag under one mutex, and a condvar
 * that close_and_wait sleeps on.  The leave() that takes a closed drain to
 * zero broadcasts; a leave() on an open drain, or one that leaves others
 * in flight, signals nobody.  This is the textbook shape every other
 * implementation is measured against: two lock round trips per request.
 *
 * A waiter with a cancellable context registers a hook that takes the lock
 * and broadcasts, so cancellation wakes it at once; a plain deadline is a
 * timed wait on CLOCK_MONOTONIC.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "chaos.h"
#include "drain.h"

struct mutex_drain {
	pthread_mutex_t lock;
	pthread_cond_t empty;	/* broadcast when a closed drain empties */
	unsigned long inflight;
	unsigned waiters;	/* in close_and_wait, asleep or about to be */
	bool closed;
};

#define to_md(d) ((struct mutex_drain *)(d))

static int mutex_create(struct drain **out)
{
	struct mutex_drain *m = calloc(1, sizeof(*m));
	pthread_condattr_t attr;

	if (!m)
		return ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&m->empty, &attr);
	pthread_condattr_destroy(&attr);
	*out = (struct drain *)m;
	return 0;
}

static void mutex_destroy(struct drain *d)
{
	struct mutex_drain *m = to_md(d);

	pthread_cond_destroy(&m->empty);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int mutex_enter(struct drain *d)
{
	struct mutex_drain *m = to_md(d);
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	if (m->closed)
		rc = EPIPE;
	else
		m->inflight++;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static void mutex_leave(struct drain *d)
{
	struct mutex_drain *m = to_md(d);

	pthread_mutex_lock(&m->lock);
	if (!--m->inflight && m->closed && m->waiters)
		pthread_cond_broadcast(&m->empty);
	pthread_mutex_unlock(&m->lock);
}

/* A waiter's context was cancelled: wake every waiter to re-check. */
static void waiter_cancelled(struct ctx_hook *h, struct ctx *c)
{
	struct mutex_drain *m = h->arg;

	(void)c;
	pthread_mutex_lock(&m->lock);
	pthread_cond_broadcast(&m->empty);
	pthread_mutex_unlock(&m->lock);
}

static unsigned long mutex_close_and_wait(struct drain *d, const struct ctx *cctx)
{
	struct mutex_drain *m = to_md(d);
	struct ctx *ctx = (struct ctx *)cctx;
	uint64_t deadline = ctx_deadline(ctx);
	struct ctx_hook hook = { .fn = waiter_cancelled, .arg = m };
	bool hooked = false;
	struct timespec ts = {
		.tv_sec = (time_t)(deadline / 1000000000u),
		.tv_nsec = (long)(deadline % 1000000000u),
	};
	unsigned long left;

	pthread_mutex_lock(&m->lock);
	m->closed = true;
	if (!m->inflight || ctx_err(ctx)) {
		left = m->inflight;
		pthread_mutex_unlock(&m->lock);
		return left;
	}
	m->waiters++;
	pthread_mutex_unlock(&m->lock);

	/* Registered outside the lock: the hook takes it (and runs at once
	 * if the context is already cancelled). */
	if (ctx_cancellable(ctx))
		hooked = !ctx->ops->after_func(ctx, &hook);
	chaos_point();

	pthread_mutex_lock(&m->lock);
	while (m->inflight && !ctx_err(ctx)) {
		if (!deadline)
			pthread_cond_wait(&m->empty, &m->lock);
		else if (pthread_cond_timedwait(&m->empty, &m->lock, &ts) == ETIMEDOUT)
			break;
	}
	m->waiters--;
	left = m->inflight;
	pthread_mutex_unlock(&m->lock);
	/* Outside the lock: stop() may wait for a hook that needs it. */
	if (hooked)
		ctx->ops->stop(ctx, &hook);
	return left;
}

static unsigned long mutex_inflight(struct drain *d)
{
	struct mutex_drain *m = to_md(d);
	unsigned long n;

	pthread_mutex_lock(&m->lock);
	n = m->inflight;
	pthread_mutex_unlock(&m->lock);
	return n;
}

const struct drain_ops drain_mutex_ops = {
	.info = {
		.name = "mutex",
		.desc = "count and closed flag under a pthread mutex, condvar broadcast on empty",
	},
	.create = mutex_create,
	.destroy = mutex_destroy,
	.enter = mutex_enter,
	.leave = mutex_leave,
	.close_and_wait = mutex_close_and_wait,
	.inflight = mutex_inflight,
};
