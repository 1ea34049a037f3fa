/* SPDX-License-Identifier: MIT */
/*
 * Conformance of every registered semaphore implementation, through the
 * registry: adding an implementation adds its lines here with no new code.
 * Test-only negative controls are left to the stress suite, which must
 * catch them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ctx.h"
#include "registry.h"
#include "sema.h"
#include "blocking.h"
#include "tap.h"

#define MS 1000000ull

struct waiter {
	const struct sema_ops *ops;
	struct sema *s;
	unsigned n;
	uint64_t deadline;	/* 0 = none */
	struct ctx *ctx;	/* a cancellable context, or NULL */
	int rc;
	atomic_int done;
	atomic_int *order;	/* FIFO test: shared sequence */
	int my_place;
	pthread_t tid;
};

static void *waiter_main(void *p)
{
	struct waiter *w = p;
	struct ctx c = { .deadline_ns = w->deadline };

	w->rc = w->ops->acquire(w->s, w->n, w->ctx ? w->ctx : w->deadline ? &c : NULL);
	if (!w->rc && w->order) {
		w->my_place = atomic_fetch_add(w->order, 1);
		w->ops->release(w->s, w->n);
	}
	atomic_store(&w->done, 1);
	return NULL;
}

static void start(struct waiter *w)
{
	atomic_init(&w->done, 0);
	pthread_create(&w->tid, NULL, waiter_main, w);
}

/* Wait up to ms for it to return; true if it did (and is joined). */
static bool finish_within(struct waiter *w, unsigned ms)
{
	return done_within(w->tid, &w->done, ms);
}

static void basics(const char *name, const struct sema_ops *ops)
{
	struct sema *s;
	int rc = ops->create(&s, 3);

	if (!check_int(rc, ==, 0, "sema/%s: create with 3 permits", name))
		return;
	check_uint(ops->available(s), ==, 3, "sema/%s: starts with every permit free", name);
	check_int(ops->try_acquire(s, 1), ==, 0, "sema/%s: try_acquire succeeds while permits are free", name);
	check_int(ops->try_acquire(s, 1), ==, 0, "sema/%s: second try_acquire", name);
	check_int(ops->try_acquire(s, 1), ==, 0, "sema/%s: third try_acquire", name);
	check_int(ops->try_acquire(s, 1), ==, EAGAIN, "sema/%s: try_acquire on zero permits fails with EAGAIN", name);
	check_uint(ops->available(s), ==, 0, "sema/%s: a failed try_acquire takes nothing", name);
	ops->release(s, 1);
	ops->release(s, 1);
	ops->release(s, 1);
	check_uint(ops->available(s), ==, 3, "sema/%s: release returns every permit", name);
	check_int(ops->acquire(s, 4, NULL), ==, EINVAL, "sema/%s: acquire of more than the capacity is EINVAL, not a hang", name);
	check_int(ops->try_acquire(s, 4), ==, EINVAL, "sema/%s: try_acquire of more than the capacity is EINVAL", name);
	check_int(ops->acquire(s, 0, NULL), ==, EINVAL, "sema/%s: acquire of zero permits is EINVAL", name);
	check_uint(ops->available(s), ==, 3, "sema/%s: rejected calls take nothing", name);
	ops->destroy(s);
}

