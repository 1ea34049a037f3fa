/* SPDX-License-Identifier: MIT */
/*
 * A run folder: results/<run-id>/ with one CSV per workload, the merged
 * latency histogram of every trial under hist/, a `meta` provenance file
 * and, after plotting, the charts.  Every file is written to a temporary
 * name and renamed into place; each CSV is rewritten after every trial, so
 * an interrupted run keeps every completed trial and never a partial row.
 */
#ifndef CONTEND_OUTPUT_H
#define CONTEND_OUTPUT_H

#include "runner.h"

struct output;

/*
 * Create the run folder: `dir` if given (it must not exist or be empty),
 * else <root>/<run-id>, with <root>/latest pointing at it.  Writes meta.
 * On failure writes a one-line reason into err and creates nothing.
 */
int output_open(struct output **out, const char *dir, const char *root,
		int argc, char **argv, char *err, size_t errlen);

/* Note a trial combination that was skipped, and why (goes into meta). */
void output_note_skip(struct output *o, const char *what);

/* The trial sink for runner_run(). */
int output_add(void *o, const struct trial_result *r);

/* Rewrite meta with the end time and status, free everything. */
int output_close(struct output *o, const char *status);

const char *output_dir(const struct output *o);
const char *output_run_id(const struct output *o);
const char *output_host(const struct output *o);
const char *output_topo(const struct output *o);

/* The rows written so far for a workload (NULL if none yet). */
const struct csv_table *output_table(const struct output *o,
				     const struct workload *wl);

/* Record a line in meta (e.g. "ci_target: reached ..."). */
void output_note(struct output *o, const char *key, const char *value);

/* CSV file name for a workload: "sema/closed" -> "sema_closed.csv". */
void output_csv_name(const char *workload, char *buf, size_t len);

#endif
