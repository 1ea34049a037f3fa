// SPDX-License-Identifier: MIT
/*
 * The C shim over Google Benchmark: see gbench.h for the contract.
 *
 * What the shim does for the caller, beyond forwarding:
 *
 * - The batch protocol never asks State::KeepRunningBatch() for more than
 *   is left (max_iterations - iterations()), so Google Benchmark's
 *   "may overshoot by up to n" never happens.
 * - Google Benchmark's misuse checks (BM_CHECK, active in Debian's debug
 *   build) abort the process: a pause while paused, a body that returns
 *   before the loop ends, a NULL error message.  The shim tracks the timer
 *   phase itself so those calls become no-ops, and finishes the run for a
 *   body that returns early (which also keeps the other threads of the run
 *   from waiting forever at the library's start/stop barrier).
 * - Command-line flags are process-global and only overwritten when named,
 *   so gb_run() names every flag that changes what is run or reported,
 *   every time.
 * - The library calls std::exit(1) when --benchmark_out cannot be opened;
 *   gb_run() tries the path first and returns EIO instead.
 * - No C++ exception crosses into C: every entry point catches.
 *
 * Build: g++ -std=c++17 $(pkg-config --cflags benchmark)
 *	-DGB_VERSION="\"$(pkg-config --modversion benchmark)\""
 * and link with $(pkg-config --libs benchmark) -lpthread, using g++ (or
 * adding -lstdc++).
 */
#include "gbench.h"

#include <benchmark/benchmark.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <new>
#include <ostream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#ifndef GB_VERSION
#define GB_VERSION "unknown"
#endif

using benchmark::BenchmarkReporter;
using benchmark::IterationCount;

/* argv[0] for the library: it keeps the pointer (Context::executable_name). */
static char gb_prog[] = "contend";

/* Where the timer of this thread is; only the shim moves it. */
enum gb_phase {
	GB_IDLE,	/* before the first batch: timer not started */
	GB_TIMING,	/* inside the loop, timer running */
	GB_PAUSED,	/* inside the loop, gb_pause_timing() stopped it */
	GB_DONE,	/* gb_next_batch() returned 0: timer stopped for good */
};

struct gb_state {
	benchmark::State *s;
	enum gb_phase phase;
};

extern "C" size_t gb_next_batch(struct gb_state *st)
{
	benchmark::State &s = *st->s;
	IterationCount left, n;

	if (st->phase == GB_DONE)
		return 0;
	if (st->phase == GB_PAUSED) {
		if (!s.error_occurred())
			s.ResumeTiming();
		st->phase = GB_TIMING;
	}
	/*
	 * iterations() is 0 before the first batch and counts what was
	 * handed out since; after SkipWithError() it exceeds max_iterations,
	 * hence the clamp.  Asking for 1 when nothing is left is how the
	 * loop ends: KeepRunningBatch() then stops the timer and returns
	 * false (it needs n > 0).
	 */
	left = s.max_iterations - s.iterations();
	n = left < GB_BATCH_MAX ? left : GB_BATCH_MAX;
	if (n <= 0)
		n = 1;
	if (s.KeepRunningBatch(n)) {
		st->phase = GB_TIMING;
		return (size_t)n;
	}
	st->phase = GB_DONE;
	return 0;
}

extern "C" unsigned gb_thread_index(const struct gb_state *st)
{
	return (unsigned)st->s->thread_index();
}

extern "C" unsigned gb_threads(const struct gb_state *st)
{
	return (unsigned)st->s->threads();
}

extern "C" void gb_pause_timing(struct gb_state *st)
{
	if (st->phase != GB_TIMING || st->s->error_occurred())
		return;
	st->s->PauseTiming();
	st->phase = GB_PAUSED;
}

extern "C" void gb_resume_timing(struct gb_state *st)
{
	if (st->phase != GB_PAUSED || st->s->error_occurred())
		return;
	st->s->ResumeTiming();
	st->phase = GB_TIMING;
}

extern "C" void gb_skip_with_error(struct gb_state *st, const char *msg)
{
	if (st->s->error_occurred())
		return;
	try {
		st->s->SkipWithError(msg && *msg ? msg : "skipped with error");
	} catch (...) {
		/* only std::string's allocation can throw; nothing to do */
	}
}

