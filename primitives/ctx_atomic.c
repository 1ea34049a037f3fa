/* SPDX-License-Identifier: MIT */
/*
 * ctx/atomic: no lock anywhere.
 *
 * Waiters: as ctx/futex, they count themselves in `sleepers` and sleep on
 * the err word; cancel stores err (seq_cst) and wakes them all if any.
 *
 * Hooks and children: an array of hook-pointer slots, SLOTS at a time in
 * chunks that are appended with a CAS and never freed before the context.
 *   register  CAS an empty slot from NULL to the hook (the slot's address
 *             goes in hook->slot): O(1) unless the first chunks are full;
 *   stop      CAS the hook's slot from the hook back to NULL: O(1); if
 *             that fails, a canceller has taken the hook and stop() waits
 *             for it to finish running;
 *   cancel    after storing err, take every occupied slot's hook out with
 *             a CAS (hook -> CLOSED) and run it, chunk by chunk, then
 *             seal the chunk chain by CASing the last `next` from NULL to
 *             CLOSED_CHUNK.  Empty slots are only read, so a cancel costs
 *             a load per empty slot, not an atomic write.
 * A registration that finds the chain sealed, or the context already
 * cancelled, runs its hook at once; one that lands in a slot the
 * canceller has already passed sees err right after its CAS (both sides
 * are seq_cst) and takes its hook back to run it itself.  Every hook is touched only by the
 * thread that took it out of its slot, so its owner may reuse it as soon
 * as stop() returns: no hazard pointers, no epochs, because the slots, not
 * the hooks, are what the threads race on.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>

#include "chaos.h"
#include "clock.h"
#include "compiler.h"
#include "ctx_impl.h"
#include "futex.h"

#define SLOTS 62
#define CLOSED ((struct ctx_hook *)1)
#define CLOSED_CHUNK ((struct chunk *)1)

struct chunk {
	struct ctx_hook *_Atomic slot[SLOTS];
	struct chunk *_Atomic next;
};

struct atomic_ctx {
	struct ctx c;
	_Atomic uint32_t sleepers;
	struct chunk first;
};

#define to_ac(x) container_of(x, struct atomic_ctx, c)
#define err_word(c) ((_Atomic uint32_t *)&(c)->err)

static void run_hook(struct ctx_hook *h, struct ctx *c)
{
	int armed = HOOK_ARMED;

	if (!atomic_compare_exchange_strong(&h->state, &armed, HOOK_RUNNING))
		return;
	h->fn(h, c);
	/* Release: the owner's stop() may reuse h once it reads DONE. */
	atomic_store_explicit(&h->state, HOOK_DONE, memory_order_release);
}

static void atomic_cancel(struct ctx *c, int err, const char *cause)
{
	struct atomic_ctx *a = to_ac(c);
	struct chunk *ch = &a->first;

	if (!ctx_claim(c, err, cause))
		return;
	if (atomic_load(&a->sleepers))
		futex_wake(err_word(c), INT_MAX);
	for (;;) {
		struct chunk *next = NULL;

		for (int i = 0; i < SLOTS; i++) {
			struct ctx_hook *h = atomic_load(&ch->slot[i]);

			/* Empty slots stay empty: a late registrant re-checks err. */
			if (h && h != CLOSED &&
			    atomic_compare_exchange_strong(&ch->slot[i], &h, CLOSED))
				run_hook(h, c);
		}
		/* Seal the chain, or follow a chunk someone appended. */
		if (atomic_compare_exchange_strong(&ch->next, &next, CLOSED_CHUNK))
			return;
		if (next == CLOSED_CHUNK)
			return;
		ch = next;
	}
}

static int atomic_create(struct ctx **out, struct ctx *parent, uint64_t deadline)
{
	struct atomic_ctx *a = calloc(1, sizeof(*a));

	if (!a)
		return ENOMEM;
	ctx_attach(&a->c, &ctx_atomic_ops, parent, deadline);
	*out = &a->c;
	return 0;
}

static int atomic_cwait(struct ctx *c, uint64_t deadline)
{
	struct atomic_ctx *a = to_ac(c);
	uint64_t until = ctx_wait_until(c, deadline);
	int err;

	while (!(err = ctx_err(c))) {
		int rc;

		atomic_fetch_add(&a->sleepers, 1);
		chaos_point();
		rc = futex_wait(err_word(c), 0, until);
		atomic_fetch_sub(&a->sleepers, 1);
		if (rc == ETIMEDOUT || (until && mono_ns() >= until))
			return ctx_wait_timed_out(c);
	}
	return err;
}

