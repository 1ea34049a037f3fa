/* SPDX-License-Identifier: MIT */
/*
 * sema/mutex: a pthread mutex, a permit count and a FIFO queue of waiters,
 * each sleeping on its own condition variable (the shape of Go's
 * semaphore.Weighted).
 *
 * Fairness: strictly FIFO.  An acquirer takes permits directly only when the
 * queue is empty; otherwise it queues.  release() hands permits to waiters
 * from the head for as long as the head's weight fits (direct hand-off: the
 * permits are granted under the lock before the waiter runs, so no later
 * caller can barge in between).  A big request at the head blocks smaller
 * ones behind it, exactly as Weighted does; when the head leaves (deadline),
 * the waiters behind it are re-examined so none is left asleep with permits
 * free.
 *
 * Waiting: a queued waiter first spins on its own `granted` flag outside
 * the lock for up to SPIN_LIMIT pauses (the releaser grants under the lock
 * and the flag is published with a release store), and only then takes
 * the lock and sleeps on its condition variable.  A hand-off between two
 * running threads therefore costs a cache-line transfer, not a sleep and a
 * wake-up; strict FIFO order is unaffected because the grant, not the
 * waiter, decides who goes next.
 *
 * Cancellation: a waiter with a cancellable context registers a hook that
 * signals its condition variable, so a cancel wakes it at once (no
 * polling).  Whatever the waiter finds under the lock decides: cancelled
 * wins over granted, and a permit granted just as the waiter was cancelled
 * is given back (and passed on), as Go's Weighted does.  A waiter that
 * leaves from the head of the queue, by cancellation or deadline, lets the
 * waiters behind it go if they now fit.  A plain deadline that passes with
 * the permit already granted is not a cancellation: the grant came first.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "chaos.h"
#include "sema.h"

#define SPIN_LIMIT 1000

struct mutex_sema;

struct waiter {
	struct waiter *next;
	unsigned n;
	atomic_bool granted;	/* set under the lock; read outside it */
	pthread_cond_t cond;
	struct mutex_sema *m;
	struct ctx_hook hook;	/* wakes us on cancellation */
};

struct mutex_sema {
	pthread_mutex_t lock;
	unsigned avail;
	unsigned cap;
	struct waiter *head, *tail;
};

#define to_ms(s) ((struct mutex_sema *)(s))

static int mutex_create(struct sema **out, unsigned permits)
{
	struct mutex_sema *m = calloc(1, sizeof(*m));

	if (!m)
		return ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->avail = m->cap = permits;
	*out = (struct sema *)m;
	return 0;
}

static void mutex_destroy(struct sema *s)
{
	pthread_mutex_destroy(&to_ms(s)->lock);
	free(s);
}

/* Grant permits to waiters from the head while they fit.  Lock held. */
static void grant_waiters(struct mutex_sema *m)
{
	struct waiter *w;

	while ((w = m->head) && w->n <= m->avail) {
		m->avail -= w->n;
		m->head = w->next;
		if (!m->head)
			m->tail = NULL;
		/* Release: pairs with the spinning waiter's acquire load. */
		atomic_store_explicit(&w->granted, true, memory_order_release);
		pthread_cond_signal(&w->cond);
	}
}

static void unlink_waiter(struct mutex_sema *m, struct waiter *w)
{
	struct waiter **pp, *prev = NULL;

	for (pp = &m->head; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			if (m->tail == w)
				m->tail = prev;
			return;
		}
	}
}

/* The waiter's cancellation hook: wake it so it sees ctx_err(). */
static void waiter_cancelled(struct ctx_hook *h, struct ctx *c)
{
	struct waiter *w = h->arg;

	(void)c;
	pthread_mutex_lock(&w->m->lock);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->m->lock);
}

/* Leave the queue (lock held); the head leaving may let the ones behind go. */
static void leave_queue(struct mutex_sema *m, struct waiter *w)
{
	bool was_head = m->head == w;

	unlink_waiter(m, w);
	if (was_head)
		grant_waiters(m);
}

