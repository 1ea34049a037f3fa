/* SPDX-License-Identifier: MIT */
/*
 * What every implementation of every family says about itself.  Each
 * family's ops table starts with a `struct impl_info`, so the registry,
 * `contend list`, the runner and the tests can walk implementations of any
 * family without knowing its ops; a family header recovers its own table
 * with container_of (see sema_ops_of in sema.h).
 */
#ifndef CONTEND_IMPL_H
#define CONTEND_IMPL_H

enum impl_flags {
	IMPL_FIFO = 1u << 0,	  /* waiters are served strictly in arrival order */
	IMPL_TEST_ONLY = 1u << 1, /* deliberately broken: a negative control for
				   * the checkers; never in `all`, never benched */
	IMPL_FLOOR = 1u << 2,	  /* does nothing: the cost floor of the plug-in
				   * design, for micro-benchmarks only */
};

struct impl_info {
	const char *name;	 /* short, unique in its family: "futex" */
	const char *desc;	 /* one line for `contend list` */
	unsigned flags;		 /* enum impl_flags */
	const char *unsupported; /* NULL, or why it cannot run at all here */
};

#endif
