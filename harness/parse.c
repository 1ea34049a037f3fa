/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int parse_duration(const char *s, uint64_t *ns, char *err, size_t errlen)
{
	static const struct { const char *unit; double scale; } units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 },
		{ "m", 60e9 }, { "", 1e9 },
	};
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !isfinite(v)) {
		snprintf(err, errlen, "invalid duration '%s': expected a number with a unit such as 1s, 200ms, 50us", s);
		return EINVAL;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		v *= units[i].scale;
		if (v < 1) {
			snprintf(err, errlen, "invalid duration '%s': must be positive", s);
			return EINVAL;
		}
		if (v > 86400e9) {
			snprintf(err, errlen, "invalid duration '%s': longer than a day", s);
			return EINVAL;
		}
		*ns = (uint64_t)v;
		return 0;
	}
	snprintf(err, errlen, "invalid duration '%s': unknown unit '%s' (use ns, us, ms, s or m)", s, end);
	return EINVAL;
}

int parse_number(const char *what, const char *s, double min, double max,
		 double *out, char *err, size_t errlen)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end != s && *end && !end[1]) {
		switch (*end) {
		case 'k': v *= 1e3; end++; break;
		case 'M': v *= 1e6; end++; break;
		case 'G': v *= 1e9; end++; break;
		}
	}
	if (end == s || *end || errno || !isfinite(v)) {
		snprintf(err, errlen, "invalid %s '%s': not a number", what, s);
		return EINVAL;
	}
	if (v < min || v > max) {
		snprintf(err, errlen, "invalid %s '%s': must be between %.15g and %.15g",
			 what, s, min, max);
		return EINVAL;
	}
	*out = v;
	return 0;
}

int parse_uint(const char *what, const char *s, unsigned min, unsigned max,
	       unsigned *out, char *err, size_t errlen)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end || errno) {
		snprintf(err, errlen, "invalid %s '%s': not a whole number", what, s);
		return EINVAL;
	}
	if (v < min || v > max) {
		snprintf(err, errlen, "invalid %s '%s': must be between %u and %u",
			 what, s, min, max);
		return EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

int parse_uint_list(const char *what, const char *s, unsigned maxval,
		    unsigned limit, unsigned *out, unsigned *n, unsigned cap,
		    char *err, size_t errlen)
{
	char buf[512], *save = NULL, *tok;

	if (!*s) {
		snprintf(err, errlen, "invalid %s '': empty (expected a list such as 1,2,4 or max)", what);
		return EINVAL;
	}
	if (strlen(s) >= sizeof(buf)) {
		snprintf(err, errlen, "invalid %s: list too long", what);
		return EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned v;

		if (*n == cap) {
			snprintf(err, errlen, "invalid %s '%s': more than %u values", what, s, cap);
			return EINVAL;
		}
		if (!strcmp(tok, "max")) {
			v = maxval;
		} else if (parse_uint(what, tok, 1, limit, &v, err, errlen)) {
			return EINVAL;
		}
		out[(*n)++] = v;
	}
	if (!*n) {
		snprintf(err, errlen, "invalid %s '%s': no value (expected a list such as 1,2,4 or max)", what, s);
		return EINVAL;
	}
	return 0;
}

int parse_placements(const char *s, enum placement *out, unsigned *n,
		     unsigned cap, char *err, size_t errlen)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == cap || placement_parse(tok, &out[*n])) {
			snprintf(err, errlen, "unknown placement '%s' (valid: compact scatter cores none)", tok);
			return EINVAL;
		}
		(*n)++;
	}
	if (!*n) {
		snprintf(err, errlen, "unknown placement '%s' (valid: compact scatter cores none)", s);
		return EINVAL;
	}
	return 0;
}
