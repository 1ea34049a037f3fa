/* SPDX-License-Identifier: MIT */
/*
 * The channel stress checker (contend stress chan).
 *
 * Threads play rounds on channels kept in NSLOTS slots, as ctx_stress does
 * with contexts.  A thread that finds a slot empty owns the next round
 * there: it creates a channel of a random capacity (1, small odd ones,
 * larger ones), opens the slot, and then monitors: it samples len() and
 * cap(), and now and then cancels the context of another thread's send or
 * receive in progress (often a blocked one) and waits for that call to
 * return.  After 50 us - 3 ms (at once after the stop flag), sometimes
 * once it has seen items buffered, it closes the channel, with producers
 * still sending, and leaves.  The owner never blocks on the channel and
 * always closes, so every blocked sender and receiver of a round has
 * something to wake it.  The last user out of a closed slot drains what
 * is left, checks the round and destroys the channel.
 *
 * A joiner becomes, at random (the round's mode biases it):
 *   - a producer: the round gives it an index p; its n-th send attempt
 *     carries the item (p << SEQ_BITS | n) ^ the round's salt (so a round
 *     may send NULL, and a value from anywhere else decodes to nonsense),
 *     and it records what every attempt returned;
 *   - a consumer: it receives until closed and drained (or it leaves
 *     early), decoding and counting every item;
 *   - a closer: it naps, then closes the channel, racing the owner's close
 *     and the producers' sends.
 * Each send or receive is, at random: blocking; try_; with a plain
 * deadline 0-100 us away; under a cancellable context (ctx/futex) that
 * the owner may cancel from its thread, or whose deadline (0-100 us away)
 * the timer service fires; or under a context already cancelled or
 * expired.  Some rounds have slow consumers (the channel fills, senders
 * block), some slow producers (receivers block on an empty channel).
 * A thread with no slot at hand (or now and then anyway) plays a short
 * single-threaded sequence on a private channel, where every result is
 * known exactly.
 *
 * Checked (each violation message starts with the invariant's name):
 *   - duplicate: no item is received twice;
 *   - lost: every send that returned 0 is received, by a consumer or by
 *     the final drain after the close, also when the close came with items
 *     still buffered (counted per item at the end of each round);
 *   - not sent but received: no item whose send failed (EPIPE, EAGAIN,
 *     ETIMEDOUT, ECANCELED) is ever received;
 *   - never produced: every value received is one some producer of that
 *     round made (and had started to send);
 *   - FIFO: a consumer never sees a producer's sequence go backwards;
 *   - len > cap: len() never exceeds cap() (the owner samples it while the
 *     round runs; the drain counts what was left); cap: cap() is what
 *     create() was asked; len: len() is exact in a single thread;
 *   - close: exactly one close() returns 0, the others EPIPE; a send that
 *     starts after a close() returned fails with EPIPE (try_send too, not
 *     EAGAIN); EPIPE only once someone has called close(); after a receive
 *     said EPIPE (closed and drained) nothing more comes; try_recv on a
 *     closed channel never says EAGAIN; a closed, drained channel's recv
 *     does not block;
 *   - cancel: a call under a context already cancelled or expired does not
 *     go ahead and returns its err (or EPIPE, closed); ECANCELED only from
 *     a cancelled context;
 *   - deadline: ETIMEDOUT only with a deadline, and never before it;
 *   - result: every call returns one of its documented codes;
 *   - blocked: in a single thread, a send with room or a receive with an
 *     item buffered goes through at once (a 200 ms deadline guards them);
 *   - a blocked sender or receiver returns when the channel is closed or
 *     its context cancelled: the owner waits for each call it cancelled,
 *     and the driver's watchdog turns one that never returns into a hang
 *     report naming the stuck threads and what they were doing.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chan.h"
#include "chaos.h"
#include "clock.h"
#include "ctx.h"
#include "stress.h"

#define NSLOTS 2
#define US 1000u

#define SEQ_BITS 13
#define MAX_SEQ (1u << SEQ_BITS)	/* send attempts per producer per round */
#define PROD_BITS 4
#define MAX_PRODUCERS (1u << PROD_BITS)	/* per round; later joiners consume */
#define DRAIN_SLACK 8			/* items the drain takes beyond cap() */
/* The deadline of calls that must not block: fail on a bug, never hang. */
#define WAIT_NS (200 * 1000 * US)


/* A round's mode: how its joiners behave. */
#define MODE_SLOW_CONSUMERS (1u << 0)	/* the channel fills, senders block */
#define MODE_SLOW_PRODUCERS (1u << 1)	/* it empties, receivers block */
#define MODE_CLOSE_FULL (1u << 2)	/* the owner waits for items first */
#define MODE_BIAS_SHIFT 3		/* 2 bits: share of producers */

static const char owner_cause[] = "stress: a round's owner cancelled a call";
static const char joiner_cause[] = "stress: cancelled before the call";

/* What a send attempt returned, kept per item until the round's check. */
enum outcome {
	OUT_SENT = 1,
	OUT_EPIPE,
	OUT_EAGAIN,
	OUT_ETIMEDOUT,
	OUT_ECANCELED,
	OUT_OTHER,
};

static const char *const outcome_names[] = {
	"(none)", "0", "EPIPE", "EAGAIN", "ETIMEDOUT", "ECANCELED", "an unknown code",
};

struct producer {
	_Atomic uint32_t attempts;	/* items made: sequence 0 .. attempts-1 */
	uint8_t outcome[MAX_SEQ];	/* its own; read by the check */
	_Atomic uint16_t recvd[MAX_SEQ];
};

struct slot {
	_Atomic uint32_t state;		/* as in ctx_stress */
	_Atomic uint64_t rounds;
	/* Set up by the owner, torn down by the last user, under BUSY alone. */
	struct chan *c;
	unsigned cap, mode;
	uintptr_t salt;
	uint64_t id;
	/* Live. */
	_Atomic uint32_t nprod, ncons;
	_Atomic bool closing;		/* someone has called close() */
	_Atomic bool closed;		/* some close() has returned */
	_Atomic uint32_t close_ok;	/* closes that returned 0 */
	_Atomic uint32_t len_at_close;	/* sampled by the owner just before */
	_Atomic uint32_t last_len;	/* the owner's last sample */
	_Atomic uint32_t in_send, in_recv;	/* threads inside a call */
	struct producer *prod;		/* MAX_PRODUCERS */
} cacheline_aligned;

