/* SPDX-License-Identifier: MIT */
/*
 * Micro-benchmark cases for the ctx family (the figures Go users quote):
 *   err_check            ctx_err() on a live context: the done check
 *   child_create_cancel  create a child of a live parent, then destroy it
 *                        (cancel + O(1) detach); contended: every thread
 *                        under the same parent
 *   cancel_1000_children cancel a parent that has 1000 children (building
 *                        and freeing the tree is not timed)
 */
#include <errno.h>
#include <stdlib.h>

#include "ctx.h"
#include "micro.h"

#define CHILDREN 1000

static void *parent_setup(const struct impl_info *impl)
{
	struct ctx *c;

	return ctx_ops_of(impl)->create(&c, NULL, 0) ? NULL : c;
}

static void parent_teardown(void *obj, const struct impl_info *impl)
{
	ctx_ops_of(impl)->destroy(obj);
}

static void err_check(struct gb_state *st, void *obj, const struct impl_info *impl)
{
	struct ctx *c = obj;
	size_t n;
	int sum = 0;

	(void)impl;
	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++) {
			sum += ctx_err(c);
			__asm__ __volatile__("" : "+r"(sum));
		}
}

static void child_create_cancel(struct gb_state *st, void *obj,
				const struct impl_info *impl)
{
	const struct ctx_ops *ops = ctx_ops_of(impl);
	struct ctx *parent = obj, *c;
	size_t n;

	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++) {
			if (ops->create(&c, parent, 0))
				continue;
			ops->destroy(c);
		}
}

static void cancel_many(struct gb_state *st, void *obj,
			const struct impl_info *impl)
{
	const struct ctx_ops *ops = ctx_ops_of(impl);
	struct ctx **kids = obj, *parent;
	size_t n;

	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++) {
			gb_pause_timing(st);
			ops->create(&parent, NULL, 0);
			for (int k = 0; k < CHILDREN; k++)
				ops->create(&kids[k], parent, 0);
			gb_resume_timing(st);
			ops->cancel(parent, ECANCELED, NULL);
			gb_pause_timing(st);
			for (int k = 0; k < CHILDREN; k++)
				ops->destroy(kids[k]);
			ops->destroy(parent);
			gb_resume_timing(st);
		}
}

static void *kids_setup(const struct impl_info *impl)
{
	(void)impl;
	return calloc(CHILDREN, sizeof(struct ctx *));
}

static void kids_teardown(void *obj, const struct impl_info *impl)
{
	(void)impl;
	free(obj);
}

static const struct micro_case ctx_cases[] = {
	{ "err_check", false, parent_setup, err_check, parent_teardown },
	{ "child_create_cancel", true, parent_setup, child_create_cancel, parent_teardown },
	{ "cancel_1000_children", false, kids_setup, cancel_many, kids_teardown },
	{ 0 },
};

const struct micro_family ctx_micro = {
	.cases = ctx_cases,
};
