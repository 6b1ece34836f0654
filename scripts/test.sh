#!/usr/bin/env bash
# The project's test command: install what is missing, build and install the
# extension, then run every suite -- the emulator's unit tests and its
# cross-check with the official Fauna driver, the pg_regress suites against
# the emulator (also with parallel scans forced on), the TAP tests and a
# short fuzzing run of the decoder.
#
# A suite exits 0 (passed), 77 (everything it ran passed, but it skipped
# something: counted as skipped) or anything else (failed).  Ends with
#   suites: N passed, N failed, N skipped
# and exits non-zero on any failure or skip: every skip this machine can
# hit means something scripts/install-deps.sh should have installed.
# SUITES="regress tap" runs only the suites named (default: all six);
# TAP_TESTS="t/006_network.pl ..." only those TAP files.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || exit 1

echo "== build"
make -s clean >/dev/null 2>&1
# COPT: PGXS's hook for extra compiler flags; warnings are errors
if ! make -s COPT=-Werror 2>&1 | tee /tmp/fauna_fdw_build.log; then
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
skipped=0
failed_names=()
skipped_names=()
all_suites="emulator-unit regress regress-parallel valgrind tap fuzz"
for name in ${SUITES:-$all_suites}; do
	[[ " $all_suites " == *" $name "* ]] || { echo "test.sh: no suite $name (suites: $all_suites)" >&2; exit 1; }
done
run_suite() {
	local name=$1 status
	shift
	[[ " ${SUITES:-$all_suites} " == *" $name "* ]] || return 0
	echo "== $name"
	"$@"
	status=$?
	if [ "$status" -eq 0 ]; then
		passed=$((passed + 1))
		echo "== $name: ok"
	elif [ "$status" -eq 77 ]; then
		skipped=$((skipped + 1))
		skipped_names+=("$name")
		echo "== $name: SKIPPED tests (see above)"
	else
		failed=$((failed + 1))
		failed_names+=("$name")
		echo "== $name: FAILED"
	fi
}

run_suite emulator-unit bash test/run_emulator_unit.sh
run_suite regress bash test/run_regress.sh
run_suite regress-parallel bash test/run_regress_parallel.sh
run_suite valgrind bash test/run_valgrind.sh
run_suite tap bash test/run_tap.sh ${TAP_TESTS:-}
run_suite fuzz bash fuzz/run.sh "${FUZZ_SECONDS:-20}"

echo
[ ${#failed_names[@]} -gt 0 ] && echo "failed suites: ${failed_names[*]}"
[ ${#skipped_names[@]} -gt 0 ] &&
	echo "suites that skipped tests: ${skipped_names[*]} (a skip fails the test command: install what they need, scripts/install-deps.sh)"
echo "suites: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ]
