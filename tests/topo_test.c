/* SPDX-License-Identifier: MIT */
/*
 * Placement plans on synthetic topologies: a 2-package, 64-PU picture is
 * planned on whatever machine runs the test.  Every check is a relation
 * (same core, other package, every PU once), never a raw OS index, since
 * OS numbering varies by vendor.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hwloc.h>
#include <hwloc/export.h>

#include "compiler.h"
#include "tap.h"
#include "topo.h"

struct picture {
	const char *spec;
	unsigned npus;
	unsigned ncores;
	unsigned npackages;
	unsigned nnuma;
};

static const struct picture pictures[] = {
	{ "package:2 numa:2 core:4 pu:2", 32, 16, 2, 4 },
	{ "package:2 core:16 pu:2", 64, 32, 2, 1 },
	{ "package:4 numa:2 core:4 pu:2", 64, 32, 4, 8 },
	{ "core:2 pu:1", 2, 2, 1, 1 },
	{ "pu:1", 1, 1, 1, 1 },
};

/* The picture whose scatter plan and tree go out as notes. */
#define NOTED_SPEC "package:2 numa:2 core:4 pu:2"

static const enum placement pinned[] = {
	PLACE_COMPACT, PLACE_SCATTER, PLACE_CORES,
};

/* What two planned threads may share. */
enum key {
	KEY_PU,
	KEY_CORE,
	KEY_PACKAGE,
	KEY_NUMA,
};

static unsigned key_of(const struct topo *t, int pu, enum key k)
{
	const struct topo_pu *p = topo_pu(t, pu);

	switch (k) {
	case KEY_PU:
		return p->logical;
	case KEY_CORE:
		return p->core;
	case KEY_PACKAGE:
		return p->package;
	case KEY_NUMA:
		return p->numa;
	}
	return 0;
}

static unsigned key_count(const struct topo *t, enum key k)
{
	switch (k) {
	case KEY_PU:
		return topo_npus(t);
	case KEY_CORE:
		return topo_ncores(t);
	case KEY_PACKAGE:
		return topo_npackages(t);
	case KEY_NUMA:
		return topo_nnuma(t);
	}
	return 0;
}

static bool same(const struct topo *t, const int *plan, unsigned a,
		 unsigned b, enum key k)
{
	return key_of(t, plan[a], k) == key_of(t, plan[b], k);
}

/* Every plan entry names a PU of t. */
static bool in_range(const struct topo *t, const int *plan, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (plan[i] < 0 || (unsigned)plan[i] >= topo_npus(t))
			return false;
	return true;
}

/* No two of the first n threads share a k. */
static bool distinct(const struct topo *t, const int *plan, unsigned n,
		     enum key k)
{
	bool *seen = calloc(key_count(t, k), sizeof(*seen));
	bool ok = seen && in_range(t, plan, n);
	unsigned i;

	for (i = 0; ok && i < n; i++) {
		unsigned v = key_of(t, plan[i], k);

		ok = v < key_count(t, k) && !seen[v];
		if (ok)
			seen[v] = true;
	}
	free(seen);
	return ok;
}

static bool permutation(const struct topo *t, const int *plan, unsigned n)
{
	return n == topo_npus(t) && distinct(t, plan, n, KEY_PU);
}

/* How many PUs of t share k with PU pu. */
static unsigned pus_sharing(const struct topo *t, int pu, enum key k)
{
	unsigned i, n = 0;

	for (i = 0; i < topo_npus(t); i++)
		n += key_of(t, i, k) == key_of(t, pu, k);
	return n;
}

/*
 * The plan leaves a k (a core, a package) only once every PU of it has a
 * thread: whenever the key changes, the one left behind is full.
 */
static bool fills_before_moving(const struct topo *t, const int *plan,
				unsigned n, enum key k)
{
	unsigned i, j, used;

	for (i = 1; i < n; i++) {
		if (same(t, plan, i - 1, i, k))
			continue;
		for (j = 0, used = 0; j < i; j++)
			used += same(t, plan, j, i - 1, k);
		if (used != pus_sharing(t, plan[i - 1], k))
			return false;
	}
	return true;
}

