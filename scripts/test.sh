#!/usr/bin/env bash
# The project's test command: install what is missing, build and install the
# extension, then run every suite -- the emulator's unit tests and its
# cross-check with the official Fauna driver, the pg_regress suites against
# the emulator, the TAP tests and a short fuzzing run of the decoder.
# Ends with "suites: N passed, N failed" and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || exit 1

echo "== build"
make -s clean >/dev/null 2>&1
if ! make -s 2>&1 | tee /tmp/fauna_fdw_build.log; then
	echo "build failed" >&2
	exit 1
fi
if grep -E 'warning:' /tmp/fauna_fdw_build.log; then
	echo "build produced warnings (see above)" >&2
	exit 1
fi
make -s install >/dev/null || exit 1

passed=0
failed=0
failed_names=()
run_suite() {
	local name=$1
	shift
	echo "== $name"
	if "$@"; then
		passed=$((passed + 1))
		echo "== $name: ok"
	else
		failed=$((failed + 1))
		failed_names+=("$name")
		echo "== $name: FAILED"
	fi
}

run_suite emulator-unit python3 -m unittest discover -s emulator/tests -t . -v
run_suite regress bash test/run_regress.sh
run_suite valgrind bash test/run_valgrind.sh
[ -d t ] && run_suite tap bash test/run_tap.sh
run_suite fuzz bash fuzz/run.sh "${FUZZ_SECONDS:-20}"

echo
[ ${#failed_names[@]} -gt 0 ] && echo "failed suites: ${failed_names[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
