/* SPDX-License-Identifier: MIT */
/*
 * The one list of everything contend can run: families, their
 * implementations, workloads and stress checkers.  `contend list`, the
 * runner, the conformance tests and the stress suite all iterate it, so a
 * new implementation is one new file plus one line in registry.c.
 */
#ifndef CONTEND_REGISTRY_H
#define CONTEND_REGISTRY_H

#include <stddef.h>

#include "impl.h"

struct micro_family;
struct stress_family;
struct workload;

struct family {
	const char *name;
	const char *desc;
	const struct impl_info *const *impls;	/* NULL-terminated */
	bool ordered;		/* waiters queue: `list` says FIFO or barging */
	const char *baseline;	/* the well-known library's implementation,
				 * which reports compare the others against */
	const struct stress_family *stress;	/* NULL: no stress checker yet */
	const struct micro_family *micro;	/* NULL: no micro-benchmarks yet */
};

extern const struct family *const families[];		/* NULL-terminated */
extern const struct workload *const workloads[];	/* NULL-terminated */

const struct family *family_find(const char *name);
const struct impl_info *family_impl(const struct family *f, const char *name);
const struct workload *workload_find(const char *name);

/* Write "a b c" of a family's implementations (test-only ones last, marked). */
void family_impl_names(const struct family *f, char *buf, size_t len);
void workload_names(char *buf, size_t len);
void family_names(char *buf, size_t len);

/*
 * A workload parameter's choices: the names of a family's real
 * implementations that keep() accepts (NULL: every one), NULL-terminated,
 * at most max - 1 of them.  Returns how many; *def_index (if not NULL) is
 * def_name's place among them, unchanged if it is not there.
 */
unsigned family_choices(const char *family, const char **names, unsigned max,
			bool (*keep)(const struct impl_info *),
			const char *def_name, double *def_index);

#define for_each_impl(f, i, pi) \
	for (const struct impl_info *const *pi = (f)->impls; ((i) = *pi); pi++)

#endif
