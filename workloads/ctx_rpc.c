/* SPDX-License-Identifier: MIT */
/*
 * ctx/rpc: the deadline-bounded RPC fan-out of the seed document, as a
 * closed loop.  Every thread is a caller: it creates a context with a
 * deadline deadline_ns away, acquires one of `slots` permits of a
 * semaphore (the sema implementation named by the `sema` parameter) under
 * that context, then "calls": waits on its context for service_ns, which
 * the deadline may cut short.  Each request ends one of three ways,
 * counted in the extra columns:
 *   completed        got a slot and the call finished in time
 *   before_slot      the deadline passed while waiting for a slot
 *   mid_flight       got a slot, but the deadline cut the call short
 * Latency is each request's duration, start to outcome.  The seed's
 * example (2 slots, 1 s deadlines, 2 s calls) is slots=2
 * deadline_ns=1000000000 service_ns=2000000000; the defaults scale it down
 * a thousandfold so a trial holds thousands of requests.
 */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "ctx.h"
#include "registry.h"
#include "sema.h"
#include "workload.h"

enum { P_SLOTS, P_DEADLINE, P_SERVICE, P_SEMA };
enum { X_COMPLETED, X_BEFORE, X_MID, X_SHARE_DONE, X_SHARE_BEFORE, X_SHARE_MID };

/* The sema implementations that can be cancelled, filled from the registry. */
static const char *sema_names[16];

static bool cancellable(const struct impl_info *i)
{
	return !sema_ops_of(i)->no_cancel;
}

static struct param_spec rpc_params[];

__attribute__((constructor)) static void fill_sema_names(void)
{
	family_choices("sema", sema_names, 16, cancellable, "futex",
		       &rpc_params[P_SEMA].def);
}

static struct param_spec rpc_params[] = {
	[P_SLOTS] = { "slots", 2, 1, 1 << 20, NULL, "concurrent calls allowed (semaphore permits)" },
	[P_DEADLINE] = { "deadline_ns", 1000000, 1000, 60e9, NULL, "each request's deadline" },
	[P_SERVICE] = { "service_ns", 500000, 0, 60e9, NULL, "how long a call takes" },
	[P_SEMA] = { "sema", 1, 0, 15, sema_names, "the semaphore implementation for the slots" },
	{ 0 },
};

static const char *const rpc_extras[] = {
	[X_COMPLETED] = "completed",
	[X_BEFORE] = "before_slot",
	[X_MID] = "mid_flight",
	[X_SHARE_DONE] = "share_completed",
	[X_SHARE_BEFORE] = "share_before_slot",
	[X_SHARE_MID] = "share_mid_flight",
	NULL,
};

struct rpc {
	const struct sema_ops *sops;
	struct sema *slots;
	unsigned nslots;
};

static int rpc_setup(struct trial *t)
{
	struct rpc *r = calloc(1, sizeof(*r));
	const struct impl_info *si;
	int rc;

	if (!r)
		return ENOMEM;
	si = family_impl(family_find("sema"), sema_names[(int)t->param[P_SEMA]]);
	r->sops = sema_ops_of(si);
	r->nslots = (unsigned)t->param[P_SLOTS];
	rc = r->sops->create(&r->slots, r->nslots);
	if (rc) {
		free(r);
		return rc;
	}
	t->state = r;
	return 0;
}

static void rpc_thread(struct worker *w)
{
	const struct ctx_ops *ops = ctx_ops_of(w->trial->impl);
	struct rpc *r = w->trial->state;
	uint64_t deadline = (uint64_t)w->trial->param[P_DEADLINE];
	uint64_t service = (uint64_t)w->trial->param[P_SERVICE];

	while (worker_running(w)) {
		uint64_t t0 = mono_ns();
		struct ctx *c;
		int rc;

		if (ops->create(&c, NULL, t0 + deadline)) {
			w->errors++;
			continue;
		}
		rc = r->sops->acquire(r->slots, 1, c);
		if (rc == ETIMEDOUT) {
			w->extra[X_BEFORE]++;
		} else if (rc) {
			w->errors++;
		} else {
			/* The call: done at t0 + service unless the deadline cuts it. */
			rc = ops->wait(c, mono_ns() + service);
			r->sops->release(r->slots, 1);
			if (rc == 0)
				w->extra[X_COMPLETED]++;
			else
				w->extra[X_MID]++;
		}
		worker_record(w, mono_ns() - t0);
		ops->destroy(c);
		w->ops++;
	}
}

static void rpc_finish(struct trial *t, struct trial_extra *x)
{
	struct rpc *r = t->state;
	double all;

	for (unsigned i = 0; i < t->nthreads; i++)
		for (int k = X_COMPLETED; k <= X_MID; k++)
			x->v[k] += t->workers[i].extra[k];
	all = x->v[X_COMPLETED] + x->v[X_BEFORE] + x->v[X_MID];
	for (int k = 0; k < 3; k++)
		x->v[X_SHARE_DONE + k] = all ? x->v[X_COMPLETED + k] / all : 0;
	if (r->sops->available(r->slots) != r->nslots)
		t->workers[0].violations++;
}

static void rpc_teardown(struct trial *t)
{
	struct rpc *r = t->state;

	r->sops->destroy(r->slots);
	free(r);
}

const struct workload ctx_rpc_workload = {
	.name = "ctx/rpc",
	.family = "ctx",
	.desc = "deadline-bounded RPCs competing for semaphore slots: completed / before slot / mid-flight",
	.params = rpc_params,
	.extras = rpc_extras,
	.setup = rpc_setup,
	.thread = rpc_thread,
	.finish = rpc_finish,
	.teardown = rpc_teardown,
};
