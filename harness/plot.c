/* SPDX-License-Identifier: MIT */
/*
 * From a run folder's CSVs to charts.  The CSVs are the source of truth;
 * this reads them back (so CSVs concatenated from several hosts chart the
 * same way), groups rows, writes one small .dat file per chart under
 * chartdata/ and runs the matching gnuplot script from plots/ for PNG and SVG.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build_info.h"
#include "csv.h"
#include "plot.h"
#include "stats.h"

extern char **environ;

#define MAX_KEYS 256

/* Distinct strings in order of first appearance. */
struct keys {
	const char *k[MAX_KEYS];
	unsigned n;
};

static int keys_add(struct keys *ks, const char *k)
{
	for (unsigned i = 0; i < ks->n; i++)
		if (!strcmp(ks->k[i], k))
			return (int)i;
	if (ks->n == MAX_KEYS)
		return -1;
	ks->k[ks->n] = k;
	return (int)ks->n++;
}

struct rowinfo {
	char *config;		/* params + placement */
	const char *impl;
	unsigned threads;
	bool over, latency;
};

struct chart_ctx {
	const char *dir;
	const char *plotdir;
	FILE *md;
	FILE *log;
	struct csv_table *t;
	struct rowinfo *ri;
	size_t nrows;
	int c_tput, c_jain, c_handoff, c_host, c_topo, c_wl, c_lat[5];
	unsigned charts;
	int err;
};

static const char *const lat_cols[5] = {
	"lat_p50_ns", "lat_p90_ns", "lat_p99_ns", "lat_p999_ns", "lat_max_ns",
};
static const char *const lat_labels[5] = { "p50", "p90", "p99", "p99.9", "max" };

static double cell_num(struct chart_ctx *cx, size_t r, int col)
{
	const char *s = col >= 0 ? csv_cell(cx->t, r, (size_t)col) : "";
	char *end;
	double v;

	if (!s || !*s)
		return NAN;
	v = strtod(s, &end);
	return end == s ? NAN : v;
}

/* Median, min and max of column col over rows matching (config, impl, threads, latency). */
static unsigned gather(struct chart_ctx *cx, const char *config,
		       const char *impl, unsigned threads, int col,
		       double *med, double *min, double *max, bool *over)
{
	double *v = malloc(cx->nrows * sizeof(*v));
	unsigned n = 0;

	*med = *min = *max = NAN;
	if (!v)
		return 0;
	for (size_t r = 0; r < cx->nrows; r++) {
		struct rowinfo *ri = &cx->ri[r];
		double x;

		if (!ri->latency || strcmp(ri->config, config) ||
		    strcmp(ri->impl, impl) || ri->threads != threads)
			continue;
		x = cell_num(cx, r, col);
		if (over)
			*over = ri->over;
		if (isnan(x))
			continue;
		v[n++] = x;
	}
	if (n) {
		*med = median(v, n);	/* sorts v */
		*min = v[0];
		*max = v[n - 1];
	}
	free(v);
	return n;
}

static void sanitize(char *s)
{
	for (; *s; s++)
		if (*s == '\'' || *s == '"' || *s == '\\')
			*s = ' ';
}

static int gnuplot(struct chart_ctx *cx, const char *script, const char *dat,
		   const char *out_base, const char *title, unsigned nseries,
		   const char *extra)
{
	static const char *const terms[] = { "png", "svg" };
	char expr[2048], path[PATH_MAX];
	char *title_s = strdup(title);

	if (!title_s)
		return ENOMEM;
	sanitize(title_s);
	snprintf(path, sizeof(path), "%s/%s.gp", cx->plotdir, script);
	for (size_t i = 0; i < 2; i++) {
		char *argv[] = { "gnuplot", "-e", expr, path, NULL };
		pid_t pid;
		int status, rc;

		snprintf(expr, sizeof(expr),
			 "datafile='%s'; outfile='%s.%s'; term='%s'; plottitle='%s'; nseries=%u; plotdir='%s'; %s",
			 dat, out_base, terms[i], terms[i], title_s, nseries,
			 cx->plotdir, extra ? extra : "");
		rc = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
		if (rc) {
			fprintf(cx->log, "contend: cannot run gnuplot: %s (install it: apt-get install gnuplot-nox)\n",
				strerror(rc));
			free(title_s);
			return rc;
		}
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			fprintf(cx->log, "contend: gnuplot failed on %s for %s\n",
				script, out_base);
			free(title_s);
			return EIO;
		}
	}
	free(title_s);
	cx->charts++;
	return 0;
}