static void weighted(const char *name, const struct sema_ops *ops)
{
	struct sema *s;

	ops->create(&s, 3);
	if (ops->no_weighted) {
		check_int(ops->acquire(s, 2, NULL), ==, ENOTSUP,
			  "sema/%s: weighted acquire is refused with ENOTSUP, not faked", name);
		tap_skip("sema/%s: weighted acquire: %s", name, ops->no_weighted);
		tap_skip("sema/%s: weighted wake-up: %s", name, ops->no_weighted);
		tap_skip("sema/%s: timed-out head of queue: %s", name, ops->no_weighted);
		ops->destroy(s);
		return;
	}
	check_int(ops->acquire(s, 2, NULL), ==, 0, "sema/%s: acquire(2) of 3", name);
	check_uint(ops->available(s), ==, 1, "sema/%s: acquire(2) takes two permits", name);
	check_int(ops->try_acquire(s, 2), ==, EAGAIN, "sema/%s: try_acquire(2) with one free fails", name);
	ops->release(s, 2);
	check_uint(ops->available(s), ==, 3, "sema/%s: release(2) returns two", name);

	/* A waiter wanting 2 sleeps through release(1), wakes on the second. */
	{
		struct waiter w = { .ops = ops, .s = s, .n = 2 };

		ops->acquire(s, 3, NULL);
		start(&w);
		nap_ms(20);
		ops->release(s, 1);
		nap_ms(20);
		check(!atomic_load(&w.done), "sema/%s: a waiter for 2 keeps waiting with 1 free", name);
		ops->release(s, 1);
		check(finish_within(&w, 5000) && w.rc == 0,
		      "sema/%s: weighted wake-up: release of the second permit wakes it", name);
		ops->release(s, 2);	/* the waiter's */
		ops->release(s, 1);	/* the one still ours */
	}

	/*
	 * A big waiter at the head times out; the small one behind it must
	 * then get the permit that is free (Go issue: the cancelled head must
	 * wake those behind it).
	 */
	{
		struct waiter big = { .ops = ops, .s = s, .n = 3 };
		struct waiter small = { .ops = ops, .s = s, .n = 1 };

		ops->acquire(s, 3, NULL);
		big.deadline = mono_ns() + 60 * MS;
		start(&big);
		nap_ms(10);
		start(&small);
		nap_ms(10);
		ops->release(s, 1);
		check(finish_within(&big, 5000) && big.rc == ETIMEDOUT,
		      "sema/%s: the big head-of-queue waiter times out", name);
		check(finish_within(&small, 5000) && small.rc == 0,
		      "sema/%s: the waiter behind a timed-out head proceeds", name);
		ops->release(s, 1);
		ops->release(s, 2);
	}
	check_uint(ops->available(s), ==, 3, "sema/%s: all permits back after the weighted tests", name);
	ops->destroy(s);
}

static void timed(const char *name, const struct sema_ops *ops)
{
	struct sema *s;
	struct ctx c = { 0 };
	uint64_t t0, t1;
	int rc;

	ops->create(&s, 2);
	ops->acquire(s, 1, NULL);
	ops->acquire(s, 1, NULL);
	t0 = mono_ns();
	c.deadline_ns = t0 + 30 * MS;
	rc = ops->acquire(s, 1, &c);
	t1 = mono_ns();
	check_int(rc, ==, ETIMEDOUT, "sema/%s: acquire with a deadline and no permit times out", name);
	check_uint(t1, >=, c.deadline_ns, "sema/%s: the timeout comes no earlier than the deadline", name);
	tap_note("sema/%s: timed out %.3f ms after the deadline", name,
		 (double)(t1 - c.deadline_ns) / 1e6);
	check_uint(ops->available(s), ==, 0, "sema/%s: a timed-out acquire leaves the count unchanged", name);
	ops->release(s, 2);
	check_uint(ops->available(s), ==, 2, "sema/%s: count intact after the timeout", name);
	c.deadline_ns = mono_ns() + 1000 * MS;
	check_int(ops->acquire(s, 1, &c), ==, 0, "sema/%s: acquire with a deadline succeeds when a permit is free", name);
	ops->release(s, 1);
	ops->destroy(s);
}

static void wakes(const char *name, const struct sema_ops *ops)
{
	struct sema *s;
	struct waiter w = { .ops = ops, .n = 1 };

	ops->create(&s, 1);
	w.s = s;
	ops->acquire(s, 1, NULL);
	start(&w);
	nap_ms(30);
	check(!atomic_load(&w.done), "sema/%s: acquire blocks while no permit is free", name);
	ops->release(s, 1);
	check(finish_within(&w, 5000) && w.rc == 0, "sema/%s: release wakes a blocked waiter", name);
	ops->release(s, 1);
	ops->destroy(s);
}