/* Distinct (package, NUMA node) pairs: the groups scatter deals across. */
static unsigned numa_groups(const struct topo *t)
{
	unsigned i, j, n = 0;

	for (i = 0; i < topo_npus(t); i++) {
		const struct topo_pu *p = topo_pu(t, i);

		for (j = 0; j < i; j++) {
			const struct topo_pu *q = topo_pu(t, j);

			if (q->package == p->package && q->numa == p->numa)
				break;
		}
		n += j == i;
	}
	return n;
}

static int *plan_of(const struct topo *t, enum placement p, unsigned n)
{
	int *plan = calloc(n ? n : 1, sizeof(*plan));
	int rc;

	if (!plan)
		return NULL;
	rc = topo_plan(t, p, n, plan);
	if (rc) {
		check_int(rc, ==, 0, "topo_plan %s for %u threads",
			  placement_name(p), n);
		free(plan);
		return NULL;
	}
	return plan;
}

static void test_counts(const struct topo *t, const struct picture *pic)
{
	char want[64], got[64];
	bool table_ok = true;
	unsigned i;

	check_uint(topo_npus(t), ==, pic->npus, "%s: pus", pic->spec);
	check_uint(topo_ncores(t), ==, pic->ncores, "%s: cores", pic->spec);
	check_uint(topo_npackages(t), ==, pic->npackages, "%s: packages",
		   pic->spec);
	check_uint(topo_nnuma(t), ==, pic->nnuma, "%s: numa nodes",
		   pic->spec);
	check(!topo_is_this_machine(t), "%s: is not this machine", pic->spec);

	snprintf(want, sizeof(want), "%upkg/%unuma/%ucore/%upu",
		 pic->npackages, pic->nnuma, pic->ncores, pic->npus);
	topo_summary(t, got, sizeof(got));
	if (!check(!strcmp(got, want) && !strchr(got, ','),
		   "%s: summary is one csv-safe word", pic->spec))
		tap_note("got '%s', want '%s'", got, want);

	for (i = 0; i < topo_npus(t); i++) {
		const struct topo_pu *p = topo_pu(t, i);

		table_ok = table_ok && p && p->logical == i &&
			   p->core < topo_ncores(t) &&
			   p->package < topo_npackages(t) &&
			   p->numa < topo_nnuma(t) &&
			   pus_sharing(t, i, KEY_CORE) ==
				   pic->npus / pic->ncores;
	}
	check(table_ok && !topo_pu(t, topo_npus(t)),
	      "%s: pu table indexes every pu and its containers", pic->spec);
}

static void test_compact(const struct topo *t, const struct picture *pic)
{
	unsigned n = topo_npus(t), smt = pic->npus / pic->ncores;
	int *plan = plan_of(t, PLACE_COMPACT, n);

	if (!plan)
		return;
	check(permutation(t, plan, n), "%s: compact uses every pu once",
	      pic->spec);
	if (smt >= 2)
		check(same(t, plan, 0, 1, KEY_CORE),
		      "%s: compact threads 0 and 1 share a core", pic->spec);
	if (pic->ncores / pic->npackages >= 2)
		check(!same(t, plan, 0, smt, KEY_CORE) &&
		      same(t, plan, 0, smt, KEY_PACKAGE),
		      "%s: compact thread %u is on another core of the same "
		      "package", pic->spec, smt);
	check(fills_before_moving(t, plan, n, KEY_CORE),
	      "%s: compact leaves a core only when all its pus are used",
	      pic->spec);
	check(fills_before_moving(t, plan, n, KEY_PACKAGE),
	      "%s: compact leaves a package only when all its pus are used",
	      pic->spec);
	free(plan);
}

static void note_plan(const struct topo *t, const int *plan, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		const struct topo_pu *p = topo_pu(t, plan[i]);

		tap_note("scatter thread %2u: pu L#%-2u package %u numa %u "
			 "core %2u", i, p->logical, p->package, p->numa,
			 p->core);
	}
}