static void thread_label(char *buf, size_t len, unsigned threads, bool over)
{
	snprintf(buf, len, "%u%s", threads, over ? "*" : "");
}

/* The thread counts present for config, sorted. */
static unsigned config_threads(struct chart_ctx *cx, const char *config,
			       unsigned *out, unsigned cap)
{
	unsigned n = 0;

	for (size_t r = 0; r < cx->nrows; r++) {
		unsigned t = cx->ri[r].threads, k;

		if (!cx->ri[r].latency || strcmp(cx->ri[r].config, config))
			continue;
		for (k = 0; k < n && out[k] != t; k++)
			;
		if (k == n && n < cap)
			out[n++] = t;
	}
	for (unsigned a = 0; a < n; a++)
		for (unsigned b = a + 1; b < n; b++)
			if (out[b] < out[a]) {
				unsigned x = out[a];

				out[a] = out[b];
				out[b] = x;
			}
	return n;
}

static bool impl_in_config(struct chart_ctx *cx, const char *config,
			   const char *impl)
{
	for (size_t r = 0; r < cx->nrows; r++)
		if (cx->ri[r].latency && !strcmp(cx->ri[r].config, config) &&
		    !strcmp(cx->ri[r].impl, impl))
			return true;
	return false;
}

static void fmt_cell(char *buf, size_t len, double v, const char *fmt)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, fmt, v);
}

/* 3 significant digits with an SI suffix: 1.23M, 456k, 12.0. */
static void fmt_si(char *buf, size_t len, double v)
{
	static const char sfx[] = " kMGT";
	int k = 0;

	if (isnan(v)) {
		snprintf(buf, len, "-");
		return;
	}
	while (fabs(v) >= 1000 && k < 4) {
		v /= 1000;
		k++;
	}
	snprintf(buf, len, "%.3g%.*s", v, k ? 1 : 0, &sfx[k]);
}

