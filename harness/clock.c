/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

struct clock_info clock_info;
uint64_t clock_tsc_base;
uint64_t clock_tsc_mult;

static uint64_t raw_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#if CLOCK_HAVE_TSC
#include <cpuid.h>

static bool cpuinfo_has(const char *flag)
{
	char line[8192];
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		for (char *tok = strtok(line, " \t\n"); tok;
		     tok = strtok(NULL, " \t\n"))
			if (!strcmp(tok, flag))
				found = true;
		break;
	}
	fclose(f);
	return found;
}

static bool invariant_tsc(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(0x80000007, &a, &b, &c, &d))
		return false;
	return d & (1u << 8);
}

/*
 * Pair a TSC read with a CLOCK_MONOTONIC_RAW read: take the TSC on both
 * sides of the clock read and keep the tightest of a few tries, so the
 * pairing error is a few tens of ns.
 */
static void paired_read(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 16; i++) {
		uint64_t t0 = __rdtsc(), n = raw_ns(), t1 = __rdtsc();

		if (t1 - t0 < best) {
			best = t1 - t0;
			*tsc = t0 + (t1 - t0) / 2;
			*ns = n;
		}
	}
}

static void calibrate_tsc(void)
{
	uint64_t t0, n0, t1, n1;
	struct timespec nap = { 0, 50 * 1000 * 1000 };

	if (!invariant_tsc() &&
	    !(cpuinfo_has("constant_tsc") && cpuinfo_has("nonstop_tsc"))) {
		clock_info.why = "no invariant TSC: clock_gettime(CLOCK_MONOTONIC)";
		return;
	}
	paired_read(&t0, &n0);
	nanosleep(&nap, NULL);
	paired_read(&t1, &n1);
	if (t1 <= t0 || n1 <= n0) {
		clock_info.why = "TSC calibration failed: clock_gettime";
		return;
	}
	clock_info.tsc_hz = (double)(t1 - t0) * 1e9 / (double)(n1 - n0);
	clock_tsc_mult = (uint64_t)(4294967296.0 * 1e9 / clock_info.tsc_hz + 0.5);
	clock_tsc_base = __rdtsc();
	clock_info.tsc = true;
	clock_info.why = "invariant TSC, calibrated against CLOCK_MONOTONIC_RAW over 50 ms";
}
#else
static void calibrate_tsc(void)
{
	clock_info.why = "no TSC on this architecture: clock_gettime";
}
#endif

/* Median cost of one call of read() over batches of back-to-back reads. */
static double read_cost(uint64_t (*read)(void))
{
	enum { BATCH = 1000, ROUNDS = 31 };
	double per[ROUNDS];

	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = raw_ns();

		for (int i = 0; i < BATCH; i++)
			(void)read();
		per[r] = (double)(raw_ns() - t0) / BATCH;
	}
	qsort(per, ROUNDS, sizeof(per[0]), cmp_double);
	return per[ROUNDS / 2];
}

static volatile uint64_t sink;

static uint64_t read_now(void)
{
	return sink += now_ns();
}

static uint64_t read_mono(void)
{
	return sink += mono_ns();
}

static void calibrate_work(void)
{
	enum { ROUNDS = 9 };
	double rate[ROUNDS];
	uint64_t iters = 200000;

	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = raw_ns();

		work_iters(iters);
		rate[r] = (double)iters / (double)(raw_ns() - t0);
	}
	qsort(rate, ROUNDS, sizeof(rate[0]), cmp_double);
	clock_info.work_iters_per_ns = rate[ROUNDS / 2];
}

void clock_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	calibrate_tsc();
	clock_info.read_ns = read_cost(read_now);
	clock_info.gettime_ns = read_cost(read_mono);
	calibrate_work();
}
