/* SPDX-License-Identifier: MIT */
/*
 * drain/server, shut down at randomized moments.
 *
 * Each moment spawns the server (this binary, `server_test serve ...`),
 * puts a closed-loop client load on it, sends SIGTERM after a random
 * delay and audits the result: the server exits cleanly, every client is
 * refused cleanly, no acked request is missing from the database and no
 * row lacks its ack, nothing was admitted after the drain closed, no
 * client saw a drop or a hang.  The drain implementation and the small
 * parameters are drawn at random from the registry's real implementations;
 * the seed is printed (SERVER_TEST_SEED=N repeats a run).
 *
 * Then the negative controls: mode=naive must show in-flight work dropped,
 * and drain/busted (when registered) must be caught admitting after stop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "drain.h"
#include "registry.h"
#include "server.h"
#include "tap.h"

#define MS 1000000ull
#define HANG_NS (5000 * MS)
#define MAX_CLIENTS 6

#if defined(__SANITIZE_THREAD__)
#define MOMENTS 30	/* a TSan process starts and stops ~5x slower (64 s for 50) */
#else
#define MOMENTS 50
#endif

struct session {
	struct server_opts o;
	unsigned clients;
	uint32_t work_us;
	uint64_t kill_after_ns;
	/* results */
	struct server_proc proc;
	struct server_report rep;
	struct server_verdict v;
	uint64_t out[OUT_N];
	bool spawned, verified;
	char err[256];
};

struct client {
	struct session *s;
	unsigned idx;
	int fd;
	pthread_t tid;
	pthread_barrier_t *go;
	atomic_bool *stop;
	uint64_t *ids;
	size_t n, cap;
	uint64_t out[OUT_N];
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	uint64_t seq = 0;

	pthread_barrier_wait(c->go);
	while (!atomic_load(c->stop)) {
		uint64_t id = ((uint64_t)(c->idx + 1) << 40) | seq++;
		enum client_outcome out = client_call(c->fd, id, c->s->work_us, HANG_NS);

		c->out[out]++;
		if (out == OUT_ACK) {
			if (c->n == c->cap) {
				size_t cap = c->cap ? 2 * c->cap : 1024;
				uint64_t *ids = realloc(c->ids, cap * sizeof(*ids));

				if (!ids)
					tap_bail("out of memory");
				c->ids = ids;
				c->cap = cap;
			}
			c->ids[c->n++] = id;
		} else if (out != OUT_SHED && out != OUT_CANCELLED) {
			break;	/* refused (the server is going), or worse */
		}
	}
	close(c->fd);
	return NULL;
}

static void nap_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	nanosleep(&ts, NULL);
}

/* One moment: spawn, load, SIGTERM after kill_after_ns, reap, verify. */
static void session_run(struct session *s)
{
	struct client cl[MAX_CLIENTS] = { 0 };
	pthread_barrier_t go;
	atomic_bool stop = false;
	uint64_t *all, n = 0;

	s->o.conns = s->clients;
	if (server_spawn(&s->proc, &s->o, s->err, sizeof(s->err)))
		return;
	s->spawned = true;
	pthread_barrier_init(&go, NULL, s->clients + 1);
	for (unsigned i = 0; i < s->clients; i++) {
		cl[i] = (struct client){ .s = s, .idx = i, .go = &go, .stop = &stop };
		cl[i].fd = client_connect(s->proc.port);
		if (cl[i].fd < 0)
			tap_bail("cannot connect to the server: %s", strerror(-cl[i].fd));
		pthread_create(&cl[i].tid, NULL, client_main, &cl[i]);
	}
	pthread_barrier_wait(&go);
	nap_ns(s->kill_after_ns);
	server_term(&s->proc);
	server_reap(&s->proc, s->o.grace_ms * MS + 6000 * MS, &s->rep);
	atomic_store(&stop, true);	/* naive mode: nobody refuses them */
	for (unsigned i = 0; i < s->clients; i++) {
		pthread_join(cl[i].tid, NULL);
		n += cl[i].n;
		for (int k = 0; k < OUT_N; k++)
			s->out[k] += cl[i].out[k];
	}
	pthread_barrier_destroy(&go);
	all = malloc((n ? n : 1) * sizeof(*all));
	if (!all)
		tap_bail("out of memory");
	n = 0;
	for (unsigned i = 0; i < s->clients; i++) {
		memcpy(all + n, cl[i].ids, cl[i].n * sizeof(*all));
		n += cl[i].n;
		free(cl[i].ids);
	}
	s->verified = !server_verify(s->proc.db, all, n, s->o.naive ? 0 : s->rep.stop_ns,
				     &s->v, s->err, sizeof(s->err));
	free(all);
	server_cleanup(&s->proc);
}

