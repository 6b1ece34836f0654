#!/usr/bin/env bash
# Run the TAP tests in t/ (PostgreSQL::Test::Cluster from Debian's
# postgresql-server-dev-15, IPC::Run, prove).  The extension must already be
# installed (make install).  Each test starts its own emulator and cluster.
#
# initdb refuses to run as root, so as root the tests and the emulator are
# copied to a temporary directory owned by the postgres OS user and prove
# runs as that user.  Exits non-zero on any failure.
#
# Afterwards every secret the tests used (t/FaunaTest.pm records each one
# in $workdir/secrets as soon as it exists) is looked for in every log they
# left: the server logs (tmp_check/log/*.log) and the tests' own logs
# (regress_log_*).  Finding one, or having no secret to look for, fails.
# Arguments: test files to run (default: t/*.pl); PROVE_FLAGS adds options.
#
# Skips are counted per test file (prove -v: "ok N # skip ..." lines, and
# a file that skips all, "t/x.pl .. skipped: reason"): when all that ran passed but something was
# skipped, the files and counts are printed and the exit status is 77,
# which scripts/test.sh reports as a skipped suite (and fails on).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

pgbin=/usr/lib/postgresql/15/bin
perl_lib=/usr/lib/postgresql/15/lib/pgxs/src/test/perl
pg_regress=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress
if [ ! -d "$perl_lib/PostgreSQL/Test" ]; then
	echo "run_tap: PostgreSQL::Test modules not found (install postgresql-server-dev-15)" >&2
	exit 1
fi
if ! perl -MIPC::Run -e 1 2>/dev/null; then
	echo "run_tap: IPC::Run is missing (install libipc-run-perl)" >&2
	exit 1
fi

if [ $# -gt 0 ]; then
	tests=("$@")
else
	tests=(t/*.pl)
fi
for f in "${tests[@]}"; do
	[ -f "$f" ] || { echo "run_tap: no test file $f" >&2; exit 1; }
done

workdir=$(mktemp -d /tmp/fauna_tap.XXXXXX)
cleanup() {
	if [ -z "${PG_TEST_NOCLEAN:-}" ]; then
		rm -rf "$workdir"
	else
		echo "run_tap: kept $workdir"
	fi
}
trap cleanup EXIT

# a copy of what the tests need, readable by whoever runs them
mkdir -p "$workdir/src"
cp -r t emulator "$workdir/src/"
mkdir -p "$workdir/src/test"
cp test/tcp_conns.py "$workdir/src/test/"
find "$workdir/src" -name __pycache__ -prune -exec rm -rf {} +
mkdir -p "$workdir/check" "$workdir/secrets"

env_vars=(
	"PATH=$pgbin:/usr/local/bin:/usr/bin:/bin"
	"PERL5LIB=$perl_lib:$workdir/src/t"
	"PG_REGRESS=$pg_regress"
	"TESTDIR=$workdir/check"
	"FAUNA_EMULATOR=$workdir/src/emulator/fauna_emulator.py"
	"PG_TEST_TIMEOUT_DEFAULT=${PG_TEST_TIMEOUT_DEFAULT:-180}"
	"HOME=$workdir"
	"LANG=C.UTF-8"
	"PYTHONDONTWRITEBYTECODE=1"
	"FAUNA_TAP_SECRETS=$workdir/secrets"
)
[ -n "${PG_TEST_NOCLEAN:-}" ] && env_vars+=("PG_TEST_NOCLEAN=1")

prove_cmd=(prove -v ${PROVE_FLAGS:-})
if [ "$(id -u)" -eq 0 ]; then
	chown -R postgres: "$workdir"
	chmod 755 "$workdir"
	runner=(runuser -u postgres -- env -i "${env_vars[@]}")
else
	runner=(env "${env_vars[@]}")
fi

# the test files, as paths inside the copy
copied=()
for f in "${tests[@]}"; do
	copied+=("$workdir/src/t/$(basename "$f")")
done

cd "$workdir/check" || exit 1
# the console gets prove's output without the passing assertions and
# BackgroundPsql's notes of every query (-v is for counting skips)
"${runner[@]}" "${prove_cmd[@]}" "${copied[@]}" 2>&1 | tee "$workdir/prove.log" | awk '
	/^# (issuing query|results query|connect output)/ { notes = 1; next }
	notes && /^# }/ { notes = 0; next }
	notes || /^ok [0-9]/ { next }
	{ print }'
status=${PIPESTATUS[0]}

# skips, per test file (prove -v starts each file's output with its name)
skips=$(awk '
	/^\/.*\/t\/[^ ]+\.pl \.\./ {
		f = $1; sub(/.*\/t\//, "t/", f)
		if ($0 ~ / \.\.+ skipped:/) n[f]++     # plan skip_all
	}
	tolower($0) ~ /^ *ok [0-9]+ .*# skip/ { n[f]++ }
	END { for (f in n) printf "%s: %d skipped\n", f, n[f] }' "$workdir/prove.log" | sort)
nskipped=0
if [ -n "$skips" ]; then
	nskipped=$(awk -F': ' '{ s += $2 } END { print s }' <<<"$skips")
	echo "run_tap: skipped tests (each is a failure of the test command):" >&2
	echo "$skips" >&2
fi
echo "run_tap: $nskipped skipped"

# The secrets, and the last 16 characters of each (a secret cut short is
# still a leak), one fixed string a line; then every log of the run.
cat "$workdir"/secrets/secrets.* 2>/dev/null | sort -u >"$workdir/secrets.all"
awk 'length($0) >= 24 { print substr($0, length($0) - 15) }' "$workdir/secrets.all" \
	| sort -u >"$workdir/secrets.pieces"
cat "$workdir/secrets.pieces" >>"$workdir/secrets.all"
logs=()
for log in "$workdir"/check/tmp_check/log/*.log "$workdir"/check/tmp_check/log/regress_log_*; do
	[ -f "$log" ] && logs+=("$log")
done
nsecrets=$(grep -c . "$workdir/secrets.all" 2>/dev/null)
nsecrets=${nsecrets:-0}
if [ "$nsecrets" -eq 0 ]; then
	echo "run_tap: no test secret was recorded: the secret check cannot run" >&2
	status=1
elif [ ${#logs[@]} -eq 0 ]; then
	echo "run_tap: no log to search for secrets" >&2
	status=1
elif grep -lF -f "$workdir/secrets.all" -- "${logs[@]}" >"$workdir/leaks"; then
	# the file names only: printing the match would print the secret
	echo "run_tap: a test secret appears in:" >&2
	cat "$workdir/leaks" >&2
	status=1
else
	echo "run_tap: none of $nsecrets secrets (and pieces) in ${#logs[@]} logs"
fi
if [ "$status" -ne 0 ]; then
	echo "run_tap: failures; server logs:" >&2
	for log in "$workdir"/check/tmp_check/log/regress_log_* "$workdir"/check/tmp_check/log/*.log; do
		[ -f "$log" ] || continue
		echo "---- $log (tail)" >&2
		tail -n 60 "$log" >&2
	done
fi
[ "$status" -eq 0 ] && [ "$nskipped" -gt 0 ] && exit 77
exit "$status"
