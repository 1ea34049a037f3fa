/* SPDX-License-Identifier: MIT */
/*
 * The Google Benchmark shim: C bodies run under the batch protocol, every
 * run reaches the sink, threads see their indexes, JSON lands where asked,
 * misuse (early return, double pause, skip in one thread of two) neither
 * aborts nor hangs, and bad filters or paths come back as errno codes.
 * The shim's cost against the same empty loop in native C++ is noted,
 * never judged.
 */
#include "gbench.h"
#include "tap.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPS	 3
#define MAX_SEEN 256

static atomic_uint threads_seen; /* bit i: thread index i ran */
static atomic_uint threads_bad;	 /* wrong gb_threads() or index */
static atomic_uint setup_unseen; /* thread 1 missed thread 0's setup */
static atomic_uint not_main;	 /* thread 0 was not gb_run()'s thread */
static int shared_setup;	 /* plain: ordered by the barriers only */
static pthread_t main_thread;

static void bench_empty(struct gb_state *st, void *arg)
{
	size_t n;

	(void)arg;
	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++)
			__asm__ __volatile__("" ::: "memory");
}

/*
 * The same empty loop counting down: the instructions g++ emits for
 * native/empty's `for (auto _ : state)` (sub; jne), so the pair isolates
 * the shim.  gcc's count-up loop (add; cmp; jne) differs in speed by itself
 * on some CPUs.
 */
static void bench_empty_down(struct gb_state *st, void *arg)
{
	size_t n;

	(void)arg;
	while ((n = gb_next_batch(st)))
		for (size_t i = n; i; i--)
			__asm__ __volatile__("" ::: "memory");
}

static void bench_add(struct gb_state *st, void *arg)
{
	uint64_t x = 1;
	size_t n;

	(void)arg;
	while ((n = gb_next_batch(st)))
		for (size_t i = 0; i < n; i++) {
			x = x * 3 + i;
			__asm__ __volatile__("" : "+r"(x));
		}
}

/*
 * Thread 0 sets up shared state before its first batch and tears it down
 * after its last, with plain stores: the start and stop barriers must
 * order them (TSan checks that they do).
 */
static void bench_threads(struct gb_state *st, void *arg)
{
	unsigned idx = gb_thread_index(st);
	bool first = true;
	uint64_t x = idx;
	size_t n;

	(void)arg;
	if (gb_threads(st) != 2 || idx >= 2)
		atomic_fetch_add(&threads_bad, 1);
	else
		atomic_fetch_or(&threads_seen, 1u << idx);
	if (idx == 0 && !pthread_equal(pthread_self(), main_thread))
		atomic_fetch_add(&not_main, 1);
	if (idx == 0)
		shared_setup = 42;
	while ((n = gb_next_batch(st))) {
		if (first && idx == 1 && shared_setup != 42)
			atomic_fetch_add(&setup_unseen, 1);
		first = false;
		for (size_t i = 0; i < n; i++) {
			x += i;
			__asm__ __volatile__("" : "+r"(x));
		}
	}
	if (idx == 0)
		shared_setup = 0;
}

/* One batch, then an error and a plain return. */
static void bench_skip(struct gb_state *st, void *arg)
{
	(void)arg;
	if (gb_next_batch(st))
		gb_skip_with_error(st, "told to skip");
}

/* Thread 1 fails before its loop; thread 0 runs to the end. */
static void bench_skip_one(struct gb_state *st, void *arg)
{
	if (gb_thread_index(st) == 1) {
		gb_skip_with_error(st, "thread 1 failed");
		return;
	}
	bench_empty(st, arg);
}

/* Returns after one batch without saying why. */
static void bench_early(struct gb_state *st, void *arg)
{
	(void)arg;
	gb_next_batch(st);
}

/* Pauses and resumes twice in a row, and returns with the timer paused. */
static void bench_pause(struct gb_state *st, void *arg)
{
	size_t n;

	(void)arg;
	gb_pause_timing(st); /* before the loop: a no-op */
	while ((n = gb_next_batch(st))) {
		for (size_t i = 0; i < n; i++)
			__asm__ __volatile__("" ::: "memory");
		gb_pause_timing(st);
		gb_pause_timing(st);
		gb_resume_timing(st);
		gb_resume_timing(st);
		gb_pause_timing(st);
	}
}