/* Per thread: the context of its call in progress, for the owners to cancel. */
struct pub {
	struct ctx *_Atomic ctx;	/* published; taken by a canceller */
	_Atomic bool handed;		/* the canceller is done with it */
	_Atomic uint64_t returns;	/* published calls that came back */
} cacheline_aligned;

struct chan_stress {
	const struct chan_ops *ops;
	unsigned nthreads;
	struct pub *pubs;
	struct slot slots[NSLOTS];
};

struct worker {
	struct stress_thread *t;
	struct chan_stress *cs;
	const struct chan_ops *ops;
};

static void nap(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };

	nanosleep(&ts, NULL);
}

/* n violations with one message (an end-of-round count of bad items). */
static void violations(struct stress *s, unsigned n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void violations(struct stress *s, unsigned n, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	while (n--)
		stress_violation(s, "%s", buf);
}

static const char *code(int rc)
{
	static const char *const names[] = {
		[0] = "0", [EAGAIN] = "EAGAIN", [EPIPE] = "EPIPE",
		[ETIMEDOUT] = "ETIMEDOUT", [ECANCELED] = "ECANCELED",
		[EINVAL] = "EINVAL", [ENOMEM] = "ENOMEM",
	};

	if (rc >= 0 && (size_t)rc < ARRAY_SIZE(names) && names[rc])
		return names[rc];
	return "an unknown code";
}

static enum outcome outcome_of(int rc)
{
	switch (rc) {
	case 0: return OUT_SENT;
	case EPIPE: return OUT_EPIPE;
	case EAGAIN: return OUT_EAGAIN;
	case ETIMEDOUT: return OUT_ETIMEDOUT;
	case ECANCELED: return OUT_ECANCELED;
	default: return OUT_OTHER;
	}
}

static unsigned pick_cap(uint64_t r, bool small)
{
	static const unsigned caps[] = { 1, 1, 2, 3, 5, 7, 7, 13, 64, 100, 257, 1024 };

	return caps[r % (ARRAY_SIZE(caps) - (small ? 2 : 0))];
}

/* ---- calls and their contexts --------------------------------------- */

enum how {
	HOW_BLOCK,		/* NULL context */
	HOW_TRY,		/* try_send / try_recv */
	HOW_TIMED,		/* a plain deadline 0-100 us away */
	HOW_CANCEL,		/* ctx/futex, no deadline; an owner may cancel it */
	HOW_CANCEL_DEADLINE,	/* ctx/futex, deadline 0-100 us away; likewise */
	HOW_CANCELLED,		/* ctx/futex cancelled before the call */
	HOW_EXPIRED,		/* ctx/futex whose deadline had passed */
};

static const char *const send_names[] = {
	"send", "try_send", "timed send", "cancellable send",
	"cancellable timed send", "send (cancelled context)",
	"send (expired context)",
};

static const char *const recv_names[] = {
	"recv", "try_recv", "timed recv", "cancellable recv",
	"cancellable timed recv", "recv (cancelled context)",
	"recv (expired context)",
};

struct call {
	enum how how;
	bool send;
	struct ctx plain;
	struct ctx *c;			/* ctx/futex, or NULL */
	const struct ctx *arg;		/* what the call gets */
	uint64_t deadline;
	struct pub *pub;		/* where c is published, or NULL */
};

static enum how pick_how(uint64_t r)
{
	switch (r % 16) {
	case 0: case 1: case 2: case 3: case 4: case 5:
		return HOW_BLOCK;
	case 6: case 7: case 8:
		return HOW_TRY;
	case 9: case 10:
		return HOW_TIMED;
	case 11: case 12:
		return HOW_CANCEL;
	case 13:
		return HOW_CANCEL_DEADLINE;
	case 14:
		return HOW_CANCELLED;
	default:
		return HOW_EXPIRED;
	}
}

static const char *call_name(const struct call *k)
{
	return (k->send ? send_names : recv_names)[k->how];
}

/* Make the call's context (published where an owner may cancel it). */
static void call_begin(struct worker *w, struct call *k, bool send,
		       enum how how, uint64_t r, bool publish)
{
	uint64_t now = mono_ns();
	int rc = 0;

	memset(k, 0, sizeof(*k));
	k->send = send;
	k->how = how;
	switch (how) {
	case HOW_TIMED:
		k->deadline = now + r % (100 * US);
		k->plain.deadline_ns = k->deadline;
		k->arg = &k->plain;
		break;
	case HOW_CANCEL:
		rc = ctx_futex_ops.create(&k->c, NULL, 0);
		break;
	case HOW_CANCEL_DEADLINE:
		k->deadline = now + r % (100 * US);
		rc = ctx_futex_ops.create(&k->c, NULL, k->deadline);
		break;
	case HOW_CANCELLED:
		rc = ctx_futex_ops.create(&k->c, NULL, 0);
		if (!rc)
			ctx_futex_ops.cancel(k->c, ECANCELED, joiner_cause);
		break;
	case HOW_EXPIRED:
		rc = ctx_futex_ops.create(&k->c, NULL, now - 1);
		break;
	default:
		break;
	}
	if (rc) {
		stress_violation(w->t->s, "result: ctx/futex create failed: %d", rc);
		k->how = HOW_TRY;	/* never blocks */
		k->c = NULL;
	}
	if (k->c) {
		k->arg = k->c;
		if (publish && (how == HOW_CANCEL || how == HOW_CANCEL_DEADLINE)) {
			k->pub = &w->cs->pubs[w->t->id];
			atomic_store_explicit(&k->pub->handed, false, memory_order_relaxed);
			/* Pairs with a canceller's exchange. */
			atomic_store_explicit(&k->pub->ctx, k->c, memory_order_release);
		}
	}
}

/* Take the context back (waiting for a canceller that has it), free it. */
static void call_end(struct call *k)
{
	if (k->pub) {
		if (!atomic_exchange_explicit(&k->pub->ctx, NULL, memory_order_acq_rel))
			while (!atomic_load_explicit(&k->pub->handed, memory_order_acquire))
				sched_yield();
		atomic_fetch_add_explicit(&k->pub->returns, 1, memory_order_release);
	}
	if (k->c)
		ctx_futex_ops.destroy(k->c);
}

/*
 * Check a call's result against its context; closed: a close() had
 * returned before the call began.  sl: the round, NULL for a private
 * channel.  Returns whether the result was a valid one.
 */
static bool call_check(struct worker *w, const struct call *k, int rc,
		       bool closed, struct slot *sl)
{
	struct stress *s = w->t->s;
	int cerr = ctx_err(k->c);
	const char *name = call_name(k);
	uint64_t now;

	if ((k->how == HOW_CANCELLED || k->how == HOW_EXPIRED) &&
	    rc != cerr && rc != EPIPE) {
		stress_violation(s, "cancel: %s returned %s, its context's err is %s%s",
				 name, code(rc), code(cerr),
				 rc ? "" : " (it went ahead)");
		return false;
	}
	switch (rc) {
	case 0:
		if (!k->send || !closed)
			return true;
		stress_violation(s, "close: %s returned 0 after a close() had returned",
				 name);
		return false;
	case EAGAIN:
		if (k->how != HOW_TRY)
			stress_violation(s, "result: %s returned EAGAIN, which only try_send and try_recv may",
					 name);
		else if (closed)
			stress_violation(s, "close: %s returned EAGAIN after a close() had returned (must be %s)",
					 name, k->send ? "EPIPE" : "0 or EPIPE");
		else
			return true;
		return false;
	case EPIPE:
		if (!sl || atomic_load_explicit(&sl->closing, memory_order_acquire))
			return true;
		stress_violation(s, "close: %s returned EPIPE, but nobody had called close()",
				 name);
		return false;
	case ETIMEDOUT:
		now = mono_ns();
		if (!k->deadline && cerr != ETIMEDOUT)
			stress_violation(s, "deadline: %s returned ETIMEDOUT without a deadline",
					 name);
		else if (k->deadline && now < k->deadline)
			stress_violation(s, "deadline: %s returned ETIMEDOUT %llu ns before its deadline",
					 name, (unsigned long long)(k->deadline - now));
		else
			return true;
		return false;
	case ECANCELED:
		if (!k->c)
			stress_violation(s, "result: %s returned ECANCELED without a cancellable context",
					 name);
		else if (cerr != ECANCELED)
			stress_violation(s, "cancel: %s returned ECANCELED, but its context's err is %s",
					 name, code(cerr));
		else
			return true;
		return false;
	default:
		stress_violation(s, "result: %s returned %d", name, rc);
		return false;
	}
}

static int call_send(struct worker *w, struct call *k, struct chan *c,
		     void *item, unsigned arg, _Atomic uint32_t *inside)
{
	int rc;

	stress_begin(w->t, call_name(k), arg);
	/*
	 * Every send counts, try_send too, seq_cst: a receiver that sees a
	 * close and then no send inside knows every item is published.
	 */
	if (inside)
		atomic_fetch_add(inside, 1);
	if (k->how == HOW_TRY)
		rc = w->ops->try_send(c, item);
	else
		rc = w->ops->send(c, item, k->arg);
	if (inside)
		atomic_fetch_sub(inside, 1);
	stress_end(w->t);
	return rc;
}

static int call_recv(struct worker *w, struct call *k, struct chan *c,
		     void **item, unsigned arg, _Atomic uint32_t *inside)
{
	int rc;

	stress_begin(w->t, call_name(k), arg);
	if (inside)
		atomic_fetch_add(inside, 1);
	if (k->how == HOW_TRY)
		rc = w->ops->try_recv(c, item);
	else
		rc = w->ops->recv(c, item, k->arg);
	if (inside)
		atomic_fetch_sub(inside, 1);
	stress_end(w->t);
	return rc;
}

/* ---- items ---------------------------------------------------------- */

static void *encode(const struct slot *sl, unsigned p, unsigned seq)
{
	return (void *)((((uintptr_t)p << SEQ_BITS) | seq) ^ sl->salt);
}

static unsigned slot_index(struct worker *w, struct slot *sl)
{
	return (unsigned)(sl - w->cs->slots);
}

/*
 * An item received by `who` in sl's round.  last[p] is the sequence + 1 of
 * the last item of producer p this receiver saw (0: none yet).
 */
static void got(struct worker *w, struct slot *sl, void *item,
		uint32_t *last, const char *who)
{
	struct stress *s = w->t->s;
	uintptr_t v = (uintptr_t)item ^ sl->salt;
	unsigned p = (unsigned)(v >> SEQ_BITS) & (MAX_PRODUCERS - 1);
	unsigned seq = (unsigned)v & (MAX_SEQ - 1);
	unsigned n;

	/* Acquire: pairs with the producer's release before its send. */
	if (v >> (SEQ_BITS + PROD_BITS) ||
	    seq >= atomic_load_explicit(&sl->prod[p].attempts, memory_order_acquire)) {
		stress_violation(s, "never produced: %s received %p in round %llu (slot %u, cap %u), which no producer of the round made",
				 who, item, (unsigned long long)sl->id,
				 slot_index(w, sl), sl->cap);
		return;
	}
	n = atomic_fetch_add_explicit(&sl->prod[p].recvd[seq], 1,
				      memory_order_relaxed);
	if (n)
		stress_violation(s, "duplicate: %s received producer %u's item %u %s time in round %llu (slot %u, cap %u)",
				 who, p, seq, n == 1 ? "a second" : "another",
				 (unsigned long long)sl->id, slot_index(w, sl), sl->cap);
	if (last[p] > seq + 1)
		stress_violation(s, "FIFO: %s received producer %u's item %u after its item %u in round %llu (slot %u, cap %u)",
				 who, p, seq, last[p] - 1,
				 (unsigned long long)sl->id, slot_index(w, sl), sl->cap);
	else
		last[p] = seq + 1;
}

/* ---- close ---------------------------------------------------------- */

static void do_close(struct worker *w, struct slot *sl, const char *who)
{
	struct stress *s = w->t->s;
	bool before = atomic_load_explicit(&sl->closed, memory_order_acquire);
	int rc;

	atomic_store_explicit(&sl->closing, true, memory_order_release);
	stress_begin(w->t, "close", slot_index(w, sl));
	rc = w->ops->close(sl->c);
	stress_end(w->t);
	if (rc == 0) {
		unsigned n = atomic_fetch_add(&sl->close_ok, 1) + 1;

		if (n > 1)
			stress_violation(s, "close: %u close() calls returned 0 in round %llu (slot %u); the ones after the first must say EPIPE",
					 n, (unsigned long long)sl->id, slot_index(w, sl));
		else if (before)
			stress_violation(s, "close: %s's close() returned 0 after another close() had returned",
					 who);
	} else if (rc != EPIPE) {
		stress_violation(s, "result: %s's close() returned %s", who, code(rc));
	}
	atomic_store_explicit(&sl->closed, true, memory_order_release);
}

/* ---- slots ---------------------------------------------------------- */

static struct slot *slot_own(struct worker *w)
{
	int i = stress_slot_own(w->t, &w->cs->slots[0].state,
				sizeof(struct slot), NSLOTS);

	return i < 0 ? NULL : &w->cs->slots[i];
}

static struct slot *slot_join(struct worker *w)
{
	int i = stress_slot_join(w->t, &w->cs->slots[0].state,
				 sizeof(struct slot), NSLOTS);

	return i < 0 ? NULL : &w->cs->slots[i];
}

/*
 * The last user of a closed round: drain what is left, check that every
 * item was received exactly once, destroy the channel.
 */
static void slot_teardown(struct worker *w, struct slot *sl)
{
	struct stress *s = w->t->s;
	const struct chan_ops *ops = w->ops;
	unsigned idx = slot_index(w, sl), len, drained = 0;
	unsigned sent = 0, lost = 0, unsent = 0, lost_p = 0, lost_seq = 0;
	unsigned unsent_p = 0, unsent_seq = 0, unsent_out = 0, nprod;
	uint32_t last[MAX_PRODUCERS] = { 0 };
	struct ctx dl = { 0 };
	void *item;
	int rc;

	stress_begin(w->t, "len", idx);
	len = ops->len(sl->c);
	stress_end(w->t);
	if (len > sl->cap)
		stress_violation(s, "len > cap: len() said %u after the round, cap %u",
				 len, sl->cap);

	/* Closed: try_recv gives what is buffered, then EPIPE, never EAGAIN. */
	for (;;) {
		if (drained == sl->cap + DRAIN_SLACK) {
			stress_violation(s, "len > cap: the drain of a closed channel of cap %u received %u items and there were more",
					 sl->cap, drained);
			break;
		}
		stress_begin(w->t, "drain try_recv", idx);
		rc = ops->try_recv(sl->c, &item);
		stress_end(w->t);
		if (rc == 0) {
			got(w, sl, item, last, "the drain");
			drained++;
			continue;
		}
		if (rc == EAGAIN)
			stress_violation(s, "close: try_recv returned EAGAIN on a closed channel (round %llu, cap %u, %u drained)",
					 (unsigned long long)sl->id, sl->cap, drained);
		else if (rc != EPIPE)
			stress_violation(s, "result: the drain's try_recv returned %s",
					 code(rc));
		break;
	}
	if (drained > sl->cap && drained < sl->cap + DRAIN_SLACK)
		stress_violation(s, "len > cap: %u items were buffered in a channel of cap %u",
				 drained, sl->cap);
	/* Closed and drained: a recv must not block. */
	dl.deadline_ns = mono_ns() + WAIT_NS;
	stress_begin(w->t, "recv after the drain", idx);
	rc = ops->recv(sl->c, &item, &dl);
	stress_end(w->t);
	if (rc == 0)
		got(w, sl, item, last, "recv after the drain");
	if (rc == ETIMEDOUT)
		stress_violation(s, "close: recv on a closed, drained channel blocked for %u ms",
				 WAIT_NS / 1000000);
	else if (rc != EPIPE)
		stress_violation(s, "close: recv on a closed, drained channel returned %s, not EPIPE",
				 code(rc));
	stress_begin(w->t, "len", idx);
	len = ops->len(sl->c);
	stress_end(w->t);
	if (len)
		stress_violation(s, "len: len() says %u after a closed channel was drained",
				 len);

	/* Exactly once: every sent item received, no failed one received. */
	nprod = atomic_load(&sl->nprod);
	if (nprod > MAX_PRODUCERS)
		nprod = MAX_PRODUCERS;
	for (unsigned p = 0; p < nprod; p++) {
		struct producer *pr = &sl->prod[p];
		unsigned n = atomic_load_explicit(&pr->attempts, memory_order_relaxed);

		for (unsigned q = 0; q < n; q++) {
			unsigned r = atomic_load_explicit(&pr->recvd[q], memory_order_relaxed);

			if (pr->outcome[q] == OUT_SENT) {
				sent++;
				if (!r && !lost++) {
					lost_p = p;
					lost_seq = q;
				}
			} else if (r && !unsent++) {
				unsent_p = p;
				unsent_seq = q;
				unsent_out = pr->outcome[q];
			}
			atomic_store_explicit(&pr->recvd[q], 0, memory_order_relaxed);
		}
		atomic_store_explicit(&pr->attempts, 0, memory_order_relaxed);
	}
	if (lost)
		violations(s, lost, "lost: %u of %u items sent (send returned 0) were never received in round %llu (cap %u, %u producer and %u consumer joins, closed with %u buffered, %u drained); first: producer %u's item %u",
			   lost, sent, (unsigned long long)sl->id, sl->cap,
			   nprod, atomic_load(&sl->ncons),
			   atomic_load(&sl->len_at_close), drained, lost_p,
			   lost_seq);
	if (unsent)
		violations(s, unsent, "not sent but received: %u items whose send failed were received in round %llu (cap %u); first: producer %u's item %u, whose send returned %s",
			   unsent, (unsigned long long)sl->id, sl->cap, unsent_p,
			   unsent_seq, outcome_names[unsent_out]);
	if (atomic_load(&sl->close_ok) == 0)
		stress_violation(s, "close: no close() returned 0 in round %llu (slot %u)",
				 (unsigned long long)sl->id, idx);

	stress_begin(w->t, "destroy", idx);
	ops->destroy(sl->c);
	stress_end(w->t);
	sl->c = NULL;
	/* Pairs with the next owner's acquire CAS. */
	atomic_store_explicit(&sl->state, 0, memory_order_release);
}

static void slot_leave(struct worker *w, struct slot *sl)
{
	uint32_t old = atomic_fetch_sub_explicit(&sl->state, 1,
						 memory_order_acq_rel);

	if (old == (STRESS_SLOT_BUSY | 1))
		slot_teardown(w, sl);
}

/* ---- what a round's owner does -------------------------------------- */

/* Sample len() and cap(); returns len(). */
static unsigned monitor(struct worker *w, struct slot *sl)
{
	struct stress *s = w->t->s;
	unsigned idx = slot_index(w, sl), len, cap;

	stress_begin(w->t, "len", idx);
	len = w->ops->len(sl->c);
	stress_end(w->t);
	cap = w->ops->cap(sl->c);
	atomic_store_explicit(&sl->last_len, len, memory_order_relaxed);
	if (cap != sl->cap)
		stress_violation(s, "cap: cap() said %u, the channel was created with %u",
				 cap, sl->cap);
	if (len > sl->cap)
		stress_violation(s, "len > cap: len() said %u, cap %u (round %llu)",
				 len, sl->cap, (unsigned long long)sl->id);
	return len;
}

/*
 * Cancel the call some other thread has in progress under a published
 * context, and wait for it to come back: a blocked call whose context is
 * cancelled must return.  If it never does, this owner waits here, never
 * closes, and the watchdog reports both.
 */
static void cancel_someone(struct worker *w)
{
	unsigned i = (unsigned)(stress_rand(w->t) % w->cs->nthreads);
	struct pub *pb = &w->cs->pubs[i];
	struct ctx *c;
	uint64_t r0;

	if (i == w->t->id ||
	    !atomic_load_explicit(&pb->ctx, memory_order_relaxed))
		return;
	c = atomic_exchange_explicit(&pb->ctx, NULL, memory_order_acq_rel);
	if (!c)
		return;
	r0 = atomic_load_explicit(&pb->returns, memory_order_acquire);
	chaos_point();
	stress_begin(w->t, "cancel", i);
	ctx_futex_ops.cancel(c, ECANCELED, owner_cause);
	stress_end(w->t);
	atomic_store_explicit(&pb->handed, true, memory_order_release);
	stress_begin(w->t, "await a cancelled call of thread", i);
	for (unsigned k = 1;
	     atomic_load_explicit(&pb->returns, memory_order_acquire) == r0; k++)
		if (k % 64)
			cpu_relax();
		else
			sched_yield();
	stress_end(w->t);
}

static void own_round(struct worker *w, struct slot *sl)
{
	struct stress_thread *t = w->t;
	struct stress *s = t->s;
	uint64_t r = stress_rand(t), until;
	unsigned idx = slot_index(w, sl), cap = pick_cap(r, false), len;
	bool close_early = (r >> 8) % 4 == 0;
	struct chan *c;
	int rc;

	stress_begin(t, "create", cap);
	rc = w->ops->create(&c, cap);
	stress_end(t);
	if (rc) {
		stress_violation(s, "result: create(%u) failed: %s", cap, code(rc));
		atomic_store_explicit(&sl->state, 0, memory_order_release);
		return;
	}
	sl->c = c;
	sl->cap = cap;
	sl->mode = (unsigned)(r >> 16) % 32;
	sl->salt = (r >> 24) % 4 ? (uintptr_t)stress_rand(t) : 0;
	sl->id = atomic_fetch_add_explicit(&sl->rounds, 1, memory_order_relaxed) + 1;
	atomic_store_explicit(&sl->nprod, 0, memory_order_relaxed);
	atomic_store_explicit(&sl->ncons, 0, memory_order_relaxed);
	atomic_store_explicit(&sl->closing, false, memory_order_relaxed);
	atomic_store_explicit(&sl->closed, false, memory_order_relaxed);
	atomic_store_explicit(&sl->close_ok, 0, memory_order_relaxed);
	atomic_store_explicit(&sl->len_at_close, 0, memory_order_relaxed);
	atomic_store_explicit(&sl->last_len, 0, memory_order_relaxed);
	if (monitor(w, sl))
		stress_violation(s, "len > cap: a new channel's len() is not 0");
	/* Pairs with the joiners' acquire CAS: the round is ready. */
	atomic_store_explicit(&sl->state, STRESS_SLOT_BUSY | STRESS_SLOT_OPEN | 1,
			      memory_order_release);

	until = mono_ns() + 50 * US + (r >> 32) % (3000 * US);
	/* Bursts of samples, naps between them, the odd cancel. */
	for (unsigned k = 1; stress_running(t) && mono_ns() < until; k++) {
		uint64_t q = stress_rand(t);

		monitor(w, sl);
		if (k % 4) {
			cpu_relax();
			continue;
		}
		if (q % 4 == 0)
			cancel_someone(w);
		nap((q >> 8) % (20 * US));
	}
	/* Close with items inside, producers still sending. */
	if (sl->mode & MODE_CLOSE_FULL) {
		until = mono_ns() + 1000 * US;
		while (stress_running(t) && mono_ns() < until &&
		       !atomic_load_explicit(&sl->closed, memory_order_relaxed) &&
		       monitor(w, sl) < (cap + 1) / 2)
			sched_yield();
	}
	if (close_early)
		atomic_fetch_and(&sl->state, ~STRESS_SLOT_OPEN);
	len = monitor(w, sl);
	atomic_store_explicit(&sl->len_at_close, len, memory_order_relaxed);
	chaos_point();
	do_close(w, sl, "the owner");
	if ((r >> 12) % 4 == 0) {
		int again;

		stress_begin(t, "close", idx);
		again = w->ops->close(sl->c);
		stress_end(t);
		if (again != EPIPE)
			stress_violation(s, "close: a second close() by the same thread returned %s, not EPIPE",
					 code(again));
	}
	if (!close_early) {
		/* Latecomers meet a closed channel. */
		if ((r >> 6) % 2)
			sched_yield();
		atomic_fetch_and(&sl->state, ~STRESS_SLOT_OPEN);
	}
	slot_leave(w, sl);
}

/* ---- what a joiner does --------------------------------------------- */

static void produce(struct worker *w, struct slot *sl, unsigned p)
{
	struct stress_thread *t = w->t;
	struct producer *pr = &sl->prod[p];
	unsigned idx = slot_index(w, sl);
	bool after_epipe = false;

	while (stress_running(t)) {
		uint64_t r = stress_rand(t);
		unsigned seq = atomic_load_explicit(&pr->attempts, memory_order_relaxed);
		enum how how = after_epipe ? HOW_TRY : pick_how(r);
		struct call k;
		bool closed;
		int rc;

		if (seq == MAX_SEQ)
			break;
		call_begin(w, &k, true, how, r >> 8, true);
		/* Release: a receiver of this item sees it was made. */
		atomic_store_explicit(&pr->attempts, seq + 1, memory_order_release);
		closed = atomic_load_explicit(&sl->closed, memory_order_acquire);
		rc = call_send(w, &k, sl->c, encode(sl, p, seq), idx, &sl->in_send);
		pr->outcome[seq] = (uint8_t)outcome_of(rc);
		call_check(w, &k, rc, closed, sl);
		call_end(&k);
		if (after_epipe) {
			if (rc != EPIPE)
				stress_violation(t->s, "close: try_send returned %s after a send said EPIPE",
						 code(rc));
			break;
		}
		if (rc == EPIPE) {
			/* Closed for good: one more try must say so too. */
			after_epipe = (r >> 40) % 2;
			if (!after_epipe)
				break;
			continue;
		}
		if (sl->mode & MODE_SLOW_PRODUCERS)
			nap((r >> 20) % (50 * US));
		else if (rc == EAGAIN && (r >> 20) % 2)
			sched_yield();
		if ((r >> 48) % 512 == 0)
			break;		/* leave early */
	}
}

static void consume(struct worker *w, struct slot *sl, const char *who)
{
	struct stress_thread *t = w->t;
	unsigned idx = slot_index(w, sl);
	uint32_t last[MAX_PRODUCERS] = { 0 };

	while (stress_running(t)) {
		uint64_t r = stress_rand(t);
		struct call k;
		void *item = NULL;
		bool closed;
		int rc;

		call_begin(w, &k, false, pick_how(r), r >> 8, true);
		/*
		 * Closed, and no other call inside: every item is published and
		 * every receive finished, so a try_recv must find an item or
		 * EPIPE.  While a send that began before the close, or another
		 * receive, is still completing, "not yet" (EAGAIN) is allowed:
		 * a try call never waits for another thread (chan.h).
		 */
		closed = atomic_load_explicit(&sl->closed, memory_order_acquire) &&
			 !atomic_load(&sl->in_send) && atomic_load(&sl->in_recv) == 0;
		rc = call_recv(w, &k, sl->c, &item, idx, &sl->in_recv);
		if (rc == 0)
			got(w, sl, item, last, who);
		call_check(w, &k, rc, closed, sl);
		call_end(&k);
		if (rc == EPIPE) {
			/* Closed and drained: nothing may come after. */
			stress_begin(t, "try_recv", idx);
			rc = w->ops->try_recv(sl->c, &item);
			stress_end(t);
			if (rc == 0)
				got(w, sl, item, last, who);
			if (rc != EPIPE)
				stress_violation(t->s, "close: try_recv returned %s after a receive said EPIPE (closed and drained)",
						 code(rc));
			break;
		}
		if (sl->mode & MODE_SLOW_CONSUMERS)
			nap((r >> 20) % (50 * US));
		if ((r >> 48) % 512 == 0)
			break;		/* leave early, items or not */
	}
}

static void join_round(struct worker *w, struct slot *sl)
{
	struct stress_thread *t = w->t;
	uint64_t r = stress_rand(t);
	/* Share of producers, in eighths: 4, 6, 2 or 7. */
	static const unsigned shares[] = { 4, 6, 2, 7 };
	unsigned share = shares[(sl->mode >> MODE_BIAS_SHIFT) % 4];
	uint32_t p = atomic_load_explicit(&sl->nprod, memory_order_relaxed);

	chaos_point();
	if (r % 24 == 0) {
		nap((r >> 8) % (300 * US));
		do_close(w, sl, "a joiner");
	} else {
		bool producer = (r >> 8) % 8 < share;

		while (producer && p < MAX_PRODUCERS &&
		       !atomic_compare_exchange_weak_explicit(&sl->nprod, &p, p + 1,
				memory_order_relaxed, memory_order_relaxed))
			;
		if (producer && p < MAX_PRODUCERS) {
			produce(w, sl, p);
		} else {
			atomic_fetch_add_explicit(&sl->ncons, 1, memory_order_relaxed);
			consume(w, sl, "a consumer");
		}
	}
	slot_leave(w, sl);
}

/* ---- one thread, a private channel ----------------------------------- */

struct solo {
	struct worker *w;
	struct chan *c;
	unsigned cap;
	uintptr_t salt;
	unsigned head, tail;	/* items head .. tail-1 are buffered */
};

static bool solo_fail(struct solo *so, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool solo_fail(struct solo *so, const char *name, const char *fmt, ...)
{
	char buf[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	stress_violation(so->w->t->s, "%s: one thread, cap %u: %s", name,
			 so->cap, buf);
	return false;
}

static void *solo_item(const struct solo *so, unsigned i)
{
	return (void *)((uintptr_t)i ^ so->salt);
}

/* len() must say exactly what is buffered. */
static bool solo_len(struct solo *so, const char *when)
{
	unsigned want = so->tail - so->head, len;

	stress_begin(so->w->t, "solo len", so->cap);
	len = so->w->ops->len(so->c);
	stress_end(so->w->t);
	if (len == want)
		return true;
	return solo_fail(so, len < want ? "lost" : len > so->cap ? "len > cap" : "len",
			 "len() said %u %s, with %u buffered", len, when, want);
}

/* Send the next item, which must go in at once. */
static bool solo_send(struct solo *so, bool try)
{
	struct ctx dl = { .deadline_ns = mono_ns() + WAIT_NS };
	const char *name = try ? "try_send" : "send";
	int rc;

	stress_begin(so->w->t, try ? "solo try_send" : "solo send", so->cap);
	rc = try ? so->w->ops->try_send(so->c, solo_item(so, so->tail)) :
		   so->w->ops->send(so->c, solo_item(so, so->tail), &dl);
	stress_end(so->w->t);
	if (rc == ETIMEDOUT && !try)
		return solo_fail(so, "blocked", "send with room (%u buffered) blocked for %u ms",
				 so->tail - so->head, WAIT_NS / 1000000);
	if (rc)
		return solo_fail(so, rc == EAGAIN ? "len > cap" : "result",
				 "%s with room (%u buffered) returned %s", name,
				 so->tail - so->head, code(rc));
	so->tail++;
	return true;
}

/* Receive the next item, which must be there, and be the one due. */
static bool solo_recv(struct solo *so, bool try, const char *when)
{
	struct ctx dl = { .deadline_ns = mono_ns() + WAIT_NS };
	const char *name = try ? "try_recv" : "recv";
	void *item = NULL;
	unsigned v;
	int rc;

	stress_begin(so->w->t, try ? "solo try_recv" : "solo recv", so->cap);
	rc = try ? so->w->ops->try_recv(so->c, &item) :
		   so->w->ops->recv(so->c, &item, &dl);
	stress_end(so->w->t);
	if (rc == ETIMEDOUT && !try)
		return solo_fail(so, "blocked", "recv with %u buffered%s blocked for %u ms",
				 so->tail - so->head, when, WAIT_NS / 1000000);
	if (rc == EAGAIN || rc == EPIPE)
		return solo_fail(so, "lost", "%s with %u buffered%s returned %s",
				 name, so->tail - so->head, when, code(rc));
	if (rc)
		return solo_fail(so, "result", "%s with %u buffered%s returned %s",
				 name, so->tail - so->head, when, code(rc));
	v = (unsigned)((uintptr_t)item ^ so->salt);
	if (solo_item(so, v) != item || v >= so->tail)
		return solo_fail(so, "never produced", "%s%s returned %p, which was never sent",
				 name, when, item);
	if (v < so->head)
		return solo_fail(so, "duplicate", "%s%s returned item %u again, item %u was due",
				 name, when, v, so->head);
	if (v != so->head)
		return solo_fail(so, "FIFO", "%s%s returned item %u, item %u was due",
				 name, when, v, so->head);
	so->head++;
	return true;
}

/* A call that must fail with want: under a done context, or timed out. */
static bool solo_fails(struct solo *so, bool send, enum how how, uint64_t r,
		       int want, const char *state)
{
	struct call k;
	void *item = NULL;
	bool ok;
	int rc;

	call_begin(so->w, &k, send, how, r, false);
	rc = send ? call_send(so->w, &k, so->c, solo_item(so, ~0u), so->cap, NULL) :
		    call_recv(so->w, &k, so->c, &item, so->cap, NULL);
	ok = call_check(so->w, &k, rc, false, NULL);	/* counts its own */
	call_end(&k);
	if (!ok)
		return false;
	if (rc != want)
		return solo_fail(so, want == ETIMEDOUT && how != HOW_EXPIRED ? "deadline" : "cancel",
				 "%s on %s channel returned %s, not %s",
				 call_name(&k), state, code(rc), code(want));
	return true;
}

static int done_err(enum how how)
{
	return how == HOW_CANCELLED ? ECANCELED : ETIMEDOUT;
}

/*
 * A single-threaded sequence whose every result is known: fill exactly to
 * capacity, FIFO order across the ring's end, calls that must time out or
 * fail at once, close with items inside, drain.  Calls that must not block
 * get a far deadline, so that a broken channel fails here, not hangs.
 */
static void solo(struct worker *w)
{
	struct stress_thread *t = w->t;
	const struct chan_ops *ops = w->ops;
	uint64_t r = stress_rand(t);
	struct solo so = { .w = w, .cap = pick_cap(r, true) };
	enum how how;
	unsigned n;
	void *item;
	int rc;

	so.salt = (r >> 8) % 4 ? (uintptr_t)stress_rand(t) : 0;
	if ((r >> 4) % 32 == 0) {
		unsigned bad = (r >> 12) % 2 ? 0 : CHAN_MAX_CAP + 1;

		stress_begin(t, "create", bad);
		rc = ops->create(&so.c, bad);
		stress_end(t);
		if (rc == 0)
			ops->destroy(so.c);
		if (rc != EINVAL)
			stress_violation(t->s, "result: create(%u) returned %s, not EINVAL",
					 bad, code(rc));
	}
	stress_begin(t, "create", so.cap);
	rc = ops->create(&so.c, so.cap);
	stress_end(t);
	if (rc) {
		stress_violation(t->s, "result: create(%u) failed: %s", so.cap, code(rc));
		return;
	}
	if ((n = ops->cap(so.c)) != so.cap) {
		solo_fail(&so, "cap", "cap() said %u", n);
		goto out;
	}
	if (!solo_len(&so, "on a new channel"))
		goto out;
	stress_begin(t, "solo try_recv", so.cap);
	rc = ops->try_recv(so.c, &item);
	stress_end(t);
	if (rc != EAGAIN) {
		solo_fail(&so, rc ? "result" : "never produced",
			  "try_recv on a new channel returned %s, not EAGAIN", code(rc));
		goto out;
	}
	/* Nobody sends: only the deadline (or its timer) ends these. */
	if ((r >> 10) % 4 == 0 &&
	    !solo_fails(&so, false, (r >> 12) % 2 ? HOW_TIMED : HOW_CANCEL_DEADLINE,
			(r >> 13) % (30 * US), ETIMEDOUT, "an empty"))
		goto out;

	/* Fill: exactly cap sends go in, len() counts them. */
	for (n = 0; n < so.cap; n++)
		if (!solo_send(&so, (r >> (n % 32)) % 2) ||
		    !solo_len(&so, "after a send"))
			goto out;
	stress_begin(t, "solo try_send", so.cap);
	rc = ops->try_send(so.c, solo_item(&so, ~0u));
	stress_end(t);
	if (rc != EAGAIN) {
		solo_fail(&so, rc ? "result" : "len > cap",
			  "try_send on a full channel returned %s, not EAGAIN", code(rc));
		goto out;
	}
	if (!solo_len(&so, "on a full channel"))
		goto out;
	if ((r >> 14) % 4 == 0 &&
	    !solo_fails(&so, true, (r >> 16) % 2 ? HOW_TIMED : HOW_CANCEL_DEADLINE,
			(r >> 17) % (30 * US), ETIMEDOUT, "a full"))
		goto out;
	/* Already done contexts: no call goes ahead, even one that could. */
	how = (r >> 18) % 2 ? HOW_CANCELLED : HOW_EXPIRED;
	if (!solo_fails(&so, false, how, 0, done_err(how), "a full") ||
	    !solo_len(&so, "after a receive under a done context"))
		goto out;

	/* Take some in order, refill across the ring's end. */
	n = (unsigned)(r >> 20) % (so.cap + 1);
	for (unsigned i = 0; i < n; i++)
		if (!solo_recv(&so, (r >> (i % 32)) % 2, ""))
			goto out;
	how = (r >> 19) % 2 ? HOW_CANCELLED : HOW_EXPIRED;
	if (n && (!solo_fails(&so, true, how, 0, done_err(how), "a not full") ||
		  !solo_len(&so, "after a send under a done context")))
		goto out;
	for (unsigned i = 0; i < n; i++)
		if (!solo_send(&so, (r >> (i % 32)) % 2))
			goto out;
	if (!solo_len(&so, "after the refill"))
		goto out;

	/* Close with items inside (usually all of them). */
	n = (r >> 28) % 4 ? 0 : (unsigned)(r >> 30) % (so.cap + 1);
	for (unsigned i = 0; i < n; i++)
		if (!solo_recv(&so, true, ""))
			goto out;
	stress_begin(t, "solo close", so.cap);
	rc = ops->close(so.c);
	stress_end(t);
	if (rc) {
		solo_fail(&so, "close", "close() returned %s", code(rc));
		goto out;
	}
	stress_begin(t, "solo close", so.cap);
	rc = ops->close(so.c);
	stress_end(t);
	if (rc != EPIPE) {
		solo_fail(&so, "close", "a second close() returned %s, not EPIPE", code(rc));
		goto out;
	}
	stress_begin(t, "solo try_send", so.cap);
	rc = ops->try_send(so.c, solo_item(&so, ~0u));
	stress_end(t);
	if (rc != EPIPE) {
		solo_fail(&so, "close", "try_send after close() returned %s, not EPIPE", code(rc));
		goto out;
	}
	stress_begin(t, "solo send", so.cap);
	rc = ops->send(so.c, solo_item(&so, ~0u), NULL);
	stress_end(t);
	if (rc != EPIPE) {
		solo_fail(&so, "close", "send after close() returned %s, not EPIPE", code(rc));
		goto out;
	}
	if (!solo_len(&so, "after close()"))
		goto out;
	while (so.head != so.tail)
		if (!solo_recv(&so, (r >> (so.head % 32)) % 2, " after close()"))
			goto out;
	stress_begin(t, "solo recv", so.cap);
	rc = ops->recv(so.c, &item, NULL);
	stress_end(t);
	if (rc != EPIPE) {
		solo_fail(&so, rc ? "close" : "never produced",
			  "recv on a closed, drained channel returned %s, not EPIPE", code(rc));
		goto out;
	}
	stress_begin(t, "solo try_recv", so.cap);
	rc = ops->try_recv(so.c, &item);
	stress_end(t);
	if (rc != EPIPE) {
		solo_fail(&so, rc ? "close" : "never produced",
			  "try_recv on a closed, drained channel returned %s, not EPIPE", code(rc));
		goto out;
	}
	solo_len(&so, "after the drain");
out:
	stress_begin(t, "destroy", so.cap);
	ops->destroy(so.c);
	stress_end(t);
}

/* ---- the driver's plug ---------------------------------------------- */

static void stress_teardown(struct stress *st);

static int stress_setup(struct stress *st)
{
	struct chan_stress *cs = aligned_alloc(CACHELINE, sizeof(*cs));

	if (!cs)
		return ENOMEM;
	memset(cs, 0, sizeof(*cs));
	cs->ops = chan_ops_of(st->impl);
	cs->nthreads = st->nthreads;
	st->state = cs;
	cs->pubs = aligned_alloc(CACHELINE, st->nthreads * sizeof(*cs->pubs));
	if (!cs->pubs) {
		stress_teardown(st);
		return ENOMEM;
	}
	for (unsigned i = 0; i < st->nthreads; i++) {
		atomic_init(&cs->pubs[i].ctx, NULL);
		atomic_init(&cs->pubs[i].handed, false);
		atomic_init(&cs->pubs[i].returns, 0);
	}
	for (unsigned i = 0; i < NSLOTS; i++) {
		struct slot *sl = &cs->slots[i];

		atomic_init(&sl->state, 0);
		atomic_init(&sl->rounds, 0);
		sl->prod = calloc(MAX_PRODUCERS, sizeof(*sl->prod));
		if (!sl->prod) {
			stress_teardown(st);
			return ENOMEM;
		}
	}
	return 0;
}

static void stress_thread(struct stress_thread *t)
{
	struct worker w = {
		.t = t,
		.cs = t->s->state,
		.ops = ((struct chan_stress *)t->s->state)->ops,
	};

	while (stress_running(t)) {
		uint64_t r = stress_rand(t);
		struct slot *sl;

		if (r % 16 == 0) {
			solo(&w);
		} else if (r % 16 == 1 && (sl = slot_own(&w))) {
			own_round(&w, sl);
		} else if ((sl = slot_join(&w))) {
			join_round(&w, sl);
		} else if ((sl = slot_own(&w))) {
			own_round(&w, sl);
		} else {
			solo(&w);
		}
	}
}

static void stress_finish(struct stress *st)
{
	struct chan_stress *cs = st->state;

	stress_slots_released(st, &cs->slots[0].state, sizeof(struct slot), NSLOTS);
}

/* No call into the channel here: it may be what hangs. */
static void stress_describe(struct stress *st, char *buf, size_t len)
{
	struct chan_stress *cs = st->state;
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < NSLOTS && used < len; i++) {
		struct slot *sl = &cs->slots[i];
		uint32_t s = atomic_load(&sl->state);

		if (!s) {
			used += (size_t)snprintf(buf + used, len - used,
				"%sslot %u: round %llu over", i ? "; " : "", i,
				(unsigned long long)atomic_load(&sl->rounds));
			continue;
		}
		used += (size_t)snprintf(buf + used, len - used,
			"%sslot %u: round %llu %s, cap %u, len %u at the last sample, %s, %u producer and %u consumer joins, %u in send, %u in recv",
			i ? "; " : "", i, (unsigned long long)sl->id,
			s & STRESS_SLOT_OPEN ? "open" : "shut",
			sl->cap, atomic_load(&sl->last_len),
			atomic_load(&sl->closed) ? "closed" :
			atomic_load(&sl->closing) ? "close() in progress" : "not closed",
			atomic_load(&sl->nprod), atomic_load(&sl->ncons),
			atomic_load(&sl->in_send), atomic_load(&sl->in_recv));
	}
}

static void stress_teardown(struct stress *st)
{
	struct chan_stress *cs = st->state;

	/* A slot still held (counted in finish) keeps its channel: leak it. */
	for (unsigned i = 0; i < NSLOTS; i++)
		free(cs->slots[i].prod);
	free(cs->pubs);
	free(cs);
}

const struct stress_family chan_stress = {
	.family = "chan",
	.checks = "every item sent is received exactly once (no duplicate, none lost, none whose send failed), also when closed with items inside; nothing received that no producer made; FIFO per producer at every consumer; len() <= cap() (sampled by each round's owner); exactly one close() returns 0, sends after it fail with EPIPE, nothing after a receive's EPIPE; cancelled or expired contexts stop calls, ETIMEDOUT never early; a private single-thread sequence with exact results; a blocked sender or receiver returns on close or cancel (watchdog)",
	.setup = stress_setup,
	.thread = stress_thread,
	.finish = stress_finish,
	.describe = stress_describe,
	.teardown = stress_teardown,
};
