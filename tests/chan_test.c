/* SPDX-License-Identifier: MIT */
/*
 * Conformance of every registered channel implementation, through the
 * registry: each rule of chan.h is one assertion per implementation, and
 * the blocking rules run under every real ctx implementation.  Test-only
 * negative controls are left to the stress suite, which must catch them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "clock.h"
#include "ctx.h"
#include "registry.h"
#include "blocking.h"
#include "tap.h"

#define MS 1000000ull
#define ITEM(n) ((void *)(uintptr_t)(n))

/* One blocking call on another thread. */
struct call {
	const struct chan_ops *ops;
	struct chan *ch;
	bool send;
	void *item;		/* to send, or what was received */
	struct ctx *ctx;	/* a cancellable context, or NULL */
	uint64_t deadline;	/* a plain deadline when ctx is NULL; 0 = none */
	int rc;
	atomic_int done;
	pthread_t tid;
};

static void *call_main(void *p)
{
	struct call *c = p;
	struct ctx plain = { .deadline_ns = c->deadline };
	const struct ctx *ctx = c->ctx ? c->ctx : c->deadline ? &plain : NULL;

	c->rc = c->send ? c->ops->send(c->ch, c->item, ctx) :
			  c->ops->recv(c->ch, &c->item, ctx);
	atomic_store(&c->done, 1);
	return NULL;
}

static void start(struct call *c)
{
	atomic_init(&c->done, 0);
	pthread_create(&c->tid, NULL, call_main, c);
}

/* Wait up to ms for it to return; true if it did (and is joined). */
static bool finish_within(struct call *c, unsigned ms)
{
	return done_within(c->tid, &c->done, ms);
}

static bool blocked_for(struct call *c, unsigned ms)
{
	return still_blocked(&c->done, ms);
}

static struct chan *make(const struct chan_ops *ops, unsigned cap)
{
	struct chan *ch = NULL;

	if (ops->create(&ch, cap))
		tap_bail("chan: create(%u) failed", cap);
	return ch;
}

static void basics(const char *name, const struct chan_ops *ops)
{
	struct chan *ch = NULL;
	void *item = ITEM(99);
	unsigned caps[] = { 1, 3, 100 }, sent;
	bool fifo = true;

	check_int(ops->create(&ch, 0), ==, EINVAL, "chan/%s: capacity 0 is EINVAL", name);
	check_int(ops->create(&ch, CHAN_MAX_CAP + 1), ==, EINVAL,
		  "chan/%s: capacity above CHAN_MAX_CAP is EINVAL", name);
	for (unsigned k = 0; k < 3; k++) {
		unsigned cap = caps[k];

		ch = make(ops, cap);
		check_uint(ops->cap(ch), ==, cap, "chan/%s: cap() is exactly the %u asked for", name, cap);
		check_uint(ops->len(ch), ==, 0, "chan/%s(cap %u): starts empty", name, cap);
		check_int(ops->try_recv(ch, &item), ==, EAGAIN,
			  "chan/%s(cap %u): try_recv on empty is EAGAIN", name, cap);
		for (sent = 0; sent < cap + 5; sent++)
			if (ops->try_send(ch, ITEM(sent + 1)))
				break;
		check_uint(sent, ==, cap, "chan/%s(cap %u): try_send succeeds exactly cap times", name, cap);
		check_int(ops->try_send(ch, ITEM(0)), ==, EAGAIN,
			  "chan/%s(cap %u): try_send on full is EAGAIN", name, cap);
		check_uint(ops->len(ch), ==, cap, "chan/%s(cap %u): len() == cap when full", name, cap);
		/* Wrap around the ring three times, one in one out. */
		for (unsigned i = 0; i < 3 * cap + 2; i++) {
			if (ops->try_recv(ch, &item) || item != ITEM(i + 1))
				fifo = false;
			if (ops->try_send(ch, ITEM(cap + i + 1)))
				fifo = false;
		}
		check(fifo, "chan/%s(cap %u): one thread's items come out in order across wrap-around", name, cap);
		ops->destroy(ch);
	}

	ch = make(ops, 2);
	check_int(ops->send(ch, NULL, NULL), ==, 0, "chan/%s: a NULL item can be sent", name);
	item = ITEM(7);
	check(ops->recv(ch, &item, NULL) == 0 && item == NULL, "chan/%s: ...and is received as NULL", name);
	ops->destroy(ch);
}

