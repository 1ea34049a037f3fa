# SPDX-License-Identifier: MIT
#
# Shared by the shell TAP tests: source it with
#	. "$(dirname "$0")/tap.sh"
# It resolves $CONTEND (skipping the whole file when there is no binary),
# makes a private $tmp removed on exit, points CONTEND_RESULTS into it so
# a stray write is seen, and gives the TAP helpers:
#	pass DESC / fail DESC     one test point
#	check DESC COMMAND...     a point passing when COMMAND succeeds
#	note FILE                 FILE as "# " lines
#	tap_done                  the plan; exit status 1 if anything failed

CONTEND=${CONTEND:-./build/contend}
case $CONTEND in
/*) ;;
*) CONTEND=$PWD/$CONTEND ;;
esac
if [ ! -x "$CONTEND" ]; then
	echo "1..0 # SKIP no contend binary at '$CONTEND' (run make first)"
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/contend-test.XXXXXX") || {
	echo "Bail out! cannot make a temporary folder"
	exit 1
}
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
CONTEND_RESULTS=$tmp/results
export CONTEND_RESULTS

n=0
failed=0

pass() {
	n=$((n + 1))
	echo "ok $n - $1"
}

fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
}

note() {
	sed 's/^/#   /' "$1"
}

# Returns COMMAND's verdict so that "check ... || note ..." explains.
check() {
	desc=$1
	shift
	if "$@"; then
		pass "$desc"
	else
		fail "$desc"
		return 1
	fi
}

tap_done() {
	echo "1..$n"
	[ "$failed" -eq 0 ]
}
