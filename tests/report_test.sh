#!/bin/sh
# Verdicts and reports: compare on synthetic runs with known differences,
# the regression gate's exit code, --ci-target, and report generation
# (every image report.md references exists and is a real PNG or SVG).
set -u
. "$(dirname "$0")/tap.sh"

# ok STATUS DESC: a test point from an exit status.
ok() { if [ "$1" -eq 0 ]; then pass "$2"; else fail "$2"; fi; }

# A real tiny run gives the CSV header and a row to clone.
"$CONTEND" run sema/closed --impl futex,posix --threads 1 --reps 2 \
	--duration 30ms --warmup 10ms --out "$tmp/real" >/dev/null 2>&1
ok $? "a tiny real run completes"

# synth DIR FACTOR: a run folder whose futex throughput is 100000 * FACTOR
# with a small deterministic spread over 9 repetitions (posix stays 100000).
synth() {
	mkdir -p "$1"
	cp "$tmp/real/meta" "$1/meta"
	awk -F, -v OFS=, -v f="$2" '
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; print; next }
	NR == 2 {
		for (r = 1; r <= 9; r++) {
			for (k = 0; k < 2; k++) {
				$col["impl"] = k ? "futex" : "posix"
				$col["rep"] = r
				v = 100000 * (1 + (r - 5) * 0.001)
				$col["throughput_ops_s"] = k ? v * f : v
				print
			}
		}
	}' "$tmp/real/sema_closed.csv" > "$1/sema_closed.csv"
}
synth "$tmp/A" 1.0
synth "$tmp/B" 0.8
synth "$tmp/C" 1.0
synth "$tmp/D" 0.995

out=$("$CONTEND" compare "$tmp/A" "$tmp/B" 2>&1); rc=$?
ok $rc "compare A B exits 0 without a gate"
echo "$out" | grep 'futex@A vs futex@B' | grep -q ' slower$'
ok $? "a set 20% slower is flagged slower"
echo "$out" | grep 'posix@A vs posix@B' | grep -q 'no significant difference'
ok $? "an unchanged implementation is not flagged"

"$CONTEND" compare "$tmp/A" "$tmp/B" --fail-if-slower 10% >/dev/null 2>&1
ok $([ $? -eq 1 ]; echo $?) "the regression gate fails (exit 1) on a 20% slowdown"
"$CONTEND" compare "$tmp/A" "$tmp/B" --fail-if-slower 30% >/dev/null 2>&1
ok $? "the gate passes when the slowdown is below its bound"

out=$("$CONTEND" compare "$tmp/A" "$tmp/C" --fail-if-slower 1% 2>&1); rc=$?
ok $rc "identical runs pass the gate"
echo "$out" | grep -qE ' (slower|faster)$'
ok $([ $? -ne 0 ]; echo $?) "identical sets are not flagged"

out=$("$CONTEND" compare "$tmp/A" "$tmp/D" 2>&1)
echo "$out" | grep 'futex@A vs futex@B' | grep -q 'no significant difference'
ok $? "a 0.5% difference is not called significant under the default 2% threshold"
out=$("$CONTEND" compare "$tmp/A" "$tmp/D" --threshold 0.1% 2>&1)
echo "$out" | grep 'futex@A vs futex@B' | grep -q ' slower$'
ok $? "...but is, consistently, with a 0.1% threshold (9 vs 9 reps, no overlap)"

out=$("$CONTEND" compare "$tmp/A" --impl posix --vs futex --csv "$tmp/cmp.csv" 2>&1)
ok $? "compare within one run (--impl A --vs B)"
head -1 "$tmp/cmp.csv" | grep -q '^workload,config,threads,a,b,metric,n_a,n_b,median_a,median_b,ratio,ratio_ci_lo,ratio_ci_hi,p,p_holm,threshold,verdict$'
ok $? "compare writes its CSV with the documented header"

"$CONTEND" compare "$tmp/A" >/dev/null 2>&1
ok $([ $? -eq 2 ]; echo $?) "compare of one run without --impl/--vs is bad input (exit 2)"

# Report on a real run: every referenced image exists and is valid.
"$CONTEND" run sema/closed --impl futex,posix --threads 1,2 --reps 6 \
	--duration 40ms --warmup 10ms --out "$tmp/rep" >/dev/null 2>&1
