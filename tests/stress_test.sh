#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The short stress suite: every sema implementation survives a second of
# random operations (with and without chaos), and the deliberately broken
# sema/busted is caught on every one of several runs.  Each
# implementation's result line goes out as a "# " note.
#
#	CONTEND=/abs/path/build/contend tests/stress_test.sh

. "$(dirname "$0")/tap.sh"

cd "$tmp" || exit 1

IMPLS="mutex futex spin posix"
BUSTED_RUNS=3

# stress LABEL ARGS...: run `contend stress ARGS`, output in $tmp/LABEL,
# exit status in $rc; copy the per-implementation result lines as notes.
stress() {
	label=$1
	shift
	"$CONTEND" stress "$@" >"$tmp/$label" 2>"$tmp/$label.err"
	rc=$?
	grep '^sema/[a-z]*: ' "$tmp/$label" | sed "s/^/# $label: /"
}

# note_all LABEL: the whole output of a run, for a failure.
note_all() {
	sed 's/^/#   /' "$tmp/$1" "$tmp/$1.err"
}

last_line_success() {
	tail -n 1 "$1" | grep -q '^SUCCESS'
}

# all_succeed LABEL DESC: exit 0, a SUCCESS line per implementation and a
# final line starting with SUCCESS.
all_succeed() {
	check "$2: exit status 0" [ "$rc" -eq 0 ] ||
		{ echo "#   got $rc"; note_all "$1"; }
	for i in $IMPLS; do
		check "$2: sema/$i: SUCCESS" \
			grep -q "^sema/$i: SUCCESS" "$tmp/$1"
	done
	check "$2: final line starts with SUCCESS" last_line_success "$tmp/$1"
}

stress plain sema --duration 1s
all_succeed plain "stress sema"

k=1
while [ "$k" -le "$BUSTED_RUNS" ]; do
	stress "busted$k" sema --impl busted --duration 1s
	check "stress sema/busted run $k of $BUSTED_RUNS: exit status 1" \
		[ "$rc" -eq 1 ] || { echo "#   got $rc"; note_all "busted$k"; }
	check "stress sema/busted run $k of $BUSTED_RUNS: a sema/busted: FAILURE line" \
		grep -q '^sema/busted: FAILURE' "$tmp/busted$k"
	# The over-admission is named on the FAILURE line, or, where the
	# permits busted also loses (its store overwrites a concurrent
	# release) starve everyone first, on the "also" line after a hang.
	check "stress sema/busted run $k of $BUSTED_RUNS: invariant violations named" \
		grep -Eq '(FAILURE:|also) [1-9][0-9]* invariant violations' \
		"$tmp/busted$k"
	grep '^# *also ' "$tmp/busted$k" | sed "s/^# */# busted$k: /"
	k=$((k + 1))
done

stress chaos sema --chaos --duration 1s
all_succeed chaos "stress sema --chaos"

check "stress made no results root" [ ! -e "$tmp/results" ]

tap_done
