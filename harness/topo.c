/* SPDX-License-Identifier: MIT */
/*
 * Topology and thread placement on top of hwloc.
 *
 * topo_load() flattens the PUs into a table indexed by logical index, each
 * entry naming its core, package and NUMA node.  In hwloc 2 NUMA nodes are
 * memory children hanging off the tree, not ancestors of PUs, so a PU's
 * node is found by cpuset intersection.  A PU with no Core above it (as in
 * the synthetic "pu:1") counts as a core of its own.
 *
 * A plan is an order of all PUs; thread i takes entry i % npus.  Every
 * order is built by one routine, interleave(): split the PUs by the key of
 * a level, order each child by the levels below, then deal the children
 * round-robin (first PU of each child, then second of each, skipping
 * exhausted children).  The policies differ only in their levels:
 *
 *   compact  no levels: hwloc logical (depth-first) order, so SMT siblings
 *            fill first, then the cores of a package, then the next package.
 *   cores    core: the first PU of every core, cores in logical order, and
 *            a core's second PU only once every core has a thread.
 *   scatter  package, NUMA node, core: consecutive threads land on
 *            different packages, then different nodes of a package, then
 *            different cores of a node; SMT siblings come last.
 *
 * scatter is not hwloc_distrib(): that cuts the tree into n contiguous
 * chunks and hands them out in order, so threads i and i+1 are neighbours
 * (threads 0 and 1 share a package once n >= 2 * npackages) and where a
 * thread lands depends on n.  The round-robin order has a prefix property
 * instead: for every k the first k threads are spread as widely as the
 * machine allows, and adding threads never moves the earlier ones.
 *
 * Binding on a synthetic or XML topology is a successful no-op: its PUs are
 * not this machine's.  That is what makes plans testable on a 2-PU machine
 * against a 2-package, 64-PU picture.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hwloc.h>

#include "compiler.h"
#include "topo.h"

enum topo_source {
	TOPO_THIS_MACHINE,
	TOPO_SYNTHETIC,
	TOPO_XML,
};

struct topo {
	hwloc_topology_t hw;
	enum topo_source source;
	bool this_machine;	/* binding acts: this is the running system */
	char *spec;		/* synthetic string or XML path, else NULL */
	unsigned npus;
	unsigned ncores;
	unsigned npackages;
	unsigned nnuma;
	struct topo_pu *pus;	/* npus entries, indexed by logical index */
};

/* The levels a plan can interleave, outermost first. */
enum level {
	LEVEL_PACKAGE,
	LEVEL_NUMA,
	LEVEL_CORE,
};

static const char *const placement_names[] = {
	[PLACE_NONE] = "none",
	[PLACE_COMPACT] = "compact",
	[PLACE_SCATTER] = "scatter",
	[PLACE_CORES] = "cores",
};

static __attribute__((format(printf, 3, 4)))
void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* An XML path may contain ':', but a synthetic string never ends in .xml. */
static enum topo_source spec_source(const char *spec)
{
	if (!spec || !*spec)
		return TOPO_THIS_MACHINE;
	if (strchr(spec, ':') && !ends_with(spec, ".xml"))
		return TOPO_SYNTHETIC;
	return TOPO_XML;
}

/* hwloc's own complaint about an unreadable file is vague: check first. */
static int check_readable(const char *path)
{
	struct stat st;
	FILE *f;
	int rc = 0;

	f = fopen(path, "r");
	if (!f)
		return errno;
	if (fstat(fileno(f), &st))
		rc = errno;
	else if (S_ISDIR(st.st_mode))
		rc = EISDIR;
	fclose(f);
	return rc;
}

/* The first NUMA node, in logical order, that holds one of pu's CPUs. */
static unsigned numa_of(hwloc_topology_t hw, hwloc_obj_t pu)
{
	hwloc_obj_t node = NULL;

	while ((node = hwloc_get_next_obj_by_type(hw, HWLOC_OBJ_NUMANODE,
						  node)))
		if (node->cpuset && hwloc_bitmap_intersects(node->cpuset,
							    pu->cpuset))
			return node->logical_index;
	return 0;
}

