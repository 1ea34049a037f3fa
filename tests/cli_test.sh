#!/bin/sh
# SPDX-License-Identifier: MIT
#
# contend's command line, end to end.  Bad input must exit 2 with exactly
# one "contend: " line on stderr and write nothing; the basic commands must
# work; a tiny run must leave a complete run folder; Ctrl-C must keep the
# trials already done.  No absolute times are asserted.
#
#	CONTEND=/abs/path/build/contend tests/cli_test.sh

. "$(dirname "$0")/tap.sh"

# The working folder lives in $tmp too.
mkdir "$tmp/cwd" || exit 1
cd "$tmp/cwd" || exit 1

# one_contend_line FILE: FILE is exactly one line starting with "contend: ".
one_contend_line() {
	[ "$(wc -l <"$1")" -eq 1 ] &&
		[ "$(awk 'END { print NR }' "$1")" -eq 1 ] &&
		head -n 1 "$1" | grep -q '^contend: '
}

# bad DESC ARGS...: contend ARGS is refused as bad input: exit status 2,
# exactly one "contend: " line on stderr, nothing on stdout, and no file
# or folder made at $tmp/out, under $CONTEND_RESULTS or in the working
# folder.  Leaves stderr in $tmp/stderr for further checks.
bad() {
	desc=$1
	shift
	"$CONTEND" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
	rc=$?
	why=
	[ "$rc" -eq 2 ] || why="$why exit status $rc, want 2;"
	one_contend_line "$tmp/stderr" ||
		why="$why stderr is not one 'contend: ' line;"
	[ -s "$tmp/stdout" ] && why="$why wrote to stdout;"
	[ -e "$tmp/out" ] && why="$why created \$tmp/out;"
	[ -e "$tmp/results" ] && why="$why created \$CONTEND_RESULTS;"
	[ -n "$(ls -A "$tmp/cwd")" ] && why="$why wrote into the working folder;"
	if [ -z "$why" ]; then
		pass "bad input refused: $desc"
	else
		fail "bad input refused: $desc"
		echo "#   contend $*"
		echo "#  $why"
		note "$tmp/stderr"
	fi
	rm -rf "$tmp/out" "$tmp/results"
	cd "$tmp" && rm -rf cwd && mkdir cwd && cd cwd || exit 1
}

# col FILE NAME: the values of CSV column NAME, one line per row; fails
# when there is no such column.  No cell holds a comma or a newline.
col() {
	awk -F, -v name="$2" '
		NR == 1 {
			for (i = 1; i <= NF; i++)
				if ($i == name)
					c = i
			if (!c)
				exit 1
			next
		}
		{ print $c }' "$1"
}

out=$tmp/out

# ---------------------------------------------------------------- bad input

bad "unknown command" frobnicate
bad "run without a workload" run
bad "unknown workload" run sema/nope --out "$out"
check "unknown workload: message lists sema/closed" \
	grep -q 'sema/closed' "$tmp/stderr"
bad "unknown implementation" run sema/closed --impl nope --out "$out"
check "unknown implementation: message lists futex" \
	grep -q 'futex' "$tmp/stderr"

bad "--reps abc" run sema/closed --reps abc --out "$out"
bad "--reps 0" run sema/closed --reps 0 --out "$out"
bad "--param permits=abc" run sema/closed --param permits=abc --out "$out"
bad "--param permits=0" run sema/closed --param permits=0 --out "$out"
bad "--param hold_ns=-5" run sema/closed --param hold_ns=-5 --out "$out"
bad "--param nope=1" run sema/closed --param nope=1 --out "$out"
bad "--param permits (no value)" run sema/closed --param permits --out "$out"

bad "--duration 0s" run sema/closed --duration 0s --out "$out"
bad "--duration -1s" run sema/closed --duration -1s --out "$out"
bad "--duration abc" run sema/closed --duration abc --out "$out"
bad "--duration 5parsecs" run sema/closed --duration 5parsecs --out "$out"
bad "--warmup 0" run sema/closed --warmup 0 --out "$out"

bad "--threads 0" run sema/closed --threads 0 --out "$out"
bad "--threads 16385" run sema/closed --threads 16385 --out "$out"
bad "--threads abc" run sema/closed --threads abc --out "$out"
bad "--threads ''" run sema/closed --threads '' --out "$out"
bad "--placement sideways" run sema/closed --placement sideways --out "$out"

