/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <spawn.h>
#include <sys/wait.h>

#include "build_info.h"
#include "clock.h"
#include "csv.h"
#include "output.h"
#include "topo.h"

#define MAX_TABLES 16

struct table {
	const struct workload *wl;
	struct csv_table *csv;
	char path[PATH_MAX];
	unsigned nparams, nextras;
};

struct output {
	char dir[PATH_MAX];
	char run_id[128];
	char host[128];
	char topo[128];
	char start[64];
	char *command;
	char *skips;
	size_t skips_len;
	unsigned trials;
	struct table tables[MAX_TABLES];
	unsigned ntables;
};

/* The fixed columns, in order; parameters and extras are spliced in. */
static const char *const head_cols[] = {
	"run_id", "host", "topology", "family", "impl", "workload",
};
static const char *const tail_cols[] = {
	"threads", "placement", "oversubscribed", "latency", "rep",
	"duration_s", "ops", "throughput_ops_s",
	"lat_samples", "lat_sample_every", "lat_mean_ns", "lat_p50_ns",
	"lat_p90_ns", "lat_p99_ns", "lat_p999_ns", "lat_max_ns",
	"ops_min", "ops_max", "jain", "starved", "handoff_rate",
	"errors", "violations", "shed",
	"clock", "clock_read_ns", "plan_pus", "ran_cpus", "migrated",
	"steal_pct", "vol_csw", "invol_csw", "hgrm",
};

const char *output_dir(const struct output *o)
{
	return o->dir;
}

const char *output_run_id(const struct output *o)
{
	return o->run_id;
}

const char *output_host(const struct output *o)
{
	return o->host;
}

const char *output_topo(const struct output *o)
{
	return o->topo;
}

void output_csv_name(const char *workload, char *buf, size_t len)
{
	snprintf(buf, len, "%s.csv", workload);
	for (char *p = buf; *p; p++)
		if (*p == '/')
			*p = '_';
}

static void iso_time(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void read_cpu_model(char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) || !colon)
			continue;
		colon += 2;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;

	if (!d)
		return false;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

static int mkdirs(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0777) && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(tmp, 0777) && errno != EEXIST)
		return errno;
	return 0;
}

static int write_meta(struct output *o, const char *status)
{
	struct atomic_file af;
	struct utsname u;
	char path[PATH_MAX + 8], cpu[256], end[64] = "";
	int rc;

	snprintf(path, sizeof(path), "%s/meta", o->dir);
	rc = atomic_file_open(&af, path);
	if (rc)
		return rc;
	uname(&u);
	read_cpu_model(cpu, sizeof(cpu));
	if (status)
		iso_time(end, sizeof(end));
	fprintf(af.f,
		"run_id: %s\n"
		"host: %s\n"
		"command: %s\n"
		"start: %s\n"
		"end: %s\n"
		"status: %s\n"
		"trials: %u\n"
		"cpu_model: %s\n"
		"topology: %s\n"
		"kernel: %s %s %s\n"
		"compiler: %s\n"
		"cflags: %s\n"
		"commit: %s\n"
		"clock: %s\n"
		"clock_why: %s\n"
		"tsc_hz: %.0f\n"
		"clock_read_ns: %.2f\n"
		"clock_gettime_ns: %.2f\n"
		"timer_slack_ns: 1 in worker threads (PR_SET_TIMERSLACK; the "
		"kernel default of 50000 would add up to 50 us to every timed sleep)\n"
		"latency_timing: closed loops time a random 1 in ~P operations, "
		"P chosen per thread from its warm-up rate so two clock reads "
		"plus a record stay under 1%% of its time per operation "
		"(lat_sample_every); open loops time every operation from its "
		"intended start; no timing cost is subtracted\n"
		"work_iters_per_ns: %.4f\n",
		o->run_id, o->host, o->command, o->start, end,
		status ? status : "running", o->trials, cpu, o->topo,
		u.sysname, u.release, u.machine, BUILD_COMPILER, BUILD_CFLAGS,
		BUILD_COMMIT, clock_info.tsc ? "tsc" : "clock_gettime",
		clock_info.why, clock_info.tsc_hz, clock_info.read_ns,
		clock_info.gettime_ns, clock_info.work_iters_per_ns);
	if (o->skips)
		fputs(o->skips, af.f);
	return atomic_file_commit(&af);
}

