/* SPDX-License-Identifier: MIT */
/*
 * contend compare: is B faster than A, and how sure are we?
 *
 * For each matching group (workload, parameters, threads, placement,
 * latency setting) it reports the ratio of medians B/A with a bootstrap
 * 95% confidence interval, a two-sided Mann-Whitney U p-value, the p-value
 * after Holm's correction over every comparison in the call, and a
 * verdict.  A verdict other than "no significant difference" needs both
 * significance (Holm-adjusted p < 0.05) and a practical effect of at least
 * the threshold (default 2%).
 */
#ifndef CONTEND_COMPARE_H
#define CONTEND_COMPARE_H

#include <stdbool.h>
#include <stdio.h>

struct compare_opts {
	const char *run_a, *run_b;	/* run_b NULL: within run_a */
	const char *impl_a, *impl_b;	/* within one run: --impl A --vs B */
	const char *metric;		/* CSV column; default throughput_ops_s */
	double threshold;		/* practical threshold, fraction (0.02) */
	double fail_if_slower;		/* fraction, < 0 = no gate */
	const char *csv_path;		/* NULL: no CSV */
	double alpha;			/* 0.05 */
};

/*
 * Run the comparison, print the table to out.  Returns 0, 1 when the
 * regression gate tripped, 2 on bad input (message on err), 3 when the
 * runs cannot be read.
 */
int compare_runs(const struct compare_opts *o, FILE *out, FILE *err);

#endif