extern "C" void gb_set_counter(struct gb_state *st, const char *name,
			       double value)
{
	if (!name)
		return;
	try {
		st->s->counters[name] = benchmark::Counter(value);
	} catch (...) {
	}
}

/*
 * Run @body on one thread of one run, then make sure the loop is closed:
 * a body that returned early is marked failed and driven to the end, so
 * the library neither aborts nor leaves the other threads at its barrier.
 */
static void gb_call(benchmark::State &s, gb_body body, void *arg)
{
	struct gb_state st = { &s, GB_IDLE };

	body(&st, arg);
	if (st.phase == GB_DONE)
		return;
	gb_skip_with_error(&st, "body returned before gb_next_batch() said 0");
	while (gb_next_batch(&st))
		;
}

extern "C" int gb_register(const char *name, gb_body body, void *arg,
			   unsigned threads)
{
	benchmark::internal::Benchmark *b;

	if (!name || !*name || !body || threads > INT_MAX)
		return EINVAL;
	try {
		/* The library keeps the name in a std::string: a copy. */
		b = benchmark::RegisterBenchmark(
			name, [body, arg](benchmark::State &s) {
				gb_call(s, body, arg);
			});
		b->UseRealTime();
		if (threads >= 2)
			b->Threads((int)threads);
	} catch (...) {
		return ENOMEM;
	}
	return 0;
}

/* The same empty loop as a C body's, written the way the library intends. */
static void gb_native_empty(benchmark::State &s)
{
	for (auto _ : s)
		__asm__ __volatile__("" ::: "memory");
}

extern "C" int gb_register_native_empty(void)
{
	try {
		benchmark::RegisterBenchmark("native/empty", gb_native_empty)
			->UseRealTime();
	} catch (...) {
		return ENOMEM;
	}
	return 0;
}

/*
 * The display reporter: forwards to a ConsoleReporter unless quiet, and
 * turns every Run into a gb_result for the sink.  (The library's CSV
 * reporter aborts when runs carry different counters; the sink lets the
 * caller write its own.)
 */
class gb_reporter : public BenchmarkReporter {
public:
	gb_reporter(bool quiet, gb_sink sink, void *arg)
		: console_(isatty(STDOUT_FILENO) ?
				   benchmark::ConsoleReporter::OO_Defaults :
				   benchmark::ConsoleReporter::OO_Tabular),
		  null_(nullptr), quiet_(quiet), sink_(sink), arg_(arg)
	{
		/* "Failed to match any benchmarks" goes to our error stream. */
		if (quiet)
			SetErrorStream(&null_);
	}

	bool ReportContext(const Context &c) override
	{
		return quiet_ || console_.ReportContext(c);
	}

	void ReportRuns(const std::vector<Run> &runs) override
	{
		if (!quiet_)
			console_.ReportRuns(runs);
		if (sink_)
			for (const Run &r : runs)
				send(r);
	}

	void Finalize() override
	{
		if (!quiet_)
			console_.Finalize();
	}

private:
	void send(const Run &r)
	{
		const std::string name = r.benchmark_name();
		const std::string run_name = r.run_name.str();
		const double to_ns =
			1e9 / benchmark::GetTimeUnitMultiplier(r.time_unit);
		std::vector<struct gb_counter> counters;
		struct gb_result g = {};

		for (const auto &kv : r.counters)
			counters.push_back({ kv.first.c_str(), kv.second.value });
		g.name = name.c_str();
		g.run_name = run_name.c_str();
		g.family = r.run_name.function_name.c_str();
		g.threads = (unsigned)r.threads;
		g.repetitions = (unsigned)r.repetitions;
		g.repetition_index =
			r.repetition_index < 0 ? 0 : (unsigned)r.repetition_index;
		g.iterations = (double)r.iterations;
		g.error = r.error_occurred;
		g.error_msg = r.error_message.c_str();
		g.aggregate = r.run_type == Run::RT_Aggregate ||
			      r.report_big_o || r.report_rms;
		g.aggregate_name = r.aggregate_name.c_str();
		g.aggregate_is_ratio =
			g.aggregate && r.aggregate_unit == benchmark::kPercentage;
		if (g.error) {
			g.real_ns_per_iter = NAN;
			g.cpu_ns_per_iter = NAN;
		} else if (g.aggregate_is_ratio) {
			/* cv: the console prints 100 * these as a percentage */
			g.real_ns_per_iter = r.real_accumulated_time;
			g.cpu_ns_per_iter = r.cpu_accumulated_time;
		} else {
			g.real_ns_per_iter = r.GetAdjustedRealTime() * to_ns;
			g.cpu_ns_per_iter = r.GetAdjustedCPUTime() * to_ns;
		}
		g.counters = counters.data();
		g.ncounters = counters.size();
		sink_(arg_, &g);
	}

