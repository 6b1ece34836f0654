#!/usr/bin/env python3
"""Seed what the edges suite (sql/edges.sql) reads.

Run by the suite itself (psql's \\!), which is last in the Makefile's
REGRESS list, so that no other suite's ids or timestamps move.  Adds, with
FQL v10 (POST /query/1) unless said otherwise:
  - EdgeIds: documents with chosen ids (10, 229203205346557952 and
    9223372036854775807), for lookups by non-canonical ids;
  - EdgeThings: four indexes, one per way of failing to serve ts ranges
    (byKind has terms, newest orders ts descending, byName starts with
    name) and byTs, which serves; documents, one of which holds the
    collection itself as a value;
  - over FQL v4 (POST /): two v4 indexes of EdgeThings, edge_things_ts_ref
    (values [ts, ref]: serves) and edge_things_by_kind (terms: does not).
Reads FAUNA_ENDPOINT and FAUNA_SECRET; exits non-zero on any Fauna error.
"""
import json
import os
import sys
import urllib.error
import urllib.request

ENDPOINT = os.environ["FAUNA_ENDPOINT"].rstrip("/")
SECRET = os.environ["FAUNA_SECRET"]


def post(path, body, headers):
    req = urllib.request.Request(
        ENDPOINT + path, data=json.dumps(body).encode(), method="POST",
        headers=dict({"Authorization": "Bearer " + SECRET,
                      "Content-Type": "application/json"}, **headers))
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:
        sys.exit("edges seed failed: %s\n%s\n%s" % (json.dumps(body), e, e.read().decode()))


def query(fql):
    return post("/query/1", {"query": fql}, {"x-format": "simple"})["data"]


def q4(expr):
    return post("/", expr, {"X-FaunaDB-API-Version": "4"})["resource"]


def obj(d):
    return {"object": d}


def main():
    query('Collection.create({ name: "EdgeIds" })')
    for doc_id, n in (("10", 1), ("229203205346557952", 2), ("9223372036854775807", 3)):
        query('EdgeIds.create({ id: "%s", n: %d })' % (doc_id, n))

    query('Collection.create({ name: "EdgeThings", indexes: { '
          'byKind: { terms: [{ field: ".kind" }], values: [{ field: ".ts" }] }, '
          'newest: { values: [{ field: ".ts", order: "desc" }] }, '
          'byName: { values: [{ field: ".name" }, { field: ".ts" }] }, '
          'byTs: { values: [{ field: ".ts" }] } } })')
    for name, kind in (("a", "x"), ("b", "y"), ("c", "x")):
        query('EdgeThings.create({ name: "%s", kind: "%s" })' % (name, kind))
    query('EdgeThings.create({ name: "self", kind: "z", c: EdgeThings })')

    q4({"create_index": obj({
        "name": "edge_things_ts_ref", "source": {"collection": "EdgeThings"},
        "values": [obj({"field": ["ts"]}), obj({"field": ["ref"]})]})})
    q4({"create_index": obj({
        "name": "edge_things_by_kind", "source": {"collection": "EdgeThings"},
        "terms": [obj({"field": ["data", "kind"]})],
        "values": [obj({"field": ["ts"]}), obj({"field": ["ref"]})]})})


if __name__ == "__main__":
    main()