static void run_now(struct ctx_hook *h, struct ctx *c)
{
	atomic_store(&h->state, HOOK_RUNNING);
	h->fn(h, c);
	atomic_store_explicit(&h->state, HOOK_DONE, memory_order_release);
}

static int atomic_after_func(struct ctx *c, struct ctx_hook *h)
{
	struct atomic_ctx *a = to_ac(c);
	struct chunk *ch = &a->first;
	int idle = HOOK_IDLE;

	if (!atomic_compare_exchange_strong(&h->state, &idle, HOOK_ARMED))
		return EBUSY;
	if (ctx_err(c)) {
		run_now(h, c);
		return 0;
	}
	for (;;) {
		struct chunk *next, *fresh;

		for (int i = 0; i < SLOTS; i++) {
			struct ctx_hook *none = NULL;

			if (atomic_load_explicit(&ch->slot[i], memory_order_relaxed))
				continue;
			h->slot = &ch->slot[i];
			/* Published by the CAS: a canceller that takes h sees it. */
			if (!atomic_compare_exchange_strong(&ch->slot[i], &none, h))
				continue;
			/*
			 * A canceller scans slots after storing err (both
			 * seq_cst): if it passed this slot before our CAS, we
			 * see err now, take h back and run it ourselves.
			 */
			if (ctx_err(c)) {
				struct ctx_hook *mine = h;

				if (atomic_compare_exchange_strong(&ch->slot[i], &mine, NULL))
					run_now(h, c);
			}
			return 0;
		}
		next = atomic_load(&ch->next);
		if (next == CLOSED_CHUNK) {
			run_now(h, c);	/* cancelled and sealed meanwhile */
			return 0;
		}
		if (!next) {
			fresh = calloc(1, sizeof(*fresh));
			if (!fresh) {
				atomic_store(&h->state, HOOK_IDLE);
				return ENOMEM;
			}
			if (!atomic_compare_exchange_strong(&ch->next, &next, fresh)) {
				free(fresh);
				if (next == CLOSED_CHUNK) {
					run_now(h, c);
					return 0;
				}
			} else {
				next = fresh;
			}
		}
		ch = next;
	}
}

static bool atomic_stop(struct ctx *c, struct ctx_hook *h)
{
	struct ctx_hook *expect = h;
	int armed = HOOK_ARMED;

	(void)c;
	if (atomic_load(&h->state) == HOOK_ARMED && h->slot &&
	    atomic_compare_exchange_strong((struct ctx_hook *_Atomic *)h->slot,
					   &expect, NULL)) {
		/* Out of its slot before any canceller took it: prevented. */
		atomic_compare_exchange_strong(&h->state, &armed, HOOK_STOPPED);
		return true;
	}
	/*
	 * Taken by a canceller (or never armed): wait until it has run.  One
	 * load of the state per test: ARMED then RUNNING read by two loads
	 * would let us out between the canceller's two steps.
	 */
	for (;;) {
		int st = atomic_load_explicit(&h->state, memory_order_acquire);

		if (st != HOOK_RUNNING && !(st == HOOK_ARMED && ctx_err(c)))
			break;
		sched_yield();
	}
	return false;
}

static void atomic_destroy(struct ctx *c)
{
	struct atomic_ctx *a = to_ac(c);
	struct chunk *ch;

	atomic_cancel(c, ECANCELED, CAUSE_CANCELED);
	ctx_detach(c);
	ch = atomic_load(&a->first.next);
	while (ch && ch != CLOSED_CHUNK) {
		struct chunk *next = atomic_load(&ch->next);

		free(ch);
		ch = next;
	}
	free(a);
}

const struct ctx_ops ctx_atomic_ops = {
	.info = {
		.name = "atomic",
		.desc = "lock-free: sleepers on the err word, hooks in CAS-claimed slots",
	},
	.create = atomic_create,
	.cancel = atomic_cancel,
	.wait = atomic_cwait,
	.after_func = atomic_after_func,
	.stop = atomic_stop,
	.destroy = atomic_destroy,
};
