#!/usr/bin/env bash
# Runs inside pg_virtualenv (PGHOST/PGUSER/... point at a throwaway cluster):
# starts the emulator with demo/sample.jsonl and runs demo/demo.sql.
set -euo pipefail
cd "$(dirname "$0")/.."

secret="demo-secret-$$"
log=$(mktemp)
python3 emulator/fauna_emulator.py --port 0 --secret "$secret" \
	--clock logical --load demo/sample.jsonl >"$log" 2>&1 &
emulator_pid=$!
trap 'kill $emulator_pid 2>/dev/null; wait $emulator_pid 2>/dev/null; rm -f "$log"' EXIT

for _ in $(seq 1 100); do
	endpoint=$(sed -n 's/^listening on //p' "$log")
	[ -n "$endpoint" ] && break
	kill -0 $emulator_pid 2>/dev/null || { cat "$log" >&2; exit 1; }
	sleep 0.1
done
[ -n "$endpoint" ] || { echo "emulator did not start" >&2; cat "$log" >&2; exit 1; }
echo "Fauna emulator at $endpoint"

FAUNA_ENDPOINT=$endpoint FAUNA_SECRET=$secret \
	psql -X -v ON_ERROR_STOP=1 -f demo/demo.sql
