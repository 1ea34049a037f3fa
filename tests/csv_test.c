/* SPDX-License-Identifier: MIT */
/*
 * TAP tests for harness/csv.c: exact quoting, write/load round trips with
 * embedded quotes and newlines, row-width checks, crash-safe saving (what
 * a directory holds after saves that succeed, replace, fail and abort),
 * load errors and their messages, and number formatting.  Files go to a
 * fresh mkdtemp() directory that is removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiler.h"
#include "csv.h"
#include "tap.h"

static char dir[] = "/tmp/contend-csv-XXXXXX";

/* dir/name in a static buffer; good until the next call. */
static const char *in_dir(const char *name)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	return buf;
}

/* The whole of f from its start, NUL-terminated; NULL on failure. */
static char *slurp_stream(FILE *f)
{
	size_t len = 0, cap = 256, n;
	char *buf = malloc(cap), *p;

	if (!buf || fseek(f, 0, SEEK_SET))
		goto out_fail;
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len - 1 == 0) {
			p = realloc(buf, cap * 2);
			if (!p)
				goto out_fail;
			buf = p;
			cap *= 2;
		}
	}
	if (ferror(f))
		goto out_fail;
	buf[len] = '\0';
	return buf;

out_fail:
	free(buf);
	return NULL;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;

	if (!f)
		return NULL;
	s = slurp_stream(f);
	fclose(f);
	return s;
}

/* What csv_write() makes of t. */
static char *written(const struct csv_table *t)
{
	FILE *f = tmpfile();
	char *s = NULL;

	if (!f)
		return NULL;
	if (!csv_write(t, f))
		s = slurp_stream(f);
	fclose(f);
	return s;
}

static int put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (!f)
		return errno;
	if (fputs(text, f) == EOF)
		rc = errno;
	if (fclose(f) && !rc)
		rc = errno;
	return rc;
}

/* Entries of dir other than . and ..; *tmps counts names with ".tmp". */
static int scan_dir(int *tmps)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	*tmps = 0;
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		if (strstr(de->d_name, ".tmp"))
			(*tmps)++;
	}
	closedir(d);
	return n;
}

static struct csv_table *table_of(const char *const *hdr, size_t ncols,
				  const char *const *cells, size_t nrows)
{
	struct csv_table *t = csv_new();
	size_t r;

	if (!t || csv_set_header(t, hdr, ncols))
		goto out_fail;
	for (r = 0; r < nrows; r++)
		if (csv_add_row(t, cells + r * ncols, ncols))
			goto out_fail;
	return t;

out_fail:
	csv_free(t);
	return NULL;
}

static bool same_text(const char *got, const char *want)
{
	if (got && !strcmp(got, want))
		return true;
	tap_note("got  \"%s\"", got ? got : "(null)");
	tap_note("want \"%s\"", want);
	return false;
}

/* ------------------------------------------------------------------ */

static const struct {
	const char *what, *cell, *text;
} quoting[] = {
	{ "plain", "abc", "abc" },
	{ "inner space", "a b", "a b" },
	{ "comma", "a,b", "\"a,b\"" },
	{ "quote", "say \"hi\"", "\"say \"\"hi\"\"\"" },
	{ "lone quote", "\"", "\"\"\"\"" },
	{ "newline", "a\nb", "\"a\nb\"" },
	{ "CR", "a\rb", "\"a\rb\"" },
	{ "leading space", " x", "\" x\"" },
	{ "trailing space", "x ", "\"x \"" },
	{ "leading tab", "\tx", "\"\tx\"" },
	{ "empty", "", "" },
};

