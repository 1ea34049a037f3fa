/* SPDX-License-Identifier: MIT */
/*
 * Micro-benchmark cases for the semaphore family:
 *   acquire_release      uncontended acquire(1) + release(1)
 *   try_acquire_fail     try_acquire(1) on a semaphore with no free permit
 *   acquire_release      the same at 2..N threads on one binary semaphore
 *                        (contended: every thread hammers it)
 *   acquire_release_ctx  uncontended acquire(1, live cancellable context) +
 *                        release: the extra cost of cancellability beside
 *                        acquire_release (ctx/futex; skipped, with the
 *                        reason, where the implementation cannot be
 *                        cancelled)
 */
#include <stdlib.h>

#include "ctx.h"
#include "micro.h"
#include "sema.h"

static void *sema1_setup(const struct impl_info *impl)
{
	struct sema *s;

	return sema_ops_of(impl)->create(&s, 1) ? NULL : s;
}

static void *sema0_setup(const struct impl_info *impl)
{
	struct sema *s = sema1_setup(impl);

	/* Hold the only permit, so every try_acquire fails. */
	if (s)
		sema_ops_of(impl)->acquire(s, 1, NULL);
	return s;
}

static void sema_teardown(void *obj, const struct impl_info *impl)
{
	sema_ops_of(impl)->destroy(obj);
}

static void sema0_teardown(void *obj, const struct impl_info *impl)
{
	sema_ops_of(impl)->release(obj, 1);
	sema_teardown(obj, impl);
}

static void acquire_release(struct gb_state *st, void *obj,
			    const struct impl_info *impl)
{
	const struct sema_ops *ops = sema_ops_of(impl);
	struct sema *s = obj;
	size_t n;

	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++) {
			ops->acquire(s, 1, NULL);
			ops->release(s, 1);
		}
}

static void try_fail(struct gb_state *st, void *obj,
		     const struct impl_info *impl)
{
	const struct sema_ops *ops = sema_ops_of(impl);
	struct sema *s = obj;
	size_t n;

	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++)
			ops->try_acquire(s, 1);
}

struct with_ctx {
	struct sema *s;
	struct ctx *c;
};

static void *ctx_setup(const struct impl_info *impl)
{
	struct with_ctx *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->s = sema1_setup(impl);
	if (!w->s || ctx_futex_ops.create(&w->c, NULL, 0)) {
		if (w->s)
			sema_teardown(w->s, impl);
		free(w);
		return NULL;
	}
	return w;
}

static void ctx_teardown(void *obj, const struct impl_info *impl)
{
	struct with_ctx *w = obj;

	ctx_futex_ops.destroy(w->c);
	sema_teardown(w->s, impl);
	free(w);
}

static void acquire_release_ctx(struct gb_state *st, void *obj,
				const struct impl_info *impl)
{
	const struct sema_ops *ops = sema_ops_of(impl);
	struct with_ctx *w = obj;
	size_t n;

	if (ops->no_cancel) {
		gb_skip_with_error(st, ops->no_cancel);
		return;
	}
	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++) {
			ops->acquire(w->s, 1, w->c);
			ops->release(w->s, 1);
		}
}

static const struct micro_case sema_cases[] = {
	{ "acquire_release", true, sema1_setup, acquire_release, sema_teardown },
	{ "try_acquire_fail", false, sema0_setup, try_fail, sema0_teardown },
	{ "acquire_release_ctx", false, ctx_setup, acquire_release_ctx, ctx_teardown },
	{ 0 },
};

const struct micro_family sema_micro = {
	.cases = sema_cases,
};
