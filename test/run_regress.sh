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

. test/emulator.sh
start_emulator run_regress || exit 1
seed_emulator run_regress || exit 1

# -t: a private cluster directory even as root, so that concurrent runs
# (other work trees, other developers) do not collide on "15/regress".
# Results go to REGRESS_OUTPUTDIR (default: a temporary directory).
outdir=${REGRESS_OUTPUTDIR:-$workdir/out}
mkdir -p "$outdir"
chmod 777 "$workdir" "$outdir"
rm -f "$outdir/regression.diffs" "$outdir/regression.out"
# pg_virtualenv would give every cluster port 5432 (it looks at its own
# empty configuration, not at the ports in use): two runs at once would
# collide, so take a port the kernel says is free.
PGPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PGPORT
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
