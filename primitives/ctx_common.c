/* SPDX-License-Identifier: MIT */
/*
 * The parts of a context every implementation shares: the first
 * cancellation wins (a CAS on the cause, then a release store of err), a
 * hook list whose hooks run exactly once, parent links as hooks, and the
 * deadline timer service.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "compiler.h"
#include "ctx_impl.h"

bool ctx_claim(struct ctx *c, int err, const char *cause)
{
	const char *none = NULL;

	if (!cause)
		cause = err == ETIMEDOUT ? CAUSE_DEADLINE : CAUSE_CANCELED;
	/* Only the winner of the cause may set err: first cancellation wins. */
	if (!atomic_compare_exchange_strong(&c->cause, &none, cause)) {
		/*
		 * The winner stores err right after its CAS; wait for it, so
		 * that whenever cancel() returns the context reads cancelled.
		 */
		for (unsigned spin = 0; !atomic_load(&c->err); spin++)
			if (spin < 100)
				cpu_relax();
			else
				sched_yield();	/* the winner was preempted */
		return false;
	}
	/*
	 * Pairs with the acquire load in ctx_err(); seq_cst rather than
	 * release because futex waiters need the store ordered before the
	 * canceller's load of their count (store-load), and a cancel is rare.
	 */
	atomic_store(&c->err, err);
	return true;
}

int ctx_wait_timed_out(struct ctx *c)
{
	if (!ctx_err(c) && c->deadline_ns && mono_ns() >= c->deadline_ns)
		c->ops->cancel(c, ETIMEDOUT, CAUSE_DEADLINE);
	return ctx_err(c);
}

void hooks_init(struct ctx_hooks *hs)
{
	pthread_mutex_init(&hs->lock, NULL);
	hs->head.next = hs->head.prev = &hs->head;
	hs->closed = false;
}

void hooks_destroy(struct ctx_hooks *hs)
{
	pthread_mutex_destroy(&hs->lock);
}

static void run_one(struct ctx_hook *h, struct ctx *c)
{
	h->fn(h, c);
	/* Release: the owner's stop() may reuse h once it reads DONE. */
	atomic_store_explicit(&h->state, HOOK_DONE, memory_order_release);
}

int hooks_add(struct ctx_hooks *hs, struct ctx *c, struct ctx_hook *h)
{
	int expected = HOOK_IDLE;

	pthread_mutex_lock(&hs->lock);
	/* Already cancelled (even if the canceller has not closed us yet): run now. */
	if (hs->closed || ctx_err(c)) {
		pthread_mutex_unlock(&hs->lock);
		if (!atomic_compare_exchange_strong(&h->state, &expected, HOOK_RUNNING))
			return EBUSY;
		run_one(h, c);
		return 0;
	}
	if (!atomic_compare_exchange_strong(&h->state, &expected, HOOK_ARMED)) {
		pthread_mutex_unlock(&hs->lock);
		return EBUSY;
	}
	h->next = &hs->head;
	h->prev = hs->head.prev;
	hs->head.prev->next = h;
	hs->head.prev = h;
	pthread_mutex_unlock(&hs->lock);
	return 0;
}

bool hooks_stop(struct ctx_hooks *hs, struct ctx_hook *h)
{
	int state;

	pthread_mutex_lock(&hs->lock);
	if (atomic_load(&h->state) == HOOK_ARMED) {
		h->prev->next = h->next;
		h->next->prev = h->prev;
		atomic_store(&h->state, HOOK_STOPPED);
		pthread_mutex_unlock(&hs->lock);
		return true;
	}
	pthread_mutex_unlock(&hs->lock);
	/* Claimed by a canceller: wait until its function has returned. */
	while ((state = atomic_load_explicit(&h->state, memory_order_acquire)) ==
	       HOOK_RUNNING)
		sched_yield();
	return false;
}

struct ctx_hook *hooks_close_locked(struct ctx_hooks *hs)
{
	struct ctx_hook *first = NULL, **tail = &first;

	hs->closed = true;
	for (struct ctx_hook *h = hs->head.next; h != &hs->head; h = h->next) {
		atomic_store(&h->state, HOOK_RUNNING);
		*tail = h;
		tail = &h->prev;	/* reuse prev as the run list's next */
	}
	*tail = NULL;
	hs->head.next = hs->head.prev = &hs->head;
	return first;
}

void hooks_run(struct ctx_hook *list, struct ctx *c)
{
	while (list) {
		/* Read the link first: once DONE, the owner may free h. */
		struct ctx_hook *next = list->prev;

		run_one(list, c);
		list = next;
	}
}

/* A parent's cancellation reaches its child through this hook. */
static void parent_cancelled(struct ctx_hook *h, struct ctx *parent)
{
	struct ctx *child = container_of(h, struct ctx, link);

	child->ops->cancel(child, ctx_err(parent), ctx_cause(parent));
}

