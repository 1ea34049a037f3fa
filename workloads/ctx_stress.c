/* SPDX-License-Identifier: MIT */
/*
 * The cancellation-context stress checker (contend stress ctx).
 *
 * Threads play rounds on shared contexts kept in NSLOTS slots.  A thread
 * that finds a slot empty owns the next round there: it creates a context,
 * opens the slot, lets others join, cancels the context, closes the slot
 * and leaves.  The owner never blocks and always cancels, even once the
 * stop flag is up, so every round's waiters have something to wake them.
 * Usually it first waits (bounded) until two joiners are in wait() and
 * naps, so that the cancel finds several of them asleep.  The last user out
 * of a closed slot checks the round and destroys the context: no context is
 * destroyed while anyone may still wait on it, register on it or hang a
 * child under it.
 *
 * A slot's state word:
 *   0              empty: whoever CASes it to BUSY owns the next round
 *   BUSY           being set up by its owner or torn down by its last user
 *   BUSY|OPEN|n    n users; others may join
 *   BUSY|n         closed; the user that takes n to 0 tears it down
 * Every change is an acq_rel RMW (or a release store by the one thread that
 * holds BUSY alone), so each round's setup happens before its users and
 * every user's last access before the teardown.
 *
 * A joiner does one of:
 *   - wait(c, 0): no deadline, so only the cancel can end it;
 *   - wait(c, 0-100 us away);
 *   - cancel with one of several (err, cause) pairs, racing the owner;
 *   - register 1-48 hooks and stop() each at a random moment, racing the
 *     cancel;
 *   - build a tree of 2-8 contexts under the shared one, cancel some of it,
 *     wait on every node, destroy it children first;
 *   - make a child with a deadline 0-200 us ahead (sometimes already past)
 *     and a grandchild with a later one, and wait for them.
 * A thread with no slot at hand makes such deadline contexts under the
 * background root, where only the deadline can end the wait.
 *
 * Checked:
 *   - every waiter returns after a cancel (the driver's watchdog: a lost
 *     wake-up leaves a thread in wait() after the stop flag), and wait()
 *     without a deadline returns only the context's err;
 *   - err and cause never change: every observer of a round (waiters,
 *     cancellers after their cancel() returns, hooks, the last user) sees
 *     the same pair, one that some canceller actually passed (not the err
 *     of one and the cause of another); a cancel() that returns, winner
 *     or not, leaves the context cancelled;
 *   - a hook runs at most once, never after a stop() that returned true,
 *     exactly once and to its end before a stop() that returned false
 *     returns, at once in after_func() on a context whose cancel() has
 *     returned, and never after its memory was handed back (a freed hook's
 *     function is poisoned); registering it twice is EBUSY;
 *   - every descendant of a cancelled context is cancelled (each tree node
 *     is waited on), with its parent's err and cause unless it was
 *     cancelled itself first; after a winning cancel of a tree's root
 *     every node is cancelled before cancel() returns (hooks run on the
 *     cancelling thread);
 *   - a deadline context ends with ETIMEDOUT (or its parent's pair), never
 *     observed before its deadline, by a waiter or by a hook; one whose
 *     deadline had passed starts cancelled; a child's deadline is clamped
 *     to its parent's;
 *   - a wait with a deadline that returns 0 does so no earlier than it;
 *   - at the end every slot is empty (every round was torn down).
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chaos.h"
#include "clock.h"
#include "ctx.h"
#include "stress.h"

#define NSLOTS 2
#define TREE_MAX 8
#define HOOKS 48		/* per thread, reused round-robin */
#define US 1000u


/* What cancellers of a shared context pass; each cause goes with one err. */
static const struct cause {
	int err;
	const char *text;
} causes[] = {
	{ ECANCELED, "stress: cancelled by a round's owner" },
	{ ETIMEDOUT, "stress: a round's owner gave up" },
	{ ECANCELED, "stress: cancelled by a joiner" },
	{ ETIMEDOUT, "stress: a joiner gave up" },
};

