/* SPDX-License-Identifier: MIT */
/*
 * sema/chan: the Go idiom `sem := make(chan struct{}, N)`, where acquire
 * is `sem <- struct{}{}` and release is `<-sem`, built on the chan family
 * (the implementation named by chan_building_block, below).
 *
 * A permit is a token in the channel: acquire sends one (blocking while N
 * are out), release receives one.  Cancellation and deadlines come from the
 * channel's own send.  A channel moves one token at a time, so a weighted
 * acquire cannot be atomic: n > 1 is refused (no_weighted), as it is for
 * glibc's sem_t.  Fairness is whatever the channel's senders get.
 */
#include <errno.h>
#include <stdlib.h>

#include "chan.h"
#include "sema.h"

/*
 * The channel under sema/chan and ctx/chan: the fastest real implementation
 * in the uncontended micro-benchmarks (see README, "The chan family").
 */
const struct chan_ops *const chan_building_block = &chan_lockfree_ops;

struct chan_sema {
	struct chan *ch;
	unsigned cap;
};

#define to_cs(s) ((struct chan_sema *)(s))

static int chan_sema_create(struct sema **out, unsigned permits)
{
	struct chan_sema *cs = malloc(sizeof(*cs));
	int rc;

	if (!cs)
		return ENOMEM;
	if ((rc = chan_building_block->create(&cs->ch, permits))) {
		free(cs);
		return rc;
	}
	cs->cap = permits;
	*out = (struct sema *)cs;
	return 0;
}

static void chan_sema_destroy(struct sema *s)
{
	chan_building_block->destroy(to_cs(s)->ch);
	free(s);
}

static int chan_sema_acquire(struct sema *s, unsigned n, const struct ctx *ctx)
{
	struct chan_sema *cs = to_cs(s);

	if (n == 0 || n > cs->cap)
		return EINVAL;
	if (n > 1)
		return ENOTSUP;
	return chan_building_block->send(cs->ch, NULL, ctx);
}

static int chan_sema_try_acquire(struct sema *s, unsigned n)
{
	struct chan_sema *cs = to_cs(s);

	if (n == 0 || n > cs->cap)
		return EINVAL;
	if (n > 1)
		return ENOTSUP;
	return chan_building_block->try_send(cs->ch, NULL);
}

static void chan_sema_release(struct sema *s, unsigned n)
{
	void *token;

	/* Blocking recv: a token whose send is still being published is
	 * there in a moment; the caller holds it, so it cannot be missing. */
	while (n--)
		chan_building_block->recv(to_cs(s)->ch, &token, NULL);
}

static unsigned chan_sema_available(struct sema *s)
{
	struct chan_sema *cs = to_cs(s);

	return cs->cap - chan_building_block->len(cs->ch);
}

const struct sema_ops sema_chan_ops = {
	.info = {
		.name = "chan",
		.desc = "Go's channel semaphore: acquire = send a token, release = receive; unweighted",
	},
	.no_weighted = "a channel moves one token at a time; n tokens would not be atomic",
	.create = chan_sema_create,
	.destroy = chan_sema_destroy,
	.acquire = chan_sema_acquire,
	.try_acquire = chan_sema_try_acquire,
	.release = chan_sema_release,
	.available = chan_sema_available,
};