static unsigned count_or_one(hwloc_topology_t hw, hwloc_obj_type_t type)
{
	int n = hwloc_get_nbobjs_by_type(hw, type);

	return n > 0 ? (unsigned)n : 1;
}

static int flatten(struct topo *t)
{
	hwloc_topology_t hw = t->hw;
	int npus = hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_PU);
	int ncores = hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_CORE);
	unsigned lone_core = ncores > 0 ? (unsigned)ncores : 0;
	unsigned i;

	if (npus <= 0)
		return ENODEV;
	t->pus = calloc(npus, sizeof(*t->pus));
	if (!t->pus)
		return ENOMEM;
	t->npus = npus;
	for (i = 0; i < t->npus; i++) {
		hwloc_obj_t pu = hwloc_get_obj_by_type(hw, HWLOC_OBJ_PU, i);
		hwloc_obj_t core, pkg;
		struct topo_pu *p = &t->pus[i];

		core = hwloc_get_ancestor_obj_by_type(hw, HWLOC_OBJ_CORE, pu);
		pkg = hwloc_get_ancestor_obj_by_type(hw, HWLOC_OBJ_PACKAGE, pu);
		p->logical = i;
		p->os_index = pu->os_index;
		p->core = core ? core->logical_index : lone_core++;
		p->package = pkg ? pkg->logical_index : 0;
		p->numa = numa_of(hw, pu);
	}
	t->ncores = lone_core;
	t->npackages = count_or_one(hw, HWLOC_OBJ_PACKAGE);
	t->nnuma = count_or_one(hw, HWLOC_OBJ_NUMANODE);
	return 0;
}

static void load_error(const char *spec, enum topo_source source, int rc,
		       char *err, size_t errlen)
{
	switch (source) {
	case TOPO_THIS_MACHINE:
		set_err(err, errlen, "cannot load this machine's topology: %s",
			strerror(rc));
		break;
	case TOPO_SYNTHETIC:
		set_err(err, errlen, "cannot load synthetic topology '%s': %s",
			spec, strerror(rc));
		break;
	case TOPO_XML:
		set_err(err, errlen, "invalid topology file '%s': %s", spec,
			strerror(rc));
		break;
	}
}

int topo_load(struct topo **out, const char *spec, char *err, size_t errlen)
{
	struct topo *t;
	int rc;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t) {
		set_err(err, errlen, "out of memory");
		return ENOMEM;
	}
	t->source = spec_source(spec);
	if (t->source != TOPO_THIS_MACHINE) {
		t->spec = strdup(spec);
		if (!t->spec) {
			rc = ENOMEM;
			set_err(err, errlen, "out of memory");
			goto out_free;
		}
	}
	errno = 0;
	if (hwloc_topology_init(&t->hw)) {
		rc = errno ? errno : ENOMEM;
		set_err(err, errlen, "cannot initialise hwloc: %s",
			strerror(rc));
		goto out_free;
	}

	switch (t->source) {
	case TOPO_THIS_MACHINE:
		break;
	case TOPO_SYNTHETIC:
		if (hwloc_topology_set_synthetic(t->hw, spec)) {
			rc = EINVAL;
			set_err(err, errlen, "invalid synthetic topology '%s'",
				spec);
			goto out_destroy;
		}
		break;
	case TOPO_XML:
		rc = check_readable(spec);
		if (rc) {
			set_err(err, errlen,
				"cannot read topology file '%s': %s", spec,
				strerror(rc));
			goto out_destroy;
		}
		errno = 0;
		if (hwloc_topology_set_xml(t->hw, spec)) {
			rc = errno ? errno : EINVAL;
			load_error(spec, t->source, rc, err, errlen);
			goto out_destroy;
		}
		break;
	}

	errno = 0;
	if (hwloc_topology_load(t->hw)) {
		rc = errno ? errno : EINVAL;
		load_error(spec, t->source, rc, err, errlen);
		goto out_destroy;
	}
	rc = flatten(t);
	if (rc) {
		load_error(spec, t->source, rc, err, errlen);
		goto out_destroy;
	}
	/* HWLOC_XMLFILE and friends can make even a plain load not ours. */
	t->this_machine = t->source == TOPO_THIS_MACHINE &&
			  hwloc_topology_is_thissystem(t->hw);
	*out = t;
	return 0;