static const struct cause tree_root_cause = {
	ECANCELED, "stress: tree cancelled by its builder"
};
static const struct cause tree_node_cause = {
	ETIMEDOUT, "stress: subtree cancelled by its builder"
};

struct pair {
	int err;
	const char *cause;
};

struct slot {
	_Atomic uint32_t state;
	_Atomic uint32_t waiting;	/* users inside wait(c, 0) */
	_Atomic uint32_t seen;		/* the first observed cause + 1, 0: none */
	_Atomic uint64_t rounds;
	struct ctx *c;			/* set up and torn down under BUSY alone */
} cacheline_aligned;

struct ctx_stress {
	const struct ctx_ops *ops;
	struct slot slots[NSLOTS];
};

struct hook {
	struct ctx_hook h;
	struct stress *s;
	struct ctx *c;		/* where it is registered */
	const char *what;	/* for the messages */
	_Atomic int runs;
	_Atomic bool finished;	/* the function has returned */
	_Atomic bool stopped;	/* a stop() returned true */
	struct pair seen;	/* what the function saw, read after stop() */
	uint64_t ran_at;
};

/* Per thread, on its stack: the hooks it lends out. */
struct ctx_worker {
	struct stress_thread *t;
	struct ctx_stress *cs;
	const struct ctx_ops *ops;
	struct hook hooks[HOOKS];
	unsigned next_hook;
};

static struct pair pair_of(const struct ctx *c)
{
	struct pair p = { ctx_err(c), NULL };

	if (p.err)
		p.cause = ctx_cause(c);
	return p;
}

static bool same(struct pair a, struct pair b)
{
	return a.err == b.err && a.cause == b.cause;
}

static const char *str(const char *s)
{
	return s ? s : "(null)";
}

static void nap(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };

	nanosleep(&ts, NULL);
}

static unsigned slot_index(struct ctx_worker *w, struct slot *sl)
{
	return (unsigned)(sl - w->cs->slots);
}

/* ---- observations of a round ---------------------------------------- */

/*
 * One observer of a round's cancellation: the pair must be one some
 * canceller passed, and the same as every earlier observer's.
 */
static void observe(struct ctx_worker *w, struct slot *sl, struct pair p,
		    const char *who)
{
	struct stress *s = w->t->s;
	uint32_t first = 0, mine;
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(causes); i++)
		if (p.cause == causes[i].text)
			break;
	if (i == ARRAY_SIZE(causes)) {
		stress_violation(s, "slot %u: %s saw err %d with cause '%s', which no canceller passed",
				 slot_index(w, sl), who, p.err, str(p.cause));
		return;
	}
	if (p.err != causes[i].err)
		stress_violation(s, "slot %u: %s saw err %d with the cause of err %d ('%s'): err and cause of different cancels",
				 slot_index(w, sl), who, p.err, causes[i].err,
				 causes[i].text);
	mine = i + 1;
	if (!atomic_compare_exchange_strong(&sl->seen, &first, mine) &&
	    first != mine)
		stress_violation(s, "slot %u: %s saw err %d '%s' after an earlier observer saw err %d '%s': err changed after the first cancellation",
				 slot_index(w, sl), who, p.err, p.cause,
				 causes[first - 1].err, causes[first - 1].text);
}

/* Cancel c with one of the causes at random, then observe the result. */
static void cancel_shared(struct ctx_worker *w, struct slot *sl,
			  struct ctx *c, const char *who)
{
	const struct cause *k = &causes[stress_rand(w->t) % ARRAY_SIZE(causes)];
	struct pair p;

	stress_begin(w->t, "cancel", slot_index(w, sl));
	w->ops->cancel(c, k->err, k->text);
	stress_end(w->t);
	p = pair_of(c);
	if (!p.err)
		stress_violation(w->t->s, "slot %u: %s's cancel() returned with the context still live",
				 slot_index(w, sl), who);
	else
		observe(w, sl, p, who);
}