bad "topo --topology of a missing file" \
	topo --topology /nonexistent/file.xml
bad "topo --topology 'package:x'" topo --topology 'package:x'

bad "stress of an unknown family" stress nope
bad "stress --impl nope" stress sema --impl nope
bad "stress --threads 0" stress sema --threads 0

bad "every trial skipped (weight=2 on posix)" \
	run sema/closed --param weight=2 --impl posix --out "$out"

bad "chan/pipeline: no thread count fits (threads=1)" \
	run chan/pipeline --threads 1 --out "$out"
bad "chan/pipeline: producers + consumers != threads" \
	run chan/pipeline --threads 3 --param producers=1 --param consumers=1 --out "$out"
bad "chan/pipeline: producers=0.5" \
	run chan/pipeline --param producers=0.5 --out "$out"
bad "backpressure/overload: load=0" \
	run backpressure/overload --param load=0 --out "$out"
bad "backpressure/overload: strategy=drop" \
	run backpressure/overload --param strategy=drop --out "$out"
check "strategy=drop: message lists every strategy" \
	grep -q 'block queue shed' "$tmp/stderr"
bad "backpressure/overload: threads=1 (no consumer)" \
	run backpressure/overload --threads 1 --out "$out"
bad "rate/accuracy: rate=0" run rate/accuracy --param rate=0 --out "$out"
bad "rate/accuracy: mode=burst" run rate/accuracy --param mode=burst --out "$out"
bad "rate/contention: burst=0" run rate/contention --param burst=0 --out "$out"
bad "rate/shaping: threads=2 (one source)" run rate/shaping --threads 2 --out "$out"

# --out naming a folder that exists and holds a file.
mkdir "$tmp/full"
echo keep >"$tmp/full/file"
"$CONTEND" run sema/closed --impl futex --threads 1 --duration 20ms \
	--warmup 10ms --reps 1 --out "$tmp/full" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "--out non-empty folder: exit status 2" [ "$rc" -eq 2 ]
check "--out non-empty folder: one 'contend: ' line on stderr" \
	one_contend_line "$tmp/stderr"
check "--out non-empty folder: its file untouched and nothing added" \
	[ "$(ls -A "$tmp/full")/$(cat "$tmp/full/file")" = file/keep ]
check "--out non-empty folder: no results root made" [ ! -e "$tmp/results" ]

# ----------------------------------------------------------- basic commands

"$CONTEND" list >"$tmp/list" 2>"$tmp/stderr"
check "list exits 0" [ $? -eq 0 ]
for w in sema/mutex sema/futex sema/spin sema/posix sema/closed sema/open; do
	check "list shows $w" grep -Eq "^ *$w( |\$)" "$tmp/list"
done
check "list marks sema/mutex FIFO" \
	grep -Eq '^ *sema/mutex +FIFO ' "$tmp/list"
for i in futex spin posix; do
	check "list marks sema/$i barging" \
		grep -Eq "^ *sema/$i +barging " "$tmp/list"
done

"$CONTEND" topo >"$tmp/topo" 2>"$tmp/stderr"
check "topo exits 0" [ $? -eq 0 ]
check "topo shows where thread 0 goes" grep -q 'thread 0 ' "$tmp/topo"

"$CONTEND" topo --topology 'package:2 numa:2 core:4 pu:2' \
	--placement scatter --threads 4 >"$tmp/topo" 2>"$tmp/stderr"
check "topo of a synthetic topology exits 0" [ $? -eq 0 ]
check "topo synthetic scatter: 4 thread lines" \
	[ "$(grep -Ec '^ *thread [0-9]+ +->' "$tmp/topo")" -eq 4 ]
# scatter spreads over the packages first: threads 0 and 1 on different ones
pkgs=$(awk '/^ *thread [01] +->/ { print $NF }' "$tmp/topo" | sort -u | wc -l)
check "topo synthetic scatter: threads 0 and 1 on different packages" \
	[ "$pkgs" -eq 2 ]

