/* SPDX-License-Identifier: MIT */
/*
 * contend's command line: list, topo, run, bench, stress, plot.
 *
 * Exit codes: 0 success; 1 a check failed (an invariant violation, a
 * stress FAILURE, a hang); 2 bad input (one-line message, nothing
 * written); 3 could not run here (environment); 130 interrupted by Ctrl-C
 * (every completed trial kept).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "compare.h"
#include "gbench.h"
#include "micro.h"
#include "output.h"
#include "parse.h"
#include "report.h"
#include "registry.h"
#include "runner.h"
#include "server.h"
#include "stress.h"
#include "summary.h"
#include "topo.h"
#include "workload.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_ENV 3
#define EXIT_INTR 130

static const char *results_root = "results";

static __attribute__((noreturn, format(printf, 1, 2)))
void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("contend: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

static const char *flags_desc(const struct family *f, const struct impl_info *i)
{
	if (i->flags & IMPL_TEST_ONLY)
		return "test-only";
	if (i->flags & IMPL_FLOOR)
		return "floor";
	if (!f->ordered)
		return "";
	return i->flags & IMPL_FIFO ? "FIFO" : "barging";
}

/* ---- list ---------------------------------------------------------- */

static void print_params(const struct workload *wl, FILE *f)
{
	char v[64];

	for (unsigned i = 0; wl->params[i].name; i++) {
		const struct param_spec *ps = &wl->params[i];

		if (ps->choices)
			snprintf(v, sizeof(v), "%s", ps->choices[(int)ps->def]);
		else
			snprintf(v, sizeof(v), "%.15g", ps->def);
		fprintf(f, "%s%s=%s", i ? " " : "", ps->name, v);
	}
}

static int cmd_list(int argc, char **argv)
{
	const struct impl_info *i;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		puts("usage: contend list\n\nPrints every family, implementation (FIFO or barging) and workload, one per line.");
		return 0;
	}
	if (argc > 1)
		usage_error("list takes no arguments (got '%s')", argv[1]);
	puts("families:");
	for (const struct family *const *f = families; *f; f++)
		printf("  %-22s %s\n", (*f)->name, (*f)->desc);
	puts("implementations:");
	for (const struct family *const *f = families; *f; f++) {
		for_each_impl(*f, i, p) {
			char name[64];

			snprintf(name, sizeof(name), "%s/%s", (*f)->name, i->name);
			printf("  %-22s %-9s %s%s%s\n", name, flags_desc(*f, i),
			       i->desc, i->unsupported ? "; unsupported here: " : "",
			       i->unsupported ? i->unsupported : "");
		}
	}
	puts("workloads:");
	for (const struct workload *const *w = workloads; *w; w++) {
		printf("  %-22s %s (", (*w)->name, (*w)->desc);
		print_params(*w, stdout);
		puts(")");
	}
	return 0;
}

/* ---- topo ---------------------------------------------------------- */

static int cmd_topo(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "placement", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "topology", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	enum placement pl[4] = { PLACE_COMPACT, PLACE_SCATTER, PLACE_CORES };
	unsigned npl = 3, nthreads = 0;
	const char *spec = NULL, *threads_arg = NULL;
	char err[512];
	struct topo *t;
	int c, *plan;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_placements(optarg, pl, &npl, 4, err, sizeof(err)))
				usage_error("%s", err);
			break;
		case 't':
			threads_arg = optarg;
			break;
		case 'T':
			spec = optarg;
			break;
		case 'h':
			puts("usage: contend topo [--topology SPEC|FILE.xml] [--placement P[,P]] [--threads N|max]\n\n"
			     "Prints the topology (this machine, an hwloc synthetic description such as\n"
			     "'package:2 numa:2 core:4 pu:2', or an XML file) and the PU each thread\n"
			     "would be pinned to under each placement policy.");
			return 0;
		default:
			exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (topo_load(&t, spec, err, sizeof(err)))
		usage_error("%s", err);
	nthreads = topo_npus(t);
	if (threads_arg && parse_uint("thread count", threads_arg, 1, MAX_THREADS,
				      &nthreads, err, sizeof(err))) {
		if (strcmp(threads_arg, "max")) {
			topo_free(t);
			usage_error("%s", err);
		}
	}
	topo_print(t, stdout);
	if (!topo_is_this_machine(t))
		printf("(a picture for planning: binding to it is a no-op)\n");
	plan = calloc(nthreads, sizeof(*plan));
	for (unsigned k = 0; plan && k < npl; k++) {
		if (pl[k] == PLACE_NONE) {
			printf("placement none: threads are not pinned\n");
			continue;
		}
		topo_plan(t, pl[k], nthreads, plan);
		printf("placement %s, %u threads:\n", placement_name(pl[k]), nthreads);
		for (unsigned i = 0; i < nthreads; i++) {
			const struct topo_pu *pu = topo_pu(t, (unsigned)plan[i]);

			printf("  thread %-4u -> PU L#%-4u P#%-4u core %-4u numa %-3u package %u%s\n",
			       i, pu->logical, pu->os_index, pu->core, pu->numa,
			       pu->package, i >= topo_npus(t) ? "  (oversubscribed)" : "");
		}
	}
	free(plan);
	topo_free(t);
	return 0;
}

/* ---- run ----------------------------------------------------------- */

/* "2%", "2" (both percent) -> 0.02 */
static double parse_percent(const char *what, const char *s)
{
	char buf[64], err[256];
	double v;

	snprintf(buf, sizeof(buf), "%s", s);
	if (*buf && buf[strlen(buf) - 1] == '%')
		buf[strlen(buf) - 1] = '\0';
	if (parse_number(what, buf, 0, 1000, &v, err, sizeof(err)))
		usage_error("invalid %s '%s': expected a percentage such as 2%%", what, s);
	return v / 100;
}


struct run_args {
	struct run_config cfg;
	const char *out;
	double ci_target;	/* relative CI half-width to reach, 0 = off */
	unsigned max_reps;
};