/* ---- hooks ---------------------------------------------------------- */

static void hook_fn(struct ctx_hook *h, struct ctx *c)
{
	struct hook *k = container_of(h, struct hook, h);

	chaos_point();
	if (atomic_fetch_add(&k->runs, 1))
		stress_violation(k->s, "%s ran twice", k->what);
	if (atomic_load(&k->stopped))
		stress_violation(k->s, "%s ran after stop() returned true", k->what);
	if (c != k->c)
		stress_violation(k->s, "%s was called with another context than it was registered on",
				 k->what);
	k->seen = pair_of(c);
	k->ran_at = mono_ns();
	if (!k->seen.err)
		stress_violation(k->s, "%s ran on a live context", k->what);
	atomic_store_explicit(&k->finished, true, memory_order_release);
}

/* What a hook's memory holds once stop() has handed it back. */
static void hook_freed(struct ctx_hook *h, struct ctx *c)
{
	struct hook *k = container_of(h, struct hook, h);

	(void)c;
	stress_violation(k->s, "%s ran after stop() returned (its memory was reused)",
			 k->what);
}

static struct hook *hook_arm(struct ctx_worker *w, struct ctx *c,
			     const char *what)
{
	struct hook *k = &w->hooks[w->next_hook++ % HOOKS];

	memset(&k->h, 0, sizeof(k->h));
	k->h.fn = hook_fn;
	atomic_store(&k->h.state, HOOK_IDLE);
	k->s = w->t->s;
	k->c = c;
	k->what = what;
	atomic_store(&k->runs, 0);
	atomic_store(&k->finished, false);
	atomic_store(&k->stopped, false);
	k->seen = (struct pair){ 0, NULL };
	k->ran_at = 0;
	return k;
}

/*
 * Register k on c; false (counted) if that failed.  settled: c's
 * cancellation, if it has one, is complete (its cancel() has returned),
 * so a hook registered now must run at once.  While a cancel is still
 * running, ctx_err() may already say cancelled and the hook may yet be
 * left to the canceller, which the contract allows.
 */
static bool hook_register(struct ctx_worker *w, struct hook *k, unsigned arg,
			  bool settled)
{
	struct ctx *c = k->c;
	bool was = settled && ctx_err(c);
	int rc;

	stress_begin(w->t, "after_func", arg);
	rc = w->ops->after_func(c, &k->h);
	stress_end(w->t);
	if (rc) {
		stress_violation(w->t->s, "after_func on an idle hook failed: %d", rc);
		return false;
	}
	if (was && atomic_load(&k->runs) != 1)
		stress_violation(w->t->s, "after_func on a context whose cancel() had returned did not run the hook at once (%d runs)",
				 atomic_load(&k->runs));
	if (stress_rand(w->t) % 8 == 0) {
		stress_begin(w->t, "after_func", arg);
		rc = w->ops->after_func(c, &k->h);
		stress_end(w->t);
		if (rc != EBUSY)
			stress_violation(w->t->s, "registering a hook twice returned %d, not EBUSY", rc);
	}
	return true;
}

/*
 * stop() k and check what it says against what the function did; the
 * hook's memory is then free, so poison it.  Returns whether the function
 * ran (and so k->seen and k->ran_at are valid).
 */
static bool hook_stop(struct ctx_worker *w, struct hook *k, unsigned arg)
{
	bool prevented, finished;
	int runs;

	chaos_point();
	stress_begin(w->t, "stop", arg);
	prevented = w->ops->stop(k->c, &k->h);
	stress_end(w->t);
	/* Acquire: pairs with the function's last store. */
	finished = atomic_load_explicit(&k->finished, memory_order_acquire);
	runs = atomic_load(&k->runs);
	if (prevented) {
		atomic_store(&k->stopped, true);
		if (runs)
			stress_violation(w->t->s, "stop() returned true for %s that had run %d times",
					 k->what, runs);
	} else if (runs != 1 || !finished) {
		stress_violation(w->t->s, "stop() returned false for %s, which had %s (%d runs; hook state %d, context err %d)",
				 k->what, runs ? "not finished running" : "not run",
				 runs, atomic_load(&k->h.state), ctx_err(k->c));
	}
	k->h.fn = hook_freed;
	k->h.arg = NULL;
	return !prevented && runs == 1 && finished;
}

