/* SPDX-License-Identifier: MIT */
/*
 * Conformance of every registered ctx implementation, through the
 * registry: each semantic rule of primitives/ctx.h, one assertion each.
 * The test-only negative control is run through the broadcast rule alone,
 * which it must fail, to prove the rule can catch a lost wake-up.
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
#include "blocking.h"
#include "tap.h"

#define MS 1000000ull

struct counter_hook {
	struct ctx_hook h;
	atomic_int runs;
	int seen_err;
};

static void count_fn(struct ctx_hook *h, struct ctx *c)
{
	struct counter_hook *ch = (struct counter_hook *)h;

	ch->seen_err = ctx_err(c);
	atomic_fetch_add(&ch->runs, 1);
}

static void hook_init(struct counter_hook *ch)
{
	memset(ch, 0, sizeof(*ch));
	ch->h.fn = count_fn;
	atomic_init(&ch->h.state, HOOK_IDLE);
	atomic_init(&ch->runs, 0);
}

struct waiter {
	const struct ctx_ops *ops;
	struct ctx *c;
	int rc;
	uint64_t returned;
	atomic_int done;
	pthread_t tid;
};

static void *waiter_main(void *p)
{
	struct waiter *w = p;

	/* Bounded: a lost wake-up ends in a 0 return, not a hang. */
	w->rc = w->ops->wait(w->c, mono_ns() + 2000 * MS);
	w->returned = mono_ns();
	atomic_store(&w->done, 1);
	return NULL;
}

/*
 * W waiters on one context, cancel, and count who the cancel woke: within
 * a second (generous: a wake-up takes microseconds), where a lost wake-up
 * sleeps on to its own two-second bound.
 */
static int broadcast(const struct ctx_ops *ops, int nwaiters)
{
	struct waiter w[16];
	struct ctx *c;
	uint64_t t_cancel;
	int woke = 0;

	ops->create(&c, NULL, 0);
	for (int i = 0; i < nwaiters; i++) {
		w[i] = (struct waiter){ .ops = ops, .c = c };
		atomic_init(&w[i].done, 0);
		pthread_create(&w[i].tid, NULL, waiter_main, &w[i]);
	}
	nap_ms(50);	/* let them all go to sleep */
	t_cancel = mono_ns();
	ops->cancel(c, ECANCELED, NULL);
	for (int i = 0; i < nwaiters; i++) {
		pthread_join(w[i].tid, NULL);
		woke += w[i].rc == ECANCELED && w[i].returned - t_cancel < 1000 * MS;
	}
	ops->destroy(c);
	return woke;
}

