/* SPDX-License-Identifier: MIT */
/*
 * sema/closed: the closed-loop semaphore workload.
 *
 * Every thread loops: acquire(weight), hold the permits for hold_ns of real
 * CPU work, release, think for think_ns.  permits = 1 makes it a binary
 * semaphore (a lock); permits = N bounds concurrency the way a buffered
 * channel does in Go.
 *
 * Latency is the time acquire() takes, sampled (see worker_sample).
 * Hand-offs: while holding, a thread compares itself with the last holder
 * recorded in a shared word and overwrites it only when it differs, so a
 * thread re-acquiring over and over writes nothing.  With permits = 1 the
 * holder is exclusive and the count is exact; with more permits concurrent
 * holders race on the word and it is an estimate.
 *
 * Invariants (never more holders than permits) are the stress suite's job
 * (contend stress sema), so the measured loop carries no extra shared
 * write; here only the final count is checked: every permit back.
 */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "sema.h"
#include "sema_wl.h"
#include "workload.h"

enum { P_PERMITS, P_WEIGHT, P_HOLD, P_THINK };

static const struct param_spec closed_params[] = {
	[P_PERMITS] = { "permits", 1, 1, SEMA_MAX_PERMITS, NULL,
			"permits in the semaphore (1 = binary)" },
	[P_WEIGHT] = { "weight", 1, 1, SEMA_MAX_PERMITS, NULL,
		       "permits taken by each acquire" },
	[P_HOLD] = { "hold_ns", 0, 0, 1e9, NULL,
		     "CPU work done while holding the permits" },
	[P_THINK] = { "think_ns", 0, 0, 1e9, NULL,
		      "CPU work done between release and the next acquire" },
	{ 0 },
};

struct closed {
	struct sema_wl sw;
	unsigned weight;
	uint64_t hold_iters, think_iters;
	_Atomic unsigned last_holder cacheline_aligned;
};

static const char *closed_check(const struct impl_info *impl,
				const double *param)
{
	return sema_wl_check(impl, param[P_PERMITS], param[P_WEIGHT]);
}

static int closed_setup(struct trial *t)
{
	struct closed *c = aligned_alloc(CACHELINE, sizeof(*c));
	int rc;

	if (!c)
		return ENOMEM;
	c->weight = (unsigned)t->param[P_WEIGHT];
	c->hold_iters = work_iters_for((uint64_t)t->param[P_HOLD]);
	c->think_iters = work_iters_for((uint64_t)t->param[P_THINK]);
	atomic_init(&c->last_holder, ~0u);
	rc = sema_wl_create(&c->sw, t, t->param[P_PERMITS]);
	if (rc) {
		free(c);
		return rc;
	}
	t->state = c;
	return 0;
}

static void closed_thread(struct worker *w)
{
	struct closed *c = w->trial->state;
	const struct sema_ops *ops = c->sw.ops;
	struct sema *s = c->sw.s;
	const unsigned weight = c->weight;

	while (worker_running(w)) {
		bool timed = worker_sample(w);
		uint64_t t0 = timed ? now_ns() : 0;

		if (unlikely(ops->acquire(s, weight, NULL))) {
			w->errors++;
			continue;
		}
		if (timed)
			worker_record(w, now_ns() - t0);

		if (atomic_load_explicit(&c->last_holder,
					 memory_order_relaxed) != w->id) {
			w->handoffs++;
			atomic_store_explicit(&c->last_holder, w->id,
					      memory_order_relaxed);
		}
		work_iters(c->hold_iters);
		ops->release(s, weight);
		w->ops++;
		work_iters(c->think_iters);
	}
}

static void closed_finish(struct trial *t, struct trial_extra *x)
{
	(void)x;
	sema_wl_verify(t, &((struct closed *)t->state)->sw);
}

static void closed_teardown(struct trial *t)
{
	struct closed *c = t->state;

	sema_wl_destroy(&c->sw);
	free(c);
}

const struct workload sema_closed_workload = {
	.name = "sema/closed",
	.family = "sema",
	.desc = "closed loop: acquire(weight), hold, release, think",
	.params = closed_params,
	.handoff = true,
	.sampled = true,
	.check = closed_check,
	.setup = closed_setup,
	.thread = closed_thread,
	.finish = closed_finish,
	.teardown = closed_teardown,
};