/* ---- slots ---------------------------------------------------------- */

static struct slot *slot_own(struct ctx_worker *w)
{
	int i = stress_slot_own(w->t, &w->cs->slots[0].state,
				sizeof(struct slot), NSLOTS);

	return i < 0 ? NULL : &w->cs->slots[i];
}

static struct slot *slot_join(struct ctx_worker *w)
{
	int i = stress_slot_join(w->t, &w->cs->slots[0].state,
				 sizeof(struct slot), NSLOTS);

	return i < 0 ? NULL : &w->cs->slots[i];
}

/* The last user of a closed round: check it, destroy its context. */
static void slot_teardown(struct ctx_worker *w, struct slot *sl)
{
	struct ctx *c = sl->c;
	struct pair p = pair_of(c);

	if (!p.err)
		stress_violation(w->t->s, "slot %u: the round ended with its context live",
				 slot_index(w, sl));
	else
		observe(w, sl, p, "the round's last user");
	stress_begin(w->t, "destroy", slot_index(w, sl));
	w->ops->destroy(c);
	stress_end(w->t);
	sl->c = NULL;
	/* Pairs with the next owner's acquire CAS. */
	atomic_store_explicit(&sl->state, 0, memory_order_release);
}

static void slot_leave(struct ctx_worker *w, struct slot *sl)
{
	uint32_t old = atomic_fetch_sub_explicit(&sl->state, 1,
						 memory_order_acq_rel);

	if (old == (STRESS_SLOT_BUSY | 1))
		slot_teardown(w, sl);
}

/* ---- what a round's owner does -------------------------------------- */

static void own_round(struct ctx_worker *w, struct slot *sl)
{
	struct stress_thread *t = w->t;
	uint64_t r = stress_rand(t);
	bool close_early = (r >> 4) % 4 == 0;
	struct ctx *c;
	int rc;

	stress_begin(t, "create", slot_index(w, sl));
	rc = w->ops->create(&c, NULL, 0);
	stress_end(t);
	if (rc) {
		stress_violation(t->s, "create failed: %d", rc);
		atomic_store_explicit(&sl->state, 0, memory_order_release);
		return;
	}
	sl->c = c;
	atomic_store_explicit(&sl->seen, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&sl->rounds, 1, memory_order_relaxed);
	/* Pairs with the joiners' acquire CAS: c and seen are ready. */
	atomic_store_explicit(&sl->state, STRESS_SLOT_BUSY | STRESS_SLOT_OPEN | 1,
			      memory_order_release);

	if (r % 4) {
		/* Let waiters gather and fall asleep: a cancel must wake all. */
		uint64_t until = mono_ns() + 1000 * US;

		while (atomic_load(&sl->waiting) < 2 && stress_running(t) &&
		       mono_ns() < until)
			sched_yield();
		nap(10 * US + (r >> 8) % (50 * US));
	} else {
		work_ns((r >> 8) % (20 * US));
	}
	if (close_early)
		atomic_fetch_and(&sl->state, ~STRESS_SLOT_OPEN);
	chaos_point();
	cancel_shared(w, sl, c, "the owner");
	if (!close_early) {
		/* Latecomers meet a cancelled context. */
		if ((r >> 6) % 2)
			sched_yield();
		atomic_fetch_and(&sl->state, ~STRESS_SLOT_OPEN);
	}
	slot_leave(w, sl);
}

/* ---- what a joiner does --------------------------------------------- */