out_destroy:
	hwloc_topology_destroy(t->hw);
out_free:
	free(t->pus);
	free(t->spec);
	free(t);
	return rc;
}

void topo_free(struct topo *t)
{
	if (!t)
		return;
	hwloc_topology_destroy(t->hw);
	free(t->pus);
	free(t->spec);
	free(t);
}

bool topo_is_this_machine(const struct topo *t)
{
	return t->this_machine;
}

unsigned topo_npus(const struct topo *t)
{
	return t->npus;
}

unsigned topo_ncores(const struct topo *t)
{
	return t->ncores;
}

unsigned topo_npackages(const struct topo *t)
{
	return t->npackages;
}

unsigned topo_nnuma(const struct topo *t)
{
	return t->nnuma;
}

void topo_summary(const struct topo *t, char *buf, size_t len)
{
	snprintf(buf, len, "%upkg/%unuma/%ucore/%upu", t->npackages,
		 t->nnuma, t->ncores, t->npus);
}

const struct topo_pu *topo_pu(const struct topo *t, unsigned logical)
{
	return logical < t->npus ? &t->pus[logical] : NULL;
}

int placement_parse(const char *name, enum placement *out)
{
	size_t i;

	if (!name)
		return EINVAL;
	for (i = 0; i < ARRAY_SIZE(placement_names); i++) {
		if (!strcmp(name, placement_names[i])) {
			*out = i;
			return 0;
		}
	}
	return EINVAL;
}

const char *placement_name(enum placement p)
{
	if ((unsigned)p >= ARRAY_SIZE(placement_names))
		return "?";
	return placement_names[p];
}

static unsigned level_key(const struct topo_pu *pu, enum level l)
{
	switch (l) {
	case LEVEL_PACKAGE:
		return pu->package;
	case LEVEL_NUMA:
		return pu->numa;
	case LEVEL_CORE:
		return pu->core;
	}
	return 0;
}

/*
 * Reorder idx[0..n), PUs in logical order, by the levels in levels[]:
 * split the PUs into children by the key of levels[0] (children in order
 * of first appearance, which is logical order), order each child by the
 * remaining levels, then deal the children round-robin: the first PU of
 * each child, then the second of each, skipping exhausted children.  With
 * no levels left the PUs keep their logical order.
 */
static int interleave(const struct topo *t, const enum level *levels,
		      unsigned nlevels, unsigned *idx, unsigned n)
{
	unsigned *grouped, *child, *key, *start, *len;
	unsigned nchild = 0, longest = 0, i, c, k, round;
	int rc = 0;

	if (!nlevels || n <= 1)
		return 0;
	grouped = malloc(5 * (size_t)n * sizeof(*grouped));
	if (!grouped)
		return ENOMEM;
	child = grouped + n;
	key = child + n;
	start = key + n;
	len = start + n;

	for (i = 0; i < n; i++) {
		unsigned kv = level_key(&t->pus[idx[i]], levels[0]);

		for (c = 0; c < nchild && key[c] != kv; c++)
			;
		if (c == nchild) {
			key[nchild] = kv;
			len[nchild++] = 0;
		}
		child[i] = c;
		len[c]++;
	}
	for (c = 0, k = 0; c < nchild; c++) {
		start[c] = k;
		k += len[c];
		len[c] = 0;
	}
	for (i = 0; i < n; i++) {
		c = child[i];
		grouped[start[c] + len[c]++] = idx[i];
	}

	for (c = 0; c < nchild; c++) {
		rc = interleave(t, levels + 1, nlevels - 1, grouped + start[c],
				len[c]);
		if (rc)
			goto out;
		if (len[c] > longest)
			longest = len[c];
	}
	for (round = 0, k = 0; round < longest; round++)
		for (c = 0; c < nchild; c++)
			if (round < len[c])
				idx[k++] = grouped[start[c] + round];
out:
	free(grouped);
	return rc;
}

