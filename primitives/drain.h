/* SPDX-License-Identifier: MIT */
/*
 * The drain family: the in-flight tracker every request of a service
 * passes through, so that shutdown can stop admitting work and wait for
 * what was admitted (Go: http.Server.Shutdown's active-connection count,
 * or a sync.WaitGroup next to a closed quit channel).
 *
 * Semantics, shared by every implementation:
 *
 *   - enter() admits one unit of work and returns 0, unless the drain is
 *     closed: then it admits nothing and returns EPIPE.  Every admitted
 *     unit is matched by exactly one leave(), from any thread (a
 *     connection thread may enter and a worker leave).
 *   - close_and_wait(ctx) closes the drain (idempotent: every later enter
 *     is refused, and an enter racing with the close is either refused or
 *     counted, never lost in between), then blocks until nothing is in
 *     flight or the context says stop (its deadline passes, or it is
 *     cancelled; NULL waits forever).  It returns how many units were
 *     still in flight when it returned: 0 means drained.  It may be
 *     called again (say with a later deadline, after cancelling what is
 *     left) and by several threads at once.
 *   - The waiter is woken by the leave() that empties a closed drain: an
 *     event, not polling (Go's Shutdown polls every 1 to 500 ms).
 *   - inflight() is the number admitted and not yet left at that instant
 *     (a racy snapshot, never negative).
 *
 * Result codes: enter: 0 or EPIPE.  create: 0 or ENOMEM.
 *
 * Leaving a unit that was not entered is a caller bug; implementations
 * need not detect it.
 */
#ifndef CONTEND_DRAIN_H
#define CONTEND_DRAIN_H

#include <stdbool.h>

#include "compiler.h"
#include "ctx.h"
#include "impl.h"

struct drain;	/* opaque: each implementation defines its own object */

/* Most units in flight at once that every implementation must count. */
#define DRAIN_MAX_INFLIGHT (1ul << 29)

struct drain_ops {
	struct impl_info info;
	/* An open drain with nothing in flight; 0 or ENOMEM. */
	int (*create)(struct drain **out);
	/* Free a drain nobody is using. */
	void (*destroy)(struct drain *d);
	/* Admit one unit: 0, or EPIPE once closed (nothing admitted). */
	int (*enter)(struct drain *d);
	/* One admitted unit is done. */
	void (*leave)(struct drain *d);
	/* Close, then wait for nothing in flight or for ctx; returns how
	 * many were still in flight (0: drained). */
	unsigned long (*close_and_wait)(struct drain *d, const struct ctx *ctx);
	/* Units in flight at this instant (racy snapshot). */
	unsigned long (*inflight)(struct drain *d);
};

static inline const struct drain_ops *drain_ops_of(const struct impl_info *i)
{
	return container_of(i, const struct drain_ops, info);
}

extern const struct drain_ops drain_mutex_ops, drain_futex_ops,
	drain_atomic_ops, drain_sharded_ops, drain_chan_ops, drain_busted_ops;

#endif
