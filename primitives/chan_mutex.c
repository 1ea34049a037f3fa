/* SPDX-License-Identifier: MIT */
/*
 * chan/mutex: a ring buffer under one pthread mutex, with two condition
 * variables, `not_full` for senders and `not_empty` for receivers (the
 * textbook bounded buffer; Go's runtime channel is also one lock around a
 * ring, with its own wait queues instead of condvars).
 *
 * A send or receive signals the other side only when someone sleeps there
 * (the sleeper counts live under the lock), so a pipeline that never
 * blocks never makes a futex call.  close() broadcasts both.
 *
 * Cancellation: a sleeper with a cancellable context registers a hook that
 * broadcasts the condvar it sleeps on; every sleeper there re-checks, the
 * cancelled one leaves.  A broadcast is wasteful but cancellations are
 * rare, and a shared condvar has no way to wake one chosen thread.  A
 * woken waiter looks at its context before the ring: once cancelled it
 * takes nothing, even if it could, and passes on the signal it may have
 * consumed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "chan.h"
#include "chaos.h"

struct mutex_chan {
	pthread_mutex_t lock;
	pthread_cond_t not_full, not_empty;
	unsigned cap, len, head;	/* items live at head .. head+len-1 (mod cap) */
	unsigned send_sleepers, recv_sleepers;
	bool closed;
	void **ring;
};

#define to_mc(c) ((struct mutex_chan *)(c))

static int mutex_create(struct chan **out, unsigned cap)
{
	struct mutex_chan *m;
	pthread_condattr_t attr;

	if (cap == 0 || cap > CHAN_MAX_CAP)
		return EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m || !(m->ring = calloc(cap, sizeof(void *)))) {
		free(m);
		return ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&m->not_full, &attr);
	pthread_cond_init(&m->not_empty, &attr);
	pthread_condattr_destroy(&attr);
	m->cap = cap;
	*out = (struct chan *)m;
	return 0;
}

static void mutex_destroy(struct chan *c)
{
	struct mutex_chan *m = to_mc(c);

	pthread_cond_destroy(&m->not_full);
	pthread_cond_destroy(&m->not_empty);
	pthread_mutex_destroy(&m->lock);
	free(m->ring);
	free(m);
}

/* Lock held, room checked. */
static void put(struct mutex_chan *m, void *item)
{
	unsigned tail = m->head + m->len;

	m->ring[tail >= m->cap ? tail - m->cap : tail] = item;
	m->len++;
	if (m->recv_sleepers)
		pthread_cond_signal(&m->not_empty);
}

/* Lock held, an item checked. */
static void *take(struct mutex_chan *m)
{
	void *item = m->ring[m->head];

	m->head = m->head + 1 == m->cap ? 0 : m->head + 1;
	m->len--;
	if (m->send_sleepers)
		pthread_cond_signal(&m->not_full);
	return item;
}

struct sleeper {
	struct mutex_chan *m;
	pthread_cond_t *cond;
	struct ctx_hook hook;
};

static void sleeper_cancelled(struct ctx_hook *h, struct ctx *c)
{
	struct sleeper *s = h->arg;

	(void)c;
	pthread_mutex_lock(&s->m->lock);
	pthread_cond_broadcast(s->cond);
	pthread_mutex_unlock(&s->m->lock);
}

/*
 * Sleep on cond (lock held) until ready(m) or closed, or ctx says stop.
 * Returns 0 when ready, EPIPE when closed and not ready, or ctx's error.
 * The hook is registered outside the lock (it takes the lock to wake us).
 */
static int sleep_until(struct mutex_chan *m, pthread_cond_t *cond,
		       unsigned *sleepers, bool (*ready)(struct mutex_chan *),
		       struct ctx *ctx)
{
	uint64_t deadline = ctx_deadline(ctx);
	struct timespec ts = { (time_t)(deadline / 1000000000u),
			       (long)(deadline % 1000000000u) };
	struct sleeper s = { .m = m, .cond = cond };
	bool hooked = false;
	int rc = 0;

