/* SPDX-License-Identifier: MIT */
/*
 * The drain/server process: `contend serve KEY=VALUE...`.
 *
 * Request path, one thread per connection (at most `conns` over the
 * server's life), one request outstanding per connection:
 *
 *	read request
 *	drain enter          closed: reply REFUSED (nothing admitted)
 *	rate allow           refused: reply SHED
 *	ctx: child of root, deadline `deadline_ms` away
 *	queue try_send       full: reply SHED
 *	  ... a worker: sema acquire (ctx) -> work: ctx wait work_us ->
 *	      INSERT (committed) -> sema release; status ACK, or CANCELLED
 *	      when the ctx ended first (nothing recorded)
 *	write reply
 *	drain leave          only after the reply is on the socket
 *
 * so an ACK always names a committed row, and a row is only ever written
 * for a request whose ACK is then sent.
 *
 * Shutdown (mode=ordered) runs on the main thread, which alone takes
 * SIGTERM/SIGINT (sigwait; every other thread has them blocked):
 *   1 accept   stop the acceptor (it accepts what is already in the
 *              backlog, so no completed handshake is reset), close the
 *              listener, close the drain: from here every request is
 *              REFUSED.  The instant the drain is closed is stop_ns.
 *   2 grace    close_and_wait until nothing is in flight or grace_ms
 *   3 cancel   cancel the root ctx: what is left ends CANCELLED; wait
 *              again (CANCEL_WAIT_MS)
 *   4 workers  close the queue, join the workers; tell every connection
 *              to finish: each keeps answering REFUSED until its client
 *              hangs up or CONN_WAIT_MS passes, then closes
 *   5 flush    wal_checkpoint(TRUNCATE)
 *   6 close    close the database; report; exit 0
 *
 * mode=naive is the same path without the drain and without any of this:
 * SIGTERM's default action ends the process where it stands.
 *
 * "Committed" is SQLite's WAL commit with synchronous=NORMAL: it survives
 * the death of this process (what is tested here), not a power cut.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "clock.h"
#include "ctx.h"
#include "drain.h"
#include "rate.h"
#include "registry.h"
#include "sema.h"
#include "server.h"

#define CANCEL_WAIT_MS 500	/* phase 3: force-cancelled work must end */
#define CONN_WAIT_MS 1000	/* phase 4: clients get this long to hang up */
#define MS 1000000ull

const char *const server_phase_names[6] = {
	"accept", "grace", "cancel", "workers", "flush", "close",
};

struct srv;

struct conn {
	struct srv *s;
	int fd;
	pthread_t tid;
	/* The one request in the worker pool; done under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	uint64_t id, adm_ns;
	uint32_t work_us;
	struct ctx *ctx;
	int status;
};

struct srv {
	bool naive;
	unsigned grace_ms, deadline_ms, nworkers, max_conns;
	int report_fd;
	const struct drain_ops *dops;
	struct drain *drain;
	const struct ctx_ops *cops;
	struct ctx *root;
	const struct sema_ops *sops;
	struct sema *slots;
	const struct chan_ops *chops;
	struct chan *queue;
	const struct rate_ops *rops;
	struct rate *limiter;		/* NULL: unlimited */
	sqlite3 *db;
	sqlite3_stmt *insert;
	pthread_mutex_t db_lock;
	int lfd;
	int accept_stop[2], conn_stop[2];	/* pipes: readable = stop */
	pthread_t acceptor;
	pthread_t *workers;
	struct conn *conns;
	unsigned nconns;		/* written by the acceptor only */
	_Atomic bool stopped;		/* set once the drain is closed */
	_Atomic uint64_t conn_deadline;	/* phase 4's, 0 before */
	_Atomic uint64_t acked, refused, shed, cancelled, failed, late;
};

