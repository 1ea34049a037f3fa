/* SPDX-License-Identifier: MIT */
/* Small statistics over per-thread and per-repetition numbers. */
#ifndef CONTEND_STATS_H
#define CONTEND_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/*
 * Distribution-free confidence interval for the median from order
 * statistics: [x_(k), x_(n+1-k)] (1-based, of the sorted sample) with the
 * largest k whose coverage 1 - 2 * P(B <= k-1), B ~ Binomial(n, 1/2), is at
 * least level.  When no k reaches level (n < 6 for 95%) the interval is
 * min..max (k = 1) and coverage says what it really is, so callers can flag
 * it.  x is not modified.
 */
struct median_ci {
	double median;		/* as median() computes it */
	double lo, hi;		/* x_(k) and x_(n+1-k) */
	double coverage;	/* exact coverage of [lo, hi] */
	unsigned n;		/* sample size */
};

/* 0, EINVAL (n == 0, a NaN, level outside (0, 1)) or ENOMEM. */
int median_ci(const double *x, size_t n, double level, struct median_ci *out);

/* Sample standard deviation (n - 1) over the mean; NaN for n < 2, mean 0. */
double coeff_var(const double *x, size_t n);

/*
 * Two-sided Mann-Whitney U test of a against b.  u1 counts the pairs with
 * a > b (ties count 1/2), u2 = na * nb - u1.  The p-value is exact when
 * there are no ties and both samples have at most MWU_EXACT_MAX values, as
 * scipy.stats.mannwhitneyu(method='exact'); otherwise it is the normal
 * approximation with tie and continuity correction, as method='asymptotic'.
 */
#define MWU_EXACT_MAX 25

struct mwu {
	double u1, u2;
	double p;		/* two-sided, capped at 1 */
	bool exact;		/* p from the exact null distribution */
};

/* 0, EINVAL (na or nb is 0, a NaN) or ENOMEM. */
int mann_whitney(const double *a, size_t na, const double *b, size_t nb,
		 struct mwu *out);

/*
 * Holm-Bonferroni step-down adjustment of m p-values into adj (which may be
 * p itself): monotone in p, capped at 1, as statsmodels
 * multipletests(method='holm').  Should the scratch allocation fail, every
 * adj[i] is NaN.
 */
void holm_adjust(const double *p, size_t m, double *adj);

/*
 * Percentile-bootstrap interval of median(b) / median(a): resample a and b
 * independently with replacement, resamples times, from a splitmix64 stream
 * seeded with seed (same seed, same answer).  *ratio is the point estimate
 * from the samples themselves.  0, EINVAL (an empty sample, a NaN,
 * median(a) == 0, resamples == 0, level outside (0, 1)), EDOM (a resample
 * of a has median 0, so the ratio is unbounded) or ENOMEM.
 */
int ratio_ci(const double *a, size_t na, const double *b, size_t nb,
	     double level, unsigned resamples, uint64_t seed, double *ratio,
	     double *lo, double *hi);

#endif
