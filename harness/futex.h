/* SPDX-License-Identifier: MIT */
/*
 * The one place futex system calls live (musl style): wait on a 32-bit word
 * while it still holds an expected value, and wake waiters on it.
 * Every futex user in contend goes through these two calls.
 */
#ifndef CONTEND_FUTEX_H
#define CONTEND_FUTEX_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * Sleep while *addr == val.  deadline_ns is an absolute CLOCK_MONOTONIC time
 * in nanoseconds, 0 for none.  Returns 0 when woken (or spuriously), EAGAIN
 * when *addr no longer held val, EINTR on a signal, ETIMEDOUT once the
 * deadline has passed.  Callers always re-check their condition.
 */
static inline int futex_wait(_Atomic uint32_t *addr, uint32_t val,
			     uint64_t deadline_ns)
{
	struct timespec ts, *tsp = NULL;
	long rc;

	if (deadline_ns) {
		ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
		ts.tv_nsec = (long)(deadline_ns % 1000000000u);
		tsp = &ts;
	}
	/* WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout. */
	rc = syscall(SYS_futex, addr, FUTEX_WAIT_BITSET_PRIVATE, val, tsp,
		     NULL, FUTEX_BITSET_MATCH_ANY);
	return rc == 0 ? 0 : errno;
}

/* Wake up to n waiters sleeping on addr; returns how many were woken. */
static inline int futex_wake(_Atomic uint32_t *addr, int n)
{
	long rc = syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);

	return rc < 0 ? 0 : (int)rc;
}

#endif
