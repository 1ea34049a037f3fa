/* SPDX-License-Identifier: MIT */
/*
 * rate/accuracy: does a limiter keep THE definition of primitives/rate.h,
 * "over any window of length w at most burst + rate * w admitted", under
 * contention, on the real clock?
 *
 * Every thread calls allow(1) as fast as it can (mode=allow) or wait(1)
 * (mode=wait) on one limiter of `rate` and `burst` for the whole trial,
 * warm-up included.
 *
 * Stamps: both sides of the call.  The limiter decides at some instant d
 * inside the call, on its own clock.  Each admission is stamped twice on
 * that same clock (CLOCK_MONOTONIC, never the TSC: a 100 ppm skew between
 * the two would be 100x the precision checked here): b just before the
 * call and a just after it returned, so b <= d <= a exactly.  One stamp
 * alone can err either way: a thread preempted between its decision and
 * an after-stamp lands among later admissions (a window looks fuller than
 * it was: a false alarm), while a delayed first admission makes a window
 * look emptier (a miss).  With the bracket nothing is guessed:
 *
 *   max_in_window  the largest number of admissions whose WHOLE bracket
 *                  [b, a] lies inside one closed window of length
 *                  window_ns: those decisions certainly fell in that
 *                  window.  It is a lower bound of the true maximum (an
 *                  admission whose bracket straddles the window's edge, or
 *                  is longer than the window, is not counted), so the
 *                  check errs only towards NOT flagging, never a false
 *                  alarm, and no slack is allowed: a violation is counted
 *                  when max_in_window > window_bound = burst + rate * w.
 *                  The loss is what straddles the two edges: about
 *                  2 * rate * (bracket length, ~100 ns) admissions.
 *                  Computed exactly in the last thread to stop, over every
 *                  admission since the limiter's creation, merged in
 *                  order: count(y) = #{a <= y} - #{b < y - w} over the
 *                  admissions whose bracket is at most w, maximised over
 *                  y = every a.
 *   admitted       every admission since the limiter was created (the
 *                  warm-up's too), and
 *   bound          burst + rate * (a_last - t_create): t_create is read
 *                  just before create(), a_last is the last admission's
 *                  after-stamp, so every decision lies in that interval;
 *                  the limiter starts full, so counting from creation is
 *                  the honest interval (the measured phase alone would
 *                  start with a bucket the warm-up left empty, and a
 *                  ratio far below 1 that says little).
 *                  admitted_over_bound must be <= 1; a saturated correct
 *                  limiter sits just under 1.  Above 1 is a violation.
 *   achieved_over_target  admissions while measuring / (rate * measured
 *                  seconds): about 1 for a saturated limiter.
 *   calls_s        allow() calls per second, admitted or not.
 *
 * Wait mode, lateness (the latency histogram).  The k-th admission could
 * happen at the earliest at e_k: an ideal token bucket (full at t_create,
 * the exact rate, GCRA form) fed with every wait()'s call time b in order
 * gives e_1 <= e_2 <= ...; no schedule that keeps the definition and
 * starts each event after its call admits its k-th event before e_k.
 * lateness_k = a_(k) - e_k, the k-th return in time order against the
 * k-th ideal time: when wait returns, minus when the definition first
 * allowed the k-th event.  With every thread waiting the ideal is
 * start + (k - burst) / rate, but the thread's own loop between calls is
 * not charged to the limiter.  Recorded for the returns made while
 * measuring.  a_(k) < e_k is certain over-admission: counted in `early`
 * and as a violation.  Lateness includes the after-stamp's clock read.
 *
 * In allow mode the latency histogram holds the admitted calls' brackets
 * a - b: one allow() plus one clock read.
 *
 * Stamps are kept in per-thread chunks (no copy while measuring), at most
 * MAX_STAMPS in all; beyond, admissions are still counted but not stamped
 * (`unstamped`; the window check then covers fewer and can only flag
 * less).  A correct limiter at 10M/s over 0.7 s needs 7M.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rate.h"
#include "workload.h"

enum { P_RATE, P_BURST, P_MODE, P_WINDOW };
enum { M_ALLOW, M_WAIT };
enum { X_ADMITTED, X_BOUND, X_ADM_OVER_BOUND, X_MAX_IN_WINDOW, X_WINDOW_BOUND,
       X_WINDOW_OVER_BOUND, X_ACHIEVED, X_CALLS_S, X_EARLY, X_UNSTAMPED };

#define CHUNK 65536u
#define MAX_STAMPS (16u << 20)
#define MEASURED (UINT64_C(1) << 63)	/* in b: stamped while measuring */

