/* SPDX-License-Identifier: MIT */
/*
 * Results tables and crash-safe saving.
 *
 * struct csv_table is an in-memory table of strings: one header row, then
 * data rows of exactly as many cells.  Every string is copied in, so the
 * caller's buffers may be reused at once.
 *
 * csv_write() emits RFC 4180 text: fields separated by ',', records ended
 * by "\n", a field quoted when it holds ',', '"', CR or LF or begins or
 * ends with a space or tab, a '"' inside a quoted field doubled.  The one
 * extra: a record that is a single empty field is written as "" so that it
 * cannot be mistaken for a blank line.  csv_load() reads that text back
 * exactly (it also takes CRLF line ends).
 *
 * csv_save() never leaves a partial file behind: it writes a temporary
 * "<dir>/.<base>.tmp.<pid>" beside the target, flushes and fsyncs it, and
 * rename()s it over the target, so a reader (or a crash) sees either the
 * old file or the whole new one.  The atomic_file_* calls do the same for
 * any file written through stdio.
 */
#ifndef CONTEND_CSV_H
#define CONTEND_CSV_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

struct csv_table;

/* Returns NULL when out of memory. */
struct csv_table *csv_new(void);
void csv_free(struct csv_table *t);

/*
 * Set (or rename) the columns; a NULL name is stored as "".  EINVAL for no
 * columns, or for a count that differs from the rows already added.
 */
int csv_set_header(struct csv_table *t, const char *const *cols, size_t n);

/*
 * Append a row of n cells, copied; a NULL cell is stored as "".  EINVAL
 * unless n equals the header's count (so also before csv_set_header()).
 */
int csv_add_row(struct csv_table *t, const char *const *cells, size_t n);

size_t csv_rows(const struct csv_table *t); /* data rows, header excluded */
size_t csv_cols(const struct csv_table *t);

/* Row 0 is the first data row.  NULL when row or col is out of range. */
const char *csv_cell(const struct csv_table *t, size_t row, size_t col);
const char *csv_header(const struct csv_table *t, size_t col);

/* The first column called name, or -1. */
int csv_col_index(const struct csv_table *t, const char *name);

/*
 * Header, then rows.  0, EINVAL for a table with no header, or the errno
 * of the first failed write (EIO where the stream gave none).
 */
int csv_write(const struct csv_table *t, FILE *f);

/* csv_write() through an atomic_file: all or nothing at path. */
int csv_save(const struct csv_table *t, const char *path);

/*
 * Read a file in csv_write()'s format: the first record is the header.
 * Returns 0 and sets *out, or an errno-style code with a one-line message
 * in err (which may be NULL): the open(2) error for a file that cannot be
 * opened ("cannot open 'path': ..."), EINVAL for malformed text (a record
 * whose cell count differs from the header's, an unterminated quoted
 * field, a stray '"', a NUL byte, an empty file), naming the line.
 */
int csv_load(struct csv_table **out, const char *path, char *err,
	     size_t errlen);

/*
 * Crash-safe replacement of one file.
 *
 *	struct atomic_file af;
 *
 *	rc = atomic_file_open(&af, "out/meta.json");
 *	if (rc)
 *		return rc;
 *	fprintf(af.f, ...);
 *	return atomic_file_commit(&af);		(or atomic_file_abort(&af))
 *
 * open creates the temporary "<dir>/.<base>.tmp.<pid>" (mode 0666 less the
 * umask, or the mode of the file it will replace).  commit flushes, fsyncs
 * and closes it, renames it over path and then fsyncs the directory (best
 * effort: the rename has happened either way); on any failure it unlinks
 * the temporary and returns the errno, leaving path untouched.  abort
 * closes and unlinks the temporary.  After any atomic_file_open(), failed
 * or not, abort is safe; after commit or abort the struct is spent, and
 * abort on it again is a no-op.  A symlink at path is replaced, not
 * followed.  One process must not save the same path from two threads at
 * once: they would share the temporary.
 */
struct atomic_file {
	FILE *f;	     /* write here between open and commit */
	char path[PATH_MAX]; /* the target */
	char tmp[PATH_MAX];  /* the temporary; "" when there is none */
};

int atomic_file_open(struct atomic_file *af, const char *path);
int atomic_file_commit(struct atomic_file *af);
void atomic_file_abort(struct atomic_file *af);

/*
 * Format v for a cell: "" for NaN; an integral value up to 1e15 without
 * decimals ("12", "-3", "0" for -0.0); other values from 1e-3 to 1e15 in
 * fixed point with at most 6 decimals, trailing zeros dropped ("12.5");
 * anything else as "%.6g" ("0.000123", "1e+20", "inf").  Always
 * '.'-decimal in the C locale.  CSV_DOUBLE_LEN bytes always suffice.
 */
#define CSV_DOUBLE_LEN 32
void csv_fmt_double(char *buf, size_t len, double v);

#endif
