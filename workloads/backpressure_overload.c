/* SPDX-License-Identifier: MIT */
/*
 * backpressure/overload: what a bounded hand-off does when offered more
 * work than its consumers can serve.
 *
 * Thread 0 is an open-loop source; the other threads (threads - 1) are
 * consumers.  Each item costs `service_ns` of CPU work (work_iters, no
 * clock), so the consumers' nominal capacity is
 *
 *	capacity = consumers * 1e9 / service_ns   items/s
 *
 * and the source offers `load` times that, on a fixed or Poisson schedule
 * (workloads/open_loop.h).  The schedule never waits for the system: when
 * the source falls behind (blocked by backpressure), it issues the late
 * arrivals at once, each with its own intended time.
 *
 * `strategy` says what the source does with an arrival:
 *   block  acquire one of `inflight` permits of a semaphore (the sema
 *          implementation named by `sema`), then send; the consumer
 *          releases after serving.  The channel holds `inflight` items, so
 *          only the semaphore blocks.  The source waits.
 *   queue  send() into a channel of capacity `queue`; the source waits
 *          while it is full.
 *   shed   try_send() into a channel of capacity `queue`; EAGAIN rejects
 *          the arrival at once (counted in the shed column).
 *
 * Metrics, over the measured phase:
 *   throughput_ops_s, goodput_ops_s  items served per second
 *   offered_ops_s    load * capacity
 *   utilization      goodput / capacity
 *   shed_rate        rejected / arrivals
 *   latency          an admitted item's time from its *intended* arrival
 *                    to the end of its service: time the source spent
 *                    blocked before issuing it (the queueing that blocking
 *                    hides), in the channel, and in service.  Every item
 *                    is timed (one clock read per item against service_ns
 *                    >= 1 us of work).
 *   depth_p50, depth_p99  the channel's len() sampled at every arrival
 *   lag_p99_ns, lag_max_ns  how late the source issued arrivals behind
 *                    their intended times
 *   service_mean_ns  the service time the consumers actually saw (a
 *                    consumer that loses its CPU serves slower than
 *                    service_ns: capacity is nominal, this says by how much)
 * Under block and queue an offered load above 1 makes the lag, and so the
 * latency, grow for as long as the overload lasts: the numbers depend on
 * warm-up + duration, which is the point.
 *
 * Stop protocol: the source stops at the stop flag and closes the channel.
 * Consumers ignore the flag and receive until EPIPE; items received after
 * it are discarded unserved (releasing their permit under block), so a
 * source blocked on a full channel or on the semaphore is always freed
 * and nobody is left blocked.  finish() checks exactly-once: admitted ==
 * served + discarded + left in the channel (0 after EPIPE), and under
 * block that every permit is back.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "clock.h"
#include "hist.h"
#include "open_loop.h"
#include "registry.h"
#include "sema.h"
#include "workload.h"

enum { P_LOAD, P_SERVICE, P_STRATEGY, P_QUEUE, P_INFLIGHT, P_SEMA, P_ARRIVAL };
enum { S_BLOCK, S_QUEUE, S_SHED };
enum { X_OFFERED, X_GOODPUT, X_UTIL, X_SHED_RATE, X_DEPTH_P50, X_DEPTH_P99,
       X_LAG_P99, X_LAG_MAX, X_SERVICE };

static const char *const strategy_names[] = { "block", "queue", "shed", NULL };

/* The sema implementations, filled from the registry; default futex. */
static const char *sema_names[16];

static struct param_spec over_params[] = {
	[P_LOAD] = { "load", 1, 0.01, 100, NULL,
		     "offered load as a multiple of the consumers' capacity", true },
	[P_SERVICE] = { "service_ns", 20000, 1000, 1e9, NULL,
			"CPU work per item (capacity = consumers / service_ns)" },
	[P_STRATEGY] = { "strategy", S_QUEUE, 0, 2, strategy_names,
			 "block (semaphore of inflight permits), queue (blocking send), shed (try_send)" },
	[P_QUEUE] = { "queue", 64, 1, CHAN_MAX_CAP, NULL,
		      "channel capacity for queue and shed" },
	[P_INFLIGHT] = { "inflight", 64, 1, CHAN_MAX_CAP, NULL,
			 "permits for block: items queued or in service" },
	[P_SEMA] = { "sema", 0, 0, 15, sema_names,
		     "the semaphore implementation for block" },
	[P_ARRIVAL] = { "arrival", ARRIVAL_POISSON, 0, 1, open_arrival_names,
			"inter-arrival times: fixed or poisson" },
	{ 0 },
};

