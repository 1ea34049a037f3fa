/* SPDX-License-Identifier: MIT */
/*
 * A tiny TAP producer in the spirit of git's t/unit-tests/test-lib.h.
 * Tests are plain functions; check_int/check_uint/check print the file, the
 * line and both values when they fail.  Numbers a test measures go out as
 * "# " lines (tap_note), never as pass/fail on absolute time.
 *
 *	check_int(rc, ==, 0, "sema/%s: acquire succeeds", name);
 *	tap_skip("sema/posix: weighted acquire unsupported");
 *	return tap_done();
 */
#ifndef CONTEND_TAP_H
#define CONTEND_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_count, tap_failed;

static inline void tap_vresult(bool pass, const char *directive,
			       const char *fmt, va_list ap)
{
	printf("%sok %d - ", pass ? "" : "not ", ++tap_count);
	vprintf(fmt, ap);
	if (directive)
		printf(" # %s", directive);
	putchar('\n');
	fflush(stdout);
	if (!pass)
		tap_failed++;
}

static inline __attribute__((format(printf, 2, 3)))
bool tap_ok(bool pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, NULL, fmt, ap);
	va_end(ap);
	return pass;
}

static inline __attribute__((format(printf, 1, 2)))
void tap_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(true, "SKIP", fmt, ap);
	va_end(ap);
}

static inline __attribute__((format(printf, 1, 2)))
void tap_note(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Skip the whole program: a prerequisite is missing. */
static inline void tap_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

/* Stop the whole program: nothing after this could mean anything. */
static inline __attribute__((format(printf, 1, 2), noreturn))
void tap_bail(const char *fmt, ...)
{
	va_list ap;

	fputs("Bail out! ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	exit(1);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#define tap_diag_fail(file, line, expr) \
	printf("# check failed at %s:%d: %s\n", file, line, expr)

#define check(cond, ...) ({						\
	bool check_ok_ = (cond);					\
	if (!check_ok_)							\
		tap_diag_fail(__FILE__, __LINE__, #cond);		\
	tap_ok(check_ok_, __VA_ARGS__);					\
})

#define check_int(a, op, b, ...) ({					\
	long long check_a_ = (a), check_b_ = (b);			\
	bool check_ok_ = check_a_ op check_b_;				\
	if (!check_ok_) {						\
		tap_diag_fail(__FILE__, __LINE__, #a " " #op " " #b);	\
		printf("#   left: %lld\n#  right: %lld\n",		\
		       check_a_, check_b_);				\
	}								\
	tap_ok(check_ok_, __VA_ARGS__);					\
})

#define check_uint(a, op, b, ...) ({					\
	unsigned long long check_a_ = (a), check_b_ = (b);		\
	bool check_ok_ = check_a_ op check_b_;				\
	if (!check_ok_) {						\
		tap_diag_fail(__FILE__, __LINE__, #a " " #op " " #b);	\
		printf("#   left: %llu\n#  right: %llu\n",		\
		       check_a_, check_b_);				\
	}								\
	tap_ok(check_ok_, __VA_ARGS__);					\
})

#define check_dbl(a, op, b, ...) ({					\
	double check_a_ = (a), check_b_ = (b);				\
	bool check_ok_ = check_a_ op check_b_;				\
	if (!check_ok_) {						\
		tap_diag_fail(__FILE__, __LINE__, #a " " #op " " #b);	\
		printf("#   left: %.9g\n#  right: %.9g\n",		\
		       check_a_, check_b_);				\
	}								\
	tap_ok(check_ok_, __VA_ARGS__);					\
})

#endif
