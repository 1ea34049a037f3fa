/* SPDX-License-Identifier: MIT */
/*
 * The parent's side of drain/server: spawn the server process (exec of
 * /proc/self/exe, never a bare fork of a threaded process), be its client,
 * stop it, and check its database against what the clients were told.
 * Every wait here is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "server.h"

#define SPAWN_WAIT_NS 10000000000ull	/* for the port line (TSan is slow) */

extern char **environ;

const char *const client_outcome_names[OUT_N] = {
	"acked", "refused", "shed", "cancelled", "failed", "dropped", "hang",
	"bad",
};

/*
 * Read the report pipe until it holds `lines` newlines, reaches EOF (the
 * server is gone: exit_ns is set) or `until` passes; until = 0 reads only
 * what is there now.
 */
static void read_report(struct server_proc *p, uint64_t until, unsigned lines)
{
	for (;;) {
		struct pollfd pf = { .fd = p->report_fd, .events = POLLIN };
		uint64_t now = mono_ns();
		unsigned have = 0;
		int timeout = 0;
		ssize_t n;

		for (size_t i = 0; i < p->len; i++)
			have += p->buf[i] == '\n';
		if (have >= lines || p->exit_ns || p->len + 1 >= sizeof(p->buf))
			return;
		if (until) {
			if (now >= until)
				return;
			timeout = (int)((until - now + 999999) / 1000000);
		}
		if (poll(&pf, 1, timeout) <= 0) {
			if (!until)
				return;
			continue;
		}
		n = read(p->report_fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
		if (n <= 0) {		/* EOF: the server is gone */
			p->exit_ns = mono_ns();
			return;
		}
		p->len += (size_t)n;
		p->buf[p->len] = '\0';
	}
}

int server_spawn(struct server_proc *p, const struct server_opts *o,
		 char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	char a[11][320];
	char *argv[16];
	int pfd[2], argc = 0, rc;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dflt;
	const char *port;

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	p->report_fd = -1;
	snprintf(p->dir, sizeof(p->dir), "%s/contend-server.XXXXXX",
		 tmp && *tmp && strlen(tmp) < 200 ? tmp : "/tmp");
	if (!mkdtemp(p->dir)) {
		snprintf(err, errlen, "cannot make a temporary folder: %s", strerror(errno));
		p->dir[0] = '\0';
		return errno;
	}
	snprintf(p->db, sizeof(p->db), "%s/acked.db", p->dir);
	if (pipe2(pfd, O_CLOEXEC)) {
		rc = errno;
		snprintf(err, errlen, "cannot make a pipe: %s", strerror(rc));
		goto out_dir;
	}
	if (pfd[1] == 3) {	/* dup2 onto itself would keep O_CLOEXEC */
		int moved = fcntl(3, F_DUPFD_CLOEXEC, 10);

		close(3);
		pfd[1] = moved;
	}
	argv[argc++] = "contend";
	argv[argc++] = "serve";
	snprintf(a[0], sizeof(a[0]), "mode=%s", o->naive ? "naive" : "ordered");
	snprintf(a[1], sizeof(a[1]), "drain=%s", o->drain ? o->drain : "mutex");
	snprintf(a[2], sizeof(a[2]), "grace_ms=%u", o->grace_ms);
	snprintf(a[3], sizeof(a[3]), "slots=%u", o->slots);
	snprintf(a[4], sizeof(a[4]), "queue=%u", o->queue);
	snprintf(a[5], sizeof(a[5]), "workers=%u", o->workers);
	snprintf(a[6], sizeof(a[6]), "conns=%u", o->conns);
	snprintf(a[7], sizeof(a[7]), "rate=%.17g", o->rate);
	snprintf(a[8], sizeof(a[8]), "deadline_ms=%u", o->deadline_ms);
	snprintf(a[9], sizeof(a[9]), "report_fd=3");
	snprintf(a[10], sizeof(a[10]), "db=%s", p->db);
	for (int i = 0; i < 11; i++)
		argv[argc++] = a[i];
	argv[argc] = NULL;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 3);
	posix_spawnattr_init(&attr);
	/* The caller's threads may block everything (the runner does). */
	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGTERM);
	sigaddset(&dflt, SIGINT);
	sigaddset(&dflt, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dflt);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(&p->pid, "/proc/self/exe", &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	p->report_fd = pfd[0];
	if (rc) {
		p->pid = -1;
		snprintf(err, errlen, "cannot start the server: %s", strerror(rc));
		goto out_pipe;
	}
	read_report(p, mono_ns() + SPAWN_WAIT_NS, 1);
	port = strstr(p->buf, "port=");
	if (!port || !strchr(port, '\n') || !(p->port = (uint16_t)atoi(port + 5))) {
		int st;

		kill(p->pid, SIGKILL);
		waitpid(p->pid, &st, 0);
		p->pid = -1;
		snprintf(err, errlen, "the server did not report its port");
		rc = EPROTO;
		goto out_pipe;
	}
	/* Keep only what follows the port line. */
	p->len -= (size_t)(strchr(port, '\n') + 1 - p->buf);
	memmove(p->buf, strchr(port, '\n') + 1, p->len + 1);
	return 0;

out_pipe:
	close(p->report_fd);
	p->report_fd = -1;
out_dir:
	server_cleanup(p);
	return rc;
}

bool server_exited(struct server_proc *p)
{
	if (p->report_fd >= 0 && !p->exit_ns)
		read_report(p, 0, ~0u);
	return p->exit_ns != 0;
}

