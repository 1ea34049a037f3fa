/* SPDX-License-Identifier: MIT */
/*
 * The generic stress driver: start the family's threads on one object,
 * let them run for the duration with an optional chaos mode, watch for a
 * run with no progress, then raise the stop flag and give every thread the
 * watchdog period to come back.  Whatever did not come back is reported
 * with what it was doing, and its threads are abandoned (detached, their
 * object leaked) so the suite can go on to the next implementation instead
 * of hanging.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chaos.h"
#include "clock.h"
#include "runner.h"
#include "stress.h"

#define TICK_NS 10000000u

uint64_t stress_now(void)
{
	return mono_ns();
}

void stress_violation(struct stress *s, const char *fmt, ...)
{
	va_list ap;
	bool expected = false;

	atomic_fetch_add(&s->violations, 1);
	if (!atomic_compare_exchange_strong(&s->have_first, &expected, true))
		return;
	va_start(ap, fmt);
	vsnprintf(s->first, sizeof(s->first), fmt, ap);
	va_end(ap);
}

struct stress_arg {
	const struct stress_family *sf;
	struct stress_thread *t;
};

static void *stress_thread_main(void *p)
{
	struct stress_arg *a = p;

	a->sf->thread(a->t);
	atomic_store(&a->t->done, true);
	return NULL;
}

static void nap(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };

	nanosleep(&ts, NULL);
}

static uint64_t total_progress(struct stress *s)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < s->nthreads; i++)
		sum += atomic_load(&s->threads[i].progress);
	return sum;
}

static unsigned report_stuck(struct stress *s, FILE *out, const char *prefix)
{
	uint64_t now = mono_ns();
	unsigned stuck = 0;

	for (unsigned i = 0; i < s->nthreads; i++) {
		struct stress_thread *t = &s->threads[i];
		const char *op = atomic_load(&t->op);

		if (atomic_load(&t->done))
			continue;
		stuck++;
		if (op)
			fprintf(out, "%s  thread %u: in %s(%u) for %.3f s\n",
				prefix, i, op, atomic_load(&t->arg),
				(double)(now - atomic_load(&t->since)) / 1e9);
		else
			fprintf(out, "%s  thread %u: running, not in a blocking call\n",
				prefix, i);
	}
	return stuck;
}

bool stress_run(const struct stress_family *sf, const struct impl_info *impl,
		const struct stress_opts *o, FILE *out)
{
	struct stress *s;
	struct stress_arg *args;
	pthread_t *tids;
	char state[256] = "";
	uint64_t start, last_progress, last_change, ops, max_wait = 0;
	bool hung = false, ok;
	unsigned started = 0;
	sigset_t all, old;

	s = calloc(1, sizeof(*s));
	args = calloc(o->nthreads, sizeof(*args));
	tids = calloc(o->nthreads, sizeof(*tids));
	if (s)
		s->threads = aligned_alloc(CACHELINE,
				o->nthreads * sizeof(*s->threads));
	if (!s || !args || !tids || !s->threads) {
		fprintf(out, "%s/%s: FAILURE: out of memory\n", sf->family,
			impl->name);
		return false;
	}
	memset(s->threads, 0, o->nthreads * sizeof(*s->threads));
	s->impl = impl;
	s->nthreads = o->nthreads;
	s->chaos = o->chaos;
	if (sf->setup(s)) {
		fprintf(out, "%s/%s: FAILURE: setup failed\n", sf->family,
			impl->name);
		return false;
	}
	atomic_store(&chaos_enabled, o->chaos);

	/* Signals go to the main thread, which decides when to stop. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < o->nthreads; i++) {
		struct stress_thread *t = &s->threads[i];

		t->id = i;
		t->s = s;
		t->rng = 0x9e3779b97f4a7c15u * (i + 1) ^ mono_ns();
		args[i] = (struct stress_arg){ sf, t };
		if (pthread_create(&tids[i], NULL, stress_thread_main, &args[i]))
			break;
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (started < o->nthreads) {
		atomic_store(&s->stop, true);
		stress_violation(s, "could only start %u of %u threads",
				 started, o->nthreads);
		s->nthreads = started;
	}

	start = last_change = mono_ns();
	last_progress = 0;
	while (!hung && mono_ns() - start < o->duration_ns &&
	       !runner_interrupted()) {
		uint64_t p;

		nap(TICK_NS);
		p = total_progress(s);
		if (p != last_progress) {
			last_progress = p;
			last_change = mono_ns();
		} else if (mono_ns() - last_change > o->watchdog_ns) {
			hung = true;
		}
	}
	atomic_store(&s->stop, true);
	if (!hung) {
		uint64_t t0 = mono_ns();

		for (;;) {
			unsigned done = 0;

			for (unsigned i = 0; i < s->nthreads; i++)
				done += atomic_load(&s->threads[i].done);
			if (done == s->nthreads)
				break;
			if (mono_ns() - t0 > o->watchdog_ns) {
				hung = true;
				break;
			}
			nap(TICK_NS / 10);
		}
	}
	atomic_store(&chaos_enabled, false);
	ops = total_progress(s);

	if (hung) {
		if (sf->describe)
			sf->describe(s, state, sizeof(state));
		fprintf(out, "%s/%s: FAILURE: hang: threads still blocked %.1f s after %s%s%s\n",
			sf->family, impl->name, (double)o->watchdog_ns / 1e9,
			last_progress == ops && mono_ns() - start < o->duration_ns ?
			"the last progress" : "the stop flag (lost wake-up or deadlock)",
			*state ? "; " : "", state);
		if (atomic_load(&s->violations))
			fprintf(out, "#  also %llu invariant violations before it; first: %s\n",
				(unsigned long long)atomic_load(&s->violations), s->first);
		report_stuck(s, out, "#");
		/* Abandon the stuck threads and their object: never hang. */
		for (unsigned i = 0; i < s->nthreads; i++)
			pthread_detach(tids[i]);
		free(tids);
		return false;
	}
	for (unsigned i = 0; i < s->nthreads; i++) {
		pthread_join(tids[i], NULL);
		if (s->threads[i].max_wait_ns > max_wait)
			max_wait = s->threads[i].max_wait_ns;
	}
	if (sf->finish)
		sf->finish(s);

	ok = atomic_load(&s->violations) == 0;
	if (ok)
		fprintf(out, "%s/%s: SUCCESS: %u threads, %.2f s, %llu ops, longest wait %.3f ms%s%s%s\n",
			sf->family, impl->name, s->nthreads,
			(double)(mono_ns() - start) / 1e9,
			(unsigned long long)ops, (double)max_wait / 1e6,
			o->chaos ? ", chaos" : "", *s->note ? "; " : "", s->note);
	else
		fprintf(out, "%s/%s: FAILURE: %llu invariant violations in %llu ops; first: %s\n",
			sf->family, impl->name,
			(unsigned long long)atomic_load(&s->violations),
			(unsigned long long)ops, s->first);
	if (!ok && *s->note)
		fprintf(out, "#  %s\n", s->note);
	sf->teardown(s);
	free(s->threads);
	free(s);
	free(args);
	free(tids);
	return ok;
}

