#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Ctrl-C during `make bench`, as a terminal sends it: SIGINT to the whole
# foreground process group (make, contend, gnuplot), once while the
# micro-benchmarks run and once between workload trials.  Either way make
# must fail, the run folder must say "interrupted", every trial that was
# reported done must be a complete CSV row, and no partial file may be
# left.  The `smoke` suite keeps each run to seconds; OUT= keeps
# results/latest untouched.
#
#	CONTEND=/abs/path/build/contend [SANITIZE=thread] tests/bench_test.sh

. "$(dirname "$0")/tap.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v perl >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1 ||
	[ ! -f "$root/Makefile" ]; then
	echo "1..0 # SKIP needs perl, make and the source tree"
	exit 0
fi

# interrupt OUT CONDITION...: start `make bench SUITE=smoke OUT=OUT` in a
# process group of its own, wait (at most 60 s) until CONDITION holds,
# then SIGINT the group.  Sets $rc to make's exit status.
interrupt() {
	run=$1
	shift
	# A script's background job starts with SIGINT ignored (and make keeps
	# ignoring what it inherits ignored), so perl puts it back to the
	# default and makes make the leader of a process group of its own,
	# as a terminal's foreground job is.  The make running this test (if
	# any) must not lend it its flags or job server.
	perl -MPOSIX -e 'POSIX::setsid(); $SIG{INT} = "DEFAULT";
		delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL)}; exec @ARGV' \
		make -s -C "$root" bench SUITE=smoke OUT="$run" \
		SANITIZE="${SANITIZE:-}" >"$tmp/stdout" 2>"$tmp/stderr" &
	pid=$!
	tries=0
	until "$@" || [ "$tries" -ge 600 ] || ! kill -0 "$pid" 2>/dev/null; do
		sleep 0.1
		tries=$((tries + 1))
	done
	perl -e 'kill "INT", -$ARGV[0]' "$pid"
	wait "$pid"
	rc=$?
}

# Trial lines contend printed ("... rep N ... ops/s"), against CSV rows.
trials_printed() {
	grep -c " rep [0-9].*ops/s" "$tmp/stdout"
}
csv_rows() {
	total=0
	for f in "$1"/sema_closed.csv "$1"/chan_pipeline.csv; do
		[ -f "$f" ] && total=$((total + $(wc -l <"$f") - 1))
	done
	echo "$total"
}
every_csv_complete() {
	for f in "$1"/*.csv; do
		[ -f "$f" ] || continue
		rows_complete "$f" || return 1
	done
}
no_charts() {
	[ -z "$(find "$1" -name '*.png' ! -name topology.png)" ] &&
		[ ! -e "$1/report.md" ]
}

# --------------------------------------------- between workload trials

run=$tmp/trials
has_rows() {
	[ "$(wc -l 2>/dev/null <"$run/sema_closed.csv" || echo 0)" -ge 3 ]
}
interrupt "$run" has_rows
check "trials: make bench fails (status $rc)" [ "$rc" -ne 0 ]
check "trials: meta says status: interrupted" \
	grep -qx 'status: interrupted' "$run/meta" || note "$tmp/stderr"
check "trials: micro.csv, finished before the workloads, kept whole" \
	rows_complete "$run/micro.csv"
check "trials: every CSV has a header and complete rows" every_csv_complete "$run"
printed=$(trials_printed)
rows=$(csv_rows "$run")
check "trials: every trial reported done is a row ($printed printed, $rows rows)" \
	[ "$printed" -ge 2 ] && [ "$printed" -eq "$rows" ]
check "trials: no file name containing .tmp left" no_tmp_files "$run"
check "trials: no charts or report drawn from a partial run" no_charts "$run"

# ---------------------------------------------------- during the micro stage

run=$tmp/micro
in_micro() {
	grep -q '^== micro-benchmarks' "$tmp/stderr" 2>/dev/null
}
interrupt "$run" in_micro
check "micro: make bench fails (status $rc)" [ "$rc" -ne 0 ]
check "micro: meta says status: interrupted" \
	grep -qx 'status: interrupted' "$run/meta" || note "$tmp/stderr"
check "micro: no workload ran after the interrupt" \
	[ ! -e "$run/sema_closed.csv" ] && [ ! -e "$run/chan_pipeline.csv" ]
check "micro: micro.csv absent or whole" \
	eval '[ ! -e "$run/micro.csv" ] || rows_complete "$run/micro.csv"'
check "micro: no file name containing .tmp left" no_tmp_files "$run"
check "micro: no charts or report drawn from a partial run" no_charts "$run"

tap_done