static void chart_config(struct chart_ctx *cx, const char *wlfile,
			 unsigned ci, const char *config, const struct keys *impls)
{
	char dat[PATH_MAX], base[PATH_MAX], rel[256], title[1024], lbl[32], xr[64];
	unsigned threads[64], nt = config_threads(cx, config, threads, 64);
	unsigned nseries = 0;
	const char *host = csv_cell(cx->t, 0, (size_t)cx->c_host);
	const char *wl = csv_cell(cx->t, 0, (size_t)cx->c_wl);
	const char *topo = cx->c_topo >= 0 ? csv_cell(cx->t, 0, (size_t)cx->c_topo) : "";
	bool have_lat = cx->c_lat[0] >= 0;
	FILE *f;

	if (!nt)
		return;
	snprintf(title, sizeof(title), "%s  %s  (%s, %s)", wl, config, host, topo);
	fprintf(cx->md, "\n### %s — %s\n\n", wl, config);

	/* Throughput. */
	snprintf(rel, sizeof(rel), "%s-%u-throughput", wlfile, ci);
	snprintf(dat, sizeof(dat), "%s/chartdata/%s.dat", cx->dir, rel);
	snprintf(base, sizeof(base), "%s/%s", cx->dir, rel);
	f = fopen(dat, "w");
	if (!f) {
		cx->err = errno;
		return;
	}
	for (unsigned i = 0; i < impls->n; i++) {
		if (!impl_in_config(cx, config, impls->k[i]))
			continue;
		fprintf(f, "%s%s threads median min max label\n", nseries ? "\n\n" : "",
			impls->k[i]);
		for (unsigned k = 0; k < nt; k++) {
			double med, min, max;
			bool over = false;

			if (!gather(cx, config, impls->k[i], threads[k], cx->c_tput,
				    &med, &min, &max, &over))
				continue;
			thread_label(lbl, sizeof(lbl), threads[k], over);
			fprintf(f, "%u %.6g %.6g %.6g %s\n", threads[k], med, min, max, lbl);
		}
		nseries++;
	}
	fclose(f);
	snprintf(xr, sizeof(xr), "xmin=%u; xmax=%u", threads[0], threads[nt - 1]);
	if (gnuplot(cx, "throughput", dat, base, title, nseries, xr))
		cx->err = EIO;
	fprintf(cx->md, "![throughput](%s.png)\n", rel);

	/* Fairness. */
	snprintf(rel, sizeof(rel), "%s-%u-fairness", wlfile, ci);
	snprintf(dat, sizeof(dat), "%s/chartdata/%s.dat", cx->dir, rel);
	snprintf(base, sizeof(base), "%s/%s", cx->dir, rel);
	f = fopen(dat, "w");
	if (!f) {
		cx->err = errno;
		return;
	}
	nseries = 0;
	for (unsigned i = 0; i < impls->n; i++) {
		if (!impl_in_config(cx, config, impls->k[i]))
			continue;
		fprintf(f, "%s%s threads jain handoff label\n", nseries ? "\n\n" : "",
			impls->k[i]);
		for (unsigned k = 0; k < nt; k++) {
			double jm, ho, a, b;
			bool over = false;

			if (!gather(cx, config, impls->k[i], threads[k], cx->c_jain,
				    &jm, &a, &b, &over))
				continue;
			gather(cx, config, impls->k[i], threads[k], cx->c_handoff,
			       &ho, &a, &b, NULL);
			thread_label(lbl, sizeof(lbl), threads[k], over);
			fprintf(f, "%u %.4f %s %s\n", threads[k], jm,
				isnan(ho) ? "NaN" : (snprintf(base, 32, "%.4f", ho), base), lbl);
		}
		nseries++;
	}
	fclose(f);
	snprintf(base, sizeof(base), "%s/%s", cx->dir, rel);
	if (gnuplot(cx, "fairness", dat, base, title, nseries, xr))
		cx->err = EIO;
	fprintf(cx->md, "![fairness](%s.png)\n", rel);

	/* Latency, one chart per thread count. */
	for (unsigned k = 0; have_lat && k < nt; k++) {
		char ltitle[1100];
		bool any = false;

		snprintf(rel, sizeof(rel), "%s-%u-latency-t%u", wlfile, ci, threads[k]);
		snprintf(dat, sizeof(dat), "%s/chartdata/%s.dat", cx->dir, rel);
		snprintf(base, sizeof(base), "%s/%s", cx->dir, rel);
		f = fopen(dat, "w");
		if (!f) {
			cx->err = errno;
			return;
		}
		nseries = 0;
		for (unsigned i = 0; i < impls->n; i++) {
			double med, min, max;

			if (!gather(cx, config, impls->k[i], threads[k], cx->c_lat[0],
				    &med, &min, &max, NULL))
				continue;
			fprintf(f, "%s%s pos median min max label\n", nseries ? "\n\n" : "",
				impls->k[i]);
			for (unsigned p = 0; p < 5; p++) {
				gather(cx, config, impls->k[i], threads[k], cx->c_lat[p],
				       &med, &min, &max, NULL);
				fprintf(f, "%u %.6g %.6g %.6g %s\n", p + 1, med, min, max,
					lat_labels[p]);
			}
			nseries++;
			any = true;
		}
		fclose(f);
		if (!any) {
			unlink(dat);
			continue;
		}
		snprintf(ltitle, sizeof(ltitle), "%s, %u threads", title, threads[k]);
		if (gnuplot(cx, "latency", dat, base, ltitle, nseries, NULL))
			cx->err = EIO;
		fprintf(cx->md, "![latency, %u threads](%s.png)\n", threads[k], rel);
	}

	/* The table of medians. */
	fprintf(cx->md, "\n| impl | threads | ops/s (median) | min | max | p50 ns | p99 ns | p99.9 ns | Jain | hand-off |\n"
			"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (unsigned i = 0; i < impls->n; i++) {
		for (unsigned k = 0; k < nt; k++) {
			double tm, tmin, tmax, p50, p99, p999, jn, ho, a, b;
			char c[8][32];
			bool over = false;

			if (!gather(cx, config, impls->k[i], threads[k], cx->c_tput,
				    &tm, &tmin, &tmax, &over))
				continue;
			gather(cx, config, impls->k[i], threads[k], cx->c_lat[0], &p50, &a, &b, NULL);
			gather(cx, config, impls->k[i], threads[k], cx->c_lat[2], &p99, &a, &b, NULL);
			gather(cx, config, impls->k[i], threads[k], cx->c_lat[3], &p999, &a, &b, NULL);
			gather(cx, config, impls->k[i], threads[k], cx->c_jain, &jn, &a, &b, NULL);
			gather(cx, config, impls->k[i], threads[k], cx->c_handoff, &ho, &a, &b, NULL);
			fmt_si(c[0], 32, tm);
			fmt_si(c[1], 32, tmin);
			fmt_si(c[2], 32, tmax);
			fmt_cell(c[3], 32, p50, "%.0f");
			fmt_cell(c[4], 32, p99, "%.0f");
			fmt_cell(c[5], 32, p999, "%.0f");
			fmt_cell(c[6], 32, jn, "%.3f");
			fmt_cell(c[7], 32, ho, "%.3f");
			fprintf(cx->md, "| %s | %u%s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				impls->k[i], threads[k], over ? "*" : "", c[0], c[1],
				c[2], c[3], c[4], c[5], c[6], c[7]);
		}
	}
}

