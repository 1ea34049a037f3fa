/* SPDX-License-Identifier: MIT */
/*
 * chan/pipeline: P producers and C consumers through one bounded channel
 * of `capacity` items (Go's BenchmarkChanProdCons shape).
 *
 * Threads.  The thread count is the runner's --threads; its first P
 * threads produce and the other C consume.  `producers` and `consumers`
 * fix either side, 0 meaning "the rest" (both 0: half each, the extra one
 * consuming), so `--threads 2,8` runs 1p1c and 4p4c, and
 * `--threads 2,4,8 --param consumers=1` runs 1p1c, 3p1c and 7p1c.  A
 * thread count that does not fit (producers + consumers != threads, or a
 * side left empty) is skipped and noted, as check() refusals are.
 *
 * Throughput is items received per second while measuring (the consumers'
 * operations; producers are aux threads, so Jain is over consumers).
 *
 * Latency is an item's time from just before send() to just after its
 * recv() returned: time blocked in send, in the buffer, and in recv.  It
 * is sampled: a producer times one item in about P (worker_sample), marks
 * it in the item and leaves its send time in a per-producer slot, one
 * atomic word holding the time and a tag of the item's sequence number,
 * which the consumer checks (a slot reused before it was read is dropped
 * and counted in lat_stale, never misread).  Each timed
 * item costs two clock reads and a histogram record, kept under 1% of
 * the producer's time per item as in sema/closed; the clock's own cost
 * is in the clock_read_ns column, never subtracted.
 *
 * Items are integers, never pointers to memory: seq << 15 | producer << 1
 * | timed, so nothing is allocated per item and a lost or duplicated item
 * is visible.
 *
 * Stop protocol.  Producers stop at the stop flag; the last one to stop
 * closes the channel.  Consumers ignore the flag and receive until recv()
 * returns EPIPE (closed and drained): a producer blocked on a full channel
 * is always freed by a consumer, and a consumer blocked on an empty one by
 * the close, so no thread is left blocked.  Items received after the stop
 * are counted in `drained`, not in throughput.
 *
 * Exactly-once.  Per producer, every consumer keeps the count and the sum
 * of the sequence numbers it received and checks that they increase (a
 * producer's items arrive in the order it sent them, so any one
 * consumer's share of them does too).  finish() takes whatever is still
 * in the channel (`left`, which must be 0 after EPIPE) and checks, per
 * producer, count == sent and sum == 0 + 1 + ... + (sent - 1).  Every
 * mismatch is an invariant violation: `missing` (sent - received - left,
 * negative when items were duplicated), `out_of_order`, `left`.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "clock.h"
#include "workload.h"

enum { P_PRODUCERS, P_CONSUMERS, P_CAPACITY };
enum { X_THREADS_P, X_THREADS_C, X_NS_PER_ITEM, X_DRAINED, X_LEFT, X_MISSING,
       X_OUT_OF_ORDER, X_STALE };

#define MAX_SIDE 1024		/* producers, and consumers: P * C trackers */
#define PID_BITS 14		/* up to 16383 producers in an item */
#define SEQ_SHIFT (PID_BITS + 1)
#define STAMP_SLOTS 1024	/* per producer; a power of two */
#define TAG_BITS 18		/* a stamp: time since setup << 18 | tag */
#define TAG_MASK ((UINT64_C(1) << TAG_BITS) - 1)

_Static_assert(sizeof(uintptr_t) >= 8, "items carry a 49-bit sequence number");
_Static_assert(MAX_SIDE < (1u << PID_BITS), "producer ids fit in an item");

static const struct param_spec pipe_params[] = {
	[P_PRODUCERS] = { "producers", 0, 0, MAX_SIDE, NULL,
			  "producer threads; 0 = the threads the consumers leave (half if both 0)" },
	[P_CONSUMERS] = { "consumers", 0, 0, MAX_SIDE, NULL,
			  "consumer threads; 0 = the threads the producers leave" },
	[P_CAPACITY] = { "capacity", 100, 1, CHAN_MAX_CAP, NULL,
			 "channel capacity (items)" },
	{ 0 },
};

static const char *const pipe_extras[] = {
	[X_THREADS_P] = "threads_p",
	[X_THREADS_C] = "threads_c",
	[X_NS_PER_ITEM] = "ns_per_item",
	[X_DRAINED] = "drained",
	[X_LEFT] = "left",
	[X_MISSING] = "missing",
	[X_OUT_OF_ORDER] = "out_of_order",
	[X_STALE] = "lat_stale",
	NULL,
};

struct producer {
	uint64_t sent;		/* every item sent, warm-up included */
	_Atomic uint64_t *stamps; /* STAMP_SLOTS send times, tagged */
} cacheline_aligned;

/* What one consumer received from one producer. */
struct track {
	uint64_t next;		/* lowest sequence number still allowed */
	uint64_t count, sum;
};

struct consumer {
	uint64_t drained, out_of_order, stale, bad;
	struct track *from;	/* [nprod] */
} cacheline_aligned;