"$CONTEND" report "$tmp/rep" >/dev/null 2>&1
ok $? "report on a tiny run exits 0"
[ -s "$tmp/rep/report.md" ]
ok $? "report.md is written"
bad=0 imgs=0
for img in $(sed -n 's/.*](\([^)]*\.\(png\|svg\)\)).*/\1/p' "$tmp/rep/report.md"); do
	imgs=$((imgs + 1))
	f="$tmp/rep/$img"
	case "$img" in
	*.png) head -c 8 "$f" 2>/dev/null | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a' || bad=$((bad + 1)) ;;
	*.svg) grep -q '<svg' "$f" 2>/dev/null || bad=$((bad + 1)) ;;
	esac
done
echo "# report.md references $imgs images"
ok $([ "$imgs" -ge 5 ] && [ "$bad" -eq 0 ]; echo $?) "every image report.md references exists and is a valid PNG/SVG"
for f in "$tmp"/rep/*-throughput.png; do
	svg="${f%.png}.svg"
	grep -q '<svg' "$svg"
	ok $? "$(basename "$svg") is drawn beside its PNG"
	break
done
grep -q '^## Verdicts' "$tmp/rep/report.md" && grep -q '| posix | futex |' "$tmp/rep/report.md"
ok $? "the report has verdicts of futex against the posix baseline"
grep -q '^## Noise signals' "$tmp/rep/report.md"
ok $? "the report has the noise signals"
[ -s "$tmp/rep/sema_closed.summary.csv" ] && head -1 "$tmp/rep/sema_closed.summary.csv" | grep -q 'metric,n,median,ci_lo,ci_hi,ci_coverage,cv,trust'
ok $? "the summary CSV holds median, CI, CV and trust per metric"
h=$(ls "$tmp"/rep/hist/sema_closed/*.hgrm | head -1)
head -1 "$h" | grep -q '^       Value     Percentile TotalCount 1/(1-Percentile)$' &&
	tail -1 "$h" | grep -q '^#\[Buckets = ' &&
	awk 'NF == 4 && $2 ~ /^[0-9.]+$/ { if ($2 + 0 < last) bad = 1; last = $2 + 0 } END { exit bad }' "$h"
ok $? ".hgrm has HdrHistogram's header, footer and monotone percentiles"

# A swept parameter on the x axis: backpressure/overload against load,
# a line per strategy.
"$CONTEND" run backpressure/overload --impl mutex --threads 2 \
	--param load=0.5,2 --param strategy=queue,shed --reps 1 \
	--duration 40ms --warmup 10ms --out "$tmp/over" >/dev/null 2>&1
"$CONTEND" report "$tmp/over" >/dev/null 2>&1
ok $? "report on a backpressure/overload sweep exits 0"
for k in goodput shed p99; do
	f=backpressure_overload-$k-vs-load.png
	grep -q "]($f)" "$tmp/over/report.md" 2>/dev/null &&
		head -c 8 "$tmp/over/$f" | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'
	ok $? "the report charts $k against load ($f)"
done
grep -q 'strategy=shed' "$tmp/over/chartdata/backpressure_overload-goodput-vs-load.dat"
ok $? "...with a line per strategy"
grep -q '^| mutex strategy=shed | 2 | 1 |' "$tmp/over/report.md"
ok $? "...and a table of the medians behind them"

# Threads by role: chan/pipeline's ticks read 1p1c.
"$CONTEND" run chan/pipeline --impl mutex --threads 2 --reps 1 --duration 30ms \
	--warmup 10ms --out "$tmp/pipe" >/dev/null 2>&1
"$CONTEND" report "$tmp/pipe" >/dev/null 2>&1
grep -q '| mutex | 1p1c |' "$tmp/pipe/report.md" &&
	grep -q ' 1p1c$' "$tmp/pipe/chartdata/chan_pipeline-1-throughput.dat"
ok $? "chan/pipeline's threads read as producers and consumers (1p1c)"

# The drain workloads tell their story in sweep charts: drain/hot's pairs/s
# against threads, drain/quiesce's drain time against inflight.
"$CONTEND" run drain/hot --impl mutex --threads 1,2 --reps 1 --duration 30ms \
	--warmup 10ms --out "$tmp/dhot" >/dev/null 2>&1
"$CONTEND" run drain/quiesce --impl mutex --threads 2 --param inflight=1,16 \
	--reps 1 --duration 50ms --warmup 10ms --out "$tmp/dq" >/dev/null 2>&1
"$CONTEND" report "$tmp/dhot" >/dev/null 2>&1 && "$CONTEND" report "$tmp/dq" >/dev/null 2>&1
ok $? "report on drain/hot and drain/quiesce runs exits 0"
for f in dhot/drain_hot-throughput-vs-threads.png dq/drain_quiesce-drain-time-vs-inflight.png \
	dq/drain_quiesce-wake-up-vs-inflight.png; do
	grep -q "](${f#*/})" "$tmp/${f%%/*}/report.md" 2>/dev/null &&
		head -c 8 "$tmp/$f" | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'
	ok $? "the report draws ${f#*/}"