static void describe(const struct session *s)
{
	printf("#   drain=%s clients=%u slots=%u queue=%u workers=%u work_us=%u rate=%g grace_ms=%u kill_after=%.1fms\n",
	       s->o.drain, s->clients, s->o.slots, s->o.queue, s->o.workers,
	       s->work_us, s->o.rate, s->o.grace_ms, (double)s->kill_after_ns / 1e6);
	printf("#   spawned=%d clean=%d hang=%d status=%#x err='%s'\n",
	       s->spawned, s->rep.clean, s->rep.hang, s->rep.status,
	       s->verified ? "" : s->err);
	printf("#   client: acked=%llu refused=%llu shed=%llu cancelled=%llu failed=%llu dropped=%llu hang=%llu bad=%llu\n",
	       (unsigned long long)s->out[OUT_ACK], (unsigned long long)s->out[OUT_REFUSED],
	       (unsigned long long)s->out[OUT_SHED], (unsigned long long)s->out[OUT_CANCELLED],
	       (unsigned long long)s->out[OUT_FAILED], (unsigned long long)s->out[OUT_DROPPED],
	       (unsigned long long)s->out[OUT_HANG], (unsigned long long)s->out[OUT_BAD]);
	printf("#   db: rows=%llu lost=%llu recorded_unacked=%llu admitted_late=%llu; server: acked=%llu admitted_after_stop=%llu force_cancelled=%llu\n",
	       (unsigned long long)s->v.in_db, (unsigned long long)s->v.lost,
	       (unsigned long long)s->v.recorded_unacked, (unsigned long long)s->v.admitted_late,
	       (unsigned long long)s->rep.acked, (unsigned long long)s->rep.admitted_after_stop,
	       (unsigned long long)s->rep.force_cancelled);
}

/* Everything an ordered shutdown promises, for one moment. */
static bool ordered_ok(const struct session *s)
{
	return s->spawned && s->verified && s->rep.clean && !s->rep.hang &&
	       s->v.lost == 0 && s->v.recorded_unacked == 0 &&
	       s->v.admitted_late == 0 && s->rep.admitted_after_stop == 0 &&
	       s->out[OUT_DROPPED] == 0 && s->out[OUT_HANG] == 0 &&
	       s->out[OUT_BAD] == 0 && s->out[OUT_FAILED] == 0 &&
	       s->out[OUT_REFUSED] == s->clients &&	/* each told, cleanly */
	       s->v.in_db == s->out[OUT_ACK] && s->rep.acked == s->out[OUT_ACK];
}

static uint64_t rng;

static unsigned rnd(unsigned lo, unsigned hi)	/* [lo, hi] */
{
	return lo + (unsigned)(xorshift64(&rng) % (hi - lo + 1));
}

static void random_session(struct session *s, const char *drain)
{
	static const unsigned graces[] = { 0, 1, 3, 500, 500, 500 };

	memset(s, 0, sizeof(*s));
	s->o.drain = drain;
	s->clients = rnd(1, MAX_CLIENTS);
	s->o.slots = rnd(1, 4);
	s->o.queue = rnd(1, 16);
	s->o.workers = rnd(1, 4);
	s->o.rate = rnd(0, 3) ? 0 : 2000;
	s->o.grace_ms = graces[rnd(0, 5)];	/* tiny ones force cancellation */
	s->o.deadline_ms = rnd(0, 4) ? 1000 : 5;	/* some requests time out */
	s->work_us = rnd(0, 3) ? rnd(0, 2000) : 0;
	s->kill_after_ns = rnd(0, 250) * MS + rnd(0, 999) * 1000;
}

