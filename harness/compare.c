/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "compiler.h"
#include "csv.h"
#include "stats.h"
#include "summary.h"

#define BOOT_RESAMPLES 2000
#define BOOT_SEED 0x636f6e74656e64ull	/* fixed: the same data, the same CI */

struct cmp {
	char workload[64];
	char config[512];
	char threads[16];
	char a_name[96], b_name[96];
	size_t na, nb;
	double med_a, med_b, ratio, lo, hi, p, p_adj;
	const char *verdict;
};

static bool metric_higher_better(const char *col)
{
	for (const struct metric *m = summary_metrics; m->col; m++)
		if (!strcmp(m->col, col))
			return m->higher_better;
	/* Throughput-like unless the name says latency. */
	return !strstr(col, "lat_") && !strstr(col, "_ns");
}

/* Workload CSVs of a run folder (summaries excluded), sorted. */
static int list_csvs(const char *dir, char names[][128], size_t cap, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	*n = 0;
	if (!d)
		return errno;
	while ((e = readdir(d)) && *n < cap) {
		size_t len = strlen(e->d_name);

		if (len < 5 || strcmp(e->d_name + len - 4, ".csv") ||
		    e->d_name[0] == '.' || strstr(e->d_name, ".summary.") ||
		    !strncmp(e->d_name, "compare", 7) || !strncmp(e->d_name, "micro", 5))
			continue;
		snprintf(names[(*n)++], 128, "%s", e->d_name);
	}
	closedir(d);
	for (size_t i = 0; i < *n; i++)
		for (size_t j = i + 1; j < *n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char tmp[128];

				memcpy(tmp, names[i], 128);
				memcpy(names[i], names[j], 128);
				memcpy(names[j], tmp, 128);
			}
	return 0;
}

/* Key columns: identity minus host, topology, impl, oversubscribed. */
static size_t key_columns(const struct csv_table *t, const char **out, size_t cap)
{
	const char *ids[48];
	size_t n = identity_columns(t, ids, ARRAY_SIZE(ids)), k = 0;

	for (size_t i = 0; i < n && k < cap; i++)
		if (strcmp(ids[i], "host") && strcmp(ids[i], "topology") &&
		    strcmp(ids[i], "impl") && strcmp(ids[i], "oversubscribed"))
			out[k++] = ids[i];
	return k;
}

static const char *cell_of(const struct csv_table *t, size_t row, const char *col)
{
	int c = csv_col_index(t, col);

	return c < 0 ? "" : csv_cell(t, row, (size_t)c);
}

/* "permits=1 hold_ns=0 compact" for a row: parameters and placement. */
static void describe(const struct csv_table *t, size_t row, char *buf, size_t len)
{
	int wl = csv_col_index(t, "workload"), th = csv_col_index(t, "threads");
	size_t used = 0;

	buf[0] = '\0';
	for (int c = wl + 1; c < th && used < len; c++)
		used += (size_t)snprintf(buf + used, len - used, "%s=%s ",
					 csv_header(t, (size_t)c), csv_cell(t, row, (size_t)c));
	if (used < len)
		snprintf(buf + used, len - used, "%s%s", cell_of(t, row, "placement"),
			 !strcmp(cell_of(t, row, "latency"), "0") ? " latency-off" : "");
}

struct side {
	struct csv_table *t;
	struct groups gs;	/* by key columns + impl */
};

static int load_side(const char *dir, const char *name, struct side *s,
		     FILE *err)
{
	char path[PATH_MAX], msg[512];
	const char *by[49];
	size_t n;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	rc = csv_load(&s->t, path, msg, sizeof(msg));
	if (rc) {
		fprintf(err, "contend: %s\n", msg);
		return rc;
	}
	n = key_columns(s->t, by, 48);
	by[n++] = "impl";
	return group_rows(s->t, by, n, &s->gs);
}

static void side_free(struct side *s)
{
	groups_free(&s->gs);
	csv_free(s->t);
}

/* The group key without its trailing impl cell. */
static size_t key_len_without_impl(const char *key)
{
	size_t len = strlen(key);

	/* key ends in "impl|": drop it */
	if (len)
		len--;
	while (len && key[len - 1] != '|')
		len--;
	return len;
}

