/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every file may use: cache-line alignment, container_of,
 * ARRAY_SIZE, branch hints and a CPU relax hint for spin loops.
 */
#ifndef CONTEND_COMPILER_H
#define CONTEND_COMPILER_H

#include <stddef.h>
#include <stdint.h>

#define CACHELINE 64
#define cacheline_aligned __attribute__((aligned(CACHELINE)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define barrier() __asm__ __volatile__("" ::: "memory")

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	barrier();
#endif
}

/* xorshift64: a fast per-thread PRNG for workloads, checkers and chaos. */
static inline uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

#endif
