#!/usr/bin/env python3
"""Seed what the infer suite (sql/infer.sql) imports with OPTIONS (infer).

Run by the suite itself (psql's \\!), which is last in the Makefile's
REGRESS list, so that no other suite's ids or timestamps move.  One query
per write, in a fixed order.  Adds, with FQL v10 (POST /query/1):
  - InfPeople: two documents, the target of document references;
  - InfAll: every Fauna type in its own field (int, long, double, string,
    time, date, bytes, boolean, document ref, arrays of one type, a mixed
    array, an object, a field always null), fields of mixed types (int and
    double, long beyond 2^53 and double, int and long, string and int),
    a sparse field, a field in every document but null in some, and names
    that fold onto each other ("Name", "name") or are no FQL identifier;
  - InfNested: objects two and three levels deep, for infer_depth;
  - InfDeclared: a declared schema (fields) next to undeclared fields;
  - InfSpread (a ts index: byTs, and over v4 infspread_ts_ref) and
    InfFirst (none): the same 40
    documents, whose field v holds an int in the first 20 and a string in
    the last 20, written last so that they span the time up to the suite's
    reads: a sample of 8 spread over InfSpread's history sees both kinds,
    the first 8 of InfFirst only ints;
and with FQL v4 (POST /):
  - Inf4: documents written over v4, with v4 values (@ts, @date, @bytes,
    a ref) and user fields named like the reserved paths (id, ts, ref).
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
        sys.exit("infer seed failed: %s\n%s\n%s" % (json.dumps(body), e, e.read().decode()))


def query(fql):
    """One FQL v10 query: source text, or a list of source strings and
    tagged values (a template)."""
    if isinstance(fql, list):
        fql = {"fql": [p if isinstance(p, str) else {"value": p} for p in fql]}
    return post("/query/1", {"query": fql}, {"x-format": "simple"})["data"]


def q4(expr):
    return post("/", expr, {"X-FaunaDB-API-Version": "4"})["resource"]


def obj(d):
    return {"object": d}


def main():
    query('Collection.create({ name: "InfPeople" })')
    ann = query('InfPeople.create({ name: "Ann" }) { id }')["id"]
    bob = query('InfPeople.create({ name: "Bob" }) { id }')["id"]

    query('Collection.create({ name: "InfAll" })')
    query(['InfAll.create({ seq: 1, i: 1, l: 5000000000, d: 1.5, s: "one", '
           't: Time("2024-01-02T03:04:05.123456Z"), dt: Date("2024-01-02"), b: ',
           {"@bytes": "3q2+7w=="}, ', flag: true, author: InfPeople.byId("%s"), '
           'tags: ["a", "b"], nums: [1, 2, 3], mixed_arr: [1, "x"], '
           'obj: { k: 1 }, nothing: null, num: 1, big: 9007199254740993, '
           'intlong: 1, mix: "text", sparse: "only here", Name: "upper", '
           'name: "lower", "first name": "x", maybe: 1 })' % ann])
    query(['InfAll.create({ seq: 2, i: -2, l: -5000000000, d: 2.0, s: "two", '
           't: Time("2024-02-03T04:05:06Z"), dt: Date("2024-02-29"), b: ',
           {"@bytes": "AAEC"}, ', flag: false, author: InfPeople.byId("%s"), '
           'tags: [], nums: [4], mixed_arr: [[1]], obj: { k: "v" }, '
           'nothing: null, num: 2.25, big: 0.5, intlong: 5000000000, mix: 2, '
           'Name: "upper2", maybe: null })' % bob])
    query('InfAll.create({ seq: 3, i: 3, l: 6000000000, d: -0.25, s: "three", '
          't: Time("2024-03-04T05:06:07Z"), dt: Date("2024-03-04"), flag: true, '
          'tags: ["c"], nums: [5, 6], num: 3, big: 1, intlong: 3 })')

    query('Collection.create({ name: "InfNested" })')
    query('InfNested.create({ n: 1, address: { city: "Oslo", zip: 150, '
          'geo: { lat: 59.9, lng: 10.7 } }, meta: { id: "m1", tags: ["x"] } })')
    query('InfNested.create({ n: 2, address: { city: "Rome", '
          'geo: { lat: 41.9, lng: 12.5 } }, meta: "plain" })')
    query('InfNested.create({ n: 3, address: null })')

    query('Collection.create({ name: "InfDeclared", '
          'fields: { qty: { signature: "Int" }, label: { signature: "String?" } } })')
    query('InfDeclared.create({ qty: 1, label: "a", extra: Date("2024-05-06") })')
    query('InfDeclared.create({ qty: 2, extra: Date("2024-05-07") })')

    q4({"create_collection": obj({"name": "Inf4"})})
    q4({"create": {"collection": "Inf4"}, "params": obj({"data": obj({
        "n": 1, "x": 1.5, "when": {"@ts": "2021-06-07T08:09:10Z"},
        "day": {"@date": "2021-06-07"}, "raw": {"@bytes": "AQID"},
        "who": {"@ref": {"id": ann, "collection": {"@ref": {
            "id": "InfPeople", "collection": {"@ref": {"id": "collections"}}}}}},
        "id": 7, "ts": 8, "ref": "r", "list": [1, 2]})})})
    q4({"create": {"collection": "Inf4"}, "params": obj({"data": obj({
        "n": 2, "x": 2, "when": {"@ts": "2021-06-08T08:09:10Z"},
        "day": {"@date": "2021-06-08"}, "list": [3]})})})

    # last: the spread over time reaches up to the suite's reads
    query('Collection.create({ name: "InfSpread", indexes: { '
          'byTs: { values: [{ field: ".ts", order: "asc" }] } } })')
    q4({"create_index": obj({
        "name": "infspread_ts_ref", "source": {"collection": "InfSpread"},
        "values": [obj({"field": ["ts"]}), obj({"field": ["ref"]})]})})
    query('Collection.create({ name: "InfFirst" })')
    for i in range(1, 41):
        v = str(i) if i <= 20 else '"s%d"' % i
        query('InfSpread.create({ k: %d, v: %s })' % (i, v))
        query('InfFirst.create({ k: %d, v: %s })' % (i, v))


if __name__ == "__main__":
    main()
