/* SPDX-License-Identifier: MIT */
/*
 * Median interval, coefficient of variation, Mann-Whitney U, Holm and the
 * bootstrap ratio interval.  Reference numbers were computed once, by hand,
 * with Debian's scipy 1.10.1 and statsmodels 0.13.5; each is hard-coded
 * next to the call that produced it.  Exact p-values must agree to 1e-6
 * relative, asymptotic ones to 1e-4.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "stats.h"
#include "tap.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define TOL_EXACT 1e-6
#define TOL_ASYM 1e-4

static double rel_err(double x, double ref)
{
	return fabs(x - ref) / fabs(ref);
}

/*
 * P(B <= k) for B ~ Binomial(n, 1/2), independently of the library: exact
 * Pascal-triangle counts over 2^n for n <= 62, a log-gamma sum above.
 */
static double binom_half_cdf(int k, int n)
{
	double sum = 0;

	if (n <= 62) {
		uint64_t row[63] = { 1 };

		for (int r = 1; r <= n; r++)
			for (int i = r; i > 0; i--)
				row[i] += row[i - 1];
		for (int i = 0; i <= k; i++)
			sum += (double)row[i];
		return ldexp(sum, -n);
	}
	for (int i = 0; i <= k; i++)
		sum += exp(lgamma(n + 1.0) - lgamma(i + 1.0) -
			   lgamma(n - i + 1.0) - n * log(2.0));
	return sum;
}

struct ci_case {
	int n, k;		/* sample 1..n, expected ranks (k, n+1-k) */
	double coverage;	/* scipy reference */
	const char *src;
};

static void test_median_ci(void)
{
	/*
	 * coverage = 1 - 2 * scipy.stats.binom.cdf(k - 1, n, 0.5); k is the
	 * largest with coverage >= 0.95 (found the same way with scipy),
	 * except n = 5, which cannot reach it and falls back to min..max.
	 */
	static const struct ci_case cases[] = {
		{ 9, 2, 0.9609375, "binom.cdf(1, 9, .5)" },
		{ 5, 1, 0.9375, "binom.cdf(0, 5, .5)" },
		{ 20, 6, 0.9586105346679688, "binom.cdf(5, 20, .5)" },
		{ 100, 40, 0.9647997997822951, "binom.cdf(39, 100, .5)" },
		{ 1000, 469, 0.9537088026395019, "binom.cdf(468, 1000, .5)" },
	};
	static double x[1000];
	double shuffled[9] = { 7, 3, 9, 1, 5, 8, 2, 6, 4 }, keep[9];
	struct median_ci ci;

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		const struct ci_case *t = &cases[c];
		double own = 1 - 2 * binom_half_cdf(t->k - 1, t->n);
		int rc;

		for (int i = 0; i < t->n; i++)
			x[i] = i + 1;
		rc = median_ci(x, t->n, 0.95, &ci);
		check_int(rc, ==, 0, "median_ci: n=%d succeeds", t->n);
		check_dbl(ci.lo, ==, t->k,
			  "median_ci: n=%d lower bound is x_(%d)", t->n, t->k);
		check_dbl(ci.hi, ==, t->n + 1 - t->k,
			  "median_ci: n=%d upper bound is x_(%d)", t->n,
			  t->n + 1 - t->k);
		check_dbl(rel_err(ci.coverage, t->coverage), <, TOL_EXACT,
			  "median_ci: n=%d coverage matches scipy %s", t->n,
			  t->src);
		check_dbl(rel_err(ci.coverage, own), <, 1e-12,
			  "median_ci: n=%d coverage matches our own binomial sum",
			  t->n);
		check_dbl(ci.median, ==, (t->n + 1) / 2.0,
			  "median_ci: n=%d median", t->n);
		check_uint(ci.n, ==, t->n, "median_ci: n=%d reports n", t->n);
		if (t->k > 1)
			check_dbl(1 - 2 * binom_half_cdf(t->k, t->n), <, 0.95,
				  "median_ci: n=%d rank %d falls short: %d is largest",
				  t->n, t->k + 1, t->k);
	}

	memcpy(keep, shuffled, sizeof(keep));
	check_int(median_ci(shuffled, 9, 0.95, &ci), ==, 0,
		  "median_ci: unsorted input succeeds");
	check(ci.lo == 2 && ci.hi == 8 && ci.median == 5,
	      "median_ci: unsorted 1..9 still gives [2, 8] around 5");
	check(memcmp(keep, shuffled, sizeof(keep)) == 0,
	      "median_ci: input left unsorted");

	x[0] = 42;
	check_int(median_ci(x, 1, 0.95, &ci), ==, 0, "median_ci: n=1 succeeds");
	check(ci.lo == 42 && ci.hi == 42 && ci.coverage == 0,
	      "median_ci: n=1 is the single value with coverage 0");
	check_int(median_ci(x, 0, 0.95, &ci), ==, EINVAL,
		  "median_ci: n=0 is EINVAL");
	check_int(median_ci(x, 1, 1.0, &ci), ==, EINVAL,
		  "median_ci: level 1 is EINVAL");
	x[1] = NAN;
	check_int(median_ci(x, 2, 0.95, &ci), ==, EINVAL,
		  "median_ci: a NaN is EINVAL");
}

