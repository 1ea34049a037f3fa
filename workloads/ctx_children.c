/* SPDX-License-Identifier: MIT */
/*
 * ctx/children: every thread derives children from one shared parent and
 * cancels them again: create(child of parent) + destroy (which cancels and
 * detaches it), the hot spot Go users report when many goroutines derive
 * from one request context.  Throughput is create+cancel pairs per second;
 * latency (sampled) is one pair.  The parent is never cancelled, so every
 * pair is the registration and O(1) detach in the parent's list.
 */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "ctx.h"
#include "workload.h"

static const struct param_spec children_params[] = {
	{ 0 },
};

static int children_setup(struct trial *t)
{
	struct ctx *parent;
	int rc = ctx_ops_of(t->impl)->create(&parent, NULL, 0);

	if (!rc)
		t->state = parent;
	return rc;
}

static void children_thread(struct worker *w)
{
	const struct ctx_ops *ops = ctx_ops_of(w->trial->impl);
	struct ctx *parent = w->trial->state;

	while (worker_running(w)) {
		bool timed = worker_sample(w);
		uint64_t t0 = timed ? now_ns() : 0;
		struct ctx *c;

		if (unlikely(ops->create(&c, parent, 0))) {
			w->errors++;
			continue;
		}
		ops->destroy(c);
		if (timed)
			worker_record(w, now_ns() - t0);
		w->ops++;
	}
}

static void children_finish(struct trial *t, struct trial_extra *x)
{
	(void)x;
	/* The shared parent must have survived every child untouched. */
	if (ctx_err(t->state))
		t->workers[0].violations++;
}

static void children_teardown(struct trial *t)
{
	ctx_ops_of(t->impl)->destroy(t->state);
}

const struct workload ctx_children_workload = {
	.name = "ctx/children",
	.family = "ctx",
	.desc = "child create+cancel throughput, every thread under one shared parent",
	.params = children_params,
	.sampled = true,
	.setup = children_setup,
	.thread = children_thread,
	.finish = children_finish,
	.teardown = children_teardown,
};