done

# Several runs combined: series carry the run.
"$CONTEND" run sema/closed --impl futex --threads 1 --reps 2 --duration 30ms \
	--warmup 10ms --out "$tmp/rep2" >/dev/null 2>&1
"$CONTEND" report "$tmp/rep" "$tmp/rep2" --out "$tmp/both" >/dev/null 2>&1
ok $? "report combines two runs"
grep -q '| futex@' "$tmp/both/report.md"
ok $? "combined series are named impl@host or impl@run"

# --ci-target: an easy target is reached, an impossible one is not.
err=$("$CONTEND" run sema/closed --impl futex --threads 1 --duration 30ms \
	--warmup 10ms --ci-target 50% --max-reps 9 --out "$tmp/ci1" 2>&1 >/dev/null)
echo "$err" | grep -q 'ci-target sema/closed: reached'
ok $? "--ci-target 50% is reached and says so"
err=$("$CONTEND" run sema/closed --impl futex --threads 1 --duration 30ms \
	--warmup 10ms --ci-target 0.0001% --max-reps 7 --out "$tmp/ci2" 2>&1 >/dev/null)
echo "$err" | grep -q 'not reached: stopped at 7 repetitions'
ok $? "--ci-target 0.0001% stops at --max-reps and says so"
[ "$(($(wc -l < "$tmp/ci2/sema_closed.csv") - 1))" -eq 7 ]
ok $? "...with exactly 7 repetitions recorded"
grep -q '^ci_target: ' "$tmp/ci2/meta"
ok $? "...and meta records which happened"

# Micro-benchmarks through the Google Benchmark shim.
"$CONTEND" micro --filter 'sema/(null|futex)/|empty' --reps 2 --min-time 10ms \
	--quiet --out "$tmp/micro" >/dev/null 2>&1
ok $? "contend micro runs (filtered)"
grep -q '^run_id,host,topology,benchmark,family,impl,case,threads,rep,iterations,real_ns_per_op,cpu_ns_per_op,error,library_build$' "$tmp/micro/micro.csv"
ok $? "micro.csv has the documented header"
for b in sema/null/acquire_release sema/futex/try_acquire_fail harness/shim/empty native/empty; do
	[ "$(grep -c ",$b," "$tmp/micro/micro.csv")" -eq 2 ]
	ok $? "micro.csv has both repetitions of $b"
done
grep -q ',sema/futex/acquire_release/contended,sema,futex,acquire_release,2,' "$tmp/micro/micro.csv"
ok $? "the contended case runs at 2 threads"
grep -q '"benchmarks"' "$tmp/micro/micro.json"
ok $? "Google Benchmark's JSON is kept beside it"
grep -q '^google_benchmark: .*build' "$tmp/micro/meta"
ok $? "meta records the library version and its build type"
"$CONTEND" report "$tmp/micro" >/dev/null 2>&1 && grep -q "The shim's own cost" "$tmp/micro/report.md"
ok $? "the report shows the shim's own cost"
"$CONTEND" micro --filter 'no-such-benchmark' --out "$tmp/micro2" >/dev/null 2>&1
ok $([ $? -eq 2 ] && [ ! -e "$tmp/micro2" ]; echo $?) "a filter that matches nothing exits 2 and writes nothing"
"$CONTEND" micro --filter '(' --out "$tmp/micro3" >/dev/null 2>&1
ok $([ $? -eq 2 ] && [ ! -e "$tmp/micro3" ]; echo $?) "a filter that is not a regex exits 2 and writes nothing"

tap_done
