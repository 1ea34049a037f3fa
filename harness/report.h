/* SPDX-License-Identifier: MIT */
#ifndef CONTEND_REPORT_H
#define CONTEND_REPORT_H

#include <stddef.h>
#include <stdio.h>

/*
 * Write report.md with every chart (PNG and SVG), median tables with 95%
 * confidence intervals, verdicts against each family's baseline, noise
 * signals and flagged trials, for one run folder or for several combined
 * (then each series is "impl@host", or "impl@run" when hosts repeat).
 * out_dir: where report.md, the charts and chartdata/ go; NULL means the
 * run folder itself (only with one run).  Also writes <workload>.summary.csv
 * beside the report.  Returns 0 or an errno code; reasons go to log.
 */
int report_write(const char *const *dirs, size_t ndirs, const char *out_dir,
		 FILE *log);

#endif
