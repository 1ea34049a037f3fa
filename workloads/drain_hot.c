/* SPDX-License-Identifier: MIT */
/*
 * drain/hot: what admitting a request costs when every thread passes
 * through one drain in a closed loop.
 *
 * Every thread loops: enter(), hold_ns of CPU work, leave().  The drain is
 * never closed while measuring, so this is the price a service pays on
 * every request for being able to shut down gracefully: for most
 * implementations one or two atomic read-modify-writes on a shared line,
 * for drain/mutex two lock round trips.
 *
 * Throughput is enter+leave pairs per second.  Latency is the time of
 * enter() plus the time of leave(), sampled (worker_sample); the hold
 * between them is not in it (with hold_ns = 0 one interval covers both
 * calls, otherwise two intervals are timed and added).
 *
 * Invariants, counted and never fatal: an enter() refused while the drain
 * is open is a violation, any other failure an error; after every thread
 * has stopped, inflight() must be 0, close_and_wait() on the empty drain
 * must return 0 (under a plain one-second deadline, so a broken
 * implementation cannot hang the run), and an enter() after it must be refused.
 */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "ctx.h"
#include "drain.h"
#include "workload.h"

enum { P_HOLD };

static const struct param_spec hot_params[] = {
	[P_HOLD] = { "hold_ns", 0, 0, 1e9, NULL,
		     "CPU work done between enter and leave" },
	{ 0 },
};

static const struct sweep_metric hot_sweep[] = {
	{ "throughput_ops_s", "throughput",
	  "enter+leave pairs/s (log scale)", SWEEP_LOG },
	{ "lat_p50_ns", "p50", "enter+leave time p50 (ns, log scale)", SWEEP_LOG },
	{ "lat_p99_ns", "p99", "enter+leave time p99 (ns, log scale)", SWEEP_LOG },
	{ 0 },
};

struct hot {
	const struct drain_ops *ops;
	struct drain *d;
	uint64_t hold_iters;
};

static int hot_setup(struct trial *t)
{
	struct hot *h = malloc(sizeof(*h));
	int rc;

	if (!h)
		return ENOMEM;
	h->ops = drain_ops_of(t->impl);
	h->hold_iters = work_iters_for((uint64_t)t->param[P_HOLD]);
	rc = h->ops->create(&h->d);
	if (rc) {
		free(h);
		return rc;
	}
	t->state = h;
	return 0;
}

static void hot_thread(struct worker *w)
{
	struct hot *h = w->trial->state;
	const struct drain_ops *ops = h->ops;
	struct drain *d = h->d;
	const uint64_t hold = h->hold_iters;

	while (worker_running(w)) {
		bool timed = worker_sample(w);
		uint64_t t0 = timed ? now_ns() : 0, spent = 0;
		int rc = ops->enter(d);

		if (unlikely(rc)) {
			if (rc == EPIPE)
				w->violations++;	/* refused while open */
			else
				w->errors++;
			continue;
		}
		if (hold) {
			if (timed)
				spent = now_ns() - t0;
			work_iters(hold);
			if (timed)
				t0 = now_ns();
		}
		ops->leave(d);
		if (timed)
			worker_record(w, spent + now_ns() - t0);
		w->ops++;
	}
}

static void hot_finish(struct trial *t, struct trial_extra *x)
{
	struct hot *h = t->state;
	struct worker *w0 = &t->workers[0];
	struct ctx deadline = { .deadline_ns = mono_ns() + 1000000000u };
	int rc;

	(void)x;
	if (h->ops->inflight(h->d)) {
		w0->violations++;
		return;		/* close_and_wait would only time out */
	}
	if (h->ops->close_and_wait(h->d, &deadline))
		w0->violations++;
	rc = h->ops->enter(h->d);
	if (!rc) {
		w0->violations++;	/* admitted after close */
		h->ops->leave(h->d);
	} else if (rc != EPIPE) {
		w0->errors++;
	}
}

static void hot_teardown(struct trial *t)
{
	struct hot *h = t->state;

	h->ops->destroy(h->d);
	free(h);
}

const struct workload drain_hot_workload = {
	.name = "drain/hot",
	.family = "drain",
	.desc = "closed loop on one open drain: enter, hold, leave; pairs/s and enter+leave time",
	.params = hot_params,
	.sampled = true,
	.lat_what = "enter+leave time",
	.sweep = hot_sweep,
	.setup = hot_setup,
	.thread = hot_thread,
	.finish = hot_finish,
	.teardown = hot_teardown,
};