__attribute__((constructor)) static void fill_sema_names(void)
{
	unsigned n = family_choices("sema", sema_names, 16, NULL, "futex",
				    &over_params[P_SEMA].def);

	over_params[P_SEMA].max = n ? n - 1 : 0;
}

static const char *const over_extras[] = {
	[X_OFFERED] = "offered_ops_s",
	[X_GOODPUT] = "goodput_ops_s",
	[X_UTIL] = "utilization",
	[X_SHED_RATE] = "shed_rate",
	[X_DEPTH_P50] = "depth_p50",
	[X_DEPTH_P99] = "depth_p99",
	[X_LAG_P99] = "lag_p99_ns",
	[X_LAG_MAX] = "lag_max_ns",
	[X_SERVICE] = "service_mean_ns",
	NULL,
};

static const struct sweep_metric over_sweep[] = {
	{ "goodput_ops_s", "goodput", "goodput (items served/s)", SWEEP_LINEAR },
	{ "shed_rate", "shed", "shed rate (share of arrivals rejected)", SWEEP_SHARE },
	{ "lat_p99_ns", "p99", "p99 latency from intended arrival (ns, log scale)", SWEEP_LOG },
	{ "lag_p99_ns", "lag", "source lag behind schedule, p99 (ns, log scale)", SWEEP_LOG },
	{ "depth_p99", "depth", "queue depth at arrival, p99 (items)", SWEEP_LINEAR },
	{ 0 },
};

/* What a consumer did, all phases but busy_ns (measured phase). */
struct consumer {
	uint64_t served, discarded, busy_ns;
} cacheline_aligned;

struct over {
	const struct chan_ops *ops;
	struct chan *c;
	const struct sema_ops *sops;	/* block only */
	struct sema *permits;
	unsigned inflight, strategy, ncons;
	uint64_t service_iters;
	double capacity;		/* items/s, nominal */
	struct open_sched sched;
	/* The source's, written by it alone. */
	uint64_t admitted, arrivals;	/* all phases; measured phase */
	struct hist *lag, *depth;	/* measured phase */
	struct consumer *cons;
};

static const char *over_check_threads(const double *param, unsigned nthreads)
{
	(void)param;
	return nthreads < 2 ? "needs a source and at least one consumer (threads >= 2)" : NULL;
}

static void over_free(struct over *o)
{
	free(o->lag);
	free(o->depth);
	free(o->cons);
	free(o);
}

static int over_setup(struct trial *t)
{
	struct over *o = calloc(1, sizeof(*o));
	unsigned cap;
	int rc = ENOMEM;

	if (!o)
		return ENOMEM;
	o->strategy = (unsigned)t->param[P_STRATEGY];
	o->ncons = t->nthreads - 1;
	o->service_iters = work_iters_for((uint64_t)t->param[P_SERVICE]);
	o->capacity = o->ncons * 1e9 / t->param[P_SERVICE];
	o->sched.mean_gap_ns = 1e9 / (t->param[P_LOAD] * o->capacity);
	o->sched.poisson = t->param[P_ARRIVAL] == ARRIVAL_POISSON;
	o->lag = malloc(sizeof(*o->lag));
	o->depth = malloc(sizeof(*o->depth));
	o->cons = aligned_alloc(CACHELINE, o->ncons * sizeof(*o->cons));
	if (!o->lag || !o->depth || !o->cons)
		goto fail;
	memset(o->cons, 0, o->ncons * sizeof(*o->cons));
	hist_init(o->lag);
	hist_init(o->depth);
	o->ops = chan_ops_of(t->impl);
	cap = (unsigned)t->param[P_QUEUE];
	if (o->strategy == S_BLOCK) {
		/* Room for every permit: only the semaphore blocks. */
		o->inflight = cap = (unsigned)t->param[P_INFLIGHT];
		o->sops = sema_ops_of(family_impl(family_find("sema"),
						  sema_names[(int)t->param[P_SEMA]]));
		rc = o->sops->create(&o->permits, o->inflight);
		if (rc)
			goto fail;
	}
	rc = o->ops->create(&o->c, cap);
	if (rc) {
		if (o->permits)
			o->sops->destroy(o->permits);
		goto fail;
	}
	t->workers[0].aux = true;
	t->state = o;
	return 0;
fail:
	over_free(o);
	return rc;
}

