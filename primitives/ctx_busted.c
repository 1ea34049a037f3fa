/* SPDX-License-Identifier: MIT */
/*
 * ctx/busted: ctx/futex with one deliberate bug, the negative control for the
 * ctx checkers (IMPL_TEST_ONLY).  The bug: cancel wakes ONE sleeping waiter
 * instead of all of them (FUTEX_WAKE 1), a lost wake-up that a broadcast
 * with two or more waiters exposes.  What follows describes the correct
 * protocol it is otherwise built on.  While the context is
 * live, err is 0; a waiter announces itself in `waiters`, re-checks err
 * and sleeps while it still reads 0.  cancel stores err (release) and, if
 * anyone announced itself, wakes them all with one FUTEX_WAKE; both sides
 * are seq_cst on (waiters, err), so either the canceller sees the waiter
 * or the waiter sees err and the kernel refuses to let it sleep.  Hooks
 * and children sit in the shared locked list.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "chaos.h"
#include "clock.h"
#include "compiler.h"
#include "ctx_impl.h"
#include "futex.h"

struct busted_ctx {
	struct ctx c;
	_Atomic uint32_t waiters;
	struct ctx_hooks hooks;
};

#define to_bc(x) container_of(x, struct busted_ctx, c)
#define err_word(c) ((_Atomic uint32_t *)&(c)->err)

static void busted_cancel(struct ctx *c, int err, const char *cause)
{
	struct busted_ctx *f = to_bc(c);
	struct ctx_hook *run;

	if (!ctx_claim(c, err, cause))
		return;
	/* seq_cst after ctx_claim's seq_cst store of err (see the top). */
	if (atomic_load(&f->waiters))
		futex_wake(err_word(c), 1);	/* BUG: must wake all */
	pthread_mutex_lock(&f->hooks.lock);
	run = hooks_close_locked(&f->hooks);
	pthread_mutex_unlock(&f->hooks.lock);
	hooks_run(run, c);
}

static int busted_create(struct ctx **out, struct ctx *parent, uint64_t deadline)
{
	struct busted_ctx *f = calloc(1, sizeof(*f));

	if (!f)
		return ENOMEM;
	hooks_init(&f->hooks);
	ctx_attach(&f->c, &ctx_busted_ops, parent, deadline);
	*out = &f->c;
	return 0;
}

static int busted_wait(struct ctx *c, uint64_t deadline)
{
	struct busted_ctx *f = to_bc(c);
	uint64_t until = ctx_wait_until(c, deadline);
	int err;

	while (!(err = ctx_err(c))) {
		int rc;

		atomic_fetch_add(&f->waiters, 1);
		chaos_point();
		rc = futex_wait(err_word(c), 0, until);
		atomic_fetch_sub(&f->waiters, 1);
		if (rc == ETIMEDOUT || (until && mono_ns() >= until))
			return ctx_wait_timed_out(c);
	}
	return err;
}

static int busted_after_func(struct ctx *c, struct ctx_hook *h)
{
	return hooks_add(&to_bc(c)->hooks, c, h);
}

static bool busted_stop(struct ctx *c, struct ctx_hook *h)
{
	return hooks_stop(&to_bc(c)->hooks, h);
}

static void busted_destroy(struct ctx *c)
{
	struct busted_ctx *f = to_bc(c);

	busted_cancel(c, ECANCELED, CAUSE_CANCELED);
	ctx_detach(c);
	hooks_destroy(&f->hooks);
	free(f);
}

const struct ctx_ops ctx_busted_ops = {
	.info = {
		.name = "busted",
		.desc = "futex ctx that wakes one waiter on cancel, not all (negative control)",
		.flags = IMPL_TEST_ONLY,
	},
	.create = busted_create,
	.cancel = busted_cancel,
	.wait = busted_wait,
	.after_func = busted_after_func,
	.stop = busted_stop,
	.destroy = busted_destroy,
};