static _Atomic uint32_t *slot_state(_Atomic uint32_t *first, size_t stride,
				    unsigned i)
{
	return (_Atomic uint32_t *)((char *)first + i * stride);
}

int stress_slot_own(struct stress_thread *t, _Atomic uint32_t *first,
		    size_t stride, unsigned nslots)
{
	unsigned start = (unsigned)stress_rand(t);

	for (unsigned i = 0; i < nslots; i++) {
		unsigned k = (start + i) % nslots;
		uint32_t empty = 0;

		if (atomic_compare_exchange_strong_explicit(slot_state(first, stride, k),
				&empty, STRESS_SLOT_BUSY, memory_order_acquire,
				memory_order_relaxed))
			return (int)k;
	}
	return -1;
}

int stress_slot_join(struct stress_thread *t, _Atomic uint32_t *first,
		     size_t stride, unsigned nslots)
{
	unsigned start = (unsigned)stress_rand(t);

	for (unsigned i = 0; i < nslots; i++) {
		unsigned k = (start + i) % nslots;
		_Atomic uint32_t *state = slot_state(first, stride, k);
		uint32_t s = atomic_load_explicit(state, memory_order_relaxed);

		/* Pairs with the owner's release store and every leave. */
		while ((s & STRESS_SLOT_OPEN) &&
		       !atomic_compare_exchange_weak_explicit(state, &s, s + 1,
				memory_order_acq_rel, memory_order_relaxed))
			;
		if (s & STRESS_SLOT_OPEN)
			return (int)k;
	}
	return -1;
}

void stress_slots_released(struct stress *st, _Atomic uint32_t *first,
			   size_t stride, unsigned nslots)
{
	for (unsigned i = 0; i < nslots; i++) {
		uint32_t s = atomic_load(slot_state(first, stride, i));

		if (s)
			stress_violation(st, "slot %u still held after every thread left (state %#x)",
					 i, s);
	}
}