static int add_cmp(struct cmp **list, size_t *n, size_t *cap,
		   const struct side *sa, const struct group *ga,
		   const struct side *sb, const struct group *gb,
		   const struct compare_opts *o, const char *a_label,
		   const char *b_label)
{
	double *a = malloc(ga->nrows * sizeof(*a)), *b = malloc(gb->nrows * sizeof(*b));
	struct cmp *c;
	struct mwu u;
	size_t na, nb;

	if (!a || !b) {
		free(a);
		free(b);
		return ENOMEM;
	}
	na = group_values(sa->t, ga, o->metric, a);
	nb = group_values(sb->t, gb, o->metric, b);
	if (!na || !nb) {
		free(a);
		free(b);
		return 0;
	}
	if (*n == *cap) {
		struct cmp *p = realloc(*list, (*cap ? *cap * 2 : 64) * sizeof(**list));

		if (!p) {
			free(a);
			free(b);
			return ENOMEM;
		}
		*list = p;
		*cap = *cap ? *cap * 2 : 64;
	}
	c = &(*list)[(*n)++];
	memset(c, 0, sizeof(*c));
	snprintf(c->workload, sizeof(c->workload), "%s", cell_of(sa->t, ga->rows[0], "workload"));
	describe(sa->t, ga->rows[0], c->config, sizeof(c->config));
	snprintf(c->threads, sizeof(c->threads), "%s", cell_of(sa->t, ga->rows[0], "threads"));
	snprintf(c->a_name, sizeof(c->a_name), "%s", a_label);
	snprintf(c->b_name, sizeof(c->b_name), "%s", b_label);
	c->na = na;
	c->nb = nb;
	c->med_a = median(a, na);
	c->med_b = median(b, nb);
	if (ratio_ci(a, na, b, nb, 0.95, BOOT_RESAMPLES, BOOT_SEED, &c->ratio,
		     &c->lo, &c->hi))
		c->ratio = c->lo = c->hi = NAN;
	c->p = mann_whitney(a, na, b, nb, &u) ? 1.0 : u.p;
	free(a);
	free(b);
	return 0;
}

static void verdicts(struct cmp *list, size_t n, const struct compare_opts *o)
{
	double *p = malloc((n + 1) * sizeof(*p)), *adj = malloc((n + 1) * sizeof(*adj));
	bool higher = metric_higher_better(o->metric);

	for (size_t i = 0; p && adj && i < n; i++)
		p[i] = list[i].p;
	if (p && adj)
		holm_adjust(p, n, adj);
	for (size_t i = 0; i < n; i++) {
		struct cmp *c = &list[i];
		double change = c->ratio - 1;

		c->p_adj = p && adj ? adj[i] : 1.0;
		if (isnan(c->ratio) || c->p_adj >= o->alpha ||
		    fabs(change) < o->threshold)
			c->verdict = "no significant difference";
		else if ((change > 0) == higher)
			c->verdict = "faster";
		else
			c->verdict = "slower";
	}
	free(p);
	free(adj);
}

static void print_table(const struct cmp *list, size_t n,
			const struct compare_opts *o, FILE *out)
{
	size_t wc = 8, cc = 6, nc = 4;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(list[i].a_name) + strlen(list[i].b_name) + 4;

		if (strlen(list[i].workload) > wc)
			wc = strlen(list[i].workload);
		if (strlen(list[i].config) > cc)
			cc = strlen(list[i].config);
		if (l > nc)
			nc = l;
	}
	fprintf(out, "metric %s (%s is better); B/A ratio of medians with bootstrap 95%% CI;\n"
		"two-sided Mann-Whitney U, Holm-adjusted over %zu comparisons; threshold %.1f%%\n\n",
		o->metric, metric_higher_better(o->metric) ? "higher" : "lower",
		n, o->threshold * 100);
	fprintf(out, "%-*s  %-*s  %7s  %-*s  %5s  %12s  %12s  %7s  %-17s  %9s  %9s  %s\n",
		(int)wc, "workload", (int)cc, "config", "threads", (int)nc, "A vs B",
		"n", "median A", "median B", "B/A", "95% CI", "p", "p(Holm)", "verdict (B)");
	for (size_t i = 0; i < n; i++) {
		const struct cmp *c = &list[i];
		char names[200], ci[40];

		snprintf(names, sizeof(names), "%s vs %s", c->a_name, c->b_name);
		snprintf(ci, sizeof(ci), "[%.3f, %.3f]", c->lo, c->hi);
		fprintf(out, "%-*s  %-*s  %7s  %-*s  %2zu/%-2zu  %12.5g  %12.5g  %7.3f  %-17s  %9.3g  %9.3g  %s\n",
			(int)wc, c->workload, (int)cc, c->config, c->threads,
			(int)nc, names, c->na, c->nb, c->med_a, c->med_b,
			c->ratio, ci, c->p, c->p_adj, c->verdict);
	}
}

