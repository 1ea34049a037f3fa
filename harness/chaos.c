/* SPDX-License-Identifier: MIT */
#include <sched.h>
#include <stdint.h>
#include <time.h>

#include "chaos.h"

atomic_bool chaos_enabled;

/* Per-thread xorshift state: chaos must not add a shared cache line. */
static _Thread_local uint64_t chaos_rng;

void chaos_inject(void)
{
	uint64_t x;

	if (!chaos_rng)
		chaos_rng = (uint64_t)(uintptr_t)&chaos_rng | 1;
	x = xorshift64(&chaos_rng);

	switch (x % 16) {
	case 0:
	case 1:
	case 2:
		sched_yield();
		break;
	case 3: {
		struct timespec ts = { 0, (long)(x >> 40) % 50000 };

		nanosleep(&ts, NULL);
		break;
	}
	case 4:
	case 5:
		for (unsigned i = (unsigned)(x >> 32) % 2000; i; i--)
			cpu_relax();
		break;
	default:
		break;
	}
}
