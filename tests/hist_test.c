/* SPDX-License-Identifier: MIT */
/*
 * TAP tests for harness/hist.c: bucket layout, percentiles and mean against
 * exact answers from sorted data, merging, clamping, .hgrm output and the
 * empty histogram.  Data come from a fixed-seed xorshift PRNG, so every run
 * checks the same values.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "hist.h"
#include "tap.h"

#define HGRM_HEADER "       Value     Percentile TotalCount 1/(1-Percentile)"

/* Percentiles checked, in hundredths of a percent so ranks are exact. */
static const unsigned int pcts[] = {
	0, 100, 5000, 9000, 9900, 9990, 9999, 10000,
};

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
	rng_state = seed;
}

/* xorshift64* */
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(0x2545F4914F6CDD1D);
}

/* Uniform in [0, 1). */
static double rng_unit(void)
{
	return (double)(rng() >> 11) * 0x1p-53;
}

static uint64_t gen_uniform(size_t i)
{
	(void)i;
	return 1 + rng() % 1000000;
}

/* Log-uniform over 100..1e9: equal mass per decade, a long tail. */
static uint64_t gen_loguniform(size_t i)
{
	double lo = log(100.0), hi = log(1e9);

	(void)i;
	return (uint64_t)llround(exp(lo + rng_unit() * (hi - lo)));
}

/* 90% fast path around 250 ns, 10% slow path around 55 us. */
static uint64_t gen_bimodal(size_t i)
{
	if (i % 10 == 0)
		return 50000 + rng() % 10000;
	return 200 + rng() % 100;
}

static uint64_t gen_equal(size_t i)
{
	(void)i;
	return 12345;
}

static uint64_t gen_single(size_t i)
{
	(void)i;
	return 777;
}

/* 0..299: every value in the exact range and just above it. */
static uint64_t gen_small(size_t i)
{
	(void)i;
	return rng() % 300;
}

/* A random octave of the whole trackable range, then a random mantissa. */
static uint64_t gen_wide(size_t i)
{
	unsigned int k = rng() % HIST_MAX_BITS;

	(void)i;
	return (UINT64_C(1) << k) | (rng() & ((UINT64_C(1) << k) - 1));
}

struct dataset {
	const char *name;
	size_t n;
	uint64_t (*gen)(size_t i);
};

static const struct dataset datasets[] = {
	{ .name = "uniform", .n = 100000, .gen = gen_uniform },
	{ .name = "loguniform", .n = 100000, .gen = gen_loguniform },
	{ .name = "bimodal", .n = 100000, .gen = gen_bimodal },
	{ .name = "equal", .n = 1000, .gen = gen_equal },
	{ .name = "single", .n = 1, .gen = gen_single },
	{ .name = "small", .n = 20000, .gen = gen_small },
	{ .name = "wide", .n = 100000, .gen = gen_wide },
	{ .name = "tiny", .n = 1, .gen = gen_uniform },
	{ .name = "tiny", .n = 2, .gen = gen_uniform },
	{ .name = "tiny", .n = 3, .gen = gen_uniform },
	{ .name = "tiny", .n = 4, .gen = gen_uniform },
	{ .name = "tiny", .n = 5, .gen = gen_uniform },
};

static double worst_rel_err;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static uint64_t *make_data(const struct dataset *ds)
{
	uint64_t *v = malloc(ds->n * sizeof(*v));
	size_t i;

	if (!v) {
		tap_skip_all("cannot allocate test data");
		return NULL;
	}
	for (i = 0; i < ds->n; i++)
		v[i] = ds->gen(i);
	return v;
}

static struct hist *hist_new(void)
{
	struct hist *h = malloc(sizeof(*h));

	if (!h)
		tap_skip_all("cannot allocate a histogram");
	hist_init(h);
	return h;
}

