#!/usr/bin/env python3
"""Seed what the v4 suite (sql/v4.sql) adds, through FQL v4 (POST /).

Run LAST in test/run_regress.sh (after the other seeds), so that the ids and
timestamps the earlier suites show do not move.  The v4 suite reads the
v10 seeds' collections too: the emulator's v4 front end shares the store.
Adds:
  - [ts, ref] indexes (no terms) on Events, Logs and Users, the index a v4
    incremental reader needs;
  - a collection V4Values whose documents hold the values of the seed
    connector's v4 conversion cases: document and collection refs, dates,
    times, bytes, escaped objects, plain numbers, refs to databases, keys,
    tokens, credentials, functions, roles, access providers and indexes
    (which need not exist, as in Fauna), a ref nested three deep, @query
    and @set values (the @set over v4values_by_name, an index with terms);
  - a collection Feed4 (history_days 30) with one document, for the v4
    event tables (the suite writes the rest).
"""
import json
import os
import sys
import urllib.error
import urllib.request

ENDPOINT = os.environ["FAUNA_ENDPOINT"].rstrip("/")
SECRET = os.environ["FAUNA_SECRET"]


def q4(expr):
    """Run one FQL v4 expression; return its resource or exit on error."""
    req = urllib.request.Request(
        ENDPOINT + "/", data=json.dumps(expr).encode(), method="POST",
        headers={"Authorization": "Bearer " + SECRET,
                 "Content-Type": "application/json",
                 "X-FaunaDB-API-Version": "4"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)["resource"]
    except urllib.error.HTTPError as e:
        sys.exit("v4 seed query failed: %s\n%s\n%s" % (json.dumps(expr), e, e.read().decode()))


def obj(d):
    return {"object": d}


def ref(id_, cls):
    return {"@ref": {"id": id_, "collection": cls}}


def native(name):
    return {"@ref": {"id": name}}


def main():
    for coll, name in (("Events", "events_ts_ref_v4"), ("Logs", "logs_ts_ref_v4"),
                       ("Users", "users_ts_ref_v4")):
        q4({"create_index": obj({
            "name": name, "source": {"collection": coll},
            "values": [obj({"field": ["ts"]}), obj({"field": ["ref"]})]})})
    # not usable for ranges: terms, or values in another order
    q4({"create_index": obj({
        "name": "events_by_kind_v4", "source": {"collection": "Events"},
        "terms": [obj({"field": ["data", "kind"]})],
        "values": [obj({"field": ["ts"]}), obj({"field": ["ref"]})]})})
    q4({"create_index": obj({
        "name": "events_ref_ts_v4", "source": {"collection": "Events"},
        "values": [obj({"field": ["ref"]}), obj({"field": ["ts"]})]})})

    q4({"create_collection": obj({"name": "V4Values"})})
    q4({"create_index": obj({
        "name": "v4values_by_name", "source": {"collection": "V4Values"},
        "terms": [obj({"field": ["data", "name"]})]})})
    coll_foo = ref("foo", native("collections"))
    cases = [
        ("doc_ref", ref("1234", coll_foo)),
        ("collection_ref", coll_foo),
        ("date", {"@date": "2022-03-04"}),
        ("time", {"@ts": "2022-03-04T05:06:07.123456Z"}),
        ("bytes", {"@bytes": "+/8A"}),
        ("escaped", {"@obj": {"@ts": "not a time"}}),
        ("int", 42),
        ("long", 9007199254740993),
        ("double", 1.5),
        ("nested", obj({"a": [1, {"@date": "2020-01-01"}], "b": obj({"c": True})})),
        ("database_ref", ref("my_db", native("databases"))),
        ("key_ref", ref("101", native("keys"))),
        ("token_ref", ref("102", native("tokens"))),
        ("credential_ref", ref("103", native("credentials"))),
        ("function_ref", ref("my_fn", native("functions"))),
        ("role_ref", ref("my_role", native("roles"))),
        ("access_provider_ref", ref("my_ap", native("access_providers"))),
        ("index_ref", ref("my_index", native("indexes"))),
        ("deep_ref", ref("5", ref("1234", coll_foo))),
        ("query", {"@query": {"lambda": "x", "expr": {"var": "x"}}}),
        ("set", {"@set": {"match": ref("v4values_by_name", native("indexes")),
                          "terms": "a"}}),
    ]
    for i, (name, value) in enumerate(cases):
        q4({"create": {"collection": "V4Values"},
            "params": obj({"data": obj({"seq": i + 1, "name": name, "v": value})})})

    q4({"create_collection": obj({"name": "Feed4", "history_days": 30})})
    q4({"create": {"collection": "Feed4"}, "params": obj({"data": obj({"n": 0})})})


if __name__ == "__main__":
    main()
