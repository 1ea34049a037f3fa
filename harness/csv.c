/* SPDX-License-Identifier: MIT */
/*
 * Results tables: storage, RFC 4180 writing and reading, and crash-safe
 * saving.  The format is described in csv.h.
 *
 * Storage.  The header is an array of ncols strings; the rows are one
 * row-major array of nrows * ncols string pointers, grown by doubling, so
 * cell (r, c) is cells[r * ncols + c].
 *
 * Reading.  csv_load() streams the file through getc() with a small state
 * machine: a field either starts with '"' and runs to the matching '"'
 * (where "" stands for one quote and CR/LF are data), or runs unquoted to
 * ',' or the line end.  Physical lines are counted, newlines inside quoted
 * fields included, so every message names the line an editor would show.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"

struct csv_table {
	char **header; /* ncols names */
	size_t ncols;  /* 0 until csv_set_header() */
	char **cells;  /* nrows * ncols, row-major */
	size_t nrows;
	size_t cap; /* rows cells has room for */
};

static __attribute__((format(printf, 3, 4))) void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* strdup() without relying on feature macros; NULL is taken as "". */
static char *str_dup(const char *s)
{
	size_t n;
	char *d;

	if (!s)
		s = "";
	n = strlen(s) + 1;
	d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

static void free_strings(char **v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
}

/* Copy n strings into dst[0..n); on failure nothing is left allocated. */
static int dup_strings(char **dst, const char *const *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		dst[i] = str_dup(src[i]);
		if (!dst[i]) {
			free_strings(dst, i);
			return ENOMEM;
		}
	}
	return 0;
}

struct csv_table *csv_new(void)
{
	return calloc(1, sizeof(struct csv_table));
}

void csv_free(struct csv_table *t)
{
	if (!t)
		return;
	free_strings(t->cells, t->nrows * t->ncols);
	free(t->cells);
	free_strings(t->header, t->ncols);
	free(t->header);
	free(t);
}

int csv_set_header(struct csv_table *t, const char *const *cols, size_t n)
{
	char **names;
	int rc;

	if (!n || (t->nrows && n != t->ncols))
		return EINVAL;
	names = calloc(n, sizeof(*names));
	if (!names)
		return ENOMEM;
	rc = dup_strings(names, cols, n);
	if (rc) {
		free(names);
		return rc;
	}
	free_strings(t->header, t->ncols);
	free(t->header);
	if (n != t->ncols) {
		/* no rows yet, but room sized for the old width */
		free(t->cells);
		t->cells = NULL;
		t->cap = 0;
	}
	t->header = names;
	t->ncols = n;
	return 0;
}

/* Make room for one more row. */
static int table_reserve(struct csv_table *t)
{
	size_t cap;
	char **cells;

	if (t->nrows < t->cap)
		return 0;
	cap = t->cap ? t->cap * 2 : 16;
	if (cap > SIZE_MAX / sizeof(*cells) / t->ncols)
		return ENOMEM;
	cells = realloc(t->cells, cap * t->ncols * sizeof(*cells));
	if (!cells)
		return ENOMEM;
	t->cells = cells;
	t->cap = cap;
	return 0;
}

int csv_add_row(struct csv_table *t, const char *const *cells, size_t n)
{
	int rc;

	if (!t->ncols || n != t->ncols)
		return EINVAL;
	rc = table_reserve(t);
	if (rc)
		return rc;
	rc = dup_strings(t->cells + t->nrows * t->ncols, cells, n);
	if (rc)
		return rc;
	t->nrows++;
	return 0;
}

size_t csv_rows(const struct csv_table *t)
{
	return t->nrows;
}

size_t csv_cols(const struct csv_table *t)
{
	return t->ncols;
}

const char *csv_cell(const struct csv_table *t, size_t row, size_t col)
{
	if (row >= t->nrows || col >= t->ncols)
		return NULL;
	return t->cells[row * t->ncols + col];
}

const char *csv_header(const struct csv_table *t, size_t col)
{
	if (col >= t->ncols)
		return NULL;
	return t->header[col];
}

int csv_col_index(const struct csv_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->ncols && i <= INT_MAX; i++)
		if (!strcmp(t->header[i], name))
			return (int)i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* Writing */

