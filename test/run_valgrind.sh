#!/usr/bin/env bash
# Run pg_regress suites against a PostgreSQL server running under valgrind
# memcheck, and fail if valgrind reports a leak or a memory error in
# fauna_fdw code (issue 5).
#
# Starts the Fauna emulator and seeds it exactly as test/run_regress.sh does,
# makes a throwaway cluster (owned by the postgres OS user when run as root,
# since postgres refuses to run as root), starts `postgres` itself under
#   valgrind --leak-check=full --trace-children=yes --log-file=vg.%p.log
# (one log per process: the postmaster, each backend, each auxiliary
# process), runs the suites with pg_regress, then stops the server with a
# fast shutdown so that every process exits normally and valgrind writes its
# leak report.
#
# The check fails when
#   - a "definitely lost" block has a fauna_fdw frame in its allocation
#     stack, or
#   - any other memcheck error (invalid read/write/free, use of an
#     uninitialised value, uninitialised syscall buffer, overlap...) has a
#     fauna_fdw frame in any of its stacks, or
#   - the run was vacuous or blind: a suite produced no (or under 80% of
#     its expected) output or lost its server connection, a process was
#     killed by a signal or never wrote its leak report (HEAP SUMMARY), the
#     planted canary (a C function that leaks a malloc'd block and a json-c
#     object and branches on uninitialised memory, run in its own session)
#     was not reported, or the log parser fails its test on a crafted log.
# "Possibly lost" blocks with a fauna_fdw frame are printed as warnings.
# "Still reachable" is ignored: backends do not free their memory contexts
# at exit.  A difference from the expected outputs fails the check unless
# every differing line is on the short allowlist test/valgrind_timing.allow
# (lines that depend on timing, each with its reason): valgrind makes
# everything many times slower, and nothing else may change.
#
# A fauna_fdw frame is one that names fauna_fdw (the .so, fauna_fdw.c, a
# path containing fauna_fdw), a function in the installed fauna_fdw.so's
# symbol table, or a line of one of its source files (its DWARF units, for
# inlined static functions).  test/valgrind.supp suppresses only
# PostgreSQL's own known non-leaks; never add fauna_fdw frames to it.
# Memory leaked inside palloc'd memory contexts is out of reach (Debian's
# PostgreSQL is not built with USE_VALGRIND); t/003_memory.pl bounds that.
#
# The extension must already be installed (make install).
# Arguments: the suites to run (default: all of the Makefile's REGRESS).
# VALGRIND_KEEP=1 keeps the work directory (logs, results); VALGRIND_OPTS
# adds valgrind options.  The log parser can be run alone on a directory of
# logs: test/run_valgrind.sh --check-logs DIR [SO]; the diff check on a
# regression.diffs: test/run_valgrind.sh --check-diffs FILE [ALLOWLIST]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

pgbin=$(pg_config --bindir 2>/dev/null)
[ -x "$pgbin/postgres" ] || pgbin=/usr/lib/postgresql/15/bin
pkglibdir=$(pg_config --pkglibdir 2>/dev/null)
pg_regress=$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress
so=$pkglibdir/fauna_fdw.so

