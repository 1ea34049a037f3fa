/* SPDX-License-Identifier: MIT */
/*
 * ctx/tree: cancel the root of a tree of contexts of depth `depth` and
 * breadth `breadth` (breadth^depth leaves; depth 3, breadth 10 is 1000
 * leaves) and time how long until every leaf sees it.  Propagation runs
 * through the parent-to-child hooks inside the cancel call, so when the
 * call returns every leaf must already read cancelled: the latency is the
 * cancel call, and a leaf found live afterwards is an invariant violation.
 * Each thread builds, cancels and frees its own tree in a loop; building
 * and freeing are not timed.  Throughput is trees per second.
 */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "ctx.h"
#include "workload.h"

enum { P_DEPTH, P_BREADTH };
enum { X_NODES, X_LEAVES };

static const struct param_spec tree_params[] = {
	[P_DEPTH] = { "depth", 3, 1, 8, NULL, "levels below the root" },
	[P_BREADTH] = { "breadth", 10, 1, 1000, NULL, "children of every inner node" },
	{ 0 },
};

static const char *const tree_extras[] = {
	[X_NODES] = "nodes",
	[X_LEAVES] = "leaves",
	NULL,
};

static size_t count_nodes(unsigned depth, unsigned breadth, size_t *leaves)
{
	size_t level = 1, all = 1;

	for (unsigned d = 0; d < depth; d++) {
		level *= breadth;
		all += level;
	}
	*leaves = level;
	return all;
}

static const char *tree_check(const struct impl_info *impl, const double *param)
{
	size_t leaves;

	(void)impl;
	if (count_nodes((unsigned)param[P_DEPTH], (unsigned)param[P_BREADTH], &leaves) > 2000000)
		return "more than 2,000,000 contexts per tree";
	return NULL;
}

static int tree_setup(struct trial *t)
{
	t->state = NULL;
	return 0;
}

static void tree_thread(struct worker *w)
{
	const struct ctx_ops *ops = ctx_ops_of(w->trial->impl);
	unsigned depth = (unsigned)w->trial->param[P_DEPTH];
	unsigned breadth = (unsigned)w->trial->param[P_BREADTH];
	size_t leaves, all = count_nodes(depth, breadth, &leaves);
	struct ctx **node = malloc(all * sizeof(*node));

	if (!node) {
		w->errors++;
		return;
	}
	while (worker_running(w)) {
		uint64_t t0;
		size_t made = 1;

		if (ops->create(&node[0], NULL, 0)) {
			w->errors++;
			break;
		}
		/* Breadth-first: node i's children follow all of level i's. */
		for (size_t i = 0; made < all; i++)
			for (unsigned b = 0; b < breadth && made < all; b++)
				if (ops->create(&node[made++], node[i], 0))
					w->errors++;
		t0 = now_ns();
		ops->cancel(node[0], ECANCELED, NULL);
		worker_record(w, now_ns() - t0);
		for (size_t i = all - leaves; i < all; i++)
			if (!ctx_err(node[i]))
				w->violations++;
		/* Children before parents: in reverse creation order. */
		for (size_t i = all; i-- > 0;)
			ops->destroy(node[i]);
		w->ops++;
	}
	free(node);
}

static void tree_finish(struct trial *t, struct trial_extra *x)
{
	size_t leaves;

	x->v[X_NODES] = (double)count_nodes((unsigned)t->param[P_DEPTH],
					    (unsigned)t->param[P_BREADTH], &leaves);
	x->v[X_LEAVES] = (double)leaves;
}

static void tree_teardown(struct trial *t)
{
	(void)t;
}

const struct workload ctx_tree_workload = {
	.name = "ctx/tree",
	.family = "ctx",
	.desc = "cancel the root of a depth x breadth tree: time until every leaf sees it",
	.params = tree_params,
	.extras = tree_extras,
	.check = tree_check,
	.setup = tree_setup,
	.thread = tree_thread,
	.finish = tree_finish,
	.teardown = tree_teardown,
};