static void fifo(const char *name, const struct sema_ops *ops, bool is_fifo)
{
	enum { N = 4 };
	struct waiter w[N];
	struct sema *s;
	atomic_int order;
	bool in_order = true, all = true;

	if (!is_fifo) {
		tap_skip("sema/%s: barging by design; no arrival order promised", name);
		return;
	}
	atomic_init(&order, 0);
	ops->create(&s, 1);
	ops->acquire(s, 1, NULL);
	for (int i = 0; i < N; i++) {
		w[i] = (struct waiter){ .ops = ops, .s = s, .n = 1, .order = &order };
		start(&w[i]);
		nap_ms(15);	/* let it queue before the next arrives */
	}
	ops->release(s, 1);
	for (int i = 0; i < N; i++) {
		all &= finish_within(&w[i], 5000);
		in_order &= w[i].my_place == i;
	}
	check(all && in_order, "sema/%s: FIFO: waiters are served in arrival order", name);
	ops->destroy(s);
}

struct hammer {
	const struct sema_ops *ops;
	struct sema *s;
	unsigned cap, n;
	atomic_uint held, worst;
};

static void *hammer_main(void *p)
{
	struct hammer *h = p;

	for (int i = 0; i < 20000; i++) {
		unsigned now, worst;

		if (h->ops->acquire(h->s, h->n, NULL))
			continue;
		now = atomic_fetch_add(&h->held, h->n) + h->n;
		worst = atomic_load(&h->worst);
		while (now > worst && !atomic_compare_exchange_weak(&h->worst, &worst, now))
			;
		atomic_fetch_sub(&h->held, h->n);
		h->ops->release(h->s, h->n);
	}
	return NULL;
}

static void capacity(const char *name, const struct sema_ops *ops)
{
	pthread_t t[4];
	struct hammer h = { .ops = ops, .cap = 2, .n = 1 };

	atomic_init(&h.held, 0);
	atomic_init(&h.worst, 0);
	ops->create(&h.s, h.cap);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hammer_main, &h);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	check_uint(atomic_load(&h.worst), <=, h.cap,
		   "sema/%s: 4 threads never hold more than the 2 permits", name);
	check_uint(ops->available(h.s), ==, h.cap, "sema/%s: every permit back after the hammering", name);
	ops->destroy(h.s);
}


/* Take n permits, one at a time where weighted acquire is refused. */
static void take(const struct sema_ops *ops, struct sema *s, unsigned n)
{
	if (!ops->no_weighted) {
		ops->acquire(s, n, NULL);
		return;
	}
	while (n--)
		ops->acquire(s, 1, NULL);
}

/*
 * Cancellation, for every sema implementation under every real ctx
 * implementation: the races Go's semaphore got wrong, each with a test.
 */
