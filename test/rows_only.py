#!/usr/bin/env python3
"""Print a pg_regress output file without what depends on how rows were read.

    rows_only.py FILE

Drops the result of every EXPLAIN (a result whose column is "QUERY PLAN",
or any column whose name contains "explain" or "plan"), and the output of
every psql \\! command (the emulator's request log, counts of requests),
keeping the statements themselves and every other result.  Used by
test/run_regress_parallel.sh to compare the suites run with parallel scans
forced on against their expected output: the rows must be the same, the
plans and requests need not.
"""
import re
import sys

ROWS_LINE = re.compile(r"^\(\d+ rows?\)$")
# a line psql echoes as the start of a new statement or comment
STATEMENT = re.compile(
    r"^(--|\\|(SELECT|CREATE|ALTER|DROP|INSERT|UPDATE|DELETE|SET|RESET|EXPLAIN|CALL|DO|"
    r"BEGIN|COMMIT|ROLLBACK|TRUNCATE|GRANT|REVOKE|COMMENT|IMPORT|ANALYZE|VALUES|TABLE|WITH|"
    r"PREPARE|EXECUTE|DEALLOCATE|DECLARE|FETCH|CLOSE|SAVEPOINT|RELEASE|VACUUM|LOCK|"
    r"REFRESH|START|END|ABORT|DISCARD)\b)")


def is_plan_header(line, following):
    """A result header (next line is its ---- rule) naming a plan."""
    if not following.startswith("---"):
        return False
    names = [c.strip().lower() for c in line.split("|")]
    return any(n == "query plan" or "explain" in n or "plan" in n for n in names)


def main():
    with open(sys.argv[1], errors="replace") as f:
        lines = f.read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if is_plan_header(line, following):
            i += 2
            while i < len(lines) and not ROWS_LINE.match(lines[i]):
                i += 1
            i += 1
            continue
        out.append(line)
        i += 1
        if line.startswith("\\!"):
            while i < len(lines) and not STATEMENT.match(lines[i]):
                i += 1
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
