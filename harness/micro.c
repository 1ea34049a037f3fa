/* SPDX-License-Identifier: MIT */
/*
 * contend micro: every family's micro cases, for every implementation,
 * registered with Google Benchmark through the C shim.
 *
 * Real time only (UseRealTime in the shim): with threads, CPU time summed
 * over threads would make a blocking implementation look up to N times
 * faster than it is.  Threads are pinned inside the benchmark body
 * (Google Benchmark creates them per run, and thread 0 is the calling
 * thread, whose own binding is restored when the body ends).  Repetitions
 * are interleaved across benchmarks, like the runner's.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "compiler.h"
#include "csv.h"
#include "micro.h"
#include "registry.h"
#include "runner.h"
#include "topo.h"

/*
 * One registered benchmark.  Its object is made when a run of it starts
 * and destroyed when that run has been reported, so an object with a
 * thread of its own (rate/tb-chan's ticker, rate/lb-queue's drain) never
 * runs beside another benchmark, and a filtered-out case costs nothing.
 */
struct mb {
	const struct micro_case *mc;
	const struct impl_info *impl;
	const char *family;
	pthread_mutex_t lock;	/* guards obj while a run's threads start */
	void *obj;
	bool failed;		/* setup() returned NULL */
	unsigned threads;
	struct topo *topo;
	int *plan;
	char name[160];
};

static void mb_body(struct gb_state *st, void *arg)
{
	struct mb *b = arg;
	unsigned idx = gb_thread_index(st);
	cpu_set_t saved;
	bool restore;
	void *obj;

	pthread_mutex_lock(&b->lock);
	if (!b->obj && !b->failed && !(b->obj = b->mc->setup(b->impl)))
		b->failed = true;
	obj = b->obj;
	pthread_mutex_unlock(&b->lock);
	if (!obj)
		return;		/* the shim reports a body that never ran */
	restore = idx == 0 && !sched_getaffinity(0, sizeof(saved), &saved);
	topo_bind_self(b->topo, b->plan[idx % b->threads]);
	b->mc->body(st, obj, b->impl);
	if (restore)
		sched_setaffinity(0, sizeof(saved), &saved);
}

/* The shim's own cost: an empty body, to set beside native/empty. */
static void shim_empty(struct gb_state *st, void *arg)
{
	size_t n;

	(void)arg;
	while ((n = gb_next_batch(st)))
		for (size_t i = n; i; i--)
			__asm__ __volatile__("" ::: "memory");
}

struct sink {
	struct csv_table *t;
	const char *run_id, *host, *topo;
	struct mb *mbs;
	size_t nmb;
	int err;
};

static struct mb *find_mb(const struct sink *s, const char *family)
{
	for (size_t i = 0; i < s->nmb; i++)
		if (!strcmp(s->mbs[i].name, family))
			return &s->mbs[i];
	return NULL;
}

/* A run was reported: its threads are done; destroy its object. */
static void mb_release(struct mb *b)
{
	pthread_mutex_lock(&b->lock);
	if (b->obj)
		b->mc->teardown(b->obj, b->impl);
	b->obj = NULL;
	pthread_mutex_unlock(&b->lock);
}

static void on_result(void *arg, const struct gb_result *r)
{
	struct sink *s = arg;
	struct mb *b;
	const char *row[14];
	char c[6][48];

	if (r->aggregate)
		return;
	b = find_mb(s, r->family);
	if (b)
		mb_release(b);
	snprintf(c[0], 48, "%u", r->threads);
	snprintf(c[1], 48, "%u", r->repetition_index + 1);
	snprintf(c[2], 48, "%.0f", r->iterations);
	if (r->error) {
		c[3][0] = c[4][0] = '\0';
	} else {
		snprintf(c[3], 48, "%.4f", r->real_ns_per_iter);
		snprintf(c[4], 48, "%.4f", r->cpu_ns_per_iter);
	}
	row[0] = s->run_id;
	row[1] = s->host;
	row[2] = s->topo;
	row[3] = r->family;
	row[4] = b ? b->family : "harness";
	row[5] = b ? b->impl->name : (strstr(r->family, "native") ? "native" : "shim");
	row[6] = b ? b->mc->name : "empty";
	row[7] = c[0];
	row[8] = c[1];
	row[9] = c[2];
	row[10] = c[3];
	row[11] = c[4];
	row[12] = r->error ? r->error_msg : "";
	row[13] = gb_library_is_debug() ? "debug" : "release";
	if (csv_add_row(s->t, row, ARRAY_SIZE(row)))
		s->err = ENOMEM;
}

int micro_filter_check(const char *filter)
{
	regex_t re;
	char name[160];
	bool any = false;

	if (!filter || !*filter)
		return 0;
	if (regcomp(&re, filter, REG_EXTENDED | REG_NOSUB))
		return EINVAL;
	any = !regexec(&re, "harness/shim/empty", 0, NULL, 0) ||
	      !regexec(&re, "native/empty", 0, NULL, 0);
	for (const struct family *const *f = families; *f && !any; f++) {
		const struct impl_info *i;

		if (!(*f)->micro)
			continue;
		/* Both the short name and Google Benchmark's full one, which a
		 * filter ending in '$' must match: ".../real_time/threads:N". */
		for_each_impl(*f, i, p)
			for (const struct micro_case *mc = (*f)->micro->cases; mc->name; mc++)
				for (int c = 0; c < 4; c++) {
					unsigned nt = mc->threads ? mc->threads : 2;
					bool multi = c & 1 || mc->threads;

					snprintf(name, sizeof(name), "%s/%s/%s%s", (*f)->name,
						 i->name, mc->name,
						 c & 1 && !mc->threads ? "/contended" : "");
					if (c & 2)
						snprintf(name + strlen(name), sizeof(name) - strlen(name),
							 multi ? "/real_time/threads:%u" : "/real_time", nt);
					any |= !regexec(&re, name, 0, NULL, 0);
				}
	}
	regfree(&re);
	return any ? 0 : ENOENT;
}

