/* SPDX-License-Identifier: MIT */
/*
 * drain/server: a real service on loopback (server.c, its own process)
 * under a closed-loop client load, told to stop mid-run, then audited.
 *
 * Thread 0 is the controller (aux): at kill_at of the measured phase it
 * sends the server SIGTERM (kill_at=0: never; finish() stops the server
 * after the trial).  Every other thread is a client with one persistent
 * connection, sending requests one at a time and keeping every acked id;
 * after a REFUSED (the server is going away), a drop or a hang it stops.
 *
 * finish() waits for the server (bounded: SIGKILL and count a hang), then
 * opens its database and checks: every acked id is there (lost = 0); in
 * mode=ordered every row was acked (recorded_unacked = 0: a retry would
 * duplicate it), nothing was admitted after the drain closed, no client
 * saw a drop or a hang, and the server exited cleanly.  Each failure is a
 * violation.  mode=naive (no drain, SIGTERM kills at once) shows what the
 * naive shutdown loses; only lost acks and hangs are violations there.
 *
 * rps is acked requests per second of the measured phase before the kill.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "drain.h"
#include "registry.h"
#include "server.h"
#include "workload.h"

#define HANG_NS 5000000000ull		/* a reply later than this is a hang */
#define REAP_SLACK_NS 5000000000ull	/* beyond grace + the server's own waits */
#define MAX_CLIENTS 256

enum { P_MODE, P_KILL_AT, P_GRACE, P_WORK, P_SLOTS, P_QUEUE, P_RATE,
       P_WORKERS, P_DEADLINE };
enum { X_RPS, X_ACKED, X_LOST, X_UNACKED, X_REFUSED, X_SHED, X_CANCELLED,
       X_DROPPED, X_HANGS, X_LATE, X_FORCED, X_DRAIN_NS, X_PHASE0 };

static const char *const modes[] = { "ordered", "naive", NULL };

static const struct param_spec server_params[] = {
	[P_MODE] = { "mode", 0, 0, 1, modes, "ordered: the drain and the six-phase shutdown; naive: neither, SIGTERM kills" },
	[P_KILL_AT] = { "kill_at", 0.5, 0, 0.95, NULL, "SIGTERM at this fraction of the measured phase (0: none, throughput only)", true },
	[P_GRACE] = { "grace_ms", 1000, 0, 60000, NULL, "shutdown phase 2: how long in-flight work may finish" },
	[P_WORK] = { "work_us", 200, 0, 1000000, NULL, "each request's work (a wait on its context)" },
	[P_SLOTS] = { "slots", 2, 1, 1024, NULL, "requests worked at once (semaphore permits)" },
	[P_QUEUE] = { "queue", 64, 1, 65536, NULL, "work queue capacity (full: shed)" },
	[P_RATE] = { "rate", 0, 0, 1e9, NULL, "admissions/s (0: unlimited; over it: shed)", true },
	[P_WORKERS] = { "workers", 4, 1, 256, NULL, "worker threads" },
	[P_DEADLINE] = { "deadline_ms", 1000, 1, 60000, NULL, "each request's context deadline" },
	{ 0 },
};

static const char *const server_extras[] = {
	[X_RPS] = "rps",
	[X_ACKED] = "acked",
	[X_LOST] = "lost",
	[X_UNACKED] = "recorded_unacked",
	[X_REFUSED] = "refused",
	[X_SHED] = "shed",
	[X_CANCELLED] = "cancelled",
	[X_DROPPED] = "dropped",
	[X_HANGS] = "hangs",
	[X_LATE] = "admitted_after_stop",
	[X_FORCED] = "force_cancelled",
	[X_DRAIN_NS] = "drain_ns",
	[X_PHASE0 + 0] = "phase_accept_ns",
	[X_PHASE0 + 1] = "phase_grace_ns",
	[X_PHASE0 + 2] = "phase_cancel_ns",
	[X_PHASE0 + 3] = "phase_workers_ns",
	[X_PHASE0 + 4] = "phase_flush_ns",
	[X_PHASE0 + 5] = "phase_close_ns",
	NULL,
};

static const struct sweep_metric server_sweep[] = {
	{ "rps", "rps", "acked requests/s before the kill", SWEEP_LINEAR },
	{ "drain_ns", "drain", "SIGTERM to exit (ns)", SWEEP_LOG },
	/* What a shutdown loses: ordered must stay at 0, naive shows it. */
	{ "dropped", "dropped", "requests dropped in flight (closed, no reply)", SWEEP_LINEAR },
	{ "lost", "lost", "acked requests missing from the database", SWEEP_LINEAR },
	{ 0 },
};

