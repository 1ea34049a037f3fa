/* SPDX-License-Identifier: MIT */
/*
 * drain/quiesce: what a graceful shutdown costs.
 *
 * Thread 0 is the closer, the service's shutdown path; threads 1 .. N-1
 * are holders, requests in flight.  Each round runs on a fresh drain:
 * thread 0 creates and publishes it, the holders enter `inflight` units
 * between them (spread as evenly as the count allows: holder h of H holds
 * inflight / H units, one more for the first inflight % H), and once every
 * unit is in, thread 0 calls close_and_wait.  The holders see a flag
 * thread 0 sets just before that call and release their units, unit j of
 * k at hold_ns * (j + 1) / k after the close began (hold_ns = 0: all at
 * once, as fast as leave() goes).
 *
 * close_and_wait gets a plain deadline (a stack ctx, no hooks: the drain
 * sleeps with a timeout, as a shutdown with a time limit does), a second
 * past the round's longest legitimate length, so a lost wake-up ends the
 * round as a violation instead of hanging the run.
 *
 * Rounds alternate between two kinds:
 *
 * Drain rounds time the shutdown: from just before close_and_wait's call
 * to just after its return, on thread 0 (columns drain_mean_ns,
 * drain_p50_ns, drain_p99_ns, drain_max_ns; `rounds` counts both kinds).  That interval
 * includes the close itself, the holders noticing the flag (they poll it,
 * yielding), the holds, every leave() (holders contending on the drain)
 * and the waiter's wake-up, if it slept at all; nothing is subtracted.
 *
 * Wake rounds time the wake-up (the latency histogram): the first
 * holder's last unit is kept back until every other unit has left and
 * the waiter is asleep; then the holder takes the time and calls the
 * leave() that empties the drain, and thread 0 takes the time as
 * close_and_wait returns.  The interval is that one leave() (its wake
 * call included), the kernel waking the waiter and scheduling it, and
 * the rest of close_and_wait up to its return.
 *
 * "Asleep" is checked, not hoped for: the holder reads the waiter's state
 * from /proc/self/task/<tid>/stat until it says S (sleeping), the same for
 * every implementation.  Once every other leave() has returned nothing
 * else can be holding the waiter up, so S means it sleeps waiting for the
 * last unit (or polls with a sleep, which the numbers then show).  A
 * waiter that spins and never sleeps is timed all the same after
 * park_max_ns; the share of wake rounds where it was never seen asleep is
 * the unparked_share column, and where it is above 0 the latency is
 * partly not a wake-up latency (without /proc it is 1: nothing waited).
 *
 * Holders wait for the next round, and for the close, by yielding the
 * CPU: with more threads than PUs the waking waiter competes with them
 * for one (the report marks such trials oversubscribed).
 *
 * Throughput counts rounds (both kinds) per second, on thread 0; the
 * holders are aux.  Holders ignore the stop flag and leave only when
 * thread 0, having finished its round, tells them to, so nobody is ever
 * left asleep or holding.  A round's drain is destroyed only after every
 * holder has reported its round done: the leave() that woke the waiter
 * may still be returning.
 *
 * Violations, counted: an enter refused on the open drain, a
 * close_and_wait that returns with units in flight or only at the
 * backstop deadline (a lost wake-up), and a waiter that returned before
 * the last leave() was called.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "ctx.h"
#include "drain.h"
#include "hist.h"
#include "workload.h"

enum { P_INFLIGHT, P_HOLD, P_PARK_MAX };
/* Extra columns, then X_WAKE_ROUNDS: thread 0's count, not a column. */
enum { X_ROUNDS, X_DRAIN_MEAN, X_DRAIN_P50, X_DRAIN_P99, X_DRAIN_MAX,
       X_UNPARKED, X_WAKE_ROUNDS };

static const struct param_spec quiesce_params[] = {
	[P_INFLIGHT] = { "inflight", 16, 1, 1 << 20, NULL,
			 "units in flight when the close begins, spread over threads-1 holders" },
	[P_HOLD] = { "hold_ns", 0, 0, 1e8, NULL,
		     "holders release their units spread evenly over this long after the close" },
	[P_PARK_MAX] = { "park_max_ns", 1e7, 0, 1e9, NULL,
			 "wake rounds: longest wait to see the waiter asleep before the last leave" },
	{ 0 },
};

static const char *const quiesce_extras[] = {
	[X_ROUNDS] = "rounds",
	[X_DRAIN_MEAN] = "drain_mean_ns",
	[X_DRAIN_P50] = "drain_p50_ns",
	[X_DRAIN_P99] = "drain_p99_ns",
	[X_DRAIN_MAX] = "drain_max_ns",
	[X_UNPARKED] = "unparked_share",
	NULL,
};