static void run_help(void)
{
	puts("usage: contend run WORKLOAD [options]\n\n"
	     "  --impl a,b|all         implementations of the workload's family (default all;\n"
	     "                         test-only negative controls only when named)\n"
	     "  --threads 1,2,4|max    thread counts (default 1,max); more than the PUs is\n"
	     "                         run and labelled oversubscribed\n"
	     "  --placement P[,P]      compact, scatter, cores or none (default compact)\n"
	     "  --duration 1s          measured time per trial\n"
	     "  --warmup 200ms         unmeasured time before it\n"
	     "  --reps N               repetitions, implementations interleaved (default 3)\n"
	     "  --param key=v[,v]      a workload parameter; a list sweeps it\n"
	     "  --latency on|off|on,off  record latency; on,off interleaves trials with and\n"
	     "                         without it, to measure what recording costs\n"
	     "  --no-latency           the same as --latency off\n"
	     "  --out DIR              run folder (default results/<run-id>, and results/latest)\n"
	     "  --ci-target PCT        keep adding interleaved repetitions until every group's\n"
	     "                         throughput median has a 95% CI within +-PCT\n"
	     "  --max-reps N           ...or N repetitions have run (default 30)\n\n"
	     "`contend list` shows the workloads and their parameters.");
}

static void impl_list_error(const struct family *f, const char *name)
{
	char names[512];

	family_impl_names(f, names, sizeof(names));
	usage_error("unknown %s implementation '%s' (valid: %s)", f->name, name, names);
}

static void parse_impls(struct run_config *cfg, const struct family *f,
			const char *arg)
{
	char buf[512], *save = NULL, *tok;
	const struct impl_info *i;

	cfg->nimpls = 0;
	if (!strcmp(arg, "all")) {
		for_each_impl(f, i, p)
			if (!(i->flags & (IMPL_TEST_ONLY | IMPL_FLOOR)) && !i->unsupported)
				cfg->impls[cfg->nimpls++] = i;
		return;
	}
	snprintf(buf, sizeof(buf), "%s", arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		i = family_impl(f, tok);
		if (!i)
			impl_list_error(f, tok);
		if (i->unsupported)
			usage_error("%s/%s cannot run here: %s", f->name, i->name, i->unsupported);
		for (unsigned k = 0; k < cfg->nimpls; k++)
			if (cfg->impls[k] == i)
				usage_error("implementation '%s' given twice", tok);
		if (cfg->nimpls == MAX_IMPLS)
			usage_error("too many implementations");
		cfg->impls[cfg->nimpls++] = i;
	}
	if (!cfg->nimpls)
		usage_error("--impl needs at least one implementation");
}

static void parse_param(struct run_config *cfg, const char *arg, bool *seen)
{
	const struct workload *wl = cfg->wl;
	char key[64], buf[512], err[256], *save = NULL, *tok;
	const char *eq = strchr(arg, '=');
	unsigned p;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(key))
		usage_error("invalid --param '%s': expected key=value", arg);
	snprintf(key, sizeof(key), "%.*s", (int)(eq - arg), arg);
	for (p = 0; wl->params[p].name; p++)
		if (!strcmp(wl->params[p].name, key))
			break;
	if (!wl->params[p].name) {
		char names[256] = "";

		for (unsigned k = 0; wl->params[k].name; k++) {
			strcat(names, k ? " " : "");
			strcat(names, wl->params[k].name);
		}
		usage_error("unknown parameter '%s' for %s (valid: %s)", key, wl->name, names);
	}
	if (seen[p])
		usage_error("parameter '%s' given twice", key);
	seen[p] = true;
	snprintf(buf, sizeof(buf), "%s", eq + 1);
	cfg->nvalues[p] = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const struct param_spec *ps = &wl->params[p];
		double v = 0;

		if (cfg->nvalues[p] == MAX_LIST)
			usage_error("too many values for '%s'", key);
		if (ps->choices) {
			unsigned c;

			for (c = 0; ps->choices[c]; c++)
				if (!strcmp(ps->choices[c], tok))
					break;
			if (!ps->choices[c]) {
				char valid[256] = "";

				for (c = 0; ps->choices[c]; c++)
					snprintf(valid + strlen(valid), sizeof(valid) - strlen(valid),
						 "%s%s", c ? " " : "", ps->choices[c]);
				usage_error("invalid %s '%s' (valid: %s)", key, tok, valid);
			}
			v = c;
		} else if (parse_number(key, tok, ps->min, ps->max, &v, err, sizeof(err))) {
			usage_error("%s", err);
		} else if (v != floor(v) && !ps->real) {
			usage_error("invalid %s '%s': must be a whole number", key, tok);
		}
		cfg->values[p][cfg->nvalues[p]++] = v;
	}
	if (!cfg->nvalues[p])
		usage_error("invalid --param '%s': no value", arg);
}

/*
 * Parse `run WORKLOAD ...` into ra.  Exits 2 with a one-line message on
 * bad input; nothing has been written yet.
 */
