/* SPDX-License-Identifier: MIT */
/*
 * ctx/busted: ctx/futex with one deliberate bug, the negative control for
 * the ctx checkers (IMPL_TEST_ONLY).  The bug: cancel wakes ONE sleeping
 * waiter instead of all of them (FUTEX_WAKE 1 instead of INT_MAX), a lost
 * wake-up that any broadcast to two or more waiters exposes.  Everything
 * else is ctx/futex's code.
 */
#include "ctx_impl.h"

static int busted_create(struct ctx **out, struct ctx *parent, uint64_t deadline)
{
	/* BUG: wakes one waiter per cancel; must wake all. */
	return futex_ctx_create(out, parent, deadline, &ctx_busted_ops, 1);
}

const struct ctx_ops ctx_busted_ops = {
	.info = {
		.name = "busted",
		.desc = "futex ctx that wakes one waiter on cancel, not all (negative control)",
		.flags = IMPL_TEST_ONLY,
	},
	.create = busted_create,
	.cancel = futex_ctx_cancel,
	.wait = futex_ctx_wait,
	.after_func = futex_ctx_after_func,
	.stop = futex_ctx_stop,
	.destroy = futex_ctx_destroy,
};