static void test_coeff_var(void)
{
	double x[8] = { 2, 4, 4, 4, 5, 5, 7, 9 };
	double flat[3] = { 3, 3, 3 };
	double zero_mean[2] = { -1, 1 };

	/* numpy: x.std(ddof=1) / x.mean() -> 0.427617987059879 */
	check_dbl(rel_err(coeff_var(x, 8), 0.427617987059879), <, 1e-12,
		  "coeff_var: 2,4,4,4,5,5,7,9 gives sqrt(32/7)/5");
	check_dbl(coeff_var(flat, 3), ==, 0, "coeff_var: equal values give 0");
	check(isnan(coeff_var(x, 1)), "coeff_var: n=1 is NaN");
	check(isnan(coeff_var(zero_mean, 2)), "coeff_var: mean 0 is NaN");
}

struct mwu_case {
	const char *name;
	const double *a, *b;
	size_t na, nb;
	double u1, p;
	bool exact;
	const char *src;
};

#define MWU_CASE(n_, a_, b_, u_, p_, x_, s_) {				\
	.name = n_, .a = a_, .b = b_, .na = ARRAY_SIZE(a_),		\
	.nb = ARRAY_SIZE(b_), .u1 = u_, .p = p_, .exact = x_, .src = s_ }

static void test_mann_whitney(void)
{
	static const double sep_a[] = { 1, 2, 3, 4, 5 };
	static const double sep_b[] = { 6, 7, 8, 9, 10 };
	static const double int_a[] = { 1, 3, 5, 7, 9 };
	static const double int_b[] = { 2, 4, 6, 8, 10 };
	static const double u37_a[] = { 1.5, 4.2, 9.9 };
	static const double u37_b[] = { 2, 3, 5, 6, 7, 8, 10 };
	static const double one_a[] = { 1 };
	static const double one_b[] = { 2 };
	static const double u19_b[] = { 1, 2, 3, 4, 6, 7, 8, 9, 10 };
	static const double one_5[] = { 5 };
	static const double tie_a[] = { 1, 2, 2, 3, 3, 3, 4 };
	static const double tie_b[] = { 3, 4, 4, 5, 5, 6 };
	static const double same_a[] = { 7, 7, 7 };
	static const double same_b[] = { 7, 7, 7, 7 };
	static double e20[20], e25[25], f25a[25], f25b[25];
	static double l1a[30], l1b[30], l2a[30], l2b[30], l3a[30], l3b[30];
	static double l4a[26], l4b[5];
	static const struct mwu_case cases[] = {
		/* a=[1..5], b=[6..10] */
		MWU_CASE("separated 5 vs 5", sep_a, sep_b, 0,
			 0.007936507936507936, true, "exact"),
		MWU_CASE("interleaved 5 vs 5", int_a, int_b, 10,
			 0.6904761904761905, true, "exact"),
		MWU_CASE("3 vs 7", u37_a, u37_b, 8,
			 0.6666666666666666, true, "exact"),
		MWU_CASE("1 vs 1", one_a, one_b, 0, 1.0, true, "exact"),
		MWU_CASE("1 vs 9", one_5, u19_b, 4, 1.0, true, "exact"),
		/* a = [3i+1 for i < 20], b = [2i+0.5 for i < 25] */
		MWU_CASE("20 vs 25", e20, e25, 292,
			 0.3466893196989723, true, "exact"),
		/* a = [2i for i < 25], b = [2i+11 for i < 25] */
		MWU_CASE("25 vs 25", f25a, f25b, 190,
			 0.016982216353507554, true, "exact"),
		MWU_CASE("ties 7 vs 6", tie_a, tie_b, 3.5,
			 0.012999854364387305, false, "asymptotic"),
		MWU_CASE("all identical", same_a, same_b, 6, 1.0, false,
			 "asymptotic"),
		/* a = [i for i < 30], b = [3+1.1i for i < 30] */
		MWU_CASE("30 vs 30 linear", l1a, l1b, 331.5,
			 0.08104843929234194, false, "asymptotic"),
		/* a = [(7i)%30 for i < 30], b = [(11i)%30+2 for i < 30] */
		MWU_CASE("30 vs 30 modular", l2a, l2b, 392,
			 0.3950830936391986, false, "asymptotic"),
		/* a = [2i for i < 30], b = [2i+7 for i < 30] */
		MWU_CASE("30 vs 30 even/odd", l3a, l3b, 351,
			 0.14531912724086543, false, "asymptotic"),
		/* a = [i for i < 26], b = [i+0.5 for 20 <= i < 25], no ties */
		MWU_CASE("26 vs 5 beyond exact", l4a, l4b, 15,
			 0.007847154029678153, false, "asymptotic"),
	};
	struct mwu r;

	for (int i = 0; i < 20; i++)
		e20[i] = 3 * i + 1;
	for (int i = 0; i < 25; i++) {
		e25[i] = 2 * i + 0.5;
		f25a[i] = 2 * i;
		f25b[i] = 2 * i + 11;
	}
	for (int i = 0; i < 30; i++) {
		l1a[i] = i;
		l1b[i] = 3 + 1.1 * i;
		l2a[i] = (7 * i) % 30;
		l2b[i] = (11 * i) % 30 + 2;
		l3a[i] = 2 * i;
		l3b[i] = 2 * i + 7;
	}
	for (int i = 0; i < 26; i++)
		l4a[i] = i;
	for (int i = 0; i < 5; i++)
		l4b[i] = i + 20.5;

	/*
	 * Every p below is scipy.stats.mannwhitneyu(a, b,
	 * alternative='two-sided', method=<src>).pvalue and u1 its .statistic.
	 */
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		const struct mwu_case *t = &cases[c];
		double tol = t->exact ? TOL_EXACT : TOL_ASYM;

		check_int(mann_whitney(t->a, t->na, t->b, t->nb, &r), ==, 0,
			  "mwu %s: succeeds", t->name);
		check_dbl(r.u1, ==, t->u1, "mwu %s: U1 matches scipy",
			  t->name);
		check_dbl(r.u1 + r.u2, ==, (double)t->na * t->nb,
			  "mwu %s: U1 + U2 == na * nb", t->name);
		check(r.exact == t->exact, "mwu %s: %s p-value", t->name,
		      t->src);
		check_dbl(rel_err(r.p, t->p), <, tol,
			  "mwu %s: p matches scipy method='%s'", t->name,
			  t->src);
		tap_note("mwu %s: U1 %g U2 %g p %.10g (scipy %.10g)", t->name,
			 r.u1, r.u2, r.p, t->p);
	}

	/* Swapping the samples swaps U1 and U2 and keeps p. */
	check_int(mann_whitney(u37_b, 7, u37_a, 3, &r), ==, 0,
		  "mwu 7 vs 3: succeeds");
	check(r.u1 == 13 && r.u2 == 8, "mwu 7 vs 3: U1 and U2 swap");
	check_dbl(rel_err(r.p, 0.6666666666666666), <, TOL_EXACT,
		  "mwu 7 vs 3: p unchanged by the swap");

	check_int(mann_whitney(sep_a, 0, sep_b, 5, &r), ==, EINVAL,
		  "mwu: empty a is EINVAL");
	check_int(mann_whitney(sep_a, 5, sep_b, 0, &r), ==, EINVAL,
		  "mwu: empty b is EINVAL");
}

