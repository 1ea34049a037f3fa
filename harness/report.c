/* SPDX-License-Identifier: MIT */
/*
 * From run folders to a publishable report.
 *
 * The CSVs are the source of truth: this reads them back (so runs from
 * several hosts or dates combine, every row describing itself), groups
 * rows into configurations (parameters + placement) and series (the
 * implementation, or impl@host when several runs are combined), writes one
 * small .dat file per chart under chartdata/, runs the matching gnuplot
 * script from plots/ for PNG and SVG, and writes report.md around them:
 * machine and commands, charts, median tables with 95% confidence
 * intervals, verdicts against each family's baseline (Mann-Whitney U with
 * Holm's correction over the whole report), noise signals and every trial
 * group that should not be trusted as it stands.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "compiler.h"
#include "csv.h"
#include "hist.h"
#include "registry.h"
#include "report.h"
#include "stats.h"
#include "summary.h"
#include "workload.h"

extern char **environ;

#define MAX_RUNS 16
#define MAX_KEYS 256
#define MAX_FILES 64
#define ALPHA 0.05
#define THRESHOLD 0.02
#define STEAL_FLAG_PCT 2.0
#define BOOT_RESAMPLES 2000
#define BOOT_SEED 0x636f6e74656e64ull

struct run_src {
	char dir[PATH_MAX];
	char host[128];
	char run_id[128];
	char *meta;
};

/* Distinct strings in order of first appearance. */
struct keys {
	const char *k[MAX_KEYS];
	unsigned n;
};

struct rowinfo {
	char *config;		/* parameters + placement */
	char *series;		/* impl, or impl@host / impl@run */
	const char *impl;
	unsigned threads;
	bool over, latency;
	int run;
};

struct verdict {
	char wl[64];
	char config[512];
	unsigned threads;
	char a[128], b[128];
	size_t na, nb;
	double ratio, lo, hi, p, p_adj;
};

struct rep {
	struct run_src runs[MAX_RUNS];
	size_t nruns;
	const char *out;
	const char *plotdir;
	FILE *md;
	FILE *log;
	FILE *noise;		/* the noise section, written at the end */
	char *noise_buf;
	size_t noise_len;
	struct verdict *v;
	size_t nv, capv;
	unsigned flagged;
	int err;
};

/* One workload, merged over every run. */
struct wl {
	char file[128], stem[128];
	struct csv_table *t;
	struct rowinfo *ri;
	size_t nrows;
	const char *family, *name;
	const struct workload *desc;	/* NULL: not in this build */
	struct keys configs, series;
};

static const char *const lat_cols[5] = {
	"lat_p50_ns", "lat_p90_ns", "lat_p99_ns", "lat_p999_ns", "lat_max_ns",
};
static const char *const lat_labels[5] = { "p50", "p90", "p99", "p99.9", "max" };

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

static const char *cell(const struct wl *w, size_t r, const char *col)
{
	int c = csv_col_index(w->t, col);

	return c < 0 ? "" : csv_cell(w->t, r, (size_t)c);
}

static double num(const struct wl *w, size_t r, const char *col)
{
	const char *s = cell(w, r, col);
	char *end;
	double v;

	if (!*s)
		return NAN;
	v = strtod(s, &end);
	return end == s ? NAN : v;
}

/* Rows of (config, series, threads) with latency on; returns count. */
static size_t select_rows(const struct wl *w, const char *config,
			  const char *series, unsigned threads, bool latency,
			  size_t *out)
{
	size_t n = 0;

	for (size_t r = 0; r < w->nrows; r++) {
		const struct rowinfo *ri = &w->ri[r];

		if (ri->latency == latency && ri->threads == threads &&
		    !strcmp(ri->config, config) && !strcmp(ri->series, series))
			out[n++] = r;
	}
	return n;
}

static size_t values(const struct wl *w, const size_t *rows, size_t n,
		     const char *col, double *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		double v = num(w, rows[i], col);

		if (!isnan(v))
			out[k++] = v;
	}
	return k;
}

struct stat3 {
	double med, lo, hi, min, max, coverage;
	size_t n;
};

/* Median with its 95% CI and the min/max of col over the rows. */
static bool stat_of(const struct wl *w, const size_t *rows, size_t n,
		    const char *col, struct stat3 *s)
{
	double *v = malloc((n + 1) * sizeof(*v));
	struct median_ci ci;
	size_t k;

	memset(s, 0, sizeof(*s));
	s->med = s->lo = s->hi = s->min = s->max = NAN;
	if (!v)
		return false;
	k = values(w, rows, n, col, v);
	if (!k || median_ci(v, k, 0.95, &ci)) {
		free(v);
		return false;
	}
	s->med = ci.median;
	s->lo = ci.lo;
	s->hi = ci.hi;
	s->coverage = ci.coverage;
	s->n = k;
	s->min = s->max = v[0];
	for (size_t i = 1; i < k; i++) {
		if (v[i] < s->min)
			s->min = v[i];
		if (v[i] > s->max)
			s->max = v[i];
	}
	free(v);
	return true;
}

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

static void fmt_ns(char *buf, size_t len, double ns)
{
	if (isnan(ns))
		snprintf(buf, len, "-");
	else if (ns >= 1e9)
		snprintf(buf, len, "%.3g s", ns / 1e9);
	else if (ns >= 1e6)
		snprintf(buf, len, "%.3g ms", ns / 1e6);
	else if (ns >= 1e3)
		snprintf(buf, len, "%.3g µs", ns / 1e3);
	else
		snprintf(buf, len, "%.0f ns", ns);
}

static const char *trust(const struct stat3 *s)
{
	if (s->coverage < 0.95)
		return "few reps";
	if (s->med && (s->hi - s->lo) / fabs(s->med) > SUMMARY_WIDE)
		return "wide";
	return "ok";
}

/* ---- gnuplot ------------------------------------------------------- */

static void sanitize(char *s)
{
	for (; *s; s++)
		if (*s == '\'' || *s == '"' || *s == '\\')
			*s = ' ';
}

static int gnuplot(struct rep *rp, const char *script, const char *dat,
		   const char *out_base, const char *title, unsigned nseries,
		   const char *extra)
{
	static const char *const terms[] = { "png", "svg" };
	char expr[4096], path[PATH_MAX], t[1024], logpath[PATH_MAX + 32];
	posix_spawn_file_actions_t fa;

	snprintf(t, sizeof(t), "%s", title);
	sanitize(t);
	snprintf(path, sizeof(path), "%s/%s.gp", rp->plotdir, script);
	/* gnuplot's warnings (e.g. a flat axis it widened) go to a log. */
	snprintf(logpath, sizeof(logpath), "%s/chartdata/gnuplot.log", rp->out);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
	for (size_t i = 0; i < 2; i++) {
		char *argv[] = { "gnuplot", "-e", expr, path, NULL };
		pid_t pid;
		int status, rc;

		snprintf(expr, sizeof(expr),
			 "datafile='%s'; outfile='%s.%s'; term='%s'; plottitle='%s'; nseries=%u; plotdir='%s'; %s",
			 dat, out_base, terms[i], terms[i], t, nseries,
			 rp->plotdir, extra ? extra : "");
		rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
		if (rc) {
			fprintf(rp->log, "contend: cannot run gnuplot: %s (install it: apt-get install gnuplot-nox)\n",
				strerror(rc));
			posix_spawn_file_actions_destroy(&fa);
			return rc;
		}
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			fprintf(rp->log, "contend: gnuplot failed on %s for %s (see %s)\n",
				script, out_base, logpath);
			posix_spawn_file_actions_destroy(&fa);
			return EIO;
		}
	}
	posix_spawn_file_actions_destroy(&fa);
	return 0;
}

/* ---- one configuration ---------------------------------------------- */