static const char *const mode_names[] = { "allow", "wait", NULL };

static const struct param_spec acc_params[] = {
	[P_RATE] = { "rate", 1e6, 10, 1e9, NULL,
		     "limiter rate (events/s)", true },
	[P_BURST] = { "burst", 100, 1, 10000, NULL, "limiter burst (events)" },
	[P_MODE] = { "mode", M_ALLOW, 0, 1, mode_names,
		     "allow (spin on allow(1)) or wait (block in wait(1))" },
	[P_WINDOW] = { "window_ns", 1e7, 1000, 1e9, NULL,
		       "window length w of the online check (ns)" },
	{ 0 },
};

static const char *const acc_extras[] = {
	[X_ADMITTED] = "admitted",
	[X_BOUND] = "bound",
	[X_ADM_OVER_BOUND] = "admitted_over_bound",
	[X_MAX_IN_WINDOW] = "max_in_window",
	[X_WINDOW_BOUND] = "window_bound",
	[X_WINDOW_OVER_BOUND] = "window_over_bound",
	[X_ACHIEVED] = "achieved_over_target",
	[X_CALLS_S] = "calls_s",
	[X_EARLY] = "early",
	[X_UNSTAMPED] = "unstamped",
	NULL,
};

static const struct sweep_metric acc_sweep[] = {
	{ "admitted_over_bound", "admitted-bound",
	  "admitted / (burst + rate x T) since creation (<= 1)", SWEEP_RATIO },
	{ "window_over_bound", "window-bound",
	  "max in any window w / (burst + rate x w) (<= 1)", SWEEP_RATIO },
	{ "achieved_over_target", "achieved",
	  "admitted/s while measuring / rate", SWEEP_RATIO },
	{ "lat_p99_ns", "p99",
	  "wait: lateness p99; allow: call p99 (ns, log scale)", SWEEP_LOG },
	{ 0 },
};

struct chunk {
	struct chunk *next;
	unsigned n;
	uint64_t a[CHUNK], b[CHUNK];
};

struct stamps {
	struct chunk *head, *tail;
	uint64_t unstamped, admitted, last_a, calls;
} cacheline_aligned;

struct acc {
	const struct rate_ops *ops;
	struct rate *r;
	double rate;
	unsigned burst, mode;
	uint64_t window, t_create;
	_Atomic uint64_t budget;	/* stamps handed out */
	_Atomic unsigned done;
	struct stamps *st;
	/* From the last thread to stop. */
	uint64_t max_in_window, early;
};

static const char *acc_check(const struct impl_info *impl, const double *param)
{
	(void)impl;
	if (!rate_valid(param[P_RATE], (unsigned)param[P_BURST]))
		return "rate and burst are not a valid limiter";
	return NULL;
}

static int acc_setup(struct trial *t)
{
	struct acc *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return ENOMEM;
	s->st = aligned_alloc(CACHELINE, t->nthreads * sizeof(*s->st));
	if (!s->st) {
		free(s);
		return ENOMEM;
	}
	memset(s->st, 0, t->nthreads * sizeof(*s->st));
	s->ops = rate_ops_of(t->impl);
	s->rate = t->param[P_RATE];
	s->burst = (unsigned)t->param[P_BURST];
	s->mode = (unsigned)t->param[P_MODE];
	s->window = (uint64_t)t->param[P_WINDOW];
	s->t_create = mono_ns();
	rc = s->ops->create(&s->r, s->rate, s->burst, NULL);
	if (rc) {
		free(s->st);
		free(s);
		return rc;
	}
	t->state = s;
	return 0;
}

