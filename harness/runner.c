/* SPDX-License-Identifier: MIT */
/*
 * One trial:
 *   1. the workload builds its shared state (setup);
 *   2. N threads are created with every signal blocked, each binds itself
 *      to its planned PU and waits at the start gate (a barrier of N + 1);
 *   3. the main thread passes the gate, sleeps the warm-up, flips the phase
 *      to MEASURE (each worker then zeroes its own counters and picks its
 *      latency sampling period), sleeps the duration, flips it to STOP;
 *   4. the workers return, the runner reduces their padded per-thread
 *      counters and histograms, and the workload checks its invariants.
 * Repetitions are the outer loop and implementations the inner one, so a
 * drift in the machine (a noisy neighbour, thermal state) lands on every
 * implementation alike; the order rotates each repetition.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "runner.h"
#include "stats.h"

/* Timing a sampled op costs ~2 clock reads + a histogram record: keep the
 * sum under 1% of the time the thread spends per operation. */
#define SAMPLE_BUDGET 0.01
#define SAMPLE_RECORD_NS 5.0
#define SAMPLE_MAX_PERIOD (1u << 20)
/* Worker stacks: ample for any workload, small enough for 10k threads. */
#define WORKER_STACK (256 * 1024)
/* A worker that has not returned this long after STOP is reported hung. */
#define JOIN_GRACE_NS (30ull * 1000000000u)

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

void runner_install_sigint(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sa.sa_flags = SA_RESETHAND;	/* a second Ctrl-C kills at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

bool runner_interrupted(void)
{
	return interrupted;
}

/* This thread's context switches so far: voluntary and involuntary. */
static void thread_csw(long *v, long *iv)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru)) {
		*v = *iv = 0;
		return;
	}
	*v = ru.ru_nvcsw;
	*iv = ru.ru_nivcsw;
}

/* Sum of all CPU time and the steal part, from /proc/stat's "cpu" line. */
static bool read_steal(unsigned long long *total, unsigned long long *steal)
{
	unsigned long long f[8] = { 0 };
	FILE *fp = fopen("/proc/stat", "r");
	int n;

	if (!fp)
		return false;
	n = fscanf(fp, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &f[0],
		   &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7]);
	fclose(fp);
	if (n < 8)
		return false;
	*total = 0;
	for (int i = 0; i < 8; i++)
		*total += f[i];
	*steal = f[7];
	return true;
}

bool worker_enter_phase(struct worker *w, int phase)
{
	struct trial *t = w->trial;

	if (phase == PHASE_MEASURE && w->phase == PHASE_WARMUP) {
		uint64_t now = now_ns();

		w->ops = w->errors = w->handoffs = w->shed = 0;
		memset(w->extra, 0, sizeof(w->extra));
		if (w->lat) {
			double per_op, p = 1;

			hist_init(w->lat);
			if (t->wl->sampled) {
				per_op = (double)(now - w->warm_start) /
					 (double)(w->warm_ops ? w->warm_ops : 1);
				p = ceil((2 * clock_info.read_ns + SAMPLE_RECORD_NS) /
					 (SAMPLE_BUDGET * per_op));
				if (p < 1)
					p = 1;
				if (p > SAMPLE_MAX_PERIOD)
					p = SAMPLE_MAX_PERIOD;
			}
			w->sample_every = (uint64_t)p;
			w->sample_left = 1 + worker_rand(w) % w->sample_every;
		}
		w->cpu_start = sched_getcpu();
		thread_csw(&w->vcsw, &w->ivcsw);
		w->phase = PHASE_MEASURE;
		return true;
	}
	if (phase == PHASE_STOP) {
		long v, iv;

		if (w->phase == PHASE_WARMUP) {
			/* Blocked through the whole measured phase. */
			w->ops = w->errors = w->handoffs = w->shed = 0;
			w->cpu_start = sched_getcpu();
			thread_csw(&w->vcsw, &w->ivcsw);
			if (w->lat)
				hist_init(w->lat);
		}
		thread_csw(&v, &iv);
		w->vcsw = v - w->vcsw;
		w->ivcsw = iv - w->ivcsw;
		w->cpu_end = sched_getcpu();
		w->phase = PHASE_STOP;
		return false;
	}
	w->phase = phase;
	return true;
}

struct thread_arg {
	struct worker *w;
	struct topo *topo;
	pthread_barrier_t *gate;
	int bind_err;
};

