/* SPDX-License-Identifier: MIT */
/*
 * Log-linear latency histogram of uint64_t nanosecond values, in the manner
 * of HdrHistogram.
 *
 * Layout.  Values 0..127 get one bucket each, so they are exact.  Above
 * that, every power-of-two octave [2^k, 2^(k+1)), 7 <= k < 40, is cut into
 * 128 equal sub-buckets of width 2^(k-7).  (For k = 7 the width is 1, so
 * 0..255 are all exact.)  The index of v is then, with k = log2(v) and
 * shift = max(k - 7, 0),
 *
 *	index = shift * 128 + (v >> shift)
 *
 * which runs contiguously from 0 to HIST_BUCKETS - 1 = 4351.  The largest
 * trackable value is HIST_MAX_VALUE = 2^40 - 1 ns (about 18 minutes); a
 * larger value is counted in the top bucket and also in ->clamped, while
 * ->max and ->sum still see it exactly.
 *
 * Error bound.  A bucket in octave k is 2^(k-7) wide and holds nothing
 * below 2^k, so its width is at most 1/128 of any value in it.  Reporting
 * a bucket by its midpoint puts the answer within half a width of every
 * value the bucket holds: a relative error of at most 1/256 (< 0.4%).
 * The low edge (or the high one, as HdrHistogram's tables do) would be off
 * by up to a full width, 0.8%, always in the same direction; the midpoint
 * halves the bound and does not bias every percentile one way.  Answers
 * are also clamped to [min, max], which are kept exactly.
 *
 * hist_record() is O(1) and never allocates, so it may sit on a measuring
 * path; one struct hist per thread, merged by the harness afterwards.
 */
#ifndef CONTEND_HIST_H
#define CONTEND_HIST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "compiler.h"

#define HIST_SUB_BITS	 7
#define HIST_SUB_BUCKETS (1u << HIST_SUB_BITS) /* per octave: 128 */
#define HIST_MAX_BITS	 40
#define HIST_MAX_VALUE	 ((UINT64_C(1) << HIST_MAX_BITS) - 1)
#define HIST_BUCKETS                                                           \
	((HIST_MAX_BITS - HIST_SUB_BITS + 1) * HIST_SUB_BUCKETS) /* 4352 */

struct hist {
	uint64_t count;	  /* values recorded, clamped ones included */
	uint64_t min;	  /* exact; UINT64_MAX while empty */
	uint64_t max;	  /* exact, even when clamped; 0 while empty */
	uint64_t clamped; /* values above HIST_MAX_VALUE */
	/* exact sum of the values recorded; __extension__ for -Wpedantic */
	__extension__ unsigned __int128 sum;
	uint64_t counts[HIST_BUCKETS];
};

void hist_init(struct hist *h);

/* The bucket holding v; values above HIST_MAX_VALUE map to the top one. */
static inline size_t hist_index(uint64_t v)
{
	unsigned int shift;

	if (v < HIST_SUB_BUCKETS)
		return v;
	if (unlikely(v > HIST_MAX_VALUE))
		return HIST_BUCKETS - 1;
	/* v >= 128, so clz is defined and the shift is >= 0 */
	shift = 63 - (unsigned int)__builtin_clzll(v) - HIST_SUB_BITS;
	return (size_t)shift * HIST_SUB_BUCKETS + (v >> shift);
}

/* Record n copies of v; n == 0 changes nothing. */
static inline void hist_record_n(struct hist *h, uint64_t v, uint64_t n)
{
	if (unlikely(n == 0))
		return;
	if (unlikely(v > HIST_MAX_VALUE))
		h->clamped += n;
	h->counts[hist_index(v)] += n;
	h->count += n;
	h->sum += __extension__(unsigned __int128) v * n;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

static inline void hist_record(struct hist *h, uint64_t v)
{
	hist_record_n(h, v, 1);
}

/* Add src into dst; src is unchanged and may be empty. */
void hist_merge(struct hist *dst, const struct hist *src);

/*
 * Nearest-rank percentile, p in [0, 100]: the midpoint of the bucket that
 * holds the ceil(p / 100 * count)-th smallest value (rank at least 1),
 * clamped to [min, max].  p = 0 and rank 1 give min, p = 100 and rank
 * count give max, both exact; an empty histogram gives 0.
 */
uint64_t hist_percentile(const struct hist *h, double p);

/* Exact mean of the values recorded; 0 when empty. */
double hist_mean(const struct hist *h);

/* Smallest and largest value of bucket i, i < HIST_BUCKETS. */
uint64_t hist_bucket_low(size_t i);
uint64_t hist_bucket_high(size_t i);

/*
 * Write HdrHistogram's "percentile distribution" text (.hgrm) to f, values
 * divided by unit_scale (1.0 for ns, 1000.0 for us).  Returns 0, EINVAL for
 * a unit_scale that is not > 0, or the errno of a failed write.
 */
int hist_write_hgrm(const struct hist *h, FILE *f, double unit_scale);

/*
 * The histogram itself, losslessly, so runs can be merged later (the .hgrm
 * percentile table cannot be):
 *	contend-hist 1 <buckets> <count> <min> <max> <clamped> <sum>
 *	<bucket index> <count>		one line per non-empty bucket
 * hist_read_counts() adds the file into h (merging); 0, EINVAL on a
 * malformed or mismatched file, or the read's errno.
 */
int hist_write_counts(const struct hist *h, FILE *f);
int hist_read_counts(struct hist *h, FILE *f);

#endif
