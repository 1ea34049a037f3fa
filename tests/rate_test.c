/* SPDX-License-Identifier: MIT */
/*
 * Conformance of every registered rate limiter, through the registry:
 * adding an implementation adds its lines here with no new code.
 *
 *   - the shared vectors (tests/rate_vectors.h), exactly, step by step, on
 *     an injected clock (implementations that run on real time only skip
 *     them, saying why);
 *   - create's validation;
 *   - wait() on the real clock: never early, ETIMEDOUT at once when the
 *     deadline comes first, ECANCELED promptly on a cancel under every real
 *     ctx implementation (and the reservation refunded), an
 *     already-cancelled context;
 *   - 4 threads hammering allow(): never more than burst + rate * elapsed.
 *
 * Time is only ever checked by ordering (this happened before that), never
 * against an absolute bound.  Test-only negative controls are left to the
 * stress suite.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ctx.h"
#include "rate.h"
#include "rate_vectors.h"
#include "registry.h"
#include "tap.h"

#define MS 1000000ull

static void nap_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	nanosleep(&ts, NULL);
}

static void sleep_until(uint64_t mono)
{
	uint64_t now;

	while ((now = mono_ns()) < mono)
		nap_ns(mono - now);
}

/* The injected clock: whatever the test says. */
static uint64_t fake_now;

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static const struct rate_clock fake = { fake_clock, NULL };

static bool uses_reserve(const struct rv_vector *v)
{
	for (const struct rv_step *s = v->steps; s->op != RV_END; s++)
		if (s->op == RV_RESERVE || s->op == RV_CANCEL)
			return true;
	return false;
}

static void one_vector(const char *name, const struct rate_ops *ops,
		       const struct rv_vector *v)
{
	struct rate_reservation slots[4] = { 0 };
	struct rate *r;
	int rc, i = 0;

	if (ops->no_reserve && uses_reserve(v)) {
		tap_skip("rate/%s: \"%s\": %s", name, v->name, ops->no_reserve);
		return;
	}
	fake_now = RV_T0;
	rc = ops->create(&r, v->rate, v->burst, &fake);
	if (!check_int(rc, ==, 0, "rate/%s: \"%s\": create(%g, %u)", name,
		       v->name, v->rate, v->burst))
		return;
	for (const struct rv_step *s = v->steps; s->op != RV_END; s++, i++) {
		struct rate_reservation *res = &slots[s->slot];
		unsigned long long t = (unsigned long long)s->t;

		fake_now = RV_T0 + s->t;
		switch (s->op) {
		case RV_ALLOW:
			check_int(ops->allow(r, s->n), ==, s->rc,
				  "rate/%s: \"%s\" step %d: allow(%u) at +%llu ns",
				  name, v->name, i, s->n, t);
			break;
		case RV_RESERVE:
			rc = ops->reserve(r, s->n, res);
			if (s->rc)
				check_int(rc, ==, s->rc,
					  "rate/%s: \"%s\" step %d: reserve(%u) at +%llu ns",
					  name, v->name, i, s->n, t);
			else
				tap_ok(rc == 0 && res->at == RV_T0 + s->at,
				       "rate/%s: \"%s\" step %d: reserve(%u) at +%llu ns: "
				       "rc %d (want 0), at +%lld ns (want +%llu)",
				       name, v->name, i, s->n, t, rc,
				       (long long)(res->at - RV_T0),
				       (unsigned long long)s->at);
			break;
		case RV_CANCEL:
			ops->cancel(r, res);
			check_uint(res->n, ==, 0,
				   "rate/%s: \"%s\" step %d: cancel(slot %u) at +%llu ns",
				   name, v->name, i, s->slot, t);
			break;
		case RV_SET_RATE:
			check_int(ops->set_rate(r, s->rate), ==, s->rc,
				  "rate/%s: \"%s\" step %d: set_rate(%g) at +%llu ns",
				  name, v->name, i, s->rate, t);
			break;
		case RV_SET_BURST:
			check_int(ops->set_burst(r, s->n), ==, s->rc,
				  "rate/%s: \"%s\" step %d: set_burst(%u) at +%llu ns",
				  name, v->name, i, s->n, t);
			break;
		case RV_END:
			break;
		}
	}
	ops->destroy(r);
}

static void vectors(const char *name, const struct rate_ops *ops)
{
	if (ops->no_fake_clock) {
		tap_skip("rate/%s: the %zu shared vectors: %s", name,
			 (size_t)RATE_NVECTORS, ops->no_fake_clock);
		return;
	}
	for (size_t v = 0; v < RATE_NVECTORS; v++)
		one_vector(name, ops, &rate_vectors[v]);
}

