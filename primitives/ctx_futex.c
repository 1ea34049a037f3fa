/* SPDX-License-Identifier: MIT */
/*
 * ctx/futex: waiters sleep on the err word itself.  While the context is
 * live, err is 0; a waiter announces itself in `waiters`, re-checks err
 * and sleeps while it still reads 0.  cancel stores err (release) and, if
 * anyone announced itself, wakes them all with one FUTEX_WAKE; both sides
 * are seq_cst on (waiters, err), so either the canceller sees the waiter
 * or the waiter sees err and the kernel refuses to let it sleep.  Hooks
 * and children sit in the shared locked list.
 *
 * The functions are shared with ctx/busted (ctx_busted.c), which is this
 * implementation created with a wake count of one instead of all.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "chaos.h"
#include "clock.h"
#include "compiler.h"
#include "ctx_impl.h"
#include "futex.h"

struct futex_ctx {
	struct ctx c;
	_Atomic uint32_t waiters;
	int wake;		/* sleepers one cancel wakes: INT_MAX */
	struct ctx_hooks hooks;
};

#define to_fc(x) container_of(x, struct futex_ctx, c)
#define err_word(c) ((_Atomic uint32_t *)&(c)->err)

void futex_ctx_cancel(struct ctx *c, int err, const char *cause)
{
	struct futex_ctx *f = to_fc(c);
	struct ctx_hook *run;

	if (!ctx_claim(c, err, cause))
		return;
	/* seq_cst after ctx_claim's seq_cst store of err (see the top). */
	if (atomic_load(&f->waiters))
		futex_wake(err_word(c), f->wake);
	pthread_mutex_lock(&f->hooks.lock);
	run = hooks_close_locked(&f->hooks);
	pthread_mutex_unlock(&f->hooks.lock);
	hooks_run(run, c);
}

int futex_ctx_create(struct ctx **out, struct ctx *parent, uint64_t deadline,
		     const struct ctx_ops *ops, int wake)
{
	struct futex_ctx *f = calloc(1, sizeof(*f));

	if (!f)
		return ENOMEM;
	f->wake = wake;
	hooks_init(&f->hooks);
	ctx_attach(&f->c, ops, parent, deadline);
	*out = &f->c;
	return 0;
}

static int futex_create(struct ctx **out, struct ctx *parent, uint64_t deadline)
{
	return futex_ctx_create(out, parent, deadline, &ctx_futex_ops, INT_MAX);
}

int futex_ctx_wait(struct ctx *c, uint64_t deadline)
{
	struct futex_ctx *f = to_fc(c);
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

int futex_ctx_after_func(struct ctx *c, struct ctx_hook *h)
{
	return hooks_add(&to_fc(c)->hooks, c, h);
}

bool futex_ctx_stop(struct ctx *c, struct ctx_hook *h)
{
	return hooks_stop(&to_fc(c)->hooks, h);
}

void futex_ctx_destroy(struct ctx *c)
{
	struct futex_ctx *f = to_fc(c);

	futex_ctx_cancel(c, ECANCELED, CAUSE_CANCELED);
	ctx_detach(c);
	hooks_destroy(&f->hooks);
	free(f);
}

const struct ctx_ops ctx_futex_ops = {
	.info = {
		.name = "futex",
		.desc = "waiters sleep on the err word; one FUTEX_WAKE wakes them all",
	},
	.create = futex_create,
	.cancel = futex_ctx_cancel,
	.wait = futex_ctx_wait,
	.after_func = futex_ctx_after_func,
	.stop = futex_ctx_stop,
	.destroy = futex_ctx_destroy,
};
