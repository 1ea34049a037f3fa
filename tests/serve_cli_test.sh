#!/bin/sh
# SPDX-License-Identifier: MIT
#
# drain/server from the command line: bad input to `contend serve` and to
# the workload is one "contend: " line and a non-zero exit, with no file
# left behind; a tiny run of each mode finishes with the audit's columns
# (ordered: nothing lost, no violation; naive: drops shown, not flagged).
#
#	CONTEND=/abs/path/build/contend tests/serve_cli_test.sh

. "$(dirname "$0")/tap.sh"

# bad_serve DESC ARGS...: refused, exit 2, one line, no database made.
bad_serve() {
	desc=$1
	shift
	(cd "$tmp" && "$CONTEND" serve "$@" >"$tmp/stdout" 2>"$tmp/stderr")
	rc=$?
	if [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/stderr")" -eq 1 ] &&
		grep -q '^contend: serve: ' "$tmp/stderr" &&
		[ ! -s "$tmp/stdout" ] && [ ! -e "$tmp/x.db" ]; then
		pass "serve refuses $desc"
	else
		fail "serve refuses $desc (exit $rc)"
		note "$tmp/stderr"
	fi
	rm -f "$tmp/x.db"
}

bad_serve "no db" mode=ordered
bad_serve "an unknown key" db=x.db bogus=1
bad_serve "a bad mode" db=x.db mode=sideways
bad_serve "zero slots" db=x.db slots=0
bad_serve "an unknown drain" db=x.db drain=nope
bad_serve "a word without =" db=x.db hello

# bad_run DESC ARGS...: the workload refuses, exit 2, one line, no output.
bad_run() {
	desc=$1
	shift
	"$CONTEND" run drain/server --out "$tmp/out" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
	rc=$?
	if [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/stderr")" -eq 1 ] &&
		grep -q '^contend: ' "$tmp/stderr" && [ ! -e "$tmp/out" ]; then
		pass "drain/server refuses $desc"
	else
		fail "drain/server refuses $desc (exit $rc)"
		note "$tmp/stderr"
	fi
	rm -rf "$tmp/out"
}

bad_run "a bad mode" --param mode=sideways --threads 2
bad_run "kill_at past 0.95" --param kill_at=1.5 --threads 2
bad_run "one thread (no client)" --threads 1

# col FILE NAME: column NAME of the CSV's rows.
col() {
	awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
		c { print $c }' "$1"
}

# The server's database folders go to a private $TMPDIR, to be counted.
mkdir "$tmp/t" || exit 1
run_tiny() {
	rm -rf "$tmp/out"
	TMPDIR=$tmp/t "$CONTEND" run drain/server --threads 3 --duration 300ms --warmup 50ms \
		--reps 1 --out "$tmp/out" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
}

# every COL OP VALUE: every row's COL passes the test OP VALUE (and there
# is at least one row).
every() {
	vals=$(col "$csv" "$1") && [ -n "$vals" ] || return 1
	for v in $vals; do
		awk -v v="$v" -v w="$3" "BEGIN { exit !(v $2 w) }" || return 1
	done
}

# Every real drain implementation, one trial each.
run_tiny --param kill_at=0.5
csv=$tmp/out/drain_server.csv
check "ordered run writes its CSV" test -s "$csv"
echo "# ordered: $(col "$csv" impl | tr '\n' ' ')"
check "ordered run: nothing lost" every lost == 0
check "ordered run: no violations" every violations == 0
check "ordered run: each of the 2 clients refused cleanly" every refused == 2
check "ordered run: the shutdown phases were timed" every phase_accept_ns '>' 0
check "ordered run: and the whole drain" every drain_ns '>' 0

run_tiny --param mode=naive --param kill_at=0.5
check "naive run: in-flight requests dropped, not flagged" \
	eval 'every dropped ">" 0 && every violations == 0' 
check "no temporary database left behind" test -z "$(ls -A "$tmp/t")"

tap_done
