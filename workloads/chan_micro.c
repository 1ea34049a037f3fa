/* SPDX-License-Identifier: MIT */
/*
 * Micro-benchmark cases for the channel family, every one on a channel of
 * capacity 100:
 *   send_recv       uncontended: one thread sends an item, then receives
 *                   it (blocking calls that never have to block)
 *   try_send_full   a try_send that fails on a full channel (Go's
 *                   `select { case ch <- v: default: }` on a full buffered
 *                   channel: about 3.6 ns)
 *   try_recv_empty  a try_recv that fails on an empty channel
 *   pipeline_1p1c   two threads, always: one producer sends, one consumer
 *                   receives (blocking calls): the cost of one item passed
 *                   through.  Each thread moves two items per iteration,
 *                   so the time per iteration, wall time over the
 *                   iterations of both threads, is the time per item.
 * A floor implementation (IMPL_FLOOR: buffers nothing) runs them all; the
 * full and empty cases check their channel only on real ones.
 */
#include <stdint.h>

#include "chan.h"
#include "micro.h"

#define CAP 100

static void *chan_setup(const struct impl_info *impl)
{
	struct chan *c;

	return chan_ops_of(impl)->create(&c, CAP) ? NULL : c;
}

static void *full_setup(const struct impl_info *impl)
{
	const struct chan_ops *ops = chan_ops_of(impl);
	struct chan *c = chan_setup(impl);

	for (uintptr_t i = 0; c && i < CAP; i++)
		ops->try_send(c, (void *)i);
	return c;
}

static void chan_teardown(void *obj, const struct impl_info *impl)
{
	chan_ops_of(impl)->destroy(obj);
}

static void send_recv(struct gb_state *st, void *obj,
		      const struct impl_info *impl)
{
	const struct chan_ops *ops = chan_ops_of(impl);
	struct chan *c = obj;
	void *item;
	size_t n;

	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++) {
			ops->send(c, (void *)i, NULL);
			ops->recv(c, &item, NULL);
		}
}

/* Whether the channel holds want items (not asked of a floor). */
static bool holds(struct gb_state *st, struct chan *c,
		  const struct impl_info *impl, unsigned want)
{
	const struct chan_ops *ops = chan_ops_of(impl);

	if (impl->flags & IMPL_FLOOR || ops->len(c) == want)
		return true;
	gb_skip_with_error(st, want ? "the channel is not full" :
				      "the channel is not empty");
	return false;
}

static void try_send_full(struct gb_state *st, void *obj,
			  const struct impl_info *impl)
{
	const struct chan_ops *ops = chan_ops_of(impl);
	struct chan *c = obj;
	size_t n;

	if (!holds(st, c, impl, CAP))
		return;
	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++)
			ops->try_send(c, (void *)i);
}

static void try_recv_empty(struct gb_state *st, void *obj,
			   const struct impl_info *impl)
{
	const struct chan_ops *ops = chan_ops_of(impl);
	struct chan *c = obj;
	void *item;
	size_t n;

	if (!holds(st, c, impl, 0))
		return;
	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++)
			ops->try_recv(c, &item);
}

/*
 * Thread 0 produces, thread 1 consumes.  Both run the same batches (the
 * shim's batch rule depends only on the iteration count, the same for
 * every thread of a run), so each receive has its send and the channel is
 * empty again when the run ends.
 */
static void pipeline(struct gb_state *st, void *obj,
		     const struct impl_info *impl)
{
	const struct chan_ops *ops = chan_ops_of(impl);
	struct chan *c = obj;
	void *item;
	size_t n;

	if (gb_threads(st) != 2) {
		gb_skip_with_error(st, "pipeline_1p1c needs exactly two threads");
		return;
	}
	if (gb_thread_index(st) == 0) {
		while ((n = gb_next_batch(st)))
			for (size_t i = 0; i < n; i++) {
				ops->send(c, (void *)i, NULL);
				ops->send(c, (void *)i, NULL);
			}
	} else {
		while ((n = gb_next_batch(st)))
			for (size_t i = 0; i < n; i++) {
				ops->recv(c, &item, NULL);
				ops->recv(c, &item, NULL);
			}
	}
}

static const struct micro_case chan_cases[] = {
	{ "send_recv", false, chan_setup, send_recv, chan_teardown },
	{ "try_send_full", false, full_setup, try_send_full, chan_teardown },
	{ "try_recv_empty", false, chan_setup, try_recv_empty, chan_teardown },
	{ "pipeline_1p1c", false, chan_setup, pipeline, chan_teardown, 2 },
	{ 0 },
};

const struct micro_family chan_micro = {
	.cases = chan_cases,
};