void server_term(struct server_proc *p)
{
	if (p->pid > 0 && !p->term_ns) {
		p->term_ns = mono_ns();
		kill(p->pid, SIGTERM);
	}
}

static uint64_t field(const char *line, const char *key)
{
	char pat[48];
	const char *at;

	snprintf(pat, sizeof(pat), " %s=", key);
	at = strstr(line, pat);
	return at ? strtoull(at + strlen(pat), NULL, 10) : 0;
}

void server_reap(struct server_proc *p, uint64_t bound_ns,
		 struct server_report *r)
{
	uint64_t until = mono_ns() + bound_ns;
	const char *line;
	int st = 0;

	memset(r, 0, sizeof(*r));
	r->term_ns = p->term_ns;
	if (p->pid <= 0)
		return;
	/* The pipe reaches EOF when the process is gone: wait for that. */
	read_report(p, until, ~0u);
	if (waitpid(p->pid, &st, WNOHANG) != p->pid) {
		/* Still alive (or its pipe was inherited): give it a moment. */
		while (mono_ns() < until && waitpid(p->pid, &st, WNOHANG) == 0)
			usleep(1000);
		if (waitpid(p->pid, &st, WNOHANG) == 0) {
			r->hang = true;
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
		}
	}
	if (p->term_ns)
		r->drain_ns = (p->exit_ns ? p->exit_ns : mono_ns()) - p->term_ns;
	r->status = st;
	p->pid = -1;
	close(p->report_fd);
	p->report_fd = -1;

	line = strstr(p->buf, "report ");
	if (!line)
		return;
	r->clean = !r->hang && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	r->stop_ns = field(line, "stop_ns");
	for (int i = 0; i < 6; i++)
		r->phase_ns[i] = field(line, server_phase_names[i]);
	r->acked = field(line, "acked");
	r->refused = field(line, "refused");
	r->shed = field(line, "shed");
	r->cancelled = field(line, "cancelled");
	r->failed = field(line, "failed");
	r->force_cancelled = field(line, "force_cancelled");
	r->left_after_cancel = field(line, "left_after_cancel");
	r->admitted_after_stop = field(line, "admitted_after_stop");
}

void server_cleanup(struct server_proc *p)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
	char path[320];

	if (p->pid > 0) {
		int st;

		kill(p->pid, SIGKILL);
		waitpid(p->pid, &st, 0);
		p->pid = -1;
	}
	if (p->report_fd >= 0) {
		close(p->report_fd);
		p->report_fd = -1;
	}
	if (!p->dir[0])
		return;
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", p->db, suffix[i]);
		unlink(path);
	}
	rmdir(p->dir);
	p->dir[0] = '\0';
}

/* ---- the client ---------------------------------------------------- */

int client_connect(uint16_t port)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		.sin_port = htons(port),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		int rc = errno;

		close(fd);
		return -rc;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

enum client_outcome client_call(int fd, uint64_t id, uint32_t work_us,
				uint64_t timeout_ns)
{
	struct server_req rq = { .id = id, .work_us = work_us };
	struct server_rep rep;
	uint64_t until = mono_ns() + timeout_ns;
	char *p = (char *)&rep;
	size_t got = 0;

	if (send(fd, &rq, sizeof(rq), MSG_NOSIGNAL) != (ssize_t)sizeof(rq))
		return OUT_DROPPED;	/* 16 bytes into an empty socket: all or error */
	while (got < sizeof(rep)) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		uint64_t now = mono_ns();
		ssize_t n;
		int rc;

		if (now >= until)
			return OUT_HANG;
		rc = poll(&pf, 1, (int)((until - now + 999999) / 1000000));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return OUT_DROPPED;
		if (!rc)
			continue;
		n = recv(fd, p + got, sizeof(rep) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return OUT_DROPPED;	/* EOF or reset, request outstanding */
		got += (size_t)n;
	}
	if (rep.id != id)
		return OUT_BAD;
	switch (rep.status) {
	case SRV_ACK: return OUT_ACK;
	case SRV_REFUSED: return OUT_REFUSED;
	case SRV_SHED: return OUT_SHED;
	case SRV_CANCELLED: return OUT_CANCELLED;
	case SRV_FAILED: return OUT_FAILED;
	}
	return OUT_BAD;
}

/* ---- verification -------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int server_verify(const char *db, uint64_t *acked, size_t n, uint64_t stop_ns,
		  struct server_verdict *v, char *err, size_t errlen)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	size_t k = 0;
	int rc;

	memset(v, 0, sizeof(*v));
	qsort(acked, n, sizeof(*acked), cmp_u64);
	/* Read-write: a killed server leaves a WAL to recover. */
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "SELECT id, adm_ns FROM acked ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot read '%s': %s", db,
			 h ? sqlite3_errmsg(h) : "out of memory");
		sqlite3_close(h);
		return EIO;
	}
	/* Merge the two sorted lists. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);
		uint64_t adm = (uint64_t)sqlite3_column_int64(st, 1);

		v->in_db++;
		if (stop_ns && adm > stop_ns)
			v->admitted_late++;
		while (k < n && acked[k] < id)
			v->lost++, k++;
		if (k < n && acked[k] == id)
			k++;
		else
			v->recorded_unacked++;
	}
	v->lost += n - k;
	sqlite3_finalize(st);
	sqlite3_close(h);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "cannot read '%s' to the end", db);
		return EIO;
	}
	return 0;
}