"$CONTEND" run --help >"$tmp/stdout" 2>"$tmp/stderr"
check "run --help exits 0" [ $? -eq 0 ]
check "run --help prints a usage" grep -q 'usage' "$tmp/stdout"
"$CONTEND" stress --help >"$tmp/stdout" 2>"$tmp/stderr"
check "stress --help exits 0" [ $? -eq 0 ]
check "stress --help prints a usage" grep -q 'usage' "$tmp/stdout"
check "no command above made a results root" [ ! -e "$tmp/results" ]
check "no command above wrote into the working folder" \
	[ -z "$(ls -A "$tmp/cwd")" ]

# ------------------------------------------------------------ a tiny run

run1=$tmp/run1
"$CONTEND" run sema/closed --impl futex,mutex --threads 1,2 --duration 50ms \
	--warmup 20ms --reps 2 --out "$run1" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "tiny run exits 0" [ "$rc" -eq 0 ] || note "$tmp/stderr"
csv=$run1/sema_closed.csv
check "tiny run: meta written" [ -f "$run1/meta" ]
check "tiny run: sema_closed.csv written" [ -f "$csv" ]
missing=
for c in run_id impl threads placement oversubscribed rep throughput_ops_s \
	lat_p99_ns jain handoff_rate violations; do
	col "$csv" "$c" >/dev/null 2>&1 || missing="$missing $c"
done
check "tiny run: CSV header has every expected column" [ -z "$missing" ] ||
	echo "#   missing:$missing"
lines=$(wc -l 2>/dev/null <"$csv" || echo 0)
check "tiny run: CSV has 1 + 2 impls x 2 threads x 2 reps = 9 lines" \
	[ "$lines" -eq 9 ] || echo "#   got $lines lines"
check "tiny run: every row has as many fields as the header" \
	rows_complete "$csv"
col "$csv" impl >"$tmp/impl" 2>/dev/null
col "$csv" threads >"$tmp/thr" 2>/dev/null
pairs=$(paste -d' ' "$tmp/impl" "$tmp/thr" | sort | uniq -c |
	awk '{ printf "%s/%s:%s ", $2, $3, $1 }')
check "tiny run: each implementation and thread count ran twice" \
	[ "$pairs" = "futex/1:2 futex/2:2 mutex/1:2 mutex/2:2 " ] ||
	echo "#   got: $pairs"
check "tiny run: no violations" \
	[ -z "$(col "$csv" violations | grep -vx 0)" ]
check "tiny run: no file name containing .tmp left" no_tmp_files "$run1"
check "tiny run: meta says status: complete" \
	grep -qx 'status: complete' "$run1/meta"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	{ printf "# tiny run: %s threads=%s rep %s: %s ops/s\n",
		$c["impl"], $c["threads"], $c["rep"], $c["throughput_ops_s"] }' \
	"$csv" 2>/dev/null

# --no-latency leaves the latency columns empty.
"$CONTEND" run sema/closed --impl futex --threads 1 --duration 20ms \
	--warmup 10ms --reps 2 --no-latency --out "$tmp/nolat" \
	>"$tmp/stdout" 2>"$tmp/stderr"
check "--no-latency run exits 0" [ $? -eq 0 ]
csv=$tmp/nolat/sema_closed.csv
rows=$(col "$csv" lat_p99_ns 2>/dev/null | wc -l)
filled=$(col "$csv" lat_p99_ns 2>/dev/null | grep -c .)
check "--no-latency: CSV has 2 rows" [ "$rows" -eq 2 ]
check "--no-latency: lat_p99_ns is empty in every row" [ "$filled" -eq 0 ]

# More threads than PUs runs, labelled oversubscribed.
pus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
if [ 3 -gt "$pus" ]; then want=1; else want=0; fi
"$CONTEND" run sema/closed --impl futex --threads 3 --duration 20ms \
	--warmup 10ms --reps 1 --out "$tmp/over" >"$tmp/stdout" 2>"$tmp/stderr"
check "--threads 3 run exits 0" [ $? -eq 0 ]
got=$(col "$tmp/over/sema_closed.csv" oversubscribed 2>/dev/null | sort -u |
	tr '\n' ' ')
check "--threads 3 on $pus PUs: oversubscribed is $want" [ "$got" = "$want " ] ||
	echo "#   got: $got"

# ------------------------------------------------------- the chan workloads

