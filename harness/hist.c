/* SPDX-License-Identifier: MIT */
/*
 * Log-linear latency histogram: merging, percentiles and .hgrm output.
 * The layout and its error bound are described in hist.h.
 *
 * The .hgrm table follows HdrHistogram's percentile iterator with 5 ticks
 * per half distance: rows every 10% up to 50%, every 5% up to 75%, every
 * 2.5% up to 87.5%, and so on, each halving of the distance to 100% getting
 * ten rows, then a last row at 100%.  A row is written when the cumulative
 * count first reaches its level, so a tall bucket can emit several rows.
 * Rows report the same value hist_percentile() would (bucket midpoint,
 * clamped to [min, max]; max at 100%) so the table and the summary agree.
 */
#include <stdlib.h>
#include <errno.h>
#include <math.h>

#include "hist.h"

#define HGRM_TICKS_PER_HALF 5

void hist_init(struct hist *h)
{
	size_t i;

	h->count = 0;
	h->min = UINT64_MAX;
	h->max = 0;
	h->clamped = 0;
	h->sum = 0;
	for (i = 0; i < HIST_BUCKETS; i++)
		h->counts[i] = 0;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	size_t i;

	for (i = 0; i < HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->count += src->count;
	dst->clamped += src->clamped;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_bucket_low(size_t i)
{
	unsigned int shift;

	if (i < HIST_SUB_BUCKETS)
		return i;
	/* inverse of hist_index(): i = shift * 128 + (v >> shift) */
	shift = (unsigned int)(i / HIST_SUB_BUCKETS) - 1;
	return (uint64_t)(i % HIST_SUB_BUCKETS + HIST_SUB_BUCKETS) << shift;
}

uint64_t hist_bucket_high(size_t i)
{
	unsigned int shift;

	if (i < HIST_SUB_BUCKETS)
		return i;
	shift = (unsigned int)(i / HIST_SUB_BUCKETS) - 1;
	return hist_bucket_low(i) + (UINT64_C(1) << shift) - 1;
}

/* What a bucket reports: its midpoint, kept inside what was recorded. */
static uint64_t hist_bucket_value(const struct hist *h, size_t i)
{
	uint64_t lo = hist_bucket_low(i), v;

	v = lo + (hist_bucket_high(i) - lo) / 2;
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

/*
 * ceil(p / 100 * count), in [1, count].  A p such as 99.9 is not exact in
 * binary and lands a hair above its decimal value, which would push an
 * exact product such as 999.0 up to rank 1000; the relative slack of 1e-14
 * absorbs that and is far below one rank for any count a run can reach.
 */
static uint64_t hist_rank(uint64_t count, double p)
{
	long double x = (long double)p / 100 * count;
	uint64_t r;

	x -= x * 1e-14L;
	if (x >= (long double)count)
		return count;
	r = (uint64_t)x;
	if ((long double)r < x)
		r++;
	return r ? r : 1;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;
	size_t i;

	if (h->count == 0)
		return 0;
	if (!(p > 0.0)) /* NaN too */
		return h->min;
	if (p >= 100.0)
		return h->max;

	rank = hist_rank(h->count, p);
	/* the two ends are known exactly, whatever their buckets */
	if (rank == 1)
		return h->min;
	if (rank == h->count)
		return h->max;
	for (i = 0; i < HIST_BUCKETS - 1; i++) {
		seen += h->counts[i];
		if (seen >= rank)
			break;
	}
	return hist_bucket_value(h, i);
}

double hist_mean(const struct hist *h)
{
	if (h->count == 0)
		return 0.0;
	return (double)((long double)h->sum / h->count);
}

/* Spread of the bucket midpoints around the exact mean, as HdrHistogram. */
static double hist_stddev(const struct hist *h)
{
	double mean = hist_mean(h), acc = 0.0, d;
	size_t i;

	if (h->count == 0)
		return 0.0;
	for (i = 0; i < HIST_BUCKETS; i++) {
		if (!h->counts[i])
			continue;
		d = (double)hist_bucket_value(h, i) - mean;
		acc += d * d * (double)h->counts[i];
	}
	return sqrt(acc / (double)h->count);
}

/*
 * The level after this one: ticks per half distance times 2^(halvings + 1)
 * rows per 100%, where halvings = floor(log2(100 / (100 - level))).
 */
static double hgrm_next_level(double level)
{
	double ratio = 100.0 / (100.0 - level), ticks;

	ticks = 2.0 * HGRM_TICKS_PER_HALF;
	while (ratio >= 2.0) {
		ratio /= 2.0;
		ticks *= 2.0;
	}
	return level + 100.0 / ticks;
}

int hist_write_hgrm(const struct hist *h, FILE *f, double unit_scale)
{
	double level = 0.0, next, pct, value;
	uint64_t seen = 0;
	size_t i;

	if (!(unit_scale > 0.0))
		return EINVAL;

	errno = 0;
	if (fprintf(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile",
		    "TotalCount", "1/(1-Percentile)") < 0)
		goto out_err;

	for (i = 0; i < HIST_BUCKETS && seen < h->count; i++) {
		if (!h->counts[i])
			continue;
		seen += h->counts[i];
		pct = 100.0 * (double)seen / (double)h->count;
		value = (double)hist_bucket_value(h, i) / unit_scale;
		while (level < 100.0 && pct >= level) {
			if (fprintf(f, "%12.3f %2.12f %10llu %14.2f\n", value,
				    level / 100.0, (unsigned long long)seen,
				    1.0 / (1.0 - level / 100.0)) < 0)
				goto out_err;
			/* the last bucket gets one row, then the 100% row */
			if (seen == h->count)
				break;
			next = hgrm_next_level(level);
			/* out of double precision: only 100% is left */
			level = next > level ? next : 100.0;
		}
	}
	if (h->count &&
	    fprintf(f, "%12.3f %2.12f %10llu\n", (double)h->max / unit_scale,
		    1.0, (unsigned long long)h->count) < 0)
		goto out_err;

	if (fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n",
		    hist_mean(h) / unit_scale, hist_stddev(h) / unit_scale) < 0)
		goto out_err;
	if (fprintf(f, "#[Max     = %12.3f, Total count    = %12llu]\n",
		    (double)h->max / unit_scale,
		    (unsigned long long)h->count) < 0)
		goto out_err;
	/*
	 * In HdrHistogram's terms this layout has sub-buckets of 256 (the
	 * lower half only used by bucket 0) and one bucket per octave shift.
	 */
	if (fprintf(f, "#[Buckets = %12d, SubBuckets     = %12d]\n",
		    HIST_MAX_BITS - HIST_SUB_BITS,
		    (int)(2 * HIST_SUB_BUCKETS)) < 0)
		goto out_err;
	if (fflush(f) || ferror(f))
		goto out_err;
	return 0;

out_err:
	return errno ? errno : EIO;
}

int hist_write_counts(const struct hist *h, FILE *f)
{
	unsigned long long sum_hi = (unsigned long long)(h->sum >> 64);
	unsigned long long sum_lo = (unsigned long long)h->sum;

	fprintf(f, "contend-hist 1 %u %llu %llu %llu %llu %llu:%llu\n",
		(unsigned)HIST_BUCKETS, (unsigned long long)h->count,
		(unsigned long long)(h->count ? h->min : 0),
		(unsigned long long)h->max, (unsigned long long)h->clamped,
		sum_hi, sum_lo);
	for (size_t i = 0; i < HIST_BUCKETS; i++)
		if (h->counts[i])
			fprintf(f, "%zu %llu\n", i, (unsigned long long)h->counts[i]);
	fflush(f);
	return ferror(f) ? (errno ? errno : EIO) : 0;
}

int hist_read_counts(struct hist *h, FILE *f)
{
	unsigned long long count, min, max, clamped, hi, lo, c, seen = 0;
	unsigned buckets, version;
	struct hist *tmp;
	size_t i;

	if (fscanf(f, "contend-hist %u %u %llu %llu %llu %llu %llu:%llu",
		   &version, &buckets, &count, &min, &max, &clamped, &hi,
		   &lo) != 8 || version != 1 || buckets != HIST_BUCKETS)
		return EINVAL;
	tmp = malloc(sizeof(*tmp));
	if (!tmp)
		return ENOMEM;
	hist_init(tmp);
	while (fscanf(f, "%zu %llu", &i, &c) == 2) {
		if (i >= HIST_BUCKETS) {
			free(tmp);
			return EINVAL;
		}
		tmp->counts[i] += c;
		seen += c;
	}
	if (seen != count || (!feof(f) && ferror(f))) {
		free(tmp);
		return EINVAL;
	}
	tmp->count = count;
	if (count) {
		tmp->min = min;
		tmp->max = max;
	}
	tmp->clamped = clamped;
	tmp->sum = (__extension__(unsigned __int128)hi << 64) | lo;
	hist_merge(h, tmp);
	free(tmp);
	return 0;
}