static void join_wait(struct ctx_worker *w, struct slot *sl, struct ctx *c)
{
	struct pair p;
	int err;

	atomic_fetch_add(&sl->waiting, 1);
	stress_begin(w->t, "wait", slot_index(w, sl));
	err = w->ops->wait(c, 0);
	stress_end(w->t);
	atomic_fetch_sub(&sl->waiting, 1);
	p = pair_of(c);
	if (!err || err != p.err)
		stress_violation(w->t->s, "slot %u: wait without a deadline returned %d, the context's err is %d",
				 slot_index(w, sl), err, p.err);
	if (p.err)
		observe(w, sl, p, "a waiter");
}

static void join_timed_wait(struct ctx_worker *w, struct slot *sl,
			    struct ctx *c)
{
	uint64_t deadline = mono_ns() + stress_rand(w->t) % (100 * US), now;
	int err;

	stress_begin(w->t, "timed wait", slot_index(w, sl));
	err = w->ops->wait(c, deadline);
	stress_end(w->t);
	now = mono_ns();
	if (!err) {
		if (now < deadline)
			stress_violation(w->t->s, "slot %u: a timed wait returned 0 %llu ns before its deadline",
					 slot_index(w, sl),
					 (unsigned long long)(deadline - now));
	} else {
		struct pair p = pair_of(c);

		if (err != p.err)
			stress_violation(w->t->s, "slot %u: a timed wait returned %d, the context's err is %d",
					 slot_index(w, sl), err, p.err);
		observe(w, sl, p, "a timed waiter");
	}
}

/*
 * A batch of 1-HOOKS hooks (so a context sometimes holds more than any
 * fixed first block of them), stopped in random order, each at once, a
 * little later, or after the cancel.  Or a storm: spin until the context
 * is cancelled, then stop them all back to back, newest first, while the
 * canceller is still running them.
 */
static void join_hooks(struct ctx_worker *w, struct slot *sl, struct ctx *c)
{
	uint64_t r = stress_rand(w->t);
	unsigned n = 1 + (unsigned)(r % HOOKS), live = 0;
	struct hook *k[HOOKS];

	r >>= 8;
	for (unsigned i = 0; i < n; i++) {
		k[live] = hook_arm(w, c, "a shared context's hook");
		if (hook_register(w, k[live], slot_index(w, sl), false))
			live++;
	}
	if (r % 4 == 0) {
		/* Bounded: the round's owner always cancels. */
		for (unsigned i = 1; !ctx_err(c); i++)
			if (i % 64)
				cpu_relax();
			else
				sched_yield();
		while (live)
			if (hook_stop(w, k[--live], slot_index(w, sl)))
				observe(w, sl, k[live]->seen, "a hook");
		return;
	}
	while (live) {
		unsigned i = (unsigned)(stress_rand(w->t) % live);

		switch (stress_rand(w->t) % 8) {
		case 0:
			work_ns(stress_rand(w->t) % (20 * US));
			break;
		case 1:
			sched_yield();
			break;
		case 2:
			atomic_fetch_add(&sl->waiting, 1);
			stress_begin(w->t, "wait", slot_index(w, sl));
			w->ops->wait(c, 0);
			stress_end(w->t);
			atomic_fetch_sub(&sl->waiting, 1);
			break;
		default:
			break;
		}
		if (hook_stop(w, k[i], slot_index(w, sl)))
			observe(w, sl, k[i]->seen, "a hook");
		k[i] = k[--live];
	}
}

/*
 * A tree under the shared context: node 0 is its root, node i > 0 hangs
 * under node up[i] < i, so destroying in reverse order is children first.
 */
