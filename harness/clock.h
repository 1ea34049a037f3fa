/* SPDX-License-Identifier: MIT */
/*
 * Time for the harness.
 *
 * now_ns() is the measuring clock: monotonic nanoseconds from a calibrated
 * TSC read where the CPU has an invariant TSC (cpuid 0x80000007 EDX bit 8,
 * "constant_tsc nonstop_tsc" in /proc/cpuinfo), clock_gettime otherwise.
 * Its zero is arbitrary; use it for intervals only.
 *
 * mono_ns() is CLOCK_MONOTONIC, the timebase of every deadline handed to a
 * primitive (futexes, condvars and sem_clockwait all speak it).
 *
 * clock_init() must run once before now_ns(); it calibrates the TSC against
 * CLOCK_MONOTONIC_RAW and measures what a now_ns() read costs, which the run
 * reports in meta (nothing is ever subtracted from a measurement).
 *
 * work_ns() burns a calibrated amount of CPU without reading any clock: the
 * "hold" and "think" time of the workloads.
 */
#ifndef CONTEND_CLOCK_H
#define CONTEND_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define CLOCK_HAVE_TSC 1
#else
#define CLOCK_HAVE_TSC 0
#endif

struct clock_info {
	bool tsc;		/* now_ns() reads the TSC */
	double tsc_hz;		/* calibrated TSC frequency, 0 without TSC */
	double read_ns;		/* median cost of one now_ns() read */
	double gettime_ns;	/* median cost of clock_gettime(MONOTONIC) */
	double work_iters_per_ns; /* work_ns() calibration */
	const char *why;	/* why the TSC was or was not used */
};

extern struct clock_info clock_info;
extern uint64_t clock_tsc_base;
extern uint64_t clock_tsc_mult;	/* ns = (ticks * mult) >> 32 */

void clock_init(void);

static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t now_ns(void)
{
#if CLOCK_HAVE_TSC
	if (__builtin_expect(clock_info.tsc, 1)) {
		uint64_t t = __rdtsc() - clock_tsc_base;

		return (uint64_t)(((unsigned __int128)t * clock_tsc_mult) >> 32);
	}
#endif
	return mono_ns();
}

/* Burn about ns nanoseconds of CPU without touching memory or clocks. */
static inline void work_iters(uint64_t iters)
{
	uint64_t x = iters;

	while (iters--) {
		x = x * 6364136223846793005u + 1442695040888963407u;
		__asm__ __volatile__("" : "+r"(x));
	}
}

static inline uint64_t work_iters_for(uint64_t ns)
{
	return (uint64_t)((double)ns * clock_info.work_iters_per_ns + 0.5);
}

static inline void work_ns(uint64_t ns)
{
	if (ns)
		work_iters(work_iters_for(ns));
}

#endif