/*
 * A thread that only waits.  While a process has never had a second
 * thread, glibc takes its single-threaded shortcuts: a pthread mutex
 * lock/unlock costs 4.9 ns here instead of 24 ns, because the lock prefix
 * is skipped.  Whichever benchmark ran before the first contended one
 * would measure that, which no service ever sees; this thread makes every
 * benchmark run in a multi-threaded process.
 */
static void *bystander(void *arg)
{
	int fd = *(int *)arg;
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

int micro_run(const struct micro_opts *o, const char *dir, const char *run_id,
	      const char *host, const char *topo_sum, FILE *log)
{
	static const char *const hdr[] = {
		"run_id", "host", "topology", "benchmark", "family", "impl", "case",
		"threads", "rep", "iterations", "real_ns_per_op", "cpu_ns_per_op",
		"error", "library_build",
	};
	struct sink s = { .run_id = run_id, .host = host, .topo = topo_sum };
	struct gb_run_opts go = {
		.filter = o->filter,
		.repetitions = o->reps,
		.min_time_s = o->min_time_s,
		.interleave = true,
		.quiet = o->quiet,
	};
	char json[PATH_MAX], csvp[PATH_MAX], err[256];
	struct topo *topo = NULL;
	size_t cap = 256;
	int rc;

	if (topo_load(&topo, NULL, err, sizeof(err))) {
		fprintf(log, "contend: %s\n", err);
		return EIO;
	}
	s.mbs = calloc(cap, sizeof(*s.mbs));
	s.t = csv_new();
	if (!s.mbs || !s.t || csv_set_header(s.t, hdr, ARRAY_SIZE(hdr))) {
		rc = ENOMEM;
		goto out;
	}
	for (const struct family *const *f = families; *f; f++) {
		const struct impl_info *i;

		if (!(*f)->micro)
			continue;
		for_each_impl(*f, i, p) {
			if (i->flags & IMPL_TEST_ONLY || i->unsupported)
				continue;
			for (const struct micro_case *mc = (*f)->micro->cases; mc->name; mc++) {
				unsigned lo = mc->threads ? mc->threads : 1;
				unsigned hi = mc->threads ? mc->threads :
					      mc->contended ? o->max_threads : 1;

				for (unsigned t = lo; t <= hi; t = t < 2 ? 2 : t * 2) {
					struct mb *b;

					if (s.nmb == cap) {
						rc = ENOMEM;
						goto out;
					}
					b = &s.mbs[s.nmb];
					b->mc = mc;
					b->impl = i;
					b->family = (*f)->name;
					b->threads = t;
					b->topo = topo;
					b->plan = calloc(t, sizeof(int));
					b->obj = NULL;
					b->failed = false;
					pthread_mutex_init(&b->lock, NULL);
					if (!b->plan) {
						rc = ENOMEM;
						goto out;
					}
					topo_plan(topo, PLACE_COMPACT, t, b->plan);
					snprintf(b->name, sizeof(b->name), "%s/%s/%s%s",
						 (*f)->name, i->name, mc->name,
						 t > 1 && !mc->threads ? "/contended" : "");
					s.nmb++;
					rc = gb_register(b->name, mb_body, b, t);
					if (rc)
						goto out;
				}
			}
		}
	}
	gb_register("harness/shim/empty", shim_empty, NULL, 1);
	gb_register_native_empty();

	snprintf(json, sizeof(json), "%s/micro.json", dir);
	snprintf(csvp, sizeof(csvp), "%s/micro.csv", dir);
	go.json_path = json;
	{
		int fds[2] = { -1, -1 };
		pthread_t by;
		bool have = !pipe(fds) &&
			    !pthread_create(&by, NULL, bystander, &fds[0]);

		rc = gb_run(&go, on_result, &s);
		if (fds[1] >= 0)
			close(fds[1]);	/* the bystander's read returns 0 */
		if (have)
			pthread_join(by, NULL);
		if (fds[0] >= 0)
			close(fds[0]);
	}
	if (rc == EINVAL) {
		fprintf(log, "contend: micro: the filter '%s' matches no benchmark\n",
			o->filter ? o->filter : "");
		goto out;
	}
	if (!rc)
		rc = s.err;
	if (!rc)
		rc = csv_save(s.t, csvp);
	if (rc)
		fprintf(log, "contend: micro: %s\n", strerror(rc));
out:
	for (size_t k = 0; k < s.nmb; k++) {
		mb_release(&s.mbs[k]);
		pthread_mutex_destroy(&s.mbs[k].lock);
		free(s.mbs[k].plan);
	}
	free(s.mbs);
	csv_free(s.t);
	topo_free(topo);
	return rc;
}