static unsigned config_threads(const struct wl *w, const char *config,
			       unsigned *out, unsigned cap)
{
	unsigned n = 0;

	for (size_t r = 0; r < w->nrows; r++) {
		unsigned t = w->ri[r].threads, k;

		if (!w->ri[r].latency || strcmp(w->ri[r].config, config))
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

static bool thread_over(const struct wl *w, const char *config, unsigned t)
{
	for (size_t r = 0; r < w->nrows; r++)
		if (w->ri[r].threads == t && !strcmp(w->ri[r].config, config))
			return w->ri[r].over;
	return false;
}

/*
 * A thread count as an axis tick: "4", "8*" when oversubscribed, or split
 * by role ("1p1c") when the workload reports threads_<role> columns.
 */
static void thread_label(const struct wl *w, const char *config, unsigned t,
			 char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t r = 0; r < w->nrows && !used; r++) {
		if (w->ri[r].threads != t || strcmp(w->ri[r].config, config))
			continue;
		for (size_t c = 0; c < csv_cols(w->t) && used + 1 < len; c++)
			if (!strncmp(csv_header(w->t, c), "threads_", 8))
				used += (size_t)snprintf(buf + used, len - used, "%s%s",
							 csv_cell(w->t, r, c),
							 csv_header(w->t, c) + 8);
	}
	if (!used)
		used = (size_t)snprintf(buf, len, "%u", t);
	if (used + 1 < len && thread_over(w, config, t))
		snprintf(buf + used, len - used, "*");
}

/* The thread axis's gnuplot settings: range, and its name for roles. */
static void thread_axis(const struct wl *w, const unsigned *threads,
			unsigned nt, char *buf, size_t len)
{
	int n = snprintf(buf, len, "xmin=%u; xmax=%u", threads[0], threads[nt - 1]);

	if (w->desc && w->desc->roles && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n,
			 "; xname='threads as %s (* = oversubscribed)'", w->desc->roles);
}

static void paths(struct rep *rp, const struct wl *w, unsigned ci,
		  const char *kind, char *rel, size_t rlen, char *dat,
		  char *base)
{
	snprintf(rel, rlen, "%s-%u-%s", w->stem, ci, kind);
	snprintf(dat, PATH_MAX, "%s/chartdata/%s.dat", rp->out, rel);
	snprintf(base, PATH_MAX, "%s/%s", rp->out, rel);
}

/*
 * Open a chart's data file and the row buffer every chart needs; on
 * failure record the error and return NULL with nothing left open.
 */
static FILE *open_chart(struct rep *rp, const struct wl *w, unsigned ci,
			const char *kind, char *rel, size_t rlen, char *dat,
			char *base, size_t **rows)
{
	FILE *f;

	paths(rp, w, ci, kind, rel, rlen, dat, base);
	*rows = malloc((w->nrows + 1) * sizeof(**rows));
	f = *rows ? fopen(dat, "w") : NULL;
	if (!f) {
		rp->err = errno ? errno : ENOMEM;
		free(*rows);
		*rows = NULL;
	}
	return f;
}

/*
 * Draw a chart whose data is in dat (nothing when no series had data),
 * and reference it in the report.
 */
static void draw(struct rep *rp, const char *script, const char *dat,
		 const char *base, const char *rel, const char *title,
		 unsigned nseries, const char *extra, const char *alt)
{
	if (!nseries) {
		unlink(dat);
		return;
	}
	if (gnuplot(rp, script, dat, base, title, nseries, extra))
		rp->err = EIO;
	fprintf(rp->md, "![%s](%s.png)\n", alt, rel);
}

/* Throughput or fairness chart over thread counts. */
static void chart_threads(struct rep *rp, const struct wl *w, unsigned ci,
			  const char *config, const unsigned *threads,
			  unsigned nt, const char *title, bool fairness)
{
	char rel[256], dat[PATH_MAX], base[PATH_MAX], xr[256];
	size_t *rows;
	unsigned nseries = 0;
	FILE *f;

	f = open_chart(rp, w, ci, fairness ? "fairness" : "throughput", rel,
		       sizeof(rel), dat, base, &rows);
	if (!f)
		return;
	for (unsigned i = 0; i < w->series.n; i++) {
		bool any = false;

		for (unsigned k = 0; k < nt; k++) {
			size_t n = select_rows(w, config, w->series.k[i], threads[k], true, rows);
			struct stat3 a, b;
			char lbl[32];

			if (!n || !stat_of(w, rows, n, fairness ? "jain" : "throughput_ops_s", &a))
				continue;
			if (!any)
				fprintf(f, "%s%s threads a b c label\n",
					nseries ? "\n\n" : "", w->series.k[i]);
			any = true;
			thread_label(w, config, threads[k], lbl, sizeof(lbl));
			if (fairness) {
				bool ho = stat_of(w, rows, n, "handoff_rate", &b);

				fprintf(f, "%u %.4f %s %s\n", threads[k], a.med,
					ho ? (snprintf(xr, sizeof(xr), "%.4f", b.med), xr) : "NaN",
					lbl);
			} else {
				fprintf(f, "%u %.6g %.6g %.6g %s\n", threads[k],
					a.med, a.min, a.max, lbl);
			}
		}
		nseries += any;
	}
	fclose(f);
	free(rows);
	thread_axis(w, threads, nt, xr, sizeof(xr));
	draw(rp, fairness ? "fairness" : "throughput", dat, base, rel, title,
	     nseries, xr, fairness ? "fairness" : "throughput");
}

/* p50 and p99 against thread count (wake latency against waiters). */
/* The gnuplot variable naming what a workload's histogram holds. */
static const char *lat_what(const struct wl *w, char *buf, size_t len)
{
	snprintf(buf, len, "what='%s'",
		 w->desc && w->desc->lat_what ? w->desc->lat_what : "latency");
	return buf;
}

static void chart_latency_threads(struct rep *rp, const struct wl *w,
				  unsigned ci, const char *config,
				  const unsigned *threads, unsigned nt,
				  const char *title)
{
	char rel[256], dat[PATH_MAX], base[PATH_MAX], xr[256], lbl[32];
	size_t *rows;
	unsigned nseries = 0;
	FILE *f;

	f = open_chart(rp, w, ci, "latency-vs-threads", rel, sizeof(rel), dat,
		       base, &rows);
	if (!f)
		return;
	for (unsigned i = 0; i < w->series.n; i++) {
		bool any = false;

		for (unsigned k = 0; k < nt; k++) {
			size_t n = select_rows(w, config, w->series.k[i], threads[k], true, rows);
			struct stat3 a, b;

			if (!n || !stat_of(w, rows, n, "lat_p50_ns", &a) ||
			    !stat_of(w, rows, n, "lat_p99_ns", &b))
				continue;
			if (!any)
				fprintf(f, "%s%s threads p50 p99 label\n",
					nseries ? "\n\n" : "", w->series.k[i]);
			any = true;
			thread_label(w, config, threads[k], lbl, sizeof(lbl));
			fprintf(f, "%u %.6g %.6g %s\n", threads[k], a.med, b.med, lbl);
		}
		nseries += any;
	}
	fclose(f);
	free(rows);
	thread_axis(w, threads, nt, xr, sizeof(xr));
	draw(rp, "latency_threads", dat, base, rel, title, nseries, xr,
	     "latency against threads");
}

/* Percentiles p50..max at one thread count. */
static void chart_latency(struct rep *rp, const struct wl *w, unsigned ci,
			  const char *config, unsigned threads,
			  const char *title)
{
	char what[96];
	char rel[256], dat[PATH_MAX], base[PATH_MAX], kind[64], t2[1100];
	size_t *rows;
	unsigned nseries = 0;
	FILE *f;

	snprintf(kind, sizeof(kind), "latency-t%u", threads);
	f = open_chart(rp, w, ci, kind, rel, sizeof(rel), dat, base, &rows);
	if (!f)
		return;
	for (unsigned i = 0; i < w->series.n; i++) {
		size_t n = select_rows(w, config, w->series.k[i], threads, true, rows);
		struct stat3 s;

		if (!n || !stat_of(w, rows, n, lat_cols[0], &s))
			continue;
		fprintf(f, "%s%s pos median min max label\n", nseries ? "\n\n" : "",
			w->series.k[i]);
		for (unsigned p = 0; p < 5; p++) {
			stat_of(w, rows, n, lat_cols[p], &s);
			fprintf(f, "%u %.6g %.6g %.6g %s\n", p + 1, s.med, s.min,
				s.max, lat_labels[p]);
		}
		nseries++;
	}
	fclose(f);
	free(rows);
	snprintf(t2, sizeof(t2), "%s, %u threads", title, threads);
	snprintf(kind, sizeof(kind), "latency, %u threads", threads);
	draw(rp, "latency", dat, base, rel, t2, nseries, lat_what(w, what, sizeof(what)), kind);
}

/* Merge the .hcnt histograms of rows into h; false if none readable. */
static bool merge_hists(struct rep *rp, const struct wl *w, const size_t *rows,
			size_t n, struct hist *h)
{
	bool any = false;

	hist_init(h);
	for (size_t i = 0; i < n; i++) {
		const char *rel = cell(w, rows[i], "hgrm");
		char path[PATH_MAX + 300];
		size_t len;
		FILE *f;

		if (!*rel)
			continue;
		snprintf(path, sizeof(path), "%s/%s", rp->runs[w->ri[rows[i]].run].dir, rel);
		len = strlen(path);
		if (len > 5 && !strcmp(path + len - 5, ".hgrm"))
			memcpy(path + len - 5, ".hcnt", 5);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!hist_read_counts(h, f))
			any = true;
		fclose(f);
	}
	return any && h->count;
}