/* Labels stay short: the report adds "median, whiskers min to max". */
static const struct sweep_metric quiesce_sweep[] = {
	{ "drain_p50_ns", "drain-time", "drain time p50 (ns, log scale)", SWEEP_LOG },
	{ "drain_p99_ns", "drain-time-p99", "drain time p99 (ns, log scale)", SWEEP_LOG },
	{ "lat_p50_ns", "wake-up", "wake-up p50 (ns, log scale)", SWEEP_LOG },
	{ "unparked_share", "unparked", "waiter not seen asleep (share)", SWEEP_SHARE },
	{ 0 },
};

#define QUIT UINT32_MAX

struct quiesce {
	const struct drain_ops *ops;
	unsigned inflight, holders;
	uint64_t hold_ns, park_max_ns;
	uint64_t backstop_ns;	/* close_and_wait's deadline, from its call */
	int waiter_fd;		/* the waiter's /proc stat, holder 1's only */
	struct hist *drain;	/* drain rounds' times, thread 0's only */
	struct drain *d;	/* this round's, published by round */
	_Atomic uint32_t round cacheline_aligned;	/* 0 none yet, QUIT */
	_Atomic int waiter_tid;
	_Atomic uint32_t closing cacheline_aligned;	/* round whose close began */
	_Atomic uint64_t t_close;
	_Atomic unsigned entered cacheline_aligned;	/* units in, or refused */
	_Atomic unsigned left cacheline_aligned;	/* units out, or refused */
	_Atomic unsigned done cacheline_aligned;	/* holders done this round */
	_Atomic uint64_t t_last;	/* stamp before the emptying leave */
};

static const char *quiesce_check_threads(const double *param, unsigned nthreads)
{
	(void)param;
	return nthreads < 2 ? "needs a closer and at least one holder (threads >= 2)" : NULL;
}

static int quiesce_setup(struct trial *t)
{
	struct quiesce *q = aligned_alloc(CACHELINE, sizeof(*q));

	if (!q)
		return ENOMEM;
	memset(q, 0, sizeof(*q));
	q->drain = malloc(sizeof(*q->drain));
	if (!q->drain) {
		free(q);
		return ENOMEM;
	}
	hist_init(q->drain);
	q->ops = drain_ops_of(t->impl);
	q->inflight = (unsigned)t->param[P_INFLIGHT];
	q->holders = t->nthreads - 1;
	q->hold_ns = (uint64_t)t->param[P_HOLD];
	q->park_max_ns = (uint64_t)t->param[P_PARK_MAX];
	q->backstop_ns = 1000000000u + q->hold_ns + q->park_max_ns;
	q->waiter_fd = -1;
	for (unsigned i = 1; i < t->nthreads; i++)
		t->workers[i].aux = true;
	t->state = q;
	return 0;
}

/* Wait, yielding the CPU, until *v reaches want. */
static void yield_until(_Atomic unsigned *v, unsigned want)
{
	while (atomic_load(v) < want)
		sched_yield();
}

static bool wake_round(uint32_t round)
{
	return round & 1;
}

static void closer(struct worker *w, struct quiesce *q)
{
	uint32_t round = 0;

	atomic_store(&q->waiter_tid, (int)syscall(SYS_gettid));
	while (worker_running(w)) {
		struct ctx deadline = { 0 };
		uint64_t t0, t1, last;
		unsigned long left;
		struct drain *d;

		if (q->ops->create(&d)) {
			w->errors++;
			break;
		}
		round++;
		q->d = d;
		atomic_store(&q->entered, 0);
		atomic_store(&q->left, 0);
		atomic_store(&q->done, 0);
		atomic_store(&q->t_last, 0);
		atomic_store(&q->round, round);		/* the round starts */
		yield_until(&q->entered, q->inflight);

		deadline.deadline_ns = mono_ns() + q->backstop_ns;
		t0 = now_ns();
		atomic_store(&q->t_close, t0);
		atomic_store(&q->closing, round);
		left = q->ops->close_and_wait(d, &deadline);
		t1 = now_ns();

		/* Every holder is out of leave() before t_last is read and
		 * the drain freed. */
		yield_until(&q->done, q->holders);
		last = atomic_load(&q->t_last);
		/* Units left, or drained yet returned only at the deadline:
		 * the wake-up was lost. */
		if (left || mono_ns() >= deadline.deadline_ns)
			w->violations++;
		if (wake_round(round) && last) {
			if (t1 < last)
				w->violations++;	/* returned before the last leave */
			else
				worker_record(w, t1 - last);
			w->extra[X_WAKE_ROUNDS]++;
		} else if (!wake_round(round) && w->phase == PHASE_MEASURE) {
			hist_record(q->drain, t1 - t0);
		}
		q->ops->destroy(d);
		w->extra[X_ROUNDS]++;
		w->ops++;
	}
	atomic_store(&q->round, QUIT);
}