/* The exact nearest-rank percentile of sorted data, pu in 1/100 %. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n,
				 unsigned int pu)
{
	uint64_t rank = ((uint64_t)pu * n + 9999) / 10000;

	if (rank == 0)
		rank = 1;
	return sorted[rank - 1];
}

static bool hist_equal(const struct hist *a, const struct hist *b)
{
	return a->count == b->count && a->min == b->min && a->max == b->max &&
	       a->clamped == b->clamped && a->sum == b->sum &&
	       !memcmp(a->counts, b->counts, sizeof(a->counts));
}

static void test_bucket_table(void)
{
	size_t i, bad_edges = 0, bad_index = 0, bad_mid = 0;
	uint64_t lo, hi, mid;

	for (i = 0; i < HIST_BUCKETS; i++) {
		lo = hist_bucket_low(i);
		hi = hist_bucket_high(i);
		if (lo > hi || (i && lo != hist_bucket_high(i - 1) + 1))
			bad_edges++;
		if (hist_index(lo) != i || hist_index(hi) != i)
			bad_index++;
		/* the midpoint is within 1/256 of anything in the bucket */
		mid = lo + (hi - lo) / 2;
		if ((hi - mid) * 256 > lo && lo >= HIST_SUB_BUCKETS)
			bad_mid++;
	}
	check_uint(hist_bucket_low(0), ==, 0, "table: bucket 0 starts at 0");
	check_uint(hist_bucket_high(HIST_BUCKETS - 1), ==, HIST_MAX_VALUE,
		   "table: top bucket ends at HIST_MAX_VALUE");
	check_uint(bad_edges, ==, 0, "table: buckets tile the range");
	check_uint(bad_index, ==, 0, "table: both edges index their bucket");
	check_uint(bad_mid, ==, 0, "table: midpoint error <= 1/256");
	tap_note("%u buckets, sizeof(struct hist) = %zu bytes",
		 (unsigned int)HIST_BUCKETS, sizeof(struct hist));
}

/* Counts the ways v's bucket is wrong: range, width and exactness. */
static size_t bucket_faults(uint64_t v)
{
	size_t i = hist_index(v), faults = 0;
	uint64_t lo, hi;

	if (i >= HIST_BUCKETS)
		return 1;
	lo = hist_bucket_low(i);
	hi = hist_bucket_high(i);
	if (lo > v || v > hi)
		faults++;
	if (v >= HIST_SUB_BUCKETS && (hi - lo + 1) * HIST_SUB_BUCKETS > lo)
		faults++;
	if (v < HIST_SUB_BUCKETS && lo != hi)
		faults++;
	return faults;
}

static void test_boundaries(void)
{
	size_t i, n = 0, prev = 0, faults = 0, mono = 0;
	uint64_t v, big[10000 + 4 * HIST_MAX_BITS];
	unsigned int k;

	for (v = 0; v <= 200000; v++) {
		faults += bucket_faults(v);
		i = hist_index(v);
		/* never backwards, never skipping a bucket */
		if (v && (i < prev || i > prev + 1))
			mono++;
		prev = i;
	}
	check_uint(faults, ==, 0, "bounds: 0..200000 land in a tight bucket");
	check_uint(mono, ==, 0, "bounds: 0..200000 index monotonically");

	for (k = 1; k <= HIST_MAX_BITS; k++) {
		big[n++] = (UINT64_C(1) << k) - 1;
		big[n++] = UINT64_C(1) << k;
		big[n++] = (UINT64_C(1) << k) + 1;
		big[n++] = UINT64_C(3) << (k - 1);
	}
	rng_seed(0x5eed0001);
	while (n < ARRAY_SIZE(big))
		big[n++] = gen_wide(0);
	qsort(big, n, sizeof(big[0]), cmp_u64);

	faults = mono = 0;
	for (i = 0; i < n && big[i] <= HIST_MAX_VALUE; i++) {
		faults += bucket_faults(big[i]);
		if (i && hist_index(big[i]) < hist_index(big[i - 1]))
			mono++;
	}
	check_uint(faults, ==, 0, "bounds: %zu large values in a tight bucket",
		   i);
	check_uint(mono, ==, 0, "bounds: large values index monotonically");
}

static void check_percentiles(const char *name, const struct hist *h,
			      const uint64_t *sorted, size_t n)
{
	uint64_t got, want;
	double p, err;
	size_t j;

	for (j = 0; j < ARRAY_SIZE(pcts); j++) {
		p = pcts[j] / 100.0;
		got = hist_percentile(h, p);
		want = exact_percentile(sorted, n, pcts[j]);
		err = want ? fabs((double)got - (double)want) / (double)want
			   : (double)got;
		if (err > worst_rel_err)
			worst_rel_err = err;
		/* 0..255 sit in buckets of width 1 */
		if (want < 2 * HIST_SUB_BUCKETS || p == 0.0 || p == 100.0)
			check_uint(got, ==, want, "%s n=%zu: p%g exact", name,
				   n, p);
		else
			check(err <= 0.01,
			      "%s n=%zu: p%g = %llu within 1%% of %llu", name,
			      n, p, (unsigned long long)got,
			      (unsigned long long)want);
	}
}

