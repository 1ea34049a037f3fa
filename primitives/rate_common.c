/* SPDX-License-Identifier: MIT */
/*
 * What every rate limiter shares: the emission interval in picoseconds,
 * the validity of a configuration, and the real clock.
 */
#include <math.h>

#include "clock.h"
#include "rate.h"

static uint64_t mono_now(void *arg)
{
	(void)arg;
	return mono_ns();
}

const struct rate_clock rate_clock_mono = { mono_now, NULL };

bool rate_valid(double rate, unsigned burst)
{
	if (burst < 1 || burst > RATE_MAX_BURST || isnan(rate) || rate <= 0)
		return false;
	/* T must fit: at least 1 ps (1e12/s), at most about 213 days. */
	return isinf(rate) || (rate <= 1e12 && 1e12 / rate < 1.8e19);
}

uint64_t rate_interval_ps(double rate)
{
	double t;
	uint64_t ps;

	if (isinf(rate) && rate > 0)
		return 0;
	if (!(rate > 0) || rate > 1e12)
		return 0;
	t = 1e12 / rate;
	if (t >= 1.8e19)
		return 0;
	ps = (uint64_t)t;
	/* Round up: a limiter may only ever be stricter than its rate. */
	if ((double)ps < t)
		ps++;
	return ps ? ps : 1;
}
