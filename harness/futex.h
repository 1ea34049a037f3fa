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

/* An absolute CLOCK_MONOTONIC deadline in ns as a timeout: NULL for none. */
static inline struct timespec *futex_deadline(uint64_t deadline_ns,
					      struct timespec *ts)
{
	if (!deadline_ns)
		return NULL;
	ts->tv_sec = (time_t)(deadline_ns / 1000000000u);
	ts->tv_nsec = (long)(deadline_ns % 1000000000u);
	return ts;
}

/*
 * Sleep while *addr == val.  deadline_ns is an absolute CLOCK_MONOTONIC time
 * in nanoseconds, 0 for none.  Returns 0 when woken (or spuriously), EAGAIN
 * when *addr no longer held val, EINTR on a signal, ETIMEDOUT once the
 * deadline has passed.  Callers always re-check their condition.
 */
static inline int futex_wait(_Atomic uint32_t *addr, uint32_t val,
			     uint64_t deadline_ns)
{
	struct timespec ts, *tsp = futex_deadline(deadline_ns, &ts);
	long rc;

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

/*
 * Sleep on two words at once (futex_waitv, Linux 5.16): while *a == va and
 * *b == vb, until a wake on either.  Same returns as futex_wait, plus
 * ENOSYS on older kernels.  Lets a waiter sleep on its own state word and
 * on a context's err word, which only ever changes once (no ABA).
 */
static inline int futex_wait2(_Atomic uint32_t *a, uint32_t va,
			      _Atomic uint32_t *b, uint32_t vb,
			      uint64_t deadline_ns)
{
	struct futex_waitv w[2] = {
		{ .val = va, .uaddr = (uintptr_t)a,
		  .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG },
		{ .val = vb, .uaddr = (uintptr_t)b,
		  .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG },
	};
	struct timespec ts, *tsp = futex_deadline(deadline_ns, &ts);
	long rc;

	rc = syscall(SYS_futex_waitv, w, 2, 0, tsp, CLOCK_MONOTONIC);
	return rc >= 0 ? 0 : errno;
}

#endif
