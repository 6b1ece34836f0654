#!/usr/bin/env bash
# Run the pg_regress suites against a throwaway Fauna emulator.
#
# Starts the emulator (logical clock, throwaway secret) in the background,
# seeds it with test/seed_regress.py, exports FAUNA_ENDPOINT, FAUNA_SECRET
# and the seed's extra secrets, and runs `make installcheck` in a throwaway
# cluster made by pg_virtualenv.  The extension must already be installed
# (make install).  Exits with installcheck's status and prints
# regression.diffs on failure.  Set REGRESS_OUTPUTDIR to keep the results.
# Extra arguments go to make (for example REGRESS=scan to run one suite).
set -uo pipefail
cd "$(dirname "$0")/.."

workdir=$(mktemp -d)
emu_pid=
cleanup() {
	if [ -n "$emu_pid" ]; then
		kill "$emu_pid" 2>/dev/null
		wait "$emu_pid" 2>/dev/null
	fi
	rm -rf "$workdir"
}
trap cleanup EXIT

secret="regress_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
python3 emulator/fauna_emulator.py --port 0 --secret "$secret" --clock logical \
	>"$workdir/emulator.log" 2>&1 &
emu_pid=$!

endpoint=
for _ in $(seq 1 300); do
	endpoint=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$workdir/emulator.log" | head -n1)
	[ -n "$endpoint" ] && break
	if ! kill -0 "$emu_pid" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
if [ -z "$endpoint" ]; then
	echo "run_regress: the emulator did not start" >&2
	cat "$workdir/emulator.log" >&2
	exit 1
fi

export FAUNA_ENDPOINT=$endpoint
export FAUNA_SECRET=$secret

if ! exports=$(python3 test/seed_regress.py); then
	echo "run_regress: seeding the emulator failed" >&2
	cat "$workdir/emulator.log" >&2
	exit 1
fi
eval "$exports"
python3 test/seed_conversions.py || { echo "run_regress: seeding Conversions failed" >&2; exit 1; }
python3 test/seed_regress.py ranges || { echo "run_regress: seeding ranges failed" >&2; exit 1; }
exports=$(python3 test/seed_import.py) || { echo "run_regress: seeding the import collections failed" >&2; exit 1; }
eval "$exports"
# last: the events suite's collections (it writes more itself, through
# test/fauna_write.py)
python3 test/seed_events.py || { echo "run_regress: seeding the events collections failed" >&2; exit 1; }

# -t: a private cluster directory even as root, so that concurrent runs
# (other work trees, other developers) do not collide on "15/regress".
# Results go to REGRESS_OUTPUTDIR (default: a temporary directory).
outdir=${REGRESS_OUTPUTDIR:-$workdir/out}
mkdir -p "$outdir"
chmod 777 "$workdir" "$outdir"
rm -f "$outdir/regression.diffs" "$outdir/regression.out"
# keep the throwaway cluster's server log for the secret check below
pg_virtualenv -t -v 15 sh -c '
	make installcheck REGRESS_OUTPUTDIR="$0" "$@"
	status=$?
	cp "$(dirname "$PGSYSCONFDIR")"/log/*.log "$0/server.log"
	exit $status' "$outdir" "$@"
status=$?

# No secret may reach a query result, an error text, EXPLAIN output or the
# server log: look for every key the seeds handed out in all of them.
leaks=0
for s in "$FAUNA_SECRET" ${FAUNA_READONLY_SECRET:-} ${FAUNA_IMPORT_SECRET:-}; do
	if grep -rlF -- "$s" "$outdir" >"$workdir/leaks" 2>/dev/null; then
		echo "run_regress: a Fauna secret appears in:" >&2
		cat "$workdir/leaks" >&2
		leaks=1
	fi
done
[ -f "$outdir/server.log" ] || { echo "run_regress: the server log was not kept" >&2; leaks=1; }
[ "$leaks" -eq 0 ] && [ "$status" -eq 0 ] && echo "run_regress: no secret in results or the server log"
[ "$leaks" -eq 0 ] || status=1

if [ "$status" -ne 0 ]; then
	[ -f "$outdir/regression.diffs" ] && cat "$outdir/regression.diffs"
	echo "run_regress: emulator log tail:" >&2
	tail -n 40 "$workdir/emulator.log" >&2
fi
exit "$status"