static void parse_run(int argc, char **argv, struct run_args *ra,
		      struct topo *machine)
{
	static const struct option opts[] = {
		{ "impl", required_argument, NULL, 'i' },
		{ "threads", required_argument, NULL, 't' },
		{ "placement", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "reps", required_argument, NULL, 'r' },
		{ "param", required_argument, NULL, 'P' },
		{ "no-latency", no_argument, NULL, 'L' },
		{ "latency", required_argument, NULL, 'l' },
		{ "out", required_argument, NULL, 'o' },
		{ "ci-target", required_argument, NULL, 'C' },
		{ "max-reps", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct run_config *cfg = &ra->cfg;
	const char *impl_arg = "all", *threads_arg = "1,max";
	bool seen[MAX_PARAMS] = { false }, reps_given = false;
	char err[512], names[512];
	const struct family *f;
	int c;

	memset(ra, 0, sizeof(*ra));
	cfg->placements[0] = PLACE_COMPACT;
	cfg->nplacements = 1;
	cfg->duration_ns = 1000000000u;
	cfg->warmup_ns = 200000000u;
	cfg->reps = 3;
	cfg->latency[0] = true;
	cfg->nlatency = 1;
	cfg->topo = machine;

	/* Options may come before or after the workload name. */
	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': impl_arg = optarg; break;
		case 't': threads_arg = optarg; break;
		case 'p':
			if (parse_placements(optarg, cfg->placements, &cfg->nplacements,
					     4, err, sizeof(err)))
				usage_error("%s", err);
			break;
		case 'd':
			if (parse_duration(optarg, &cfg->duration_ns, err, sizeof(err)))
				usage_error("%s", err);
			break;
		case 'w':
			if (parse_duration(optarg, &cfg->warmup_ns, err, sizeof(err)))
				usage_error("%s", err);
			break;
		case 'r':
			if (parse_uint("repetition count", optarg, 1, 1000, &cfg->reps,
				       err, sizeof(err)))
				usage_error("%s", err);
			reps_given = true;
			break;
		case 'C':
			ra->ci_target = parse_percent("--ci-target", optarg);
			if (ra->ci_target <= 0)
				usage_error("invalid --ci-target '%s': must be positive", optarg);
			break;
		case 'M':
			if (parse_uint("--max-reps", optarg, 1, 1000, &ra->max_reps,
				       err, sizeof(err)))
				usage_error("%s", err);
			break;
		case 'L':
			cfg->latency[0] = false;
			cfg->nlatency = 1;
			break;
		case 'l':
			if (!strcmp(optarg, "on") || !strcmp(optarg, "off")) {
				cfg->latency[0] = !strcmp(optarg, "on");
				cfg->nlatency = 1;
			} else if (!strcmp(optarg, "on,off") || !strcmp(optarg, "off,on")) {
				cfg->latency[0] = !strncmp(optarg, "on", 2);
				cfg->latency[1] = !cfg->latency[0];
				cfg->nlatency = 2;
			} else {
				usage_error("invalid --latency '%s' (valid: on off on,off)", optarg);
			}
			break;
		case 'P':
		case 'o':
			break;	/* need the workload first: second pass */
		case 'h':
			run_help();
			exit(0);
		default:
			exit(EXIT_USAGE);
		}
	}
	if (ra->max_reps && !ra->ci_target)
		usage_error("--max-reps goes with --ci-target");
	if (ra->ci_target) {
		if (!ra->max_reps)
			ra->max_reps = 30;
		/* Fewer than 6 can never give a 95% order-statistic CI. */
		if (!reps_given)
			cfg->reps = 6;
		if (cfg->reps > ra->max_reps)
			usage_error("--reps %u is more than --max-reps %u", cfg->reps, ra->max_reps);
	}
	if (optind >= argc) {
		workload_names(names, sizeof(names));
		usage_error("run needs a workload (valid: %s)", names);
	}
	if (optind + 1 < argc)
		usage_error("unexpected argument '%s'", argv[optind + 1]);
	cfg->wl = workload_find(argv[optind]);
	if (!cfg->wl) {
		workload_names(names, sizeof(names));
		usage_error("unknown workload '%s' (valid: %s)", argv[optind], names);
	}
	f = family_find(cfg->wl->family);
	parse_impls(cfg, f, impl_arg);
	if (parse_uint_list("thread count", threads_arg, topo_npus(machine),
			    MAX_THREADS, cfg->threads, &cfg->nthreads, MAX_LIST,
			    err, sizeof(err)))
		usage_error("%s", err);
	/* Drop duplicate thread counts ("1,max" on a 1-PU machine). */
	for (unsigned a = 0; a < cfg->nthreads; a++)
		for (unsigned b = a + 1; b < cfg->nthreads; b++)
			if (cfg->threads[a] == cfg->threads[b])
				cfg->threads[b--] = cfg->threads[--cfg->nthreads];
	for (unsigned p = 0; cfg->wl->params[p].name; p++) {
		cfg->values[p][0] = cfg->wl->params[p].def;
		cfg->nvalues[p] = 1;
	}
	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'P')
			parse_param(cfg, optarg, seen);
		else if (c == 'o')
			ra->out = optarg;
	}
}

struct sink_ctx {
	struct output *out;
	unsigned violations;
	unsigned errors;
};

static void human_rate(char *buf, size_t len, double v)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.2f Gops/s", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.2f Mops/s", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.2f kops/s", v / 1e3);
	else
		snprintf(buf, len, "%.1f ops/s", v);
}

static void human_ns(char *buf, size_t len, double ns)
{
	if (ns >= 1e9)
		snprintf(buf, len, "%.2f s", ns / 1e9);
	else if (ns >= 1e6)
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	else if (ns >= 1e3)
		snprintf(buf, len, "%.2f us", ns / 1e3);
	else
		snprintf(buf, len, "%.0f ns", ns);
}

/* One greppable summary line per trial, then the CSV row. */
static int print_and_store(void *arg, const struct trial_result *r)
{
	struct sink_ctx *sc = arg;
	char rate[32], p50[32] = "-", p99[32] = "-", ho[32] = "";

	human_rate(rate, sizeof(rate), r->throughput);
	if (r->lat && r->lat->count) {
		human_ns(p50, sizeof(p50), (double)hist_percentile(r->lat, 50));
		human_ns(p99, sizeof(p99), (double)hist_percentile(r->lat, 99));
	}
	if (!isnan(r->handoff_rate))
		snprintf(ho, sizeof(ho), "  handoff %.3f", r->handoff_rate);
	printf("%s %-8s threads=%-3u %-8s rep %-2u %14s  p50 %9s  p99 %9s  jain %.3f%s%s%s\n",
	       r->wl->name, r->impl->name, r->nthreads,
	       placement_name(r->placement), r->rep, rate, p50, p99, r->jain,
	       ho, r->oversubscribed ? "  oversubscribed" : "",
	       r->violations ? "  VIOLATIONS" : "");
	fflush(stdout);
	sc->violations += r->violations ? 1 : 0;
	sc->errors += r->errors ? 1 : 0;
	return output_add(sc->out, r);
}

/* " key=value" for every parameter that is swept or not at its default. */
static void fmt_params(const struct run_config *cfg, const double *param,
		       char *buf, size_t len)
{
	buf[0] = '\0';
	for (unsigned p = 0; cfg->wl->params[p].name; p++) {
		const struct param_spec *ps = &cfg->wl->params[p];

		if (cfg->nvalues[p] == 1 && param[p] == ps->def)
			continue;
		if (ps->choices)
			snprintf(buf + strlen(buf), len - strlen(buf), " %s=%s",
				 ps->name, ps->choices[(int)param[p]]);
		else
			snprintf(buf + strlen(buf), len - strlen(buf), " %s=%g",
				 ps->name, param[p]);
	}
}

