/* SPDX-License-Identifier: MIT */
/*
 * The semaphore stress checker (contend stress sema).
 *
 * Every thread loops over random operations on one semaphore of CAPACITY
 * permits: blocking acquire, acquire with a deadline 0-200 us away,
 * acquire under a cancellable context (ctx/futex) that the shared timer
 * service cancels 0-200 us later, at a random moment against the grants,
 * and try_acquire, each of a random weight (1..MAX_WEIGHT; 1 where the
 * implementation cannot weigh).  On success it adds its weight to a shared
 * `held` counter *after* acquiring and subtracts it *before* releasing, so
 * `held` never overstates what is really held: if it ever exceeds the
 * capacity, the semaphore admitted too much.
 *
 * Checked:
 *   - held <= capacity at every acquisition;
 *   - a timed acquire that fails says ETIMEDOUT, and not before its
 *     deadline; a cancelled one says ETIMEDOUT (its context's cause) and
 *     holds nothing; try_acquire fails only with EAGAIN;
 *   - at the end, with everyone gone, every permit is back (a timed-out or
 *     failed acquire took nothing; nothing was created or lost);
 *   - every blocked acquirer returns once the others stop (the driver's
 *     watchdog: a lost wake-up leaves a thread asleep with permits free).
 */
#include <errno.h>
#include <stdlib.h>

#include "chaos.h"
#include "clock.h"
#include "ctx.h"
#include "sema.h"
#include "stress.h"

#define CAPACITY 4
#define MAX_WEIGHT 3

struct sema_stress {
	struct sema *s;
	const struct sema_ops *ops;
	unsigned max_weight;
	_Atomic unsigned held cacheline_aligned;
};

static int stress_setup(struct stress *st)
{
	struct sema_stress *ss = aligned_alloc(CACHELINE, sizeof(*ss));

	if (!ss)
		return ENOMEM;
	ss->ops = sema_ops_of(st->impl);
	ss->max_weight = ss->ops->no_weighted ? 1 : MAX_WEIGHT;
	atomic_init(&ss->held, 0);
	if (ss->ops->create(&ss->s, CAPACITY)) {
		free(ss);
		return ENOMEM;
	}
	st->state = ss;
	return 0;
}

static void hold(struct stress_thread *t, struct sema_stress *ss, unsigned n)
{
	unsigned held = atomic_fetch_add(&ss->held, n) + n;

	if (held > CAPACITY)
		stress_violation(t->s, "%u permits held at once, capacity %u (thread %u took %u)",
				 held, CAPACITY, t->id, n);
	chaos_point();
	work_ns(stress_rand(t) % 300);
	atomic_fetch_sub(&ss->held, n);
	ss->ops->release(ss->s, n);
}

static void stress_thread(struct stress_thread *t)
{
	struct sema_stress *ss = t->s->state;
	const struct sema_ops *ops = ss->ops;

	while (stress_running(t)) {
		uint64_t r = stress_rand(t);
		unsigned n = 1 + (unsigned)(r >> 8) % ss->max_weight;
		int rc;

		switch (r % 9) {
		case 0: case 1: case 2: case 3: case 4:
			stress_begin(t, "acquire", n);
			rc = ops->acquire(ss->s, n, NULL);
			stress_end(t);
			if (rc)
				stress_violation(t->s, "acquire(%u) without deadline failed: %d", n, rc);
			else
				hold(t, ss, n);
			break;
		case 5: case 6: {
			struct ctx c = { .deadline_ns = mono_ns() + (r >> 16) % 200000 };

			stress_begin(t, "timed acquire", n);
			rc = ops->acquire(ss->s, n, &c);
			stress_end(t);
			if (rc == 0) {
				hold(t, ss, n);
			} else if (rc != ETIMEDOUT) {
				stress_violation(t->s, "timed acquire(%u) failed with %d, not ETIMEDOUT", n, rc);
			} else {
				uint64_t now = mono_ns();

				if (now < c.deadline_ns)
					stress_violation(t->s, "timed acquire(%u) gave up %llu ns before its deadline",
							 n, (unsigned long long)(c.deadline_ns - now));
			}
			break;
		}
		case 7:
			if (!ops->no_cancel && (r >> 40) % 2) {
				struct ctx *c;

				if (ctx_futex_ops.create(&c, NULL, mono_ns() + (r >> 16) % 200000))
					break;
				stress_begin(t, "cancellable acquire", n);
				rc = ops->acquire(ss->s, n, c);
				stress_end(t);
				if (rc == 0)
					hold(t, ss, n);
				else if (rc != ETIMEDOUT && rc != ECANCELED)
					stress_violation(t->s, "cancelled acquire(%u) failed with %d", n, rc);
				ctx_futex_ops.destroy(c);
				break;
			}
			/* fall through */
		default:
			stress_begin(t, "try_acquire", n);
			rc = ops->try_acquire(ss->s, n);
			stress_end(t);
			if (rc == 0)
				hold(t, ss, n);
			else if (rc != EAGAIN)
				stress_violation(t->s, "try_acquire(%u) failed with %d, not EAGAIN", n, rc);
			break;
		}
	}
}

static void stress_finish(struct stress *st)
{
	struct sema_stress *ss = st->state;
	unsigned avail = ss->ops->available(ss->s);

	if (avail != CAPACITY)
		stress_violation(st, "%u permits free after every thread left, capacity %u",
				 avail, CAPACITY);
}

static void stress_describe(struct stress *st, char *buf, size_t len)
{
	struct sema_stress *ss = st->state;

	snprintf(buf, len, "%u of %u permits free, %u held by the checker's count",
		 ss->ops->available(ss->s), CAPACITY, atomic_load(&ss->held));
}

static void stress_teardown(struct stress *st)
{
	struct sema_stress *ss = st->state;

	ss->ops->destroy(ss->s);
	free(ss);
}

const struct stress_family sema_stress = {
	.family = "sema",
	.checks = "never more than capacity held; timed acquire fails only with ETIMEDOUT and never early; acquires cancelled at random by the timer service hold nothing; try fails only with EAGAIN; all permits back at the end; no waiter left blocked (watchdog)",
	.setup = stress_setup,
	.thread = stress_thread,
	.finish = stress_finish,
	.describe = stress_describe,
	.teardown = stress_teardown,
};
