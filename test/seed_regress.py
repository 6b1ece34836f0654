#!/usr/bin/env python3
"""Seed the Fauna emulator with the data the pg_regress suites read.

Run with FAUNA_ENDPOINT and FAUNA_SECRET (the admin secret) set, against an
emulator started with --clock logical on an empty database.  Every write is
its own query, in a fixed order, so document ids and timestamps come out the
same on every run and the expected outputs can show them.

Prints `export NAME=value` lines for secrets it creates; the caller evals
them before running the suites:
  FAUNA_READONLY_SECRET  a key whose role may read Users but not Secrets

`seed_regress.py ranges` adds the collections of the ts range tests; run it
after test/seed_conversions.py (see test/run_regress.sh).
"""
import json
import os
import sys
import urllib.error
import urllib.request

ENDPOINT = os.environ["FAUNA_ENDPOINT"].rstrip("/")
SECRET = os.environ["FAUNA_SECRET"]


def query(fql, secret=SECRET):
    """Run one FQL query; return its data (simple format) or exit on error."""
    body = json.dumps({"query": fql}).encode()
    req = urllib.request.Request(
        ENDPOINT + "/query/1", data=body, method="POST",
        headers={"Authorization": "Bearer " + secret,
                 "Content-Type": "application/json",
                 "x-format": "simple"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)["data"]
    except urllib.error.HTTPError as e:
        sys.exit("seed query failed: %s\n%s\n%s" % (fql, e, e.read().decode()))


def main():
    for name in ("Users", "Empty", "Paged", "Secrets"):
        query('Collection.create({ name: "%s" })' % name)

    # documents of differing shapes: nested objects, missing fields, arrays
    users = [
        '{ name: "Alice", email: "alice@example.com", age: 31, '
        'address: { city: "Paris", zip: "75001" }, tags: ["admin", "ops"] }',
        '{ name: "Bob", email: "bob@example.com", age: 45, '
        'address: { city: "Berlin" } }',
        '{ name: "Carol", nickname: "cc" }',
        '{ name: "Dan", email: "dan@example.com", active: true, '
        'address: { city: "Paris", zip: "75002" } }',
    ]
    for doc in users:
        query("Users.create(%s)" % doc)

    # more documents than pages: read with page_size 2 -> 4 pages
    for n in range(1, 8):
        query("Paged.create({ n: %d, label: \"p%d\" })" % (n, n))

    query('Secrets.create({ code: "s3cr3t" })')

    # a role that may read Users but not Secrets, and a key with it
    query('Role.create({ name: "limited", privileges: [ '
          '{ resource: "Users", actions: { read: true } } ] })')
    key = query('Key.create({ role: "limited" }) { secret }')
    print("export FAUNA_READONLY_SECRET=%s" % key["secret"])


def seed_ranges():
    """Second phase, run after test/seed_conversions.py so that adding data
    here never shifts the ids the conversions suite shows."""
    # ts range pushdown: a collection with a ts index (and one that is not
    # usable for ranges because it has terms), and one with a descending one
    query('Collection.create({ name: "Events", indexes: { '
          'byKind: { terms: [{ field: ".kind" }], values: [{ field: ".ts" }] }, '
          'byTs: { values: [{ field: ".ts", order: "asc" }] } } })')
    for i, kind in enumerate(["open", "click", "click", "close", "open"], 1):
        query('Events.create({ seq: %d, kind: "%s" })' % (i, kind))
    query('Collection.create({ name: "Logs", indexes: { '
          'newest: { values: [{ field: ".ts", order: "desc" }] } } })')
    for i in range(1, 4):
        query('Logs.create({ seq: %d })' % i)


if __name__ == "__main__":
    if sys.argv[1:] == ["ranges"]:
        seed_ranges()
    else:
        main()
