/* SPDX-License-Identifier: MIT */
/*
 * A C API over Google Benchmark (the library has none), for the
 * micro-benchmarks: the cost of one operation, measured by the library's
 * own iteration-count search, repetitions and statistics.
 *
 * A body is a C function that runs the batch protocol:
 *
 *	static void bench_acquire(struct gb_state *st, void *arg)
 *	{
 *		size_t n;
 *
 *		while ((n = gb_next_batch(st)))
 *			for (size_t i = 0; i < n; i++)
 *				acquire_release(arg);
 *	}
 *
 * The shim is called once per batch, never per iteration; the inner loop is
 * as tight as Google Benchmark's own `for (auto _ : state)`.  Every
 * benchmark uses real (wall-clock) time; with threads, a run's ns/iter is
 * wall time divided by the iterations of all threads together, the inverse
 * of the aggregate rate, never CPU time summed over threads.
 *
 * Threads: Google Benchmark starts fresh threads for every run, thread 0
 * being the thread that called gb_run().  Pinning belongs in the body, and
 * thread 0 must restore its binding before it returns.  The first and the
 * last gb_next_batch() of a run are barriers across its threads: what
 * thread 0 sets up before its first call, every thread sees after its own
 * first call; what thread 0 tears down after its last call (the one that
 * returned 0), no thread still uses in its loop.
 *
 * Misusing the protocol (an early return, a pause while paused) never
 * aborts the process, and no C++ exception crosses into C.  Functions
 * that act return 0 or an errno code.  Registration and gb_run() happen
 * on one thread; the gb_state functions are called from the body, on the
 * thread that runs it.
 */
#ifndef CONTEND_GBENCH_H
#define CONTEND_GBENCH_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One running thread of one benchmark run; wraps benchmark::State. */
struct gb_state;

typedef void (*gb_body)(struct gb_state *st, void *arg);

/*
 * Register @body under @name (copied).  @threads 0 or 1: single-threaded;
 * >= 2: that many threads run @body at once.  @arg is passed through.
 * Returns 0, EINVAL (no name or body) or ENOMEM.
 */
int gb_register(const char *name, gb_body body, void *arg, unsigned threads);

/*
 * Register "native/empty": `for (auto _ : state) asm volatile("" ::: "memory")`
 * in plain C++, the reference against which a C body with the same empty
 * loop shows what the shim costs.  Returns what gb_register() returns.
 */
int gb_register_native_empty(void);

/*
 * The batch protocol: the number of iterations to run now, 0 when the run
 * is over (or the body skipped with an error).  The first call starts the
 * timer; the call that returns 0 stops it.  A body must call it until it
 * returns 0, or skip with an error and return (the shim then finishes the
 * run for it).
 *
 * Batch rule: min(remaining, GB_BATCH_MAX), remaining being what Google
 * Benchmark asked for (State::max_iterations) less what was run.  A batch
 * never exceeds what is left, so no extra iteration is ever run, and a
 * batch is long enough that the per-batch call is lost in the noise.
 */
#define GB_BATCH_MAX 65536
size_t gb_next_batch(struct gb_state *st);

/* Index of this thread in the run, 0 .. gb_threads() - 1. */
unsigned gb_thread_index(const struct gb_state *st);
/* Threads running this body at once. */
unsigned gb_threads(const struct gb_state *st);

/*
 * Stop and restart this thread's timer, between batches.  Both are
 * idempotent and do nothing outside the timed region or after an error; a
 * timer left paused is restarted by the next gb_next_batch().  Each costs
 * two clock reads and more: never per iteration.
 */
void gb_pause_timing(struct gb_state *st);
void gb_resume_timing(struct gb_state *st);

/*
 * Mark the run failed with @msg (copied; the first message of any thread
 * wins).  The next gb_next_batch() returns 0, or the body may simply
 * return.  The run is reported with error set and NAN times; in a
 * threaded run the other threads carry on to the end of their loop.
 */
void gb_skip_with_error(struct gb_state *st, const char *msg);

/*
 * A user counter reported with the run, a plain value.  With threads the
 * values of all threads are summed (Google Benchmark's default).
 */
void gb_set_counter(struct gb_state *st, const char *name, double value);

struct gb_counter {
	const char *name;
	double value;
};

/* One reported run, valid for the duration of the sink call only. */
struct gb_result {
	const char *name;     /* full name; aggregates end in "_mean" etc. */
	const char *run_name; /* "f/real_time[/threads:N]", no aggregate */
	const char *family;   /* the name given to gb_register() */
	unsigned threads;
	unsigned repetitions;
	unsigned repetition_index; /* 0 .. repetitions - 1; 0 for aggregates */
	double iterations;	   /* of all threads; aggregates: repetitions */
	double real_ns_per_iter;   /* wall time / iterations, in ns */
	double cpu_ns_per_iter;	   /* CPU time of all threads / iterations */
	bool error;		   /* skipped with an error: times are NAN */
	const char *error_msg;	   /* "" unless error */
	bool aggregate;		   /* mean, median, stddev, cv: skip these */
	const char *aggregate_name; /* "" unless aggregate */
	bool aggregate_is_ratio;    /* cv: the two "ns" fields hold a ratio */
	const struct gb_counter *counters;
	size_t ncounters;
};

typedef void (*gb_sink)(void *arg, const struct gb_result *r);

struct gb_run_opts {
	const char *filter;    /* regex over names; NULL or "" = all */
	unsigned repetitions;  /* 0 = 1 */
	double min_time_s;     /* per repetition; <= 0 = 0.5 s */
	bool interleave;       /* shuffle repetitions across benchmarks */
	const char *json_path; /* also write Google Benchmark's JSON here */
	bool quiet;	       /* no console table (results still reach sink) */
};

/*
 * Run the registered benchmarks that match o->filter, calling @sink (if
 * not NULL) for every run, repetition and aggregate, in Google Benchmark's
 * order.  Every option is passed on every call: nothing leaks from one
 * call into the next.  Returns 0 (runs that skipped with an error still
 * count as run: see gb_result.error), EINVAL when the filter matched
 * nothing or does not compile, EIO when json_path cannot be written,
 * ENOMEM.
 */
int gb_run(const struct gb_run_opts *o, gb_sink sink, void *arg);

/*
 * Whether the library says it was built as debug (Google Benchmark's
 * "***WARNING*** Library was built as DEBUG", the JSON context's
 * "library_build_type": "debug").  Debian's libbenchmark does.
 */
bool gb_library_is_debug(void);

/* Google Benchmark's version when the shim was built, or "unknown". */
const char *gb_version(void);

#ifdef __cplusplus
}
#endif

#endif