/* Note one skipped combination in meta (out), on log and in first. */
static void note_skip(struct output *out, FILE *log, char *first,
		      size_t firstlen, const char *what)
{
	if (first && !*first)
		snprintf(first, firstlen, "%s", what);
	if (out)
		output_note_skip(out, what);
	if (log)
		fprintf(log, "contend: skipping %s\n", what);
}

/*
 * Walk the combinations the workload's check() or check_threads()
 * refuses.  Each is noted in meta (out) and on log, when given; the first
 * reason is kept in first.  An implementation's refusal is noted once per
 * parameter combination, a thread count's once per combination and thread
 * count.  Returns how many trials remain.
 */
static unsigned note_skips(const struct run_config *cfg, struct output *out,
			   FILE *log, char *first, size_t firstlen)
{
	unsigned combos = runner_combos(cfg), runnable = 0;
	double param[MAX_PARAMS];

	for (unsigned k = 0; k < combos; k++) {
		unsigned impls_ok = 0, threads_ok = 0;
		char what[512], ps[256];

		runner_combo(cfg, k, param);
		fmt_params(cfg, param, ps, sizeof(ps));
		for (unsigned i = 0; i < cfg->nimpls; i++) {
			const char *why = cfg->wl->check ?
				cfg->wl->check(cfg->impls[i], param) : NULL;

			if (!why) {
				impls_ok++;
				continue;
			}
			snprintf(what, sizeof(what), "%s %s%s: %s", cfg->wl->name,
				 cfg->impls[i]->name, ps, why);
			note_skip(out, log, first, firstlen, what);
		}
		for (unsigned t = 0; t < cfg->nthreads; t++) {
			const char *why = cfg->wl->check_threads ?
				cfg->wl->check_threads(param, cfg->threads[t]) : NULL;

			if (!why) {
				threads_ok++;
				continue;
			}
			snprintf(what, sizeof(what), "%s threads=%u%s: %s", cfg->wl->name,
				 cfg->threads[t], ps, why);
			note_skip(out, log, first, firstlen, what);
		}
		runnable += impls_ok * threads_ok;
	}
	return runnable * cfg->reps * cfg->nplacements * cfg->nlatency;
}

/*
 * --ci-target: after the first repetitions, add one interleaved repetition
 * at a time until every group's throughput CI is within the target or
 * max_reps is reached; say which, on stderr and in meta.
 */
static int reach_ci_target(struct run_args *ra, struct output *out,
			   struct sink_ctx *sc)
{
	struct run_config *cfg = &ra->cfg;
	unsigned done = cfg->reps, over = 0;
	double worst = INFINITY;
	char line[256];
	int rc = 0;

	for (;;) {
		const struct csv_table *t = output_table(out, cfg->wl);

		worst = t ? summary_worst_ci(t, "throughput_ops_s", &over, ra->ci_target) : INFINITY;
		if (worst <= ra->ci_target || done >= ra->max_reps || runner_interrupted())
			break;
		cfg->rep_base = done;
		cfg->reps = 1;
		rc = runner_run(cfg, print_and_store, sc);
		if (rc)
			break;
		done++;
	}
	if (worst <= ra->ci_target)
		snprintf(line, sizeof(line), "%s: reached +-%.2f%% after %u repetitions (worst group +-%.2f%%)",
			 cfg->wl->name, ra->ci_target * 100, done, worst * 100);
	else
		snprintf(line, sizeof(line), "%s: not reached: stopped at %u repetitions (max %u); %u group(s) above +-%.2f%%, worst +-%.2f%%",
			 cfg->wl->name, done, ra->max_reps, over, ra->ci_target * 100,
			 worst * 100);
	fprintf(stderr, "ci-target %s\n", line);
	output_note(out, "ci_target", line);
	return rc;
}

static int run_into(struct run_args *ra, struct output *out, int *status)
{
	struct run_config *cfg = &ra->cfg;
	struct sink_ctx sc = { .out = out };
	int rc;

	note_skips(cfg, out, stderr, NULL, 0);
	rc = runner_run(cfg, print_and_store, &sc);
	if (!rc && ra->ci_target)
		rc = reach_ci_target(ra, out, &sc);
	if (rc == EINTR || runner_interrupted()) {
		*status = EXIT_INTR;
		return EINTR;
	}
	if (rc) {
		fprintf(stderr, "contend: %s: %s\n", cfg->wl->name, strerror(rc));
		*status = EXIT_ENV;
		return rc;
	}
	if (sc.violations && *status == 0)
		*status = EXIT_FAIL;
	return 0;
}

static const char *status_word(int status)
{
	switch (status) {
	case 0: return "complete";
	case EXIT_INTR: return "interrupted";
	case EXIT_FAIL: return "complete, with invariant violations";
	default: return "failed";
	}
}

static struct topo *load_machine(void)
{
	struct topo *t;
	char err[512];

	if (topo_load(&t, NULL, err, sizeof(err))) {
		fprintf(stderr, "contend: cannot read this machine's topology: %s\n", err);
		exit(EXIT_ENV);
	}
	return t;
}

static int cmd_run(int argc, char **argv)
{
	struct topo *machine = load_machine();
	struct run_args ra;
	struct output *out;
	char err[512], csv[128], first[512] = "";
	int status = 0;

	parse_run(argc, argv, &ra, machine);
	if (!note_skips(&ra.cfg, NULL, NULL, first, sizeof(first)))
		usage_error("nothing to run: every trial is skipped (%s)", first);
	clock_init();
	if (output_open(&out, ra.out, results_root, argc + 1, argv - 1, err, sizeof(err)))
		usage_error("%s", err);
	runner_install_sigint();
	run_into(&ra, out, &status);
	output_csv_name(ra.cfg.wl->name, csv, sizeof(csv));
	fprintf(stderr, "%s: %s/%s and %s/meta\n",
		status == EXIT_INTR ? "interrupted; completed trials kept in" : "results",
		output_dir(out), csv, output_dir(out));
	output_close(out, status_word(status));
	topo_free(machine);
	return status;
}

/* ---- micro --------------------------------------------------------- */

static void note_gbench(struct output *out)
{
	char line[256];

	snprintf(line, sizeof(line), "%s; the library reports a %s build%s",
		 gb_version(), gb_library_is_debug() ? "debug" : "release",
		 gb_library_is_debug() ?
		 " (Debian's packaging); every implementation is timed by the same library" : "");
	output_note(out, "google_benchmark", line);
}

