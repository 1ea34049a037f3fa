/* SPDX-License-Identifier: MIT */
/*
 * The cancellation-context family (Go's context.Context without values).
 *
 * A context is cancelled at most once: by cancel(), by its deadline (the
 * shared timer service fires it even when nobody waits), or by its
 * parent's cancellation.  The first cancellation wins; err and cause never
 * change afterwards, and every descendant inherits them.
 *
 * Every implementation's object starts with `struct ctx`, whose `err` word
 * makes the done check the same lock-free load everywhere (ctx_err()).
 * Implementations differ in how waiters sleep and wake and how hooks and
 * children are kept.
 *
 * Hooks (Go's context.AfterFunc) are caller-owned `struct ctx_hook`s: no
 * allocation on any path.  A hook runs exactly once, on the cancelling
 * thread, or at once in after_func() if the context is already cancelled.
 * stop() reports whether it prevented the call; when it returns, the hook
 * has either been prevented or has finished running, so its memory may be
 * reused (Go's stop does not wait; C needs it to).  Children are linked to
 * their parent by such a hook, so detaching one is O(1).
 *
 * A `struct ctx` with ops == NULL is a plain deadline (a stack object that
 * nothing ever cancels): every blocking call accepts one, and NULL means
 * wait forever.
 *
 * Result codes: ECANCELED (cancelled), ETIMEDOUT (deadline exceeded).
 */
#ifndef CONTEND_CTX_H
#define CONTEND_CTX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "impl.h"

struct ctx;

enum ctx_hook_state {
	HOOK_IDLE,	/* not registered */
	HOOK_ARMED,	/* registered, waiting for a cancellation */
	HOOK_RUNNING,	/* its function is running */
	HOOK_DONE,	/* its function has returned */
	HOOK_STOPPED,	/* stop() prevented it */
};

struct ctx_hook {
	struct ctx_hook *next, *prev;	/* the implementation's list */
	void *slot;			/* the implementation's bookkeeping */
	void (*fn)(struct ctx_hook *h, struct ctx *c);
	void *arg;
	_Atomic int state;		/* enum ctx_hook_state */
};

/* The timer service's handle on a context with a deadline. */
struct ctx_timer {
	uint64_t when;		/* absolute CLOCK_MONOTONIC ns */
	long heap_index;	/* -1 when not queued */
};

struct ctx {
	const struct ctx_ops *ops;	/* NULL: a plain deadline */
	uint64_t deadline_ns;		/* absolute CLOCK_MONOTONIC; 0 = none */
	_Atomic int err;		/* 0, then ECANCELED or ETIMEDOUT for good */
	const char *_Atomic cause;	/* set just before err, by the winner */
	struct ctx *parent;
	struct ctx_hook link;		/* this context's hook in its parent */
	struct ctx_timer timer;
};

struct ctx_ops {
	struct impl_info info;
	/* A child of parent (NULL: of the background root) with a deadline
	 * (0 = none), clamped to the parent's earlier one; a deadline already
	 * past gives a context that starts cancelled.  0 or ENOMEM. */
	int (*create)(struct ctx **out, struct ctx *parent, uint64_t deadline_ns);
	/* Cancel with err (ECANCELED or ETIMEDOUT) and a static cause string;
	 * idempotent, thread-safe, never blocks on a waiter. */
	void (*cancel)(struct ctx *c, int err, const char *cause);
	/* Block until cancelled (returns its err) or until deadline_ns
	 * (0 = none) passes first (returns 0). */
	int (*wait)(struct ctx *c, uint64_t deadline_ns);
	/* Register h (h->fn, h->arg set by the caller); runs it at once if
	 * already cancelled.  0 or EBUSY if h is already registered. */
	int (*after_func)(struct ctx *c, struct ctx_hook *h);
	/* true if it prevented h; false if h ran or is finishing (waited for). */
	bool (*stop)(struct ctx *c, struct ctx_hook *h);
	/* Cancel if not yet, detach from the parent and the timer, free. */
	void (*destroy)(struct ctx *c);
};

static inline const struct ctx_ops *ctx_ops_of(const struct impl_info *i)
{
	return (const struct ctx_ops *)((const char *)i -
					 __builtin_offsetof(struct ctx_ops, info));
}

/* The done check: one acquire load.  0 while not cancelled. */
static inline int ctx_err(const struct ctx *c)
{
	return c ? atomic_load_explicit(&c->err, memory_order_acquire) : 0;
}

/* The first cancellation's cause, or NULL while not cancelled. */
static inline const char *ctx_cause(const struct ctx *c)
{
	return ctx_err(c) ? atomic_load_explicit(&c->cause, memory_order_relaxed) : NULL;
}

/* The deadline a waiter must honour: 0 when there is none. */
static inline uint64_t ctx_deadline(const struct ctx *c)
{
	return c ? c->deadline_ns : 0;
}

/* Whether c can be cancelled (so a waiter must register a hook). */
static inline bool ctx_cancellable(const struct ctx *c)
{
	return c && c->ops;
}

extern const struct ctx_ops ctx_mutex_ops, ctx_futex_ops, ctx_atomic_ops,
	ctx_chan_ops, ctx_busted_ops;

#endif