static void test_dataset(const struct dataset *ds)
{
	uint64_t *vals, *sorted;
	long double sum = 0;
	struct hist *h;
	double mean;
	size_t i;

	vals = make_data(ds);
	sorted = malloc(ds->n * sizeof(*sorted));
	if (!sorted)
		tap_skip_all("cannot allocate test data");
	h = hist_new();

	for (i = 0; i < ds->n; i++) {
		hist_record(h, vals[i]);
		sum += vals[i];
	}
	memcpy(sorted, vals, ds->n * sizeof(*sorted));
	qsort(sorted, ds->n, sizeof(*sorted), cmp_u64);

	check_uint(h->count, ==, ds->n, "%s n=%zu: count exact", ds->name,
		   ds->n);
	check_uint(h->min, ==, sorted[0], "%s n=%zu: min exact", ds->name,
		   ds->n);
	check_uint(h->max, ==, sorted[ds->n - 1], "%s n=%zu: max exact",
		   ds->name, ds->n);
	mean = (double)(sum / ds->n);
	check(fabs(hist_mean(h) - mean) <= 0.005 * mean,
	      "%s n=%zu: mean %.3f within 0.5%% of %.3f", ds->name, ds->n,
	      hist_mean(h), mean);
	check_percentiles(ds->name, h, sorted, ds->n);

	free(h);
	free(sorted);
	free(vals);
}

static void test_percentiles(void)
{
	size_t i;

	worst_rel_err = 0;
	rng_seed(UINT64_C(0x9E3779B97F4A7C15));
	for (i = 0; i < ARRAY_SIZE(datasets); i++)
		test_dataset(&datasets[i]);
	tap_note("worst percentile relative error %.4f%% (bound %.4f%%)",
		 worst_rel_err * 100, 100.0 / 256);
	check_dbl(worst_rel_err, <=, 1.0 / 256,
		  "percentiles: worst error within the documented 1/256");
}

static void test_record_n(void)
{
	struct hist *a = hist_new(), *b = hist_new();
	int i;

	for (i = 0; i < 7; i++)
		hist_record(a, 4242);
	hist_record_n(b, 4242, 7);
	hist_record_n(b, 99, 0);
	check(hist_equal(a, b), "record_n: 7 at once == 7 records");
	check_uint(b->min, ==, 4242, "record_n: n = 0 leaves min alone");
	free(a);
	free(b);
}

static void test_merge(void)
{
	const struct dataset ds = {
		.name = "merge", .n = 50000, .gen = gen_loguniform,
	};
	struct hist *all = hist_new(), *sum = hist_new(), *part[4];
	size_t i, diff = 0;
	uint64_t *vals, min;

	rng_seed(0x3e46e);
	vals = make_data(&ds);
	for (i = 0; i < ARRAY_SIZE(part); i++)
		part[i] = hist_new();
	/* uneven parts: the first one takes half */
	for (i = 0; i < ds.n; i++) {
		hist_record(all, vals[i]);
		hist_record(part[i % 2 ? 1 + i % 3 : 0], vals[i]);
	}
	for (i = 0; i < ARRAY_SIZE(part); i++)
		hist_merge(sum, part[i]);

	check(!memcmp(all->counts, sum->counts, sizeof(all->counts)),
	      "merge: bucket counts identical");
	check_uint(sum->count, ==, all->count, "merge: count");
	check_uint(sum->min, ==, all->min, "merge: min");
	check_uint(sum->max, ==, all->max, "merge: max");
	check(sum->sum == all->sum, "merge: sum");
	for (i = 0; i < ARRAY_SIZE(pcts); i++)
		if (hist_percentile(sum, pcts[i] / 100.0) !=
		    hist_percentile(all, pcts[i] / 100.0))
			diff++;
	check_uint(diff, ==, 0, "merge: percentiles identical");

	min = sum->min;
	hist_init(part[0]);
	hist_merge(sum, part[0]);
	check_uint(sum->min, ==, min, "merge: an empty source changes nothing");
	check(!memcmp(all->counts, sum->counts, sizeof(all->counts)),
	      "merge: an empty source adds no counts");

	for (i = 0; i < ARRAY_SIZE(part); i++)
		free(part[i]);
	free(vals);
	free(sum);
	free(all);
}

