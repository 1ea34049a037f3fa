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
 *   ECANCELED  acquire: the context was cancelled first; nothing taken (a
 *              permit granted at that moment is given back)
 *   EINVAL     n == 0, or n larger than the capacity (never a hang)
 *   ENOTSUP    n > 1 on an implementation that cannot weigh (see no_weighted),
 *              or a cancellable context on one that cannot be woken by a
 *              cancellation (see no_cancel)
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
	/* NULL, or why a cancellable context cannot wake a blocked acquire. */
	const char *no_cancel;
	/* Create with `permits` permits, all free; 0 or an error code. */
	int (*create)(struct sema **out, unsigned permits);
	/* Free a semaphore nobody is using. */
	void (*destroy)(struct sema *s);
	/* Take n permits, blocking until they are free or ctx says stop: its
	 * deadline passes or it is cancelled (an already-cancelled ctx fails
	 * at once, even with permits free). */
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
	sema_posix_ops, sema_chan_ops, sema_busted_ops, sema_null_ops;

#endif