static void closing(const char *name, const struct chan_ops *ops)
{
	struct chan *ch = make(ops, 4);
	void *item = NULL;
	bool drained = true;

	ops->send(ch, ITEM(1), NULL);
	ops->send(ch, ITEM(2), NULL);
	check_int(ops->close(ch), ==, 0, "chan/%s: close succeeds", name);
	check_int(ops->close(ch), ==, EPIPE, "chan/%s: a second close is EPIPE, and harmless", name);
	check_int(ops->try_send(ch, ITEM(3)), ==, EPIPE, "chan/%s: try_send on a closed channel is EPIPE", name);
	check_int(ops->send(ch, ITEM(3), NULL), ==, EPIPE, "chan/%s: send on a closed channel is EPIPE", name);
	check_uint(ops->len(ch), ==, 2, "chan/%s: a refused send adds nothing", name);
	if (ops->recv(ch, &item, NULL) || item != ITEM(1) ||
	    ops->try_recv(ch, &item) || item != ITEM(2))
		drained = false;
	check(drained, "chan/%s: receivers drain what was buffered, in order, after close", name);
	check_int(ops->recv(ch, &item, NULL), ==, EPIPE, "chan/%s: recv on closed and drained is EPIPE", name);
	check_int(ops->try_recv(ch, &item), ==, EPIPE, "chan/%s: try_recv on closed and drained is EPIPE", name);
	ops->destroy(ch);
}

static void deadlines(const char *name, const struct chan_ops *ops)
{
	struct chan *ch = make(ops, 1);
	struct ctx c = { .deadline_ns = mono_ns() + 30 * MS };
	void *item;
	uint64_t t1;

	check_int(ops->recv(ch, &item, &c), ==, ETIMEDOUT, "chan/%s: recv on empty with a deadline times out", name);
	t1 = mono_ns();
	check_uint(t1, >=, c.deadline_ns, "chan/%s: ...no earlier than the deadline", name);
	tap_note("chan/%s: recv timed out %.3f ms after the deadline", name,
		 (double)(t1 - c.deadline_ns) / 1e6);
	ops->send(ch, ITEM(5), NULL);
	c.deadline_ns = mono_ns() + 30 * MS;
	check_int(ops->send(ch, ITEM(6), &c), ==, ETIMEDOUT, "chan/%s: send on full with a deadline times out", name);
	check(ops->len(ch) == 1 && ops->try_recv(ch, &item) == 0 && item == ITEM(5),
	      "chan/%s: ...and sent nothing", name);
	c.deadline_ns = mono_ns() - 1;
	check_int(ops->send(ch, ITEM(7), &c), ==, 0,
		  "chan/%s: a past deadline does not stop a send that can proceed at once", name);
	ops->destroy(ch);
}

static void wakes(const char *name, const struct chan_ops *ops)
{
	struct chan *ch = make(ops, 1);
	struct call r = { .ops = ops, .ch = ch }, s = { .ops = ops, .ch = ch, .send = true };
	void *item = NULL;

	start(&r);
	check(blocked_for(&r, 20), "chan/%s: recv on empty blocks", name);
	ops->send(ch, ITEM(42), NULL);
	check(finish_within(&r, 1000) && r.rc == 0 && r.item == ITEM(42),
	      "chan/%s: a send wakes the blocked receiver with its item", name);

	ops->send(ch, ITEM(1), NULL);
	s.item = ITEM(2);
	start(&s);
	check(blocked_for(&s, 20), "chan/%s: send on full blocks", name);
	ops->recv(ch, &item, NULL);
	check(finish_within(&s, 1000) && s.rc == 0, "chan/%s: a receive wakes the blocked sender", name);
	check(ops->recv(ch, &item, NULL) == 0 && item == ITEM(2), "chan/%s: ...whose item follows", name);

	/* close wakes both sides. */
	r = (struct call){ .ops = ops, .ch = ch };
	start(&r);
	nap_ms(20);
	ops->close(ch);
	check(finish_within(&r, 1000) && r.rc == EPIPE, "chan/%s: close wakes a blocked receiver with EPIPE", name);
	ops->destroy(ch);

	ch = make(ops, 1);
	ops->send(ch, ITEM(1), NULL);
	s = (struct call){ .ops = ops, .ch = ch, .send = true, .item = ITEM(2) };
	start(&s);
	nap_ms(20);
	ops->close(ch);
	check(finish_within(&s, 1000) && s.rc == EPIPE, "chan/%s: close wakes a blocked sender with EPIPE", name);
	check(ops->recv(ch, &item, NULL) == 0 && item == ITEM(1) &&
	      ops->recv(ch, &item, NULL) == EPIPE,
	      "chan/%s: ...whose item was not sent", name);
	ops->destroy(ch);
}

