#!/usr/bin/env bash
# The pg_regress suites with parallel scans forced on: every query runs in
# a parallel worker (force_parallel_mode = regress) and every document
# scan that can be parallel is (no setup or tuple cost, any size).  The
# rows each suite returns must be those of its expected output; plans and
# the requests sent differ, so EXPLAIN results and the output of psql's \!
# commands are left out of the comparison (test/rows_only.py).
#
# Not compared, and why:
#   faults    its faults hit the Nth request, and a parallel scan sends
#             other requests (the id bounds, one query per part)
#   pipeline  it counts the cursors and requests a scan sends
#   snapshot, sync
#             fauna_fdw_scan_snapshot() cannot report a scan that a worker
#             ran alone (force_parallel_mode), and what fauna_sync marks
#             follows from it (docs/performance.md, "Parallel scans")
set -uo pipefail
cd "$(dirname "$0")/.."
skip=" faults pipeline snapshot sync "
suites=$(sed -n 's/^REGRESS = //p' Makefile)
outdir=$(mktemp -d)
trap 'rm -rf "$outdir"' EXIT
chmod 777 "$outdir"
PGOPTIONS="-c force_parallel_mode=regress -c parallel_setup_cost=0 -c parallel_tuple_cost=0 -c min_parallel_table_scan_size=0 -c max_parallel_workers_per_gather=4" \
	REGRESS_OUTPUTDIR="$outdir" bash test/run_regress.sh >"$outdir/run.log" 2>&1
status=0
compared=0
for s in $suites; do
	case "$skip" in *" $s "*) continue ;; esac
	if [ ! -f "$outdir/results/$s.out" ]; then
		echo "run_regress_parallel: suite $s left no output" >&2
		status=1
		continue
	fi
	if ! diff -u <(python3 test/rows_only.py "expected/$s.out") \
		<(python3 test/rows_only.py "$outdir/results/$s.out") >"$outdir/$s.diff"; then
		echo "run_regress_parallel: suite $s returns other rows with parallel scans:" >&2
		cat "$outdir/$s.diff" >&2
		status=1
	fi
	compared=$((compared + 1))
done
grep -q 'Parallel Foreign Scan' "$outdir"/results/*.out || {
	echo "run_regress_parallel: no suite ran a parallel scan" >&2
	status=1
}
echo "run_regress_parallel: $compared suites compared, status $status"
exit $status