static int point_latest(const char *root, const char *run_id)
{
	char link[PATH_MAX], tmp[PATH_MAX + 32];

	snprintf(link, sizeof(link), "%s/latest", root);
	snprintf(tmp, sizeof(tmp), "%s/.latest.tmp.%d", root, (int)getpid());
	unlink(tmp);
	if (symlink(run_id, tmp))
		return errno;
	if (rename(tmp, link)) {
		int err = errno;

		unlink(tmp);
		return err;
	}
	return 0;
}

extern char **environ;

/*
 * A picture of the machine for the report: lstopo's PNG, when the hwloc
 * tools are installed.  Best effort: a run without it is still complete.
 */
static void draw_topology(const char *dir)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
	char *argv[] = { "lstopo", "--of", "png", "-f", tmp, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;

	snprintf(path, sizeof(path), "%s/topology.png", dir);
	snprintf(tmp, sizeof(tmp), "%s/.topology.tmp.png", dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (!posix_spawnp(&pid, "lstopo", &fa, NULL, argv, environ) &&
	    waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    !WEXITSTATUS(status))
		rename(tmp, path);
	else
		unlink(tmp);
	posix_spawn_file_actions_destroy(&fa);
}

int output_open(struct output **out, const char *dir, const char *root,
		int argc, char **argv, char *err, size_t errlen)
{
	struct output *o = calloc(1, sizeof(*o));
	struct topo *t = NULL;
	char stamp[32], terr[256];
	size_t cmdlen = 1;
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	if (!o)
		return ENOMEM;
	gethostname(o->host, sizeof(o->host) - 1);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	iso_time(o->start, sizeof(o->start));
	if (!topo_load(&t, NULL, terr, sizeof(terr))) {
		topo_summary(t, o->topo, sizeof(o->topo));
		topo_free(t);
	}
	for (int i = 0; i < argc; i++)
		cmdlen += strlen(argv[i]) + 3;
	o->command = calloc(1, cmdlen);
	for (int i = 0; o->command && i < argc; i++) {
		if (i)
			strcat(o->command, " ");
		strcat(o->command, argv[i]);
	}

	if (dir) {
		struct stat st;

		if (!stat(dir, &st) && !dir_is_empty(dir)) {
			snprintf(err, errlen, "output folder '%s' exists and is not empty", dir);
			rc = EEXIST;
			goto fail;
		}
		snprintf(o->dir, sizeof(o->dir), "%s", dir);
		snprintf(o->run_id, sizeof(o->run_id), "%s-%s", stamp, o->host);
	} else {
		struct stat st;

		for (int n = 1;; n++) {
			if (n == 1)
				snprintf(o->run_id, sizeof(o->run_id), "%s-%s",
					 stamp, o->host);
			else
				snprintf(o->run_id, sizeof(o->run_id), "%s-%s-%d",
					 stamp, o->host, n);
			snprintf(o->dir, sizeof(o->dir), "%s/%s", root, o->run_id);
			if (stat(o->dir, &st))
				break;
		}
	}
	rc = mkdirs(o->dir);
	if (rc) {
		snprintf(err, errlen, "cannot create '%s': %s", o->dir, strerror(rc));
		goto fail;
	}
	rc = write_meta(o, NULL);
	if (rc) {
		snprintf(err, errlen, "cannot write '%s/meta': %s", o->dir, strerror(rc));
		goto fail;
	}
	if (!dir)
		point_latest(root, o->run_id);
	draw_topology(o->dir);
	*out = o;
	return 0;
fail:
	free(o->command);
	free(o);
	return rc;
}

void output_note(struct output *o, const char *key, const char *value)
{
	size_t add = strlen(key) + strlen(value) + 4;
	char *p = realloc(o->skips, o->skips_len + add);

	if (!p)
		return;
	o->skips = p;
	o->skips_len += (size_t)snprintf(p + o->skips_len, add, "%s: %s\n", key, value);
}

void output_note_skip(struct output *o, const char *what)
{
	output_note(o, "skipped", what);
}

const struct csv_table *output_table(const struct output *o,
				     const struct workload *wl)
{
	for (unsigned i = 0; i < o->ntables; i++)
		if (o->tables[i].wl == wl)
			return o->tables[i].csv;
	return NULL;
}

static struct table *table_for(struct output *o, const struct workload *wl)
{
	const char *cols[64];
	struct table *tb;
	char name[128];
	size_t n = 0;

	for (unsigned i = 0; i < o->ntables; i++)
		if (o->tables[i].wl == wl)
			return &o->tables[i];
	if (o->ntables == MAX_TABLES)
		return NULL;
	tb = &o->tables[o->ntables];
	tb->wl = wl;
	tb->csv = csv_new();
	if (!tb->csv)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(head_cols); i++)
		cols[n++] = head_cols[i];
	for (unsigned i = 0; wl->params[i].name; i++, tb->nparams++)
		cols[n++] = wl->params[i].name;
	for (size_t i = 0; i < ARRAY_SIZE(tail_cols); i++)
		cols[n++] = tail_cols[i];
	for (unsigned i = 0; wl->extras && wl->extras[i]; i++, tb->nextras++)
		cols[n++] = wl->extras[i];
	if (csv_set_header(tb->csv, cols, n)) {
		csv_free(tb->csv);
		return NULL;
	}
	output_csv_name(wl->name, name, sizeof(name));
	{
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", o->dir, name);
		memcpy(tb->path, path, sizeof(path));
	}
	o->ntables++;
	return tb;
}

