/* SPDX-License-Identifier: MIT */
/*
 * Chaos injection points.  `contend stress --chaos` turns them on; they then
 * insert random yields and short delays where a race window would hide.
 * Primitives place them only on slow paths (before parking, after waking),
 * so a disabled point costs one relaxed load on a path that is about to
 * make a system call anyway.
 */
#ifndef CONTEND_CHAOS_H
#define CONTEND_CHAOS_H

#include <stdatomic.h>
#include <stdbool.h>

#include "compiler.h"

extern atomic_bool chaos_enabled;

void chaos_inject(void);

static inline void chaos_point(void)
{
	if (unlikely(atomic_load_explicit(&chaos_enabled, memory_order_relaxed)))
		chaos_inject();
}

#endif
