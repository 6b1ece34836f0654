#!/usr/bin/env python3
"""Seed the Fauna emulator with the collections sql/import.sql imports.

Run with FAUNA_ENDPOINT and FAUNA_SECRET (the admin secret) set, against an
emulator started with --clock logical, after the other seeds.  One query per
write, in a fixed order, so ids and timestamps are the same on every run.

Collections:
  ImpIndexed   a qualifying ts index (byTs) next to a terms index, and a
               declared schema (fields) of every mapped type; "widget" has
               a value in each (blob: bytes, sent as a tagged template value
               in the same single query, so the number of transactions and
               with it every later id and ts stay as they were)
  ImpSorted    indexes that do not qualify: terms, ts descending, not ts
  ImpPlain     no index, no schema
  OrderItems   mixed case (table orderitems)
  Order        a table name that needs quoting ("order")
  ImpHidden    not readable with FAUNA_IMPORT_SECRET
  ImpClash, impclash   fold to the same table name
  Bulk001..Bulk200     many collections, to import page by page

Prints `export FAUNA_IMPORT_SECRET=...`: a key whose role reads every
collection above but ImpHidden.  The caller evals it.
"""
import json
import os
import sys
import urllib.error
import urllib.request

ENDPOINT = os.environ["FAUNA_ENDPOINT"].rstrip("/")
SECRET = os.environ["FAUNA_SECRET"]
BULK = 200


def query(fql):
    """Run one FQL query (source text, or a template: a list of source
    strings and tagged values); return data."""
    if isinstance(fql, list):
        fql = {"fql": [p if isinstance(p, str) else {"value": p} for p in fql]}
    body = json.dumps({"query": fql}).encode()
    req = urllib.request.Request(
        ENDPOINT + "/query/1", data=body, method="POST",
        headers={"Authorization": "Bearer " + SECRET,
                 "Content-Type": "application/json",
                 "x-format": "simple"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)["data"]
    except urllib.error.HTTPError as e:
        sys.exit("seed query failed: %s\n%s\n%s" % (fql, e, e.read().decode()))


def main():
    query('Collection.create({ name: "ImpIndexed", indexes: { '
          'byKind: { terms: [{ field: ".kind" }], values: [{ field: ".ts" }] }, '
          'byTs: { values: [{ field: ".ts", order: "asc" }, { field: ".kind" }] } }, '
          'fields: { '
          'name: { signature: "String" }, '
          'qty: { signature: "Int?" }, '
          'big: { signature: "Long" }, '
          'price: { signature: "Double" }, '
          'total: { signature: "Number" }, '
          'active: { signature: "Boolean" }, '
          'seenAt: { signature: "Time | Null" }, '
          'day: { signature: "Date" }, '
          'blob: { signature: "Bytes?" }, '
          'tags: { signature: "Array<String>" }, '
          'kind: { signature: "String | Int" }, '
          'ts: { signature: "Time" } } })')
    query(['ImpIndexed.create({ name: "widget", kind: "a", qty: 3, big: 9007199254740993, '
           'price: 2.5, total: 7, active: true, seenAt: Time("2023-05-01T10:00:00Z"), '
           'day: Date("2023-05-01"), tags: ["x", "y"], blob: ',
           {"@bytes": "3q2+7w=="}, ' })'])
    query('ImpIndexed.create({ name: "gadget", kind: "b", big: 1, price: 0.5, '
          'total: 1.25, active: false, day: Date("2024-02-29") })')

    query('Collection.create({ name: "ImpSorted", indexes: { '
          'byKind: { terms: [{ field: ".kind" }], values: [{ field: ".ts" }] }, '
          'newest: { values: [{ field: ".ts", order: "desc" }] }, '
          'byName: { values: [{ field: ".name" }] } } })')
    query('ImpSorted.create({ name: "only" })')

    query('Collection.create({ name: "ImpPlain" })')
    query('ImpPlain.create({ n: 1 })')
    query('ImpPlain.create({ n: 2, nested: { a: [1, 2] } })')

    query('Collection.create({ name: "OrderItems" })')
    query('OrderItems.create({ sku: "A-1", qty: 2 })')

    query('Collection.create({ name: "Order" })')
    query('Order.create({ number: 1 })')

    query('Collection.create({ name: "ImpHidden" })')
    query('ImpHidden.create({ secret_plan: "x" })')

    query('Collection.create({ name: "ImpClash" })')
    query('Collection.create({ name: "impclash" })')

    for i in range(1, BULK + 1):
        query('Collection.create({ name: "Bulk%03d" })' % i)

    readable = ["ImpIndexed", "ImpSorted", "ImpPlain", "OrderItems", "Order",
                "ImpClash", "impclash"]
    readable += ["Bulk%03d" % i for i in range(1, BULK + 1)]
    privs = ", ".join('{ resource: "%s", actions: { read: true } }' % c
                      for c in readable)
    query('Role.create({ name: "importer", privileges: [ %s ] })' % privs)
    key = query('Key.create({ role: "importer" }) { secret }')
    print("export FAUNA_IMPORT_SECRET=%s" % key["secret"])


if __name__ == "__main__":
    main()