pipe=$tmp/pipe
"$CONTEND" run chan/pipeline --impl mutex --threads 2 --duration 50ms \
	--warmup 20ms --reps 1 --out "$pipe" >"$tmp/stdout" 2>"$tmp/stderr"
check "chan/pipeline 1p1c run exits 0" [ $? -eq 0 ] || note "$tmp/stderr"
csv=$pipe/chan_pipeline.csv
check "chan/pipeline: threads 2 is 1 producer and 1 consumer" \
	[ "$(col "$csv" threads_p)/$(col "$csv" threads_c)" = 1/1 ]
check "chan/pipeline: items moved, none lost, none left, no violation" \
	[ "$(col "$csv" ops)" -gt 0 ] &&
	[ "$(col "$csv" missing)/$(col "$csv" left)/$(col "$csv" violations)" = 0/0/0 ]

over=$tmp/overload
"$CONTEND" run backpressure/overload --impl mutex --threads 2 --param load=4 \
	--param strategy=block,shed --duration 100ms --warmup 20ms --reps 1 \
	--out "$over" >"$tmp/stdout" 2>"$tmp/stderr"
check "backpressure/overload run exits 0" [ $? -eq 0 ] || note "$tmp/stderr"
csv=$over/backpressure_overload.csv
col "$csv" strategy >"$tmp/strategy" 2>/dev/null
col "$csv" shed_rate >"$tmp/shed_rate" 2>/dev/null
rates=$(paste -d= "$tmp/strategy" "$tmp/shed_rate" | sort | tr '\n' ' ')
echo "# backpressure/overload at 4x capacity: $rates"
# block never rejects; shed, offered 4x what it can serve, rejects plenty.
shed_rates_ok() {
	paste -d= "$tmp/strategy" "$tmp/shed_rate" | awk -F= '
		$1 == "block" && $2 != 0 { bad = 1 }
		$1 == "shed" { seen = 1; if ($2 < 0.2) bad = 1 }
		END { exit bad || !seen }'
}
check "backpressure/overload at 4x: block sheds nothing, shed sheds" shed_rates_ok
check "backpressure/overload: no violations (exactly-once, every permit back)" \
	[ -z "$(col "$csv" violations | grep -vx 0)" ]

# ------------------------------------------------------- the rate workloads

racc=$tmp/racc
"$CONTEND" run rate/accuracy --impl tb-mutex --threads 2 --param rate=100k \
	--param mode=allow,wait --duration 100ms --warmup 20ms --reps 1 \
	--out "$racc" >"$tmp/stdout" 2>"$tmp/stderr"
check "rate/accuracy run exits 0" [ $? -eq 0 ] || note "$tmp/stderr"
csv=$racc/rate_accuracy.csv
echo "# rate/accuracy admitted_over_bound: $(col "$csv" admitted_over_bound | tr '\n' ' ')"
check "rate/accuracy: admitted, and admitted_over_bound <= 1, window within bound" \
	awk -v a="$(col "$csv" admitted_over_bound | sort -g | tail -1)" \
	    -v w="$(col "$csv" window_over_bound | sort -g | tail -1)" \
	    -v n="$(col "$csv" admitted | sort -g | head -1)" \
	    'BEGIN { exit !(n > 0 && a > 0 && a <= 1 && w <= 1) }'
check "rate/accuracy: no violations, nothing early" \
	[ -z "$(col "$csv" violations | grep -vx 0)$(col "$csv" early | grep -vx 0)" ]

rcon=$tmp/rcon
"$CONTEND" run rate/contention --impl tb-mutex --threads 2 --param rate=1e12,1000 \
	--duration 100ms --warmup 20ms --reps 1 --out "$rcon" >"$tmp/stdout" 2>"$tmp/stderr"
check "rate/contention run exits 0" [ $? -eq 0 ] || note "$tmp/stderr"
csv=$rcon/rate_contention.csv
col "$csv" rate >"$tmp/rate" 2>/dev/null
col "$csv" shed_rate >"$tmp/shed_rate" 2>/dev/null
# Far above the offered load nothing is shed; at 1000/s nearly everything.
check "rate/contention: 1e12 sheds nothing, 1000/s sheds > 90%" \
	sh -c "paste -d= '$tmp/rate' '$tmp/shed_rate' | awk -F= '
		\$1 > 1e9 && \$2 != 0 { bad = 1 }
		\$1 == 1000 { seen = 1; if (\$2 < 0.9) bad = 1 }
		END { exit bad || !seen }'"

