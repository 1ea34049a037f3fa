/* SPDX-License-Identifier: MIT */
/*
 * Micro-benchmark cases for the drain family:
 *   enter_leave           enter + leave on an open drain, uncontended, and
 *                         at 2..N threads on one drain (contended: every
 *                         request of a service passing through it)
 *   enter_refused         enter on a closed drain: the cost of saying no
 *                         once shutdown has begun
 *   close_and_wait_empty  close_and_wait(NULL) with nothing in flight (the
 *                         first call closes, every later one finds it
 *                         closed): the return that never sleeps
 */
#include <errno.h>

#include "drain.h"
#include "micro.h"

static void *open_setup(const struct impl_info *impl)
{
	struct drain *d;

	return drain_ops_of(impl)->create(&d) ? NULL : d;
}

static void *closed_setup(const struct impl_info *impl)
{
	struct drain *d = open_setup(impl);

	if (d)
		drain_ops_of(impl)->close_and_wait(d, NULL);
	return d;
}

static void drain_teardown(void *obj, const struct impl_info *impl)
{
	drain_ops_of(impl)->destroy(obj);
}

static void enter_leave(struct gb_state *st, void *obj,
			const struct impl_info *impl)
{
	const struct drain_ops *ops = drain_ops_of(impl);
	struct drain *d = obj;
	size_t n;

	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++) {
			if (unlikely(ops->enter(d))) {
				gb_skip_with_error(st, "enter refused on an open drain");
				return;
			}
			ops->leave(d);
		}
}

static void enter_refused(struct gb_state *st, void *obj,
			  const struct impl_info *impl)
{
	const struct drain_ops *ops = drain_ops_of(impl);
	struct drain *d = obj;
	size_t n;

	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++)
			if (unlikely(ops->enter(d) != EPIPE)) {
				gb_skip_with_error(st, "enter admitted on a closed drain");
				return;
			}
}

static void close_and_wait_empty(struct gb_state *st, void *obj,
				 const struct impl_info *impl)
{
	const struct drain_ops *ops = drain_ops_of(impl);
	struct drain *d = obj;
	size_t n;

	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++)
			if (unlikely(ops->close_and_wait(d, NULL))) {
				gb_skip_with_error(st, "close_and_wait left units in flight on an empty drain");
				return;
			}
}

static const struct micro_case drain_cases[] = {
	{ "enter_leave", true, open_setup, enter_leave, drain_teardown },
	{ "enter_refused", false, closed_setup, enter_refused, drain_teardown },
	{ "close_and_wait_empty", false, open_setup, close_and_wait_empty, drain_teardown },
	{ 0 },
};

const struct micro_family drain_micro = {
	.cases = drain_cases,
};
