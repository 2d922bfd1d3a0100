#!/usr/bin/env bash
# gotest.sh: go test "$@", with a summary of what failed printed last.
#
# A failing e2e test dumps every node's log (hundreds of lines per node), so
# the end of the output, which is all a CI page may show, is node logs and not
# the test's own failure. On failure this prints the failed tests and their
# own messages (t.Errorf/t.Fatalf lines, panics), without the node logs.
set -uo pipefail
log=$(mktemp "${TMPDIR:-/tmp}/gotest.XXXXXX")
trap 'rm -f "$log"' EXIT
"${GO:-go}" test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
	echo
	echo "==== gotest.sh: go test $* failed (exit $rc); the failures, without node logs:"
	grep -E '^\s*--- FAIL|^FAIL|^panic:|^fatal error:|^\s+[A-Za-z0-9_]+\.go:[0-9]+: ' "$log" |
		grep -vE 'harness_test\.go:[0-9]+: \[' | tail -n 120
fi
exit "$rc"