void ctx_attach(struct ctx *c, const struct ctx_ops *ops, struct ctx *parent,
		uint64_t deadline_ns)
{
	c->ops = ops;
	c->parent = parent;
	atomic_init(&c->err, 0);
	atomic_init(&c->cause, NULL);
	atomic_init(&c->link.state, HOOK_IDLE);
	c->timer.heap_index = -1;
	if (parent && parent->deadline_ns &&
	    (!deadline_ns || parent->deadline_ns < deadline_ns))
		deadline_ns = parent->deadline_ns;
	c->deadline_ns = deadline_ns;
	if (parent && parent->ops) {
		c->link.fn = parent_cancelled;
		parent->ops->after_func(parent, &c->link);
	}
	if (deadline_ns && !ctx_err(c)) {
		if (mono_ns() >= deadline_ns || ctx_timer_add(c))
			ops->cancel(c, ETIMEDOUT, CAUSE_DEADLINE);
	}
}

void ctx_detach(struct ctx *c)
{
	if (c->deadline_ns)
		ctx_timer_remove(c);
	if (c->parent && c->parent->ops &&
	    atomic_load(&c->link.state) != HOOK_IDLE)
		c->parent->ops->stop(c->parent, &c->link);
}

/* ---- the timer service ---------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ctx **heap;
	long n, cap;
	bool started;
} tsvc = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void heap_set(long i, struct ctx *c)
{
	tsvc.heap[i] = c;
	c->timer.heap_index = i;
}

static void heap_up(long i)
{
	struct ctx *c = tsvc.heap[i];

	while (i > 0) {
		long p = (i - 1) / 2;

		if (tsvc.heap[p]->timer.when <= c->timer.when)
			break;
		heap_set(i, tsvc.heap[p]);
		i = p;
	}
	heap_set(i, c);
}

static void heap_down(long i)
{
	struct ctx *c = tsvc.heap[i];

	for (;;) {
		long l = 2 * i + 1, m = l;

		if (l >= tsvc.n)
			break;
		if (l + 1 < tsvc.n && tsvc.heap[l + 1]->timer.when < tsvc.heap[l]->timer.when)
			m = l + 1;
		if (tsvc.heap[m]->timer.when >= c->timer.when)
			break;
		heap_set(i, tsvc.heap[m]);
		i = m;
	}
	heap_set(i, c);
}

static void heap_remove(long i)
{
	struct ctx *last = tsvc.heap[--tsvc.n];

	tsvc.heap[i]->timer.heap_index = -1;
	if (i == tsvc.n)
		return;
	heap_set(i, last);
	heap_up(i);
	heap_down(last->timer.heap_index);
}

/*
 * The timer thread sleeps until the earliest deadline (a condvar timed
 * wait on CLOCK_MONOTONIC: no polling) and fires what is due.  Firing
 * happens under the service lock, so ctx_timer_remove() returning means
 * the context is not being fired and never will be.
 */
static void *timer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&tsvc.lock);
	for (;;) {
		struct ctx *c;
		uint64_t now;

		if (!tsvc.n) {
			pthread_cond_wait(&tsvc.cond, &tsvc.lock);
			continue;
		}
		c = tsvc.heap[0];
		now = mono_ns();
		if (now < c->timer.when) {
			struct timespec ts = {
				(time_t)(c->timer.when / 1000000000u),
				(long)(c->timer.when % 1000000000u),
			};

			pthread_cond_timedwait(&tsvc.cond, &tsvc.lock, &ts);
			continue;
		}
		heap_remove(0);
		c->ops->cancel(c, ETIMEDOUT, CAUSE_DEADLINE);
	}
	return NULL;
}

static int timer_start(void)
{
	pthread_condattr_t attr;
	pthread_attr_t ta;
	pthread_t tid;
	sigset_t all, old;
	int rc;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&tsvc.cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	/* The service thread takes no signals: they belong to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&tid, &ta, timer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&ta);
	return rc;
}

int ctx_timer_add(struct ctx *c)
{
	int rc = 0;

	pthread_mutex_lock(&tsvc.lock);
	if (!tsvc.started) {
		rc = timer_start();
		tsvc.started = !rc;
	}
	if (!rc && tsvc.n == tsvc.cap) {
		long cap = tsvc.cap ? tsvc.cap * 2 : 256;
		struct ctx **h = realloc(tsvc.heap, (size_t)cap * sizeof(*h));

		if (h) {
			tsvc.heap = h;
			tsvc.cap = cap;
		} else {
			rc = ENOMEM;
		}
	}
	if (!rc) {
		c->timer.when = c->deadline_ns;
		tsvc.heap[tsvc.n] = c;
		heap_up(tsvc.n++);
		/* A new earliest deadline: the thread must re-arm its wait. */
		if (c->timer.heap_index == 0)
			pthread_cond_signal(&tsvc.cond);
	}
	pthread_mutex_unlock(&tsvc.lock);
	return rc;
}

void ctx_timer_remove(struct ctx *c)
{
	pthread_mutex_lock(&tsvc.lock);
	if (c->timer.heap_index >= 0)
		heap_remove(c->timer.heap_index);
	pthread_mutex_unlock(&tsvc.lock);
}
