/* SPDX-License-Identifier: MIT */
/*
 * The semaphore family: a weighted counting semaphore in the shape of Go's
 * x/sync/semaphore.Weighted (a buffered channel of capacity N is the
 * unweighted special case, and N = 1 is a binary semaphore).
 *
 * Result codes, shared by every implementation:
 *   0          success
 *   EAGAIN     try_acquire: not enough permits free right now
 *   ETIMEDOUT  acquire: the context's deadline passed first; nothing taken
 *   EINVAL     n == 0, or n larger than the capacity (never a hang)
 *   ENOTSUP    n > 1 on an implementation that cannot weigh (see no_weighted)
 *   ENOMEM     create: out of memory
 *
 * Releasing permits that were not acquired is a caller bug; implementations
 * need not detect it.
 */
#ifndef CONTEND_SEMA_H
#define CONTEND_SEMA_H

#include <stdbool.h>

#include "compiler.h"
#include "ctx.h"
#include "impl.h"

struct sema;	/* opaque: each implementation defines its own object */

struct sema_ops {
	struct impl_info info;
	/* NULL, or why acquire/release of n > 1 is not supported. */
	const char *no_weighted;
	/* Create with `permits` permits, all free; 0 or an error code. */
	int (*create)(struct sema **out, unsigned permits);
	/* Free a semaphore nobody is using. */
	void (*destroy)(struct sema *s);
	/* Take n permits, blocking until they are free or ctx says stop. */
	int (*acquire)(struct sema *s, unsigned n, const struct ctx *ctx);
	/* Take n permits only if they are free now; 0 or EAGAIN. */
	int (*try_acquire)(struct sema *s, unsigned n);
	/* Give back n permits and wake whoever can now proceed. */
	void (*release)(struct sema *s, unsigned n);
	/* Permits free at this instant (racy snapshot, for tests/checks). */
	unsigned (*available)(struct sema *s);
};

static inline const struct sema_ops *sema_ops_of(const struct impl_info *i)
{
	return container_of(i, const struct sema_ops, info);
}

/* Largest capacity any implementation must support. */
#define SEMA_MAX_PERMITS (1u << 30)

extern const struct sema_ops sema_mutex_ops, sema_futex_ops, sema_spin_ops,
	sema_posix_ops, sema_busted_ops, sema_null_ops;

#endif
