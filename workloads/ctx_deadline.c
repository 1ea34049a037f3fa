/* SPDX-License-Identifier: MIT */
/*
 * ctx/deadline: how late do deadlines fire?
 *
 * Every thread loops: create a context whose deadline is timeout_ns away,
 * block in wait() on it with no deadline of its own, and when it returns
 * record how long after the deadline it did.  That lateness is the whole
 * path a Go program pays for context.WithTimeout: the shared timer
 * service noticing the deadline, cancelling the context, and the waiter
 * waking.  Every operation is timed (each one lasts at least timeout_ns,
 * so a clock read is nothing beside it).
 */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "ctx.h"
#include "workload.h"

enum { P_TIMEOUT };
enum { X_EARLY };

static const struct param_spec deadline_params[] = {
	[P_TIMEOUT] = { "timeout_ns", 1000000, 1000, 10e9, NULL,
			"how far ahead each context's deadline is" },
	{ 0 },
};

static const char *const deadline_extras[] = {
	[X_EARLY] = "fired_early",
	NULL,
};

static int deadline_setup(struct trial *t)
{
	t->state = NULL;
	return 0;
}

static void deadline_thread(struct worker *w)
{
	const struct ctx_ops *ops = ctx_ops_of(w->trial->impl);
	uint64_t timeout = (uint64_t)w->trial->param[P_TIMEOUT];

	while (worker_running(w)) {
		struct ctx *c;
		uint64_t now;
		int rc;

		if (ops->create(&c, NULL, mono_ns() + timeout)) {
			w->errors++;
			continue;
		}
		rc = ops->wait(c, 0);
		now = mono_ns();
		if (rc != ETIMEDOUT)
			w->errors++;
		else if (now < c->deadline_ns)
			w->violations++;	/* fired before its deadline */
		else
			worker_record(w, now - c->deadline_ns);
		ops->destroy(c);
		w->ops++;
	}
}

static void deadline_finish(struct trial *t, struct trial_extra *x)
{
	double early = 0;

	for (unsigned i = 0; i < t->nthreads; i++)
		early += (double)t->workers[i].violations;
	x->v[X_EARLY] = early;
}

static void deadline_teardown(struct trial *t)
{
	(void)t;
}

const struct workload ctx_deadline_workload = {
	.name = "ctx/deadline",
	.family = "ctx",
	.desc = "lateness of context deadlines (timer service to woken waiter)",
	.params = deadline_params,
	.extras = deadline_extras,
	.setup = deadline_setup,
	.thread = deadline_thread,
	.finish = deadline_finish,
	.teardown = deadline_teardown,
};
