/* SPDX-License-Identifier: MIT */
/*
 * What the ctx implementations share (not part of the family interface):
 * claiming the one cancellation, the hook list, parent links and the
 * deadline timer service.
 */
#ifndef CONTEND_CTX_IMPL_H
#define CONTEND_CTX_IMPL_H

#include <pthread.h>

#include "ctx.h"

#define CAUSE_CANCELED "context canceled"
#define CAUSE_DEADLINE "context deadline exceeded"

/*
 * Claim the cancellation: true for exactly one caller, which has then set
 * cause and err (cause first, so whoever sees err sees its cause).
 */
bool ctx_claim(struct ctx *c, int err, const char *cause);

/*
 * A hook list under a mutex.  Closing it (on cancellation) marks every
 * armed hook RUNNING under the lock and hands the list to the canceller,
 * so stop() either unlinks an armed hook in O(1) or sees it claimed and
 * waits for it to finish; nothing ever touches a hook its owner may free.
 */
struct ctx_hooks {
	pthread_mutex_t lock;
	struct ctx_hook head;	/* circular, doubly linked */
	bool closed;
};

void hooks_init(struct ctx_hooks *hs);
void hooks_destroy(struct ctx_hooks *hs);
int hooks_add(struct ctx_hooks *hs, struct ctx *c, struct ctx_hook *h);
bool hooks_stop(struct ctx_hooks *hs, struct ctx_hook *h);
/* With hs->lock held: close the list; returns the hooks to run. */
struct ctx_hook *hooks_close_locked(struct ctx_hooks *hs);
/* Without any lock: run them, each exactly once. */
void hooks_run(struct ctx_hook *list, struct ctx *c);

/*
 * After an implementation's own state is ready: link c to its parent
 * (inheriting a cancellation that already happened), clamp its deadline
 * and arm the timer, or cancel at once if the deadline has passed.
 */
void ctx_attach(struct ctx *c, const struct ctx_ops *ops, struct ctx *parent,
		uint64_t deadline_ns);
/* Before freeing: disarm the timer and detach from the parent. */
void ctx_detach(struct ctx *c);

/*
 * A waiter does not wait for the timer service to notice its context's
 * deadline: it sleeps until the earlier of its own deadline and the
 * context's, and if it wakes at the context's, fires it itself (whoever
 * sees a deadline pass first may fire it; the first cancellation wins).
 * That makes a deadline one wake-up late, not two.
 */
static inline uint64_t ctx_wait_until(const struct ctx *c, uint64_t deadline)
{
	if (c->deadline_ns && (!deadline || c->deadline_ns < deadline))
		return c->deadline_ns;
	return deadline;
}

/* After a timed-out sleep: fire the context's deadline if it has passed. */
int ctx_wait_timed_out(struct ctx *c);

/* ctx/futex's functions, shared with its broken twin ctx/busted. */
int futex_ctx_create(struct ctx **out, struct ctx *parent, uint64_t deadline,
		     const struct ctx_ops *ops, int wake);
void futex_ctx_cancel(struct ctx *c, int err, const char *cause);
int futex_ctx_wait(struct ctx *c, uint64_t deadline);
int futex_ctx_after_func(struct ctx *c, struct ctx_hook *h);
bool futex_ctx_stop(struct ctx *c, struct ctx_hook *h);
void futex_ctx_destroy(struct ctx *c);

/* The shared deadline service: one thread, one min-heap, no polling. */
int ctx_timer_add(struct ctx *c);
void ctx_timer_remove(struct ctx *c);	/* waits while c is being fired */

#endif
