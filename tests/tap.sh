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
#	no_tmp_files DIR          no name under DIR contains ".tmp"
#	rows_complete CSV         a header, a row, every row as wide as it
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

# no_tmp_files DIR: no file name under DIR contains ".tmp".
no_tmp_files() {
	[ -z "$(find "$1" -name '*.tmp*')" ]
}

# rows_complete CSV: a header and at least one row, and every row has as
# many fields as the header.
rows_complete() {
	awk -F, 'NR == 1 { nf = NF; next }
		NF != nf { bad = 1 }
		END { exit !(NR >= 2 && !bad) }' "$1"
}

tap_done() {
	echo "1..$n"
	[ "$failed" -eq 0 ]
}
