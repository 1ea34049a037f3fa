/* SPDX-License-Identifier: MIT */
/*
 * What the rate limiters with a thread of their own share (rate/tb-chan's
 * ticker, rate/lb-queue's drain): picosecond arithmetic for absolute
 * schedules, and the handshake that lets destroy() wait for the waiters
 * still inside wait() before it frees the limiter.  Internal to the rate
 * family.
 */
#ifndef CONTEND_RATE_THREAD_H
#define CONTEND_RATE_THREAD_H

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/prctl.h>

#include "clock.h"
#include "compiler.h"
#include "futex.h"
#include "rate_impl.h"

/* ceil(ps / 1000): a time in ns that is never before the exact one. */
static inline uint64_t rate_ps_to_ns_up(unsigned __int128 ps)
{
	unsigned __int128 ns = (ps + 999) / 1000;

	return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

/* floor(ps / 1000): a time in ns that is never after the exact one. */
static inline uint64_t rate_ps_to_ns_down(unsigned __int128 ps)
{
	unsigned __int128 ns = ps / 1000;

	return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

/*
 * The waiters inside wait(): a count, plus a bit that destroy() sets when
 * it is about to sleep until the count is 0.  A leaving waiter learns from
 * its own RMW's result whether it is the last one destroy() waits for, so
 * it reads nothing of the limiter after leaving; its futex_wake may reach
 * memory destroy() has already freed, which is harmless (a wake on a
 * private futex word only wakes, and every sleeper re-checks).
 */
#define RATE_DESTROYING (1u << 31)

static inline void rate_enter(_Atomic uint32_t *active)
{
	atomic_fetch_add(active, 1);
}

static inline void rate_leave(_Atomic uint32_t *active)
{
	if (atomic_fetch_sub(active, 1) == (RATE_DESTROYING | 1))
		futex_wake(active, 1);
}

static inline void rate_wait_waiters_gone(_Atomic uint32_t *active)
{
	uint32_t a = atomic_fetch_or(active, RATE_DESTROYING) | RATE_DESTROYING;

	while (a != RATE_DESTROYING) {
		futex_wait(active, a, 0);
		a = atomic_load(active);
	}
}

/*
 * For the limiter's own thread: sleep with 1 ns timer slack.  The default
 * 50 us would make every absolute sleep up to 50 us late, half of T at
 * 10k events/s.  (A caller's own threads are the caller's business.)
 */
static inline void rate_thread_precise(void)
{
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
}

/*
 * Sleep on word (while it holds val) until the absolute time `until`
 * (0: return at once), waking early when word changes: a futex sleep to
 * RATE_SPIN_NS before the time, then a spin on the clock and the word
 * (see rate_impl.h), so the ticker and the drain keep their schedule to
 * within a clock read rather than a VM wake-up.
 */
static inline void rate_sleep_until(_Atomic uint32_t *word, uint32_t val,
				    uint64_t until)
{
	uint64_t t = mono_ns();

	if (!until || t >= until)
		return;
	if (until - t > RATE_SPIN_NS) {
		futex_wait(word, val, until - RATE_SPIN_NS);
		if (atomic_load(word) != val)
			return;
	}
	while (mono_ns() < until &&
	       atomic_load_explicit(word, memory_order_relaxed) == val)
		cpu_relax();
}

#endif
