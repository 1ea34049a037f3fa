/* SPDX-License-Identifier: MIT */
/*
 * Micro-benchmark cases for the rate-limiter family, on the real clock
 * (each call reads it: that is part of the cost, as in Go's Allow, 96 ns):
 *   allow_admit     allow(1) on a limiter of 1e12/s (T = 1 ps, the fastest
 *                   valid rate) and the largest burst, so every call
 *                   admits, through the whole path with its clock read
 *                   (an infinite rate might skip both): the cost of an
 *                   admission (target for the atomic implementations:
 *                   25 ns or less)
 *   allow_reject    allow(1) on a limiter of 1e-3/s and burst 1, drained
 *                   at setup: the cost of a rejection
 *   allow_admit     the same at exactly 2 threads on one limiter
 *   /threads:2      (contended)
 *   clock_read      the limiter's time source alone, rate_clock_mono's
 *                   now(): what every call above pays at least once
 *                   (the same on every implementation)
 */
#include "micro.h"
#include "rate.h"

static void *admit_setup(const struct impl_info *impl)
{
	struct rate *r;

	/* T = 1 ps: the bucket is full again by the next call.  A burst of
	 * 1000, not RATE_MAX_BURST: the channel-based limiters allocate one
	 * slot per unit of burst. */
	return rate_ops_of(impl)->create(&r, 1e12, 1000, NULL) ? NULL : r;
}

static void *reject_setup(const struct impl_info *impl)
{
	const struct rate_ops *ops = rate_ops_of(impl);
	struct rate *r;

	if (ops->create(&r, 1e-3, 1, NULL))
		return NULL;
	ops->allow(r, 1);	/* drained: the next token is 1000 s away */
	return r;
}

static void rate_teardown(void *obj, const struct impl_info *impl)
{
	rate_ops_of(impl)->destroy(obj);
}

static void allow_admit(struct gb_state *st, void *obj,
			const struct impl_info *impl)
{
	const struct rate_ops *ops = rate_ops_of(impl);
	struct rate *r = obj;
	size_t n;

	if (ops->allow(r, 1)) {
		gb_skip_with_error(st, "allow(1) at 1e12/s did not admit");
		return;
	}
	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++)
			ops->allow(r, 1);
}

static void allow_reject(struct gb_state *st, void *obj,
			 const struct impl_info *impl)
{
	const struct rate_ops *ops = rate_ops_of(impl);
	struct rate *r = obj;
	size_t n;

	if (ops->allow(r, 1) == 0) {
		gb_skip_with_error(st, "allow(1) on a drained limiter admitted");
		return;
	}
	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++)
			ops->allow(r, 1);
}

static void clock_read(struct gb_state *st, void *obj,
		       const struct impl_info *impl)
{
	const struct rate_clock *clk = &rate_clock_mono;
	uint64_t sink = 0;
	size_t n;

	(void)obj;
	(void)impl;
	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++)
			sink += clk->now(clk->arg);
	__asm__ __volatile__("" : : "r"(sink));
}

static const struct micro_case rate_cases[] = {
	{ "allow_admit", false, admit_setup, allow_admit, rate_teardown },
	{ "allow_reject", false, reject_setup, allow_reject, rate_teardown },
	{ "allow_admit_contended", false, admit_setup, allow_admit, rate_teardown, 2 },
	{ "clock_read", false, admit_setup, clock_read, rate_teardown },
	{ 0 },
};

const struct micro_family rate_micro = {
	.cases = rate_cases,
};