static void *worker_main(void *p)
{
	struct thread_arg *a = p;
	struct worker *w = a->w;

	a->bind_err = topo_bind_self(a->topo, w->plan_pu);
	/* Sleeps end when asked, not up to 50 us later (the default slack). */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	pthread_barrier_wait(a->gate);
	w->warm_start = now_ns();
	w->trial->wl->thread(w);
	if (w->phase != PHASE_STOP)	/* the workload returned early */
		worker_enter_phase(w, PHASE_STOP);
	return NULL;
}

/* Sleep ns unless Ctrl-C comes first; false if interrupted. */
static bool sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };

	while (!interrupted && nanosleep(&ts, &ts) && errno == EINTR)
		;
	return !interrupted;
}

static unsigned machine_pus(const struct topo *t)
{
	cpu_set_t set;

	if (!sched_getaffinity(0, sizeof(set), &set))
		return (unsigned)CPU_COUNT(&set);
	return topo_npus(t);
}

static void list_append(char *buf, size_t len, const char *item)
{
	size_t used = strlen(buf);

	if (used + 1 < len)
		snprintf(buf + used, len - used, "%s%s", used ? ";" : "", item);
}

static void reduce(struct trial *t, struct trial_result *r, const int *plan)
{
	double *ops = calloc(t->nthreads, sizeof(*ops));
	uint64_t handoffs = 0;
	unsigned counted = 0;
	char item[32];

	r->ops = 0;
	r->ops_min = UINT64_MAX;
	r->ops_max = 0;
	for (unsigned i = 0; i < t->nthreads; i++) {
		struct worker *w = &t->workers[i];

		if (!w->aux) {	/* sources and producers are not the work */
			r->ops += w->ops;
			if (w->ops < r->ops_min)
				r->ops_min = w->ops;
			if (w->ops > r->ops_max)
				r->ops_max = w->ops;
			if (ops)
				ops[counted] = (double)w->ops;
			counted++;
		}
		handoffs += w->handoffs;
		r->errors += w->errors;
		r->violations += w->violations;
		r->shed += w->shed;
		if (w->sample_every > r->sample_every)
			r->sample_every = w->sample_every;
		if (r->lat && w->lat)
			hist_merge(r->lat, w->lat);
		if (plan[i] < 0)
			snprintf(item, sizeof(item), "-");
		else
			snprintf(item, sizeof(item), "%d", plan[i]);
		list_append(r->plan, sizeof(r->plan), item);
		snprintf(item, sizeof(item), "%d", w->cpu_end);
		list_append(r->cpus, sizeof(r->cpus), item);
		if (w->cpu_start != w->cpu_end)
			r->migrated++;
		r->vcsw += w->vcsw;
		r->ivcsw += w->ivcsw;
	}
	if (!counted)
		r->ops_min = 0;
	r->jain = ops && counted ? jain_index(ops, counted) : NAN;
	if (!r->ops)
		fprintf(stderr, "\ncontend: warning: %s/%s with %u threads completed no operation in %.3f s\n",
			t->wl->family, t->impl->name, t->nthreads,
			(double)t->measure_ns / 1e9);
	r->starved = starved((double)r->ops_min, (double)r->ops_max);
	r->handoff_rate = t->wl->handoff && r->ops ?
		(double)handoffs / (double)r->ops : NAN;
	r->duration_s = (double)t->measure_ns / 1e9;
	r->throughput = (double)r->ops / r->duration_s;
	free(ops);
}

/*
 * Run one trial into r.  Returns 0, EINTR (abandoned by Ctrl-C: r is not
 * valid), or an error from setup or thread creation.
 */
static int run_trial(const struct run_config *cfg, struct trial *t,
		     enum placement placement, struct trial_result *r)
{
	struct thread_arg *args;
	pthread_t *tids;
	pthread_barrier_t gate;
	pthread_attr_t tattr;
	int *plan;
	unsigned started = 0;
	unsigned long long tot0 = 0, st0 = 0, tot1 = 0, st1 = 0;
	bool have_steal;
	uint64_t t0;
	sigset_t all, old;
	int rc;