/* The errno of a failed stdio write; csv_write() clears errno first. */
static int write_error(void)
{
	return errno ? errno : EIO;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool needs_quotes(const char *s)
{
	size_t n = strlen(s);

	if (!n)
		return false;
	if (is_blank(s[0]) || is_blank(s[n - 1]))
		return true;
	return strpbrk(s, ",\"\r\n") != NULL;
}

/* alone: the record's only field, which must not come out as a blank line */
static int write_field(FILE *f, const char *s, bool alone)
{
	if (!needs_quotes(s) && (*s || !alone))
		return fputs(s, f) == EOF ? write_error() : 0;
	if (putc('"', f) == EOF)
		return write_error();
	for (; *s; s++) {
		if (*s == '"' && putc('"', f) == EOF)
			return write_error();
		if (putc(*s, f) == EOF)
			return write_error();
	}
	return putc('"', f) == EOF ? write_error() : 0;
}

static int write_record(FILE *f, char *const *fields, size_t n)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		if (i && putc(',', f) == EOF)
			return write_error();
		rc = write_field(f, fields[i], n == 1);
		if (rc)
			return rc;
	}
	return putc('\n', f) == EOF ? write_error() : 0;
}

int csv_write(const struct csv_table *t, FILE *f)
{
	size_t r;
	int rc;

	if (!t->ncols)
		return EINVAL;
	errno = 0;
	rc = write_record(f, t->header, t->ncols);
	for (r = 0; !rc && r < t->nrows; r++)
		rc = write_record(f, t->cells + r * t->ncols, t->ncols);
	if (!rc && ferror(f))
		rc = EIO; /* an earlier failure on this stream */
	return rc;
}

int csv_save(const struct csv_table *t, const char *path)
{
	struct atomic_file af;
	int rc;

	if (!t->ncols)
		return EINVAL;
	rc = atomic_file_open(&af, path);
	if (rc)
		return rc;
	rc = csv_write(t, af.f);
	if (rc) {
		atomic_file_abort(&af);
		return rc;
	}
	return atomic_file_commit(&af);
}

/* ------------------------------------------------------------------ */
/* Reading */

struct csv_parser {
	FILE *f;
	const char *path;
	char *err;
	size_t errlen;
	size_t line;	 /* physical line of the next character */
	size_t rec_line; /* line the current record began on */
	char *buf;	 /* the field being read */
	size_t len, buf_cap;
	char **rec; /* the record being read, fields owned */
	size_t nrec, rec_cap;
};

static void parser_release(struct csv_parser *p)
{
	free_strings(p->rec, p->nrec);
	free(p->rec);
	free(p->buf);
}

static int parse_nomem(struct csv_parser *p)
{
	set_err(p->err, p->errlen, "out of memory reading '%s'", p->path);
	return ENOMEM;
}

static int parse_bad(struct csv_parser *p, size_t line, const char *what)
{
	set_err(p->err, p->errlen, "'%s' line %zu: %s", p->path, line, what);
	return EINVAL;
}

/* getc() returned EOF: 0 at a clean end of file, else the read error. */
static int parse_eof(struct csv_parser *p)
{
	int rc;

	if (!ferror(p->f))
		return 0;
	rc = errno ? errno : EIO;
	set_err(p->err, p->errlen, "cannot read '%s': %s", p->path,
		strerror(rc));
	return rc;
}

static int field_add(struct csv_parser *p, int c)
{
	size_t cap;
	char *buf;

	if (p->len + 1 >= p->buf_cap) {
		cap = p->buf_cap ? p->buf_cap * 2 : 64;
		buf = realloc(p->buf, cap);
		if (!buf)
			return parse_nomem(p);
		p->buf = buf;
		p->buf_cap = cap;
	}
	p->buf[p->len++] = (char)c;
	return 0;
}

/* End the field in buf and append a copy of it to the record. */
static int field_end(struct csv_parser *p)
{
	size_t cap;
	char **rec;
	char *s;

	if (p->nrec == p->rec_cap) {
		cap = p->rec_cap ? p->rec_cap * 2 : 16;
		rec = realloc(p->rec, cap * sizeof(*rec));
		if (!rec)
			return parse_nomem(p);
		p->rec = rec;
		p->rec_cap = cap;
	}
	s = malloc(p->len + 1);
	if (!s)
		return parse_nomem(p);
	if (p->len)
		memcpy(s, p->buf, p->len);
	s[p->len] = '\0';
	p->rec[p->nrec++] = s;
	p->len = 0;
	return 0;
}