/*
 * Latency by percentile, HdrHistogram style: x = 1/(1-p) on a log axis, so
 * 90%, 99%, 99.9% sit one decade apart.  Each series is the histogram
 * merged over every repetition (buckets added, never percentiles averaged).
 */
static void chart_percentiles(struct rep *rp, const struct wl *w, unsigned ci,
			      const char *config, unsigned threads,
			      const char *title)
{
	char what[96];
	char rel[256], dat[PATH_MAX], base[PATH_MAX], kind[64], t2[1100];
	size_t *rows;
	struct hist *h = malloc(sizeof(*h));
	unsigned nseries = 0;
	FILE *f;

	snprintf(kind, sizeof(kind), "percentiles-t%u", threads);
	f = open_chart(rp, w, ci, kind, rel, sizeof(rel), dat, base, &rows);
	if (!f || !h) {
		if (f)
			fclose(f);
		free(rows);
		free(h);
		rp->err = rp->err ? rp->err : ENOMEM;
		return;
	}
	for (unsigned i = 0; i < w->series.n; i++) {
		size_t n = select_rows(w, config, w->series.k[i], threads, true, rows);

		if (!n || !merge_hists(rp, w, rows, n, h))
			continue;
		fprintf(f, "%s%s inv_tail latency_ns percentile\n",
			nseries ? "\n\n" : "", w->series.k[i]);
		/* Five points per halving of the tail, as HdrHistogram prints. */
		for (unsigned k = 0;; k++) {
			double tail = pow(0.5, k / 5.0), p = 100 * (1 - tail);

			if (tail * (double)h->count < 1 || k > 5 * 40)
				break;
			fprintf(f, "%.6g %llu %.6f\n", 1 / tail,
				(unsigned long long)hist_percentile(h, p), p);
		}
		nseries++;
	}
	fclose(f);
	free(rows);
	free(h);
	snprintf(t2, sizeof(t2), "%s, %u threads, all repetitions merged", title, threads);
	snprintf(kind, sizeof(kind), "latency by percentile, %u threads", threads);
	draw(rp, "percentile", dat, base, rel, t2, nseries, lat_what(w, what, sizeof(what)), kind);
}

static const char *family_baseline(const char *family)
{
	const struct family *f = family_find(family);

	return f && f->baseline ? f->baseline : NULL;
}

/* The series' "@host" suffix, or "". */
static const char *suffix_of(const char *series)
{
	const char *at = strchr(series, '@');

	return at ? at : "";
}

static void add_verdict(struct rep *rp, const struct wl *w, const char *config,
			unsigned threads, const char *a, const char *b)
{
	size_t *ra = malloc((w->nrows + 1) * sizeof(*ra));
	size_t *rb = malloc((w->nrows + 1) * sizeof(*rb));
	double *va = malloc((w->nrows + 1) * sizeof(*va));
	double *vb = malloc((w->nrows + 1) * sizeof(*vb));
	size_t na, nb;
	struct verdict *v;
	struct mwu u;

	if (!ra || !rb || !va || !vb)
		goto out;
	na = values(w, ra, select_rows(w, config, a, threads, true, ra),
		    "throughput_ops_s", va);
	nb = values(w, rb, select_rows(w, config, b, threads, true, rb),
		    "throughput_ops_s", vb);
	if (!na || !nb)
		goto out;
	if (rp->nv == rp->capv) {
		struct verdict *p = realloc(rp->v, (rp->capv ? rp->capv * 2 : 64) * sizeof(*p));

		if (!p)
			goto out;
		rp->v = p;
		rp->capv = rp->capv ? rp->capv * 2 : 64;
	}
	v = &rp->v[rp->nv++];
	memset(v, 0, sizeof(*v));
	snprintf(v->wl, sizeof(v->wl), "%s", w->name);
	snprintf(v->config, sizeof(v->config), "%s", config);
	v->threads = threads;
	snprintf(v->a, sizeof(v->a), "%s", a);
	snprintf(v->b, sizeof(v->b), "%s", b);
	v->na = na;
	v->nb = nb;
	if (ratio_ci(va, na, vb, nb, 0.95, BOOT_RESAMPLES, BOOT_SEED, &v->ratio,
		     &v->lo, &v->hi))
		v->ratio = v->lo = v->hi = NAN;
	v->p = mann_whitney(va, na, vb, nb, &u) ? 1 : u.p;
out:
	free(ra);
	free(rb);
	free(va);
	free(vb);
}

static void config_section(struct rep *rp, const struct wl *w, unsigned ci,
			   const char *config)
{
	unsigned threads[64], nt = config_threads(w, config, threads, 64), pick;
	size_t *rows = malloc((w->nrows + 1) * sizeof(*rows));
	const char *base = family_baseline(w->family);
	char title[1200], hosts[512] = "", lbl[40];
	bool have_lat = csv_col_index(w->t, "lat_p50_ns") >= 0;
	/*
	 * A workload told against its swept parameter keeps only tables here:
	 * no per-configuration charts, and no verdicts (its many
	 * configurations, at few repetitions each, would only dilute the Holm
	 * correction of every other verdict in the report).
	 */
	bool charts = !(w->desc && w->desc->sweep);

	if (!nt || !rows) {
		free(rows);
		return;
	}
	for (size_t i = 0; i < rp->nruns; i++)
		snprintf(hosts + strlen(hosts), sizeof(hosts) - strlen(hosts), "%s%s",
			 i ? ", " : "", rp->runs[i].host);
	snprintf(title, sizeof(title), "%s  %s  (%s, %s)", w->name, config, hosts,
		 cell(w, 0, "topology"));
	fprintf(rp->md, "\n### %s — %s\n\n", w->name, config);
	if (charts) {
		chart_threads(rp, w, ci, config, threads, nt, title, false);
		chart_threads(rp, w, ci, config, threads, nt, title, true);
	}
	if (charts && have_lat && nt > 1)
		chart_latency_threads(rp, w, ci, config, threads, nt, title);
	for (unsigned k = 0; charts && have_lat && k < nt; k++)
		chart_latency(rp, w, ci, config, threads[k], title);
	/* Percentiles at the largest thread count that is not oversubscribed. */
	pick = threads[0];
	for (unsigned k = 0; k < nt; k++)
		if (!thread_over(w, config, threads[k]))
			pick = threads[k];
	if (charts && have_lat)
		chart_percentiles(rp, w, ci, config, pick, title);

	fprintf(rp->md, "\n| series | threads | n | ops/s median | 95%% CI | trust | p50 | p99 | p99.9 | Jain | hand-off |\n"
			"|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|\n");
	for (unsigned i = 0; i < w->series.n; i++) {
		for (unsigned k = 0; k < nt; k++) {
			size_t n = select_rows(w, config, w->series.k[i], threads[k], true, rows);
			struct stat3 tp, l50, l99, l999, jn, ho;
			char c[8][48];

			if (!n || !stat_of(w, rows, n, "throughput_ops_s", &tp))
				continue;
			stat_of(w, rows, n, lat_cols[0], &l50);
			stat_of(w, rows, n, lat_cols[2], &l99);
			stat_of(w, rows, n, lat_cols[3], &l999);
			stat_of(w, rows, n, "jain", &jn);
			if (!stat_of(w, rows, n, "handoff_rate", &ho))
				ho.med = NAN;
			fmt_si(c[0], 48, tp.med);
			fmt_si(c[1], 48, tp.lo);
			fmt_si(c[2], 48, tp.hi);
			fmt_ns(c[3], 48, l50.med);
			fmt_ns(c[4], 48, l99.med);
			fmt_ns(c[5], 48, l999.med);
			thread_label(w, config, threads[k], lbl, sizeof(lbl));
			fprintf(rp->md, "| %s | %s | %zu | %s | %s – %s | %s | %s | %s | %s | %.3f | %s |\n",
				w->series.k[i], lbl, tp.n,
				c[0], c[1], c[2], trust(&tp), c[3], c[4], c[5], jn.med,
				isnan(ho.med) ? "-" : (snprintf(c[6], 48, "%.3f", ho.med), c[6]));
			if (strcmp(trust(&tp), "ok") || thread_over(w, config, threads[k])) {
				bool over = thread_over(w, config, threads[k]);
				bool shaky = strcmp(trust(&tp), "ok");

				fprintf(rp->noise, "| %s | %s | %s | %u | %s%s%s%s |\n",
					w->name, config, w->series.k[i], threads[k],
					over ? "oversubscribed (threads > PUs)" : "",
					over && shaky ? "; " : "",
					shaky ? "throughput CI " : "", shaky ? trust(&tp) : "");
				rp->flagged++;
			}
		}
	}
	/* Verdicts: every other series against the family's baseline. */
	for (unsigned i = 0; base && charts && i < w->series.n; i++) {
		const char *s = w->series.k[i];
		char bname[160];

		snprintf(bname, sizeof(bname), "%s%s", base, suffix_of(s));
		if (!strcmp(s, bname))
			continue;
		for (unsigned k = 0; k < nt; k++)
			add_verdict(rp, w, config, threads[k], bname, s);
	}
	free(rows);
}