static void validation(const char *name, const struct rate_ops *ops)
{
	static const struct { double rate; unsigned burst; const char *what; } bad[] = {
		{ 0, 1, "rate 0" },
		{ -1, 1, "a negative rate" },
		{ NAN, 1, "rate NaN" },
		{ -INFINITY, 1, "rate -inf" },
		{ 10, 0, "burst 0" },
		{ 10, RATE_MAX_BURST + 1, "burst > RATE_MAX_BURST" },
	};
	struct rate *r;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		check_int(ops->create(&r, bad[i].rate, bad[i].burst, NULL), ==, EINVAL,
			  "rate/%s: create with %s is EINVAL", name, bad[i].what);
	if (check_int(ops->create(&r, INFINITY, RATE_MAX_BURST, NULL), ==, 0,
		      "rate/%s: create with an infinite rate and the largest burst", name)) {
		check_int(ops->allow(r, RATE_MAX_BURST), ==, 0,
			  "rate/%s: an infinite rate admits a whole burst", name);
		check_int(ops->allow(r, 0), ==, EINVAL, "rate/%s: allow(0) is EINVAL", name);
		check_int(ops->wait(r, 0, NULL), ==, EINVAL, "rate/%s: wait(0) is EINVAL", name);
		check_int(ops->wait(r, RATE_MAX_BURST + 1, NULL), ==, EINVAL,
			  "rate/%s: wait(n > burst) is EINVAL, not a hang", name);
		ops->destroy(r);
	}
}

static void wait_real(const char *name, const struct rate_ops *ops)
{
	struct rate *r;
	struct rate_reservation res;
	struct ctx c = { 0 };
	uint64_t t0, t1, t2;
	int rc = 0;

	/* 1000/s, burst 1: five waits span at least four intervals from the
	 * limiter's creation, its epoch. */
	t0 = mono_ns();
	ops->create(&r, 1000, 1, NULL);
	for (int i = 0; i < 5 && !rc; i++)
		rc = ops->wait(r, 1, NULL);
	t1 = mono_ns();
	check_int(rc, ==, 0, "rate/%s: five waits at 1000/s succeed", name);
	check_uint(t1 - t0, >=, 4 * MS, "rate/%s: ...and never return early (4 ms for 5 at 1000/s, burst 1)", name);
	tap_note("rate/%s: five waits took %.3f ms (4 ms due)", name, (double)(t1 - t0) / 1e6);
	ops->destroy(r);

	/* A deadline before the events may happen: ETIMEDOUT at once. */
	ops->create(&r, 1, 1, NULL);		/* T = 1 s */
	t0 = mono_ns();
	ops->allow(r, 1);
	c.deadline_ns = mono_ns() + 500 * MS;
	t1 = mono_ns();
	rc = ops->wait(r, 1, &c);
	t2 = mono_ns();
	check_int(rc, ==, ETIMEDOUT, "rate/%s: a wait whose deadline comes first fails with ETIMEDOUT", name);
	/* It would have slept 1 s and waiting for the deadline would take
	 * 500 ms: a quarter of the wait it refused is generous. */
	check_uint(t2 - t1, <, 250 * MS, "rate/%s: ...at once, without sleeping", name);
	tap_note("rate/%s: ETIMEDOUT came after %.3f ms", name, (double)(t2 - t1) / 1e6);
	/* Had it kept its reservation, the next would be due at t0 + 2 s. */
	if (ops->no_reserve) {
		tap_skip("rate/%s: the timed-out wait took nothing: %s", name, ops->no_reserve);
	} else {
		ops->reserve(r, 1, &res);
		check_uint(res.at, <, t0 + 2000 * MS, "rate/%s: ...and took nothing", name);
		ops->cancel(r, &res);
	}
	ops->destroy(r);
}

struct waiter {
	const struct rate_ops *ops;
	struct rate *r;
	const struct ctx *ctx;
	int rc;
	uint64_t returned;
	atomic_int done;
	pthread_t tid;
};

static void *waiter_main(void *p)
{
	struct waiter *w = p;

	w->rc = w->ops->wait(w->r, 1, w->ctx);
	w->returned = mono_ns();
	atomic_store(&w->done, 1);
	return NULL;
}

/* Wait up to ms for the waiter to finish; true if it did (and is joined). */
static bool finish_within(struct waiter *w, unsigned ms)
{
	for (unsigned i = 0; i < ms && !atomic_load(&w->done); i++)
		nap_ns(MS);
	if (!atomic_load(&w->done))
		return false;
	pthread_join(w->tid, NULL);
	return true;
}

