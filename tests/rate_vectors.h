/* SPDX-License-Identifier: MIT */
/*
 * The shared test vectors of the rate family: every implementation that
 * runs on an injected clock must reproduce every step exactly (see the
 * definition in primitives/rate.h).  Times are ns after the limiter's
 * creation, which happens at clock time RV_T0.
 *
 * A step sets the clock to `t` and makes one call:
 *   RV_ALLOW      allow(n)                      expect rc
 *   RV_RESERVE    reserve(n) into slot `slot`   expect rc, and at == t0 + at
 *   RV_CANCEL     cancel(slot's reservation)
 *   RV_SET_RATE   set_rate(rate)                expect rc
 *   RV_SET_BURST  set_burst(n)                  expect rc
 */
#ifndef CONTEND_RATE_VECTORS_H
#define CONTEND_RATE_VECTORS_H

#include <errno.h>
#include <math.h>
#include <stdint.h>

#define RV_T0 1000000000ull	/* the clock at create(): 1 s */
#define RV_MS 1000000ull
#define RV_S 1000000000ull

enum rv_op { RV_END, RV_ALLOW, RV_RESERVE, RV_CANCEL, RV_SET_RATE, RV_SET_BURST };

struct rv_step {
	enum rv_op op;
	uint64_t t;		/* ns after RV_T0 */
	unsigned n;
	int rc;
	double rate;		/* RV_SET_RATE */
	unsigned slot;		/* RV_RESERVE, RV_CANCEL */
	uint64_t at;		/* RV_RESERVE: expected at - RV_T0 */
};

struct rv_vector {
	const char *name;
	double rate;
	unsigned burst;
	struct rv_step steps[24];
};

#define ALLOW(t_, n_, rc_) { RV_ALLOW, (t_), (n_), (rc_), 0, 0, 0 }
#define RESERVE(t_, n_, slot_, at_) { RV_RESERVE, (t_), (n_), 0, 0, (slot_), (at_) }
#define CANCEL(t_, slot_) { RV_CANCEL, (t_), 0, 0, 0, (slot_), 0 }
#define SET_RATE(t_, r_, rc_) { RV_SET_RATE, (t_), 0, (rc_), (r_), 0, 0 }
#define SET_BURST(t_, b_, rc_) { RV_SET_BURST, (t_), (b_), (rc_), 0, 0, 0 }

static const struct rv_vector rate_vectors[] = {
	{ "starts full, then one every T, exactly on time admitted", 10, 3, {
		ALLOW(0, 1, 0), ALLOW(0, 1, 0), ALLOW(0, 1, 0),
		ALLOW(0, 1, EAGAIN),
		ALLOW(100 * RV_MS - 1, 1, EAGAIN),	/* 1 ns early */
		ALLOW(100 * RV_MS, 1, 0),		/* exactly on time */
		ALLOW(100 * RV_MS, 1, EAGAIN),
		ALLOW(200 * RV_MS, 1, 0),
		/* A long idle refills to the burst, never beyond. */
		ALLOW(10 * RV_S, 3, 0), ALLOW(10 * RV_S, 1, EAGAIN),
		ALLOW(10 * RV_S, 4, EINVAL),		/* n > burst */
		ALLOW(10 * RV_S, 0, EINVAL),
		{ RV_END } } },
	{ "weighted: n events take n intervals", 1000, 10, {
		ALLOW(0, 10, 0), ALLOW(0, 1, EAGAIN),
		ALLOW(5 * RV_MS, 5, 0),			/* exactly 5 back */
		ALLOW(5 * RV_MS, 1, EAGAIN),
		ALLOW(6 * RV_MS - 1, 1, EAGAIN),
		ALLOW(6 * RV_MS, 1, 0),
		/* A rejected call takes nothing. */
		ALLOW(8 * RV_MS, 3, EAGAIN), ALLOW(8 * RV_MS, 2, 0),
		{ RV_END } } },
	{ "a late caller (time before the last call) cannot rewind", 1, 1, {
		ALLOW(0, 1, 0),
		ALLOW(1 * RV_S, 1, 0),
		ALLOW(500 * RV_MS, 1, EAGAIN),		/* read the clock, then delayed */
		ALLOW(1 * RV_S, 1, EAGAIN),
		ALLOW(2 * RV_S, 1, 0),
		{ RV_END } } },
	{ "fractional rate 0.5/s", 0.5, 1, {
		ALLOW(0, 1, 0),
		ALLOW(2 * RV_S - 1, 1, EAGAIN),
		ALLOW(2 * RV_S, 1, 0),
		ALLOW(3 * RV_S, 1, EAGAIN),
		{ RV_END } } },
	{ "rate 3/s: T rounds up, never looser", 3, 1, {
		ALLOW(0, 1, 0),
		ALLOW(333333333, 1, EAGAIN),		/* T = 333333333.334 ns */
		ALLOW(333333334, 1, 0),
		{ RV_END } } },
	{ "infinite rate admits everything", INFINITY, 2, {
		ALLOW(0, 2, 0), ALLOW(0, 2, 0), ALLOW(0, 1, 0), ALLOW(0, 2, 0),
		ALLOW(0, 3, EINVAL),
		{ RV_END } } },
	{ "set_rate keeps the tokens, not the time", 10, 1, {
		ALLOW(0, 1, 0),
		/* At 50 ms half a token is back; at 1/s it needs 0.5 s more. */
		SET_RATE(50 * RV_MS, 1, 0),
		ALLOW(549 * RV_MS, 1, EAGAIN),
		ALLOW(550 * RV_MS, 1, 0),
		SET_RATE(550 * RV_MS, 0, EINVAL),
		SET_RATE(550 * RV_MS, -1, EINVAL),
		SET_RATE(550 * RV_MS, NAN, EINVAL),
		{ RV_END } } },
	{ "set_burst caps what is saved, and raises the ceiling", 10, 5, {
		ALLOW(0, 5, 0),
		SET_BURST(0, 2, 0),
		ALLOW(1 * RV_S, 2, 0),			/* refilled to 2, not 5 */
		ALLOW(1 * RV_S, 1, EAGAIN),
		ALLOW(1 * RV_S, 3, EINVAL),		/* above the new burst */
		SET_BURST(1 * RV_S, 4, 0),
		ALLOW(2 * RV_S, 4, 0),
		SET_BURST(2 * RV_S, 0, EINVAL),
		{ RV_END } } },
	{ "reserve: when, and cancel refunds", 10, 1, {
		RESERVE(0, 1, 0, 0),			/* at once */
		RESERVE(0, 1, 1, 100 * RV_MS),
		RESERVE(0, 1, 2, 200 * RV_MS),
		CANCEL(0, 2),				/* the last one: all back */
		RESERVE(0, 1, 2, 200 * RV_MS),
		CANCEL(0, 2), CANCEL(0, 2),		/* a second cancel: nothing */
		ALLOW(100 * RV_MS, 1, EAGAIN),		/* slot 1 holds it */
		ALLOW(200 * RV_MS, 1, 0),
		{ RV_END } } },
	{ "reserve n > burst is EINVAL", 10, 2, {
		RESERVE(0, 2, 0, 0),
		{ RV_RESERVE, 0, 3, EINVAL, 0, 1, 0 },
		{ RV_END } } },
};

#undef ALLOW
#undef RESERVE
#undef CANCEL
#undef SET_RATE
#undef SET_BURST

#define RATE_NVECTORS (sizeof(rate_vectors) / sizeof(rate_vectors[0]))

#endif
