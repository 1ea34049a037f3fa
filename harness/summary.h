/* SPDX-License-Identifier: MIT */
/*
 * From trials to verdict-ready numbers.  A workload CSV has one row per
 * trial; a *group* is the set of rows that share every identifying column
 * (host, implementation, workload parameters, threads, placement, latency
 * setting) and differ only by repetition.  summarize() turns each group
 * into, per metric, the median with a distribution-free 95% confidence
 * interval, the coefficient of variation and a trust flag.
 */
#ifndef CONTEND_SUMMARY_H
#define CONTEND_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>

#include "csv.h"

/* A confidence interval wider than this share of the median is "wide". */
#define SUMMARY_WIDE 0.10

struct group {
	char *key;		/* identifying cells joined with '|' */
	size_t *rows;		/* row indexes into the table */
	size_t nrows;
};

struct groups {
	struct group *g;
	size_t n;
};

/*
 * Group the rows of t by the columns named in by[] (missing names are
 * ignored).  Groups come out in order of first appearance.
 */
int group_rows(const struct csv_table *t, const char *const *by, size_t nby,
	       struct groups *out);
void groups_free(struct groups *gs);

/*
 * The identifying columns of a workload CSV: every column from "host" up
 * to, but not including, "rep", minus run_id.  Writes up to cap names
 * into out and returns how many.
 */
size_t identity_columns(const struct csv_table *t, const char **out,
			size_t cap);

/* Numeric values of column col over a group's rows (empty cells skipped). */
size_t group_values(const struct csv_table *t, const struct group *g,
		    const char *col, double *out);

/* The metrics summarize() reports, and whether higher is better. */
struct metric {
	const char *col;
	bool higher_better;
};
extern const struct metric summary_metrics[];

/*
 * One row per (group, metric): the identity columns, then metric, n,
 * median, ci_lo, ci_hi, ci_coverage, cv, trust ("ok", "few" when n is too
 * small for 95% coverage, "wide" when the interval spans more than
 * SUMMARY_WIDE of the median).
 */
int summarize(const struct csv_table *t, struct csv_table **out);

/* Largest relative CI half-width of `col` over every group (for --ci-target). */
double summary_worst_ci(const struct csv_table *t, const char *col,
			unsigned *groups_over, double target);

#endif