/* Latency-off rows against their latency-on twins: the harness's cost. */
static void harness_cost(struct chart_ctx *cx, const struct keys *impls)
{
	bool header = false;

	for (size_t r = 0; r < cx->nrows; r++) {
		struct rowinfo *ri = &cx->ri[r];
		double off[256], on[256];
		unsigned noff = 0, non = 0;
		bool first = true;

		if (ri->latency)
			continue;
		/* Only the first latency-off row of each (config, impl, threads). */
		for (size_t q = 0; q < r; q++)
			if (!cx->ri[q].latency && !strcmp(cx->ri[q].config, ri->config) &&
			    !strcmp(cx->ri[q].impl, ri->impl) && cx->ri[q].threads == ri->threads)
				first = false;
		if (!first)
			continue;
		for (size_t q = 0; q < cx->nrows; q++) {
			struct rowinfo *o = &cx->ri[q];
			double v = cell_num(cx, q, cx->c_tput);

			if (strcmp(o->config, ri->config) || strcmp(o->impl, ri->impl) ||
			    o->threads != ri->threads || isnan(v))
				continue;
			if (o->latency && non < 256)
				on[non++] = v;
			else if (!o->latency && noff < 256)
				off[noff++] = v;
		}
		if (!non || !noff)
			continue;
		if (!header) {
			fprintf(cx->md, "\n### Harness cost: latency recording on vs off\n\n"
					"Same workload, parameters and threads, in one run (`--latency on,off` "
					"interleaves the two within every repetition).  "
					"Ratio = median throughput with latency recorded / without.  "
					"The target is at least 0.9 for the fastest implementation.\n\n"
					"| config | impl | threads | on (ops/s) | off (ops/s) | ratio |\n"
					"|---|---|---:|---:|---:|---:|\n");
			header = true;
		}
		{
			double mon = median(on, non), moff = median(off, noff);

			char a[32], b[32];

			fmt_si(a, sizeof(a), mon);
			fmt_si(b, sizeof(b), moff);
			fprintf(cx->md, "| %s | %s | %u | %s | %s | %.3f |\n",
				ri->config, ri->impl, ri->threads, a, b, mon / moff);
		}
	}
	(void)impls;
}