static void test_clamp(void)
{
	static const uint64_t vals[] = {
		1,
		HIST_MAX_VALUE,
		HIST_MAX_VALUE + 1,
		(UINT64_C(1) << HIST_MAX_BITS) + 12345,
		UINT64_MAX,
	};
	struct hist *h = hist_new();
	long double sum = 0, mean;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(vals); i++) {
		hist_record(h, vals[i]);
		sum += vals[i];
	}
	mean = sum / ARRAY_SIZE(vals);
	check_uint(hist_index(HIST_MAX_VALUE + 1), ==, HIST_BUCKETS - 1,
		   "clamp: 2^40 indexes the top bucket");
	check_uint(hist_index(UINT64_MAX), ==, HIST_BUCKETS - 1,
		   "clamp: UINT64_MAX indexes the top bucket");
	check_uint(h->clamped, ==, 3, "clamp: three values above 2^40 - 1");
	check_uint(h->counts[HIST_BUCKETS - 1], ==, 4,
		   "clamp: top bucket holds 2^40 - 1 and the clamped three");
	check_uint(h->count, ==, ARRAY_SIZE(vals), "clamp: count");
	check_uint(h->max, ==, UINT64_MAX, "clamp: max still exact");
	check_uint(hist_percentile(h, 100), ==, UINT64_MAX,
		   "clamp: p100 is the exact max");
	check_uint(hist_percentile(h, 50), >=,
		   hist_bucket_low(HIST_BUCKETS - 1),
		   "clamp: p50 reports the top bucket");
	check(fabsl(hist_mean(h) - mean) <= 1e-9L * mean,
	      "clamp: mean uses the exact values");
	free(h);
}

struct hgrm_info {
	bool header_ok, blank_ok, monotonic;
	int rows;
	double levels[8];
	double last_value;
	char last_pct[32];
	unsigned long long last_count;
	double max;
	unsigned long long total;
	int buckets, sub_buckets;
	int footers;
};

static void parse_hgrm(FILE *f, struct hgrm_info *in)
{
	double value, prev_value = -1, pct, prev_pct = -1;
	unsigned long long cnt, prev_cnt = 0;
	char line[256], pstr[32];
	int lineno = 0;

	memset(in, 0, sizeof(*in));
	in->monotonic = true;
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		lineno++;
		if (lineno == 1) {
			in->header_ok = !strcmp(line, HGRM_HEADER);
			continue;
		}
		if (lineno == 2) {
			in->blank_ok = line[0] == '\0';
			continue;
		}
		if (line[0] == '#') {
			if (sscanf(line, "#[Max = %lf, Total count = %llu]",
				   &in->max, &in->total) == 2 ||
			    sscanf(line, "#[Buckets = %d, SubBuckets = %d]",
				   &in->buckets, &in->sub_buckets) == 2 ||
			    !strncmp(line, "#[Mean    = ", 12))
				in->footers++;
			continue;
		}
		if (sscanf(line, "%lf %31s %llu", &value, pstr, &cnt) != 3)
			continue;
		pct = strtod(pstr, NULL);
		if (in->rows < (int)ARRAY_SIZE(in->levels))
			in->levels[in->rows] = pct;
		if (value < prev_value || pct < prev_pct || cnt < prev_cnt)
			in->monotonic = false;
		prev_value = value;
		prev_pct = pct;
		prev_cnt = cnt;
		in->rows++;
		in->last_value = value;
		in->last_count = cnt;
		snprintf(in->last_pct, sizeof(in->last_pct), "%s", pstr);
	}
}

/* Write h to a fresh temporary file and parse it back; returns the rc. */
static int hgrm_roundtrip(const struct hist *h, double unit_scale,
			  struct hgrm_info *in)
{
	FILE *f = tmpfile();
	int rc;

	if (!f)
		tap_skip_all("cannot create a temporary file");
	rc = hist_write_hgrm(h, f, unit_scale);
	parse_hgrm(f, in);
	fclose(f);
	return rc;
}

