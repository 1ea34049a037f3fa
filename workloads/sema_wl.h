/* SPDX-License-Identifier: MIT */
/*
 * What the semaphore workloads share: the semaphore under test, the check
 * that an implementation can run the requested weight, and the end-of-
 * trial invariant that every permit is back.
 */
#ifndef CONTEND_SEMA_WL_H
#define CONTEND_SEMA_WL_H

#include "sema.h"
#include "workload.h"

struct sema_wl {
	struct sema *s;
	const struct sema_ops *ops;
	unsigned permits;
};

static inline const char *sema_wl_check(const struct impl_info *impl,
					double permits, double weight)
{
	const struct sema_ops *ops = sema_ops_of(impl);

	if (weight > permits)
		return "weight exceeds permits";
	if (weight > 1 && ops->no_weighted)
		return ops->no_weighted;
	return NULL;
}

static inline int sema_wl_create(struct sema_wl *w, const struct trial *t,
				 double permits)
{
	w->ops = sema_ops_of(t->impl);
	w->permits = (unsigned)permits;
	return w->ops->create(&w->s, w->permits);
}

/* Every permit must be back once everyone has stopped. */
static inline void sema_wl_verify(struct trial *t, const struct sema_wl *w)
{
	if (w->ops->available(w->s) != w->permits)
		t->workers[0].violations++;
}

static inline void sema_wl_destroy(struct sema_wl *w)
{
	w->ops->destroy(w->s);
}

#endif