int topo_plan(const struct topo *t, enum placement p, unsigned nthreads,
	      int *pu_out)
{
	static const enum level scatter[] = {
		LEVEL_PACKAGE, LEVEL_NUMA, LEVEL_CORE,
	};
	static const enum level cores[] = { LEVEL_CORE };
	const enum level *levels;
	unsigned nlevels, *order, i;
	int rc;

	switch (p) {
	case PLACE_NONE:
		for (i = 0; i < nthreads; i++)
			pu_out[i] = -1;
		return 0;
	case PLACE_COMPACT:
		levels = NULL;
		nlevels = 0;
		break;
	case PLACE_SCATTER:
		levels = scatter;
		nlevels = ARRAY_SIZE(scatter);
		break;
	case PLACE_CORES:
		levels = cores;
		nlevels = ARRAY_SIZE(cores);
		break;
	default:
		return EINVAL;
	}

	order = malloc(t->npus * sizeof(*order));
	if (!order)
		return ENOMEM;
	for (i = 0; i < t->npus; i++)
		order[i] = i;
	rc = interleave(t, levels, nlevels, order, t->npus);
	if (!rc)
		for (i = 0; i < nthreads; i++)
			pu_out[i] = order[i % t->npus];
	free(order);
	return rc;
}

static int bind_thread(const struct topo *t, hwloc_const_cpuset_t set)
{
	errno = 0;
	if (hwloc_set_cpubind(t->hw, set, HWLOC_CPUBIND_THREAD))
		return errno ? errno : EINVAL;
	return 0;
}

int topo_bind_self(const struct topo *t, int logical_pu)
{
	hwloc_obj_t pu;

	if (logical_pu < 0)
		return 0;
	if ((unsigned)logical_pu >= t->npus)
		return EINVAL;
	if (!t->this_machine)
		return 0;
	pu = hwloc_get_obj_by_type(t->hw, HWLOC_OBJ_PU, logical_pu);
	if (!pu)
		return EINVAL;
	return bind_thread(t, pu->cpuset);
}

int topo_unbind_self(const struct topo *t)
{
	if (!t->this_machine)
		return 0;
	return bind_thread(t, hwloc_topology_get_allowed_cpuset(t->hw));
}

/* "package L#1 P#1": the P# only when hwloc has such an object. */
static void print_obj(const struct topo *t, FILE *f, hwloc_obj_type_t type,
		      unsigned logical, const char *label, int indent)
{
	hwloc_obj_t obj = hwloc_get_obj_by_type(t->hw, type, logical);

	fprintf(f, "%*s%s L#%u", indent, "", label, logical);
	if (obj && obj->os_index != HWLOC_UNKNOWN_INDEX)
		fprintf(f, " P#%u", obj->os_index);
}

void topo_print(const struct topo *t, FILE *f)
{
	const struct topo_pu *p, *prev = NULL;
	char sum[64];
	unsigned i;

	topo_summary(t, sum, sizeof(sum));
	switch (t->source) {
	case TOPO_THIS_MACHINE:
		fprintf(f, "topology this machine: %s\n", sum);
		break;
	case TOPO_SYNTHETIC:
		fprintf(f, "topology synthetic '%s': %s\n", t->spec, sum);
		break;
	case TOPO_XML:
		fprintf(f, "topology file '%s': %s\n", t->spec, sum);
		break;
	}

	for (i = 0; i < t->npus; prev = p, i++) {
		bool new_pkg, new_numa, new_core;

		p = &t->pus[i];
		new_pkg = !prev || p->package != prev->package;
		new_numa = new_pkg || p->numa != prev->numa;
		new_core = new_numa || p->core != prev->core;
		if (new_core && prev)
			fputc('\n', f);
		if (new_pkg) {
			print_obj(t, f, HWLOC_OBJ_PACKAGE, p->package,
				  "package", 0);
			fputc('\n', f);
		}
		if (new_numa) {
			print_obj(t, f, HWLOC_OBJ_NUMANODE, p->numa, "numa", 2);
			fputc('\n', f);
		}
		if (new_core) {
			print_obj(t, f, HWLOC_OBJ_CORE, p->core, "core", 4);
			fprintf(f, ": pu L#%u P#%u", p->logical, p->os_index);
		} else {
			fprintf(f, ", L#%u P#%u", p->logical, p->os_index);
		}
	}
	if (prev)
		fputc('\n', f);
}