static int chart_csv(const char *dir, const char *plotdir, const char *name,
		     FILE *md, FILE *log)
{
	struct chart_ctx cx = { .dir = dir, .plotdir = plotdir, .md = md, .log = log };
	struct keys configs = { 0 }, impls = { 0 };
	char path[PATH_MAX], err[512], wlfile[128];
	int c_wl, c_thr, c_pl, c_impl, c_over, c_latf;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	rc = csv_load(&cx.t, path, err, sizeof(err));
	if (rc) {
		fprintf(log, "contend: %s\n", err);
		return rc;
	}
	cx.nrows = csv_rows(cx.t);
	c_wl = csv_col_index(cx.t, "workload");
	c_thr = csv_col_index(cx.t, "threads");
	c_pl = csv_col_index(cx.t, "placement");
	c_impl = csv_col_index(cx.t, "impl");
	c_over = csv_col_index(cx.t, "oversubscribed");
	c_latf = csv_col_index(cx.t, "latency");
	cx.c_tput = csv_col_index(cx.t, "throughput_ops_s");
	cx.c_jain = csv_col_index(cx.t, "jain");
	cx.c_handoff = csv_col_index(cx.t, "handoff_rate");
	cx.c_host = csv_col_index(cx.t, "host");
	cx.c_topo = csv_col_index(cx.t, "topology");
	cx.c_wl = c_wl;
	for (int i = 0; i < 5; i++)
		cx.c_lat[i] = csv_col_index(cx.t, lat_cols[i]);
	if (c_wl < 0 || c_thr < 0 || c_pl < 0 || c_impl < 0 || cx.c_tput < 0 ||
	    cx.c_host < 0 || c_thr <= c_wl) {
		fprintf(log, "contend: %s: not a contend workload CSV\n", path);
		csv_free(cx.t);
		return EINVAL;
	}
	if (!cx.nrows) {
		csv_free(cx.t);
		return 0;
	}
	cx.ri = calloc(cx.nrows, sizeof(*cx.ri));
	if (!cx.ri) {
		csv_free(cx.t);
		return ENOMEM;
	}
	for (size_t r = 0; r < cx.nrows; r++) {
		struct rowinfo *ri = &cx.ri[r];
		size_t len = 0, cap = 512;

		ri->config = calloc(1, cap);
		if (!ri->config) {
			rc = ENOMEM;
			goto out;
		}
		/* The parameter columns sit between workload and threads. */
		for (int c = c_wl + 1; c < c_thr; c++)
			len += (size_t)snprintf(ri->config + len, cap - len, "%s=%s ",
						csv_header(cx.t, (size_t)c),
						csv_cell(cx.t, r, (size_t)c));
		snprintf(ri->config + len, cap - len, "%s",
			 csv_cell(cx.t, r, (size_t)c_pl));
		ri->impl = csv_cell(cx.t, r, (size_t)c_impl);
		ri->threads = (unsigned)atoi(csv_cell(cx.t, r, (size_t)c_thr));
		ri->over = c_over >= 0 && atoi(csv_cell(cx.t, r, (size_t)c_over));
		ri->latency = c_latf < 0 || atoi(csv_cell(cx.t, r, (size_t)c_latf));
		keys_add(&impls, ri->impl);
		if (ri->latency)
			keys_add(&configs, ri->config);
	}
	snprintf(wlfile, sizeof(wlfile), "%s", name);
	wlfile[strlen(wlfile) - 4] = '\0';
	fprintf(md, "\n## %s\n", csv_cell(cx.t, 0, (size_t)c_wl));
	for (unsigned i = 0; i < configs.n; i++)
		chart_config(&cx, wlfile, i + 1, configs.k[i], &impls);
	harness_cost(&cx, &impls);
	rc = cx.err;
out:
	for (size_t r = 0; r < cx.nrows; r++)
		free(cx.ri[r].config);
	free(cx.ri);
	csv_free(cx.t);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int plot_run(const char *dir, FILE *log)
{
	const char *plotdir = getenv("CONTEND_PLOTS");
	struct atomic_file af;
	char path[PATH_MAX], *names[64];
	unsigned n = 0;
	struct dirent *e;
	DIR *d;
	int rc = 0;

	if (!plotdir || !*plotdir)
		plotdir = BUILD_PLOTS_DIR;
	d = opendir(dir);
	if (!d) {
		fprintf(log, "contend: cannot open run folder '%s': %s\n", dir, strerror(errno));
		return errno;
	}
	while ((e = readdir(d)) && n < 64) {
		size_t len = strlen(e->d_name);

		if (len > 4 && !strcmp(e->d_name + len - 4, ".csv") && e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (!n) {
		fprintf(log, "contend: no workload CSV in '%s'\n", dir);
		return ENOENT;
	}
	qsort(names, n, sizeof(names[0]), cmp_str);
	snprintf(path, sizeof(path), "%s/chartdata", dir);
	mkdir(path, 0777);
	snprintf(path, sizeof(path), "%s/charts.md", dir);
	rc = atomic_file_open(&af, path);
	if (rc) {
		fprintf(log, "contend: cannot write '%s': %s\n", path, strerror(rc));
		goto out;
	}
	fprintf(af.f, "# contend charts: %s\n\n"
		"Every point is the median over repetitions; whiskers span min to max.  "
		"Thread counts marked * exceed the PUs (oversubscribed).  "
		"Provenance (CPU, kernel, compiler, commit, clock cost) is in `meta`; "
		"every number comes from the CSVs beside this file.\n", dir);
	for (unsigned i = 0; i < n; i++) {
		int r = chart_csv(dir, plotdir, names[i], af.f, log);

		if (r && !rc)
			rc = r;
	}
	if (rc)
		atomic_file_abort(&af);
	else
		rc = atomic_file_commit(&af);
out:
	for (unsigned i = 0; i < n; i++)
		free(names[i]);
	return rc;
}