static void test_quoting(void)
{
	static const char *const hdr[] = { "k", "v" };
	static const char *const hdr3[] = { "a", "b,c", "d" };
	static const char *const empties[] = { "", "", "" };
	static const char *const one[] = { "c" };
	static const char *const lone[] = { "", "a", "" };
	struct csv_table *t;
	char want[128];
	char *s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(quoting); i++) {
		const char *row[] = { "x", quoting[i].cell };

		t = table_of(hdr, 2, row, 1);
		s = t ? written(t) : NULL;
		snprintf(want, sizeof(want), "k,v\nx,%s\n", quoting[i].text);
		check(same_text(s, want), "write: %s cell", quoting[i].what);
		free(s);
		csv_free(t);
	}

	t = table_of(hdr3, 3, empties, 1);
	s = t ? written(t) : NULL;
	check(same_text(s, "a,\"b,c\",d\n,,\n"),
	      "write: header quoted, row of empty cells is \",,\"");
	free(s);
	csv_free(t);

	t = table_of(one, 1, lone, 3);
	s = t ? written(t) : NULL;
	check(same_text(s, "c\n\"\"\na\n\"\"\n"),
	      "write: a lone empty cell is \"\", never a blank line");
	free(s);
	csv_free(t);
}

static void test_table(void)
{
	static const char *const hdr[] = { "lock", "threads", "ops" };
	static const char *const row[] = { "futex", "4", "1000" };
	struct csv_table *t = csv_new();
	const char *cells[4] = { "a", "b", "c", "d" };

	if (!check(t != NULL, "table: csv_new"))
		return;
	check_int(csv_add_row(t, cells, 0), ==, EINVAL,
		  "table: add_row before a header fails EINVAL");
	check_int(csv_set_header(t, hdr, 0), ==, EINVAL,
		  "table: header of no columns fails EINVAL");
	check_int(csv_set_header(t, hdr, 3), ==, 0, "table: set_header");
	check_int(csv_add_row(t, cells, 2), ==, EINVAL,
		  "table: add_row with too few cells fails EINVAL");
	check_int(csv_add_row(t, cells, 4), ==, EINVAL,
		  "table: add_row with too many cells fails EINVAL");
	check_uint(csv_rows(t), ==, 0, "table: failed add_rows add nothing");
	check_int(csv_add_row(t, row, 3), ==, 0, "table: add_row");
	check_int(csv_set_header(t, cells, 2), ==, EINVAL,
		  "table: header width cannot change under rows");
	check_uint(csv_cols(t), ==, 3, "table: 3 columns");
	check(csv_cell(t, 0, 0) && !strcmp(csv_cell(t, 0, 0), "futex") &&
	      csv_cell(t, 0, 2) && !strcmp(csv_cell(t, 0, 2), "1000"),
	      "table: row 0 is the first data row");
	check(csv_cell(t, 1, 0) == NULL && csv_cell(t, 0, 3) == NULL &&
	      csv_header(t, 3) == NULL,
	      "table: out-of-range cell and header are NULL");
	check(csv_header(t, 1) && !strcmp(csv_header(t, 1), "threads"),
	      "table: header names");
	check(csv_col_index(t, "ops") == 2 && csv_col_index(t, "nope") == -1,
	      "table: col_index finds ops, -1 for an absent name");
	csv_free(t);
}

/* Both tables hold the same strings, header included. */
static bool same_table(const struct csv_table *a, const struct csv_table *b)
{
	size_t r, c;

	if (csv_rows(a) != csv_rows(b) || csv_cols(a) != csv_cols(b)) {
		tap_note("shape %zux%zu vs %zux%zu", csv_rows(a), csv_cols(a),
			 csv_rows(b), csv_cols(b));
		return false;
	}
	for (c = 0; c < csv_cols(a); c++)
		if (strcmp(csv_header(a, c), csv_header(b, c))) {
			tap_note("header %zu differs", c);
			return false;
		}
	for (r = 0; r < csv_rows(a); r++)
		for (c = 0; c < csv_cols(a); c++)
			if (strcmp(csv_cell(a, r, c), csv_cell(b, r, c))) {
				tap_note("cell (%zu, %zu) \"%s\" came back "
					 "\"%s\"", r, c, csv_cell(a, r, c),
					 csv_cell(b, r, c));
				return false;
			}
	return true;
}

