/* SPDX-License-Identifier: MIT */
#ifndef CONTEND_PLOT_H
#define CONTEND_PLOT_H

#include <stdio.h>

/*
 * Draw every chart of a run folder: for each workload CSV and each group of
 * rows sharing parameters, placement and latency setting, a throughput
 * chart, a fairness chart and one latency chart per thread count, as PNG
 * and SVG, from the gnuplot scripts in plots/.  The data behind each chart
 * is kept in chartdata/ so it can be redrawn by hand, and charts.md ties
 * them together with median tables.  Returns 0 or an errno code; reasons
 * go to log.
 */
int plot_run(const char *dir, FILE *log);

#endif