/* Every blocking rule about contexts, under one ctx implementation. */
static void cancellation(const char *name, const struct chan_ops *ops,
			 const char *cname, const struct ctx_ops *cops)
{
	struct chan *ch = make(ops, 1);
	struct ctx *c;
	struct call r, s, rs[3];
	void *item = NULL;
	unsigned got = 0;

	cops->create(&c, NULL, 0);
	cops->cancel(c, ECANCELED, NULL);
	check_int(ops->send(ch, ITEM(1), c), ==, ECANCELED,
		  "chan/%s+ctx/%s: send on a cancelled context fails at once, room or not", name, cname);
	check_uint(ops->len(ch), ==, 0, "chan/%s+ctx/%s: ...and sends nothing", name, cname);
	ops->send(ch, ITEM(1), NULL);
	check_int(ops->recv(ch, &item, c), ==, ECANCELED,
		  "chan/%s+ctx/%s: recv on a cancelled context fails at once, item or not", name, cname);
	check_uint(ops->len(ch), ==, 1, "chan/%s+ctx/%s: ...and takes nothing", name, cname);
	cops->destroy(c);

	/* Full: a blocked sender is cancelled and sends nothing. */
	cops->create(&c, NULL, 0);
	s = (struct call){ .ops = ops, .ch = ch, .send = true, .item = ITEM(2), .ctx = c };
	start(&s);
	nap_ms(20);
	cops->cancel(c, ECANCELED, NULL);
	check(finish_within(&s, 1000) && s.rc == ECANCELED,
	      "chan/%s+ctx/%s: cancel wakes a blocked send, which fails with ECANCELED", name, cname);
	check(ops->recv(ch, &item, NULL) == 0 && item == ITEM(1) && ops->len(ch) == 0,
	      "chan/%s+ctx/%s: ...and sent nothing", name, cname);
	cops->destroy(c);

	/* Empty: a blocked receiver is cancelled. */
	cops->create(&c, NULL, 0);
	r = (struct call){ .ops = ops, .ch = ch, .ctx = c };
	start(&r);
	nap_ms(20);
	cops->cancel(c, ECANCELED, NULL);
	check(finish_within(&r, 1000) && r.rc == ECANCELED,
	      "chan/%s+ctx/%s: cancel wakes a blocked recv, which fails with ECANCELED", name, cname);
	cops->destroy(c);

	/* The timer service fires a context deadline under a blocked recv. */
	cops->create(&c, NULL, mono_ns() + 30 * MS);
	r = (struct call){ .ops = ops, .ch = ch, .ctx = c };
	start(&r);
	check(finish_within(&r, 2000) && r.rc == ETIMEDOUT,
	      "chan/%s+ctx/%s: a context's deadline ends a blocked recv with ETIMEDOUT", name, cname);
	cops->destroy(c);

	/* A cancelled receiver among three does not swallow an item or a wake. */
	cops->create(&c, NULL, 0);
	for (int i = 0; i < 3; i++) {
		rs[i] = (struct call){ .ops = ops, .ch = ch, .ctx = i == 1 ? c : NULL };
		start(&rs[i]);
	}
	nap_ms(20);
	cops->cancel(c, ECANCELED, NULL);
	ops->send(ch, ITEM(10), NULL);
	ops->send(ch, ITEM(11), NULL);
	for (int i = 0; i < 3; i += 2)
		if (finish_within(&rs[i], 1000) && rs[i].rc == 0)
			got |= rs[i].item == ITEM(10) ? 1 : rs[i].item == ITEM(11) ? 2 : 4;
	check(finish_within(&rs[1], 1000) && rs[1].rc == ECANCELED && got == 3,
	      "chan/%s+ctx/%s: with one of three receivers cancelled, the other two get both items", name, cname);
	cops->destroy(c);
	ops->destroy(ch);
}

/* Many producers and consumers: exactly once, FIFO per producer. */
#define PRODUCERS 4
#define CONSUMERS 4
#define PER_PRODUCER 5000