/* The waiter's scheduler state letter ('S' asleep), '?' if unknown. */
static char waiter_state(struct quiesce *q)
{
	char buf[512], *p;
	ssize_t n;

	if (q->waiter_fd < 0) {
		snprintf(buf, sizeof(buf), "/proc/self/task/%d/stat",
			 atomic_load(&q->waiter_tid));
		q->waiter_fd = open(buf, O_RDONLY | O_CLOEXEC);
		if (q->waiter_fd < 0)
			return '?';
	}
	n = pread(q->waiter_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the name, in parentheses, may hold anything */
	return p && p[1] == ' ' && p[2] ? p[2] : '?';
}

/* Wait until the waiter is asleep; false if it was not seen so in time. */
static bool wait_parked(struct quiesce *q)
{
	uint64_t until = now_ns() + q->park_max_ns;

	for (;;) {
		char s = waiter_state(q);

		if (s == 'S')
			return true;
		if (s == '?' || now_ns() >= until)
			return false;
		sched_yield();
	}
}

static void holder(struct worker *w, struct quiesce *q)
{
	const struct drain_ops *ops = q->ops;
	unsigned h = w->id - 1;
	unsigned k = q->inflight / q->holders + (h < q->inflight % q->holders);
	uint32_t mine = 0;

	for (;;) {
		uint32_t round;
		unsigned admitted = 0, keep;
		uint64_t t_close;
		struct drain *d;

		worker_running(w);	/* follow the phase; stop only at QUIT */
		round = atomic_load(&q->round);
		if (round == QUIT)
			break;
		if (round == mine) {
			sched_yield();
			continue;
		}
		mine = round;
		d = q->d;
		for (unsigned j = 0; j < k; j++) {
			int rc = ops->enter(d);

			if (!rc) {
				admitted++;
				continue;
			}
			if (rc == EPIPE)
				w->violations++;	/* refused while open */
			else
				w->errors++;
			atomic_fetch_add(&q->left, 1);
		}
		atomic_fetch_add(&q->entered, k);
		while (atomic_load(&q->closing) != round)
			sched_yield();
		t_close = atomic_load(&q->t_close);

		/* Holder 1 keeps its last unit back in wake rounds. */
		keep = wake_round(round) && h == 0 && admitted;
		for (unsigned j = 0; j < admitted - keep; j++) {
			uint64_t at = t_close + q->hold_ns * (j + 1) / k;

			while (now_ns() < at)
				cpu_relax();
			ops->leave(d);
			atomic_fetch_add(&q->left, 1);
		}
		if (keep) {
			while (now_ns() < t_close + q->hold_ns)
				cpu_relax();
			yield_until(&q->left, q->inflight - 1);
			if (!wait_parked(q) && w->phase == PHASE_MEASURE)
				w->extra[X_UNPARKED]++;
			atomic_store(&q->t_last, now_ns());
			ops->leave(d);
		}
		atomic_fetch_add(&q->done, 1);
	}
}

static void quiesce_thread(struct worker *w)
{
	struct quiesce *q = w->trial->state;

	if (w->id == 0)
		closer(w, q);
	else
		holder(w, q);
}

static void quiesce_finish(struct trial *t, struct trial_extra *x)
{
	struct quiesce *q = t->state;
	struct worker *w0 = &t->workers[0];
	double wakes = w0->extra[X_WAKE_ROUNDS];

	x->v[X_ROUNDS] = w0->extra[X_ROUNDS];
	if (q->drain->count) {
		x->v[X_DRAIN_MEAN] = hist_mean(q->drain);
		x->v[X_DRAIN_P50] = (double)hist_percentile(q->drain, 50);
		x->v[X_DRAIN_P99] = (double)hist_percentile(q->drain, 99);
		x->v[X_DRAIN_MAX] = (double)q->drain->max;
	}
	x->v[X_UNPARKED] = wakes ? t->workers[1].extra[X_UNPARKED] / wakes : 0;
}

static void quiesce_teardown(struct trial *t)
{
	struct quiesce *q = t->state;

	if (q->waiter_fd >= 0)
		close(q->waiter_fd);
	free(q->drain);
	free(q);
}

const struct workload drain_quiesce_workload = {
	.name = "drain/quiesce",
	.family = "drain",
	.desc = "close_and_wait with inflight units held by threads-1 holders: drain time against inflight, last leave to waiter wake-up",
	.params = quiesce_params,
	.extras = quiesce_extras,
	.lat_what = "last leave to waiter wake-up",
	.check_threads = quiesce_check_threads,
	.sweep = quiesce_sweep,
	.setup = quiesce_setup,
	.thread = quiesce_thread,
	.finish = quiesce_finish,
	.teardown = quiesce_teardown,
};
