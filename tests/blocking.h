/* SPDX-License-Identifier: MIT */
/*
 * Shared by the C tests of blocking calls: a call runs on its own thread,
 * which sets its `done` flag when the call returns; the test checks that
 * it is still blocked, wakes it, and waits for it within a generous bound
 * (never asserting how fast).
 */
#ifndef CONTEND_TEST_BLOCKING_H
#define CONTEND_TEST_BLOCKING_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

static inline void nap_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Wait up to ms for done; true if it came (and the thread is joined). */
static inline bool done_within(pthread_t tid, atomic_int *done, unsigned ms)
{
	for (unsigned i = 0; i < ms && !atomic_load(done); i++)
		nap_ms(1);
	if (!atomic_load(done))
		return false;
	pthread_join(tid, NULL);
	return true;
}

/* Still not done after ms (a call that must not return yet). */
static inline bool still_blocked(atomic_int *done, unsigned ms)
{
	nap_ms(ms);
	return !atomic_load(done);
}

#endif