/* Whether every row's cell in column c is a number (a numeric parameter). */
static bool col_numeric(const struct wl *w, size_t c)
{
	for (size_t r = 0; r < w->nrows; r++) {
		const char *v = csv_cell(w->t, r, c);
		char *end;

		strtod(v, &end);
		if (!*v || *end)
			return false;
	}
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The columns metric m charts: itself, or every one its prefix names. */
static size_t metric_cols(const struct wl *w, const struct sweep_metric *m,
			  size_t *cols, size_t cap)
{
	size_t len = strlen(m->col), n = 0;

	for (size_t c = 0; c < csv_cols(w->t) && n < cap; c++) {
		const char *h = csv_header(w->t, c);

		if (m->col[len - 1] == '_' ? !strncmp(h, m->col, len) : !strcmp(h, m->col))
			cols[n++] = c;
	}
	return n;
}

/*
 * One chart of metric m against swept column x: a line per series label
 * (and per column, for a prefix metric), a point per value of x, the
 * median over repetitions with min-max whiskers.
 */
static void chart_against(struct rep *rp, const struct wl *w, size_t x,
			  char **label, const struct keys *labels,
			  const double *xs, size_t nx, const struct sweep_metric *m)
{
	char rel[256], dat[PATH_MAX], base[PATH_MAX], extra[512], title[512];
	const char *xname = csv_header(w->t, x);
	size_t cols[8], ncols = metric_cols(w, m, cols, 8);
	size_t *rows = malloc((w->nrows + 1) * sizeof(*rows));
	unsigned nseries = 0;
	FILE *f;

	if (!ncols || !rows) {
		free(rows);
		return;
	}
	snprintf(rel, sizeof(rel), "%s-%s-vs-%s", w->stem, m->kind, xname);
	snprintf(dat, sizeof(dat), "%s/chartdata/%s.dat", rp->out, rel);
	snprintf(base, sizeof(base), "%s/%s", rp->out, rel);
	f = fopen(dat, "w");
	if (!f) {
		rp->err = errno;
		free(rows);
		return;
	}
	for (unsigned l = 0; l < labels->n; l++) {
		for (size_t k = 0; k < ncols; k++) {
			bool any = false;

			for (size_t i = 0; i < nx; i++) {
				size_t n = 0;
				struct stat3 st;

				for (size_t r = 0; r < w->nrows; r++)
					if (w->ri[r].latency && !strcmp(label[r], labels->k[l]) &&
					    atof(csv_cell(w->t, r, x)) == xs[i])
						rows[n++] = r;
				if (!n || !stat_of(w, rows, n, csv_header(w->t, cols[k]), &st))
					continue;
				if (!any)
					fprintf(f, "%s\"%s%s%s\" x median min max\n",
						nseries ? "\n\n" : "", labels->k[l],
						ncols > 1 ? " " : "",
						ncols > 1 ? csv_header(w->t, cols[k]) + strlen(m->col) : "");
				any = true;
				fprintf(f, "%.6g %.6g %.6g %.6g\n", xs[i], st.med, st.min, st.max);
			}
			nseries += any;
		}
	}
	fclose(f);
	free(rows);
	snprintf(extra, sizeof(extra),
		 "xname='%s'; xlog=%d; xfmt='%s'; ylabel='%s'; yscale=%d", xname,
		 xs[0] > 0 && xs[nx - 1] / xs[0] >= 10,
		 xs[nx - 1] >= 1e4 ? "%.1s%c" : "%g", m->ylabel, (int)m->scale);
	snprintf(title, sizeof(title), "%s: %s against %s (%s, %s)", w->name, m->kind,
		 xname, rp->runs[0].host, cell(w, 0, "topology"));
	draw(rp, "sweep", dat, base, rel, title, nseries, extra, m->kind);
	fputc('\n', rp->md);
}

/* The numbers behind the charts against x: medians, one row per line and x. */
static void sweep_table(struct rep *rp, const struct wl *w, size_t x,
			char **label, const struct keys *labels, const double *xs,
			size_t nx, const struct sweep_metric *metrics)
{
	size_t cols[32], ncols = 0, *rows = malloc((w->nrows + 1) * sizeof(*rows));
	enum sweep_scale scale[32];

	for (const struct sweep_metric *m = metrics; m->col && ncols < 32; m++) {
		size_t n = metric_cols(w, m, cols + ncols, 32 - ncols);

		for (size_t k = ncols; k < ncols + n; k++)
			scale[k] = m->scale;
		ncols += n;
	}
	if (!ncols || !rows) {
		free(rows);
		return;
	}
	fprintf(rp->md, "| line | %s | n |", csv_header(w->t, x));
	for (size_t k = 0; k < ncols; k++)
		fprintf(rp->md, " %s |", csv_header(w->t, cols[k]));
	fputs("\n|---|---:|---:|", rp->md);
	for (size_t k = 0; k < ncols; k++)
		fputs("---:|", rp->md);
	fputc('\n', rp->md);
	for (unsigned l = 0; l < labels->n; l++) {
		for (size_t i = 0; i < nx; i++) {
			size_t n = 0;

			for (size_t r = 0; r < w->nrows; r++)
				if (w->ri[r].latency && !strcmp(label[r], labels->k[l]) &&
				    atof(csv_cell(w->t, r, x)) == xs[i])
					rows[n++] = r;
			if (!n)
				continue;
			fprintf(rp->md, "| %s | %.15g | %zu |", labels->k[l], xs[i], n);
			for (size_t k = 0; k < ncols; k++) {
				const char *name = csv_header(w->t, cols[k]);
				size_t len = strlen(name);
				struct stat3 st;
				char v[48];

				if (!stat_of(w, rows, n, name, &st))
					snprintf(v, sizeof(v), "-");
				else if (scale[k] == SWEEP_SHARE)
					snprintf(v, sizeof(v), "%.3f", st.med);
				else if (len > 3 && !strcmp(name + len - 3, "_ns"))
					fmt_ns(v, sizeof(v), st.med);
				else
					fmt_si(v, sizeof(v), st.med);
				fprintf(rp->md, " %s |", v);
			}
			fputc('\n', rp->md);
		}
	}
	free(rows);
}

/*
 * Charts against a swept parameter.  For every swept parameter whose
 * values are all numbers, one chart per metric of the workload's sweep
 * list (or of its share_* columns, when it has no list), with that
 * parameter on the x axis and one line per series and per value of every
 * other swept parameter, thread count and placement that varies
 * (ctx/rpc: outcome shares against the deadline; backpressure/overload:
 * goodput, shed rate and p99 latency against the offered load, a line per
 * strategy and implementation).
 */
static void chart_sweeps(struct rep *rp, const struct wl *w)
{
	static const struct sweep_metric shares[] = {
		{ "share_", "shares", "share of requests", SWEEP_SHARE },
		{ 0 },
	};
	const struct sweep_metric *metrics = w->desc && w->desc->sweep ? w->desc->sweep : shares;
	int c_wl = csv_col_index(w->t, "workload"), c_thr = csv_col_index(w->t, "threads");
	int c_pl = csv_col_index(w->t, "placement");
	size_t swept[MAX_PARAMS], nswept = 0, cols[8];
	bool multi_t = false, multi_pl = false;
	char **label = calloc(w->nrows + 1, sizeof(*label));
	double *xs = malloc((w->nrows + 1) * sizeof(*xs));

	if (metrics == shares && !metric_cols(w, shares, cols, 8))
		goto out;
	for (int c = c_wl + 1; c < c_thr && nswept < MAX_PARAMS; c++)
		for (size_t r = 1; r < w->nrows; r++)
			if (strcmp(csv_cell(w->t, r, (size_t)c), csv_cell(w->t, 0, (size_t)c))) {
				swept[nswept++] = (size_t)c;
				break;
			}
	for (size_t r = 1; r < w->nrows; r++) {
		multi_t |= w->ri[r].threads != w->ri[0].threads;
		multi_pl |= strcmp(csv_cell(w->t, r, (size_t)c_pl), csv_cell(w->t, 0, (size_t)c_pl)) != 0;
	}
	/* A workload told by its sweep metrics tells them against threads too. */
	if (multi_t && metrics != shares && nswept < MAX_PARAMS)
		swept[nswept++] = (size_t)c_thr;
	for (size_t sx = 0; label && xs && sx < nswept; sx++) {
		size_t x = swept[sx], nx = 0;
		struct keys labels = { 0 };

		if (!col_numeric(w, x))
			continue;
		/* Each row's line: series, the other swept values, threads, placement. */
		for (size_t r = 0; r < w->nrows; r++) {
			char buf[512], tl[40];
			size_t used = (size_t)snprintf(buf, sizeof(buf), "%s", w->ri[r].series);

			for (size_t o = 0; o < nswept; o++)
				if (o != sx && swept[o] != (size_t)c_thr && used < sizeof(buf))
					used += (size_t)snprintf(buf + used, sizeof(buf) - used, " %s=%s",
								 csv_header(w->t, swept[o]),
								 csv_cell(w->t, r, swept[o]));
			if (multi_t && x != (size_t)c_thr && used < sizeof(buf)) {
				thread_label(w, w->ri[r].config, w->ri[r].threads, tl, sizeof(tl));
				used += (size_t)snprintf(buf + used, sizeof(buf) - used, " t=%s", tl);
			}
			if (multi_pl && used < sizeof(buf))
				snprintf(buf + used, sizeof(buf) - used, " %s",
					 csv_cell(w->t, r, (size_t)c_pl));
			free(label[r]);
			label[r] = strdup(buf);
			if (!label[r]) {
				rp->err = ENOMEM;
				goto out;
			}
			if (w->ri[r].latency)
				keys_add(&labels, label[r]);
		}
		for (size_t r = 0; r < w->nrows; r++) {
			double v = atof(csv_cell(w->t, r, x));
			size_t k;

			for (k = 0; k < nx && xs[k] != v; k++)
				;
			if (k == nx)
				xs[nx++] = v;
		}
		qsort(xs, nx, sizeof(*xs), cmp_double);
		if (nx < 2 || !labels.n)
			continue;
		fprintf(rp->md, "\n### %s — against %s\n\n", w->name, csv_header(w->t, x));
		for (const struct sweep_metric *m = metrics; m->col; m++)
			chart_against(rp, w, x, label, &labels, xs, nx, m);
		sweep_table(rp, w, x, label, &labels, xs, nx, metrics);
	}
out:
	for (size_t r = 0; label && r < w->nrows; r++)
		free(label[r]);
	free(label);
	free(xs);
}

/*
 * Parts of a whole (drain/server's shutdown phases): one stacked bar per
 * line, where a line is the series plus every parameter that varies and
 * the thread count when it varies; each part is the median over the
 * line's repetitions, in ms.  Rows with no part at all (a naive server
 * has no phases) draw no bar.  The table below gives the same medians.
 */
static void chart_parts(struct rep *rp, const struct wl *w)
{
	const struct sweep_metric m = { .col = w->desc->parts };
	int c_wl = csv_col_index(w->t, "workload"), c_thr = csv_col_index(w->t, "threads");
	size_t cols[16], ncols = metric_cols(w, &m, cols, 16), plen = strlen(m.col);
	size_t varying[MAX_PARAMS + 1], nvar = 0, n;
	char rel[256], dat[PATH_MAX], base[PATH_MAX], extra[64], title[512];
	char **label = calloc(w->nrows + 1, sizeof(*label));
	size_t *rows = malloc((w->nrows + 1) * sizeof(*rows));
	struct keys labels = { 0 };
	unsigned nbars = 0;
	FILE *f = NULL;

	if (!ncols || !label || !rows)
		goto out;
	/* The rows that have parts, and what varies among them alone. */
	n = 0;
	for (size_t r = 0; r < w->nrows; r++)
		for (size_t k = 0; k < ncols; k++)
			if (!isnan(num(w, r, csv_header(w->t, cols[k])))) {
				rows[n++] = r;
				break;
			}
	for (int c = c_wl + 1; c <= c_thr && nvar <= MAX_PARAMS; c++)
		for (size_t i = 1; i < n; i++)
			if (strcmp(csv_cell(w->t, rows[i], (size_t)c),
				   csv_cell(w->t, rows[0], (size_t)c))) {
				varying[nvar++] = (size_t)c;
				break;
			}
	for (size_t i = 0; i < n; i++) {
		size_t r = rows[i];
		char buf[512];
		size_t used = (size_t)snprintf(buf, sizeof(buf), "%s", w->ri[r].series);

		for (size_t v = 0; v < nvar && used < sizeof(buf); v++)
			used += (size_t)snprintf(buf + used, sizeof(buf) - used, " %s=%s",
						 csv_header(w->t, varying[v]),
						 csv_cell(w->t, r, varying[v]));
		label[r] = strdup(buf);
		if (!label[r]) {
			rp->err = ENOMEM;
			goto out;
		}
		keys_add(&labels, label[r]);
	}
	if (!labels.n)
		goto out;
	snprintf(rel, sizeof(rel), "%s-parts", w->stem);
	snprintf(dat, sizeof(dat), "%s/chartdata/%s.dat", rp->out, rel);
	snprintf(base, sizeof(base), "%s/%s", rp->out, rel);
	f = fopen(dat, "w");
	if (!f) {
		rp->err = errno;
		goto out;
	}
	fprintf(rp->md, "\n### %s — %s* parts\n\n| line | n |", w->name, m.col);
	fputs("line", f);
	for (size_t k = 0; k < ncols; k++) {
		fprintf(f, " %s", csv_header(w->t, cols[k]) + plen);
		fprintf(rp->md, " %s |", csv_header(w->t, cols[k]));
	}
	fputs("\n|---|---:|", rp->md);
	for (size_t k = 0; k < ncols; k++)
		fputs("---:|", rp->md);
	fputc('\n', f);
	fputc('\n', rp->md);
	for (unsigned l = 0; l < labels.n; l++) {
		n = 0;
		for (size_t r = 0; r < w->nrows; r++)
			if (label[r] && !strcmp(label[r], labels.k[l]))
				rows[n++] = r;
		fprintf(f, "\"%s\"", labels.k[l]);
		fprintf(rp->md, "| %s | %zu |", labels.k[l], n);
		for (size_t k = 0; k < ncols; k++) {
			struct stat3 st;
			char v[48] = "-";

			if (stat_of(w, rows, n, csv_header(w->t, cols[k]), &st))
				fmt_ns(v, sizeof(v), st.med);
			else
				st.med = 0;
			fprintf(f, " %.6g", st.med / 1e6);
			fprintf(rp->md, " %s |", v);
		}
		fputc('\n', f);
		fputc('\n', rp->md);
		nbars++;
	}
	fclose(f);
	f = NULL;
	snprintf(extra, sizeof(extra), "nparts=%zu", ncols);
	snprintf(title, sizeof(title), "%s: %s* (%s, %s)", w->name, m.col,
		 rp->runs[0].host, cell(w, 0, "topology"));
	fputc('\n', rp->md);
	draw(rp, "parts", dat, base, rel, title, nbars, extra, "parts");
	fputc('\n', rp->md);
out:
	if (f)
		fclose(f);
	for (size_t r = 0; label && r < w->nrows; r++)
		free(label[r]);
	free(label);
	free(rows);
}

/* Latency-off rows against their latency-on twins: the harness's cost. */
static void harness_cost(struct rep *rp, const struct wl *w)
{
	size_t *on = malloc((w->nrows + 1) * sizeof(*on));
	size_t *off = malloc((w->nrows + 1) * sizeof(*off));
	struct keys done = { 0 };
	bool header = false;

	for (size_t r = 0; on && off && r < w->nrows; r++) {
		const struct rowinfo *ri = &w->ri[r];
		struct stat3 a, b;
		char key[700], x[32], y[32];
		size_t non, noff;
		unsigned seen;

		if (ri->latency)
			continue;
		snprintf(key, sizeof(key), "%s|%s|%u", ri->config, ri->series, ri->threads);
		seen = done.n;
		if (keys_add(&done, key) < 0 || done.n == seen)
			continue;	/* this group's row is already out */
		done.k[done.n - 1] = strdup(key);
		non = select_rows(w, ri->config, ri->series, ri->threads, true, on);
		noff = select_rows(w, ri->config, ri->series, ri->threads, false, off);
		if (!non || !noff || !stat_of(w, on, non, "throughput_ops_s", &a) ||
		    !stat_of(w, off, noff, "throughput_ops_s", &b))
			continue;
		if (!header) {
			fprintf(rp->md, "\n### Harness cost: latency recording on vs off\n\n"
					"Same workload, parameters and threads, in one run "
					"(`--latency on,off` interleaves the two within every repetition). "
					"Ratio = median throughput with latency recorded / without. "
					"The target is at least 0.9 for the fastest implementation.\n\n"
					"| config | series | threads | n | on (ops/s) | off (ops/s) | ratio |\n"
					"|---|---|---:|---:|---:|---:|---:|\n");
			header = true;
		}
		fmt_si(x, sizeof(x), a.med);
		fmt_si(y, sizeof(y), b.med);
		fprintf(rp->md, "| %s | %s | %u | %zu/%zu | %s | %s | %.3f |\n",
			ri->config, ri->series, ri->threads, a.n, b.n, x, y, a.med / b.med);
	}
	for (unsigned i = 0; i < done.n; i++)
		free((char *)done.k[i]);
	free(on);
	free(off);
}

/* Noise signals for a workload: steal, context switches, migrations. */
static void noise_rows(struct rep *rp, const struct wl *w)
{
	double *v = malloc((w->nrows + 1) * sizeof(*v));
	size_t *all = malloc((w->nrows + 1) * sizeof(*all));
	struct stat3 steal, iv, vv;
	unsigned migrated = 0, viol = 0, errs = 0, stolen = 0;

	if (!v || !all) {
		free(v);
		free(all);
		return;
	}
	for (size_t r = 0; r < w->nrows; r++) {
		all[r] = r;
		if (num(w, r, "migrated") > 0)
			migrated++;
		if (num(w, r, "violations") > 0)
			viol++;
		if (num(w, r, "errors") > 0)
			errs++;
		if (num(w, r, "steal_pct") > STEAL_FLAG_PCT)
			stolen++;
	}
	stat_of(w, all, w->nrows, "steal_pct", &steal);
	stat_of(w, all, w->nrows, "invol_csw", &iv);
	stat_of(w, all, w->nrows, "vol_csw", &vv);
	fprintf(rp->md, "| %s | %zu | %.2f%% | %zu trials > %.0f%% | %.0f | %.0f | %u | %u | %u |\n",
		w->name, w->nrows, steal.med, (size_t)stolen, STEAL_FLAG_PCT,
		iv.med, vv.med, migrated, viol, errs);
	if (viol || errs) {
		fprintf(rp->noise, "| %s | (all) | (all) | - | %u trials with invariant violations, %u with errors |\n",
			w->name, viol, errs);
		rp->flagged++;
	}
	free(v);
	free(all);
}

/* ---- loading -------------------------------------------------------- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = malloc((size_t)len + 1);
	if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[len] = '\0';
	fclose(f);
	return buf;
}

/* The value of "key: value" in meta, into buf. */
static const char *meta_get(const char *meta, const char *key, char *buf,
			    size_t len)
{
	size_t kl = strlen(key);

	snprintf(buf, len, "-");
	for (const char *p = meta; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);

		if (ll > kl + 1 && !strncmp(p, key, kl) && p[kl] == ':') {
			size_t vl = ll - kl - 2;

			snprintf(buf, len, "%.*s", (int)(vl < len ? vl : len - 1), p + kl + 2);
			return buf;
		}
		p = nl ? nl + 1 : NULL;
	}
	return buf;
}