static void test_scatter(const struct topo *t, const struct picture *pic)
{
	unsigned n = topo_npus(t), npkg = pic->npackages;
	unsigned groups = numa_groups(t);
	int *plan = plan_of(t, PLACE_SCATTER, n);

	if (!plan)
		return;
	if (!strcmp(pic->spec, NOTED_SPEC))
		note_plan(t, plan, n);
	check(permutation(t, plan, n), "%s: scatter uses every pu once",
	      pic->spec);
	if (npkg >= 2)
		check(!same(t, plan, 0, 1, KEY_PACKAGE),
		      "%s: scatter threads 0 and 1 are in different packages",
		      pic->spec);
	check(distinct(t, plan, npkg, KEY_PACKAGE),
	      "%s: scatter's first %u threads cover every package",
	      pic->spec, npkg);
	if (pic->nnuma >= 2 * npkg) {
		check(same(t, plan, 0, npkg, KEY_PACKAGE) &&
		      !same(t, plan, 0, npkg, KEY_NUMA),
		      "%s: scatter threads 0 and %u share a package, not a "
		      "numa node", pic->spec, npkg);
		check(distinct(t, plan, pic->nnuma, KEY_NUMA),
		      "%s: scatter's first %u threads cover every numa node",
		      pic->spec, pic->nnuma);
	}
	if (pic->ncores >= 2 * groups)
		check(same(t, plan, 0, groups, KEY_PACKAGE) &&
		      same(t, plan, 0, groups, KEY_NUMA) &&
		      !same(t, plan, 0, groups, KEY_CORE),
		      "%s: scatter thread %u is on thread 0's numa node, "
		      "another core", pic->spec, groups);
	check(distinct(t, plan, pic->ncores, KEY_CORE),
	      "%s: scatter shares no core while free cores remain",
	      pic->spec);
	free(plan);
}

static void test_cores(const struct topo *t, const struct picture *pic)
{
	unsigned n = topo_npus(t), ncores = pic->ncores, i, j;
	int *plan = plan_of(t, PLACE_CORES, n);
	bool first_pu = true, in_order = true;

	if (!plan)
		return;
	check(permutation(t, plan, n), "%s: cores uses every pu once",
	      pic->spec);
	check(distinct(t, plan, ncores, KEY_CORE),
	      "%s: cores puts its first %u threads on distinct cores",
	      pic->spec, ncores);
	for (i = 0; i < ncores; i++)
		for (j = 0; j < (unsigned)plan[i]; j++)
			if (key_of(t, j, KEY_CORE) == key_of(t, plan[i],
							      KEY_CORE))
				first_pu = false;
	check(first_pu, "%s: cores starts on the first pu of each core",
	      pic->spec);
	for (i = 1; i < ncores; i++)
		if (key_of(t, plan[i], KEY_CORE) <
		    key_of(t, plan[i - 1], KEY_CORE))
			in_order = false;
	check(in_order, "%s: cores visits cores in logical order",
	      pic->spec);
	if (n > ncores)
		check(same(t, plan, 0, ncores, KEY_CORE),
		      "%s: cores thread %u takes core 0's second pu",
		      pic->spec, ncores);
	free(plan);
}

static void test_wrap_and_none(const struct topo *t,
			       const struct picture *pic)
{
	unsigned n = 2 * topo_npus(t) + 3, i, k;
	bool ok;
	int *plan;

	for (k = 0; k < ARRAY_SIZE(pinned); k++) {
		plan = plan_of(t, pinned[k], n);
		if (!plan)
			continue;
		ok = in_range(t, plan, n);
		for (i = topo_npus(t); ok && i < n; i++)
			ok = plan[i] == plan[i % topo_npus(t)];
		check(ok, "%s: %s wraps %u threads onto %u pus", pic->spec,
		      placement_name(pinned[k]), n, topo_npus(t));
		free(plan);
	}

	plan = plan_of(t, PLACE_NONE, n);
	if (plan) {
		for (i = 0, ok = true; i < n; i++)
			ok = ok && plan[i] == -1;
		check(ok, "%s: none plans -1 for every thread", pic->spec);
		free(plan);
	}
}

/* topo_print gives a header plus one line per package, numa and core. */
static void test_print(const struct topo *t, const struct picture *pic,
		       unsigned groups)
{
	char *buf = NULL, *line, *save;
	size_t len = 0;
	unsigned lines = 0;
	bool noted = !strcmp(pic->spec, NOTED_SPEC);
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		check(false, "%s: open_memstream: %s", pic->spec,
		      strerror(errno));
		return;
	}
	topo_print(t, f);
	fclose(f);
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		lines++;
		if (noted)
			tap_note("%s", line);
	}
	check_uint(lines, ==, 1 + pic->npackages + groups + pic->ncores,
		   "%s: topo_print has one line per package, numa, core",
		   pic->spec);
	free(buf);
}