struct pipe {
	const struct chan_ops *ops;
	struct chan *c;
	unsigned nprod, ncons;
	struct producer *prod;
	struct consumer *cons;
	uint64_t base;		/* now_ns() at setup: stamps count from it */
	_Atomic unsigned producers_left cacheline_aligned;
};

/* The shape nthreads gives these parameters; false if it does not fit. */
static bool shape(const double *param, unsigned nthreads, unsigned *np,
		  unsigned *nc)
{
	unsigned p = (unsigned)param[P_PRODUCERS], c = (unsigned)param[P_CONSUMERS];

	if (!p && !c)
		p = nthreads / 2;
	if (!p)
		p = nthreads > c ? nthreads - c : 0;
	if (!c)
		c = nthreads > p ? nthreads - p : 0;
	*np = p;
	*nc = c;
	return p && c && p + c == nthreads && p <= MAX_SIDE && c <= MAX_SIDE;
}

static const char *pipe_check_threads(const double *param, unsigned nthreads)
{
	unsigned p, c;

	if (shape(param, nthreads, &p, &c))
		return NULL;
	if (p > MAX_SIDE || c > MAX_SIDE)
		return "at most 1024 producers and 1024 consumers";
	return "threads must be producers + consumers, at least one of each";
}

static void pipe_free(struct pipe *pp)
{
	for (unsigned i = 0; pp->prod && i < pp->nprod; i++)
		free(pp->prod[i].stamps);
	for (unsigned i = 0; pp->cons && i < pp->ncons; i++)
		free(pp->cons[i].from);
	free(pp->prod);
	free(pp->cons);
	free(pp);
}

static int pipe_setup(struct trial *t)
{
	struct pipe *pp = aligned_alloc(CACHELINE, sizeof(*pp));
	int rc = ENOMEM;

	if (!pp)
		return ENOMEM;
	memset(pp, 0, sizeof(*pp));
	if (!shape(t->param, t->nthreads, &pp->nprod, &pp->ncons)) {
		free(pp);
		return EINVAL;	/* check_threads refused it already */
	}
	atomic_init(&pp->producers_left, pp->nprod);
	pp->ops = chan_ops_of(t->impl);
	pp->prod = aligned_alloc(CACHELINE, pp->nprod * sizeof(*pp->prod));
	pp->cons = aligned_alloc(CACHELINE, pp->ncons * sizeof(*pp->cons));
	if (!pp->prod || !pp->cons)
		goto fail;
	memset(pp->prod, 0, pp->nprod * sizeof(*pp->prod));
	memset(pp->cons, 0, pp->ncons * sizeof(*pp->cons));
	for (unsigned i = 0; i < pp->nprod; i++) {
		pp->prod[i].stamps = calloc(STAMP_SLOTS, sizeof(*pp->prod[i].stamps));
		if (!pp->prod[i].stamps)
			goto fail;
		t->workers[i].aux = true;
	}
	for (unsigned i = 0; i < pp->ncons; i++) {
		pp->cons[i].from = calloc(pp->nprod, sizeof(struct track));
		if (!pp->cons[i].from)
			goto fail;
	}
	rc = pp->ops->create(&pp->c, (unsigned)t->param[P_CAPACITY]);
	if (rc)
		goto fail;
	pp->base = now_ns();
	t->state = pp;
	return 0;
fail:
	pipe_free(pp);
	return rc;
}

/* Which use of its slot a sequence number is (mod 2^TAG_BITS). */
static inline uint64_t stamp_tag(uint64_t seq)
{
	return (seq / STAMP_SLOTS) & TAG_MASK;
}

static void produce(struct worker *w, struct pipe *pp)
{
	struct producer *me = &pp->prod[w->id];
	const uintptr_t pid = (uintptr_t)w->id << 1;
	uint64_t seq = 0;

	while (worker_running(w)) {
		uintptr_t item = (uintptr_t)seq << SEQ_SHIFT | pid;

		if (worker_sample(w)) {
			uint64_t t = now_ns() - pp->base;

			/* Time and tag in one word: the reader sees both or neither. */
			if (t < UINT64_C(1) << (64 - TAG_BITS)) {
				atomic_store_explicit(&me->stamps[seq & (STAMP_SLOTS - 1)],
						      t << TAG_BITS | stamp_tag(seq),
						      memory_order_release);
				item |= 1;
			}
		}
		if (unlikely(pp->ops->send(pp->c, (void *)item, NULL))) {
			w->errors++;	/* EPIPE cannot happen before we stop */
			continue;
		}
		seq++;
	}
	me->sent = seq;
	/* The last producer out closes: consumers drain, then get EPIPE. */
	if (atomic_fetch_sub_explicit(&pp->producers_left, 1,
				      memory_order_acq_rel) == 1)
		pp->ops->close(pp->c);
}