/* Format a parameter value: a choice name or a number. */
static void fmt_param(const struct param_spec *ps, double v, char *buf,
		      size_t len)
{
	if (ps->choices)
		snprintf(buf, len, "%s", ps->choices[(int)v]);
	else
		csv_fmt_double(buf, len, v);
}

static int write_hgrm(struct output *o, const struct trial_result *r,
		      char *rel, size_t rellen)
{
	struct atomic_file af;
	char dir[PATH_MAX], path[PATH_MAX + 64], wl[128];
	int rc;

	output_csv_name(r->wl->name, wl, sizeof(wl));
	wl[strlen(wl) - 4] = '\0';
	snprintf(rel, rellen, "hist/%s/%04u.hgrm", wl, r->seq);
	snprintf(dir, sizeof(dir), "%s/hist/%s", o->dir, wl);
	rc = mkdirs(dir);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", o->dir, rel);
	rc = atomic_file_open(&af, path);
	if (rc)
		return rc;
	/* Nothing but the HdrHistogram format, so its own plotters read it. */
	rc = hist_write_hgrm(r->lat, af.f, 1.0);
	if (rc) {
		atomic_file_abort(&af);
		return rc;
	}
	rc = atomic_file_commit(&af);
	if (rc)
		return rc;
	/* And the buckets themselves, so reports can merge repetitions. */
	snprintf(path + strlen(path) - 5, 6, ".hcnt");
	rc = atomic_file_open(&af, path);
	if (rc)
		return rc;
	rc = hist_write_counts(r->lat, af.f);
	if (rc) {
		atomic_file_abort(&af);
		return rc;
	}
	return atomic_file_commit(&af);
}