static int micro_into(const struct micro_opts *mo, struct output *out)
{
	note_gbench(out);
	return micro_run(mo, output_dir(out), output_run_id(out), output_host(out),
			 output_topo(out), stderr);
}

static int cmd_micro(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "filter", required_argument, NULL, 'f' },
		{ "reps", required_argument, NULL, 'r' },
		{ "min-time", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct topo *machine = load_machine();
	struct micro_opts mo = {
		.reps = 9,
		.min_time_s = 0.1,
		.max_threads = topo_npus(machine),
	};
	const char *outdir = NULL;
	struct output *out;
	char err[512];
	uint64_t ns;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f': mo.filter = optarg; break;
		case 'r':
			if (parse_uint("repetition count", optarg, 1, 1000, &mo.reps, err, sizeof(err)))
				usage_error("%s", err);
			break;
		case 'm':
			if (parse_duration(optarg, &ns, err, sizeof(err)))
				usage_error("%s", err);
			mo.min_time_s = (double)ns / 1e9;
			break;
		case 't':
			if (parse_uint("thread count", optarg, 2, MAX_THREADS, &mo.max_threads,
				       err, sizeof(err)))
				usage_error("%s", err);
			break;
		case 'o': outdir = optarg; break;
		case 'q': mo.quiet = true; break;
		case 'h':
			puts("usage: contend micro [--filter REGEX] [--reps N] [--min-time 100ms]\n"
			     "                     [--threads N] [--out DIR] [--quiet]\n\n"
			     "Single-operation costs through Google Benchmark, for every implementation\n"
			     "in the registry (the null floor included): uncontended acquire+release,\n"
			     "a failing try_acquire, and acquire+release contended at 2, 4, ... N threads\n"
			     "(default N: the PUs); cases whose threads play roles (chan's pipeline_1p1c)\n"
			     "at their own count.  Real time, threads pinned inside the body,\n"
			     "repetitions interleaved.  Writes micro.csv and micro.json into a run\n"
			     "folder; harness/shim/empty vs native/empty is the shim's own cost.");
			return 0;
		default:
			exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	rc = micro_filter_check(mo.filter);
	if (rc)
		usage_error("invalid --filter '%s': %s", mo.filter,
			    rc == EINVAL ? "not a regular expression" : "matches no benchmark");
	if (output_open(&out, outdir, results_root, argc + 1, argv - 1, err, sizeof(err)))
		usage_error("%s", err);
	rc = micro_into(&mo, out);
	printf("results: %s/micro.csv and micro.json\n", output_dir(out));
	output_close(out, rc ? "failed" : "complete");
	topo_free(machine);
	return rc == EINVAL ? EXIT_USAGE : rc ? EXIT_ENV : 0;
}

/* ---- bench --------------------------------------------------------- */

/*
 * The suites.  `default` fits in under 10 minutes on 2 cores; `long` is
 * the publication-grade sweep (more repetitions for significance tests,
 * longer trials, more thread counts); `smoke` checks in well under a
 * minute that every stage runs (the test suite interrupts it).  Each line
 * is a `contend run`.
 */
static const char *const lines_default[][20] = {
	{ "sema/closed", "--threads", "1,2,4", "--reps", "5", "--duration", "300ms",
	  "--warmup", "100ms", NULL },
	{ "sema/closed", "--threads", "1,2,4", "--param", "hold_ns=500",
	  "--param", "think_ns=500", "--reps", "5", "--duration", "300ms",
	  "--warmup", "100ms", NULL },
	{ "sema/closed", "--threads", "1", "--latency", "on,off", "--reps", "4",
	  "--duration", "300ms", "--warmup", "100ms", NULL },
	{ "sema/closed", "--threads", "2,4", "--param", "permits=4",
	  "--param", "weight=1,2", "--param", "hold_ns=1000", "--reps", "5",
	  "--duration", "300ms", "--warmup", "100ms", NULL },
	{ "sema/open", "--threads", "2", "--param", "rate=100k,300k",
	  "--param", "hold_ns=2000", "--reps", "5", "--duration", "300ms",
	  "--warmup", "100ms", NULL },
	{ "ctx/broadcast", "--threads", "2,11,101,1001", "--reps", "4",
	  "--duration", "400ms", "--warmup", "200ms", NULL },
	{ "ctx/children", "--threads", "1,2", "--reps", "5", "--duration", "300ms",
	  "--warmup", "100ms", NULL },
	{ "ctx/deadline", "--threads", "1", "--param",
	  "timeout_ns=10000,100000,1000000,10000000", "--reps", "4",
	  "--duration", "300ms", "--warmup", "100ms", NULL },
	{ "ctx/rpc", "--threads", "5", "--param",
	  "deadline_ns=250000,500000,1000000,2000000", "--reps", "4",
	  "--duration", "300ms", "--warmup", "100ms", NULL },
	{ "ctx/tree", "--threads", "1", "--param", "depth=1,3", "--param",
	  "breadth=10", "--reps", "4", "--duration", "300ms", "--warmup", "100ms",
	  NULL },
	/* 1p1c and 4p4c at capacity 100, Go's BenchmarkChanProdCons shapes. */
	{ "chan/pipeline", "--threads", "2,8", "--reps", "5", "--duration", "300ms",
	  "--warmup", "100ms", NULL },
	/* About 11 s per chan implementation: 12 configurations x 3 reps. */
	{ "backpressure/overload", "--threads", "2", "--param",
	  "load=0.5,1,2,4", "--param", "strategy=block,queue,shed",
	  "--reps", "3", "--duration", "200ms", "--warmup", "100ms", NULL },
	/*
	 * The rate family, about 11 s per implementation: admitted/bound and
	 * the window check against threads (allow) and blocking wait against
	 * rate; allow() cost far above and below the offered load; policing
	 * against shaping in the inter-departure times.
	 */
	{ "rate/accuracy", "--threads", "1,2", "--param", "rate=1M", "--param",
	  "burst=100", "--reps", "4", "--duration", "200ms", "--warmup", "100ms", NULL },
	/* The target: blocking wait at 100k/s, burst 1. */
	{ "rate/accuracy", "--threads", "1", "--param", "mode=wait", "--param",
	  "rate=10k,100k", "--param", "burst=1", "--reps", "4",
	  "--duration", "200ms", "--warmup", "100ms", NULL },
	{ "rate/contention", "--threads", "1,2", "--reps", "5", "--duration", "200ms",
	  "--warmup", "100ms", NULL },
	{ "rate/contention", "--threads", "2", "--param", "rate=100k", "--reps", "3",
	  "--duration", "200ms", "--warmup", "100ms", NULL },
	{ "rate/shaping", "--threads", "1", "--reps", "5", "--duration", "200ms",
	  "--warmup", "100ms", NULL },
	/*
	 * The drain family: enter+leave against threads (every request pays
	 * it), and shutdown time against the number in flight.
	 */
	{ "drain/hot", "--threads", "1,2,4", "--reps", "4", "--duration", "200ms",
	  "--warmup", "100ms", NULL },
	{ "drain/quiesce", "--threads", "2", "--param", "inflight=1,16,256",
	  "--reps", "3", "--duration", "200ms", "--warmup", "100ms", NULL },
	/*
	 * The loopback server (the seed's 2-slot RPC with 1 s deadlines),
	 * 2 clients: throughput with the drain in the request path (ordered)
	 * and without (naive), and a SIGTERM halfway: what each loses, and
	 * the ordered shutdown's phases.
	 */
	{ "drain/server", "--threads", "3", "--param", "mode=ordered,naive",
	  "--param", "kill_at=0,0.5", "--reps", "3", "--duration", "500ms",
	  "--warmup", "100ms", NULL },
	{ NULL },
};