static __attribute__((format(printf, 1, 2))) int usage(const char *fmt, ...)
{
	va_list ap;

	fputs("contend: serve: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

/* ---- the request path ---------------------------------------------- */

static bool write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * Read one whole request.  false: the client hung up, the socket failed,
 * or (once phase 4 has begun) its deadline passed.
 */
static bool read_req(struct conn *c, struct server_req *rq)
{
	struct srv *s = c->s;
	char *p = (char *)rq;
	size_t got = 0;

	while (got < sizeof(*rq)) {
		uint64_t until = atomic_load(&s->conn_deadline);
		struct pollfd pf[2] = {
			{ .fd = c->fd, .events = POLLIN },
			{ .fd = s->conn_stop[0], .events = POLLIN },
		};
		int timeout = -1, n;
		ssize_t r;

		if (until) {
			uint64_t now = mono_ns();

			if (now >= until)
				return false;
			timeout = (int)((until - now + MS - 1) / MS);
		}
		/* Once stopping, the stop pipe stays readable: poll the
		 * socket alone, up to the deadline. */
		n = poll(pf, until ? 1 : 2, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;	/* the stop pipe, or a timeout */
		r = recv(c->fd, p + got, sizeof(*rq) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

/* Hand the request to the worker pool and wait for its status. */
static int pool_call(struct conn *c)
{
	struct srv *s = c->s;
	int rc, status;

	c->done = false;
	rc = s->chops->try_send(s->queue, c);
	if (rc == EAGAIN) {
		atomic_fetch_add(&s->shed, 1);
		return SRV_SHED;
	}
	if (rc) {	/* EPIPE: the pool is gone (only a broken drain gets here) */
		atomic_fetch_add(&s->refused, 1);
		return SRV_REFUSED;
	}
	pthread_mutex_lock(&c->lock);
	while (!c->done)
		pthread_cond_wait(&c->cond, &c->lock);
	status = c->status;
	pthread_mutex_unlock(&c->lock);
	return status;
}

static int handle(struct conn *c, const struct server_req *rq, bool *entered)
{
	struct srv *s = c->s;
	uint64_t now = mono_ns();
	/* Read before enter: true means the drain was closed before this
	 * enter began, so admitting it is a drain bug. */
	bool late = atomic_load(&s->stopped);
	int status;

	*entered = false;
	if (!s->naive) {
		if (s->dops->enter(s->drain)) {
			atomic_fetch_add(&s->refused, 1);
			return SRV_REFUSED;
		}
		*entered = true;
		if (late)
			atomic_fetch_add(&s->late, 1);
	}
	if (s->limiter && s->rops->allow(s->limiter, 1)) {
		atomic_fetch_add(&s->shed, 1);
		return SRV_SHED;
	}
	if (s->cops->create(&c->ctx, s->root, now + s->deadline_ms * MS)) {
		atomic_fetch_add(&s->failed, 1);
		return SRV_FAILED;
	}
	c->id = rq->id;
	c->work_us = rq->work_us;
	c->adm_ns = now;
	status = pool_call(c);
	s->cops->destroy(c->ctx);
	c->ctx = NULL;
	return status;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct srv *s = c->s;
	struct server_req rq;

	while (read_req(c, &rq)) {
		struct server_rep rep = { .id = rq.id };
		bool entered;

		rep.status = (uint32_t)handle(c, &rq, &entered);
		write_full(c->fd, &rep, sizeof(rep));
		if (entered)
			s->dops->leave(s->drain);
	}
	close(c->fd);
	return NULL;
}

/* The worker pool: slots bound how many requests are worked at once. */
static int work(struct srv *s, struct conn *c)
{
	int rc;

	if (s->sops->acquire(s->slots, 1, c->ctx)) {
		atomic_fetch_add(&s->cancelled, 1);
		return SRV_CANCELLED;
	}
	rc = c->work_us ? s->cops->wait(c->ctx, mono_ns() + c->work_us * 1000ull)
			: ctx_err(c->ctx);
	if (rc) {
		s->sops->release(s->slots, 1);
		atomic_fetch_add(&s->cancelled, 1);
		return SRV_CANCELLED;
	}
	/* Commit before the reply: an ACK must name a durable row. */
	pthread_mutex_lock(&s->db_lock);
	sqlite3_bind_int64(s->insert, 1, (sqlite3_int64)c->id);
	sqlite3_bind_int64(s->insert, 2, (sqlite3_int64)c->adm_ns);
	rc = sqlite3_step(s->insert);
	sqlite3_reset(s->insert);
	pthread_mutex_unlock(&s->db_lock);
	s->sops->release(s->slots, 1);
	if (rc != SQLITE_DONE) {
		atomic_fetch_add(&s->failed, 1);
		return SRV_FAILED;
	}
	atomic_fetch_add(&s->acked, 1);
	return SRV_ACK;
}

static void *worker_main(void *arg)
{
	struct srv *s = arg;
	void *item;

	while (!s->chops->recv(s->queue, &item, NULL)) {
		struct conn *c = item;
		int status = work(s, c);

		pthread_mutex_lock(&c->lock);
		c->status = status;
		c->done = true;
		pthread_cond_signal(&c->cond);
		pthread_mutex_unlock(&c->lock);
	}
	return NULL;
}

/* ---- accepting ----------------------------------------------------- */

static void add_conn(struct srv *s, int fd)
{
	struct conn *c;
	int one = 1;

	if (s->nconns == s->max_conns) {	/* bounded: turned away */
		close(fd);
		return;
	}
	c = &s->conns[s->nconns];
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->s = s;
	c->fd = fd;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (pthread_create(&c->tid, NULL, conn_main, c)) {
		close(fd);
		return;
	}
	s->nconns++;
}

static void *accept_main(void *arg)
{
	struct srv *s = arg;
	int fd;

	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = s->lfd, .events = POLLIN },
			{ .fd = s->accept_stop[0], .events = POLLIN },
		};

		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		if (!(pf[0].revents & POLLIN))
			continue;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			add_conn(s, fd);
	}
	/* Connections whose handshake completed are served (and refused),
	 * not reset: take the whole backlog before closing. */
	fcntl(s->lfd, F_SETFL, O_NONBLOCK);	/* accepted fds do not inherit it */
	while ((fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		add_conn(s, fd);
	close(s->lfd);
	return NULL;
}

/* ---- setup, shutdown ----------------------------------------------- */

struct opt {
	const char *key;
	const char *val;
};

static const struct impl_info *pick(const char *family, const char *name,
				    bool real_only)
{
	const struct family *f = family_find(family);
	const struct impl_info *i = f ? family_impl(f, name) : NULL;

	if (i && (i->unsupported || (real_only && (i->flags & IMPL_FLOOR))))
		return NULL;
	return i;
}

static bool num(const char *v, double lo, double hi, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || !(d >= lo && d <= hi))
		return false;
	*out = d;
	return true;
}

static int listen_loopback(struct srv *s, uint16_t *port)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		.sin_port = 0,		/* the kernel picks */
	};
	socklen_t len = sizeof(a);

	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		return errno;
	if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(s->lfd, 256) ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &len)) {
		int rc = errno;

		close(s->lfd);
		return rc;
	}
	*port = ntohs(a.sin_port);
	return 0;
}