static void bench_counter(struct gb_state *st, void *arg)
{
	bench_empty(st, arg);
	gb_set_counter(st, "answer", 42);
}

struct seen {
	char family[64];
	char msg[64];
	char aggregate[16];
	unsigned threads, rep;
	bool agg, err;
	double iters, real_ns, cpu_ns, answer;
};

static struct seen seen[MAX_SEEN];
static size_t nseen;

static void sink(void *arg, const struct gb_result *r)
{
	struct seen *s;

	(void)arg;
	if (nseen == MAX_SEEN)
		return;
	s = &seen[nseen++];
	snprintf(s->family, sizeof(s->family), "%s", r->family);
	snprintf(s->msg, sizeof(s->msg), "%s", r->error_msg);
	snprintf(s->aggregate, sizeof(s->aggregate), "%s", r->aggregate_name);
	s->threads = r->threads;
	s->rep = r->repetition_index;
	s->agg = r->aggregate;
	s->err = r->error;
	s->iters = r->iterations;
	s->real_ns = r->real_ns_per_iter;
	s->cpu_ns = r->cpu_ns_per_iter;
	s->answer = NAN;
	for (size_t i = 0; i < r->ncounters; i++)
		if (!strcmp(r->counters[i].name, "answer"))
			s->answer = r->counters[i].value;
}

static const struct seen *find(const char *family, bool agg,
			       const char *aggregate, unsigned rep)
{
	for (size_t i = 0; i < nseen; i++)
		if (!strcmp(seen[i].family, family) && seen[i].agg == agg &&
		    (agg ? !strcmp(seen[i].aggregate, aggregate)
			 : seen[i].rep == rep))
			return &seen[i];
	return NULL;
}

/* Every repetition came back, measured; returns the mean ns/iter. */
static double check_family(const char *family, unsigned threads)
{
	unsigned good = 0;
	double sum = 0;

	for (unsigned rep = 0; rep < REPS; rep++) {
		const struct seen *s = find(family, false, "", rep);

		if (s && !s->err && s->threads == threads && s->iters > 0 &&
		    isfinite(s->real_ns) && s->real_ns > 0 &&
		    isfinite(s->cpu_ns)) {
			good++;
			sum += s->real_ns;
		}
	}
	check_uint(good, ==, REPS, "%s: %d measured repetitions reach the sink",
		   family, REPS);
	check(find(family, true, "mean", 0) != NULL,
	      "%s: aggregates reach the sink, flagged", family);
	return good ? sum / good : NAN;
}

static bool file_has(const char *path, const char *what)
{
	char buf[1 << 16];
	size_t len;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	return strstr(buf, what) != NULL;
}

static const struct {
	const char *name;
	gb_body body;
	unsigned threads;
} benches[] = {
    {"shim/empty", bench_empty, 0},
    {"shim/empty_down", bench_empty_down, 0},
    {"shim/add", bench_add, 1},
    {"shim/threads", bench_threads, 2},
    {"err/skip", bench_skip, 0},
    {"err/skip_one", bench_skip_one, 2},
    {"err/early", bench_early, 0},
    {"misc/pause", bench_pause, 0},
    {"misc/counter", bench_counter, 0},
};

static void test_register(void)
{
	check_int(gb_register(NULL, bench_empty, NULL, 0), ==, EINVAL,
		  "register: no name is EINVAL");
	check_int(gb_register("x", NULL, NULL, 0), ==, EINVAL,
		  "register: no body is EINVAL");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		check_int(gb_register(benches[i].name, benches[i].body, NULL,
				      benches[i].threads),
			  ==, 0, "register: %s", benches[i].name);
	check_int(gb_register_native_empty(), ==, 0, "register: native/empty");
}

