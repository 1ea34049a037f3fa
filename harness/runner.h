/* SPDX-License-Identifier: MIT */
/*
 * The runner: turns a run configuration (workload, implementations, thread
 * counts, placements, parameter sweeps, repetitions) into trials, runs
 * them with implementations interleaved inside every repetition, and hands
 * each finished trial to a callback (the output writer).
 */
#ifndef CONTEND_RUNNER_H
#define CONTEND_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "topo.h"
#include "workload.h"

#define MAX_IMPLS 32
#define MAX_LIST 64
#define MAX_THREADS 16384	/* ctx/broadcast wants 10,000 waiters */

struct run_config {
	const struct workload *wl;
	const struct impl_info *impls[MAX_IMPLS];
	unsigned nimpls;
	unsigned threads[MAX_LIST];
	unsigned nthreads;
	enum placement placements[4];
	unsigned nplacements;
	double values[MAX_PARAMS][MAX_LIST];	/* sweep per parameter */
	unsigned nvalues[MAX_PARAMS];
	uint64_t duration_ns, warmup_ns;
	unsigned reps;
	unsigned rep_base;	/* repetitions already run (adding more later) */
	bool latency[2];	/* latency recording settings to run, in order */
	unsigned nlatency;	/* 1, or 2 to interleave on and off */
	struct topo *topo;	/* this machine */
};

/* One finished trial, reduced. */
struct trial_result {
	const struct workload *wl;
	const struct impl_info *impl;
	double param[MAX_PARAMS];
	unsigned nthreads;
	enum placement placement;
	bool oversubscribed;
	bool latency;
	unsigned rep;			/* 1-based */
	unsigned seq;			/* trial number in the run, 1-based */
	double duration_s;
	uint64_t ops, ops_min, ops_max;
	double throughput;		/* ops/s */
	double jain;
	bool starved;
	double handoff_rate;		/* NaN when the workload has none */
	uint64_t errors, violations, shed;
	uint64_t sample_every;		/* largest period used by any thread */
	struct hist *lat;		/* merged; NULL when latency is off */
	struct trial_extra extra;
	char plan[1024];		/* "pu;pu;..." logical PUs, "-" unpinned */
	char cpus[1024];		/* CPU each thread was on at the stop */
	unsigned migrated;		/* threads whose CPU changed while measuring */
	/* Noise signals. */
	double steal_pct;		/* % of CPU time stolen by the hypervisor */
	long vcsw, ivcsw;		/* voluntary / involuntary context switches */
};

typedef int (*trial_sink)(void *arg, const struct trial_result *r);

/*
 * Run every trial of cfg; sink(arg, r) after each.  Returns 0, EINTR when
 * Ctrl-C stopped it (completed trials were all delivered), or an error.
 */
int runner_run(const struct run_config *cfg, trial_sink sink, void *arg);

/* Number of trials cfg describes and how many of them will be skipped. */
unsigned runner_count(const struct run_config *cfg);

void runner_install_sigint(void);
bool runner_interrupted(void);

/* How many operations were the parameters of trial i (its sweep combo). */
unsigned runner_combos(const struct run_config *cfg);
void runner_combo(const struct run_config *cfg, unsigned k, double *param);

#endif
