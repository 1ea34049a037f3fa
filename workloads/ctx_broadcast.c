/* SPDX-License-Identifier: MIT */
/*
 * ctx/broadcast: one cancel, many sleepers.
 *
 * Thread 0 is the canceller; every other thread is a waiter (so
 * --threads 1001 is 1000 waiters).  Each round: thread 0 publishes a fresh
 * context, waits until every waiter has arrived and has had settle_ns to
 * fall asleep in wait(), takes the time and cancels.  Each waiter records
 * its own wake latency (cancel call to its return from wait), and thread 0
 * the time until the last one woke.  Throughput counts wake-ups delivered
 * (waiters x rounds) per second; thread 0 counts none, so Jain's index
 * over all threads is not meaningful here.
 *
 * Contexts are kept until teardown rather than destroyed per round, so a
 * waiter still reading last round's pointer can never touch freed memory;
 * a round is a few hundred bytes.  When the stop flag comes, thread 0
 * cancels the round in progress so no waiter is left asleep.
 *
 * Extra columns: waiters, rounds, cancel_call_mean_ns (how long the
 * cancel call itself takes: the broadcast's own cost), all_woke_mean_ns
 * and all_woke_max_ns (per round, from the cancel call to the last
 * waiter's return: with OS threads this is bounded by the scheduler
 * running every waiter, which Go's goroutines make much cheaper).
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "ctx.h"
#include "workload.h"

enum { P_SETTLE };
enum { X_WAITERS, X_ROUNDS, X_CANCEL, X_ALL_MEAN, X_ALL_MAX };

static const struct param_spec broadcast_params[] = {
	[P_SETTLE] = { "settle_ns", 1000000, 0, 1e9, NULL,
		       "pause after the last waiter arrives, so all are asleep" },
	{ 0 },
};

static const char *const broadcast_extras[] = {
	[X_WAITERS] = "waiters",
	[X_ROUNDS] = "rounds",
	[X_CANCEL] = "cancel_call_mean_ns",
	[X_ALL_MEAN] = "all_woke_mean_ns",
	[X_ALL_MAX] = "all_woke_max_ns",
	NULL,
};

struct bc {
	const struct ctx_ops *ops;
	struct ctx *_Atomic cur cacheline_aligned;
	_Atomic uint64_t t_cancel;
	_Atomic unsigned arrived cacheline_aligned;
	_Atomic unsigned woke cacheline_aligned;
	_Atomic uint64_t last_wake;
	/* Every round's context, freed at teardown (thread 0 only). */
	struct ctx **all;
	size_t nall, capall;
};

static int broadcast_setup(struct trial *t)
{
	struct bc *b = aligned_alloc(CACHELINE, sizeof(*b));

	if (!b)
		return ENOMEM;
	b->ops = ctx_ops_of(t->impl);
	atomic_init(&b->cur, NULL);
	atomic_init(&b->t_cancel, 0);
	atomic_init(&b->arrived, 0);
	atomic_init(&b->woke, 0);
	atomic_init(&b->last_wake, 0);
	b->all = NULL;
	b->nall = b->capall = 0;
	t->state = b;
	return 0;
}

static void nap(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	if (ns)
		nanosleep(&ts, NULL);
}

static void canceller(struct worker *w, struct bc *b)
{
	unsigned waiters = w->trial->nthreads - 1;
	uint64_t settle = (uint64_t)w->trial->param[P_SETTLE];

	while (worker_running(w)) {
		bool stopping = false;
		struct ctx *c;
		uint64_t t0, last;

		if (b->nall == b->capall) {
			size_t cap = b->capall ? b->capall * 2 : 1024;
			struct ctx **p = realloc(b->all, cap * sizeof(*p));

			if (!p) {
				w->errors++;
				return;
			}
			b->all = p;
			b->capall = cap;
		}
		if (b->ops->create(&c, NULL, 0)) {
			w->errors++;
			return;
		}
		b->all[b->nall++] = c;
		atomic_store(&b->arrived, 0);
		atomic_store(&b->woke, 0);
		atomic_store(&b->last_wake, 0);
		atomic_store(&b->cur, c);	/* the round starts */
		while (atomic_load(&b->arrived) < waiters)
			if (!worker_running(w)) {
				stopping = true;
				break;
			} else {
				sched_yield();
			}
		if (!stopping)
			nap(settle);
		t0 = now_ns();
		atomic_store(&b->t_cancel, t0);
		b->ops->cancel(c, ECANCELED, NULL);
		w->extra[X_CANCEL] += (double)(now_ns() - t0);
		/* Everyone who arrived wakes; late arrivals find it cancelled. */
		while (atomic_load(&b->woke) < atomic_load(&b->arrived))
			sched_yield();
		if (stopping)
			return;
		last = atomic_load(&b->last_wake);
		if (last > t0) {
			w->extra[X_ALL_MEAN] += (double)(last - t0);
			if ((double)(last - t0) > w->extra[X_ALL_MAX])
				w->extra[X_ALL_MAX] = (double)(last - t0);
		}
		w->extra[X_ROUNDS]++;
	}
	/* Leave no waiter asleep on a round that was never cancelled. */
	if (atomic_load(&b->cur))
		b->ops->cancel(atomic_load(&b->cur), ECANCELED, NULL);
}

static void waiter(struct worker *w, struct bc *b)
{
	struct ctx *mine = NULL;

	while (worker_running(w)) {
		struct ctx *c = atomic_load(&b->cur);
		uint64_t t, prev;

		if (c == mine || !c) {
			sched_yield();
			continue;
		}
		mine = c;
		atomic_fetch_add(&b->arrived, 1);
		b->ops->wait(c, 0);
		t = now_ns();
		worker_record(w, t - atomic_load(&b->t_cancel));
		prev = atomic_load(&b->last_wake);
		while (t > prev && !atomic_compare_exchange_weak(&b->last_wake, &prev, t))
			;
		atomic_fetch_add(&b->woke, 1);
		w->ops++;
	}
}

static void broadcast_thread(struct worker *w)
{
	struct bc *b = w->trial->state;

	if (w->id == 0)
		canceller(w, b);
	else
		waiter(w, b);
}

static void broadcast_finish(struct trial *t, struct trial_extra *x)
{
	struct worker *w0 = &t->workers[0];
	double rounds = w0->extra[X_ROUNDS];

	x->v[X_WAITERS] = t->nthreads - 1;
	x->v[X_ROUNDS] = rounds;
	x->v[X_CANCEL] = rounds ? w0->extra[X_CANCEL] / rounds : 0;
	x->v[X_ALL_MEAN] = rounds ? w0->extra[X_ALL_MEAN] / rounds : 0;
	x->v[X_ALL_MAX] = w0->extra[X_ALL_MAX];
}

static void broadcast_teardown(struct trial *t)
{
	struct bc *b = t->state;

	for (size_t i = 0; i < b->nall; i++)
		b->ops->destroy(b->all[i]);
	free(b->all);
	free(b);
}

const struct workload ctx_broadcast_workload = {
	.name = "ctx/broadcast",
	.family = "ctx",
	.desc = "threads-1 waiters on one context, cancel: wake latency, time until all woke",
	.params = broadcast_params,
	.extras = broadcast_extras,
	.setup = broadcast_setup,
	.thread = broadcast_thread,
	.finish = broadcast_finish,
	.teardown = broadcast_teardown,
};
