/* SPDX-License-Identifier: MIT */
/*
 * Topology and thread placement.  A struct topo wraps an hwloc topology,
 * loaded from this machine, from an hwloc synthetic description or from an
 * XML file, plus a flattened table of its PUs.  topo_plan() maps thread i
 * to a PU under one of the placement policies; topo_bind_self() pins the
 * calling thread to it.  On a synthetic or XML topology binding is a
 * successful no-op, so every plan can be computed and tested against a
 * 2-package, 64-PU picture on a 2-PU machine.
 *
 * All indexes here are hwloc logical indexes unless named os_index.  Tests
 * must assert relations (same core, same package), never raw OS indexes:
 * their numbering varies by vendor and firmware.
 */
#ifndef CONTEND_TOPO_H
#define CONTEND_TOPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct topo;

enum placement {
	PLACE_NONE,	/* unpinned: the plan says -1 for every thread */
	PLACE_COMPACT,	/* SMT siblings, then cores, then packages */
	PLACE_SCATTER,	/* round-robin packages, NUMA nodes, cores, PUs */
	PLACE_CORES,	/* one PU per core before any core gets a second */
};

/*
 * One PU.  core, package and numa are logical indexes of the objects that
 * hold it.  A PU with no Core above it counts as a core of its own
 * (numbered after the real ones); with no Package above it, package is 0.
 * numa is the first NUMA node (logical order) whose cpuset contains the PU.
 */
struct topo_pu {
	unsigned logical;
	unsigned os_index;
	unsigned core;
	unsigned package;
	unsigned numa;
};

/*
 * Load a topology.  spec NULL or "" is this machine; a spec containing ':'
 * (and not ending in ".xml") is an hwloc synthetic description such as
 * "package:2 numa:2 core:4 pu:2"; anything else is the path of an XML file
 * written by lstopo or hwloc_topology_export_xml().  Returns 0 and sets
 * *out, or returns an errno-style code (EINVAL for a bad synthetic string,
 * the open(2) error for an unreadable file) with a one-line message in err.
 */
int topo_load(struct topo **out, const char *spec, char *err, size_t errlen);
void topo_free(struct topo *t);

/* False for synthetic and XML topologies: binding is then skipped. */
bool topo_is_this_machine(const struct topo *t);

/* Counts are never 0: a missing level counts as one object. */
unsigned topo_npus(const struct topo *t);
unsigned topo_ncores(const struct topo *t);
unsigned topo_npackages(const struct topo *t);
unsigned topo_nnuma(const struct topo *t);

/* One CSV-safe word such as "2pkg/4numa/16core/32pu". */
void topo_summary(const struct topo *t, char *buf, size_t len);

/* The PU with that logical index, or NULL when out of range. */
const struct topo_pu *topo_pu(const struct topo *t, unsigned logical);

/* "none", "compact", "scatter", "cores"; EINVAL for anything else. */
int placement_parse(const char *name, enum placement *out);
/* The name placement_parse() accepts, or "?" for an invalid value. */
const char *placement_name(enum placement p);

/*
 * Fill pu_out[0..nthreads) with the logical PU of each thread, or -1 for
 * every thread under PLACE_NONE.  Thread i >= npus gets the PU of thread
 * i % npus: the caller flags that run as oversubscribed.  Returns 0,
 * EINVAL for an unknown policy or ENOMEM.
 */
int topo_plan(const struct topo *t, enum placement p, unsigned nthreads,
	      int *pu_out);

/*
 * Bind the calling thread to one PU, or to the whole allowed cpuset.  Both
 * are successful no-ops on a synthetic or XML topology, and topo_bind_self
 * is one for logical_pu < 0 (PLACE_NONE).  A logical_pu >= npus is EINVAL
 * on any topology.  Otherwise the errno of the failed binding.
 */
int topo_bind_self(const struct topo *t, int logical_pu);
int topo_unbind_self(const struct topo *t);

/* A compact tree: one line per package, NUMA node and core. */
void topo_print(const struct topo *t, FILE *f);

#endif