	plan = calloc(t->nthreads, sizeof(*plan));
	args = calloc(t->nthreads, sizeof(*args));
	tids = calloc(t->nthreads, sizeof(*tids));
	t->workers = aligned_alloc(CACHELINE, t->nthreads * sizeof(*t->workers));
	if (!plan || !args || !tids || !t->workers) {
		rc = ENOMEM;
		goto out_free;
	}
	memset(t->workers, 0, t->nthreads * sizeof(*t->workers));
	rc = topo_plan(cfg->topo, placement, t->nthreads, plan);
	if (rc)
		goto out_free;
	for (unsigned i = 0; i < t->nthreads; i++) {
		struct worker *w = &t->workers[i];

		w->trial = t;
		w->id = i;
		w->plan_pu = plan[i];
		w->cpu_start = w->cpu_end = -1;
		w->rng = (0x9e3779b97f4a7c15u * (i + 1)) ^ (uint64_t)now_ns() ^
			 ((uint64_t)t->nthreads << 32);
		if (!w->rng)
			w->rng = 1;
		if (t->latency) {
			w->lat = malloc(sizeof(*w->lat));
			if (!w->lat) {
				rc = ENOMEM;
				goto out_hists;
			}
			hist_init(w->lat);
		}
	}
	atomic_store(&t->phase, PHASE_WARMUP);
	rc = t->wl->setup(t);
	if (rc)
		goto out_hists;

	pthread_barrier_init(&gate, NULL, t->nthreads + 1);
	/* Small stacks: ten thousand waiters must fit (workloads recurse little). */
	pthread_attr_init(&tattr);
	pthread_attr_setstacksize(&tattr, WORKER_STACK);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < t->nthreads; i++) {
		args[i] = (struct thread_arg){ &t->workers[i], cfg->topo, &gate, 0 };
		if (pthread_create(&tids[i], &tattr, worker_main, &args[i])) {
			rc = EAGAIN;
			break;
		}
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&tattr);
	if (started < t->nthreads) {
		/* Cannot release a partial gate: report and give up. */
		fprintf(stderr, "contend: cannot create thread %u of %u\n",
			started + 1, t->nthreads);
		exit(3);
	}

	pthread_barrier_wait(&gate);
	sleep_ns(cfg->warmup_ns);
	have_steal = read_steal(&tot0, &st0);
	atomic_store_explicit(&t->phase, PHASE_MEASURE, memory_order_release);
	t0 = now_ns();
	sleep_ns(cfg->duration_ns);
	atomic_store_explicit(&t->phase, PHASE_STOP, memory_order_release);
	t->measure_ns = now_ns() - t0;
	if (have_steal && read_steal(&tot1, &st1) && tot1 > tot0)
		r->steal_pct = 100.0 * (double)(st1 - st0) / (double)(tot1 - tot0);
	else
		r->steal_pct = NAN;

	for (unsigned i = 0; i < t->nthreads; i++) {
		struct timespec until;

		/* pthread_timedjoin_np takes a CLOCK_REALTIME deadline. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)(JOIN_GRACE_NS / 1000000000u);
		if (pthread_timedjoin_np(tids[i], NULL, &until)) {
			fprintf(stderr, "\ncontend: %s/%s: thread %u did not return %llu s after the stop flag; the implementation hangs\n",
				t->wl->family, t->impl->name, i,
				JOIN_GRACE_NS / 1000000000ull);
			exit(1);
		}
	}
	pthread_barrier_destroy(&gate);
	for (unsigned i = 0; i < t->nthreads; i++)
		if (args[i].bind_err)
			fprintf(stderr, "\ncontend: warning: thread %u could not be bound to PU %d: %s\n",
				i, plan[i], strerror(args[i].bind_err));

	if (interrupted) {
		rc = EINTR;
	} else {
		reduce(t, r, plan);
		t->wl->finish(t, &r->extra);
		/* finish() may have counted violations on worker 0. */
		r->violations = 0;
		for (unsigned i = 0; i < t->nthreads; i++)
			r->violations += t->workers[i].violations;
	}
	t->wl->teardown(t);
out_hists:
	for (unsigned i = 0; t->workers && i < t->nthreads; i++)
		free(t->workers[i].lat);
out_free:
	free(t->workers);
	t->workers = NULL;
	free(tids);
	free(args);
	free(plan);
	return rc;
}

unsigned runner_combos(const struct run_config *cfg)
{
	unsigned n = 1;

	for (unsigned p = 0; cfg->wl->params[p].name; p++)
		n *= cfg->nvalues[p];
	return n;
}