rsh=$tmp/rsh
"$CONTEND" run rate/shaping --impl tb-mutex --threads 1 --duration 100ms \
	--warmup 20ms --reps 1 --out "$rsh" >"$tmp/stdout" 2>"$tmp/stderr"
check "rate/shaping run exits 0" [ $? -eq 0 ] || note "$tmp/stderr"
csv=$rsh/rate_shaping.csv
check "rate/shaping: departures, gaps recorded" \
	[ "$(col "$csv" ops)" -gt 0 ] && [ -n "$(col "$csv" gap_p50_ns)" ]

# ------------------------------------------------------ the drain workloads

dhot=$tmp/dhot
"$CONTEND" run drain/hot --threads 1,2 --duration 50ms --warmup 20ms --reps 1 \
	--out "$dhot" >"$tmp/stdout" 2>"$tmp/stderr"
check "drain/hot run exits 0" [ $? -eq 0 ] || note "$tmp/stderr"
csv=$dhot/drain_hot.csv
check "drain/hot: pairs done in every trial" \
	[ -n "$(col "$csv" ops)" ] && [ -z "$(col "$csv" ops | grep -x 0)" ]
check "drain/hot: nothing refused while open, drained at the end (no error, no violation)" \
	[ -z "$(col "$csv" errors | grep -vx 0)$(col "$csv" violations | grep -vx 0)" ]

dq=$tmp/dq
"$CONTEND" run drain/quiesce --threads 2 --param inflight=1,16 --duration 100ms \
	--warmup 20ms --reps 1 --out "$dq" >"$tmp/stdout" 2>"$tmp/stderr"
check "drain/quiesce run exits 0" [ $? -eq 0 ] || note "$tmp/stderr"
csv=$dq/drain_quiesce.csv
echo "# drain/quiesce drain_p50_ns: $(col "$csv" drain_p50_ns | tr '\n' ' ')wake-up p50: $(col "$csv" lat_p50_ns | tr '\n' ' ')"
check "drain/quiesce: rounds, drain times and wake-ups recorded in every trial" \
	[ -n "$(col "$csv" rounds)" ] &&
	[ -z "$(col "$csv" rounds | grep -x 0)$(col "$csv" drain_p50_ns | grep -x 0)$(col "$csv" lat_samples | grep -x 0)" ]
check "drain/quiesce: no error, no violation" \
	[ -z "$(col "$csv" errors | grep -vx 0)$(col "$csv" violations | grep -vx 0)" ]
bad "drain/quiesce: threads=1 (no holder)" \
	run drain/quiesce --threads 1 --out "$out"

# ------------------------------------------------------------------ Ctrl-C

intr=$tmp/intr
"$CONTEND" run sema/closed --impl futex --threads 1 --duration 300ms \
	--warmup 10ms --reps 20 --out "$intr" >"$tmp/stdout" 2>"$tmp/stderr" &
pid=$!
sleep 1.5
# A slow (sanitized) build may not have finished a trial yet: give it time.
tries=0
while [ "$(wc -l 2>/dev/null <"$intr/sema_closed.csv" || echo 0)" -lt 2 ] &&
	[ "$tries" -lt 100 ] && kill -0 "$pid" 2>/dev/null; do
	sleep 0.2
	tries=$((tries + 1))
done
kill -INT "$pid" 2>/dev/null
wait "$pid"
rc=$?
check "Ctrl-C: exit status 130" [ "$rc" -eq 130 ] || echo "#   got $rc"
csv=$intr/sema_closed.csv
check "Ctrl-C: CSV has a header, at least one row, every row complete" \
	rows_complete "$csv"
check "Ctrl-C: meta says status: interrupted" \
	grep -qx 'status: interrupted' "$intr/meta"
check "Ctrl-C: no file name containing .tmp left" no_tmp_files "$intr"
echo "# Ctrl-C kept $(($(wc -l 2>/dev/null <"$csv" || echo 1) - 1)) of 20 trials"

tap_done