static void cancellation(const char *name, const struct sema_ops *ops,
			 const char *cname, const struct ctx_ops *cops)
{
	struct sema *s;
	struct ctx *c, *c2;
	struct waiter w;
	unsigned leaked = 0, both = 0;

	ops->create(&s, 3);
	cops->create(&c, NULL, 0);
	cops->cancel(c, ECANCELED, NULL);
	check_int(ops->acquire(s, 1, c), ==, ECANCELED,
		  "sema/%s+ctx/%s: acquire on an already-cancelled context fails, permits free or not", name, cname);
	check_uint(ops->available(s), ==, 3, "sema/%s+ctx/%s: ...and takes no permit", name, cname);
	cops->destroy(c);

	if (ops->no_cancel) {
		cops->create(&c, NULL, 0);
		check_int(ops->acquire(s, 1, c), ==, ENOTSUP,
			  "sema/%s+ctx/%s: a cancellable context is refused with ENOTSUP, not polled", name, cname);
		tap_skip("sema/%s+ctx/%s: cancelling a blocked waiter: %s", name, cname, ops->no_cancel);
		tap_skip("sema/%s+ctx/%s: cancelled head of queue: %s", name, cname, ops->no_cancel);
		tap_skip("sema/%s+ctx/%s: grant/cancel race: %s", name, cname, ops->no_cancel);
		cops->destroy(c);
		ops->destroy(s);
		return;
	}

	/* A blocked waiter is woken by the cancel, promptly, without a permit. */
	take(ops, s, 3);
	cops->create(&c, NULL, 0);
	w = (struct waiter){ .ops = ops, .s = s, .n = 1, .ctx = c };
	start(&w);
	nap_ms(30);
	cops->cancel(c, ECANCELED, NULL);
	check(finish_within(&w, 1000) && w.rc == ECANCELED,
	      "sema/%s+ctx/%s: cancel wakes a blocked acquire, which fails with ECANCELED", name, cname);
	check_uint(ops->available(s), ==, 0, "sema/%s+ctx/%s: ...and took nothing", name, cname);
	cops->destroy(c);

	/* A context deadline (the timer service) ends a blocked acquire. */
	cops->create(&c, NULL, mono_ns() + 30 * MS);
	w = (struct waiter){ .ops = ops, .s = s, .n = 1, .ctx = c };
	start(&w);
	check(finish_within(&w, 2000) && w.rc == ETIMEDOUT,
	      "sema/%s+ctx/%s: a context's deadline ends a blocked acquire with ETIMEDOUT", name, cname);
	cops->destroy(c);
	ops->release(s, 3);

	/* The cancelled head of the queue lets the waiter behind it go. */
	if (!ops->no_weighted) {
		struct waiter big, small = { .ops = ops, .s = s, .n = 1 };

		take(ops, s, 3);
		cops->create(&c, NULL, 0);
		big = (struct waiter){ .ops = ops, .s = s, .n = 3, .ctx = c };
		start(&big);
		nap_ms(10);
		start(&small);
		nap_ms(10);
		ops->release(s, 1);
		nap_ms(10);
		cops->cancel(c, ECANCELED, NULL);
		check(finish_within(&big, 1000) && big.rc == ECANCELED &&
		      finish_within(&small, 1000) && small.rc == 0,
		      "sema/%s+ctx/%s: a cancelled head of the queue wakes the waiter behind it", name, cname);
		ops->release(s, 1);
		ops->release(s, 2);
		cops->destroy(c);
	} else {
		tap_skip("sema/%s+ctx/%s: cancelled head of queue: %s", name, cname, ops->no_weighted);
	}

	/*
	 * Grant and cancel at the same moment, many times: the waiter either
	 * holds the permit (and gives it back) or fails, never both, and no
	 * permit is ever lost or duplicated.
	 */
	for (int i = 0; i < 200; i++) {
		take(ops, s, 3);
		cops->create(&c2, NULL, 0);
		w = (struct waiter){ .ops = ops, .s = s, .n = 1, .ctx = c2 };
		start(&w);
		if (i % 2)
			nap_ms(1);
		ops->release(s, 1);
		cops->cancel(c2, ECANCELED, NULL);
		if (!finish_within(&w, 2000)) {
			leaked++;
			break;
		}
		if (w.rc == 0) {
			ops->release(s, 1);
			both++;
		}
		ops->release(s, 2);
		if (ops->available(s) != 3)
			leaked++;
		cops->destroy(c2);
	}
	check_uint(leaked, ==, 0,
		   "sema/%s+ctx/%s: 200 grant/cancel races never leak or duplicate a permit", name, cname);
	tap_note("sema/%s+ctx/%s: the waiter won the permit in %u of 200 races", name, cname, both);
	ops->destroy(s);
}

int main(void)
{
	const struct family *f = family_find("sema");
	const struct impl_info *i;
	unsigned real = 0;

	/* A broken implementation must fail this program, never hang it. */
	alarm(300);
	clock_init();
	if (!f)
		tap_skip_all("no sema family registered");
	for_each_impl(f, i, p) {
		const struct sema_ops *ops = sema_ops_of(i);

		if (i->flags & IMPL_TEST_ONLY) {
			check(i != NULL, "sema/%s: registered as a test-only negative control", i->name);
			continue;
		}
		if (i->flags & IMPL_FLOOR)
			continue;	/* does nothing by design: micro-benchmarks only */
		real++;
		basics(i->name, ops);
		weighted(i->name, ops);
		timed(i->name, ops);
		wakes(i->name, ops);
		fifo(i->name, ops, i->flags & IMPL_FIFO);
		capacity(i->name, ops);
		{
			const struct family *cf = family_find("ctx");
			const struct impl_info *ci;

			for_each_impl(cf, ci, q)
				if (!(ci->flags & IMPL_TEST_ONLY))
					cancellation(i->name, ops, ci->name, ctx_ops_of(ci));
		}
	}
	check_uint(real, >=, 4, "the registry lists at least four real sema implementations");
	return tap_done();
}