static const char *const lines_long[][20] = {
	{ "sema/closed", "--threads", "1,2,4,8,max", "--placement", "compact,scatter",
	  "--param", "hold_ns=0,100,1000", "--param", "think_ns=0,1000",
	  "--duration", "2s", "--reps", "11", NULL },
	{ "sema/closed", "--threads", "1", "--latency", "on,off", "--duration", "2s",
	  "--reps", "11", NULL },
	{ "sema/closed", "--threads", "2,4,8", "--param", "permits=4,16",
	  "--param", "weight=1,2,4", "--param", "hold_ns=1000", "--reps", "11",
	  "--duration", "2s", NULL },
	{ "sema/open", "--threads", "2,4", "--param", "rate=50k,100k,200k,400k",
	  "--param", "arrival=fixed,poisson", "--param", "hold_ns=2000",
	  "--reps", "11", "--duration", "2s", NULL },
	{ "ctx/broadcast", "--threads", "2,11,101,1001,10001", "--reps", "11",
	  "--duration", "2s", NULL },
	{ "ctx/children", "--threads", "1,2,4,8", "--reps", "11", "--duration", "2s", NULL },
	{ "ctx/deadline", "--threads", "1,4", "--param",
	  "timeout_ns=10000,100000,1000000,10000000,100000000", "--reps", "11",
	  "--duration", "2s", NULL },
	{ "ctx/rpc", "--threads", "5,50", "--param",
	  "deadline_ns=250000,500000,1000000,2000000,4000000",
	  "--param", "sema=mutex,futex,spin", "--reps", "11", "--duration", "2s", NULL },
	{ "ctx/tree", "--threads", "1,2", "--param", "depth=1,2,3,4", "--param",
	  "breadth=10", "--reps", "11", "--duration", "2s", NULL },
	{ "chan/pipeline", "--threads", "2,4,8,16", "--param", "capacity=1,100,10000",
	  "--reps", "11", "--duration", "2s", NULL },
	{ "chan/pipeline", "--threads", "2,4,8", "--param", "consumers=1",
	  "--reps", "11", "--duration", "2s", NULL },
	{ "backpressure/overload", "--threads", "2", "--param",
	  "load=0.5,0.9,1,1.5,2,4", "--param", "strategy=block,queue,shed",
	  "--param", "arrival=fixed,poisson", "--reps", "11", "--duration", "2s", NULL },
	{ "rate/accuracy", "--threads", "1,2,4,8", "--param", "rate=1k,100k,1M,10M",
	  "--param", "burst=1,100,10000", "--reps", "11", "--duration", "2s", NULL },
	{ "rate/accuracy", "--threads", "1,4", "--param", "mode=wait", "--param",
	  "rate=100,1k,10k,100k,1M", "--param", "burst=1,100", "--reps", "11",
	  "--duration", "2s", NULL },
	{ "rate/contention", "--threads", "1,2,4,8,max", "--param", "rate=1e12,100k",
	  "--param", "burst=1,1000", "--reps", "11", "--duration", "2s", NULL },
	{ "rate/shaping", "--threads", "1", "--param", "burst_in=1,10,100",
	  "--param", "burst=10,100", "--param", "rate=100k", "--param",
	  "period_ns=2000000", "--reps", "11", "--duration", "2s", NULL },
	{ "drain/hot", "--threads", "1,2,4,8,max", "--param", "hold_ns=0,1000",
	  "--reps", "11", "--duration", "2s", NULL },
	{ "drain/quiesce", "--threads", "2,4", "--param",
	  "inflight=1,4,16,64,256,1024", "--param", "hold_ns=0,100000",
	  "--reps", "11", "--duration", "2s", NULL },
	{ "drain/server", "--threads", "3,5,9", "--param", "mode=ordered,naive",
	  "--param", "kill_at=0,0.25,0.5,0.75", "--param", "grace_ms=0,10,1000",
	  "--reps", "11", "--duration", "2s", NULL },
	{ NULL },
};

static const char *const lines_smoke[][20] = {
	{ "sema/closed", "--threads", "1,2", "--reps", "3", "--duration", "100ms",
	  "--warmup", "50ms", NULL },
	{ "chan/pipeline", "--threads", "2", "--reps", "3", "--duration", "100ms",
	  "--warmup", "50ms", NULL },
	{ NULL },
};

struct suite {
	const char *name;
	const char *const (*lines)[20];
	const char *micro_filter;	/* NULL: every micro-benchmark */
	unsigned micro_reps;
	double micro_min_time_s;
};

static const struct suite suites[] = {
	{ "default", lines_default, NULL, 7, 0.05 },
	{ "long", lines_long, NULL, 9, 0.5 },
	{ "smoke", lines_smoke, "^sema/futex/acquire_release/real_time$", 3, 0.01 },
};

