/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

double jain_index(const double *x, size_t n)
{
	double sum = 0, sq = 0;

	for (size_t i = 0; i < n; i++) {
		sum += x[i];
		sq += x[i] * x[i];
	}
	if (n == 0 || sq == 0)
		return NAN;
	return sum * sum / ((double)n * sq);
}

bool starved(double min, double max)
{
	return max > 2 * min;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double median(double *x, size_t n)
{
	if (n == 0)
		return NAN;
	qsort(x, n, sizeof(*x), cmp_double);
	return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

static bool any_nan(const double *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isnan(x[i]))
			return true;
	return false;
}

/*
 * Order-statistic interval.  With B ~ Binomial(n, 1/2) the number of sample
 * values below the true median, [x_(k), x_(n+1-k)] misses the median only
 * when B <= k-1 or B >= n+1-k, so its coverage is 1 - 2 * P(B <= k-1).  The
 * pmf terms C(n, i) / 2^n are built as logarithms, log C(n, i+1) =
 * log C(n, i) + log((n - i) / (i + 1)), in long double: no overflow, no
 * underflow trouble, and about 1e-16 relative error for n in the thousands.
 */
int median_ci(const double *x, size_t n, double level, struct median_ci *out)
{
	const long double ln2 = 0.693147180559945309417232121458176568L;
	long double lchoose = 0, cdf, cov, best_cov;
	double *s;
	size_t k;

	if (n == 0 || !(level > 0 && level < 1) || any_nan(x, n))
		return EINVAL;
	s = malloc(n * sizeof(*s));
	if (!s)
		return ENOMEM;
	memcpy(s, x, n * sizeof(*s));

	/* k = 1 is min..max; take it even when it falls short of level. */
	cdf = expl(-(long double)n * ln2);	/* P(B <= 0) */
	best_cov = 1 - 2 * cdf;
	k = 1;
	/* Try k + 1 while it is still a proper interval, k + 1 <= n - k. */
	while (k + 1 <= n - k) {
		/* log C(n, k), then P(B <= k) */
		lchoose += logl((long double)(n - (k - 1)) / k);
		cdf += expl(lchoose - (long double)n * ln2);
		cov = 1 - 2 * cdf;
		if (cov < level)
			break;
		best_cov = cov;
		k++;
	}

	out->median = median(s, n);	/* sorts s */
	out->lo = s[k - 1];
	out->hi = s[n - k];
	out->coverage = (double)best_cov;
	out->n = (unsigned)n;
	free(s);
	return 0;
}

double coeff_var(const double *x, size_t n)
{
	double mean = 0, ss = 0;

	if (n < 2)
		return NAN;
	for (size_t i = 0; i < n; i++)
		mean += x[i];
	mean /= (double)n;
	if (mean == 0)
		return NAN;
	for (size_t i = 0; i < n; i++)
		ss += (x[i] - mean) * (x[i] - mean);
	return sqrt(ss / (double)(n - 1)) / mean;
}

struct ranked {
	double v;
	bool in_a;
};

static int cmp_ranked(const void *l, const void *r)
{
	return cmp_double(&((const struct ranked *)l)->v,
			  &((const struct ranked *)r)->v);
}

/*
 * P(U <= u) under the null for samples of m and n values without ties.  The
 * number of arrangements giving each U is the coefficient of q^U in the
 * Gaussian binomial [m+n choose m]_q = prod_{i=1..m} (1 - q^(n+i)) /
 * (1 - q^i), built one factor at a time in a table of m * n + 1 counts:
 * multiply by (1 - q^(n+i)), then divide by (1 - q^i).  Every count is at
 * most C(50, 25) < 2^47, so int64_t is exact.
 */
static int mwu_exact_cdf(size_t m, size_t n, size_t u, double *cdf)
{
	size_t top = m * n;
	int64_t *c, total = 0, below = 0;

	c = calloc(top + 1, sizeof(*c));
	if (!c)
		return ENOMEM;
	c[0] = 1;
	for (size_t i = 1; i <= m; i++) {
		for (size_t d = top; d >= n + i; d--)
			c[d] -= c[d - (n + i)];
		for (size_t d = i; d <= top; d++)
			c[d] += c[d - i];
	}
	for (size_t d = 0; d <= top; d++) {
		total += c[d];
		if (d <= u)
			below += c[d];
	}
	*cdf = (double)below / (double)total;
	free(c);
	return 0;
}

/*
 * Midranks over the pooled sample give R1, the rank sum of a, and the tie
 * term sum(t^3 - t) over groups of t equal values.
 */
int mann_whitney(const double *a, size_t na, const double *b, size_t nb,
		 struct mwu *out)
{
	size_t n = na + nb;
	double r1 = 0, ties = 0, mn = (double)na * (double)nb;
	struct ranked *all;
	int err = 0;

	if (na == 0 || nb == 0 || any_nan(a, na) || any_nan(b, nb))
		return EINVAL;
	all = malloc(n * sizeof(*all));
	if (!all)
		return ENOMEM;
	for (size_t i = 0; i < na; i++)
		all[i] = (struct ranked){ .v = a[i], .in_a = true };
	for (size_t i = 0; i < nb; i++)
		all[na + i] = (struct ranked){ .v = b[i], .in_a = false };
	qsort(all, n, sizeof(*all), cmp_ranked);

	for (size_t i = 0, j; i < n; i = j) {
		double t, mid;

		for (j = i + 1; j < n && all[j].v == all[i].v; j++)
			;
		t = (double)(j - i);
		mid = (double)(i + 1 + j) / 2;	/* ranks i+1 .. j */
		for (size_t q = i; q < j; q++)
			if (all[q].in_a)
				r1 += mid;
		ties += t * t * t - t;
	}
	free(all);

	out->u1 = r1 - (double)na * (double)(na + 1) / 2;
	out->u2 = mn - out->u1;
	out->exact = ties == 0 && na <= MWU_EXACT_MAX && nb <= MWU_EXACT_MAX;

	if (out->exact) {
		double cdf, umin = fmin(out->u1, out->u2);

		err = mwu_exact_cdf(na, nb, (size_t)umin, &cdf);
		if (err)
			return err;
		out->p = fmin(1, 2 * cdf);
	} else {
		double nn = (double)n;
		double var = mn / 12 * ((nn + 1) - ties / (nn * (nn - 1)));
		double z;

		if (!(var > 0)) {
			out->p = 1;	/* every value equal */
			return 0;
		}
		z = (fmax(out->u1, out->u2) - mn / 2 - 0.5) / sqrt(var);
		/* 2 * (1 - Phi(z)) */
		out->p = fmin(1, erfc(z / sqrt(2.0)));
	}
	return 0;
}

struct indexed {
	double p;
	size_t i;
};

static int cmp_indexed(const void *l, const void *r)
{
	return cmp_double(&((const struct indexed *)l)->p,
			  &((const struct indexed *)r)->p);
}

/*
 * With p sorted ascending, adj_(j) = max over i <= j of (m - i) * p_(i)
 * (0-based i), capped at 1.  Tied p-values end up with the same adjusted
 * value whatever order the sort leaves them in.
 */
void holm_adjust(const double *p, size_t m, double *adj)
{
	struct indexed *s;
	double run = 0;

	if (m == 0)
		return;
	s = malloc(m * sizeof(*s));
	if (!s) {
		for (size_t i = 0; i < m; i++)
			adj[i] = NAN;
		return;
	}
	for (size_t i = 0; i < m; i++)
		s[i] = (struct indexed){ .p = p[i], .i = i };
	qsort(s, m, sizeof(*s), cmp_indexed);
	for (size_t j = 0; j < m; j++) {
		run = fmax(run, (double)(m - j) * s[j].p);
		adj[s[j].i] = fmin(1, run);
	}
	free(s);
}

/* splitmix64 (Steele, Lea, Flood 2014): one add and a mix per draw. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Median of n values drawn from x with replacement, using buf as scratch. */
static double resample_median(const double *x, size_t n, double *buf,
			      uint64_t *state)
{
	/* The modulo bias, at most n / 2^64, is far below bootstrap noise. */
	for (size_t i = 0; i < n; i++)
		buf[i] = x[splitmix64(state) % n];
	return median(buf, n);
}

/* Linear interpolation between order statistics, numpy's default. */
static double quantile_sorted(const double *s, size_t n, double q)
{
	double h = q * (double)(n - 1);
	size_t i = (size_t)h;

	if (i + 1 >= n)
		return s[n - 1];
	return s[i] + (h - (double)i) * (s[i + 1] - s[i]);
}

/*
 * Percentile bootstrap: the interval is the (1 - level) / 2 and
 * (1 + level) / 2 quantiles of the resampled ratios themselves, with no
 * bias correction (not BCa) and no studentizing.
 */
int ratio_ci(const double *a, size_t na, const double *b, size_t nb,
	     double level, unsigned resamples, uint64_t seed, double *ratio,
	     double *lo, double *hi)
{
	double *buf, *r, ma, mb;
	uint64_t state = seed;
	int err = 0;

	if (na == 0 || nb == 0 || resamples == 0 ||
	    !(level > 0 && level < 1) || any_nan(a, na) || any_nan(b, nb))
		return EINVAL;
	buf = malloc((na > nb ? na : nb) * sizeof(*buf));
	if (!buf)
		return ENOMEM;
	r = malloc(resamples * sizeof(*r));
	if (!r) {
		err = ENOMEM;
		goto out_buf;
	}

	memcpy(buf, a, na * sizeof(*buf));
	ma = median(buf, na);
	memcpy(buf, b, nb * sizeof(*buf));
	mb = median(buf, nb);
	if (ma == 0) {
		err = EINVAL;
		goto out_r;
	}

	for (unsigned i = 0; i < resamples; i++) {
		double ra = resample_median(a, na, buf, &state);
		double rb = resample_median(b, nb, buf, &state);

		if (ra == 0) {
			err = EDOM;
			goto out_r;
		}
		r[i] = rb / ra;
	}
	qsort(r, resamples, sizeof(*r), cmp_double);
	*ratio = mb / ma;
	*lo = quantile_sorted(r, resamples, (1 - level) / 2);
	*hi = quantile_sorted(r, resamples, (1 + level) / 2);
out_r:
	free(r);
out_buf:
	free(buf);
	return err;
}
