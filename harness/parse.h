/* SPDX-License-Identifier: MIT */
/*
 * Command-line value parsers.  Each returns 0 or EINVAL and, on error,
 * writes a one-line lower-case reason into err ("invalid duration '0s':
 * must be positive").
 */
#ifndef CONTEND_PARSE_H
#define CONTEND_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "topo.h"

/* "1s", "200ms", "50us", "100ns", "1.5s", "2m"; a bare number is seconds. */
int parse_duration(const char *s, uint64_t *ns, char *err, size_t errlen);

/* A whole number in [min, max]. */
int parse_uint(const char *what, const char *s, unsigned min, unsigned max,
	       unsigned *out, char *err, size_t errlen);

/* "1,2,4" or "max" (= maxval); each in [1, limit]; at most cap items. */
int parse_uint_list(const char *what, const char *s, unsigned maxval,
		    unsigned limit, unsigned *out, unsigned *n, unsigned cap,
		    char *err, size_t errlen);

/* "compact,scatter" */
int parse_placements(const char *s, enum placement *out, unsigned *n,
		     unsigned cap, char *err, size_t errlen);

/* A number (with optional k/M/G suffix, e.g. "100k") in [min, max]. */
int parse_number(const char *what, const char *s, double min, double max,
		 double *out, char *err, size_t errlen);

#endif
