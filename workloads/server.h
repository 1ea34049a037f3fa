/* SPDX-License-Identifier: MIT */
/*
 * drain/server: a small RPC service on loopback, built from contend's own
 * primitives, that must lose nothing when it is told to stop.
 *
 * The server (server.c) runs as its own process, `contend serve ...`
 * (or any test binary whose first argument is "serve"), so SIGTERM is a
 * real signal.  The parent side (server_ctl.c) spawns it, talks to it as
 * a client and, after it exits, checks its SQLite database against what
 * the clients were told.
 *
 * Wire format, native byte order (loopback only): a request is 16 bytes
 * {u64 id, u32 work_us, u32 zero}; a reply is 16 bytes {u64 id, u32
 * status, u32 zero}.  One request at a time per connection.
 *
 * Report: the server writes "port=N\n" on its report descriptor once it
 * listens, and one "key=value ..." line at a clean exit.
 */
#ifndef CONTEND_SERVER_H
#define CONTEND_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum server_status {
	SRV_ACK = 1,		/* done and committed to the database */
	SRV_REFUSED = 2,	/* shutting down: not admitted, not recorded */
	SRV_SHED = 3,		/* over the rate or the queue: not recorded */
	SRV_CANCELLED = 4,	/* deadline or shutdown cut it: not recorded */
	SRV_FAILED = 5,		/* the database refused it: not recorded */
};

struct server_req {
	uint64_t id;
	uint32_t work_us;
	uint32_t zero;
};

struct server_rep {
	uint64_t id;
	uint32_t status;	/* enum server_status */
	uint32_t zero;
};

/* `contend serve KEY=VALUE...`: the server process; returns the exit code. */
int server_main(int argc, char **argv);

/* ---- the parent's side (server_ctl.c) ---- */

struct server_opts {
	const char *drain;	/* drain implementation name */
	bool naive;		/* no drain, no shutdown logic */
	unsigned grace_ms;	/* phase 2's deadline */
	unsigned slots;		/* semaphore permits: requests worked at once */
	unsigned queue;		/* work queue capacity */
	unsigned workers;	/* worker threads */
	unsigned conns;		/* most connections served at once */
	double rate;		/* admissions/s, 0 = unlimited */
	unsigned deadline_ms;	/* each request's context deadline */
};

/* What the server said at exit, plus what the parent saw. */
struct server_report {
	bool clean;		/* it wrote its report and exited 0 */
	bool hang;		/* it did not exit in time: killed */
	int status;		/* waitpid status */
	uint64_t term_ns;	/* SIGTERM sent (CLOCK_MONOTONIC) */
	uint64_t drain_ns;	/* SIGTERM to exit, as the parent saw it */
	uint64_t stop_ns;	/* the drain was closed (server's clock) */
	uint64_t phase_ns[6];	/* accept grace cancel workers flush close */
	uint64_t acked, refused, shed, cancelled, failed;
	uint64_t force_cancelled, admitted_after_stop, left_after_cancel;
};

extern const char *const server_phase_names[6];

struct server_proc {
	pid_t pid;
	int report_fd;		/* read end of the report pipe */
	uint16_t port;
	uint64_t term_ns;	/* SIGTERM sent, 0 before */
	uint64_t exit_ns;	/* its report pipe reached EOF, 0 before */
	char dir[256];		/* temporary folder holding the database */
	char db[288];
	char buf[1024];		/* what the report pipe said so far */
	size_t len;
};

/* Spawn `/proc/self/exe serve ...` and wait (bounded) for its port. */
int server_spawn(struct server_proc *p, const struct server_opts *o,
		 char *err, size_t errlen);
/* Send SIGTERM once; remembers when. */
void server_term(struct server_proc *p);
/* Without blocking: has the server exited (its report pipe closed)? */
bool server_exited(struct server_proc *p);
/* Wait up to bound_ns for exit (SIGKILL after it: a hang), read its report. */
void server_reap(struct server_proc *p, uint64_t bound_ns,
		 struct server_report *r);
/* Remove the database and its folder. */
void server_cleanup(struct server_proc *p);

enum client_outcome {
	OUT_ACK, OUT_REFUSED, OUT_SHED, OUT_CANCELLED, OUT_FAILED,
	OUT_DROPPED,	/* EOF or reset with the request outstanding */
	OUT_HANG,	/* no reply within the bound */
	OUT_BAD,	/* a reply that is not for this request */
	OUT_N,
};

extern const char *const client_outcome_names[OUT_N];

/* Connect to 127.0.0.1:port; the fd or -errno. */
int client_connect(uint16_t port);
/* One request, waiting at most timeout_ns for its reply. */
enum client_outcome client_call(int fd, uint64_t id, uint32_t work_us,
				uint64_t timeout_ns);

struct server_verdict {
	uint64_t in_db;
	uint64_t lost;			/* acked, not in the database */
	uint64_t recorded_unacked;	/* in the database, never acked */
	uint64_t admitted_late;		/* rows admitted after stop_ns */
};

/* Check the database against the acked ids (sorted in place); 0 or errno. */
int server_verify(const char *db, uint64_t *acked, size_t n, uint64_t stop_ns,
		  struct server_verdict *v, char *err, size_t errlen);

#endif