static void test_hgrm(void)
{
	static const double ticks[] = { 0, .1, .2, .3, .4, .5, .55, .6 };
	const struct dataset ds = {
		.name = "hgrm", .n = 100000, .gen = gen_uniform,
	};
	struct hist *h = hist_new();
	struct hgrm_info in;
	size_t i, bad = 0;
	uint64_t *vals;
	FILE *f;

	rng_seed(0x4687);
	vals = make_data(&ds);
	for (i = 0; i < ds.n; i++)
		hist_record(h, vals[i]);
	free(vals);

	check_int(hgrm_roundtrip(h, 1.0, &in), ==, 0, "hgrm: write succeeds");
	check(in.header_ok, "hgrm: header line");
	check(in.blank_ok, "hgrm: blank line after the header");
	for (i = 0; i < ARRAY_SIZE(ticks); i++)
		if (fabs(in.levels[i] - ticks[i]) > 1e-12)
			bad++;
	check_uint(bad, ==, 0, "hgrm: rows at 0, 10, ..., 50, 55, 60%%");
	check(in.monotonic, "hgrm: values, levels and counts never decrease");
	check(!strcmp(in.last_pct, "1.000000000000"),
	      "hgrm: last row at 1.000000000000 (got '%s')", in.last_pct);
	check_uint(in.last_count, ==, h->count, "hgrm: last row counts all");
	check_dbl(in.last_value, ==, (double)h->max, "hgrm: last row is max");
	check_uint(in.total, ==, h->count, "hgrm: footer total count");
	check_dbl(in.max, ==, (double)h->max, "hgrm: footer max");
	check_int(in.footers, ==, 3, "hgrm: three footer lines");
	check(in.buckets == HIST_MAX_BITS - HIST_SUB_BITS &&
	      in.sub_buckets == 2 * HIST_SUB_BUCKETS,
	      "hgrm: footer buckets %d, sub-buckets %d", in.buckets,
	      in.sub_buckets);
	tap_note("hgrm: %d rows for %llu values", in.rows,
		 (unsigned long long)h->count);

	check_int(hgrm_roundtrip(h, 1000.0, &in), ==, 0, "hgrm: write in us");
	check(fabs(in.max - h->max / 1000.0) <= 0.0005,
	      "hgrm: footer max %.3f us", in.max);

	/* one value: a 0% row and a 100% row, as HdrHistogram prints */
	hist_init(h);
	hist_record_n(h, 100, 10);
	check_int(hgrm_roundtrip(h, 1.0, &in), ==, 0, "hgrm: write one value");
	check_int(in.rows, ==, 2, "hgrm: one value gives two rows");

	/* empty: header and footer only */
	hist_init(h);
	check_int(hgrm_roundtrip(h, 1.0, &in), ==, 0, "hgrm: write empty");
	check(in.header_ok && in.rows == 0 && in.total == 0 && in.footers == 3,
	      "hgrm: empty has no rows, total count 0");

	check_int(hgrm_roundtrip(h, 0.0, &in), ==, EINVAL,
		  "hgrm: unit_scale 0 is EINVAL");

	f = fopen("/dev/full", "w");
	if (f) {
		hist_record(h, 1);
		check_int(hist_write_hgrm(h, f, 1.0), ==, ENOSPC,
			  "hgrm: a full device gives ENOSPC");
		fclose(f);
	} else {
		tap_skip("hgrm: no /dev/full to fail a write on");
	}
	free(h);
}

static void test_empty(void)
{
	struct hist *h = hist_new(), *e = hist_new();
	size_t i, bad = 0;

	for (i = 0; i < ARRAY_SIZE(pcts); i++)
		if (hist_percentile(h, pcts[i] / 100.0) != 0)
			bad++;
	check_uint(bad, ==, 0, "empty: every percentile is 0");
	check_dbl(hist_mean(h), ==, 0.0, "empty: mean is 0");
	check_uint(h->count, ==, 0, "empty: count is 0");
	check_uint(h->min, ==, UINT64_MAX, "empty: min is UINT64_MAX");
	check_uint(h->max, ==, 0, "empty: max is 0");
	hist_merge(h, e);
	check(hist_equal(h, e), "empty: merging two empties is empty");
	free(e);
	free(h);
}

int main(void)
{
	test_bucket_table();
	test_boundaries();
	test_percentiles();
	test_record_n();
	test_merge();
	test_clamp();
	test_hgrm();
	test_empty();
		/* Lossless counts file: write, read back into an empty histogram. */
	{
		struct hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
		FILE *f = tmpfile();
		bool same = true;

		hist_init(a);
		hist_init(b);
		for (uint64_t v = 1; v < 5000000; v = v * 3 / 2 + 1)
			hist_record_n(a, v, v % 7 + 1);
		check_int(hist_write_counts(a, f), ==, 0, "counts file: written");
		rewind(f);
		check_int(hist_read_counts(b, f), ==, 0, "counts file: read back");
		for (size_t i = 0; i < HIST_BUCKETS; i++)
			same &= a->counts[i] == b->counts[i];
		check(same && a->count == b->count && a->min == b->min &&
		      a->max == b->max && a->sum == b->sum,
		      "counts file: round trip is lossless (counts, min, max, sum)");
		rewind(f);
		check_int(hist_read_counts(b, f), ==, 0, "counts file: a second read merges");
		check_uint(b->count, ==, 2 * a->count, "counts file: merged count doubles");
		fclose(f);
		f = tmpfile();
		fputs("contend-hist 1 7 1 1 1 0 0:1\n", f);
		rewind(f);
		check_int(hist_read_counts(b, f), ==, EINVAL, "counts file: wrong bucket count is rejected");
		fclose(f);
		free(a);
		free(b);
	}

return tap_done();
}
