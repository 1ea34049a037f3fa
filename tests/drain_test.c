/* SPDX-License-Identifier: MIT */
/*
 * Conformance of every registered drain implementation, through the
 * registry: each rule of drain.h is one assertion per implementation, and
 * the cancellation rules run under every real ctx implementation.  The
 * test-only negative control is shown to break the rule the stress checker
 * looks for, and is otherwise left to the stress suite.
 *
 * Time is asserted only as "well before a distant deadline" (seconds) or
 * "no earlier than a deadline"; wake latencies go out as notes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ctx.h"
#include "drain.h"
#include "registry.h"
#include "blocking.h"
#include "tap.h"

#define MS 1000000ull
#define DISTANT (10000 * MS)	/* a deadline no wake-up may wait for */

static struct drain *make(const struct drain_ops *ops)
{
	struct drain *d = NULL;

	if (ops->create(&d))
		tap_bail("drain: create failed");
	return d;
}

/* One close_and_wait on another thread. */
struct waiter {
	const struct drain_ops *ops;
	struct drain *d;
	struct ctx *ctx;	/* a cancellable context, or NULL */
	uint64_t deadline;	/* a plain deadline when ctx is NULL; 0 = none */
	unsigned long left;
	uint64_t returned;	/* mono_ns() when it returned */
	atomic_int done;
	pthread_t tid;
};

