#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The short stress suite: every sema, ctx, chan and rate implementation
# survives a second of random operations (with and without chaos), and the
# deliberately broken sema/busted, ctx/busted, chan/busted and rate/busted
# are caught on every one of several runs.  Each implementation's result line goes out as
# a "# " note.
#
#	CONTEND=/abs/path/build/contend tests/stress_test.sh

. "$(dirname "$0")/tap.sh"

cd "$tmp" || exit 1

# Every real implementation of a family, from the registry (`contend list`):
# a new one is stressed here with no edit.
impls() {
	"$CONTEND" list | awk -v fam="$1/" '
		/^implementations:/ { in_impls = 1; next }
		/^[a-z]+:/ { in_impls = 0 }
		in_impls && index($1, fam) == 1 && $2 != "test-only" && $2 != "floor" {
			printf "%s%s", sep, substr($1, length(fam) + 1); sep = " "
		}'
}
SEMA_IMPLS=$(impls sema)
CTX_IMPLS=$(impls ctx)
CHAN_IMPLS=$(impls chan)
RATE_IMPLS=$(impls rate)
DRAIN_IMPLS=$(impls drain)
BUSTED_RUNS=3

# stress LABEL ARGS...: run `contend stress ARGS`, output in $tmp/LABEL,
# exit status in $rc; copy the per-implementation result lines as notes.
stress() {
	label=$1
	shift
	"$CONTEND" stress "$@" >"$tmp/$label" 2>"$tmp/$label.err"
	rc=$?
	grep '^[a-z]*/[a-z-]*: ' "$tmp/$label" | sed "s/^/# $label: /"
}

# note_all LABEL: the whole output of a run, for a failure.
note_all() {
	sed 's/^/#   /' "$tmp/$1" "$tmp/$1.err"
}

last_line_success() {
	tail -n 1 "$1" | grep -q '^SUCCESS'
}

# all_succeed LABEL DESC FAMILY IMPLS: exit 0, a SUCCESS line per
# implementation and a final line starting with SUCCESS.
all_succeed() {
	check "$2: exit status 0" [ "$rc" -eq 0 ] ||
		{ echo "#   got $rc"; note_all "$1"; }
	for i in $4; do
		check "$2: $3/$i: SUCCESS" \
			grep -q "^$3/$i: SUCCESS" "$tmp/$1"
	done
	check "$2: final line starts with SUCCESS" last_line_success "$tmp/$1"
}

# busted FAMILY WHAT REGEX: the family's negative control must fail every
# one of BUSTED_RUNS runs: exit 1, a FAILURE line, and output matching
# REGEX, the evidence of its particular bug (described by WHAT).
busted() {
	k=1
	while [ "$k" -le "$BUSTED_RUNS" ]; do
		out="$1busted$k"
		stress "$out" "$1" --impl busted --duration 1s
		check "stress $1/busted run $k of $BUSTED_RUNS: exit status 1" \
			[ "$rc" -eq 1 ] || { echo "#   got $rc"; note_all "$out"; }
		check "stress $1/busted run $k of $BUSTED_RUNS: a $1/busted: FAILURE line" \
			grep -q "^$1/busted: FAILURE" "$tmp/$out"
		check "stress $1/busted run $k of $BUSTED_RUNS: $2" \
			grep -Eq "$3" "$tmp/$out" || note_all "$out"
		k=$((k + 1))
	done
}

stress plain sema --duration 1s
all_succeed plain "stress sema" sema "$SEMA_IMPLS"

# sema/busted over-admits: the violation count is on the FAILURE line (or
# on the "also" line, should a run end in a hang first).
busted sema "invariant violations named" '(FAILURE:|also) [1-9][0-9]* invariant violations'

stress chaos sema --chaos --duration 1s
all_succeed chaos "stress sema --chaos" sema "$SEMA_IMPLS"

stress ctx ctx --duration 1s
all_succeed ctx "stress ctx" ctx "$CTX_IMPLS"

# ctx/busted's cancel wakes one sleeping waiter of several: the others
# sleep on, which the watchdog reports as threads stuck in wait() after the
# stop flag.
busted ctx "a waiter left asleep in wait()" '^# *thread [0-9]+: in wait\('

stress ctxchaos ctx --chaos --duration 1s
all_succeed ctxchaos "stress ctx --chaos" ctx "$CTX_IMPLS"

stress chan chan --duration 1s
all_succeed chan "stress chan" chan "$CHAN_IMPLS"

# chan/busted loses and duplicates items: the first violation names one
# of the item invariants (on the FAILURE line, or on the "also" line
# should a run end in a hang).
busted chan "a lost, duplicated, reordered, phantom or extra item named" \
	'[1-9][0-9]* invariant violations.*; first: (lost|duplicate|FIFO|never produced|not sent but received|len > cap):'

stress chanchaos chan --chaos --duration 1s
all_succeed chanchaos "stress chan --chaos" chan "$CHAN_IMPLS"

stress rate rate --duration 1s
all_succeed rate "stress rate" rate "$RATE_IMPLS"

# rate/busted stores what it decided without a CAS: under contention it
# admits more than burst + rate x window, which the window sweep names.
busted rate "a window over the bound named" \
	'[1-9][0-9]* invariant violations.*; first: bound:'

stress ratechaos rate --chaos --duration 1s
all_succeed ratechaos "stress rate --chaos" rate "$RATE_IMPLS"

stress drain drain --duration 1s
all_succeed drain "stress drain" drain "$DRAIN_IMPLS"

# drain/busted's enter ignores the closed flag: an enter after the close
# returned is admitted (or, racing it, makes a 0 return premature).
busted drain "an admission after close named" \
	'[1-9][0-9]* invariant violations.*; first: (admitted after close|drained too early):'

stress drainchaos drain --chaos --duration 1s
all_succeed drainchaos "stress drain --chaos" drain "$DRAIN_IMPLS"

check "stress made no results root" [ ! -e "$tmp/results" ]

tap_done