static int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "suite", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "no-plot", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct suite *suite = &suites[0];
	const char *outdir = NULL;
	struct run_args ra[32];
	struct topo *machine = load_machine();
	struct output *out;
	char err[512], dir[PATH_MAX];
	bool plot = true;
	unsigned n = 0;
	int c, status = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			suite = NULL;
			for (size_t i = 0; i < ARRAY_SIZE(suites); i++)
				if (!strcmp(optarg, suites[i].name))
					suite = &suites[i];
			if (!suite)
				usage_error("unknown suite '%s' (valid: default long smoke)",
					    optarg);
			break;
		case 'o': outdir = optarg; break;
		case 'n': plot = false; break;
		case 'h':
			puts("usage: contend bench [--suite default|long|smoke] [--out DIR] [--no-plot]\n\n"
			     "Runs a suite of workloads into one run folder and draws its charts.\n"
			     "default: every family's workloads, under 10 minutes on 2 cores.\n"
			     "long: 11 repetitions, longer trials and wider sweeps, for publication.\n"
			     "smoke: one micro-benchmark and two short workloads: does it all run?");
			return 0;
		default:
			exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	/* Parse every line first: a bad suite fails before anything runs. */
	for (; suite->lines[n][0]; n++) {
		char *av[20] = { "run" };

		if (n == ARRAY_SIZE(ra))
			usage_error("the suite has more than %zu lines", ARRAY_SIZE(ra));
		int ac = 1;

		for (; suite->lines[n][ac - 1]; ac++)
			av[ac] = (char *)suite->lines[n][ac - 1];
		parse_run(ac, av, &ra[n], machine);
	}
	if (suite->micro_filter && micro_filter_check(suite->micro_filter))
		usage_error("suite %s: its micro filter '%s' matches no benchmark",
			    suite->name, suite->micro_filter);
	clock_init();
	if (output_open(&out, outdir, results_root, argc + 1, argv - 1, err, sizeof(err)))
		usage_error("%s", err);
	for (unsigned k = 0; k < n; k++) {
		char line[1024] = "contend run";

		for (unsigned a = 0; suite->lines[k][a]; a++)
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
				 " %s", suite->lines[k][a]);
		output_note(out, "suite", line);
	}
	runner_install_sigint();
	/*
	 * Micro-benchmarks first, in a process no workload has left threads,
	 * memory or timers in.  (This did not explain the wide micro
	 * medians of some full runs: the machine itself was slow then; see
	 * README, "Trusting a number".)
	 */
	{
		struct micro_opts mo = {
			.filter = suite->micro_filter,
			.reps = suite->micro_reps,
			.min_time_s = suite->micro_min_time_s,
			.max_threads = topo_npus(machine),
			.quiet = true,
		};

		fprintf(stderr, "== micro-benchmarks (Google Benchmark)\n");
		if (micro_into(&mo, out) && !status)
			status = EXIT_ENV;
		if (runner_interrupted())
			status = EXIT_INTR;
	}
	for (unsigned k = 0; k < n && status != EXIT_INTR; k++) {
		fprintf(stderr, "== %u/%u: %s\n", k + 1, n, ra[k].cfg.wl->name);
		if (run_into(&ra[k], out, &status) == EINTR)
			break;
	}
	snprintf(dir, sizeof(dir), "%s", output_dir(out));
	output_close(out, status_word(status));
	if (plot && status != EXIT_INTR) {
		const char *dirs[] = { dir };

		if (report_write(dirs, 1, NULL, stderr))
			status = status ? status : EXIT_ENV;
	}
	printf("\nrun folder: %s%s\n", dir,
	       outdir ? "" : " (also results/latest)");
	printf("  CSV:    %s/*.csv (one per workload; columns in README.md)\n", dir);
	printf("  meta:   %s/meta\n", dir);
	if (plot && status != EXIT_INTR) {
		printf("  charts: %s/*.png and *.svg\n", dir);
		printf("  report: %s/report.md\n", dir);
	}
	topo_free(machine);
	return status;
}

/* ---- stress -------------------------------------------------------- */

static int cmd_stress(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "impl", required_argument, NULL, 'i' },
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "watchdog", required_argument, NULL, 'w' },
		{ "chaos", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct stress_opts so = {
		.nthreads = 8,
		.duration_ns = 5000000000u,
		.watchdog_ns = 3000000000u,
	};
	const char *impl_arg = "all";
	const struct family *f;
	struct run_config sel;
	char err[512], names[256];
	unsigned failed = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': impl_arg = optarg; break;
		case 't':
			if (parse_uint("thread count", optarg, 2, MAX_THREADS,
				       &so.nthreads, err, sizeof(err)))
				usage_error("%s", err);
			break;
		case 'd':
			if (parse_duration(optarg, &so.duration_ns, err, sizeof(err)))
				usage_error("%s", err);
			break;
		case 'w':
			if (parse_duration(optarg, &so.watchdog_ns, err, sizeof(err)))
				usage_error("%s", err);
			break;
		case 'c': so.chaos = true; break;
		case 'h':
			puts("usage: contend stress FAMILY [--impl a,b|all] [--threads N] [--duration 5s]\n"
			     "                      [--watchdog 3s] [--chaos]\n\n"
			     "Hammers every implementation of FAMILY with random operations and checks\n"
			     "its invariants; a watchdog turns a hang into a report.  --chaos adds random\n"
			     "yields and delays at injection points.  Ends with one SUCCESS or FAILURE\n"
			     "line per implementation; exits 1 if any failed.  Test-only negative\n"
			     "controls (busted) run only when named.");
			return 0;
		default:
			exit(EXIT_USAGE);
		}
	}
	family_names(names, sizeof(names));
	if (optind >= argc)
		usage_error("stress needs a family (valid: %s)", names);
	if (optind + 1 < argc)
		usage_error("unexpected argument '%s'", argv[optind + 1]);
	f = family_find(argv[optind]);
	if (!f)
		usage_error("unknown family '%s' (valid: %s)", argv[optind], names);
	if (!f->stress)
		usage_error("family '%s' has no stress checker yet", f->name);
	memset(&sel, 0, sizeof(sel));
	parse_impls(&sel, f, impl_arg);
	clock_init();
	runner_install_sigint();

	printf("contend stress %s: %u threads, %.2f s each, watchdog %.1f s, chaos %s\n",
	       f->name, so.nthreads, (double)so.duration_ns / 1e9,
	       (double)so.watchdog_ns / 1e9, so.chaos ? "on" : "off");
	printf("checks: %s\n", f->stress->checks);
	fflush(stdout);
	for (unsigned i = 0; i < sel.nimpls && !runner_interrupted(); i++) {
		if (!stress_run(f->stress, sel.impls[i], &so, stdout))
			failed++;
		fflush(stdout);
	}
	if (runner_interrupted()) {
		printf("interrupted\n");
		return EXIT_INTR;
	}
	printf("%s: %u of %u implementations passed\n",
	       failed ? "FAILURE" : "SUCCESS", sel.nimpls - failed, sel.nimpls);
	return failed ? EXIT_FAIL : 0;
}