static void push(struct acc *s, struct stamps *st, uint64_t b, uint64_t a)
{
	struct chunk *c = st->tail;

	st->admitted++;
	st->last_a = a;
	if (!c || c->n == CHUNK) {
		if (atomic_fetch_add_explicit(&s->budget, CHUNK, memory_order_relaxed) +
		    CHUNK > MAX_STAMPS || !(c = malloc(sizeof(*c)))) {
			st->unstamped++;
			return;
		}
		c->next = NULL;
		c->n = 0;
		if (st->tail)
			st->tail->next = c;
		else
			st->head = c;
		st->tail = c;
	}
	c->a[c->n] = a;
	c->b[c->n] = b;
	c->n++;
}

/* A cursor over one thread's stamps, in time order. */
struct cur {
	struct chunk *c;
	unsigned i;
};

static bool cur_ok(const struct cur *k)
{
	return k->c && k->i < k->c->n;
}

static void cur_next(struct cur *k)
{
	if (++k->i >= k->c->n && k->c->next) {
		k->c = k->c->next;
		k->i = 0;
	}
}

/* The thread whose next stamp (a or b, filtered by `maxlen`) is earliest. */
static int merge_pick(struct cur *k, unsigned n, bool by_b, uint64_t maxlen)
{
	int best = -1;
	uint64_t bv = 0;

	for (unsigned i = 0; i < n; i++) {
		while (cur_ok(&k[i])) {
			uint64_t a = k[i].c->a[k[i].i], b = k[i].c->b[k[i].i] & ~MEASURED;

			if (a - b <= maxlen)
				break;
			cur_next(&k[i]);	/* longer than the window: skip */
		}
		if (cur_ok(&k[i])) {
			uint64_t v = by_b ? k[i].c->b[k[i].i] & ~MEASURED : k[i].c->a[k[i].i];

			if (best < 0 || v < bv) {
				best = (int)i;
				bv = v;
			}
		}
	}
	return best;
}

static void cur_init(struct cur *k, const struct acc *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		k[i] = (struct cur){ s->st[i].head, 0 };
}

/* The exact sliding-window maximum over the certain brackets. */
static uint64_t window_max(const struct acc *s, unsigned n, struct cur *ka,
			   struct cur *kb)
{
	uint64_t na = 0, nb = 0, best = 0;
	int i, j;

	cur_init(ka, s, n);
	cur_init(kb, s, n);
	while ((i = merge_pick(ka, n, false, s->window)) >= 0) {
		uint64_t y = ka[i].c->a[ka[i].i];

		cur_next(&ka[i]);
		na++;
		while (y >= s->window && (j = merge_pick(kb, n, true, s->window)) >= 0 &&
		       (kb[j].c->b[kb[j].i] & ~MEASURED) < y - s->window) {
			cur_next(&kb[j]);
			nb++;
		}
		if (na - nb > best)
			best = na - nb;
	}
	return best;
}

/* Wait mode: lateness of the k-th return behind the k-th ideal time. */
static void lateness(struct acc *s, unsigned n, struct cur *ka, struct cur *kb,
		     struct hist *lat)
{
	long double T = 1e9L / (long double)s->rate, tau = (s->burst - 1) * T;
	long double tat = 0;
	int i, j;

	cur_init(ka, s, n);
	cur_init(kb, s, n);
	while ((j = merge_pick(kb, n, true, UINT64_MAX)) >= 0 &&
	       (i = merge_pick(ka, n, false, UINT64_MAX)) >= 0) {
		uint64_t b = kb[j].c->b[kb[j].i] & ~MEASURED;
		uint64_t a = ka[i].c->a[ka[i].i];
		bool measured = ka[i].c->b[ka[i].i] & MEASURED;
		long double call = (long double)(b - s->t_create), e;

		cur_next(&kb[j]);
		cur_next(&ka[i]);
		e = tat - tau > call ? tat - tau : call;
		tat = (tat > e ? tat : e) + T;
		if ((long double)(a - s->t_create) < e) {
			s->early++;
			continue;
		}
		if (measured && lat)
			hist_record(lat, (uint64_t)((long double)(a - s->t_create) - e));
	}
}

static void analyse(struct worker *w, struct acc *s)
{
	unsigned n = w->trial->nthreads;
	struct cur *ka = calloc(n, sizeof(*ka)), *kb = calloc(n, sizeof(*kb));

	if (!ka || !kb) {
		w->errors++;
	} else {
		s->max_in_window = window_max(s, n, ka, kb);
		if (s->mode == M_WAIT)
			lateness(s, n, ka, kb, w->lat);
	}
	free(ka);
	free(kb);
}