	benchmark::ConsoleReporter console_;
	std::ostream null_;	/* no buffer: every write is dropped */
	bool quiet_;
	gb_sink sink_;
	void *arg_;
};

static std::string gb_flag(const char *name, const std::string &value)
{
	return std::string("--benchmark_") + name + "=" + value;
}

extern "C" int gb_run(const struct gb_run_opts *o, gb_sink sink, void *arg)
{
	try {
		const bool json = o->json_path && *o->json_path;
		char min_time[32];
		std::vector<std::string> flags;
		std::vector<char *> argv;
		struct stat sb;
		int argc;
		size_t matched;

		if (json) {
			/* The library exits when it cannot open the file. */
			FILE *f = fopen(o->json_path, "a");

			if (!f)
				return EIO;
			fclose(f);
		}
		snprintf(min_time, sizeof(min_time), "%.9g",
			 o->min_time_s > 0 ? o->min_time_s : 0.5);
		flags = {
			gb_flag("filter", o->filter && *o->filter ?
						  o->filter : "."),
			gb_flag("repetitions",
				std::to_string(o->repetitions ?
						       o->repetitions : 1)),
			gb_flag("min_time", min_time),
			gb_flag("min_warmup_time", "0"),
			gb_flag("enable_random_interleaving",
				o->interleave ? "true" : "false"),
			gb_flag("report_aggregates_only", "false"),
			gb_flag("display_aggregates_only", "false"),
			gb_flag("list_tests", "false"),
			gb_flag("format", "console"),
			gb_flag("out", json ? o->json_path : ""),
			gb_flag("out_format", "json"),
			gb_flag("perf_counters", ""),
		};
		argv.push_back(gb_prog);
		for (std::string &f : flags)
			argv.push_back(&f[0]);
		argv.push_back(nullptr);
		argc = (int)argv.size() - 1;
		benchmark::Initialize(&argc, argv.data());
		if (argc != 1)
			return EINVAL; /* a flag this version does not know */

		gb_reporter rep(o->quiet, sink, arg);

		matched = benchmark::RunSpecifiedBenchmarks(&rep);
		if (matched == 0)
			return EINVAL;
		if (json && (stat(o->json_path, &sb) != 0 || sb.st_size == 0))
			return EIO;
	} catch (const std::bad_alloc &) {
		return ENOMEM;
	} catch (...) {
		return EIO;
	}
	return 0;
}

/*
 * What the library says about itself: its JSON context carries
 * "library_build_type": "debug" or "release" (the same #ifdef NDEBUG that
 * prints the console's DEBUG warning).  1.7.1 has no other way to ask.
 */
static bool gb_ask_debug()
{
	std::ostringstream os;
	benchmark::JSONReporter r;
	size_t k, q1, q2;

	if (!BenchmarkReporter::Context::executable_name)
		BenchmarkReporter::Context::executable_name = gb_prog;
	r.SetOutputStream(&os);
	r.SetErrorStream(&os);
	r.ReportContext(BenchmarkReporter::Context());
	const std::string s = os.str();
	k = s.find("\"library_build_type\"");
	if (k == std::string::npos)
		return false;
	q1 = s.find('"', s.find(':', k));
	q2 = q1 == std::string::npos ? q1 : s.find('"', q1 + 1);
	return q2 != std::string::npos &&
	       s.compare(q1 + 1, q2 - q1 - 1, "debug") == 0;
}

extern "C" bool gb_library_is_debug(void)
{
	try {
		static const bool debug = gb_ask_debug();

		return debug;
	} catch (...) {
		return false;
	}
}

extern "C" const char *gb_version(void)
{
	return GB_VERSION;
}
