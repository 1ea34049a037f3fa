/* SPDX-License-Identifier: MIT */
/*
 * The part of a cancellation context that a blocking call sees.
 *
 * Every blocking operation in contend takes a `const struct ctx *`; NULL
 * means wait forever.  For now a context carries only an absolute deadline;
 * the ctx family (cancellation, causes, after-func registration) grows this
 * struct without changing any blocking signature.
 */
#ifndef CONTEND_CTX_H
#define CONTEND_CTX_H

#include <stdint.h>

struct ctx {
	uint64_t deadline_ns;	/* absolute CLOCK_MONOTONIC ns; 0 = none */
};

/* The deadline a waiter must honour: 0 when there is none. */
static inline uint64_t ctx_deadline(const struct ctx *c)
{
	return c ? c->deadline_ns : 0;
}

#endif