void runner_combo(const struct run_config *cfg, unsigned k, double *param)
{
	for (unsigned p = 0; cfg->wl->params[p].name; p++) {
		param[p] = cfg->values[p][k % cfg->nvalues[p]];
		k /= cfg->nvalues[p];
	}
}

unsigned runner_count(const struct run_config *cfg)
{
	return cfg->reps * runner_combos(cfg) * cfg->nthreads *
	       cfg->nplacements * cfg->nimpls * cfg->nlatency;
}

static void fmt_hms(char *buf, size_t len, double s)
{
	unsigned v = (unsigned)(s + 0.5);

	snprintf(buf, len, "%u:%02u:%02u", v / 3600, v / 60 % 60, v % 60);
}

static void progress(const struct run_config *cfg, unsigned done,
		     unsigned total, uint64_t start, const struct trial *t,
		     enum placement pl, unsigned rep)
{
	static int tty = -1;
	double elapsed = (double)(mono_ns() - start) / 1e9;
	double per = done ? elapsed / done :
		(double)(cfg->warmup_ns + cfg->duration_ns) / 1e9;
	char el[16], eta[16];

	if (tty < 0)
		tty = isatty(2);
	fmt_hms(el, sizeof(el), elapsed);
	fmt_hms(eta, sizeof(eta), per * (total - done));
	fprintf(stderr, "%s[%u/%u] %s %s threads=%u %s rep %u  elapsed %s  left ~%s%s",
		tty ? "\r\033[K" : "", done + 1, total, t->wl->name,
		t->impl->name, t->nthreads, placement_name(pl), rep,
		el, eta, tty ? "" : "\n");
}

int runner_run(const struct run_config *cfg, trial_sink sink, void *arg)
{
	unsigned total = runner_count(cfg), done = 0, seq = 0;
	unsigned combos = runner_combos(cfg), npus = machine_pus(cfg->topo);
	uint64_t start = mono_ns();
	int rc = 0;

	for (unsigned rep = 0; rep < cfg->reps && !rc; rep++)
	for (unsigned k = 0; k < combos && !rc; k++)
	for (unsigned ti = 0; ti < cfg->nthreads && !rc; ti++)
	for (unsigned pi = 0; pi < cfg->nplacements && !rc; pi++)
	for (unsigned ii = 0; ii < cfg->nimpls && !rc; ii++)
	for (unsigned li = 0; li < cfg->nlatency && !rc; li++) {
		/* Rotate the implementation order each repetition. */
		unsigned r_all = cfg->rep_base + rep;
		const struct impl_info *impl =
			cfg->impls[(ii + r_all) % cfg->nimpls];
		/* Latency on/off alternate first, so the pair sits together. */
		bool latency = cfg->latency[(li + r_all) % cfg->nlatency];
		struct trial t = {
			.wl = cfg->wl,
			.impl = impl,
			.nthreads = cfg->threads[ti],
			.latency = latency,
			.warmup_ns = cfg->warmup_ns,
			.duration_ns = cfg->duration_ns,
		};
		struct trial_result r = { 0 };
		struct hist *merged = NULL;

		runner_combo(cfg, k, t.param);
		seq++;
		if ((cfg->wl->check && cfg->wl->check(impl, t.param)) ||
		    (cfg->wl->check_threads &&
		     cfg->wl->check_threads(t.param, t.nthreads))) {
			done++;
			continue;	/* skipped; the caller reported it */
		}
		progress(cfg, done, total, start, &t, cfg->placements[pi],
			 r_all + 1);
		if (latency) {
			merged = malloc(sizeof(*merged));
			if (!merged)
				return ENOMEM;
			hist_init(merged);
		}
		r.lat = merged;
		rc = run_trial(cfg, &t, cfg->placements[pi], &r);
		if (!rc) {
			r.wl = cfg->wl;
			r.impl = impl;
			memcpy(r.param, t.param, sizeof(r.param));
			r.nthreads = t.nthreads;
			r.placement = cfg->placements[pi];
			r.oversubscribed = t.nthreads > npus;
			r.latency = latency;
			r.rep = r_all + 1;
			r.seq = seq;
			rc = sink(arg, &r);
		}
		free(merged);
		done++;
	}
	if (isatty(2))
		fputs("\r\033[K", stderr);
	return rc;
}