static int list_csvs(const char *dir, char names[][128], size_t cap, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return errno;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name), k;

		if (len < 5 || strcmp(e->d_name + len - 4, ".csv") ||
		    e->d_name[0] == '.' || strstr(e->d_name, ".summary.") ||
		    !strncmp(e->d_name, "compare", 7) || !strncmp(e->d_name, "micro", 5))
			continue;
		for (k = 0; k < *n && strcmp(names[k], e->d_name); k++)
			;
		if (k == *n && *n < cap)
			snprintf(names[(*n)++], 128, "%s", e->d_name);
	}
	closedir(d);
	return 0;
}

static bool hosts_distinct(const struct rep *rp)
{
	for (size_t i = 0; i < rp->nruns; i++)
		for (size_t j = i + 1; j < rp->nruns; j++)
			if (!strcmp(rp->runs[i].host, rp->runs[j].host))
				return false;
	return true;
}

/* Load one workload file from every run that has it, merged. */
static int load_wl(struct rep *rp, const char *file, struct wl *w)
{
	bool distinct = hosts_distinct(rp);
	char err[512];
	int c_wl, c_thr, c_pl;

	memset(w, 0, sizeof(*w));
	snprintf(w->file, sizeof(w->file), "%s", file);
	snprintf(w->stem, sizeof(w->stem), "%.*s", (int)strlen(file) - 4, file);
	for (size_t i = 0; i < rp->nruns; i++) {
		char path[PATH_MAX + 130];
		struct csv_table *t;
		size_t base;

		snprintf(path, sizeof(path), "%s/%s", rp->runs[i].dir, file);
		if (access(path, R_OK))
			continue;
		if (csv_load(&t, path, err, sizeof(err))) {
			fprintf(rp->log, "contend: %s\n", err);
			return EINVAL;
		}
		if (!w->t) {
			w->t = csv_new();
			const char *hdr[128];

			for (size_t c = 0; c < csv_cols(t) && c < 128; c++)
				hdr[c] = csv_header(t, c);
			csv_set_header(w->t, hdr, csv_cols(t));
		} else if (csv_cols(t) != csv_cols(w->t)) {
			fprintf(rp->log, "contend: %s: columns differ from the first run's; skipped\n", path);
			csv_free(t);
			continue;
		}
		base = csv_rows(w->t);
		for (size_t r = 0; r < csv_rows(t); r++) {
			const char *row[128];

			for (size_t c = 0; c < csv_cols(t) && c < 128; c++)
				row[c] = csv_cell(t, r, c);
			csv_add_row(w->t, row, csv_cols(t));
		}
		w->ri = realloc(w->ri, csv_rows(w->t) * sizeof(*w->ri));
		for (size_t r = base; r < csv_rows(w->t); r++)
			w->ri[r].run = (int)i;
		csv_free(t);
	}
	if (!w->t || !csv_rows(w->t))
		return ENOENT;
	w->nrows = csv_rows(w->t);
	c_wl = csv_col_index(w->t, "workload");
	c_thr = csv_col_index(w->t, "threads");
	c_pl = csv_col_index(w->t, "placement");
	if (c_wl < 0 || c_thr <= c_wl || c_pl < 0 ||
	    csv_col_index(w->t, "throughput_ops_s") < 0) {
		fprintf(rp->log, "contend: %s: not a contend workload CSV\n", file);
		return EINVAL;
	}
	w->name = csv_cell(w->t, 0, (size_t)c_wl);
	w->family = cell(w, 0, "family");
	w->desc = workload_find(w->name);
	for (size_t r = 0; r < w->nrows; r++) {
		struct rowinfo *ri = &w->ri[r];
		size_t len = 0, cap = 512;
		const char *impl = cell(w, r, "impl");

		ri->config = calloc(1, cap);
		ri->series = malloc(256);
		if (!ri->config || !ri->series)
			return ENOMEM;
		for (int c = c_wl + 1; c < c_thr; c++)
			len += (size_t)snprintf(ri->config + len, cap - len, "%s=%s ",
						csv_header(w->t, (size_t)c),
						csv_cell(w->t, r, (size_t)c));
		snprintf(ri->config + len, cap - len, "%s", csv_cell(w->t, r, (size_t)c_pl));
		if (rp->nruns == 1)
			snprintf(ri->series, 256, "%s", impl);
		else
			snprintf(ri->series, 256, "%s@%s", impl,
				 distinct ? rp->runs[ri->run].host : rp->runs[ri->run].run_id);
		ri->impl = impl;
		ri->threads = (unsigned)atoi(cell(w, r, "threads"));
		ri->over = atoi(cell(w, r, "oversubscribed")) != 0;
		ri->latency = csv_col_index(w->t, "latency") < 0 ||
			      atoi(cell(w, r, "latency")) != 0;
		keys_add(&w->series, ri->series);
		if (ri->latency)
			keys_add(&w->configs, ri->config);
	}
	return 0;
}

