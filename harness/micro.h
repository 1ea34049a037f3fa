/* SPDX-License-Identifier: MIT */
/*
 * Single-operation micro-benchmarks (contend micro), through Google
 * Benchmark's C shim.  A family supplies its cases; the harness registers
 * every case for every implementation in the registry (test-only negative
 * controls excluded, the `null` floor included), pins threads inside the
 * benchmark body, and turns the results into micro.csv and micro.json.
 *
 * A case body uses the batch protocol and nothing else per iteration:
 *
 *	size_t n;
 *	while ((n = gb_next_batch(st)))
 *		for (size_t i = 0; i < n; i++)
 *			op();
 */
#ifndef CONTEND_MICRO_H
#define CONTEND_MICRO_H

#include <stdbool.h>
#include <stdio.h>

#include "gbench.h"
#include "impl.h"

struct micro_case {
	const char *name;	/* "acquire_release" */
	bool contended;		/* also registered at 2..N threads */
	/* The object every thread of the benchmark shares; NULL on failure. */
	void *(*setup)(const struct impl_info *impl);
	void (*body)(struct gb_state *st, void *obj, const struct impl_info *impl);
	void (*teardown)(void *obj, const struct impl_info *impl);
	/* 0: one thread (and 2..N when contended).  2 or more: always exactly
	 * that many, whatever --threads says, for a case whose threads play
	 * roles (a pipeline's producer and consumer); its name has no
	 * "/contended", Google Benchmark's adds "/threads:N". */
	unsigned threads;
};

struct micro_family {
	const struct micro_case *cases;	/* terminated by .name == NULL */
};

struct micro_opts {
	const char *filter;	/* regex over "family/impl/case[/threads:N]" */
	unsigned reps;
	double min_time_s;
	unsigned max_threads;	/* contended cases at 2, 4, ... up to this */
	bool quiet;
};

struct output;

/*
 * Whether filter (an extended regex; Google Benchmark's ECMAScript syntax
 * agrees on everything but exotic features) matches any benchmark name,
 * so bad input is refused before a run folder is created.  0, EINVAL for
 * a regex that does not compile, ENOENT when it matches nothing.
 */
int micro_filter_check(const char *filter);

/* Register, run, write micro.csv and micro.json into the run folder. */
int micro_run(const struct micro_opts *o, const char *dir, const char *run_id,
	      const char *host, const char *topo, FILE *log);

#endif