static void test_measure(const char *json)
{
	struct gb_run_opts o = {
	    .filter = "^(shim|native)/",
	    .repetitions = REPS,
	    .min_time_s = 0.01,
	    .interleave = true,
	    .json_path = json,
	};
	double shim, down, native;

	nseen = 0;
	check_int(gb_run(&o, sink, NULL), ==, 0, "run: shim and native");
	check_family("shim/add", 1);
	check_family("shim/threads", 2);
	shim = check_family("shim/empty", 1);
	down = check_family("shim/empty_down", 1);
	native = check_family("native/empty", 1);
	check_uint(atomic_load(&threads_seen), ==, 3,
		   "shim/threads: thread indexes 0 and 1 both ran");
	check_uint(atomic_load(&threads_bad), ==, 0,
		   "shim/threads: gb_threads() is 2, indexes below it");
	check_uint(
	    atomic_load(&setup_unseen), ==, 0,
	    "shim/threads: thread 0's setup is seen after the first batch");
	check_uint(atomic_load(&not_main), ==, 0,
		   "shim/threads: thread 0 is the thread that called gb_run()");
	check(file_has(json, "\"benchmarks\"") && file_has(json, "shim/empty"),
	      "run: JSON written where asked");
	tap_note("native/empty %.3f ns/iter; shim/empty_down (same loop) "
		 "%.3f: the shim costs %+.3f ns/iter (mean of %d interleaved "
		 "reps)",
		 native, down, down - native, REPS);
	tap_note("shim/empty (count-up loop) %.3f ns/iter: %+.3f against "
		 "native, the loop's shape, not the shim",
		 shim, shim - native);
	for (size_t i = 0; i < nseen; i++)
		if (!seen[i].agg)
			tap_note("%s rep %u: %.0f iters, %.3f ns/iter real, "
				 "%.3f cpu",
				 seen[i].family, seen[i].rep, seen[i].iters,
				 seen[i].real_ns, seen[i].cpu_ns);
}

static void test_misuse(const char *json)
{
	struct gb_run_opts o = {
	    .filter = "^(err|misc)/",
	    .repetitions = 1,
	    .min_time_s = 0.01,
	    .quiet = true,
	};
	const struct seen *s;

	nseen = 0;
	check_int(gb_run(&o, sink, NULL), ==, 0, "misuse: run completes");
	s = find("err/skip", false, "", 0);
	check(s && s->err && !strcmp(s->msg, "told to skip") &&
		  isnan(s->real_ns),
	      "err/skip: reported as an error with its message");
	s = find("err/skip_one", false, "", 0);
	check(s && s->err && !strcmp(s->msg, "thread 1 failed"),
	      "err/skip_one: one failing thread of two fails the run");
	s = find("err/early", false, "", 0);
	check(s && s->err && strstr(s->msg, "returned before"),
	      "err/early: returning mid-loop is an error, not an abort");
	s = find("misc/pause", false, "", 0);
	check(s && !s->err && s->iters > 0 && isfinite(s->real_ns),
	      "misc/pause: repeated pause/resume and ending paused are fine");
	s = find("misc/counter", false, "", 0);
	check(s && s->answer == 42, "misc/counter: user counter reaches sink");
	check(file_has(json, "shim/empty"),
	      "misuse: no JSON path leaves the last JSON alone");
}

static void test_errors(const char *dir)
{
	struct gb_run_opts o = {
	    .filter = "^no/such/benchmark$",
	    .min_time_s = 0.01,
	    .quiet = true,
	};

	nseen = 0;
	check_int(gb_run(&o, sink, NULL), ==, EINVAL,
		  "errors: a filter matching nothing is EINVAL");
	o.filter = "^misc/counter";
	o.json_path = dir;
	check_int(gb_run(&o, sink, NULL), ==, EIO,
		  "errors: an unwritable JSON path is EIO, not exit");
	check_uint(nseen, ==, 0, "errors: nothing ran");
}

int main(void)
{
	char dir[] = "/tmp/gbench_test.XXXXXX";
	char json[sizeof(dir) + 16];

	main_thread = pthread_self();
	if (!mkdtemp(dir))
		tap_skip_all("cannot create a temporary directory");
	snprintf(json, sizeof(json), "%s/out.json", dir);
	tap_note("google benchmark %s, library built as %s", gb_version(),
		 gb_library_is_debug() ? "debug" : "release");
	check(strcmp(gb_version(), "") != 0, "version: not empty");

	test_register();
	test_measure(json);
	test_misuse(json);
	test_errors(dir);

	unlink(json);
	rmdir(dir);
	return tap_done();
}