static void round_trip(const char *what, const struct csv_table *t)
{
	struct csv_table *back = NULL;
	const char *path = in_dir("trip.csv");
	char err[256] = "";
	int rc;

	rc = csv_save(t, path);
	if (!rc)
		rc = csv_load(&back, path, err, sizeof(err));
	if (rc)
		tap_note("%s", err);
	check(!rc && back && same_table(t, back),
	      "round trip: %s keeps every cell", what);
	csv_free(back);
	unlink(path);
}

static void test_round_trip(void)
{
	static const char *const hdr[] = { "name", "note, with comma",
					   " padded " };
	static const char *const cells[] = {
		"plain", "", "x",
		"multi\nline", "say \"hi\"", "\"\"",
		"cr\r\nlf", ",", " ",
		"", "", "",
		"trailing\n", "\r", "a,\"b\"\nc",
		"\n\n", "\"", "tab\there",
	};
	static const char *const one[] = { "only" };
	static const char *const lone[] = { "", "a", "", "" };
	struct csv_table *t;

	t = table_of(hdr, 3, cells, ARRAY_SIZE(cells) / 3);
	round_trip("quotes, commas, CR and LF", t);
	csv_free(t);
	t = table_of(one, 1, lone, ARRAY_SIZE(lone));
	round_trip("one column with empty cells", t);
	csv_free(t);
	t = table_of(one, 1, lone, 0);
	round_trip("header only", t);
	csv_free(t);
}

static void test_save(void)
{
	static const char *const hdr[] = { "a", "b" };
	static const char *const big[] = { "1", "2", "3", "4", "5", "6" };
	static const char *const small[] = { "x", "y" };
	struct csv_table *t = table_of(hdr, 2, big, 3);
	struct csv_table *t2 = table_of(hdr, 2, small, 1);
	struct csv_table *empty = csv_new();
	char *s, *want, junk[8192], cwd[PATH_MAX];
	struct stat st;
	int tmps, rc;

	if (!check(t && t2 && empty, "save: tables built"))
		goto out;

	check_int(csv_save(t, in_dir("out.csv")), ==, 0, "save: csv_save");
	check_int(scan_dir(&tmps), ==, 1, "save: directory holds one file");
	check_int(tmps, ==, 0, "save: no .tmp leftovers");
	s = slurp(in_dir("out.csv"));
	want = written(t);
	check(want && same_text(s, want), "save: file is csv_write's text");
	free(s);
	free(want);

	memset(junk, 'z', sizeof(junk) - 2);
	junk[sizeof(junk) - 2] = '\n';
	junk[sizeof(junk) - 1] = '\0';
	put_file(in_dir("out.csv"), junk);
	chmod(in_dir("out.csv"), 0600);
	check_int(csv_save(t2, in_dir("out.csv")), ==, 0,
		  "save: over a longer existing file");
	s = slurp(in_dir("out.csv"));
	check(same_text(s, "a,b\nx,y\n"), "save: old contents fully replaced");
	free(s);
	check(!stat(in_dir("out.csv"), &st) && (st.st_mode & 07777) == 0600,
	      "save: replacement keeps the old file's mode");
	check_int(scan_dir(&tmps), ==, 1, "save: still one file");
	check_int(tmps, ==, 0, "save: still no .tmp leftovers");

	check_int(csv_save(t, in_dir("missing/out.csv")), ==, ENOENT,
		  "save: into a nonexistent directory fails ENOENT");
	check(stat(in_dir("missing"), &st) && errno == ENOENT,
	      "save: the missing directory is not created");
	check_int(scan_dir(&tmps), ==, 1, "save: failed save creates nothing");

	check_int(csv_save(empty, in_dir("empty.csv")), ==, EINVAL,
		  "save: a table with no header fails EINVAL");
	check_int(scan_dir(&tmps), ==, 1, "save: and creates nothing");

	/* rename() of a file over a directory fails after the temp is made */
	mkdir(in_dir("sub"), 0700);
	rc = csv_save(t, in_dir("sub"));
	check_int(rc, ==, EISDIR, "save: over a directory fails EISDIR");
	check_int(scan_dir(&tmps), ==, 2, "save: the directory survives");
	check_int(tmps, ==, 0, "save: a failed rename leaves no temp");
	rmdir(in_dir("sub"));

	/* a bare name lands in the working directory */
	if (getcwd(cwd, sizeof(cwd)) && !chdir(dir)) {
		rc = csv_save(t2, "rel.csv");
		if (chdir(cwd))
			tap_note("cannot return to '%s'", cwd);
		s = slurp(in_dir("rel.csv"));
		check(!rc && same_text(s, "a,b\nx,y\n"),
		      "save: a path with no directory part");
		free(s);
		unlink(in_dir("rel.csv"));
	} else {
		tap_skip("save: cannot chdir to '%s'", dir);
	}
out:
	csv_free(t);
	csv_free(t2);
	csv_free(empty);
}

