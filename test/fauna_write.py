#!/usr/bin/env python3
"""Run one FQL query against the Fauna emulator, printing nothing.

Used by pg_regress suites through psql's \\! to write to Fauna between
SQL statements (the FDW itself only reads):
    \\! python3 test/fauna_write.py 'Feed.create({ n: 1 })'
Reads FAUNA_ENDPOINT and FAUNA_SECRET (exported by test/run_regress.sh).
With the emulator's logical clock each query is one transaction at a
predictable time, so the suites' outputs are stable.  On a Fauna error it
prints the error to stderr and exits 1 (the diff then shows it).
"""
import json
import os
import sys
import urllib.error
import urllib.request


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fauna_write.py FQL")
    endpoint = os.environ["FAUNA_ENDPOINT"].rstrip("/")
    body = json.dumps({"query": sys.argv[1]}).encode()
    req = urllib.request.Request(
        endpoint + "/query/1", data=body, method="POST",
        headers={"Authorization": "Bearer " + os.environ["FAUNA_SECRET"],
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
    except urllib.error.HTTPError as e:
        sys.stderr.write("fauna_write: %s: %s\n" % (e, e.read().decode()))
        sys.exit(1)


if __name__ == "__main__":
    main()