static void test_holm(void)
{
	static const struct {
		double p[5], want[5];
		size_t m;
		const char *name;
	} cases[] = {
		/* multipletests([.01, .04, .03, .005], method='holm')[1] */
		{ { 0.01, 0.04, 0.03, 0.005 }, { 0.03, 0.06, 0.06, 0.02 }, 4,
		  "step-down with monotone fix-up" },
		/* multipletests([.5, .3, .02, .3, .04], method='holm')[1] */
		{ { 0.5, 0.3, 0.02, 0.3, 0.04 }, { 0.9, 0.9, 0.1, 0.9, 0.16 },
		  5, "ties" },
		/* multipletests([.4, .5, .6, .001], method='holm')[1] */
		{ { 0.4, 0.5, 0.6, 0.001 }, { 1, 1, 1, 0.004 }, 4,
		  "capped at 1" },
		/* multipletests([.02, .02, .02], method='holm')[1] */
		{ { 0.02, 0.02, 0.02 }, { 0.06, 0.06, 0.06 }, 3, "all equal" },
	};
	double adj[5], inplace[4];

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		double worst = 0;

		holm_adjust(cases[c].p, cases[c].m, adj);
		for (size_t i = 0; i < cases[c].m; i++)
			worst = fmax(worst, rel_err(adj[i], cases[c].want[i]));
		check_dbl(worst, <, 1e-12, "holm %s: matches statsmodels",
			  cases[c].name);
	}
	memcpy(inplace, cases[0].p, sizeof(inplace));
	holm_adjust(inplace, 4, inplace);
	check(rel_err(inplace[0], 0.03) < 1e-12 &&
	      rel_err(inplace[1], 0.06) < 1e-12 &&
	      rel_err(inplace[2], 0.06) < 1e-12 &&
	      rel_err(inplace[3], 0.02) < 1e-12,
	      "holm: adjusting in place gives the same answer");
}

