/* SPDX-License-Identifier: MIT */
/*
 * ctx/mutex: a pthread mutex guards the hook list (children are hooks) and
 * a condition variable on CLOCK_MONOTONIC carries the wake-up: cancel
 * broadcasts to every waiter under the lock, then runs the hooks outside
 * it.  The done check is the shared lock-free err load.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "compiler.h"
#include "ctx_impl.h"

struct mutex_ctx {
	struct ctx c;
	struct ctx_hooks hooks;	/* hooks.lock also guards cond */
	pthread_cond_t cond;
};

#define to_mc(x) container_of(x, struct mutex_ctx, c)

static void mutex_cancel(struct ctx *c, int err, const char *cause)
{
	struct mutex_ctx *m = to_mc(c);
	struct ctx_hook *run;

	if (!ctx_claim(c, err, cause))
		return;
	pthread_mutex_lock(&m->hooks.lock);
	run = hooks_close_locked(&m->hooks);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->hooks.lock);
	hooks_run(run, c);
}

static int mutex_create(struct ctx **out, struct ctx *parent, uint64_t deadline)
{
	struct mutex_ctx *m = calloc(1, sizeof(*m));
	pthread_condattr_t attr;

	if (!m)
		return ENOMEM;
	hooks_init(&m->hooks);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &attr);
	pthread_condattr_destroy(&attr);
	ctx_attach(&m->c, &ctx_mutex_ops, parent, deadline);
	*out = &m->c;
	return 0;
}

static int mutex_wait(struct ctx *c, uint64_t deadline)
{
	struct mutex_ctx *m = to_mc(c);
	uint64_t until = ctx_wait_until(c, deadline);
	struct timespec ts = { (time_t)(until / 1000000000u),
			       (long)(until % 1000000000u) };
	int err;

	pthread_mutex_lock(&m->hooks.lock);
	while (!(err = ctx_err(c))) {
		if (!until)
			pthread_cond_wait(&m->cond, &m->hooks.lock);
		else if (pthread_cond_timedwait(&m->cond, &m->hooks.lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&m->hooks.lock);
	return ctx_wait_timed_out(c);
}

static int mutex_after_func(struct ctx *c, struct ctx_hook *h)
{
	return hooks_add(&to_mc(c)->hooks, c, h);
}

static bool mutex_stop(struct ctx *c, struct ctx_hook *h)
{
	return hooks_stop(&to_mc(c)->hooks, h);
}

static void mutex_destroy(struct ctx *c)
{
	struct mutex_ctx *m = to_mc(c);

	mutex_cancel(c, ECANCELED, CAUSE_CANCELED);
	ctx_detach(c);
	pthread_cond_destroy(&m->cond);
	hooks_destroy(&m->hooks);
	free(m);
}

const struct ctx_ops ctx_mutex_ops = {
	.info = {
		.name = "mutex",
		.desc = "pthread mutex + condvar broadcast; hooks and children in a locked list",
	},
	.create = mutex_create,
	.cancel = mutex_cancel,
	.wait = mutex_wait,
	.after_func = mutex_after_func,
	.stop = mutex_stop,
	.destroy = mutex_destroy,
};