static int mutex_acquire(struct sema *s, unsigned n, const struct ctx *cctx)
{
	struct mutex_sema *m = to_ms(s);
	struct ctx *ctx = (struct ctx *)cctx;
	uint64_t deadline = ctx_deadline(ctx);
	pthread_condattr_t attr;
	struct waiter w;	/* initialised only on the slow path */
	struct timespec ts;
	int rc = 0;

	if (n == 0 || n > m->cap)
		return EINVAL;
	/* Already cancelled: fail without taking anything. */
	if ((rc = ctx_err(ctx)))
		return rc;
	pthread_mutex_lock(&m->lock);
	if (!m->head && m->avail >= n) {
		m->avail -= n;
		pthread_mutex_unlock(&m->lock);
		return 0;
	}

	w = (struct waiter){ .n = n, .m = m };
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cond, &attr);
	pthread_condattr_destroy(&attr);
	ts.tv_sec = (time_t)(deadline / 1000000000u);
	ts.tv_nsec = (long)(deadline % 1000000000u);

	if (m->tail)
		m->tail->next = &w;
	else
		m->head = &w;
	m->tail = &w;
	pthread_mutex_unlock(&m->lock);

	/* Registered outside the sema lock: a hook takes it to wake us. */
	if (ctx_cancellable(ctx)) {
		w.hook.fn = waiter_cancelled;
		w.hook.arg = &w;
		ctx->ops->after_func(ctx, &w.hook);
	}
	for (int spin = SPIN_LIMIT; spin; spin--) {
		if (atomic_load_explicit(&w.granted, memory_order_acquire) || ctx_err(ctx))
			break;
		cpu_relax();
	}
	chaos_point();
	pthread_mutex_lock(&m->lock);
	for (;;) {
		int err = ctx_err(ctx);

		if (err) {
			/* Cancelled: a permit granted meanwhile goes back. */
			if (w.granted) {
				m->avail += n;
				grant_waiters(m);
			} else {
				leave_queue(m, &w);
			}
			rc = err;
			break;
		}
		if (w.granted) {
			rc = 0;
			break;
		}
		if (!deadline) {
			pthread_cond_wait(&w.cond, &m->lock);
		} else if (pthread_cond_timedwait(&w.cond, &m->lock, &ts) == ETIMEDOUT &&
			   !w.granted && !ctx_err(ctx)) {
			leave_queue(m, &w);
			rc = ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	/* Outside the lock: stop() may wait for a hook that needs it. */
	if (ctx_cancellable(ctx))
		ctx->ops->stop(ctx, &w.hook);
	chaos_point();
	pthread_cond_destroy(&w.cond);
	return rc;
}

static int mutex_try_acquire(struct sema *s, unsigned n)
{
	struct mutex_sema *m = to_ms(s);
	int rc = EAGAIN;

	if (n == 0 || n > m->cap)
		return EINVAL;
	pthread_mutex_lock(&m->lock);
	if (!m->head && m->avail >= n) {
		m->avail -= n;
		rc = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static void mutex_release(struct sema *s, unsigned n)
{
	struct mutex_sema *m = to_ms(s);

	pthread_mutex_lock(&m->lock);
	m->avail += n;
	grant_waiters(m);
	pthread_mutex_unlock(&m->lock);
}

static unsigned mutex_available(struct sema *s)
{
	struct mutex_sema *m = to_ms(s);
	unsigned v;

	pthread_mutex_lock(&m->lock);
	v = m->avail;
	pthread_mutex_unlock(&m->lock);
	return v;
}

const struct sema_ops sema_mutex_ops = {
	.info = {
		.name = "mutex",
		.desc = "pthread mutex + per-waiter condvar, FIFO with direct hand-off",
		.flags = IMPL_FIFO,
	},
	.create = mutex_create,
	.destroy = mutex_destroy,
	.acquire = mutex_acquire,
	.try_acquire = mutex_try_acquire,
	.release = mutex_release,
	.available = mutex_available,
};