static int write_csv(const struct cmp *list, size_t n,
		     const struct compare_opts *o)
{
	static const char *const hdr[] = {
		"workload", "config", "threads", "a", "b", "metric", "n_a", "n_b",
		"median_a", "median_b", "ratio", "ratio_ci_lo", "ratio_ci_hi",
		"p", "p_holm", "threshold", "verdict",
	};
	struct csv_table *t = csv_new();
	char num[11][40];
	int rc;

	if (!t)
		return ENOMEM;
	rc = csv_set_header(t, hdr, ARRAY_SIZE(hdr));
	for (size_t i = 0; i < n && !rc; i++) {
		const struct cmp *c = &list[i];
		const char *row[ARRAY_SIZE(hdr)];

		snprintf(num[0], 40, "%zu", c->na);
		snprintf(num[1], 40, "%zu", c->nb);
		csv_fmt_double(num[2], 40, c->med_a);
		csv_fmt_double(num[3], 40, c->med_b);
		snprintf(num[4], 40, "%.6f", c->ratio);
		snprintf(num[5], 40, "%.6f", c->lo);
		snprintf(num[6], 40, "%.6f", c->hi);
		snprintf(num[7], 40, "%.6g", c->p);
		snprintf(num[8], 40, "%.6g", c->p_adj);
		snprintf(num[9], 40, "%g", o->threshold);
		row[0] = c->workload;
		row[1] = c->config;
		row[2] = c->threads;
		row[3] = c->a_name;
		row[4] = c->b_name;
		row[5] = o->metric;
		for (int k = 0; k < 10; k++)
			row[6 + k] = num[k];
		row[16] = c->verdict;
		rc = csv_add_row(t, row, ARRAY_SIZE(hdr));
	}
	if (!rc)
		rc = csv_save(t, o->csv_path);
	csv_free(t);
	return rc;
}

int compare_runs(const struct compare_opts *o, FILE *out, FILE *err)
{
	char names_a[64][128], names_b[64][128];
	size_t na = 0, nb = 0, n = 0, cap = 0, slower = 0;
	struct cmp *list = NULL;
	int rc;

	rc = list_csvs(o->run_a, names_a, 64, &na);
	if (rc) {
		fprintf(err, "contend: cannot read run folder '%s': %s\n", o->run_a, strerror(rc));
		return 2;
	}
	if (o->run_b) {
		rc = list_csvs(o->run_b, names_b, 64, &nb);
		if (rc) {
			fprintf(err, "contend: cannot read run folder '%s': %s\n", o->run_b, strerror(rc));
			return 2;
		}
	}
	for (size_t i = 0; i < na; i++) {
		struct side sa = { 0 }, sb = { 0 };
		bool in_b = !o->run_b;

		for (size_t j = 0; j < nb; j++)
			in_b |= !strcmp(names_a[i], names_b[j]);
		if (!in_b)
			continue;
		if (load_side(o->run_a, names_a[i], &sa, err) ||
		    (o->run_b && load_side(o->run_b, names_a[i], &sb, err))) {
			side_free(&sa);
			side_free(&sb);
			free(list);
			return 3;
		}
		if (csv_col_index(sa.t, o->metric) < 0) {
			side_free(&sa);
			side_free(&sb);
			continue;
		}
		for (size_t g = 0; g < sa.gs.n; g++) {
			const struct group *ga = &sa.gs.g[g];
			const char *impl = cell_of(sa.t, ga->rows[0], "impl");
			size_t klen = key_len_without_impl(ga->key);

			if (o->run_b) {
				/* Across runs: the same impl in the same group. */
				for (size_t h = 0; h < sb.gs.n; h++)
					if (!strcmp(sb.gs.g[h].key, ga->key)) {
						char la[96], lb[96];

						snprintf(la, sizeof(la), "%s@A", impl);
						snprintf(lb, sizeof(lb), "%s@B", impl);
						rc = add_cmp(&list, &n, &cap, &sa, ga, &sb,
							     &sb.gs.g[h], o, la, lb);
					}
				continue;
			}
			/* Within one run: impl A against impl B, same key. */
			if (strcmp(impl, o->impl_a))
				continue;
			for (size_t h = 0; h < sa.gs.n; h++) {
				const struct group *gb = &sa.gs.g[h];

				if (h == g || strcmp(cell_of(sa.t, gb->rows[0], "impl"), o->impl_b) ||
				    key_len_without_impl(gb->key) != klen ||
				    strncmp(gb->key, ga->key, klen))
					continue;
				rc = add_cmp(&list, &n, &cap, &sa, ga, &sa, gb, o,
					     o->impl_a, o->impl_b);
			}
		}
		side_free(&sa);
		side_free(&sb);
		if (rc) {
			free(list);
			return 3;
		}
	}
	if (!n) {
		fprintf(err, "contend: nothing to compare: no matching groups with metric '%s'\n",
			o->metric);
		free(list);
		return 2;
	}
	verdicts(list, n, o);
	print_table(list, n, o, out);
	for (size_t i = 0; i < n; i++)
		if (o->fail_if_slower >= 0 && !strcmp(list[i].verdict, "slower") &&
		    fabs(list[i].ratio - 1) >= o->fail_if_slower)
			slower++;
	if (o->csv_path) {
		rc = write_csv(list, n, o);
		if (rc)
			fprintf(err, "contend: cannot write '%s': %s\n", o->csv_path, strerror(rc));
	}
	if (o->fail_if_slower >= 0)
		fprintf(out, "\nregression gate (slower by %.1f%% or more): %s (%zu of %zu)\n",
			o->fail_if_slower * 100, slower ? "FAILED" : "passed", slower, n);
	free(list);
	return slower ? 1 : (rc ? 3 : 0);
}