static void test_bind_synthetic(const struct topo *t,
				const struct picture *pic)
{
	int last = topo_npus(t) - 1;

	check(topo_bind_self(t, 0) == 0 && topo_bind_self(t, last) == 0 &&
	      topo_bind_self(t, -1) == 0 && topo_unbind_self(t) == 0,
	      "%s: binding is a successful no-op", pic->spec);
	check_int(topo_bind_self(t, topo_npus(t)), ==, EINVAL,
		  "%s: binding past the last pu is EINVAL", pic->spec);
}

static void test_picture(const struct picture *pic)
{
	char err[256] = "";
	struct topo *t;
	int rc;

	rc = topo_load(&t, pic->spec, err, sizeof(err));
	if (!check_int(rc, ==, 0, "%s: loads", pic->spec)) {
		tap_note("%s", err);
		return;
	}
	test_counts(t, pic);
	test_compact(t, pic);
	test_scatter(t, pic);
	test_cores(t, pic);
	test_wrap_and_none(t, pic);
	test_print(t, pic, numa_groups(t));
	test_bind_synthetic(t, pic);
	topo_free(t);
}

static void test_placement_names(void)
{
	static const char *const names[] = {
		"none", "compact", "scatter", "cores",
	};
	enum placement p;
	unsigned i;
	int rc;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		rc = placement_parse(names[i], &p);
		check(rc == 0 && !strcmp(placement_name(p), names[i]),
		      "placement '%s' parses and names itself", names[i]);
	}
	check_int(placement_parse("sideways", &p), ==, EINVAL,
		  "placement 'sideways' is EINVAL");
	check_int(placement_parse("", &p), ==, EINVAL,
		  "placement '' is EINVAL");
	check_int(placement_parse(NULL, &p), ==, EINVAL,
		  "placement NULL is EINVAL");
	check(!strcmp(placement_name((enum placement)42), "?"),
	      "an invalid placement is named '?'");
}

static void test_plan_edges(void)
{
	char err[256] = "";
	struct topo *t;
	int pu[4];

	if (topo_load(&t, pictures[0].spec, err, sizeof(err))) {
		check(false, "load '%s': %s", pictures[0].spec, err);
		return;
	}
	check_int(topo_plan(t, PLACE_SCATTER, 0, NULL), ==, 0,
		  "a plan for 0 threads is empty");
	check_int(topo_plan(t, (enum placement)42, ARRAY_SIZE(pu), pu), ==,
		  EINVAL, "an invalid placement is EINVAL");
	topo_free(t);
}

static void test_load_errors(void)
{
	static const char missing[] = "/nonexistent/contend-topo.xml";
	char err[256] = "", tiny[8];
	char junk[] = "/tmp/contend-junk-XXXXXX";
	struct topo *t = (struct topo *)1;
	int rc, fd;

	rc = topo_load(&t, missing, err, sizeof(err));
	check(rc == ENOENT && !t && strstr(err, missing),
	      "missing xml file is ENOENT and named");
	tap_note("%s", err);

	rc = topo_load(&t, "package:x", err, sizeof(err));
	check(rc == EINVAL && !t && strstr(err, "'package:x'"),
	      "malformed synthetic string is EINVAL and named");
	tap_note("%s", err);

	rc = topo_load(&t, "/", err, sizeof(err));
	check(rc == EISDIR && !t && strstr(err, "'/'"),
	      "a directory is EISDIR");

	fd = mkstemp(junk);
	if (fd >= 0) {
		rc = write(fd, "not xml\n", 8) == 8 ? 0 : errno;
		close(fd);
		rc = rc ? rc : topo_load(&t, junk, err, sizeof(err));
		check(rc != 0 && !t && strstr(err, junk),
		      "a file that is not xml fails and is named");
		tap_note("%s", err);
		unlink(junk);
	} else {
		check(false, "mkstemp: %s", strerror(errno));
	}

	rc = topo_load(&t, "package:x", tiny, sizeof(tiny));
	check(rc == EINVAL && strlen(tiny) < sizeof(tiny),
	      "a short error buffer is truncated, not overrun");
	check_int(topo_load(&t, missing, NULL, 0), ==, ENOENT,
		  "a NULL error buffer is allowed");
}