static void join_tree(struct ctx_worker *w, struct ctx *c)
{
	struct stress *s = w->t->s;
	const struct ctx_ops *ops = w->ops;
	struct ctx *node[TREE_MAX];
	unsigned up[TREE_MAX], n, made = 0;
	bool cut[TREE_MAX] = { false }, gone[TREE_MAX] = { false };
	uint64_t r = stress_rand(w->t);

	n = 2 + (unsigned)(r % (TREE_MAX - 1));
	r >>= 8;
	for (unsigned i = 0; i < n; i++) {
		int rc;

		up[i] = i ? (unsigned)(stress_rand(w->t) % i) : 0;
		stress_begin(w->t, "create", i);
		rc = ops->create(&node[i], i ? node[up[i]] : c, 0);
		stress_end(w->t);
		if (rc) {
			stress_violation(s, "create failed: %d", rc);
			goto out_destroy;
		}
		made++;
	}
	chaos_point();

	/* Cancel a few inner nodes, or destroy a few leaves, first. */
	for (unsigned k = (unsigned)(r % 3); k; k--) {
		unsigned i = 1 + (unsigned)(stress_rand(w->t) % (n - 1));
		bool leaf = true;

		if (gone[i])
			continue;
		for (unsigned j = i + 1; j < n; j++)
			leaf &= up[j] != i || gone[j];
		if (leaf && stress_rand(w->t) % 2) {
			stress_begin(w->t, "destroy", i);
			ops->destroy(node[i]);
			stress_end(w->t);
			gone[i] = true;
		} else {
			stress_begin(w->t, "cancel", i);
			ops->cancel(node[i], tree_node_cause.err,
				    tree_node_cause.text);
			stress_end(w->t);
			cut[i] = true;
		}
	}

	/* Cancel the tree's root, or leave that to the round's cancel. */
	if ((r >> 2) % 2) {
		stress_begin(w->t, "cancel", 0);
		ops->cancel(node[0], tree_root_cause.err, tree_root_cause.text);
		stress_end(w->t);
		cut[0] = true;
		/*
		 * If this cancel won, it ran the children's hooks on this
		 * thread before returning: the whole tree is cancelled.
		 */
		if (ctx_cause(node[0]) == tree_root_cause.text) {
			unsigned last = n;

			for (unsigned i = 0; i < n; i++) {
				if (gone[i])
					continue;
				last = i;
				if (!ctx_err(node[i]))
					stress_violation(s, "tree node %u (of %u) still live after its root's winning cancel() returned",
							 i, n);
			}
			/* Settled: a hook on any node must run at once. */
			if (last < n) {
				struct hook *k = hook_arm(w, node[last],
						"a cancelled tree node's hook");

				if (hook_register(w, k, last, true))
					hook_stop(w, k, last);
			}
		}
	}

	/* Every node must end up cancelled: wait for each one. */
	for (unsigned i = 0; i < n; i++) {
		const struct cause *own = i ? &tree_node_cause : &tree_root_cause;
		struct pair p, above;
		int err;

		if (gone[i])
			continue;
		stress_begin(w->t, "wait tree node", i);
		err = ops->wait(node[i], 0);
		stress_end(w->t);
		p = pair_of(node[i]);
		above = pair_of(i ? node[up[i]] : c);
		if (!err || err != p.err)
			stress_violation(s, "tree node %u: wait without a deadline returned %d, its err is %d",
					 i, err, p.err);
		else if (!same(p, above) &&
			 !(cut[i] && p.err == own->err && p.cause == own->text))
			stress_violation(s, "tree node %u: cancelled with err %d '%s', neither its parent's (%d '%s') nor its own cancel's",
					 i, p.err, str(p.cause), above.err,
					 str(above.cause));
	}

out_destroy:
	while (made--) {
		if (gone[made])
			continue;
		stress_begin(w->t, "destroy", made);
		ops->destroy(node[made]);
		stress_end(w->t);
	}
}

/*
 * Deadline contexts under parent (NULL: the background root): d with a
 * deadline 0-200 us ahead (sometimes already past), sometimes a child of d
 * with a later one (clamped to d's).  Only the deadline or the parent's
 * cancel can end the waits.
 */