int output_add(void *arg, const struct trial_result *r)
{
	struct output *o = arg;
	struct table *tb = table_for(o, r->wl);
	char cells[96][64], big[3][1100];
	const char *row[96];
	size_t n = 0;
	bool lat = r->lat && r->lat->count;
	int rc;

#define CELL(...) (snprintf(cells[n], sizeof(cells[n]), __VA_ARGS__), \
		   row[n] = cells[n], n++)
#define NUM(v) (csv_fmt_double(cells[n], sizeof(cells[n]), (v)), \
		row[n] = cells[n], n++)
#define LAT(v) (lat ? NUM(v) : CELL("%s", ""))

	if (!tb)
		return ENOMEM;
	big[2][0] = '\0';
	if (lat) {
		rc = write_hgrm(o, r, big[2], sizeof(big[2]));
		if (rc)
			return rc;
	}
	row[n++] = o->run_id;
	row[n++] = o->host;
	row[n++] = o->topo;
	row[n++] = r->wl->family;
	row[n++] = r->impl->name;
	row[n++] = r->wl->name;
	for (unsigned i = 0; i < tb->nparams; i++) {
		fmt_param(&r->wl->params[i], r->param[i], cells[n], sizeof(cells[n]));
		row[n] = cells[n];
		n++;
	}
	CELL("%u", r->nthreads);
	CELL("%s", placement_name(r->placement));
	CELL("%d", r->oversubscribed);
	CELL("%d", r->latency);
	CELL("%u", r->rep);
	CELL("%.6f", r->duration_s);
	CELL("%llu", (unsigned long long)r->ops);
	NUM(round(r->throughput));
	CELL("%llu", lat ? (unsigned long long)r->lat->count : 0ull);
	if (lat)
		CELL("%llu", (unsigned long long)r->sample_every);
	else
		CELL("%s", "");
	LAT(round(hist_mean(r->lat) * 10) / 10);
	LAT((double)hist_percentile(r->lat, 50));
	LAT((double)hist_percentile(r->lat, 90));
	LAT((double)hist_percentile(r->lat, 99));
	LAT((double)hist_percentile(r->lat, 99.9));
	LAT((double)r->lat->max);
	CELL("%llu", (unsigned long long)r->ops_min);
	CELL("%llu", (unsigned long long)r->ops_max);
	if (isnan(r->jain))
		CELL("%s", "");
	else
		CELL("%.4f", r->jain);
	CELL("%d", r->starved);
	if (isnan(r->handoff_rate))
		CELL("%s", "");
	else
		CELL("%.4f", r->handoff_rate);
	CELL("%llu", (unsigned long long)r->errors);
	CELL("%llu", (unsigned long long)r->violations);
	CELL("%llu", (unsigned long long)r->shed);
	CELL("%s", clock_info.tsc ? "tsc" : "clock_gettime");
	CELL("%.2f", clock_info.read_ns);
	snprintf(big[0], sizeof(big[0]), "%s", r->plan);
	row[n++] = big[0];
	snprintf(big[1], sizeof(big[1]), "%s", r->cpus);
	row[n++] = big[1];
	CELL("%u", r->migrated);
	if (isnan(r->steal_pct))
		CELL("%s", "");
	else
		CELL("%.2f", r->steal_pct);
	CELL("%ld", r->vcsw);
	CELL("%ld", r->ivcsw);
	row[n++] = big[2];
	for (unsigned i = 0; i < tb->nextras; i++)
		NUM(r->extra.v[i]);
#undef CELL
#undef NUM
#undef LAT

	rc = csv_add_row(tb->csv, row, n);
	if (!rc)
		rc = csv_save(tb->csv, tb->path);
	if (!rc)
		o->trials++;
	return rc;
}

int output_close(struct output *o, const char *status)
{
	int rc = write_meta(o, status);

	for (unsigned i = 0; i < o->ntables; i++)
		csv_free(o->tables[i].csv);
	free(o->skips);
	free(o->command);
	free(o);
	return rc;
}
