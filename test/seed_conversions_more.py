#!/usr/bin/env python3
"""Write the documents sql/conversions_more.sql reads.

Run by that suite itself through psql's \\! (it is appended after suites
that write, so it writes its own data): every document gets an explicit id,
so that ids, and the errors that name them, do not depend on how many
documents earlier suites created.  Values are sent as tagged template
values, one query per write.  Reads FAUNA_ENDPOINT and FAUNA_SECRET.

Collections:
  ConvMore     id 101: values that convert (smallint range, arrays of
               numbers, booleans, dates, bytes, objects, times, a ttl);
               id 102: values that do not convert into the same columns
  other        id 123, the target of the ref below
  ConvAirbyte  id 1: the seed connector's export case: a ref to
               other/123, a time, the date 2012-02-01, the number 12, the
               string "cat" and the bytes "hello world"
Prints nothing on success.
"""
import os
import sys

# the same template query and tagged-value helpers as the first seed
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_conversions import B, D, DT, I, L, T, query  # noqa: E402


def main():
    for name in ("ConvMore", "other", "ConvAirbyte"):
        query(['Collection.create({ name: "%s" })' % name])

    good = {
        "id": "101",
        "row": I(1),
        "ttl": T("2099-01-02T03:04:05.678901Z"),
        # smallint: ints at both limits, a long and an integral double
        "i": I(12), "smax": I(32767), "smin": I(-32768), "l": L(-7),
        "whole": D("3.0"),
        # arrays, element by element; nulls stay NULL
        "na": [I(1), L(9007199254740993), D("1.5"), None, D("NaN")],
        "fa": [D("1.5"), I(2), L(-3), D("Infinity"), None],
        "ba": [True, False, None],
        "da": [DT("2012-02-01"), None, DT("2024-02-29")],
        "bya": [B("aGVsbG8gd29ybGQ="), B("+/8="), B("")],
        "ja": [{"k": I(1), "t": T("2024-01-01T00:00:00Z")}, "s", [I(1), None],
               B("+/8="), DT("2012-02-01"), None],
        "ia2": [I(1), I(-2)],
        "ta": [T("2023-04-06T03:33:32.226Z"), T("1999-12-31T23:59:59.123456789Z")],
        # timestamp (without time zone): UTC wall time
        "t": T("2023-04-06T03:33:32.226Z"),
        "t9": T("1999-12-31T23:59:59.123456789Z"),
        # timestamp(p): rounding carries into the next year at p = 0 and 1
        "tc": T("2023-12-31T23:59:59.987654Z"),
    }
    bad = {
        "id": "102",
        "row": I(2),
        "i": I(32768), "smin": I(-32769), "l": L(9223372036854775807),
        "whole": D("2.5"),
        "na": [I(1), "two"],
        "fa": [True],
        "ba": [I(1)],
        "da": [T("2012-02-01T00:00:00Z")],
        "bya": ["aGVsbG8="],
        "ia2": [[I(1)]],
        "ta": [DT("2012-02-01")],
        "ja": "not an array",
        "t": DT("2012-02-01"),
        "t9": "2023-04-06T03:33:32.226Z",
    }
    for doc in (good, bad):
        query(["ConvMore.create(", doc, ")"])

    query(["other.create(", {"id": "123", "name": "target"}, ")"])
    query(["ConvAirbyte.create(", {
        "id": "1",
        "ref": {"@ref": {"id": "123", "coll": {"@mod": "other"}}},
        "time": T("2022-01-02T03:04:05.678Z"),
        "date": DT("2012-02-01"),
        "number": I(12),
        "string": "cat",
        "bytes": B("aGVsbG8gd29ybGQ="),
    }, ")"])


if __name__ == "__main__":
    main()