static void deadlines(struct ctx_worker *w, struct ctx *parent, unsigned arg)
{
	struct stress *s = w->t->s;
	const struct ctx_ops *ops = w->ops;
	uint64_t r = stress_rand(w->t), before, deadline, now;
	struct ctx *d, *dd = NULL;
	struct hook *k;
	struct pair p, above;
	int err, rc;

	before = mono_ns();
	deadline = r % 16 == 0 ? before - 1 : before + (r >> 8) % (200 * US + 1);
	stress_begin(w->t, "create", arg);
	rc = ops->create(&d, parent, deadline);
	stress_end(w->t);
	if (rc) {
		stress_violation(s, "create failed: %d", rc);
		return;
	}
	if (deadline < before && !ctx_err(d))
		stress_violation(s, "a context whose deadline had passed started live");
	if (ctx_deadline(d) != deadline)
		stress_violation(s, "a context's deadline is %llu, not the %llu it was given",
				 (unsigned long long)ctx_deadline(d),
				 (unsigned long long)deadline);
	if ((r >> 4) % 4 == 0) {
		stress_begin(w->t, "create", arg);
		rc = ops->create(&dd, d, deadline + 100 * US);
		stress_end(w->t);
		if (rc) {
			stress_violation(s, "create failed: %d", rc);
			dd = NULL;
		} else if (ctx_deadline(dd) != deadline) {
			stress_violation(s, "a child's deadline is %llu, not its parent's earlier %llu",
					 (unsigned long long)ctx_deadline(dd),
					 (unsigned long long)deadline);
		}
	}
	k = hook_arm(w, d, "a deadline context's hook");
	/* Started cancelled by create() itself, with nobody else to race. */
	if (!hook_register(w, k, arg, !parent && deadline < before))
		k = NULL;
	if ((r >> 6) % 4 == 0)
		nap((r >> 12) % (200 * US));	/* nobody waits: the timer fires it */

	stress_begin(w->t, "wait deadline", arg);
	err = ops->wait(d, 0);
	stress_end(w->t);
	now = mono_ns();
	p = pair_of(d);
	above = pair_of(parent);
	if (!err || err != p.err)
		stress_violation(s, "a deadline context's wait without a deadline returned %d, its err is %d",
				 err, p.err);
	else if (!same(p, above) && p.err != ETIMEDOUT)
		stress_violation(s, "a deadline context was cancelled with err %d '%s', not ETIMEDOUT nor its parent's",
				 p.err, str(p.cause));
	else if (!same(p, above) && now < deadline)
		stress_violation(s, "ETIMEDOUT seen by a waiter %llu ns before the deadline",
				 (unsigned long long)(deadline - now));
	if (k && hook_stop(w, k, arg) && !same(k->seen, above)) {
		if (!same(k->seen, p))
			stress_violation(s, "a deadline context's hook saw err %d '%s', its waiter %d '%s'",
					 k->seen.err, str(k->seen.cause), p.err,
					 str(p.cause));
		else if (k->ran_at < deadline)
			stress_violation(s, "ETIMEDOUT fired a hook %llu ns before the deadline",
					 (unsigned long long)(deadline - k->ran_at));
	}

	if (dd) {
		struct pair q;

		stress_begin(w->t, "wait deadline", arg);
		err = ops->wait(dd, 0);
		stress_end(w->t);
		now = mono_ns();
		q = pair_of(dd);
		if (!err || err != q.err)
			stress_violation(s, "a deadline child's wait without a deadline returned %d, its err is %d",
					 err, q.err);
		else if (!same(q, p) && (q.err != ETIMEDOUT || now < deadline))
			stress_violation(s, "a deadline child ended with err %d '%s' at %lld ns from the deadline, its parent with %d '%s'",
					 q.err, str(q.cause),
					 (long long)(now - deadline), p.err,
					 str(p.cause));
		stress_begin(w->t, "destroy", arg);
		ops->destroy(dd);
		stress_end(w->t);
	}
	stress_begin(w->t, "destroy", arg);
	ops->destroy(d);
	stress_end(w->t);
}