static void rules(const char *n, const struct ctx_ops *ops)
{
	struct ctx *c, *child, *grand;
	struct counter_hook h1, h2;
	uint64_t t0;

	ops->create(&c, NULL, 0);
	check(ctx_err(c) == 0 && ctx_cause(c) == NULL && ctx_deadline(c) == 0,
	      "ctx/%s: a new context is live, with no cause and no deadline", n);
	ops->cancel(c, ECANCELED, "first");
	check(ctx_err(c) == ECANCELED && !strcmp(ctx_cause(c), "first"),
	      "ctx/%s: cancel sets err ECANCELED and the cause", n);
	ops->cancel(c, ETIMEDOUT, "second");
	check(ctx_err(c) == ECANCELED && !strcmp(ctx_cause(c), "first"),
	      "ctx/%s: the first cancellation wins; a second changes nothing", n);
	ops->create(&child, c, 0);
	check(ctx_err(child) == ECANCELED && !strcmp(ctx_cause(child), "first"),
	      "ctx/%s: a child of a cancelled parent starts cancelled with its cause", n);
	ops->destroy(child);
	ops->destroy(c);

	ops->create(&c, NULL, 0);
	ops->create(&child, c, 0);
	ops->create(&grand, child, 0);
	ops->cancel(child, ECANCELED, "mid");
	check(ctx_err(c) == 0, "ctx/%s: cancelling a child leaves its parent live", n);
	check(ctx_err(grand) == ECANCELED && !strcmp(ctx_cause(grand), "mid"),
	      "ctx/%s: cancelling a child cancels its own children with its cause", n);
	ops->destroy(grand);
	ops->destroy(child);
	ops->create(&child, c, 0);
	ops->destroy(child);	/* detached in O(1); the parent must not see it */
	ops->cancel(c, ECANCELED, "root");
	check(ctx_err(c) == ECANCELED, "ctx/%s: a parent whose child was destroyed cancels cleanly", n);
	ops->destroy(c);

	/* A tree: depth 3, breadth 3; cancel the root. */
	{
		struct ctx *lvl1[3], *lvl2[9], *leaf[27];
		bool all = true;

		ops->create(&c, NULL, 0);
		for (int i = 0; i < 3; i++)
			ops->create(&lvl1[i], c, 0);
		for (int i = 0; i < 9; i++)
			ops->create(&lvl2[i], lvl1[i / 3], 0);
		for (int i = 0; i < 27; i++)
			ops->create(&leaf[i], lvl2[i / 3], 0);
		ops->cancel(c, ECANCELED, "tree");
		for (int i = 0; i < 27; i++)
			all &= ctx_err(leaf[i]) == ECANCELED && !strcmp(ctx_cause(leaf[i]), "tree");
		check(all, "ctx/%s: cancelling the root of a 3x3x3 tree reaches every leaf with its cause", n);
		for (int i = 0; i < 27; i++)
			ops->destroy(leaf[i]);
		for (int i = 0; i < 9; i++)
			ops->destroy(lvl2[i]);
		for (int i = 0; i < 3; i++)
			ops->destroy(lvl1[i]);
		ops->destroy(c);
	}

	/* Deadlines. */
	ops->create(&c, NULL, mono_ns() - 1);
	check(ctx_err(c) == ETIMEDOUT, "ctx/%s: a deadline already past gives a context that starts cancelled", n);
	check(ctx_cause(c) && strstr(ctx_cause(c), "deadline"), "ctx/%s: ...with a deadline cause", n);
	ops->destroy(c);

	t0 = mono_ns();
	ops->create(&c, NULL, t0 + 20 * MS);
	nap_ms(200);
	check(ctx_err(c) == ETIMEDOUT, "ctx/%s: a deadline fires with nobody waiting (timer service)", n);
	ops->destroy(c);

	ops->create(&c, NULL, mono_ns() + 30 * MS);
	ops->create(&child, c, mono_ns() + 10000 * MS);
	check(ctx_deadline(child) == ctx_deadline(c), "ctx/%s: a child's deadline is clamped to its parent's earlier one", n);
	t0 = mono_ns();
	check_int(ops->wait(child, 0), ==, ETIMEDOUT, "ctx/%s: wait returns ETIMEDOUT when the clamped deadline fires", n);
	tap_note("ctx/%s: deadline fired %.3f ms after it was due", n,
		 (double)(mono_ns() - ctx_deadline(c)) / 1e6);
	check_uint(mono_ns(), >=, ctx_deadline(c), "ctx/%s: ...and not before it", n);
	ops->destroy(child);
	ops->destroy(c);

	ops->create(&c, NULL, 0);
	t0 = mono_ns();
	check_int(ops->wait(c, t0 + 20 * MS), ==, 0, "ctx/%s: wait with its own deadline returns 0 when nothing cancels", n);
	check_uint(mono_ns(), >=, t0 + 20 * MS, "ctx/%s: ...no earlier than that deadline", n);
	ops->destroy(c);

	/* After-func hooks. */
	ops->create(&c, NULL, 0);
	hook_init(&h1);
	hook_init(&h2);
	check_int(ops->after_func(c, &h1.h), ==, 0, "ctx/%s: after_func registers a hook", n);
	check_int(ops->after_func(c, &h1.h), ==, EBUSY, "ctx/%s: registering the same hook twice is EBUSY", n);
	ops->after_func(c, &h2.h);
	check(ops->stop(c, &h2.h), "ctx/%s: stop before the cancel prevents the hook (true)", n);
	ops->cancel(c, ECANCELED, NULL);
	check(atomic_load(&h1.runs) == 1 && h1.seen_err == ECANCELED,
	      "ctx/%s: the hook runs once on cancel and sees err", n);
	check(atomic_load(&h2.runs) == 0, "ctx/%s: a stopped hook never runs", n);
	ops->cancel(c, ECANCELED, NULL);
	check(atomic_load(&h1.runs) == 1, "ctx/%s: a second cancel runs no hook twice", n);
	check(!ops->stop(c, &h1.h), "ctx/%s: stop after the hook ran returns false", n);
	hook_init(&h2);
	ops->after_func(c, &h2.h);
	check(atomic_load(&h2.runs) == 1, "ctx/%s: after_func on a cancelled context runs the hook at once", n);
	ops->destroy(c);

	check_int(broadcast(ops, 8), ==, 8, "ctx/%s: cancel wakes all 8 blocked waiters", n);
}

int main(void)
{
	const struct family *f = family_find("ctx");
	const struct impl_info *i;
	unsigned real = 0;

	alarm(300);
	clock_init();
	if (!f)
		tap_skip_all("no ctx family registered");
	for_each_impl(f, i, p) {
		if (i->flags & IMPL_TEST_ONLY) {
			int woke = broadcast(ctx_ops_of(i), 8);

			check(woke < 8, "ctx/%s: the negative control fails the broadcast rule (%d of 8 woke)",
			      i->name, woke);
			continue;
		}
		real++;
		rules(i->name, ctx_ops_of(i));
	}
	check_uint(real, >=, 2, "the registry lists at least two real ctx implementations");
	return tap_done();
}
