/* SPDX-License-Identifier: MIT */
/*
 * The plug between the harness and a workload.
 *
 * A workload is a `const struct workload` descriptor over one family.  The
 * harness owns everything around it: threads, pinning, the start gate,
 * warm-up, the stop flag, clocks, repetitions and output.  The workload
 * sees one trial (an implementation, its parameter values, a thread count)
 * and for each thread runs a loop:
 *
 *	while (worker_running(w)) {
 *		bool timed = worker_sample(w);
 *		uint64_t t0 = timed ? now_ns() : 0;
 *		ops->acquire(...);
 *		if (timed)
 *			worker_record(w, now_ns() - t0);
 *		...
 *		w->ops++;
 *	}
 *
 * It never prints or exits; it returns numbers through its workers and
 * through finish().  Per-thread state lives in struct worker, cache-line
 * aligned and written only by its own thread; the harness reduces it after
 * the stop flag.
 */
#ifndef CONTEND_WORKLOAD_H
#define CONTEND_WORKLOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "hist.h"
#include "impl.h"

#define MAX_PARAMS 12
#define MAX_EXTRAS 20

enum phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_STOP };

/*
 * A workload parameter: a whole number in [min, max], any number in it
 * when `real` (a load factor such as 1.5), or one of `choices`.
 */
struct param_spec {
	const char *name;
	double def;
	double min, max;
	const char *const *choices;	/* NULL-terminated; value = index */
	const char *help;
	bool real;			/* fractions allowed */
};

/*
 * A metric the report charts against a swept numeric parameter (one chart
 * per metric, one line per implementation and per value of every other
 * swept parameter).  `col` is a CSV column; a name ending in '_' takes
 * every column with that prefix onto one chart (share_: one line each).
 */
enum sweep_scale { SWEEP_LOG, SWEEP_LINEAR, SWEEP_SHARE, SWEEP_RATIO };

struct sweep_metric {
	const char *col;
	const char *kind;	/* part of the chart's file name */
	const char *ylabel;	/* with its unit */
	enum sweep_scale scale;
};

struct trial;

struct worker {
	struct trial *trial;
	unsigned id;
	int plan_pu;		/* logical PU from the placement plan, -1 none */
	int cpu_start, cpu_end;	/* CPU seen at measure start and at stop */
	enum phase phase;	/* last phase this thread acted on */
	uint64_t ops;		/* completed operations while measuring */
	uint64_t errors;	/* operations that failed unexpectedly */
	uint64_t handoffs;	/* acquisitions whose previous holder was another thread */
	uint64_t violations;	/* invariant violations seen by this thread */
	uint64_t shed;		/* operations rejected by design (try/shed) */
	uint64_t warm_ops;	/* operations during warm-up (sampling calibration) */
	uint64_t warm_start;	/* now_ns() when warm-up began */
	uint64_t sample_every;	/* mean sampling period, 0 = latency off */
	uint64_t sample_left;	/* countdown to the next timed operation */
	uint64_t rng;		/* xorshift state, seeded per thread */
	bool aux;		/* set by setup(): this thread drives the workload
				 * (an arrival source, a producer); its ops are
				 * not the measured operations and it is left out
				 * of ops, ops_min/max, Jain and starved */
	long vcsw, ivcsw;	/* context switches while measuring (getrusage) */
	double extra[MAX_EXTRAS]; /* workload-defined per-thread sums */
	struct hist *lat;	/* NULL when latency recording is off */
} cacheline_aligned;

struct trial {
	const struct workload *wl;
	const struct impl_info *impl;
	double param[MAX_PARAMS];	/* values in wl->params order */
	unsigned nthreads;
	bool latency;			/* record latency at all */
	_Atomic int phase cacheline_aligned;	/* enum phase, set by the runner */
	void *state cacheline_aligned;	/* the workload's, from setup() */
	struct worker *workers;
	uint64_t measure_ns;		/* length of the measured phase */
	uint64_t warmup_ns;
	uint64_t duration_ns;		/* the measured phase asked for */
};

/* What finish() may add to a trial's row, named by wl->extras. */
struct trial_extra {
	double v[MAX_EXTRAS];
};

struct workload {
	const char *name;	/* "family/workload" */
	const char *family;
	const char *desc;	/* one line for `contend list` */
	const struct param_spec *params;	/* terminated by .name == NULL */
	const char *const *extras;	/* NULL-terminated extra metric columns */
	bool handoff;		/* reports hand-off rate */
	bool sampled;		/* latency is sampled (closed loop); open
				 * loops time every operation themselves */
	/* What the latency histogram holds, for chart labels; NULL:
	 * "latency" (rate/shaping: "inter-departure time"). */
	const char *lat_what;
	/* Optional: a column prefix whose columns are consecutive parts of
	 * one whole, in ns (drain/server's "phase_": the shutdown's phases).
	 * The report draws one stacked bar per line (implementation, swept
	 * parameters, thread count), each part the median over repetitions. */
	const char *parts;
	/* NULL if impl can run with these parameters, else why not. */
	const char *(*check)(const struct impl_info *impl, const double *param);
	/* Optional: NULL if nthreads threads fit these parameters (a workload
	 * whose threads have roles, such as producers and consumers), else
	 * why not.  Such trials are skipped and noted, as check()'s are. */
	const char *(*check_threads)(const double *param, unsigned nthreads);
	/* Optional: metrics the report charts against each swept numeric
	 * parameter, terminated by .col == NULL.  A workload that has them
	 * tells its story there: its per-configuration sections keep their
	 * tables but draw no charts.  Without them, share_* columns (if any)
	 * are charted against the swept parameter. */
	const struct sweep_metric *sweep;
	/* Optional: how the thread count splits into roles, for the report's
	 * axis, e.g. "p producers + c consumers".  The workload then reports
	 * each role's thread count in an extra column threads_<role>
	 * (threads_p, threads_c) and thread counts read "1p1c". */
	const char *roles;
	/* Build the shared state into t->state; 0 or an error code. */
	int (*setup)(struct trial *t);
	/* One thread's loop; returns when worker_running() says stop. */
	void (*thread)(struct worker *w);
	/* After every thread has returned: verify, fill extras. */
	void (*finish)(struct trial *t, struct trial_extra *x);
	void (*teardown)(struct trial *t);
};

bool worker_enter_phase(struct worker *w, int phase);

/* The loop condition: one relaxed load while the phase is unchanged. */
static inline bool worker_running(struct worker *w)
{
	int ph = atomic_load_explicit(&w->trial->phase, memory_order_acquire);

	if (likely(ph == (int)w->phase)) {
		return true;
	}
	return worker_enter_phase(w, ph);
}

static inline uint64_t worker_rand(struct worker *w)
{
	return xorshift64(&w->rng);
}

/*
 * Should this operation be timed?  Closed loops time one operation in
 * about sample_every, at random intervals (uniform on [1, 2P-1]) so the
 * sample cannot alias with a periodic pattern such as lock hand-off.
 * Warm-up operations are counted here too, to calibrate the period.
 */
static inline bool worker_sample(struct worker *w)
{
	if (unlikely(w->phase == PHASE_WARMUP)) {
		w->warm_ops++;
		return false;
	}
	if (!w->lat || --w->sample_left)
		return false;
	w->sample_left = w->sample_every > 1 ?
		1 + worker_rand(w) % (2 * w->sample_every - 1) : 1;
	return true;
}

static inline void worker_record(struct worker *w, uint64_t ns)
{
	if (w->lat && w->phase == PHASE_MEASURE)
		hist_record(w->lat, ns);
}

#endif