static void free_wl(struct wl *w)
{
	for (size_t r = 0; w->ri && r < w->nrows; r++) {
		free(w->ri[r].config);
		free(w->ri[r].series);
	}
	free(w->ri);
	csv_free(w->t);
}

static int write_summary(struct rep *rp, const struct wl *w)
{
	struct csv_table *s;
	char path[PATH_MAX + 160];
	int rc = summarize(w->t, &s);

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/%s.summary.csv", rp->out, w->stem);
	rc = csv_save(s, path);
	csv_free(s);
	return rc;
}

static int copy_file(const char *from, const char *to)
{
	struct atomic_file af;
	char buf[65536];
	size_t n;
	FILE *in = fopen(from, "rb");
	int rc;

	if (!in)
		return errno;
	rc = atomic_file_open(&af, to);
	if (rc) {
		fclose(in);
		return rc;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)))
		fwrite(buf, 1, n, af.f);
	fclose(in);
	return atomic_file_commit(&af);
}

/* ---- the report ---------------------------------------------------- */

static void machine_section(struct rep *rp)
{
	static const char *const keys[] = {
		"host", "cpu_model", "topology", "kernel", "compiler", "cflags",
		"commit", "clock", "tsc_hz", "clock_read_ns", "clock_gettime_ns",
		"google_benchmark", "start", "end", "status", "trials",
	};
	char v[1024];

	fprintf(rp->md, "\n## Machine%s\n\n| | %s",
		rp->nruns > 1 ? "s" : "", rp->runs[0].run_id);
	for (size_t i = 1; i < rp->nruns; i++)
		fprintf(rp->md, " | %s", rp->runs[i].run_id);
	fputs(" |\n|---|", rp->md);
	for (size_t i = 0; i < rp->nruns; i++)
		fputs("---|", rp->md);
	fputc('\n', rp->md);
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		fprintf(rp->md, "| %s |", keys[k]);
		for (size_t i = 0; i < rp->nruns; i++)
			fprintf(rp->md, " `%s` |", meta_get(rp->runs[i].meta, keys[k], v, sizeof(v)));
		fputc('\n', rp->md);
	}
	fprintf(rp->md, "\n%s\n", meta_get(rp->runs[0].meta, "latency_timing", v, sizeof(v)));
	for (size_t i = 0; i < rp->nruns; i++) {
		char from[PATH_MAX + 20], to[PATH_MAX + 40], rel[64];

		snprintf(from, sizeof(from), "%s/topology.png", rp->runs[i].dir);
		if (access(from, R_OK))
			continue;
		if (rp->nruns == 1 && !strcmp(rp->out, rp->runs[0].dir)) {
			snprintf(rel, sizeof(rel), "topology.png");
		} else {
			snprintf(rel, sizeof(rel), "topology-%zu.png", i + 1);
			snprintf(to, sizeof(to), "%s/%s", rp->out, rel);
			if (copy_file(from, to))
				continue;
		}
		fprintf(rp->md, "\n%s (lstopo):\n\n![topology](%s)\n", rp->runs[i].host, rel);
	}
	fputs("\n## Commands\n\n```\n", rp->md);
	for (size_t i = 0; i < rp->nruns; i++) {
		const char *p = rp->runs[i].meta;

		while (p && *p) {
			const char *nl = strchr(p, '\n');
			size_t ll = nl ? (size_t)(nl - p) : strlen(p);

			if (!strncmp(p, "command: ", 9) || !strncmp(p, "suite: ", 7) ||
			    !strncmp(p, "ci_target: ", 11) || !strncmp(p, "skipped: ", 9))
				fprintf(rp->md, "%.*s\n", (int)ll, p);
			p = nl ? nl + 1 : NULL;
		}
	}
	fputs("```\n", rp->md);
}