static int open_db(struct srv *s, const char *path)
{
	static const char schema[] =
		"PRAGMA journal_mode=WAL;"
		"PRAGMA synchronous=NORMAL;"
		"CREATE TABLE IF NOT EXISTS acked("
		"id INTEGER PRIMARY KEY, adm_ns INTEGER NOT NULL);";

	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "INSERT INTO acked(id, adm_ns) VALUES(?1, ?2)",
			       -1, &s->insert, NULL) != SQLITE_OK) {
		fprintf(stderr, "contend: serve: cannot open database '%s': %s\n",
			path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
		sqlite3_close(s->db);
		return 3;
	}
	return 0;
}

static void shutdown_ordered(struct srv *s)
{
	struct ctx expired = { .deadline_ns = 1 }, grace = { 0 }, wait = { 0 };
	uint64_t ph[6], t, t0 = mono_ns(), stop_ns;
	unsigned long left, left2;
	char c = 1;

	/* 1: stop accepting; close the drain. */
	t = t0;
	if (write(s->accept_stop[1], &c, 1) != 1)
		abort();
	pthread_join(s->acceptor, NULL);
	s->dops->close_and_wait(s->drain, &expired);	/* closes, no wait */
	stop_ns = mono_ns();
	atomic_store(&s->stopped, true);
	ph[0] = stop_ns - t;

	/* 2: grace for what is in flight. */
	t = mono_ns();
	grace.deadline_ns = t + s->grace_ms * MS;
	left = s->dops->close_and_wait(s->drain, &grace);
	ph[1] = mono_ns() - t;

	/* 3: force-cancel the rest, wait for it to answer. */
	t = mono_ns();
	s->cops->cancel(s->root, ECANCELED, "server shutting down");
	wait.deadline_ns = mono_ns() + CANCEL_WAIT_MS * MS;
	left2 = s->dops->close_and_wait(s->drain, &wait);
	ph[2] = mono_ns() - t;

	/* 4: workers, then connections (answering REFUSED until hung up). */
	t = mono_ns();
	s->chops->close(s->queue);
	for (unsigned i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	atomic_store(&s->conn_deadline, mono_ns() + CONN_WAIT_MS * MS);
	if (write(s->conn_stop[1], &c, 1) != 1)
		abort();
	for (unsigned i = 0; i < s->nconns; i++)
		pthread_join(s->conns[i].tid, NULL);
	ph[3] = mono_ns() - t;

	/* 5: flush the WAL into the database file. */
	t = mono_ns();
	sqlite3_finalize(s->insert);
	sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	ph[4] = mono_ns() - t;

	/* 6: close it. */
	t = mono_ns();
	sqlite3_close(s->db);
	ph[5] = mono_ns() - t;

	dprintf(s->report_fd,
		"report stop_ns=%llu accept=%llu grace=%llu cancel=%llu workers=%llu flush=%llu close=%llu "
		"acked=%llu refused=%llu shed=%llu cancelled=%llu failed=%llu "
		"force_cancelled=%lu left_after_cancel=%lu admitted_after_stop=%llu\n",
		(unsigned long long)stop_ns,
		(unsigned long long)ph[0], (unsigned long long)ph[1],
		(unsigned long long)ph[2], (unsigned long long)ph[3],
		(unsigned long long)ph[4], (unsigned long long)ph[5],
		(unsigned long long)atomic_load(&s->acked),
		(unsigned long long)atomic_load(&s->refused),
		(unsigned long long)atomic_load(&s->shed),
		(unsigned long long)atomic_load(&s->cancelled),
		(unsigned long long)atomic_load(&s->failed),
		left, left2, (unsigned long long)atomic_load(&s->late));
}

int server_main(int argc, char **argv)
{
	static const char *const keys[] = {
		"db", "mode", "drain", "grace_ms", "slots", "queue", "workers",
		"conns", "rate", "deadline_ms", "report_fd", "ctx", "sema",
		"chan", "limiter", NULL,
	};
	enum { K_DB, K_MODE, K_DRAIN, K_GRACE, K_SLOTS, K_QUEUE, K_WORKERS,
	       K_CONNS, K_RATE, K_DEADLINE, K_FD, K_CTX, K_SEMA, K_CHAN,
	       K_LIMITER, K_N };
	const char *val[K_N] = {
		[K_MODE] = "ordered", [K_DRAIN] = "mutex", [K_GRACE] = "1000",
		[K_SLOTS] = "2", [K_QUEUE] = "64", [K_WORKERS] = "4",
		[K_CONNS] = "64", [K_RATE] = "0", [K_DEADLINE] = "1000",
		[K_FD] = "1", [K_CTX] = "futex", [K_SEMA] = "futex",
		[K_CHAN] = "futex", [K_LIMITER] = "tb-atomic",
	};
	struct srv s = { 0 };
	const struct impl_info *i;
	double d[K_N] = { 0 };
	sigset_t sigs;
	uint16_t port = 0;
	int rc;

	for (int a = 1; a < argc; a++) {
		const char *eq = strchr(argv[a], '=');
		int k;

		if (!eq)
			return usage("invalid argument '%s': expected key=value", argv[a]);
		for (k = 0; keys[k]; k++)
			if (strlen(keys[k]) == (size_t)(eq - argv[a]) &&
			    !strncmp(keys[k], argv[a], (size_t)(eq - argv[a])))
				break;
		if (!keys[k])
			return usage("unknown key '%.*s' (valid: db mode drain grace_ms slots queue workers conns rate deadline_ms report_fd ctx sema chan limiter)",
				     (int)(eq - argv[a]), argv[a]);
		val[k] = eq + 1;
	}
	if (!val[K_DB] || !*val[K_DB])
		return usage("db=PATH is required");
	if (!strcmp(val[K_MODE], "naive"))
		s.naive = true;
	else if (strcmp(val[K_MODE], "ordered"))
		return usage("invalid mode '%s' (valid: ordered naive)", val[K_MODE]);
	if (!num(val[K_GRACE], 0, 600000, &d[K_GRACE]) ||
	    !num(val[K_SLOTS], 1, 1 << 20, &d[K_SLOTS]) ||
	    !num(val[K_QUEUE], 1, 1 << 20, &d[K_QUEUE]) ||
	    !num(val[K_WORKERS], 1, 1024, &d[K_WORKERS]) ||
	    !num(val[K_CONNS], 1, 4096, &d[K_CONNS]) ||
	    !num(val[K_RATE], 0, 1e12, &d[K_RATE]) ||
	    !num(val[K_DEADLINE], 1, 600000, &d[K_DEADLINE]) ||
	    !num(val[K_FD], 1, 1 << 20, &d[K_FD]))
		return usage("grace_ms slots queue workers conns rate deadline_ms report_fd must be numbers in range (got %s %s %s %s %s %s %s %s)",
			     val[K_GRACE], val[K_SLOTS], val[K_QUEUE], val[K_WORKERS],
			     val[K_CONNS], val[K_RATE], val[K_DEADLINE], val[K_FD]);
	if (!(i = pick("drain", val[K_DRAIN], true)))
		return usage("unknown drain implementation '%s'", val[K_DRAIN]);
	s.dops = drain_ops_of(i);
	if (!(i = pick("ctx", val[K_CTX], true)))
		return usage("unknown ctx implementation '%s'", val[K_CTX]);
	s.cops = ctx_ops_of(i);
	if (!(i = pick("sema", val[K_SEMA], true)))
		return usage("unknown sema implementation '%s'", val[K_SEMA]);
	s.sops = sema_ops_of(i);
	if (!(i = pick("chan", val[K_CHAN], true)))
		return usage("unknown chan implementation '%s'", val[K_CHAN]);
	s.chops = chan_ops_of(i);
	if (!(i = pick("rate", val[K_LIMITER], true)))
		return usage("unknown rate implementation '%s'", val[K_LIMITER]);
	s.rops = rate_ops_of(i);
	s.grace_ms = (unsigned)d[K_GRACE];
	s.deadline_ms = (unsigned)d[K_DEADLINE];
	s.nworkers = (unsigned)d[K_WORKERS];
	s.max_conns = (unsigned)d[K_CONNS];
	s.report_fd = (int)d[K_FD];

	/* Every thread started below inherits this mask: only sigwait
	 * below takes SIGTERM/SIGINT.  Naive mode leaves them alone. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (!s.naive)
		pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	clock_init();

	rc = open_db(&s, val[K_DB]);
	if (rc)
		return rc;
	pthread_mutex_init(&s.db_lock, NULL);
	s.conns = calloc(s.max_conns, sizeof(*s.conns));
	s.workers = calloc(s.nworkers, sizeof(*s.workers));
	if (!s.conns || !s.workers || pipe2(s.accept_stop, O_CLOEXEC) ||
	    pipe2(s.conn_stop, O_CLOEXEC) ||
	    (!s.naive && s.dops->create(&s.drain)) ||
	    s.cops->create(&s.root, NULL, 0) ||
	    s.sops->create(&s.slots, (unsigned)d[K_SLOTS]) ||
	    s.chops->create(&s.queue, (unsigned)d[K_QUEUE]) ||
	    (d[K_RATE] > 0 && s.rops->create(&s.limiter, d[K_RATE],
			(unsigned)fmin(fmax(d[K_RATE] / 100, 1), RATE_MAX_BURST), NULL))) {
		fprintf(stderr, "contend: serve: cannot set up: out of memory or descriptors\n");
		return 3;
	}
	rc = listen_loopback(&s, &port);
	if (rc) {
		fprintf(stderr, "contend: serve: cannot listen on 127.0.0.1: %s\n", strerror(rc));
		return 3;
	}
	for (unsigned w = 0; w < s.nworkers; w++)
		if (pthread_create(&s.workers[w], NULL, worker_main, &s)) {
			fprintf(stderr, "contend: serve: cannot start worker %u\n", w);
			return 3;
		}
	if (pthread_create(&s.acceptor, NULL, accept_main, &s)) {
		fprintf(stderr, "contend: serve: cannot start the acceptor\n");
		return 3;
	}
	dprintf(s.report_fd, "port=%u\n", port);

	if (s.naive) {
		for (;;)
			pause();	/* SIGTERM ends it here, or anywhere */
	}
	for (;;) {
		int sig;

		if (!sigwait(&sigs, &sig))
			break;
	}
	shutdown_ordered(&s);
	return 0;
}