static void test_atomic_file(void)
{
	struct atomic_file af;
	char tmpname[64];
	struct stat st;
	int tmps, rc;
	char *s;

	rc = atomic_file_open(&af, in_dir("blob.txt"));
	if (!check_int(rc, ==, 0, "atomic: open"))
		return;
	fprintf(af.f, "half-written\n");
	snprintf(tmpname, sizeof(tmpname), ".blob.txt.tmp.%ld",
		 (long)getpid());
	check(!stat(in_dir(tmpname), &st) && !strcmp(af.tmp, in_dir(tmpname)),
	      "atomic: temp is <dir>/.<base>.tmp.<pid>");
	check(stat(in_dir("blob.txt"), &st) && errno == ENOENT,
	      "atomic: target absent before commit");
	atomic_file_abort(&af);
	check_int(scan_dir(&tmps), ==, 1, "atomic: abort leaves nothing");
	atomic_file_abort(&af);	/* spent: a no-op */

	rc = atomic_file_open(&af, in_dir("blob.txt"));
	if (!check_int(rc, ==, 0, "atomic: open again"))
		return;
	fprintf(af.f, "{ \"ok\": true }\n");
	check_int(atomic_file_commit(&af), ==, 0, "atomic: commit");
	s = slurp(in_dir("blob.txt"));
	check(same_text(s, "{ \"ok\": true }\n"), "atomic: contents committed");
	free(s);
	atomic_file_abort(&af);	/* spent: must not unlink the target */
	check_int(scan_dir(&tmps), ==, 2,
		  "atomic: target kept, abort after commit is a no-op");
	check_int(tmps, ==, 0, "atomic: no .tmp leftovers");
	check_int(atomic_file_commit(&af), ==, EINVAL,
		  "atomic: a second commit fails EINVAL");
	unlink(in_dir("blob.txt"));

	check_int(atomic_file_open(&af, in_dir("nodir/")), ==, EISDIR,
		  "atomic: a path ending in '/' fails EISDIR");
	atomic_file_abort(&af);	/* safe after a failed open */
	check_int(scan_dir(&tmps), ==, 1,
		  "atomic: failed open creates nothing");
}

static void test_write_error(void)
{
	static const char *const hdr[] = { "a" };
	struct csv_table *t = table_of(hdr, 1, hdr, 1);
	FILE *f = fopen("/dev/full", "w");

	if (!f || !t) {
		tap_skip("write: /dev/full unavailable");
	} else {
		setvbuf(f, NULL, _IONBF, 0);
		check_int(csv_write(t, f), ==, ENOSPC,
			  "write: a full device fails ENOSPC");
	}
	if (f)
		fclose(f);
	csv_free(t);
}

/* Load text; return the code and leave the message in err. */
static int load_text(const char *text, struct csv_table **out, char *err,
		     size_t errlen)
{
	const char *path = in_dir("in.csv");
	int rc;

	*out = NULL;
	err[0] = '\0';
	rc = put_file(path, text);
	if (!rc)
		rc = csv_load(out, path, err, errlen);
	unlink(path);
	return rc;
}