static void verdict_section(struct rep *rp)
{
	double *p = malloc((rp->nv + 1) * sizeof(*p)), *adj = malloc((rp->nv + 1) * sizeof(*adj));

	fprintf(rp->md, "\n## Verdicts against each family's baseline\n\n"
		"Throughput of each implementation (B) against the baseline (A) in the same "
		"configuration: ratio of medians B/A with a percentile-bootstrap 95%% CI, "
		"two-sided Mann–Whitney U, Holm-adjusted over all %zu comparisons in this report. "
		"A verdict needs p(Holm) < %.2f and a change of at least %.0f%%. "
		"`contend compare` gives the same table for any two runs or implementations.\n\n",
		rp->nv, ALPHA, THRESHOLD * 100);
	if (!rp->nv || !p || !adj) {
		fputs("No comparisons (no baseline implementation in these runs).\n", rp->md);
		free(p);
		free(adj);
		return;
	}
	for (size_t i = 0; i < rp->nv; i++)
		p[i] = rp->v[i].p;
	holm_adjust(p, rp->nv, adj);
	fputs("| workload | config | threads | A | B | n | B/A | 95% CI | p | p(Holm) | verdict |\n"
	      "|---|---|---:|---|---|---:|---:|---|---:|---:|---|\n", rp->md);
	for (size_t i = 0; i < rp->nv; i++) {
		struct verdict *v = &rp->v[i];
		const char *word;

		v->p_adj = adj[i];
		if (isnan(v->ratio) || v->p_adj >= ALPHA || fabs(v->ratio - 1) < THRESHOLD)
			word = "no significant difference";
		else
			word = v->ratio > 1 ? "**faster**" : "**slower**";
		fprintf(rp->md, "| %s | %s | %u | %s | %s | %zu/%zu | %.3f | %.3f – %.3f | %.3g | %.3g | %s |\n",
			v->wl, v->config, v->threads, v->a, v->b, v->na, v->nb,
			v->ratio, v->lo, v->hi, v->p, v->p_adj, word);
	}
	free(p);
	free(adj);
}

static int cmp_group(const void *a, const void *b)
{
	return strcmp(((const struct group *)a)->key, ((const struct group *)b)->key);
}