static void *waiter_main(void *p)
{
	struct waiter *w = p;
	struct ctx plain = { .deadline_ns = w->deadline };
	const struct ctx *ctx = w->ctx ? w->ctx : w->deadline ? &plain : NULL;

	w->left = w->ops->close_and_wait(w->d, ctx);
	w->returned = mono_ns();
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

static bool blocked_for(struct waiter *w, unsigned ms)
{
	return still_blocked(&w->done, ms);
}

static unsigned long wait_plain(const struct drain_ops *ops, struct drain *d,
				uint64_t deadline)
{
	struct ctx plain = { .deadline_ns = deadline };

	return ops->close_and_wait(d, &plain);
}

static void basics(const char *name, const struct drain_ops *ops)
{
	struct drain *d = make(ops);
	unsigned entered = 0;

	check_uint(ops->inflight(d), ==, 0, "drain/%s: starts with nothing in flight", name);
	for (int i = 0; i < 5; i++)
		entered += ops->enter(d) == 0;
	check_uint(entered, ==, 5, "drain/%s: enter on an open drain returns 0", name);
	check_uint(ops->inflight(d), ==, 5, "drain/%s: inflight() counts each enter", name);
	for (int i = 0; i < 5; i++)
		ops->leave(d);
	check_uint(ops->inflight(d), ==, 0, "drain/%s: ...and each leave", name);
	check_uint(ops->close_and_wait(d, NULL), ==, 0,
		   "drain/%s: close_and_wait on an empty drain returns 0 at once", name);
	check_int(ops->enter(d), ==, EPIPE, "drain/%s: enter after close is EPIPE", name);
	check_uint(ops->inflight(d), ==, 0, "drain/%s: ...and admits nothing", name);
	check_uint(ops->close_and_wait(d, NULL), ==, 0,
		   "drain/%s: a second close_and_wait is harmless and returns 0", name);
	check_int(ops->enter(d), ==, EPIPE, "drain/%s: ...and the drain stays closed", name);
	ops->destroy(d);
}

static void deadlines(const char *name, const struct drain_ops *ops)
{
	struct drain *d = make(ops);
	uint64_t deadline, t1;

	ops->enter(d);
	ops->enter(d);
	deadline = mono_ns() + 30 * MS;
	check_uint(wait_plain(ops, d, deadline), ==, 2,
		   "drain/%s: at its deadline close_and_wait returns the count still in flight", name);
	t1 = mono_ns();
	check_uint(t1, >=, deadline, "drain/%s: ...no earlier than the deadline", name);
	tap_note("drain/%s: close_and_wait returned %.3f ms after its deadline", name,
		 (double)(t1 - deadline) / 1e6);
	check_int(ops->enter(d), ==, EPIPE, "drain/%s: a close that timed out still closed", name);
	ops->leave(d);
	check_uint(wait_plain(ops, d, mono_ns() - 1), ==, 1,
		   "drain/%s: a past deadline returns the count at once", name);
	ops->leave(d);
	check_uint(wait_plain(ops, d, mono_ns() + DISTANT), ==, 0,
		   "drain/%s: once the rest left, another close_and_wait returns 0 at once", name);
	check_uint(ops->inflight(d), ==, 0, "drain/%s: inflight() back to 0, not below", name);
	ops->destroy(d);
}

static void wakes(const char *name, const struct drain_ops *ops)
{
	struct drain *d = make(ops);
	struct waiter w = { .ops = ops, .d = d, .deadline = mono_ns() + DISTANT };
	struct waiter ws[4];
	uint64_t t0;
	bool all = true;

	ops->enter(d);
	ops->enter(d);
	start(&w);
	check(blocked_for(&w, 20), "drain/%s: close_and_wait blocks while units are in flight", name);
	check_int(ops->enter(d), ==, EPIPE, "drain/%s: enter while a close waits is EPIPE", name);
	ops->leave(d);
	check(blocked_for(&w, 20), "drain/%s: a leave that leaves others in flight does not end the wait", name);
	t0 = mono_ns();
	ops->leave(d);
	check(finish_within(&w, 3000) && w.left == 0,
	      "drain/%s: the last leave, from another thread, wakes the waiter, which returns 0", name);
	check(atomic_load(&w.done) && w.returned < w.deadline - DISTANT / 2,
	      "drain/%s: ...woken by the leave, not by its distant deadline", name);
	if (atomic_load(&w.done))
		tap_note("drain/%s: waiter returned %.3f ms after the last leave", name,
			 (double)(w.returned - t0) / 1e6);
	ops->destroy(d);

	/* Several waiters, some with no deadline: one leave wakes them all. */
	d = make(ops);
	ops->enter(d);
	for (int i = 0; i < 4; i++) {
		ws[i] = (struct waiter){ .ops = ops, .d = d,
					 .deadline = i % 2 ? mono_ns() + DISTANT : 0 };
		start(&ws[i]);
	}
	nap_ms(20);
	ops->leave(d);
	for (int i = 0; i < 4; i++)
		if (!finish_within(&ws[i], 3000) || ws[i].left != 0)
			all = false;
	check(all, "drain/%s: four concurrent waiters all wake on the last leave and return 0", name);
	ops->destroy(d);
}

/* Every rule about cancellable contexts, under one ctx implementation. */
static void cancellation(const char *name, const struct drain_ops *ops,
			 const char *cname, const struct ctx_ops *cops)
{
	struct drain *d = make(ops);
	struct ctx *c, *c2;
	struct waiter w, other;
	uint64_t t0;

	cops->create(&c, NULL, 0);
	cops->cancel(c, ECANCELED, NULL);
	ops->enter(d);
	check_uint(ops->close_and_wait(d, c), ==, 1,
		   "drain/%s+ctx/%s: an already cancelled context returns the count at once", name, cname);
	check_int(ops->enter(d), ==, EPIPE, "drain/%s+ctx/%s: ...having closed the drain", name, cname);
	cops->destroy(c);

	cops->create(&c, NULL, 0);
	w = (struct waiter){ .ops = ops, .d = d, .ctx = c };
	start(&w);
	check(blocked_for(&w, 20), "drain/%s+ctx/%s: a cancellable waiter blocks", name, cname);
	t0 = mono_ns();
	cops->cancel(c, ECANCELED, NULL);
	check(finish_within(&w, 2000) && w.left == 1,
	      "drain/%s+ctx/%s: cancel wakes the waiter, which returns the count still in flight", name, cname);
	if (atomic_load(&w.done))
		tap_note("drain/%s+ctx/%s: waiter returned %.3f ms after cancel", name, cname,
			 (double)(w.returned - t0) / 1e6);
	cops->destroy(c);

	/* The timer service fires a context's deadline under the waiter. */
	cops->create(&c, NULL, mono_ns() + 30 * MS);
	w = (struct waiter){ .ops = ops, .d = d, .ctx = c };
	start(&w);
	check(finish_within(&w, 3000) && w.left == 1,
	      "drain/%s+ctx/%s: a context's deadline ends the wait with the count", name, cname);
	cops->destroy(c);

	/* Two waiters: cancelling one leaves the other waiting for the leave. */
	cops->create(&c, NULL, 0);
	cops->create(&c2, NULL, 0);
	w = (struct waiter){ .ops = ops, .d = d, .ctx = c };
	other = (struct waiter){ .ops = ops, .d = d, .ctx = c2 };
	start(&w);
	start(&other);
	nap_ms(20);
	cops->cancel(c, ECANCELED, NULL);
	check(finish_within(&w, 2000) && w.left == 1,
	      "drain/%s+ctx/%s: of two waiters, the cancelled one returns the count", name, cname);
	check(blocked_for(&other, 20), "drain/%s+ctx/%s: ...and the other waits on", name, cname);
	ops->leave(d);
	check(finish_within(&other, 3000) && other.left == 0,
	      "drain/%s+ctx/%s: ...until the last leave wakes it with 0", name, cname);
	check_uint(ops->close_and_wait(d, NULL), ==, 0,
		   "drain/%s+ctx/%s: after more leaves a second close_and_wait returns 0", name, cname);
	cops->destroy(c2);
	cops->destroy(c);
	ops->destroy(d);
}

/* Enters racing with close from many threads: every admitted unit counts. */
#define RACERS 4
#define ROUNDS 100

struct race {
	const struct drain_ops *ops;
	struct drain *d;
	atomic_long shadow;	/* admitted and not yet leaving */
	atomic_bool closed;	/* close_and_wait has returned */
	atomic_bool stop;
	atomic_uint late;	/* admitted though closed had been seen */
	atomic_uint negative;	/* inflight() read as "negative" */
	atomic_uint refused;
};

static void *racer_main(void *p)
{
	struct race *r = p;
	uint64_t rng = (uint64_t)(uintptr_t)&rng | 1;

	while (!atomic_load(&r->stop)) {
		bool was_closed = atomic_load(&r->closed);

		if (r->ops->enter(r->d)) {
			atomic_fetch_add(&r->refused, 1);
			continue;
		}
		if (was_closed)
			atomic_fetch_add(&r->late, 1);
		atomic_fetch_add(&r->shadow, 1);
		for (unsigned i = xorshift64(&rng) % 200; i; i--)
			__asm__ __volatile__("" ::: "memory");
		if (r->ops->inflight(r->d) > DRAIN_MAX_INFLIGHT)
			atomic_fetch_add(&r->negative, 1);
		atomic_fetch_sub(&r->shadow, 1);
		r->ops->leave(r->d);
	}
	return NULL;
}

static void race(const char *name, const struct drain_ops *ops)
{
	static struct race r;
	pthread_t tid[RACERS];
	unsigned early = 0, leftover = 0, nonzero = 0;

	for (unsigned round = 0; round < ROUNDS; round++) {
		unsigned long left;
		long shadow;

		r.ops = ops;
		r.d = make(ops);
		atomic_store(&r.shadow, 0);
		atomic_store(&r.closed, false);
		atomic_store(&r.stop, false);
		for (int i = 0; i < RACERS; i++)
			pthread_create(&tid[i], NULL, racer_main, &r);
		nap_ms(round % 3);
		left = ops->close_and_wait(r.d, NULL);
		shadow = atomic_load(&r.shadow);
		atomic_store(&r.closed, true);
		nonzero += left != 0;
		early += shadow != 0;
		nap_ms(1);
		atomic_store(&r.stop, true);
		for (int i = 0; i < RACERS; i++)
			pthread_join(tid[i], NULL);
		leftover += ops->inflight(r.d) != 0;
		ops->destroy(r.d);
	}
	check_uint(nonzero, ==, 0, "drain/%s: %u racing closes without a deadline all return 0",
		   name, ROUNDS);
	check_uint(early, ==, 0,
		   "drain/%s: close_and_wait never returned 0 with an admitted unit not yet left (%u threads racing enter)",
		   name, RACERS);
	check_uint(atomic_load(&r.late), ==, 0,
		   "drain/%s: no enter is admitted after close_and_wait returned", name);
	check_uint(atomic_load(&r.negative), ==, 0, "drain/%s: inflight() never negative", name);
	check_uint(leftover, ==, 0, "drain/%s: nothing in flight after every racer left", name);
	tap_note("drain/%s: %u enters refused over %u rounds", name,
		 atomic_load(&r.refused), ROUNDS);
	atomic_store(&r.late, 0);
	atomic_store(&r.negative, 0);
	atomic_store(&r.refused, 0);
}

int main(void)
{
	const struct family *f = family_find("drain"), *cf = family_find("ctx");
	const struct impl_info *i, *ci;
	unsigned real = 0;

	/* A broken implementation must fail this program, never hang it. */
	alarm(300);
	clock_init();
	if (!f)
		tap_skip_all("no drain family registered");
	for_each_impl(f, i, p) {
		const struct drain_ops *ops = drain_ops_of(i);

		if (i->flags & IMPL_TEST_ONLY) {
			struct drain *d = make(ops);

			ops->close_and_wait(d, NULL);
			check_int(ops->enter(d), ==, 0,
				  "drain/%s: the negative control admits after close (what the checks reject)",
				  i->name);
			ops->leave(d);
			ops->destroy(d);
			continue;
		}
		real++;
		basics(i->name, ops);
		deadlines(i->name, ops);
		wakes(i->name, ops);
		for_each_impl(cf, ci, q)
			if (!(ci->flags & IMPL_TEST_ONLY))
				cancellation(i->name, ops, ci->name, ctx_ops_of(ci));
		race(i->name, ops);
	}
	check_uint(real, >=, 4, "the registry lists at least four real drain implementations");
	return tap_done();
}