/* The send time of producer p's timed item seq, or 0 if its slot moved on. */
static uint64_t stamp_of(const struct pipe *pp, unsigned p, uint64_t seq)
{
	uint64_t v = atomic_load_explicit(&pp->prod[p].stamps[seq & (STAMP_SLOTS - 1)],
					  memory_order_acquire);

	return (v & TAG_MASK) == stamp_tag(seq) ? pp->base + (v >> TAG_BITS) : 0;
}

static void consume(struct worker *w, struct pipe *pp)
{
	struct consumer *me = &pp->cons[w->id - pp->nprod];

	for (;;) {
		uintptr_t item;
		void *v;
		uint64_t got, seq;
		unsigned p;
		struct track *tr;
		int rc;

		worker_running(w);	/* follow the phase; stop only at EPIPE */
		rc = pp->ops->recv(pp->c, &v, NULL);
		if (rc == EPIPE)
			break;
		if (unlikely(rc)) {
			w->errors++;
			if (w->phase == PHASE_STOP)
				break;	/* do not spin on a broken channel */
			continue;
		}
		item = (uintptr_t)v;
		got = item & 1 ? now_ns() : 0;
		p = (unsigned)(item >> 1) & ((1u << PID_BITS) - 1);
		seq = (uint64_t)(item >> SEQ_SHIFT);
		if (unlikely(p >= pp->nprod)) {
			me->bad++;	/* not an item anyone sent */
			continue;
		}
		tr = &me->from[p];
		if (unlikely(seq < tr->next))
			me->out_of_order++;
		tr->next = seq + 1;
		tr->count++;
		tr->sum += seq;
		if (likely(w->phase == PHASE_MEASURE)) {
			w->ops++;
			if (got) {
				uint64_t sent = stamp_of(pp, p, seq);

				if (sent && got >= sent)
					worker_record(w, got - sent);
				else if (w->lat)
					me->stale++;
			}
		} else if (w->phase == PHASE_STOP) {
			me->drained++;
		}
	}
}

static void pipe_thread(struct worker *w)
{
	struct pipe *pp = w->trial->state;

	if (w->id < pp->nprod)
		produce(w, pp);
	else
		consume(w, pp);
}

static void pipe_finish(struct trial *t, struct trial_extra *x)
{
	struct pipe *pp = t->state;
	struct track *left = calloc(pp->nprod, sizeof(*left));
	uint64_t nleft = 0, ops = 0, bad = 0;
	int64_t missing = 0;
	void *v;

	/* After EPIPE nothing may be left; take whatever is, and check it too. */
	while (pp->ops->try_recv(pp->c, &v) == 0) {
		uintptr_t item = (uintptr_t)v;
		unsigned p = (unsigned)(item >> 1) & ((1u << PID_BITS) - 1);

		nleft++;
		if (p >= pp->nprod || !left) {
			bad++;
			continue;
		}
		left[p].count++;
		left[p].sum += (uint64_t)(item >> SEQ_SHIFT);
	}
	for (unsigned p = 0; p < pp->nprod; p++) {
		uint64_t n = pp->prod[p].sent, count = left ? left[p].count : 0;
		uint64_t sum = left ? left[p].sum : 0;

		for (unsigned c = 0; c < pp->ncons; c++) {
			count += pp->cons[c].from[p].count;
			sum += pp->cons[c].from[p].sum;
		}
		missing += (int64_t)(n - count);
		/* 0 + 1 + ... + (n - 1), modulo 2^64 like the sums. */
		if (count != n || sum != (n % 2 ? n * ((n - 1) / 2) : (n / 2) * (n - 1)))
			t->workers[0].violations++;
	}
	for (unsigned c = 0; c < pp->ncons; c++) {
		x->v[X_DRAINED] += (double)pp->cons[c].drained;
		x->v[X_OUT_OF_ORDER] += (double)pp->cons[c].out_of_order;
		x->v[X_STALE] += (double)pp->cons[c].stale;
		bad += pp->cons[c].bad;
		ops += t->workers[pp->nprod + c].ops;
	}
	t->workers[0].violations += (uint64_t)x->v[X_OUT_OF_ORDER] + bad +
				    (nleft ? 1 : 0);
	x->v[X_THREADS_P] = pp->nprod;
	x->v[X_THREADS_C] = pp->ncons;
	x->v[X_NS_PER_ITEM] = ops ? (double)t->measure_ns / (double)ops : 0;
	x->v[X_LEFT] = (double)nleft;
	x->v[X_MISSING] = (double)missing;
	free(left);
}

static void pipe_teardown(struct trial *t)
{
	struct pipe *pp = t->state;

	pp->ops->destroy(pp->c);
	pipe_free(pp);
}

const struct workload chan_pipeline_workload = {
	.name = "chan/pipeline",
	.family = "chan",
	.desc = "P producers -> one bounded channel -> C consumers: items/s, send-to-receive latency, exactly-once",
	.params = pipe_params,
	.extras = pipe_extras,
	.sampled = true,
	.check_threads = pipe_check_threads,
	.roles = "p producers + c consumers",
	.setup = pipe_setup,
	.thread = pipe_thread,
	.finish = pipe_finish,
	.teardown = pipe_teardown,
};
