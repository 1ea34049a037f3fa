/* SPDX-License-Identifier: MIT */
/*
 * The channel family: a bounded FIFO channel of pointer-sized items, in the
 * shape of Go's buffered `chan T` (capacity >= 1; Go's unbuffered channel
 * is not modelled).
 *
 * Semantics, shared by every implementation:
 *
 *   - Items are opaque `void *` values (NULL included); each item sent is
 *     received exactly once, and items sent by one thread are received in
 *     the order it sent them.
 *   - send blocks while the channel is full, recv while it is empty, each
 *     until it can proceed, the channel is closed, or its context says
 *     stop (its deadline passes, or it is cancelled).  A context that is
 *     already cancelled fails the call at once, even if it could proceed,
 *     and nothing is sent or received.
 *   - close() stops sends: every later send, and every send blocked at that
 *     moment, returns EPIPE without sending.  Receivers first drain what is
 *     buffered, then get EPIPE.  A send racing with close either completes
 *     (and its item will be received) or returns EPIPE; nothing is lost in
 *     between.  close() is thread-safe and idempotent (Go panics on a second
 *     close; here it returns EPIPE and changes nothing).
 *   - len() is the number of items buffered at that instant (a racy
 *     snapshot), never more than cap().  cap() is exactly the capacity
 *     asked for at create().
 *
 * Result codes:
 *   0          success
 *   EAGAIN     try_send: full; try_recv: empty and not closed, or closed
 *              while a send that began before close(), or another receive,
 *              is still completing (a try call never waits for another
 *              thread; asking again gets the item or EPIPE)
 *   EPIPE      send/try_send: closed; recv/try_recv: closed and drained;
 *              close: already closed
 *   ETIMEDOUT  send/recv: the context's deadline passed first
 *   ECANCELED  send/recv: the context was cancelled first
 *   EINVAL     create: capacity 0 or above CHAN_MAX_CAP
 *   ENOMEM     create: out of memory
 *
 * Blocking waits never poll: a sleeper is woken by the operation that lets
 * it proceed, by close(), or by its context's cancellation hook (see ctx.h).
 */
#ifndef CONTEND_CHAN_H
#define CONTEND_CHAN_H

#include <stdbool.h>

#include "compiler.h"
#include "ctx.h"
#include "impl.h"

struct chan;	/* opaque: each implementation defines its own object */

#define CHAN_MAX_CAP (1u << 24)

struct chan_ops {
	struct impl_info info;
	int (*create)(struct chan **out, unsigned cap);
	/* Free a channel nobody is using (buffered items are dropped). */
	void (*destroy)(struct chan *c);
	int (*send)(struct chan *c, void *item, const struct ctx *ctx);
	int (*recv)(struct chan *c, void **item, const struct ctx *ctx);
	int (*try_send)(struct chan *c, void *item);
	int (*try_recv)(struct chan *c, void **item);
	int (*close)(struct chan *c);
	unsigned (*len)(struct chan *c);
	unsigned (*cap)(struct chan *c);
};

static inline const struct chan_ops *chan_ops_of(const struct impl_info *i)
{
	return container_of(i, const struct chan_ops, info);
}

extern const struct chan_ops chan_mutex_ops, chan_futex_ops, chan_lockfree_ops,
	chan_ck_ops, chan_busted_ops;

#endif