static void join_round(struct ctx_worker *w, struct slot *sl)
{
	struct ctx *c = sl->c;
	uint64_t r = stress_rand(w->t);

	chaos_point();
	switch (r % 16) {
	case 0: case 1: case 2: case 3: case 4:
		join_wait(w, sl, c);
		break;
	case 5:
		join_timed_wait(w, sl, c);
		break;
	case 6: case 7:
		cancel_shared(w, sl, c, "a joiner");
		break;
	case 8: case 9: case 10:
		join_hooks(w, sl, c);
		break;
	case 11: case 12: case 13:
		join_tree(w, c);
		break;
	default:
		deadlines(w, c, slot_index(w, sl));
		break;
	}
	slot_leave(w, sl);
}

/* ---- the driver's plug ---------------------------------------------- */

static int stress_setup(struct stress *st)
{
	struct ctx_stress *cs = aligned_alloc(CACHELINE, sizeof(*cs));

	if (!cs)
		return ENOMEM;
	memset(cs, 0, sizeof(*cs));
	cs->ops = ctx_ops_of(st->impl);
	for (unsigned i = 0; i < NSLOTS; i++) {
		atomic_init(&cs->slots[i].state, 0);
		atomic_init(&cs->slots[i].waiting, 0);
		atomic_init(&cs->slots[i].seen, 0);
		atomic_init(&cs->slots[i].rounds, 0);
	}
	st->state = cs;
	return 0;
}

static void stress_thread(struct stress_thread *t)
{
	struct ctx_worker w = {
		.t = t,
		.cs = t->s->state,
		.ops = ((struct ctx_stress *)t->s->state)->ops,
	};

	while (stress_running(t)) {
		uint64_t r = stress_rand(t);
		struct slot *sl;

		if (r % 8 == 0) {
			deadlines(&w, NULL, ~0u);
		} else if (r % 8 == 1 && (sl = slot_own(&w))) {
			own_round(&w, sl);
		} else if ((sl = slot_join(&w))) {
			join_round(&w, sl);
		} else if ((sl = slot_own(&w))) {
			own_round(&w, sl);
		} else {
			deadlines(&w, NULL, ~0u);
		}
	}
}

static void stress_finish(struct stress *st)
{
	struct ctx_stress *cs = st->state;

	stress_slots_released(st, &cs->slots[0].state, sizeof(struct slot), NSLOTS);
}

static void stress_describe(struct stress *st, char *buf, size_t len)
{
	struct ctx_stress *cs = st->state;
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < NSLOTS && used < len; i++) {
		struct slot *sl = &cs->slots[i];
		uint32_t s = atomic_load(&sl->state);

		used += (size_t)snprintf(buf + used, len - used,
			"%sslot %u: round %llu %s, %u users, %u in wait",
			i ? "; " : "", i,
			(unsigned long long)atomic_load(&sl->rounds),
			!s ? "over" : s & STRESS_SLOT_OPEN ? "open" : "closed",
			s & STRESS_SLOT_USERS, atomic_load(&sl->waiting));
	}
}

static void stress_teardown(struct stress *st)
{
	struct ctx_stress *cs = st->state;

	/* A slot still held (counted in finish) keeps its context: leak it. */
	free(cs);
}

const struct stress_family ctx_stress = {
	.family = "ctx",
	.checks = "every waiter on a shared context returns after its cancel (watchdog); err and cause never change, are one canceller's, and are set when any cancel() returns; hooks run at most once, never after a stop() that returned true, and have finished when one that returned false returns; every descendant of a cancelled context is cancelled with its parent's err unless cancelled itself first; deadlines end in ETIMEDOUT, never before they are due",
	.setup = stress_setup,
	.thread = stress_thread,
	.finish = stress_finish,
	.describe = stress_describe,
	.teardown = stress_teardown,
};
