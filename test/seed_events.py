#!/usr/bin/env python3
"""Seed the collections of the events suite (event tables, fauna_sync,
ORDER BY ts).  Run last by test/run_regress.sh, after every other seed, so
that the ids and timestamps the earlier suites show do not shift.

The suite itself writes more through test/fauna_write.py; this only creates
the collections and a first document, so that the suite starts from a known
high-water mark.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_regress import query  # noqa: E402


def main():
    # Feed: event tables and the connector's incremental cases (ts index)
    query('Collection.create({ name: "Feed", indexes: { '
          'byTs: { values: [{ field: ".ts", order: "asc" }] } } })')
    query('Feed.create({ n: 0 })')
    # Synced: fauna_sync end to end (ts index)
    query('Collection.create({ name: "Synced", indexes: { '
          'byTs: { values: [{ field: ".ts", order: "asc" }] } } })')
    for n in range(1, 4):
        query('Synced.create({ n: %d, name: "s%d" })' % (n, n))
    # Plain: no index, for ORDER BY without pathkeys
    query('Collection.create({ name: "Plain" })')
    for n in range(1, 4):
        query('Plain.create({ n: %d })' % n)


if __name__ == "__main__":
    main()