static void micro_section(struct rep *rp)
{
	for (size_t i = 0; i < rp->nruns; i++) {
		char path[PATH_MAX + 16], err[512];
		struct csv_table *t;

		snprintf(path, sizeof(path), "%s/micro.csv", rp->runs[i].dir);
		if (access(path, R_OK) || csv_load(&t, path, err, sizeof(err)))
			continue;
		{
			struct wl w = { .t = t, .nrows = csv_rows(t) };
			const char *by[] = { "benchmark", "threads" };
			struct groups gs;

			double shim = NAN, native = NAN;

			if (group_rows(t, by, 2, &gs)) {
				csv_free(t);
				continue;
			}
			qsort(gs.g, gs.n, sizeof(gs.g[0]), cmp_group);
			fprintf(rp->md, "\n## Single-operation costs (Google Benchmark, %s)\n\n"
				"Real time per operation, median over repetitions with its 95%% CI. "
				"`null` does nothing: its cost is the floor of the plug-in design "
				"(one indirect call).\n\n"
				"| benchmark | threads | n | ns/op median | 95%% CI | trust |\n"
				"|---|---:|---:|---:|---|---|\n", rp->runs[i].host);
			for (size_t g = 0; g < gs.n; g++) {
				struct stat3 s;

				if (!stat_of(&w, gs.g[g].rows, gs.g[g].nrows, "real_ns_per_op", &s))
					continue;
				const char *name = csv_cell(t, gs.g[g].rows[0],
						(size_t)csv_col_index(t, "benchmark"));

				if (!strcmp(name, "harness/shim/empty"))
					shim = s.med;
				if (!strcmp(name, "native/empty"))
					native = s.med;
				fprintf(rp->md, "| %s | %s | %zu | %.2f | %.2f – %.2f | %s |\n",
					name,
					csv_cell(t, gs.g[g].rows[0], (size_t)csv_col_index(t, "threads")),
					s.n, s.med, s.lo, s.hi, trust(&s));
			}
			if (!isnan(shim) && !isnan(native))
				fprintf(rp->md, "\nThe shim's own cost: `harness/shim/empty` − `native/empty` = "
					"%.3f ns per iteration (the same empty body through the C batch "
					"protocol and as a native C++ loop, in the same run).\n",
					shim - native);
			groups_free(&gs);
		}
		csv_free(t);
	}
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

int report_write(const char *const *dirs, size_t ndirs, const char *out_dir,
		 FILE *log)
{
	struct rep rp = { .log = log };
	char files[MAX_FILES][128], path[PATH_MAX + 32], v[256];
	size_t nfiles = 0;
	struct atomic_file af;
	int rc = 0;

	if (!ndirs || ndirs > MAX_RUNS) {
		fprintf(log, "contend: report takes 1 to %d run folders\n", MAX_RUNS);
		return EINVAL;
	}
	rp.plotdir = getenv("CONTEND_PLOTS");
	if (!rp.plotdir || !*rp.plotdir)
		rp.plotdir = BUILD_PLOTS_DIR;
	rp.out = out_dir ? out_dir : dirs[0];
	for (size_t i = 0; i < ndirs; i++) {
		struct run_src *r = &rp.runs[rp.nruns++];

		snprintf(r->dir, sizeof(r->dir), "%s", dirs[i]);
		snprintf(path, sizeof(path), "%s/meta", dirs[i]);
		r->meta = slurp(path);
		if (!r->meta || list_csvs(dirs[i], files, MAX_FILES, &nfiles)) {
			fprintf(log, "contend: '%s' is not a run folder (no meta)\n", dirs[i]);
			rc = ENOENT;
			goto out;
		}
		meta_get(r->meta, "host", r->host, sizeof(r->host));
		meta_get(r->meta, "run_id", r->run_id, sizeof(r->run_id));
	}
	qsort(files, nfiles, sizeof(files[0]), cmp_name);
	for (size_t i = 0; !nfiles && i < rp.nruns; i++) {
		snprintf(path, sizeof(path), "%s/micro.csv", rp.runs[i].dir);
		if (!access(path, R_OK))
			nfiles = SIZE_MAX;	/* micro-benchmarks only */
	}
	if (nfiles == SIZE_MAX)
		nfiles = 0;
	else if (!nfiles) {
		fprintf(log, "contend: no workload CSV in the run folder(s)\n");
		rc = ENOENT;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/chartdata", rp.out);
	mkdir(rp.out, 0777);
	mkdir(path, 0777);
	rp.noise = open_memstream(&rp.noise_buf, &rp.noise_len);
	snprintf(path, sizeof(path), "%s/report.md", rp.out);
	rc = atomic_file_open(&af, path);
	if (rc || !rp.noise) {
		fprintf(log, "contend: cannot write '%s': %s\n", path, strerror(rc ? rc : ENOMEM));
		goto out;
	}
	rp.md = af.f;
	fprintf(rp.md, "# contend report\n\n");
	for (size_t i = 0; i < rp.nruns; i++)
		fprintf(rp.md, "- run `%s` on **%s** (%s), status: %s\n",
			rp.runs[i].run_id, rp.runs[i].host,
			meta_get(rp.runs[i].meta, "cpu_model", v, sizeof(v)),
			meta_get(rp.runs[i].meta, "status", path, sizeof(path)));
	fputs("\nEvery point is the median over repetitions; whiskers span min to max; "
	      "tables give the median with a distribution-free 95% confidence interval "
	      "(order statistics of the repetitions; fewer than 6 repetitions cannot reach "
	      "95% and are marked \"few reps\"; an interval wider than 10% of the median is "
	      "marked \"wide\"). Thread counts marked * exceed the PUs (oversubscribed). "
	      "Every number comes from the CSVs beside this file; the `.summary.csv` files "
	      "hold the same statistics for every metric.\n", rp.md);
	machine_section(&rp);
	fputs("| workload | config | series | threads | why |\n|---|---|---|---:|---|\n", rp.noise);

	for (size_t f = 0; f < nfiles; f++) {
		struct wl w;

		if (load_wl(&rp, files[f], &w)) {
			free_wl(&w);
			continue;
		}
		fprintf(rp.md, "\n## %s\n", w.name);
		/* A workload told against its swept parameter: those charts first. */
		if (w.desc && w.desc->sweep)
			chart_sweeps(&rp, &w);
		for (unsigned i = 0; i < w.configs.n; i++)
			config_section(&rp, &w, i + 1, w.configs.k[i]);
		if (!w.desc || !w.desc->sweep)
			chart_sweeps(&rp, &w);
		if (w.desc && w.desc->parts)
			chart_parts(&rp, &w);
		harness_cost(&rp, &w);
		if (write_summary(&rp, &w))
			rp.err = EIO;
		free_wl(&w);
	}
	micro_section(&rp);
	verdict_section(&rp);

	fputs("\n## Noise signals\n\n"
	      "Per trial the harness records the hypervisor's steal time (/proc/stat), "
	      "voluntary and involuntary context switches of the worker threads "
	      "(getrusage), threads that changed CPU while measuring, and the cost of one "
	      "clock read (in Machine above; never subtracted).\n\n"
	      "| workload | trials | median steal | steal flagged | median invol. csw | median vol. csw | migrated | violations | errors |\n"
	      "|---|---:|---:|---|---:|---:|---:|---:|---:|\n", rp.md);
	for (size_t f = 0; f < nfiles; f++) {
		struct wl w;

		if (!load_wl(&rp, files[f], &w))
			noise_rows(&rp, &w);
		free_wl(&w);
	}
	fflush(rp.noise);
	fprintf(rp.md, "\n## Do not trust as it stands\n\n%s",
		rp.flagged ? "" : "Nothing flagged: every group has at least 6 repetitions, "
				 "a throughput CI within 10% of its median, and no thread count "
				 "above the PUs.\n");
	if (rp.flagged)
		fwrite(rp.noise_buf, 1, rp.noise_len, rp.md);
	rc = rp.err;
	if (rc)
		atomic_file_abort(&af);
	else
		rc = atomic_file_commit(&af);
out:
	if (rp.noise)
		fclose(rp.noise);
	free(rp.noise_buf);
	free(rp.v);
	for (size_t i = 0; i < rp.nruns; i++)
		free(rp.runs[i].meta);
	return rc;
}