struct mpmc {
	const struct chan_ops *ops;
	struct chan *ch;
	atomic_uint received[PRODUCERS][PER_PRODUCER];
	atomic_uint sent_ok[PRODUCERS];
	atomic_uint disorder;
	atomic_int next_id;
	unsigned close_after;	/* 0: close only when every producer is done */
};

static void *producer_main(void *p)
{
	struct mpmc *m = p;
	unsigned id = (unsigned)atomic_fetch_add(&m->next_id, 1);

	for (unsigned i = 0; i < PER_PRODUCER; i++) {
		if (m->ops->send(m->ch, ITEM(((uintptr_t)id << 32) | i), NULL))
			break;
		atomic_fetch_add(&m->sent_ok[id], 1);
		if (m->close_after && id == 0 && i == m->close_after)
			m->ops->close(m->ch);
	}
	return NULL;
}

static void *consumer_main(void *p)
{
	struct mpmc *m = p;
	long last[PRODUCERS];
	void *item;

	for (int i = 0; i < PRODUCERS; i++)
		last[i] = -1;
	while (m->ops->recv(m->ch, &item, NULL) == 0) {
		unsigned id = (unsigned)((uintptr_t)item >> 32);
		unsigned seq = (unsigned)(uintptr_t)item;

		if (id >= PRODUCERS || seq >= PER_PRODUCER) {
			atomic_fetch_add(&m->disorder, 1);
			continue;
		}
		if ((long)seq <= last[id])
			atomic_fetch_add(&m->disorder, 1);
		last[id] = seq;
		atomic_fetch_add(&m->received[id][seq], 1);
	}
	return NULL;
}

static void mpmc(const char *name, const struct chan_ops *ops, unsigned cap,
		 unsigned close_after)
{
	static struct mpmc m;
	pthread_t pt[PRODUCERS], ct[CONSUMERS];
	unsigned lost = 0, dup = 0, extra = 0;

	m = (struct mpmc){ .ops = ops, .ch = make(ops, cap), .close_after = close_after };
	for (int i = 0; i < CONSUMERS; i++)
		pthread_create(&ct[i], NULL, consumer_main, &m);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_create(&pt[i], NULL, producer_main, &m);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(pt[i], NULL);
	if (!close_after)
		ops->close(m.ch);
	for (int i = 0; i < CONSUMERS; i++)
		pthread_join(ct[i], NULL);
	for (unsigned p = 0; p < PRODUCERS; p++)
		for (unsigned i = 0; i < PER_PRODUCER; i++) {
			unsigned n = atomic_load(&m.received[p][i]);
			bool sent = i < atomic_load(&m.sent_ok[p]);

			if (sent && n == 0)
				lost++;
			else if (n > 1)
				dup++;
			else if (!sent && n)
				extra++;
		}
	check(lost == 0 && dup == 0 && extra == 0 && atomic_load(&m.disorder) == 0,
	      "chan/%s(cap %u, 4x4%s): every item sent received exactly once, in order per producer "
	      "(lost %u, duplicated %u, never sent %u, out of order %u)", name, cap,
	      close_after ? ", closed mid-stream" : "", lost, dup, extra, atomic_load(&m.disorder));
	ops->destroy(m.ch);
}

int main(void)
{
	const struct family *f = family_find("chan"), *cf = family_find("ctx");
	const struct impl_info *i, *ci;
	unsigned real = 0;

	/* A broken implementation must fail this program, never hang it. */
	alarm(300);
	clock_init();
	if (!f)
		tap_skip_all("no chan family registered");
	for_each_impl(f, i, p) {
		const struct chan_ops *ops = chan_ops_of(i);

		if (i->flags & IMPL_TEST_ONLY) {
			check(i != NULL, "chan/%s: registered as a test-only negative control", i->name);
			continue;
		}
		real++;
		basics(i->name, ops);
		closing(i->name, ops);
		deadlines(i->name, ops);
		wakes(i->name, ops);
		for_each_impl(cf, ci, q)
			if (!(ci->flags & IMPL_TEST_ONLY))
				cancellation(i->name, ops, ci->name, ctx_ops_of(ci));
		mpmc(i->name, ops, 1, 0);
		mpmc(i->name, ops, 7, 0);
		mpmc(i->name, ops, 7, PER_PRODUCER / 2);
	}
	check_uint(real, >=, 2, "the registry lists at least two real chan implementations");
	return tap_done();
}