	if (ctx_cancellable(ctx)) {
		pthread_mutex_unlock(&m->lock);
		s.hook.fn = sleeper_cancelled;
		s.hook.arg = &s;
		hooked = !ctx->ops->after_func(ctx, &s.hook);
		chaos_point();
		pthread_mutex_lock(&m->lock);
	}
	(*sleepers)++;
	for (;;) {
		/* Cancellation first: a cancelled waiter takes nothing. */
		if ((rc = ctx_err(ctx)))
			break;
		if (ready(m))
			break;
		if (m->closed) {
			rc = EPIPE;
			break;
		}
		if (!deadline) {
			pthread_cond_wait(cond, &m->lock);
		} else if (pthread_cond_timedwait(cond, &m->lock, &ts) == ETIMEDOUT &&
			   !ready(m) && !m->closed && !ctx_err(ctx)) {
			rc = ETIMEDOUT;
			break;
		}
	}
	(*sleepers)--;
	/* Leaving without proceeding: pass on a signal we may have consumed. */
	if (rc && ready(m) && *sleepers)
		pthread_cond_signal(cond);
	if (hooked) {
		pthread_mutex_unlock(&m->lock);
		ctx->ops->stop(ctx, &s.hook);
		pthread_mutex_lock(&m->lock);
		/* The state may have moved while the lock was dropped. */
		if (!rc && !ready(m))
			rc = m->closed ? EPIPE : EAGAIN;
	}
	return rc;
}

static bool has_room(struct mutex_chan *m)
{
	return m->len < m->cap;
}

static bool has_item(struct mutex_chan *m)
{
	return m->len > 0;
}

static int mutex_send(struct chan *c, void *item, const struct ctx *cctx)
{
	struct mutex_chan *m = to_mc(c);
	struct ctx *ctx = (struct ctx *)cctx;
	int rc;

	if ((rc = ctx_err(ctx)))
		return rc;
	pthread_mutex_lock(&m->lock);
	for (;;) {
		if (m->closed) {
			rc = EPIPE;
			break;
		}
		if (has_room(m)) {
			put(m, item);
			rc = 0;
			break;
		}
		rc = sleep_until(m, &m->not_full, &m->send_sleepers, has_room, ctx);
		if (rc && rc != EAGAIN)
			break;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int mutex_recv(struct chan *c, void **item, const struct ctx *cctx)
{
	struct mutex_chan *m = to_mc(c);
	struct ctx *ctx = (struct ctx *)cctx;
	int rc;

	if ((rc = ctx_err(ctx)))
		return rc;
	pthread_mutex_lock(&m->lock);
	for (;;) {
		if (has_item(m)) {
			*item = take(m);
			rc = 0;
			break;
		}
		if (m->closed) {
			rc = EPIPE;
			break;
		}
		rc = sleep_until(m, &m->not_empty, &m->recv_sleepers, has_item, ctx);
		if (rc && rc != EAGAIN && rc != EPIPE)
			break;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int mutex_try_send(struct chan *c, void *item)
{
	struct mutex_chan *m = to_mc(c);
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	if (m->closed)
		rc = EPIPE;
	else if (has_room(m))
		put(m, item);
	else
		rc = EAGAIN;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int mutex_try_recv(struct chan *c, void **item)
{
	struct mutex_chan *m = to_mc(c);
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	if (has_item(m))
		*item = take(m);
	else
		rc = m->closed ? EPIPE : EAGAIN;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int mutex_close(struct chan *c)
{
	struct mutex_chan *m = to_mc(c);
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	if (m->closed) {
		rc = EPIPE;
	} else {
		m->closed = true;
		pthread_cond_broadcast(&m->not_full);
		pthread_cond_broadcast(&m->not_empty);
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static unsigned mutex_len(struct chan *c)
{
	struct mutex_chan *m = to_mc(c);
	unsigned n;

	pthread_mutex_lock(&m->lock);
	n = m->len;
	pthread_mutex_unlock(&m->lock);
	return n;
}

static unsigned mutex_cap(struct chan *c)
{
	return to_mc(c)->cap;
}

const struct chan_ops chan_mutex_ops = {
	.info = {
		.name = "mutex",
		.desc = "ring under one pthread mutex, two condvars (not_full, not_empty)",
	},
	.create = mutex_create,
	.destroy = mutex_destroy,
	.send = mutex_send,
	.recv = mutex_recv,
	.try_send = mutex_try_send,
	.try_recv = mutex_try_recv,
	.close = mutex_close,
	.len = mutex_len,
	.cap = mutex_cap,
};