# --- the log parser -------------------------------------------------------
# check_logs DIR SO: prints a summary; exit 0 when no fauna_fdw problem.
check_logs() {
	python3 - "$1" "$2" <<'PYEOF'
import glob, os, re, subprocess, sys

logdir, so = sys.argv[1], sys.argv[2]

# Functions defined in fauna_fdw.so (static ones too: it is not stripped),
# minus the names every extension defines.
generic = {"_init", "_fini", "_PG_init", "Pg_magic_func", "_start",
           "deregister_tm_clones", "register_tm_clones", "frame_dummy",
           "__do_global_dtors_aux"}
fauna_syms = set()
try:
    out = subprocess.run(["nm", "--defined-only", so], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwWiI":
            name = parts[2]
            if name not in generic and not name.startswith("pg_finfo_"):
                fauna_syms.add(name)
except (OSError, subprocess.CalledProcessError) as e:
    print("valgrind check: cannot read the symbols of %s: %s" % (so, e))
    sys.exit(2)
if not fauna_syms:
    print("valgrind check: no symbols in %s" % so)
    sys.exit(2)

# The source files of fauna_fdw.so (its DWARF compilation units, such as
# "src/scan_exec.c"), to recognise inlined static functions, which have no symbol.
# valgrind runs with --fullpath-after=, so a frame names its file with the
# directories the debug information has: "src/scan_exec.c" or ".../src/scan_exec.c"
# for fauna_fdw, ".../replication/logical/decode.c" for PostgreSQL.
fauna_files = set()
try:
    out = subprocess.run(["readelf", "--debug-dump=info", so],
                         capture_output=True, text=True).stdout
    for m in re.finditer(r"DW_AT_name\s*:.*?(\S+\.c)\s*$", out, re.M):
        fauna_files.add(m.group(1))
except OSError:
    pass

frame_re = re.compile(r"^\s*(?:at|by) 0x[0-9A-Fa-f]+: (\S+)")
file_re = re.compile(r"\(([^()]+):\d+\)\s*$")

def is_fauna_frame(line):
    if "fauna_fdw" in line:
        return True
    m = frame_re.match(line)
    if not m:
        return False
    if m.group(1) in fauna_syms:
        return True
    f = file_re.search(line)
    if f:
        path = f.group(1)
        for name in fauna_files:
            if "/" in name and (path == name or path.endswith("/" + name)):
                return True
    return False

records = []          # (pid, lines)
loaded = 0            # processes with a fauna_fdw frame somewhere
crashed = []
unreported = []       # processes that never wrote their leak report
logs = sorted(glob.glob(os.path.join(logdir, "vg.*.log")))
for path in logs:
    with open(path, errors="replace") as f:
        text = f.read()
    pid = os.path.basename(path)[3:-4]
    if any(is_fauna_frame(re.sub(r"^==\d+== ?", "", l)) for l in text.splitlines()):
        loaded += 1
    if "HEAP SUMMARY:" not in text:
        unreported.append(path)
    if re.search(r"Process terminating with default action of signal (?!15\b)", text):
        crashed.append(path)
    # split into records: runs of "==PID== ..." lines separated by
    # "==PID== " blank lines
    cur = []
    for line in text.splitlines():
        body = re.sub(r"^==\d+== ?", "", line)
        if body.strip() == "":
            if cur:
                records.append((pid, cur))
            cur = []
        else:
            cur.append(body)
    if cur:
        records.append((pid, cur))

error_heads = re.compile(
    r"^(Invalid (read|write|free|Free)|Mismatched free|Conditional jump|"
    r"Use of uninitialised|Syscall param|Source and destination overlap|"
    r"Argument '.*' of function .* has a fishy|Invalid .* of size|"
    r"Jump to the invalid address|.*realloc\(\) with size 0)")
leak_head = re.compile(r"^[\d,]+ (\([\d,]+ direct, [\d,]+ indirect\) )?bytes in [\d,]+ blocks are (definitely|possibly|indirectly) lost")

definite, possible, errors = [], [], []
canary_leaks = canary_errors = 0
total_definite = total_errors = 0
for pid, lines in records:
    head = lines[0]
    m = leak_head.match(head)
    fauna = any(is_fauna_frame(l) for l in lines[1:])
    # the canary (see run_valgrind.sh): a leak and an uninitialised read
    # planted on purpose, which this check must see
    canary = any("fauna_fdw_vgcanary" in l for l in lines[1:])
    if m:
        kind = m.group(2)
        if kind == "definitely":
            total_definite += 1
            if canary:
                canary_leaks += 1
            elif fauna:
                definite.append((pid, lines))
        elif kind == "possibly" and fauna:
            possible.append((pid, lines))
    elif error_heads.match(head):
        total_errors += 1
        if canary:
            canary_errors += 1
        elif fauna:
            errors.append((pid, lines))

def show(title, items):
    print("valgrind check: %s: %d" % (title, len(items)))
    for pid, lines in items[:20]:
        print("---- process %s" % pid)
        for l in lines:
            print("    " + l)

print("valgrind check: %d process logs, %d with a fauna_fdw frame" % (len(logs), loaded))
print("valgrind check: all processes: %d definitely-lost records, %d other errors "
      "(any stack; unsuppressed)" % (total_definite, total_errors))
show("definitely lost with a fauna_fdw frame", definite)
show("memory errors with a fauna_fdw frame", errors)
if possible:
    show("warning: possibly lost with a fauna_fdw frame", possible)
status = 0
if not logs:
    print("valgrind check: no valgrind logs in %s" % logdir)
    status = 1
expect_canary = os.environ.get("VALGRIND_CANARY", "") == "1"
print("valgrind check: canary: %d leak(s), %d error(s) seen" % (canary_leaks, canary_errors))
if expect_canary and not (canary_leaks and canary_errors):
    print("valgrind check: the planted canary leak and error were not both "
          "reported: the check is blind")
    status = 1
if unreported:
    print("valgrind check: processes without a leak report (no HEAP SUMMARY): %s"
          % " ".join(unreported))
    status = 1
if crashed:
    print("valgrind check: processes killed by a signal: %s" % " ".join(crashed))
    status = 1
if definite or errors:
    status = 1
sys.exit(status)
PYEOF
}

# --- differences from the expected outputs ---------------------------------
# check_diffs DIFFS ALLOWLIST: exit 0 when every line that differs (a - or
# + line of pg_regress's unified diffs) matches an allowlist entry of its
# suite; otherwise prints the others and exits 1.
check_diffs() {
	python3 - "$1" "$2" <<'PYEOF'
import os, re, sys

diffs, allow_file = sys.argv[1], sys.argv[2]
allow = []                                  # (suite, compiled, reason)
with open(allow_file) as f:
    for n, line in enumerate(f, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.rstrip("\n").split(" | ")]
        if len(parts) != 3 or not all(parts):
            print("run_valgrind: %s:%d: expected 'suite | regex | reason'" % (allow_file, n))
            sys.exit(1)
        allow.append((parts[0], re.compile(parts[1]), parts[2]))

suite, bad, allowed = None, [], []
with open(diffs, errors="replace") as f:
    for line in f:
        line = line.rstrip("\n")
        m = re.match(r"^diff .* (\S+)$", line)
        if m:
            suite = os.path.basename(m.group(1)).rsplit(".", 1)[0]
            continue
        if line.startswith(("---", "+++")) or not line[:1] in ("-", "+"):
            continue
        text = line[1:]
        why = next((r for s, rx, r in allow if s == suite and rx.fullmatch(text)), None)
        (allowed if why else bad).append((suite, line, why))
for suite_, line, why in allowed:
    print("run_valgrind: allowed difference in %s (%s): %s" % (suite_, why, line))
if bad:
    print("run_valgrind: output differences under valgrind that no entry of %s allows:"
          % allow_file)
    for suite_, line, _ in bad[:80]:
        print("  %s: %s" % (suite_, line))
    sys.exit(1)
PYEOF
}

if [ "${1:-}" = "--check-diffs" ]; then
	check_diffs "$2" "${3:-test/valgrind_timing.allow}"
	exit $?
fi

if [ "${1:-}" = "--check-logs" ]; then
	check_logs "$2" "${3:-$so}"
	exit $?
fi

[ -f "$so" ] || { echo "run_valgrind: $so is not installed (make install)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "run_valgrind: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

if [ $# -gt 0 ]; then
	suites=("$@")
else
	# the Makefile's REGRESS list, in its order
	read -r -a suites <<<"$(make -s --no-print-directory -f Makefile -f - print-regress <<'EOF'
print-regress:
	@echo $(REGRESS)
EOF
)"
fi
[ ${#suites[@]} -gt 0 ] || { echo "run_valgrind: no suites" >&2; exit 1; }

workdir=$(mktemp -d /tmp/fauna_valgrind.XXXXXX)
chmod 755 "$workdir"
emu_pid=
pg_pid=
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	as_pg=(runuser -u postgres --)
fi
cleanup() {
	if [ -n "$pg_pid" ] && kill -0 "$pg_pid" 2>/dev/null; then
		"${as_pg[@]}" "$pgbin/pg_ctl" -D "$workdir/data" stop -m immediate >/dev/null 2>&1
		wait "$pg_pid" 2>/dev/null
	fi
	if [ -n "$emu_pid" ]; then
		kill "$emu_pid" 2>/dev/null
		wait "$emu_pid" 2>/dev/null
	fi
	if [ -n "${VALGRIND_KEEP:-}" ]; then
		echo "run_valgrind: kept $workdir"
	else
		rm -rf "$workdir"
	fi
}
trap cleanup EXIT

start=$(date +%s)

# --- the emulator, seeded like test/run_regress.sh (test/emulator.sh) ---
. test/emulator.sh
start_emulator run_valgrind || exit 1
seed_emulator run_valgrind || exit 1

# --- the canary -------------------------------------------------------------
# A tiny C function, fauna_fdw_vgcanary(), that leaks a malloc'd block and a
# json-c object and branches on uninitialised memory.  It runs in its own
# session after the suites; the check fails unless valgrind reports both, so
# a run whose backends were not traced, whose leak reports were not written
# or whose logs the parser cannot read fails instead of passing vacuously.
# Its records are then set aside.
mkdir -p "$workdir/data" "$workdir/vg" "$workdir/out" "$workdir/canary"
cat >"$workdir/canary/fauna_fdw_vgcanary.c" <<'CEOF'
#include "postgres.h"
#include "fmgr.h"
#include <json-c/json.h>

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(fauna_fdw_vgcanary);

static void *volatile sink;

Datum
fauna_fdw_vgcanary(PG_FUNCTION_ARGS)
{
	char	   *lost = malloc(4242);
	char	   *undefined = malloc(16);
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "canary", json_object_new_int(1));
	lost[0] = 1;
	sink = lost;
	sink = obj;
	sink = NULL;
	if (undefined[3] == 7)		/* uninitialised: must be reported */
		elog(DEBUG5, "canary");
	free(undefined);
	PG_RETURN_VOID();
}
CEOF
read -r -a json_cflags <<<"$(pkg-config --cflags json-c)"
read -r -a json_libs <<<"$(pkg-config --libs json-c)"
if ! gcc -shared -fPIC -g -O0 -Wall -Werror -I"$(pg_config --includedir-server)" \
	"${json_cflags[@]}" -o "$workdir/canary/fauna_fdw_vgcanary.so" \
	"$workdir/canary/fauna_fdw_vgcanary.c" "${json_libs[@]}" \
	>"$workdir/canary/build.log" 2>&1; then
	echo "run_valgrind: building the canary failed" >&2
	cat "$workdir/canary/build.log" >&2
	exit 1
fi

# --- the cluster, its postgres under valgrind -----------------------------
cp test/valgrind.supp "$workdir/valgrind.supp"
[ ${#as_pg[@]} -gt 0 ] && chown -R postgres: "$workdir"
if ! "${as_pg[@]}" "$pgbin/initdb" -D "$workdir/data" -A trust -U postgres \
	--no-sync -E UTF8 --locale=C >"$workdir/initdb.log" 2>&1; then
	echo "run_valgrind: initdb failed" >&2
	cat "$workdir/initdb.log" >&2
	exit 1
fi

port=$((20000 + RANDOM % 20000))
# the options of PostgreSQL's own valgrind runs (src/tools/valgrind.supp's
# header), plus a leak check; jit and autovacuum off to keep the run short.
# Parallel query keeps its defaults: plans (and EXPLAIN's "Fauna streams")
# are those of the plain run, and parallel workers run under valgrind too.
"${as_pg[@]}" valgrind --trace-children=yes --leak-check=full \
	--show-leak-kinds=definite,possible --errors-for-leak-kinds=definite \
	--num-callers=50 --read-var-info=no --error-limit=no --fullpath-after= \
	--suppressions="$workdir/valgrind.supp" \
	--log-file="$workdir/vg/vg.%p.log" ${VALGRIND_OPTS:-} \
	"$pgbin/postgres" -D "$workdir/data" -p "$port" -k "$workdir" \
	-c listen_addresses= -c fsync=off -c full_page_writes=off \
	-c shared_buffers=16MB -c max_connections=20 -c autovacuum=off \
	-c jit=off -c max_worker_processes=4 \
	-c logging_collector=off -c log_min_messages=warning \
	>"$workdir/server.log" 2>&1 &
pg_pid=$!

ready=
for _ in $(seq 1 600); do
	if "$pgbin/pg_isready" -q -h "$workdir" -p "$port"; then
		ready=1
		break
	fi
	kill -0 "$pg_pid" 2>/dev/null || break
	sleep 0.5
done
if [ -z "$ready" ]; then
	echo "run_valgrind: the server did not start under valgrind" >&2
	tail -n 40 "$workdir/server.log" >&2
	exit 1
fi
echo "run_valgrind: postgres under valgrind ready after $(( $(date +%s) - start ))s"

# --- the suites -----------------------------------------------------------
# pg_regress runs from the repository: the suites' \! commands use
# test/fauna_write.py and test/seed_v4.py.  Timeouts are generous.
PGHOST=$workdir PGPORT=$port PGUSER=postgres PGCONNECT_TIMEOUT=120 \
	"$pg_regress" --inputdir=. --bindir="$pgbin" --load-extension=fauna_fdw \
	--outputdir="$workdir/out" --dbname=contrib_regression "${suites[@]}" \
	>"$workdir/regress.log" 2>&1
regress_status=$?
cat "$workdir/regress.log"

# the canary, in a session of its own
canary_out=$(PGHOST=$workdir PGPORT=$port PGUSER=postgres "$pgbin/psql" -X -q \
	-d postgres -v ON_ERROR_STOP=1 2>&1 <<SQL
CREATE FUNCTION fauna_fdw_vgcanary() RETURNS void
	AS '$workdir/canary/fauna_fdw_vgcanary.so' LANGUAGE C;
SELECT fauna_fdw_vgcanary();
SQL
) || { echo "run_valgrind: the canary did not run: $canary_out" >&2; exit 1; }

# --- stop: every backend has exited; a fast shutdown lets the rest exit --
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$workdir/data" stop -m fast -t 600 >/dev/null 2>&1 \
	|| echo "run_valgrind: pg_ctl stop failed" >&2
wait "$pg_pid" 2>/dev/null
pg_pid=
status=0

# --- did the suites run? ---------------------------------------------------
# Outputs may differ under valgrind (timing); what must hold is that each
# suite ran its statements against a live server.
for s in "${suites[@]}"; do
	res=$workdir/out/results/$s.out
	exp=expected/$s.out
	if [ ! -s "$res" ]; then
		echo "run_valgrind: suite $s produced no output" >&2
		status=1
		continue
	fi
	got=$(wc -l <"$res")
	want=$(wc -l <"$exp" 2>/dev/null || echo 0)
	if [ "$got" -lt $((want * 8 / 10)) ]; then
		echo "run_valgrind: suite $s: $got lines of output, expected about $want" >&2
		status=1
	fi
	if grep -qE 'server closed the connection unexpectedly|could not connect to server|connection to server .* failed' "$res"; then
		echo "run_valgrind: suite $s lost its server connection:" >&2
		grep -nE 'server closed the connection|could not connect|connection to server' "$res" | head >&2
		status=1
	fi
done
ran=$(grep -cE '^test [^ ]+ +\.\.\. ' "$workdir/regress.log" || true)
echo "run_valgrind: pg_regress ran $ran of ${#suites[@]} suites (status $regress_status)"
[ "$ran" -ge "${#suites[@]}" ] || status=1
if grep -q 'terminated by signal\|was terminated by' "$workdir/server.log"; then
	echo "run_valgrind: a server process crashed:" >&2
	grep -n 'terminated by signal\|was terminated by' "$workdir/server.log" >&2
	status=1
fi
if [ "$regress_status" -ne 0 ]; then
	if [ ! -f "$workdir/out/regression.diffs" ]; then
		echo "run_valgrind: pg_regress failed without differences (status $regress_status)" >&2
		status=1
	elif ! check_diffs "$workdir/out/regression.diffs" test/valgrind_timing.allow; then
		status=1
	fi
fi

# --- the parser's own test ---------------------------------------------------
# A crafted log: a leak reached through a function of fauna_fdw.so's symbol
# table, an invalid read in an inlined fauna_fdw function known only by its
# source file, and PostgreSQL's own decode.c, which is not fauna_fdw's.  The
# parser must flag exactly the first two.
sym=$(nm --defined-only "$so" | awk '$2 == "T" && $3 ~ /^fauna/ { print $3; exit }')
src=$(readelf --debug-dump=info "$so" 2>/dev/null |
	sed -n 's/.*DW_AT_name[^:]*:.*[: ]\(src\/[^ ]*\.c\)$/\1/p' | head -n1)
mkdir -p "$workdir/selftest"
cat >"$workdir/selftest/vg.1.log" <<LOG
==1== 64 bytes in 1 blocks are definitely lost in loss record 1 of 3
==1==    at 0x4841: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==1==    by 0x4842: json_object_new_object (in /usr/lib/x86_64-linux-gnu/libjson-c.so.5)
==1==    by 0x4843: $sym (/nowhere/other.c:1)
==1==    by 0x4844: PostgresMain (in /usr/lib/postgresql/15/bin/postgres)
==1== 
==1== Invalid read of size 8
==1==    at 0x4845: inlined_helper (/work/tree/$src:10)
==1==    by 0x4846: ??? (in /usr/lib/postgresql/15/bin/postgres)
==1== 
==1== 32 bytes in 1 blocks are definitely lost in loss record 2 of 3
==1==    at 0x4841: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==1==    by 0x4847: DecodeXLogRecord (/build/postgresql-15/src/backend/replication/logical/decode.c:12)
==1== 
==1== HEAP SUMMARY:
LOG
selftest=$(check_logs "$workdir/selftest" "$so" 2>&1)
selftest_status=$?
if [ -z "$sym" ] || [ -z "$src" ] || [ "$selftest_status" -ne 1 ] ||
	! grep -q 'definitely lost with a fauna_fdw frame: 1$' <<<"$selftest" ||
	! grep -q 'memory errors with a fauna_fdw frame: 1$' <<<"$selftest"; then
	echo "run_valgrind: the log parser failed its own test (symbol '$sym', file '$src'):" >&2
	echo "$selftest" >&2
	status=1
else
	echo "run_valgrind: the log parser flags a crafted fauna_fdw leak and error (ok)"
fi

# --- the valgrind reports ---------------------------------------------------
VALGRIND_CANARY=1 check_logs "$workdir/vg" "$so" || status=1

# --- no secret in any output or log ---------------------------------------
# As test/run_regress.sh does: every key the seeds handed out, looked for
# in the suites' results, pg_regress's output, the server log and the
# valgrind logs (file names only are printed, never the match).
leaks=0
for s in "$FAUNA_SECRET" ${FAUNA_READONLY_SECRET:-} ${FAUNA_IMPORT_SECRET:-}; do
	if grep -rlF -- "$s" "$workdir/out" "$workdir/regress.log" \
		"$workdir/server.log" "$workdir/vg" >"$workdir/leaks" 2>/dev/null; then
		echo "run_valgrind: a Fauna secret appears in:" >&2
		cat "$workdir/leaks" >&2
		leaks=1
	fi
done
if [ "$leaks" -eq 0 ]; then
	echo "run_valgrind: no secret in the results, the server log or the valgrind logs"
else
	status=1
fi
echo "run_valgrind: $(( $(date +%s) - start ))s, status $status"
exit "$status"
