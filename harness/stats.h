/* SPDX-License-Identifier: MIT */
/* Small statistics over per-thread and per-repetition numbers. */
#ifndef CONTEND_STATS_H
#define CONTEND_STATS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Jain's fairness index (sum x)^2 / (n * sum x^2): 1 when every thread got
 * the same share, 1/n when one got everything.  NaN (undefined, an empty CSV
 * cell) for n == 0 or when nobody did anything: no work is not fairness.
 */
double jain_index(const double *x, size_t n);

/* Starvation flag, as locktorture prints it: max > 2 * min. */
bool starved(double min, double max);

/* Median of x (sorted in place); NaN for n == 0. */
double median(double *x, size_t n);

#endif