struct client {
	int fd;
	uint64_t *ids;		/* acked ids, warm-up included */
	size_t n, cap;
	uint64_t out[OUT_N];	/* every outcome, warm-up included */
} cacheline_aligned;

struct dsrv {
	struct server_proc proc;
	struct client *cl;
	unsigned nclients;
	uint64_t measure_start;		/* the controller's view */
	_Atomic uint64_t term_ns;	/* SIGTERM sent; 0 before */
};

static const char *server_check(const struct impl_info *impl, const double *param)
{
	const struct family *f = family_find("drain");

	/* The first real implementation stands for "none". */
	if (param[P_MODE] == 1 && f && impl != f->impls[0])
		return "mode=naive has no drain in the request path: it runs once, under the first drain implementation";
	return NULL;
}

static const char *server_check_threads(const double *param, unsigned nthreads)
{
	(void)param;
	if (nthreads < 2)
		return "needs 2 threads or more: a controller and at least one client";
	if (nthreads - 1 > MAX_CLIENTS)
		return "at most 256 clients (257 threads)";
	return NULL;
}

static int server_setup(struct trial *t)
{
	struct dsrv *d = calloc(1, sizeof(*d));
	struct server_opts o = {
		.drain = t->impl->name,
		.naive = t->param[P_MODE] == 1,
		.grace_ms = (unsigned)t->param[P_GRACE],
		.slots = (unsigned)t->param[P_SLOTS],
		.queue = (unsigned)t->param[P_QUEUE],
		.workers = (unsigned)t->param[P_WORKERS],
		.rate = t->param[P_RATE],
		.deadline_ms = (unsigned)t->param[P_DEADLINE],
	};
	char err[256];
	int rc;

	if (!d)
		return ENOMEM;
	d->nclients = t->nthreads - 1;
	o.conns = d->nclients;
	d->cl = aligned_alloc(CACHELINE, d->nclients * sizeof(*d->cl));
	if (!d->cl) {
		free(d);
		return ENOMEM;
	}
	memset(d->cl, 0, d->nclients * sizeof(*d->cl));
	rc = server_spawn(&d->proc, &o, err, sizeof(err));
	if (rc)
		goto out_free;
	for (unsigned i = 0; i < d->nclients; i++) {
		d->cl[i].fd = client_connect(d->proc.port);
		if (d->cl[i].fd < 0) {
			rc = -d->cl[i].fd;
			while (i--)
				close(d->cl[i].fd);
			server_cleanup(&d->proc);
			goto out_free;
		}
	}
	t->workers[0].aux = true;
	t->state = d;
	return 0;

out_free:
	free(d->cl);
	free(d);
	return rc ? rc : EIO;
}

static void nap_us(unsigned us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	nanosleep(&ts, NULL);
}

static void controller(struct worker *w, struct dsrv *d)
{
	double kill_at = w->trial->param[P_KILL_AT];
	uint64_t dur = w->trial->duration_ns;

	while (worker_running(w)) {
		if (w->phase == PHASE_MEASURE) {
			uint64_t now = mono_ns();

			if (!d->measure_start)
				d->measure_start = now;
			if (kill_at > 0 && !atomic_load(&d->term_ns) &&
			    now >= d->measure_start + (uint64_t)(kill_at * (double)dur)) {
				server_term(&d->proc);
				atomic_store(&d->term_ns, d->proc.term_ns);
			}
			/* Notice the exit when it happens, for drain_ns. */
			if (atomic_load(&d->term_ns))
				server_exited(&d->proc);
		}
		nap_us(200);
	}
}

static void server_thread(struct worker *w)
{
	struct dsrv *d = w->trial->state;
	uint32_t work_us = (uint32_t)w->trial->param[P_WORK];
	struct client *c;
	uint64_t seq = 0;

	if (w->aux) {
		controller(w, d);
		return;
	}
	c = &d->cl[w->id - 1];
	while (worker_running(w)) {
		bool timed = worker_sample(w);
		uint64_t t0 = mono_ns();
		uint64_t id = ((uint64_t)w->id << 40) | seq++;
		enum client_outcome out = client_call(c->fd, id, work_us, HANG_NS);

		if (timed)
			worker_record(w, mono_ns() - t0);
		c->out[out]++;
		if (out == OUT_ACK) {
			if (c->n == c->cap) {
				size_t cap = c->cap ? 2 * c->cap : 4096;
				uint64_t *ids = realloc(c->ids, cap * sizeof(*ids));

				if (!ids) {
					w->errors++;	/* its id would read as lost */
					break;
				}
				c->ids = ids;
				c->cap = cap;
			}
			c->ids[c->n++] = id;
			/* Throughput: acks of the measured phase before the kill. */
			if (w->phase == PHASE_MEASURE && !atomic_load(&d->term_ns))
				w->ops++;
		} else if (out == OUT_SHED) {
			w->shed++;
		} else if (out != OUT_CANCELLED) {
			break;	/* refused, dropped, hang, failed, bad: stop */
		}
	}
	/* Hang up: a stopping server is waiting for it. */
	close(c->fd);
	c->fd = -1;
}