static void test_moments(void)
{
	const struct family *f = family_find("drain");
	const char *names[16];
	unsigned nnames, passed = 0, forced = 0;
	uint64_t acked = 0, refused = 0, shed = 0, cancelled = 0;
	uint64_t t0 = mono_ns();

	nnames = family_choices("drain", names, 16, NULL, NULL, NULL);
	if (!f || !nnames)
		tap_bail("no drain implementations registered");
	for (unsigned m = 0; m < MOMENTS; m++) {
		struct session s;
		bool ok;

		random_session(&s, names[rnd(0, nnames - 1)]);
		session_run(&s);
		ok = ordered_ok(&s);
		passed += ok;
		forced += s.rep.force_cancelled > 0;
		acked += s.out[OUT_ACK];
		refused += s.out[OUT_REFUSED];
		shed += s.out[OUT_SHED];
		cancelled += s.out[OUT_CANCELLED];
		if (!check(ok, "moment %u (drain/%s, SIGTERM after %.1f ms): nothing lost, refused cleanly, no hang, no drop, nothing admitted after stop",
			   m + 1, s.o.drain, (double)s.kill_after_ns / 1e6))
			describe(&s);
	}
	tap_note("%u/%u moments clean in %.1f s; acked %llu, refused %llu, shed %llu, cancelled %llu; force-cancelled work in %u moments",
		 passed, MOMENTS, (double)(mono_ns() - t0) / 1e9,
		 (unsigned long long)acked, (unsigned long long)refused,
		 (unsigned long long)shed, (unsigned long long)cancelled, forced);
}

static void test_naive(void)
{
	enum { RUNS = 6 };
	unsigned with_drops = 0, lost = 0, killed = 0, unacked = 0;

	for (unsigned r = 0; r < RUNS; r++) {
		struct session s = {
			.o = { .drain = "mutex", .naive = true, .grace_ms = 500,
			       .slots = 2, .queue = 16, .workers = 2,
			       .deadline_ms = 1000 },
			.clients = 4,
			.work_us = 1000,
			.kill_after_ns = rnd(30, 120) * MS,
		};

		session_run(&s);
		with_drops += s.out[OUT_DROPPED] > 0;
		lost += s.verified ? (unsigned)s.v.lost : 1;
		unacked += (unsigned)s.v.recorded_unacked;
		killed += WIFSIGNALED(s.rep.status) &&
			  WTERMSIG(s.rep.status) == SIGTERM && !s.rep.clean;
	}
	tap_note("naive: %u of %u runs dropped in-flight requests, %u rows recorded but never acked",
		 with_drops, RUNS, unacked);
	check_uint(killed, ==, RUNS, "naive: SIGTERM kills the server where it stands");
	check_uint(with_drops, >=, 1, "naive: shutdown drops in-flight requests (clients see errors)");
	check_uint(lost, ==, 0, "naive: still no acked request missing (commit before reply)");
}

static void test_busted(void)
{
	enum { RUNS = 8 };
	const struct family *f = family_find("drain");
	const struct impl_info *busted = f ? family_impl(f, "busted") : NULL;
	unsigned caught = 0, r;

	if (!busted) {
		tap_skip("drain/busted: not registered in this tree");
		return;
	}
	for (r = 0; r < RUNS && !caught; r++) {
		struct session s = {
			.o = { .drain = "busted", .grace_ms = 100, .slots = 2,
			       .queue = 16, .workers = 2, .deadline_ms = 1000 },
			.clients = 4,
			.work_us = 200,
			.kill_after_ns = rnd(20, 100) * MS,
		};

		session_run(&s);
		caught += s.rep.admitted_after_stop > 0 || s.v.admitted_late > 0;
	}
	check_uint(caught, >=, 1, "drain/busted: the server's checks see admission after stop (%u runs)", r);
}

int main(int argc, char **argv)
{
	const char *seed = getenv("SERVER_TEST_SEED");

	if (argc > 1 && !strcmp(argv[1], "serve"))
		return server_main(argc - 1, argv + 1);
	clock_init();
	rng = seed && *seed ? strtoull(seed, NULL, 10) : (uint64_t)mono_ns() ^ (uint64_t)getpid();
	if (!rng)
		rng = 1;
	tap_note("seed %llu (SERVER_TEST_SEED=%llu repeats it)",
		 (unsigned long long)rng, (unsigned long long)rng);
	test_moments();
	test_naive();
	test_busted();
	return tap_done();
}
