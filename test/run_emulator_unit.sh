#!/usr/bin/env bash
# Run the emulator's unit tests (emulator/tests, unittest), including the
# cross-checks with the official Fauna drivers.  Exits 0 when all passed,
# 77 when all that ran passed but some were skipped (scripts/test.sh counts
# the suite as skipped, which fails the test command), 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
python3 -m unittest discover -s emulator/tests -t . -v 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || exit 1
# unittest's closing line: "OK" or "OK (skipped=N)"
if grep -qE '^OK \(.*skipped=[0-9]+' "$log"; then
	echo "run_emulator_unit: skipped tests:" >&2
	grep -E ' \.\.\. skipped' "$log" >&2
	exit 77
fi
exit 0
