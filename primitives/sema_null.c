/* SPDX-License-Identifier: MIT */
/*
 * sema/null: every operation succeeds at once and does nothing.  It is not
 * a semaphore; it is the floor under every other one: what a call through
 * the ops table costs (one indirect call and a return), measured by
 * `contend micro` beside the real implementations.  Flagged IMPL_FLOOR, so
 * no workload, stress run or conformance test ever treats it as real.
 */
#include <errno.h>
#include <stdlib.h>

#include "sema.h"

struct null_sema {
	unsigned cap;
};

static int null_create(struct sema **out, unsigned permits)
{
	struct null_sema *s = malloc(sizeof(*s));

	if (!s)
		return ENOMEM;
	s->cap = permits;
	*out = (struct sema *)s;
	return 0;
}

static void null_destroy(struct sema *s)
{
	free(s);
}

static int null_acquire(struct sema *s, unsigned n, const struct ctx *ctx)
{
	(void)s;
	(void)n;
	(void)ctx;
	return 0;
}

static int null_try_acquire(struct sema *s, unsigned n)
{
	(void)s;
	(void)n;
	return 0;
}

static void null_release(struct sema *s, unsigned n)
{
	(void)s;
	(void)n;
}

static unsigned null_available(struct sema *s)
{
	return ((struct null_sema *)s)->cap;
}

const struct sema_ops sema_null_ops = {
	.info = {
		.name = "null",
		.desc = "does nothing: the cost floor of one call through the ops table",
		.flags = IMPL_FLOOR,
	},
	.create = null_create,
	.destroy = null_destroy,
	.acquire = null_acquire,
	.try_acquire = null_try_acquire,
	.release = null_release,
	.available = null_available,
};