static const struct {
	const char *what, *text, *line;
} malformed[] = {
	{ "row with too many cells", "a,b\n1,2\n1,2,3\n", "line 3" },
	{ "row with too few cells", "a,b\n1\n", "line 2" },
	{ "unterminated quote", "a,b\n\"open,2\n3,4\n", "line 2" },
	{ "bad row after a multi-line cell", "a,b\n\"x\ny\",1\n1\n",
	  "line 4" },
	{ "text after a closing quote", "a\n\"x\"y\n", "line 2" },
	{ "quote inside an unquoted cell", "a\nx\"y\n", "line 2" },
	{ "blank line", "a,b\n1,2\n\n3,4\n", "line 3" },
	{ "empty file", "", "line 1" },
};

static void test_load(void)
{
	struct csv_table *t;
	const char *path = in_dir("none.csv");
	char err[512];
	size_t i;
	int rc;

	err[0] = '\0';
	t = (struct csv_table *)1;
	rc = csv_load(&t, path, err, sizeof(err));
	check_int(rc, ==, ENOENT, "load: missing file fails ENOENT");
	check(t == NULL, "load: *out is NULL on failure");
	check(strstr(err, "cannot open") && strstr(err, path),
	      "load: message names the path: %s", err);

	for (i = 0; i < ARRAY_SIZE(malformed); i++) {
		rc = load_text(malformed[i].text, &t, err, sizeof(err));
		check(rc == EINVAL && !t && strstr(err, malformed[i].line),
		      "load: %s fails naming %s: %s", malformed[i].what,
		      malformed[i].line, err);
		csv_free(t);
	}

	rc = load_text("a,b\r\n1,\"2\"\r\n", &t, err, sizeof(err));
	check(!rc && t && csv_rows(t) == 1 && !strcmp(csv_header(t, 1), "b") &&
	      !strcmp(csv_cell(t, 0, 0), "1") &&
	      !strcmp(csv_cell(t, 0, 1), "2"),
	      "load: CRLF line ends");
	csv_free(t);

	rc = load_text("a,b\n1,2", &t, err, sizeof(err));
	check(!rc && t && csv_rows(t) == 1 && !strcmp(csv_cell(t, 0, 1), "2"),
	      "load: last line without a newline");
	csv_free(t);

	rc = load_text("a,b,c\n,,\n", &t, err, sizeof(err));
	check(!rc && t && csv_rows(t) == 1 && !strcmp(csv_cell(t, 0, 2), ""),
	      "load: a row of empty cells");
	csv_free(t);
}

static const struct {
	double v;
	const char *text;
} doubles[] = {
	{ 0, "0" },
	{ -0.0, "0" },
	{ 12, "12" },
	{ -3, "-3" },
	{ 12.5, "12.5" },
	{ -12.5, "-12.5" },
	{ 0.000123, "0.000123" },
	{ 0.0015, "0.0015" },
	{ 1e20, "1e+20" },
	{ 1e15, "1000000000000000" },
	{ 1234567.25, "1234567.25" },
	{ 3.333333, "3.333333" },
	{ 2.0 / 3.0, "0.666667" },
	{ 0.9999999, "1" },
	{ 1e-7, "1e-07" },
	{ NAN, "" },
	{ INFINITY, "inf" },
};

static void test_fmt_double(void)
{
	char buf[CSV_DOUBLE_LEN];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(doubles); i++) {
		csv_fmt_double(buf, sizeof(buf), doubles[i].v);
		check(same_text(buf, doubles[i].text),
		      "fmt_double: %.9g is \"%s\"", doubles[i].v,
		      doubles[i].text);
	}
	csv_fmt_double(buf, 3, 12345);
	check(same_text(buf, "12"), "fmt_double: truncated to the buffer");
}

int main(void)
{
	int tmps;

	if (!mkdtemp(dir))
		tap_skip_all("cannot create a temporary directory");

	test_quoting();
	test_table();
	test_round_trip();
	test_save();
	test_atomic_file();
	test_write_error();
	test_load();
	test_fmt_double();

	unlink(in_dir("out.csv"));
	check_int(scan_dir(&tmps), ==, 0, "cleanup: directory left empty");
	rmdir(dir);
	return tap_done();
}