static void acc_thread(struct worker *w)
{
	struct acc *s = w->trial->state;
	struct stamps *st = &s->st[w->id];
	const struct rate_ops *ops = s->ops;
	struct rate *r = s->r;

	while (worker_running(w)) {
		uint64_t b = mono_ns(), a, flag;
		int rc = s->mode == M_WAIT ? ops->wait(r, 1, NULL) : ops->allow(r, 1);

		/* Counted by when the call returned (a wait may span the stop). */
		flag = atomic_load_explicit(&w->trial->phase, memory_order_relaxed) ==
		       PHASE_MEASURE && w->phase == PHASE_MEASURE ? MEASURED : 0;
		if (flag)
			st->calls++;
		if (rc == 0) {
			a = mono_ns();
			push(s, st, b | flag, a);
			if (flag) {
				w->ops++;
				if (s->mode == M_ALLOW)
					worker_record(w, a - b);
			}
		} else if (rc == EAGAIN && s->mode == M_ALLOW) {
			if (flag)
				w->shed++;
		} else {
			w->errors++;
		}
	}
	/* The last thread to stop checks everyone's stamps. */
	if (atomic_fetch_add_explicit(&s->done, 1, memory_order_acq_rel) ==
	    w->trial->nthreads - 1)
		analyse(w, s);
}

static void acc_finish(struct trial *t, struct trial_extra *x)
{
	struct acc *s = t->state;
	double secs = (double)t->measure_ns / 1e9, ops = 0, calls = 0;
	uint64_t admitted = 0, unstamped = 0, last = s->t_create;
	double bound, wbound;

	for (unsigned i = 0; i < t->nthreads; i++) {
		admitted += s->st[i].admitted;
		unstamped += s->st[i].unstamped;
		if (s->st[i].admitted && s->st[i].last_a > last)
			last = s->st[i].last_a;
		ops += (double)t->workers[i].ops;
		calls += (double)s->st[i].calls;
	}
	bound = s->burst + s->rate * (double)(last - s->t_create) / 1e9;
	wbound = s->burst + s->rate * (double)s->window / 1e9;
	/*
	 * The tolerance is floating point's, not an event's.  An inexact
	 * baseline (rate_ops.inexact) shows its excess in the columns; it
	 * promised no better, so it is not a violation.
	 */
	if (!rate_ops_of(t->impl)->inexact) {
		if ((double)admitted > bound * (1 + 1e-12))
			t->workers[0].violations++;
		if ((double)s->max_in_window > wbound * (1 + 1e-12))
			t->workers[0].violations++;
		if (s->early)
			t->workers[0].violations++;
	}
	x->v[X_ADMITTED] = (double)admitted;
	x->v[X_BOUND] = bound;
	x->v[X_ADM_OVER_BOUND] = (double)admitted / bound;
	x->v[X_MAX_IN_WINDOW] = (double)s->max_in_window;
	x->v[X_WINDOW_BOUND] = wbound;
	x->v[X_WINDOW_OVER_BOUND] = (double)s->max_in_window / wbound;
	x->v[X_ACHIEVED] = ops / secs / s->rate;
	x->v[X_CALLS_S] = calls / secs;
	x->v[X_EARLY] = (double)s->early;
	x->v[X_UNSTAMPED] = (double)unstamped;
}

static void acc_teardown(struct trial *t)
{
	struct acc *s = t->state;

	s->ops->destroy(s->r);
	for (unsigned i = 0; i < t->nthreads; i++)
		for (struct chunk *c = s->st[i].head, *next; c; c = next) {
			next = c->next;
			free(c);
		}
	free(s->st);
	free(s);
}

const struct workload rate_accuracy_workload = {
	.name = "rate/accuracy",
	.family = "rate",
	.desc = "every thread on one limiter, allow(1) or wait(1): admitted vs burst + rate x T, exact window check, wait lateness",
	.params = acc_params,
	.extras = acc_extras,
	.sweep = acc_sweep,
	.check = acc_check,
	.setup = acc_setup,
	.thread = acc_thread,
	.finish = acc_finish,
	.teardown = acc_teardown,
};
