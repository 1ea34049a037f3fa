/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "chan.h"
#include "ctx.h"
#include "drain.h"
#include "rate.h"
#include "registry.h"
#include "sema.h"
#include "stress.h"
#include "workload.h"

extern const struct workload sema_closed_workload, sema_open_workload,
	ctx_broadcast_workload, ctx_children_workload, ctx_deadline_workload,
	ctx_rpc_workload, ctx_tree_workload, chan_pipeline_workload,
	backpressure_overload_workload, rate_accuracy_workload,
	rate_contention_workload, rate_shaping_workload;
extern const struct workload drain_hot_workload, drain_quiesce_workload,
	drain_server_workload;
extern const struct stress_family sema_stress, ctx_stress, chan_stress,
	rate_stress, drain_stress;
extern const struct micro_family sema_micro, ctx_micro, chan_micro,
	rate_micro;
extern const struct micro_family drain_micro;

static const struct impl_info *const sema_impls[] = {
	&sema_mutex_ops.info,
	&sema_futex_ops.info,
	&sema_spin_ops.info,
	&sema_posix_ops.info,
	&sema_chan_ops.info,
	&sema_busted_ops.info,
	&sema_null_ops.info,
	NULL,
};

static const struct family sema_family = {
	.name = "sema",
	.desc = "counting/binary semaphore, weighted (Go: x/sync/semaphore)",
	.impls = sema_impls,
	.ordered = true,
	.baseline = "posix",
	.stress = &sema_stress,
	.micro = &sema_micro,
};

static const struct impl_info *const ctx_impls[] = {
	&ctx_mutex_ops.info,
	&ctx_futex_ops.info,
	&ctx_atomic_ops.info,
	&ctx_chan_ops.info,
	&ctx_busted_ops.info,
	NULL,
};

static const struct family ctx_family = {
	.name = "ctx",
	.desc = "cancellation context: cancel, deadline, parent/child, after-func (Go: context)",
	.impls = ctx_impls,
	.stress = &ctx_stress,
	.micro = &ctx_micro,
};

static const struct impl_info *const chan_impls[] = {
	&chan_mutex_ops.info,
	&chan_futex_ops.info,
	&chan_lockfree_ops.info,
	&chan_ck_ops.info,
	&chan_busted_ops.info,
	NULL,
};

static const struct family chan_family = {
	.name = "chan",
	.desc = "bounded channel / queue: block, queue, shed (Go: buffered chan)",
	.impls = chan_impls,
	.ordered = true,
	.baseline = "ck",
	.stress = &chan_stress,
	.micro = &chan_micro,
};

static const struct impl_info *const rate_impls[] = {
	&rate_tb_mutex_ops.info,
	&rate_tb_atomic_ops.info,
	&rate_gcra_atomic_ops.info,
	&rate_lb_queue_ops.info,
	&rate_tb_chan_ops.info,
	&rate_busted_ops.info,
	NULL,
};

static const struct family rate_family = {
	.name = "rate",
	.desc = "rate limiter: token bucket, GCRA, leaky bucket (Go: x/time/rate, uber ratelimit)",
	.impls = rate_impls,
	.baseline = "tb-chan",
	.stress = &rate_stress,
	.micro = &rate_micro,
};

static const struct impl_info *const drain_impls[] = {
	&drain_mutex_ops.info,
	&drain_futex_ops.info,
	&drain_atomic_ops.info,
	&drain_sharded_ops.info,
	&drain_chan_ops.info,
	&drain_busted_ops.info,
	NULL,
};

static const struct family drain_family = {
	.name = "drain",
	.desc = "in-flight tracker for graceful shutdown: enter, leave, close and wait (Go: Server.Shutdown, WaitGroup)",
	.impls = drain_impls,
	.baseline = "chan",
	.stress = &drain_stress,
	.micro = &drain_micro,
};

const struct family *const families[] = {
	&sema_family,
	&ctx_family,
	&chan_family,
	&rate_family,
	&drain_family,
	NULL,
};

const struct workload *const workloads[] = {
	&sema_closed_workload,
	&sema_open_workload,
	&ctx_broadcast_workload,
	&ctx_children_workload,
	&ctx_deadline_workload,
	&ctx_rpc_workload,
	&ctx_tree_workload,
	&chan_pipeline_workload,
	&backpressure_overload_workload,
	&rate_accuracy_workload,
	&rate_contention_workload,
	&rate_shaping_workload,
	&drain_hot_workload,
	&drain_quiesce_workload,
	&drain_server_workload,
	NULL,
};

const struct family *family_find(const char *name)
{
	for (const struct family *const *f = families; *f; f++)
		if (!strcmp((*f)->name, name))
			return *f;
	return NULL;
}

const struct impl_info *family_impl(const struct family *f, const char *name)
{
	const struct impl_info *i;

	for_each_impl(f, i, p)
		if (!strcmp(i->name, name))
			return i;
	return NULL;
}

const struct workload *workload_find(const char *name)
{
	for (const struct workload *const *w = workloads; *w; w++)
		if (!strcmp((*w)->name, name))
			return *w;
	return NULL;
}

static void append(char *buf, size_t len, const char *s)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used ? " " : "", s);
}

void family_impl_names(const struct family *f, char *buf, size_t len)
{
	const struct impl_info *i;
	char tmp[96];

	buf[0] = '\0';
	for_each_impl(f, i, p)
		if (!(i->flags & (IMPL_TEST_ONLY | IMPL_FLOOR)))
			append(buf, len, i->name);
	for_each_impl(f, i, p)
		if (i->flags & (IMPL_TEST_ONLY | IMPL_FLOOR)) {
			snprintf(tmp, sizeof(tmp), "%s(%s)", i->name,
				 i->flags & IMPL_FLOOR ? "floor" : "test-only");
			append(buf, len, tmp);
		}
}

void workload_names(char *buf, size_t len)
{
	buf[0] = '\0';
	for (const struct workload *const *w = workloads; *w; w++)
		append(buf, len, (*w)->name);
}

void family_names(char *buf, size_t len)
{
	buf[0] = '\0';
	for (const struct family *const *f = families; *f; f++)
		append(buf, len, (*f)->name);
}

unsigned family_choices(const char *family, const char **names, unsigned max,
			bool (*keep)(const struct impl_info *),
			const char *def_name, double *def_index)
{
	const struct family *f = family_find(family);
	const struct impl_info *i;
	unsigned n = 0;

	if (f)
		for_each_impl(f, i, p) {
			if ((i->flags & (IMPL_TEST_ONLY | IMPL_FLOOR)) ||
			    (keep && !keep(i)) || n + 1 >= max)
				continue;
			if (def_index && def_name && !strcmp(i->name, def_name))
				*def_index = n;
			names[n++] = i->name;
		}
	names[n] = NULL;
	return n;
}