static int export_synthetic(const char *spec, const char *path)
{
	hwloc_topology_t hw;
	int rc = -1;

	if (hwloc_topology_init(&hw))
		return -1;
	if (!hwloc_topology_set_synthetic(hw, spec) && !hwloc_topology_load(hw))
		rc = hwloc_topology_export_xml(hw, path, 0);
	hwloc_topology_destroy(hw);
	return rc;
}

static bool same_plans(const struct topo *a, const struct topo *b)
{
	unsigned n = topo_npus(a), k, i;
	bool ok = n == topo_npus(b);

	for (k = 0; ok && k < ARRAY_SIZE(pinned); k++) {
		int *pa = plan_of(a, pinned[k], n);
		int *pb = plan_of(b, pinned[k], n);

		ok = pa && pb;
		for (i = 0; ok && i < n; i++)
			ok = pa[i] == pb[i];
		free(pa);
		free(pb);
	}
	return ok;
}

/* A ':' in the name checks that a *.xml path is never read as synthetic. */
static void test_xml_round_trip(void)
{
	const struct picture *pic = &pictures[2];
	char path[] = "/tmp/contend-topo:XXXXXX.xml";
	char err[256] = "";
	struct topo *xml, *syn;
	int fd, rc;

	fd = mkstemps(path, 4);
	if (!check(fd >= 0, "xml: temporary file"))
		return;
	close(fd);
	if (!check_int(export_synthetic(pic->spec, path), ==, 0,
		       "xml: export '%s'", pic->spec))
		goto out_unlink;

	rc = topo_load(&xml, path, err, sizeof(err));
	if (!check_int(rc, ==, 0, "xml: load exported file")) {
		tap_note("%s", err);
		goto out_unlink;
	}
	check(topo_npus(xml) == pic->npus && topo_ncores(xml) == pic->ncores &&
	      topo_npackages(xml) == pic->npackages &&
	      topo_nnuma(xml) == pic->nnuma,
	      "xml: counts match '%s'", pic->spec);
	check(!topo_is_this_machine(xml), "xml: is not this machine");
	check_int(topo_bind_self(xml, 0), ==, 0, "xml: binding is a no-op");

	if (!topo_load(&syn, pic->spec, err, sizeof(err))) {
		check(same_plans(xml, syn),
		      "xml: plans match the synthetic picture's");
		topo_free(syn);
	} else {
		check(false, "xml: reload '%s': %s", pic->spec, err);
	}
	topo_free(xml);
out_unlink:
	unlink(path);
}

static void test_this_machine(void)
{
	char err[256] = "", sum[64];
	cpu_set_t set;
	struct topo *t;
	int last, rc;

	rc = topo_load(&t, NULL, err, sizeof(err));
	if (!check_int(rc, ==, 0, "this machine: loads")) {
		tap_note("%s", err);
		return;
	}
	topo_summary(t, sum, sizeof(sum));
	tap_note("this machine: %s", sum);
	check(topo_npus(t) >= 1 && topo_ncores(t) >= 1 &&
	      topo_ncores(t) <= topo_npus(t), "this machine: sane counts");
	if (!topo_is_this_machine(t)) {
		tap_skip("this machine: hwloc says it is not (HWLOC_* set?)");
		topo_free(t);
		return;
	}

	last = topo_npus(t) - 1;
	check_int(topo_bind_self(t, 0), ==, 0, "this machine: bind to pu 0");
	check_int(sched_getcpu(), ==, topo_pu(t, 0)->os_index,
		  "this machine: runs on pu 0 after binding");
	check_int(topo_bind_self(t, last), ==, 0,
		  "this machine: bind to the last pu");
	check_int(sched_getcpu(), ==, topo_pu(t, last)->os_index,
		  "this machine: runs on the last pu after binding");
	check_int(topo_unbind_self(t), ==, 0, "this machine: unbind");
	CPU_ZERO(&set);
	rc = sched_getaffinity(0, sizeof(set), &set);
	check(rc == 0 && (unsigned)CPU_COUNT(&set) == topo_npus(t),
	      "this machine: unbinding restores every pu");
	topo_free(t);
}

int main(void)
{
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(pictures); i++)
		test_picture(&pictures[i]);
	test_placement_names();
	test_plan_edges();
	test_load_errors();
	test_xml_round_trip();
	test_this_machine();
	return tap_done();
}