static void cancellation(const char *name, const struct rate_ops *ops,
			 const char *cname, const struct ctx_ops *cops)
{
	const uint64_t T = 200 * MS;		/* rate 5/s */
	struct rate *r;
	struct ctx *c;
	struct waiter w;
	uint64_t ta, tb;

	/* Already cancelled: fails at once and takes nothing. */
	ops->create(&r, 5, 1, NULL);
	cops->create(&c, NULL, 0);
	cops->cancel(c, ECANCELED, NULL);
	check_int(ops->wait(r, 1, c), ==, ECANCELED,
		  "rate/%s+ctx/%s: wait on an already-cancelled context fails, even with credit", name, cname);
	ta = mono_ns();
	check_int(ops->allow(r, 1), ==, 0, "rate/%s+ctx/%s: ...and takes nothing", name, cname);
	tb = mono_ns();
	cops->destroy(c);

	if (ops->no_cancel) {
		tap_skip("rate/%s+ctx/%s: cancelling a blocked wait: %s", name, cname, ops->no_cancel);
		tap_skip("rate/%s+ctx/%s: refund after cancel: %s", name, cname, ops->no_cancel);
		ops->destroy(r);
		return;
	}

	/* allow() emptied the bucket between ta and tb: a wait now is due
	 * at ta + T or later, and blocks until then. */
	cops->create(&c, NULL, 0);
	w = (struct waiter){ .ops = ops, .r = r, .ctx = c };
	atomic_init(&w.done, 0);
	pthread_create(&w.tid, NULL, waiter_main, &w);
	nap_ns(20 * MS);
	cops->cancel(c, ECANCELED, NULL);
	check(finish_within(&w, 5000) && w.rc == ECANCELED,
	      "rate/%s+ctx/%s: cancel wakes a blocked wait, which fails with ECANCELED", name, cname);
	check_uint(w.returned, <, ta + T, "rate/%s+ctx/%s: ...promptly, before its time came", name, cname);
	tap_note("rate/%s+ctx/%s: ECANCELED %.3f ms after the allow (%.0f ms due)", name, cname,
		 (double)(w.returned - ta) / 1e6, (double)T / 1e6);
	cops->destroy(c);
	/*
	 * Refunded: one event is due T after the allow(), not 2T.  T/10 of
	 * grace for implementations whose places come back on a thread of
	 * their own (lb-queue's drain) and so a wake-up late; without the
	 * refund the next would still be T - T/10 away.
	 */
	sleep_until(tb + T + T / 10);
	check_int(ops->allow(r, 1), ==, 0,
		  "rate/%s+ctx/%s: ...and its reservation was refunded (the next allow on time succeeds)", name, cname);
	ops->destroy(r);
}

struct hammer {
	const struct rate_ops *ops;
	struct rate *r;
	uint64_t until;
	atomic_ulong admitted, calls;
};

static void *hammer_main(void *p)
{
	struct hammer *h = p;
	unsigned long got = 0, calls = 0;

	while (mono_ns() < h->until) {
		for (int i = 0; i < 64; i++, calls++)
			got += !h->ops->allow(h->r, 1);
	}
	atomic_fetch_add(&h->admitted, got);
	atomic_fetch_add(&h->calls, calls);
	return NULL;
}

static void exactness(const char *name, const struct rate_ops *ops)
{
	const unsigned burst = 100;
	const double rate = 1e6;
	struct hammer h = { .ops = ops };
	pthread_t t[4];
	uint64_t t0, t1;
	double bound;

	atomic_init(&h.admitted, 0);
	atomic_init(&h.calls, 0);
	t0 = mono_ns();
	if (!check_int(ops->create(&h.r, rate, burst, NULL), ==, 0, "rate/%s: create(1e6/s, 100)", name))
		return;
	h.until = t0 + 200 * MS;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hammer_main, &h);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	t1 = mono_ns();
	bound = burst + rate * (double)(t1 - t0) / 1e9;
	check(atomic_load(&h.admitted) <= bound,
	      "rate/%s: 4 threads hammering allow(1): %lu admitted <= burst + rate * elapsed = %.1f",
	      name, atomic_load(&h.admitted), bound);
	tap_note("rate/%s: %lu of %lu calls admitted in %.1f ms (%.1f%% of the bound)", name,
		 atomic_load(&h.admitted), atomic_load(&h.calls), (double)(t1 - t0) / 1e6,
		 100.0 * (double)atomic_load(&h.admitted) / bound);
	ops->destroy(h.r);
}

int main(void)
{
	const struct family *f = family_find("rate");
	const struct family *cf = family_find("ctx");
	const struct impl_info *i, *ci;
	unsigned real = 0;

	/* A broken implementation must fail this program, never hang it. */
	alarm(60);
	clock_init();
	if (!f)
		tap_skip_all("no rate family registered");
	for_each_impl(f, i, p) {
		const struct rate_ops *ops = rate_ops_of(i);

		if (i->flags & IMPL_TEST_ONLY) {
			check(i != NULL, "rate/%s: registered as a test-only negative control", i->name);
			continue;
		}
		if (i->flags & IMPL_FLOOR)
			continue;
		real++;
		vectors(i->name, ops);
		validation(i->name, ops);
		wait_real(i->name, ops);
		for_each_impl(cf, ci, q)
			if (!(ci->flags & IMPL_TEST_ONLY))
				cancellation(i->name, ops, ci->name, ctx_ops_of(ci));
		exactness(i->name, ops);
	}
	check_uint(real, >=, 3, "the registry lists at least three real rate implementations");
	return tap_done();
}
