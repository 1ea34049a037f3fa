/* SPDX-License-Identifier: MIT */
/*
 * ctx/chan: Go's own design, where Done() is a channel that cancel closes.
 * A waiter receives from the done channel (nothing is ever sent, so the
 * receive returns only when the channel is closed, or at the waiter's
 * deadline); cancel claims the cancellation, closes the channel, which
 * wakes every receiver, and runs the hooks.  The channel is the chan
 * family's building block (chan_building_block, see sema_chan.c), so this
 * implementation measures how well a channel close broadcasts.
 */
#include <errno.h>
#include <stdlib.h>

#include "chan.h"
#include "compiler.h"
#include "ctx_impl.h"

extern const struct chan_ops *const chan_building_block;

struct chan_ctx {
	struct ctx c;
	struct ctx_hooks hooks;
	struct chan *done;	/* closed on cancellation; never sent to */
};

#define to_cc(x) container_of(x, struct chan_ctx, c)

static void chan_cancel(struct ctx *c, int err, const char *cause)
{
	struct chan_ctx *cc = to_cc(c);
	struct ctx_hook *run;

	if (!ctx_claim(c, err, cause))
		return;
	chan_building_block->close(cc->done);
	pthread_mutex_lock(&cc->hooks.lock);
	run = hooks_close_locked(&cc->hooks);
	pthread_mutex_unlock(&cc->hooks.lock);
	hooks_run(run, c);
}

static int chan_create(struct ctx **out, struct ctx *parent, uint64_t deadline)
{
	struct chan_ctx *cc = calloc(1, sizeof(*cc));

	if (!cc)
		return ENOMEM;
	if (chan_building_block->create(&cc->done, 1)) {
		free(cc);
		return ENOMEM;
	}
	hooks_init(&cc->hooks);
	ctx_attach(&cc->c, &ctx_chan_ops, parent, deadline);
	*out = &cc->c;
	return 0;
}

static int chan_wait(struct ctx *c, uint64_t deadline)
{
	struct ctx until = { .deadline_ns = ctx_wait_until(c, deadline) };
	void *item;

	if (!ctx_err(c))
		chan_building_block->recv(to_cc(c)->done, &item,
					  until.deadline_ns ? &until : NULL);
	return ctx_wait_timed_out(c);
}

static int chan_after_func(struct ctx *c, struct ctx_hook *h)
{
	return hooks_add(&to_cc(c)->hooks, c, h);
}

static bool chan_stop(struct ctx *c, struct ctx_hook *h)
{
	return hooks_stop(&to_cc(c)->hooks, h);
}

static void chan_destroy(struct ctx *c)
{
	struct chan_ctx *cc = to_cc(c);

	chan_cancel(c, ECANCELED, CAUSE_CANCELED);
	ctx_detach(c);
	hooks_destroy(&cc->hooks);
	chan_building_block->destroy(cc->done);
	free(cc);
}

const struct ctx_ops ctx_chan_ops = {
	.info = {
		.name = "chan",
		.desc = "Go's design: done is a channel that cancel closes; waiters receive",
	},
	.create = chan_create,
	.cancel = chan_cancel,
	.wait = chan_wait,
	.after_func = chan_after_func,
	.stop = chan_stop,
	.destroy = chan_destroy,
};
