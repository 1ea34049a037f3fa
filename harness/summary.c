/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "stats.h"
#include "summary.h"

const struct metric summary_metrics[] = {
	{ "throughput_ops_s", true },
	{ "lat_p50_ns", false },
	{ "lat_p99_ns", false },
	{ "lat_p999_ns", false },
	{ "jain", true },
	{ "handoff_rate", true },
	{ "steal_pct", false },
	{ "invol_csw", false },
	{ NULL, false },
};

size_t identity_columns(const struct csv_table *t, const char **out,
			size_t cap)
{
	int host = csv_col_index(t, "host"), rep = csv_col_index(t, "rep");
	size_t n = 0;

	if (host < 0 || rep < 0)
		return 0;
	for (int c = host; c < rep && n < cap; c++)
		out[n++] = csv_header(t, (size_t)c);
	return n;
}

int group_rows(const struct csv_table *t, const char *const *by, size_t nby,
	       struct groups *out)
{
	int cols[64];
	size_t ncols = 0, rows = csv_rows(t);

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < nby && ncols < ARRAY_SIZE(cols); i++) {
		int c = csv_col_index(t, by[i]);

		if (c >= 0)
			cols[ncols++] = c;
	}
	out->g = calloc(rows ? rows : 1, sizeof(*out->g));
	if (!out->g)
		return ENOMEM;
	for (size_t r = 0; r < rows; r++) {
		size_t len = 1, k;
		char *key;

		for (size_t i = 0; i < ncols; i++)
			len += strlen(csv_cell(t, r, (size_t)cols[i])) + 1;
		key = malloc(len);
		if (!key)
			return ENOMEM;
		key[0] = '\0';
		for (size_t i = 0; i < ncols; i++) {
			strcat(key, csv_cell(t, r, (size_t)cols[i]));
			strcat(key, "|");
		}
		for (k = 0; k < out->n; k++)
			if (!strcmp(out->g[k].key, key))
				break;
		if (k == out->n) {
			out->g[k].key = key;
			out->g[k].rows = malloc(rows * sizeof(size_t));
			if (!out->g[k].rows)
				return ENOMEM;
			out->n++;
		} else {
			free(key);
		}
		out->g[k].rows[out->g[k].nrows++] = r;
	}
	return 0;
}

void groups_free(struct groups *gs)
{
	for (size_t i = 0; i < gs->n; i++) {
		free(gs->g[i].key);
		free(gs->g[i].rows);
	}
	free(gs->g);
	memset(gs, 0, sizeof(*gs));
}

size_t group_values(const struct csv_table *t, const struct group *g,
		    const char *col, double *out)
{
	int c = csv_col_index(t, col);
	size_t n = 0;

	if (c < 0)
		return 0;
	for (size_t i = 0; i < g->nrows; i++) {
		const char *s = csv_cell(t, g->rows[i], (size_t)c);
		char *end;
		double v;

		if (!s || !*s)
			continue;
		v = strtod(s, &end);
		if (end != s && isfinite(v))
			out[n++] = v;
	}
	return n;
}

static const char *trust_word(const struct median_ci *ci)
{
	if (ci->coverage < 0.95)
		return "few";
	if (ci->median != 0 && (ci->hi - ci->lo) / fabs(ci->median) > SUMMARY_WIDE)
		return "wide";
	return "ok";
}

int summarize(const struct csv_table *t, struct csv_table **out)
{
	static const char *const tail[] = {
		"metric", "n", "median", "ci_lo", "ci_hi", "ci_coverage", "cv", "trust",
	};
	const char *ids[48], *hdr[64], *cells[64];
	char num[8][40];
	struct groups gs;
	struct csv_table *s;
	size_t nid = identity_columns(t, ids, ARRAY_SIZE(ids)), nh = 0;
	double *v = malloc((csv_rows(t) + 1) * sizeof(*v));
	int rc;

	if (!v)
		return ENOMEM;
	s = csv_new();
	if (!s) {
		free(v);
		return ENOMEM;
	}
	for (size_t i = 0; i < nid; i++)
		hdr[nh++] = ids[i];
	for (size_t i = 0; i < ARRAY_SIZE(tail); i++)
		hdr[nh++] = tail[i];
	rc = csv_set_header(s, hdr, nh);
	if (!rc)
		rc = group_rows(t, ids, nid, &gs);
	if (rc) {
		csv_free(s);
		free(v);
		return rc;
	}
	for (size_t g = 0; g < gs.n && !rc; g++) {
		size_t first = gs.g[g].rows[0];

		for (const struct metric *m = summary_metrics; m->col && !rc; m++) {
			size_t n = group_values(t, &gs.g[g], m->col, v), nc = 0;
			struct median_ci ci;

			if (!n || median_ci(v, n, 0.95, &ci))
				continue;
			for (size_t i = 0; i < nid; i++)
				cells[nc++] = csv_cell(t, first, (size_t)csv_col_index(t, ids[i]));
			cells[nc++] = m->col;
			snprintf(num[0], sizeof(num[0]), "%zu", n);
			csv_fmt_double(num[1], sizeof(num[1]), ci.median);
			csv_fmt_double(num[2], sizeof(num[2]), ci.lo);
			csv_fmt_double(num[3], sizeof(num[3]), ci.hi);
			snprintf(num[4], sizeof(num[4]), "%.4f", ci.coverage);
			if (isnan(coeff_var(v, n)))
				num[5][0] = '\0';
			else
				snprintf(num[5], sizeof(num[5]), "%.4f", coeff_var(v, n));
			for (int i = 0; i < 6; i++)
				cells[nc++] = num[i];
			cells[nc++] = trust_word(&ci);
			rc = csv_add_row(s, cells, nc);
		}
	}
	groups_free(&gs);
	free(v);
	if (rc) {
		csv_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

double summary_worst_ci(const struct csv_table *t, const char *col,
			unsigned *groups_over, double target)
{
	const char *ids[48];
	size_t nid = identity_columns(t, ids, ARRAY_SIZE(ids));
	double *v = malloc((csv_rows(t) + 1) * sizeof(*v)), worst = 0;
	struct groups gs;

	*groups_over = 0;
	if (!v || group_rows(t, ids, nid, &gs)) {
		free(v);
		return INFINITY;
	}
	for (size_t g = 0; g < gs.n; g++) {
		size_t n = group_values(t, &gs.g[g], col, v);
		struct median_ci ci;
		double half;

		if (!n || median_ci(v, n, 0.95, &ci) || ci.median == 0)
			continue;
		/* Too few repetitions for 95% coverage count as not converged. */
		half = ci.coverage < 0.95 ? INFINITY :
			(ci.hi - ci.lo) / 2 / fabs(ci.median);
		if (half > target)
			(*groups_over)++;
		if (half > worst)
			worst = half;
	}
	groups_free(&gs);
	free(v);
	return worst;
}