static void server_finish(struct trial *t, struct trial_extra *x)
{
	struct dsrv *d = t->state;
	bool naive = t->param[P_MODE] == 1;
	struct server_report r;
	struct server_verdict v = { 0 };
	uint64_t out[OUT_N] = { 0 }, *all, n = 0, late, bad;
	uint64_t bound = (uint64_t)t->param[P_GRACE] * 1000000ull + REAP_SLACK_NS;
	uint64_t until, since;
	char err[256];

	server_term(&d->proc);
	if (!atomic_load(&d->term_ns))
		atomic_store(&d->term_ns, d->proc.term_ns);
	server_reap(&d->proc, bound, &r);

	for (unsigned i = 0; i < d->nclients; i++) {
		n += d->cl[i].n;
		for (int k = 0; k < OUT_N; k++)
			out[k] += d->cl[i].out[k];
	}
	all = malloc((n ? n : 1) * sizeof(*all));
	if (!all) {
		t->workers[0].errors++;
		return;
	}
	n = 0;
	for (unsigned i = 0; i < d->nclients; i++) {
		memcpy(all + n, d->cl[i].ids, d->cl[i].n * sizeof(*all));
		n += d->cl[i].n;
	}
	if (server_verify(d->proc.db, all, n, naive ? 0 : r.stop_ns, &v, err, sizeof(err)))
		t->workers[0].errors++;
	free(all);

	/* rps: from the measured phase's start to the kill, or its end. */
	since = d->measure_start ? d->measure_start : 0;
	until = atomic_load(&d->term_ns);
	if (t->param[P_KILL_AT] == 0 || !since || until <= since)
		until = since + t->measure_ns;
	for (unsigned i = 0; i < t->nthreads; i++)
		x->v[X_RPS] += (double)t->workers[i].ops;
	x->v[X_RPS] = until > since ? x->v[X_RPS] / ((double)(until - since) / 1e9) : 0;

	late = r.admitted_after_stop > v.admitted_late ? r.admitted_after_stop : v.admitted_late;
	bad = out[OUT_BAD] + out[OUT_FAILED];
	x->v[X_ACKED] = (double)n;
	x->v[X_LOST] = (double)v.lost;
	x->v[X_UNACKED] = (double)v.recorded_unacked;
	x->v[X_REFUSED] = (double)out[OUT_REFUSED];
	x->v[X_SHED] = (double)out[OUT_SHED];
	x->v[X_CANCELLED] = (double)out[OUT_CANCELLED];
	x->v[X_DROPPED] = (double)out[OUT_DROPPED];
	x->v[X_HANGS] = (double)(out[OUT_HANG] + r.hang);
	x->v[X_LATE] = (double)late;
	x->v[X_FORCED] = (double)r.force_cancelled;
	x->v[X_DRAIN_NS] = (double)r.drain_ns;
	/* A naive server has no phases: empty cells, not zeros. */
	for (int i = 0; i < 6; i++)
		x->v[X_PHASE0 + i] = naive ? NAN : (double)r.phase_ns[i];

	/* Never acceptable: an ACK without its row, a hang, a garbled reply. */
	t->workers[0].violations += v.lost + out[OUT_HANG] + r.hang + bad;
	if (!naive)
		t->workers[0].violations += v.recorded_unacked + late +
			out[OUT_DROPPED] + !r.clean;
}

static void server_teardown(struct trial *t)
{
	struct dsrv *d = t->state;

	for (unsigned i = 0; i < d->nclients; i++) {
		if (d->cl[i].fd >= 0)
			close(d->cl[i].fd);
		free(d->cl[i].ids);
	}
	server_cleanup(&d->proc);
	free(d->cl);
	free(d);
}

const struct workload drain_server_workload = {
	.name = "drain/server",
	.family = "drain",
	.desc = "a loopback RPC server (own process, SQLite sink) stopped by SIGTERM mid-load: lost, refused, phases",
	.params = server_params,
	.extras = server_extras,
	.sampled = true,
	.lat_what = "request round trip",
	.check = server_check,
	.check_threads = server_check_threads,
	.sweep = server_sweep,
	.parts = "phase_",
	.setup = server_setup,
	.thread = server_thread,
	.finish = server_finish,
	.teardown = server_teardown,
};
