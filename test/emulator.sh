# Sourced by the test runners (run_regress.sh, run_valgrind.sh): start the
# Fauna emulator with its logical clock and seed it with the data every
# pg_regress suite expects, in one fixed order so ids and timestamps are the
# same on every run.  Needs $workdir; sets emu_pid and exports FAUNA_ENDPOINT,
# FAUNA_SECRET and the extra secrets the seeds print.  The caller's cleanup
# stops the emulator (kill "$emu_pid").

# start_emulator NAME: a throwaway secret prefixed with NAME.  An index
# added to a collection of >= 128 documents stays "building" until the
# index_build suite ends the build itself (POST /_emulator/index_builds/finish):
# no timing window, however slow the machine (valgrind).
start_emulator() {
	local name=$1 endpoint=
	FAUNA_SECRET="${name}_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
	python3 emulator/fauna_emulator.py --port 0 --secret "$FAUNA_SECRET" --clock logical \
		--hold-index-builds >"$workdir/emulator.log" 2>&1 &
	emu_pid=$!
	for _ in $(seq 1 300); do
		endpoint=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$workdir/emulator.log" | head -n1)
		[ -n "$endpoint" ] && break
		kill -0 "$emu_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$endpoint" ]; then
		echo "$name: the emulator did not start" >&2
		cat "$workdir/emulator.log" >&2
		return 1
	fi
	export FAUNA_ENDPOINT=$endpoint FAUNA_SECRET
}

# seed_emulator NAME: the suites' data; seeds that create keys print
# `export NAME=secret` lines, evaluated here
seed_emulator() {
	local name=$1 exports
	exports=$(python3 test/seed_regress.py) || { echo "$name: seeding failed" >&2; return 1; }
	eval "$exports"
	python3 test/seed_conversions.py || { echo "$name: seeding Conversions failed" >&2; return 1; }
	# after Conversions, so that suite's ids do not shift
	python3 test/seed_regress.py ranges || { echo "$name: seeding ranges failed" >&2; return 1; }
	exports=$(python3 test/seed_import.py) || { echo "$name: seeding the import collections failed" >&2; return 1; }
	eval "$exports"
	# last: the events suite's collections (it writes more itself, through
	# test/fauna_write.py)
	python3 test/seed_events.py || { echo "$name: seeding the events collections failed" >&2; return 1; }
}