/*
 * Read a quoted field whose opening '"' has been consumed.  Returns 0 with
 * *c set to the character after the closing quote, ',' '\n' or EOF.
 */
static int read_quoted(struct csv_parser *p, int *c)
{
	size_t open_line = p->line;
	int ch, rc;

	for (;;) {
		ch = getc(p->f);
		if (ch == EOF) {
			rc = parse_eof(p);
			if (rc)
				return rc;
			return parse_bad(p, open_line,
					 "unterminated quoted field");
		}
		if (ch == '"') {
			ch = getc(p->f);
			if (ch != '"')
				break;
		} else if (ch == '\n') {
			p->line++;
		} else if (ch == '\0') {
			return parse_bad(p, p->line, "NUL byte");
		}
		rc = field_add(p, ch);
		if (rc)
			return rc;
	}
	if (ch == '\r') {
		ch = getc(p->f);
		if (ch != '\n')
			return parse_bad(p, p->line,
					 "stray character after closing quote");
	}
	if (ch != ',' && ch != '\n' && ch != EOF)
		return parse_bad(p, p->line,
				 "stray character after closing quote");
	*c = ch;
	return 0;
}

/* Read an unquoted field starting with ch; *c as for read_quoted(). */
static int read_plain(struct csv_parser *p, int ch, int *c)
{
	int next, rc;

	while (ch != ',' && ch != '\n' && ch != EOF) {
		if (ch == '"')
			return parse_bad(p, p->line,
					 "stray quote in unquoted field");
		if (ch == '\0')
			return parse_bad(p, p->line, "NUL byte");
		if (ch == '\r') {
			next = getc(p->f);
			if (next == '\n') {
				ch = next;
				break;
			}
			ungetc(next, p->f); /* a bare CR is data */
		}
		rc = field_add(p, ch);
		if (rc)
			return rc;
		ch = getc(p->f);
	}
	*c = ch;
	return 0;
}

/*
 * Read one record into p->rec (which must be empty).  At the end of the
 * file, with no record begun, returns 0 with *eof set.
 */
static int read_record(struct csv_parser *p, bool *eof)
{
	int ch, rc;

	*eof = false;
	p->rec_line = p->line;
	ch = getc(p->f);
	if (ch == EOF) {
		*eof = true;
		return parse_eof(p);
	}
	for (;;) {
		if (ch == '"')
			rc = read_quoted(p, &ch);
		else
			rc = read_plain(p, ch, &ch);
		if (!rc)
			rc = field_end(p);
		if (rc)
			return rc;
		if (ch == '\n') {
			p->line++;
			return 0;
		}
		if (ch == EOF)
			return parse_eof(p);
		ch = getc(p->f); /* past the ',' */
	}
}