/* Offer one arrival intended at `when`; false if it failed unexpectedly. */
static bool offer(struct worker *w, struct over *o, uint64_t when)
{
	void *item = (void *)(uintptr_t)when;
	int rc;

	switch (o->strategy) {
	case S_BLOCK:
		if ((rc = o->sops->acquire(o->permits, 1, NULL)))
			return false;
		if ((rc = o->ops->send(o->c, item, NULL))) {
			o->sops->release(o->permits, 1);
			return false;
		}
		break;
	case S_QUEUE:
		if ((rc = o->ops->send(o->c, item, NULL)))
			return false;
		break;
	default:
		rc = o->ops->try_send(o->c, item);
		if (rc == EAGAIN) {
			w->shed++;
			return true;
		}
		if (rc)
			return false;
		break;
	}
	o->admitted++;
	return true;
}

static void source(struct worker *w, struct over *o)
{
	uint64_t next = now_ns() + open_gap(w, &o->sched);

	while (worker_running(w)) {
		uint64_t now = open_wait(w, next), depth;

		if (!now)
			continue;	/* the phase changed while asleep */
		depth = o->ops->len(o->c);
		if (w->phase == PHASE_MEASURE) {
			hist_record(o->lag, now - next);
			hist_record(o->depth, depth);
			o->arrivals++;
		}
		if (unlikely(!offer(w, o, next)))
			w->errors++;
		next += open_gap(w, &o->sched);
	}
	o->ops->close(o->c);
}

static void consumer(struct worker *w, struct over *o)
{
	struct consumer *me = &o->cons[w->id - 1];

	for (;;) {
		void *item;
		uint64_t start, done;
		int rc;

		worker_running(w);	/* follow the phase; stop only at EPIPE */
		rc = o->ops->recv(o->c, &item, NULL);
		if (rc == EPIPE)
			break;
		if (unlikely(rc)) {
			w->errors++;
			if (w->phase == PHASE_STOP)
				break;	/* do not spin on a broken channel */
			continue;
		}
		if (w->phase == PHASE_STOP) {
			/* Stopping: free the source, serve nothing more. */
			me->discarded++;
			if (o->permits)
				o->sops->release(o->permits, 1);
			continue;
		}
		start = now_ns();
		work_iters(o->service_iters);
		done = now_ns();
		if (o->permits)
			o->sops->release(o->permits, 1);
		me->served++;
		if (w->phase == PHASE_MEASURE) {
			w->ops++;
			me->busy_ns += done - start;
			worker_record(w, done - (uint64_t)(uintptr_t)item);
		}
	}
}

static void over_thread(struct worker *w)
{
	struct over *o = w->trial->state;

	if (w->id == 0)
		source(w, o);
	else
		consumer(w, o);
}

static void over_finish(struct trial *t, struct trial_extra *x)
{
	struct over *o = t->state;
	double secs = (double)t->measure_ns / 1e9, ops = 0, busy = 0;
	uint64_t handled = 0, left = 0;
	void *item;

	while (o->ops->try_recv(o->c, &item) == 0)
		left++;
	for (unsigned c = 0; c < o->ncons; c++) {
		handled += o->cons[c].served + o->cons[c].discarded;
		ops += (double)t->workers[c + 1].ops;
		busy += (double)o->cons[c].busy_ns;
	}
	if (handled + left != o->admitted || left)
		t->workers[0].violations++;
	if (o->permits && o->sops->available(o->permits) != o->inflight)
		t->workers[0].violations++;
	x->v[X_OFFERED] = t->param[P_LOAD] * o->capacity;
	x->v[X_GOODPUT] = ops / secs;
	x->v[X_UTIL] = ops / secs / o->capacity;
	x->v[X_SHED_RATE] = o->arrivals ?
		(double)t->workers[0].shed / (double)o->arrivals : 0;
	x->v[X_DEPTH_P50] = o->depth->count ? (double)hist_percentile(o->depth, 50) : 0;
	x->v[X_DEPTH_P99] = o->depth->count ? (double)hist_percentile(o->depth, 99) : 0;
	x->v[X_LAG_P99] = o->lag->count ? (double)hist_percentile(o->lag, 99) : 0;
	x->v[X_LAG_MAX] = o->lag->count ? (double)o->lag->max : 0;
	x->v[X_SERVICE] = ops ? busy / ops : 0;
}

static void over_teardown(struct trial *t)
{
	struct over *o = t->state;

	o->ops->destroy(o->c);
	if (o->permits)
		o->sops->destroy(o->permits);
	over_free(o);
}

const struct workload backpressure_overload_workload = {
	.name = "backpressure/overload",
	.family = "chan",
	.desc = "open-loop source at load x the consumers' capacity: block, queue or shed; goodput, shed rate, latency from intended arrival",
	.params = over_params,
	.extras = over_extras,
	.check_threads = over_check_threads,
	.sweep = over_sweep,
	.setup = over_setup,
	.thread = over_thread,
	.finish = over_finish,
	.teardown = over_teardown,
};