static void test_ratio_ci(void)
{
	double a[11], b[11], zeros[5] = { 0, 0, 1, 1, 1 };
	double ratio, lo, hi, ratio2, lo2, hi2;
	int rc;

	/* Eleven distinct values, shuffled. */
	for (int i = 0; i < 11; i++) {
		a[i] = 100 + (i * 4) % 11;
		b[i] = 1.2 * a[i];
	}

	rc = ratio_ci(a, 11, a, 11, 0.95, 2000, 1, &ratio, &lo, &hi);
	check_int(rc, ==, 0, "ratio_ci: identical samples succeed");
	check_dbl(ratio, ==, 1, "ratio_ci: identical samples give ratio 1");
	check(lo <= 1 && 1 <= hi, "ratio_ci: identical samples' CI holds 1");
	tap_note("ratio_ci identical: %g [%g, %g]", ratio, lo, hi);

	rc = ratio_ci(a, 11, b, 11, 0.95, 2000, 1, &ratio, &lo, &hi);
	check_int(rc, ==, 0, "ratio_ci: b = 1.2 a succeeds");
	check_dbl(rel_err(ratio, 1.2), <, 1e-12,
		  "ratio_ci: b = 1.2 a gives ratio 1.2");
	check(lo <= 1.2 && 1.2 <= hi, "ratio_ci: b = 1.2 a CI holds 1.2");
	check_dbl(lo, >, 1, "ratio_ci: b = 1.2 a CI excludes 1");
	tap_note("ratio_ci 1.2: %g [%g, %g]", ratio, lo, hi);

	rc = ratio_ci(a, 11, b, 11, 0.95, 2000, 1, &ratio2, &lo2, &hi2);
	check(rc == 0 && ratio2 == ratio && lo2 == lo && hi2 == hi,
	      "ratio_ci: same seed, same answer");

	check_int(ratio_ci(a, 0, b, 11, 0.95, 100, 1, &ratio, &lo, &hi), ==,
		  EINVAL, "ratio_ci: empty a is EINVAL");
	check_int(ratio_ci(a, 11, b, 0, 0.95, 100, 1, &ratio, &lo, &hi), ==,
		  EINVAL, "ratio_ci: empty b is EINVAL");
	check_int(ratio_ci(zeros, 2, b, 11, 0.95, 100, 1, &ratio, &lo, &hi),
		  ==, EINVAL, "ratio_ci: median(a) == 0 is EINVAL");
	check_int(ratio_ci(zeros, 5, b, 11, 0.95, 1000, 1, &ratio, &lo, &hi),
		  ==, EDOM, "ratio_ci: a resample with median(a) == 0 is EDOM");
}

int main(void)
{
	test_median_ci();
	test_coeff_var();
	test_mann_whitney();
	test_holm();
	test_ratio_ci();
	return tap_done();
}