int csv_load(struct csv_table **out, const char *path, char *err, size_t errlen)
{
	struct csv_parser p = {
	    .path = path,
	    .err = err,
	    .errlen = errlen,
	    .line = 1,
	};
	struct csv_table *t;
	bool eof;
	int rc;

	*out = NULL;
	p.f = fopen(path, "r");
	if (!p.f) {
		rc = errno;
		set_err(err, errlen, "cannot open '%s': %s", path,
			strerror(rc));
		return rc;
	}
	t = csv_new();
	if (!t) {
		rc = parse_nomem(&p);
		goto out_close;
	}

	rc = read_record(&p, &eof);
	if (rc)
		goto out_free;
	if (eof) {
		rc = parse_bad(&p, 1, "empty file, no header");
		goto out_free;
	}
	/* the header's strings move into the table */
	t->header = p.rec;
	t->ncols = p.nrec;
	p.rec = NULL;
	p.nrec = p.rec_cap = 0;

	for (;;) {
		rc = read_record(&p, &eof);
		if (rc || eof)
			break;
		if (p.nrec != t->ncols) {
			set_err(err, errlen,
				"'%s' line %zu: %zu cell%s, header has %zu",
				path, p.rec_line, p.nrec,
				p.nrec == 1 ? "" : "s", t->ncols);
			rc = EINVAL;
			break;
		}
		rc = table_reserve(t);
		if (rc) {
			parse_nomem(&p);
			break;
		}
		memcpy(t->cells + t->nrows * t->ncols, p.rec,
		       t->ncols * sizeof(*p.rec));
		t->nrows++;
		p.nrec = 0;
	}
	if (rc)
		goto out_free;
	*out = t;
	goto out_close;

out_free:
	csv_free(t);
out_close:
	parser_release(&p);
	fclose(p.f);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Atomic files */

int atomic_file_open(struct atomic_file *af, const char *path)
{
	const char *base;
	size_t len = strlen(path);
	struct stat st;
	int fd, n, rc;

	af->f = NULL;
	af->path[0] = '\0';
	af->tmp[0] = '\0';
	if (!len)
		return ENOENT;
	if (len >= sizeof(af->path))
		return ENAMETOOLONG;
	memcpy(af->path, path, len + 1);

	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return EISDIR;
	n = snprintf(af->tmp, sizeof(af->tmp), "%.*s.%s.tmp.%ld",
		     (int)(base - path), path, base, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(af->tmp)) {
		af->tmp[0] = '\0';
		return ENAMETOOLONG;
	}

	/*
	 * O_TRUNC rather than O_EXCL: a leftover from a crashed process that
	 * had our pid must not block every later save.
	 */
	fd = open(af->tmp,
		  O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd < 0) {
		rc = errno;
		af->tmp[0] = '\0';
		return rc;
	}
	/* best effort: the replacement keeps the old file's permissions */
	if (!stat(path, &st) && S_ISREG(st.st_mode))
		(void)fchmod(fd, st.st_mode & 07777);
	af->f = fdopen(fd, "w");
	if (!af->f) {
		rc = errno;
		close(fd);
		unlink(af->tmp);
		af->tmp[0] = '\0';
		return rc;
	}
	return 0;
}

/* Make a rename in path's directory durable; best effort. */
static void sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd;

	if (!slash) {
		strcpy(dir, ".");
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)fsync(fd);
	close(fd);
}

int atomic_file_commit(struct atomic_file *af)
{
	int rc = 0;

	if (!af->f)
		return EINVAL;
	errno = 0;
	if (fflush(af->f) == EOF)
		rc = errno ? errno : EIO;
	else if (ferror(af->f))
		rc = EIO; /* a write failed earlier */
	if (!rc && fsync(fileno(af->f)))
		rc = errno;
	if (fclose(af->f) == EOF && !rc)
		rc = errno ? errno : EIO;
	af->f = NULL;
	if (!rc && rename(af->tmp, af->path))
		rc = errno;
	if (rc) {
		unlink(af->tmp);
		af->tmp[0] = '\0';
		return rc;
	}
	af->tmp[0] = '\0';
	sync_dir(af->path);
	return 0;
}

void atomic_file_abort(struct atomic_file *af)
{
	if (af->f) {
		fclose(af->f);
		af->f = NULL;
	}
	if (af->tmp[0]) {
		unlink(af->tmp);
		af->tmp[0] = '\0';
	}
}

/* ------------------------------------------------------------------ */
/* Numbers */

void csv_fmt_double(char *buf, size_t len, double v)
{
	char tmp[64];
	double a = v < 0 ? -v : v;
	size_t n;

	if (!len)
		return;
	if (isnan(v)) {
		buf[0] = '\0';
		return;
	}
	if (v == 0) {
		strcpy(tmp, "0"); /* -0.0 too */
	} else if (a <= 1e15 && v == (double)(long long)v) {
		snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
	} else if (a >= 1e-3 && a <= 1e15) {
		snprintf(tmp, sizeof(tmp), "%.6f", v);
		n = strlen(tmp);
		while (tmp[n - 1] == '0')
			n--;
		if (tmp[n - 1] == '.')
			n--;
		tmp[n] = '\0';
	} else {
		snprintf(tmp, sizeof(tmp), "%.6g", v);
	}
	snprintf(buf, len, "%s", tmp);
}
