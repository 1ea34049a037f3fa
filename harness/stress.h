/* SPDX-License-Identifier: MIT */
/*
 * The stress driver's plug.  A family supplies a `struct stress_family`:
 * a thread body that hammers one object with random operations and counts
 * every broken invariant through stress_violation(), a finish() that checks
 * end-of-run invariants, and describe() for hang reports.  The driver owns
 * threads, duration, chaos and the watchdog, and prints one SUCCESS or
 * FAILURE line per implementation.
 *
 * Blocking calls are bracketed by stress_begin()/stress_end() so the
 * watchdog can name what a stuck thread is doing.  A thread still blocked
 * after the stop flag (when nobody competes any more) is a lost wake-up or
 * a deadlock; no progress at all for the watchdog period is a deadlock.
 */
#ifndef CONTEND_STRESS_H
#define CONTEND_STRESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "compiler.h"
#include "impl.h"

struct stress_thread {
	unsigned id;
	_Atomic(const char *) op;	/* blocking call in progress, or NULL */
	_Atomic unsigned arg;		/* its argument, for the report */
	_Atomic uint64_t since;		/* mono_ns() when it began */
	_Atomic uint64_t progress;	/* operations completed */
	_Atomic bool done;		/* the thread body returned */
	uint64_t max_wait_ns;		/* longest blocking call */
	uint64_t rng;
	struct stress *s;
} cacheline_aligned;

struct stress {
	const struct impl_info *impl;
	unsigned nthreads;
	bool chaos;
	_Atomic bool stop;
	_Atomic uint64_t violations;
	_Atomic bool have_first;
	char first[256];		/* the first violation, for the report */
	char note[192];			/* set by setup(): what was skipped and
					 * why, appended to the result line */
	void *state;			/* the family's */
	struct stress_thread *threads;
};

struct stress_family {
	const char *family;
	const char *checks;	/* one line: what is verified */
	int (*setup)(struct stress *s);
	void (*thread)(struct stress_thread *t);
	void (*finish)(struct stress *s);
	void (*describe)(struct stress *s, char *buf, size_t len);
	void (*teardown)(struct stress *s);
};

struct stress_opts {
	unsigned nthreads;
	uint64_t duration_ns;
	uint64_t watchdog_ns;
	bool chaos;
};

void stress_violation(struct stress *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Run one implementation; prints its report; returns true on SUCCESS. */
bool stress_run(const struct stress_family *sf, const struct impl_info *impl,
		const struct stress_opts *o, FILE *out);

uint64_t stress_now(void);

static inline bool stress_running(struct stress_thread *t)
{
	return !atomic_load_explicit(&t->s->stop, memory_order_relaxed);
}

static inline uint64_t stress_rand(struct stress_thread *t)
{
	return xorshift64(&t->rng);
}

/*
 * Rounds on shared slots (the ctx and chan checkers): a slot's 32-bit state
 * word holds STRESS_SLOT_BUSY while someone owns it, STRESS_SLOT_OPEN while
 * others may join its round, and the number of users in the low bits.
 * The states sit in an array of slot structs: `first` is the first one's
 * state word, `stride` the struct's size.
 */
#define STRESS_SLOT_BUSY (1u << 31)
#define STRESS_SLOT_OPEN (1u << 30)
#define STRESS_SLOT_USERS 0xffffu

/* Own a free slot, starting at a random one: its index, or -1. */
int stress_slot_own(struct stress_thread *t, _Atomic uint32_t *first,
		    size_t stride, unsigned nslots);
/* Join an open round as one more user: the slot's index, or -1. */
int stress_slot_join(struct stress_thread *t, _Atomic uint32_t *first,
		     size_t stride, unsigned nslots);
/* After every thread left: a slot still held is a violation. */
void stress_slots_released(struct stress *st, _Atomic uint32_t *first,
			   size_t stride, unsigned nslots);

static inline void stress_begin(struct stress_thread *t, const char *op,
				unsigned arg)
{
	atomic_store_explicit(&t->arg, arg, memory_order_relaxed);
	atomic_store_explicit(&t->since, stress_now(), memory_order_relaxed);
	atomic_store_explicit(&t->op, op, memory_order_release);
}

static inline void stress_end(struct stress_thread *t)
{
	uint64_t waited = stress_now() -
		atomic_load_explicit(&t->since, memory_order_relaxed);

	if (waited > t->max_wait_ns)
		t->max_wait_ns = waited;
	atomic_store_explicit(&t->op, NULL, memory_order_release);
	atomic_fetch_add_explicit(&t->progress, 1, memory_order_relaxed);
}

#endif
