#!/usr/bin/env python3
"""Seed the Fauna emulator with the documents sql/conversions.sql reads.

Run with FAUNA_ENDPOINT and FAUNA_SECRET (the admin secret) set, against an
emulator started with --clock logical.  Creates the collections Conversions
and ConvTarget; every value is sent as a tagged template value (no value is
spliced into FQL text), one query per write, in a fixed order, so ids and
timestamps are the same on every run.

Conversions holds, in field `row` order:
  1  one value of each storable Fauna type (string s, int i, long l,
     double d, boolean bo, time t, date dt, bytes b, ref r, object o,
     array a, and the arrays ia/sa/tx/ta for array columns)
  2  edge values: int and long limits, NaN/Infinity, 9-digit times,
     empty bytes, nested arrays, an object with "@" keys, a dangling ref
Prints nothing on success.
"""
import json
import os
import sys
import urllib.error
import urllib.request

ENDPOINT = os.environ["FAUNA_ENDPOINT"].rstrip("/")
SECRET = os.environ["FAUNA_SECRET"]


def query(parts):
    """Run one FQL template (a list of source strings and tagged values)."""
    fql = [p if isinstance(p, str) else {"value": p} for p in parts]
    body = json.dumps({"query": {"fql": fql}}).encode()
    req = urllib.request.Request(
        ENDPOINT + "/query/1", data=body, method="POST",
        headers={"Authorization": "Bearer " + SECRET,
                 "Content-Type": "application/json",
                 "x-format": "tagged"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)["data"]
    except urllib.error.HTTPError as e:
        sys.exit("seed query failed: %s\n%s\n%s" % (parts, e, e.read().decode()))


def I(n):
    return {"@int": str(n)}


def L(n):
    return {"@long": str(n)}


def D(s):
    return {"@double": s}


def T(s):
    return {"@time": s}


def DT(s):
    return {"@date": s}


def B(s):
    return {"@bytes": s}


def main():
    query(['Collection.create({ name: "ConvTarget" })'])
    query(['Collection.create({ name: "Conversions" })'])
    target = query(["ConvTarget.create(", {"label": "target"}, ")"])
    target_ref = {"@ref": {"id": target["@doc"]["id"],
                           "coll": {"@mod": "ConvTarget"}}}

    row1 = {
        "row": I(1),
        "s": "cat",
        "i": I(12),
        "l": L(9007199254740993),
        "d": D("1.5"),
        "bo": True,
        "t": T("2023-04-06T03:33:32.226Z"),
        "dt": DT("2012-02-01"),
        "b": B("aGVsbG8gd29ybGQ="),
        "r": target_ref,
        "o": {"name": "Paris", "zip": I(75001), "geo": {"lat": D("48.85")}},
        "a": [I(1), "two", True, None],
        "ia": [I(1), I(2), None, L(3)],
        "sa": ["x", "y"],
        "tx": ["x", "y"],
        "ta": [T("2024-01-01T00:00:00Z"), T("2024-06-30T12:00:00.5Z")],
    }
    row2 = {
        "row": I(2),
        "s": "caf\u00e9 \u2603 \"quoted\"\n",
        "i": I(-2147483648),
        "l": L(-9223372036854775808),
        "d": D("NaN"),
        "bo": False,
        "t": T("1999-12-31T23:59:59.123456789Z"),
        "dt": DT("2024-02-29"),
        "b": B("+/8="),
        "r": {"@ref": {"id": "999", "coll": {"@mod": "ConvTarget"}}},
        "o": {"@object": {"@weird": "key", "n": D("1.0E10")}},
        "a": [[I(1), I(2)], []],
        "ia": [],
        "sa": [["nested"]],
        "tx": ["\u00e9", None, I(3), {"k": True}],
        "ta": [],
        "inf": D("Infinity"),
        "ninf": D("-Infinity"),
        "big": L(40000),
        "frac": D("12.5"),
        "whole": D("12.0"),
    }
    for doc in (row1, row2):
        query(["Conversions.create(", doc, ")"])


if __name__ == "__main__":
    main()