/* ---- compare ------------------------------------------------------- */

static int cmd_compare(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "impl", required_argument, NULL, 'i' },
		{ "vs", required_argument, NULL, 'v' },
		{ "metric", required_argument, NULL, 'm' },
		{ "threshold", required_argument, NULL, 't' },
		{ "fail-if-slower", required_argument, NULL, 'f' },
		{ "csv", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct compare_opts o = {
		.metric = "throughput_ops_s",
		.threshold = 0.02,
		.fail_if_slower = -1,
		.alpha = 0.05,
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': o.impl_a = optarg; break;
		case 'v': o.impl_b = optarg; break;
		case 'm': o.metric = optarg; break;
		case 't': o.threshold = parse_percent("threshold", optarg); break;
		case 'f': o.fail_if_slower = parse_percent("--fail-if-slower", optarg); break;
		case 'c': o.csv_path = optarg; break;
		case 'h':
			puts("usage: contend compare RUN_A RUN_B [options]\n"
			     "       contend compare RUN --impl A --vs B [options]\n\n"
			     "  --metric COL           CSV column to compare (default throughput_ops_s;\n"
			     "                         lat_* columns: lower is better)\n"
			     "  --threshold 2%         smallest change called faster or slower\n"
			     "  --fail-if-slower PCT   exit 1 if anything is significantly slower by PCT\n"
			     "  --csv FILE             also write the table as CSV\n\n"
			     "For each group (workload, parameters, threads, placement) present on both\n"
			     "sides: the ratio of medians B/A with a bootstrap 95% CI, a two-sided\n"
			     "Mann-Whitney U p-value, Holm's correction over all rows, and a verdict that\n"
			     "needs both p(Holm) < 0.05 and a change of at least the threshold.");
			return 0;
		default:
			exit(EXIT_USAGE);
		}
	}
	if (optind >= argc)
		usage_error("compare needs one run folder with --impl A --vs B, or two run folders");
	o.run_a = argv[optind];
	if (optind + 1 < argc)
		o.run_b = argv[optind + 1];
	if (optind + 2 < argc)
		usage_error("unexpected argument '%s'", argv[optind + 2]);
	if (o.run_b && (o.impl_a || o.impl_b))
		usage_error("--impl/--vs compare within one run; give one run folder");
	if (!o.run_b && (!o.impl_a || !o.impl_b))
		usage_error("comparing within one run needs --impl A --vs B");
	return compare_runs(&o, stdout, stderr);
}

/* ---- report -------------------------------------------------------- */

static int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *out = NULL;
	char dflt[PATH_MAX];
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'h':
			puts("usage: contend report RUN_DIR... [--out DIR]\n\n"
			     "Writes report.md with every chart (PNG and SVG), median tables with 95%\n"
			     "confidence intervals, verdicts against each family's baseline, noise\n"
			     "signals and flagged trials.  One run folder: into that folder.  Several\n"
			     "(other hosts or dates): combined, each series named impl@host, into\n"
			     "--out DIR (default results/combined-<time>).");
			return 0;
		default:
			exit(EXIT_USAGE);
		}
	}
	if (optind >= argc)
		usage_error("report needs at least one run folder");
	for (int i = optind; i < argc; i++) {
		char meta[PATH_MAX + 8];

		snprintf(meta, sizeof(meta), "%s/meta", argv[i]);
		if (access(meta, R_OK))
			usage_error("'%s' is not a run folder (no readable meta)", argv[i]);
	}
	if (!out && argc - optind > 1) {
		time_t now = time(NULL);
		struct tm tm;
		char stamp[32];

		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
		snprintf(dflt, sizeof(dflt), "%s/combined-%s", results_root, stamp);
		out = dflt;
	}
	if (out && mkdir(out, 0777) && errno != EEXIST)
		usage_error("cannot create '%s': %s", out, strerror(errno));
	if (report_write((const char *const *)argv + optind, (size_t)(argc - optind),
			 out, stderr))
		return EXIT_ENV;
	printf("report: %s/report.md\n", out ? out : argv[optind]);
	return 0;
}

/* ---- main ---------------------------------------------------------- */

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "list", cmd_list, "families, implementations and workloads" },
	{ "topo", cmd_topo, "the topology and each placement's plan" },
	{ "run", cmd_run, "run one workload over implementations, threads, parameters" },
	{ "bench", cmd_bench, "run a suite into one run folder and draw its charts" },
	{ "micro", cmd_micro, "single-operation costs through Google Benchmark" },
	{ "stress", cmd_stress, "check a family's invariants under stress" },
	{ "report", cmd_report, "charts and report.md for one run, or several combined" },
	{ "plot", cmd_report, "the same as report" },
	{ "compare", cmd_compare, "significance-tested verdicts between runs or implementations" },
};

static void main_help(FILE *f)
{
	fputs("usage: contend COMMAND [options]   (contend COMMAND --help for each)\n\n", f);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
	const char *root = getenv("CONTEND_RESULTS");

	if (root && *root)
		results_root = root;
	if (argc < 2) {
		main_help(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		main_help(stdout);
		return 0;
	}
	/* Hidden: the drain/server workload's server process (it execs us). */
	if (!strcmp(argv[1], "serve"))
		return server_main(argc - 1, argv + 1);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	usage_error("unknown command '%s' (valid: list topo run bench micro stress report compare)", argv[1]);
}
