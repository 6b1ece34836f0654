"""The bytes of collection reads, pinned: every response of a set of scans
(the requests fauna_fdw sends, and variations on them) is hashed and
compared with the hashes the emulator gave before its read path was
optimised (commit 7c12e97, the emuperf branch's base).  Any change to a
page's JSON -- documents, cursors, stats, order -- fails here.

To regenerate after an intended change of the wire format:
    PAGE_WIRE_GOLDEN=print python3 -m unittest emulator.tests.test_page_wire
and paste the printed dict over GOLDEN.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sys
import tempfile
import unittest
from typing import Any, Dict, List

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from faunaemu.loader import load_file  # noqa: E402
from faunaemu.service import Service  # noqa: E402
from faunaemu.storage import Store  # noqa: E402

SECRET = "secret"
N_DOCS = 2400
ID0 = 10_000_000
TS0 = 1_704_067_200_000_000       # 2024-01-01T00:00:00Z
QUERY_TIME = re.compile(r'"query_time_ms":\d+')
AFTER = re.compile(r'"after":"([^"]*)"')


class V:
    """A value part of a query template."""
    def __init__(self, v: Any) -> None:
        self.v = v


def template(*parts: Any) -> bytes:
    fql = [{"value": p.v} if isinstance(p, V) else p for p in parts]
    return json.dumps({"query": {"fql": fql}}).encode()


def doc_data(i: int, rng: random.Random) -> Dict[str, Any]:
    """Tagged user fields of document i: fdw_bench's shape, and every few
    documents something the encoder treats specially."""
    d: Dict[str, Any] = {
        "name": "user %d" % i,
        "age": {"@int": str(18 + i % 70)},
        "balance": {"@double": "%d.%02d" % (i % 10000, i % 100)},
        "active": i % 3 != 0,
        "created": {"@time": "2023-%02d-%02dT10:%02d:00.%06dZ" % (1 + i % 12, 1 + i % 28, i % 60, i)},
        "birthday": {"@date": "19%02d-%02d-%02d" % (50 + i % 50, 1 + i % 12, 1 + i % 28)},
        "tags": rng.sample(["alpha", "beta", "gamma", "delta", "omega"], 2),
        "address": {"street": "%d Main St" % i, "city": rng.choice(["Oslo", "Lima", "Riga"])},
        "manager": {"@ref": {"id": str(1000 + i % 12), "coll": {"@mod": "Other"}}},
    }
    k = i % 17
    if k == 1:
        d["data"] = {"nested": "special"}           # a field named like a document's own
        d["id"] = "user-id"
    elif k == 2:
        d["obj"] = {"@object": {"@weird": "key", "plain": {"@int": "1"}}}
    elif k == 3:
        d["big"] = {"@long": str(2 ** 40 + i)}
        d["tiny"] = {"@double": "1.5e-07"}
        d["huge"] = {"@double": "1e22"}
    elif k == 4:
        d["text"] = "ünïcödé \"quoted\" \\ \n tab\t \u2028 %d" % i
        d["bytes"] = {"@bytes": "AAEC"}
    elif k == 5:
        d = {}
    elif k == 6:
        d["list"] = [[], {}, None, [{"@int": "1"}, {"a": None}]]
        d["missing"] = {"@ref": {"id": "424242", "coll": {"@mod": "Other"}}}
    return d


def write_load(path: str) -> None:
    rng = random.Random(7)
    with open(path, "w") as f:
        f.write(json.dumps({"collection": {"name": "Other"}}) + "\n")
        f.write(json.dumps({"collection": {"name": "Bench", "indexes": {
            "byTs": {"values": [{"field": ".ts", "order": "asc"}]},
            "byCity": {"terms": [{"field": ".address.city"}],
                       "values": [{"field": ".age", "order": "desc"}]}}}}) + "\n")
        for j in range(10):       # 1010, 1011 missing: refs to absent documents
            f.write(json.dumps({"coll": "Other", "id": str(1000 + j), "ts": TS0,
                                "data": {"n": {"@int": str(j)}}}) + "\n")
        perm = list(range(N_DOCS))
        random.Random(8).shuffle(perm)
        for i in range(N_DOCS):
            rec: Dict[str, Any] = {"coll": "Bench", "id": str(ID0 + 3 * i),
                                   "ts": TS0 + (perm[i] + 1) * 1000, "data": doc_data(i, rng)}
            if i % 41 == 0:
                rec["ttl"] = {"@time": "2100-01-01T00:00:00Z"}
            elif i % 43 == 0:
                rec["ttl"] = {"@time": "2020-01-01T00:00:00Z"}     # expired: not read
            f.write(json.dumps(rec) + "\n")


def iso(us: int) -> str:
    import datetime
    dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def scans() -> Dict[str, bytes]:
    """name -> first request of a scan (followed to its end by cursors)."""
    ps = V({"@int": "1000"})
    at = V({"@time": iso(TS0 + 2_000_000)})          # before the updates below
    mid = V({"@time": iso(TS0 + 1_200_000)})
    lo, hi = V(str(ID0 + 3 * 300)), V(str(ID0 + 3 * 1700 + 1))
    return {
        "fdw id,data": template("Bench.all().pageSize(", ps, ") { id, data }"),
        "fdw id,ts,data": template("Bench.all().pageSize(", ps, ") { id, ts, data }"),
        "fdw id": template("Bench.all().pageSize(", ps, ") { id }"),
        "fdw all meta": template("Bench.all().pageSize(", V({"@int": "333"}),
                                 ") { id, ts, ttl, coll, data }"),
        "fdw fields": template("Bench.all().pageSize(", V({"@int": "500"}),
                               ") { id, name, age, manager, missing, address, data }"),
        "fdw nested": template("Bench.all().pageSize(", V({"@int": "700"}),
                               ") { id, address { city }, manager { id, n } }"),
        "fdw parallel": template("at (", at, ") { Bench.all({ from: ", lo, ", to: ", hi,
                                 " }).pageSize(", V({"@int": "250"}), ") { id, data } }"),
        "fdw parallel ts": template("at (", at, ") { Bench.all({ from: ", lo, ", to: ", hi,
                                    " }).pageSize(", ps, ") { id, ts, data } }"),
        "fdw where": template("at (", at, ") { Bench.all({ from: ", lo, ", to: ", hi,
                              " }).where(.ts > ", mid, ").pageSize(", ps, ") { id, data } }"),
        "fdw byTs": template("Bench.byTs({ from: ", mid, " }).pageSize(", ps, ") { id, ts, data }"),
        "fdw limit": template("Bench.all().drop(", V({"@int": "5"}), ").take(", V({"@int": "1500"}),
                              ").pageSize(", ps, ") { id, data }"),
        "byCity": template('Bench.byCity("Oslo").pageSize(', V({"@int": "250"}), ") { id, age }"),
        "docs": json.dumps({"query": "Bench.all().pageSize(400)"}).encode(),
        "reverse": json.dumps({"query": "Bench.all().reverse().pageSize(900) { id, data }"}).encode(),
        "map": json.dumps({"query": "Bench.all().map(d => { id: d.id, c: d.address?.city })"
                                    ".pageSize(800)"}).encode(),
        "alias": json.dumps({"query": "Bench.all().pageSize(600) { id, x: .age, data }"}).encode(),
        "paginate": json.dumps({"query": "Bench.all().pageSize(3).paginate() { id, data }"}).encode(),
        "array": json.dumps({"query": "Bench.all().take(3).toArray() { id, data }"}).encode(),
        "first": json.dumps({"query": "Bench.all().first() { id, ts, data }"}).encode(),
        "page small": template("Bench.all().pageSize(", V({"@int": "7"}), ") { id, data }"),
    }


UPDATES = [
    # a second version of some documents, written after `at` above
    json.dumps({"query": "Bench.all().take(40).forEach(d => d.update({ age: 99, extra: 'x' }))"}),
    json.dumps({"query": 'Bench.byId("%d")!.delete()' % (ID0 + 3 * 5)}),
]

MAX_PAGES = 80


def bodies_of(svc: Service, first: bytes, fmt: str) -> List[str]:
    out = []
    headers = {"authorization": "Bearer " + SECRET, "x-format": fmt}
    req = first
    while req is not None and len(out) < MAX_PAGES:
        status, body, _ = svc.query(req, headers)
        body = QUERY_TIME.sub('"query_time_ms":0', body)
        out.append("%d %s" % (status, body))
        m = AFTER.search(body[-2000:]) if status == 200 else None
        req = template("Set.paginate(", V(m.group(1)), ")") if m else None
    return out


def wire_hashes() -> Dict[str, str]:
    store = Store(logical=True)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "load.jsonl")
        write_load(path)
        load_file(store, path)
    svc = Service(store, SECRET)
    admin = {"authorization": "Bearer " + SECRET, "x-format": "tagged"}
    for u in UPDATES:
        status, body, _ = svc.query(u.encode(), admin)
        assert status == 200, body
    out = {}
    for name, first in scans().items():
        for fmt in ("tagged", "simple", "decorated"):
            if fmt == "decorated" and not name.startswith("fdw id,data"):
                continue
            # twice: the second read is served from the versions' caches
            for rnd in (1, 2):
                b = bodies_of(svc, first, fmt)
                h = hashlib.sha256("\n".join(b).encode()).hexdigest()[:32]
                out["%s/%s/%d" % (name, fmt, rnd)] = "%d pages %s" % (len(b), h)
    return out


GOLDEN: Dict[str, str] = {
    'fdw id,data/tagged/1': '3 pages 7aa5c57b9d67f24b41fa1d8098ad2881',
    'fdw id,data/tagged/2': '3 pages 7aa5c57b9d67f24b41fa1d8098ad2881',
    'fdw id,data/simple/1': '3 pages 894f19662a54a158a1d531b567de5179',
    'fdw id,data/simple/2': '3 pages 894f19662a54a158a1d531b567de5179',
    'fdw id,data/decorated/1': '1 pages cc783e54716b188de15800660140e8fd',
    'fdw id,data/decorated/2': '1 pages cc783e54716b188de15800660140e8fd',
    'fdw id,ts,data/tagged/1': '3 pages 55948556d92849d4485494c1be59787c',
    'fdw id,ts,data/tagged/2': '3 pages 55948556d92849d4485494c1be59787c',
    'fdw id,ts,data/simple/1': '3 pages 0fe75051fa1dcca4af9a7785b26931b1',
    'fdw id,ts,data/simple/2': '3 pages 0fe75051fa1dcca4af9a7785b26931b1',
    'fdw id/tagged/1': '3 pages 2898d3ce72c029bd515e85c06498db93',
    'fdw id/tagged/2': '3 pages 2898d3ce72c029bd515e85c06498db93',
    'fdw id/simple/1': '3 pages 9ae4b90f9cbd0107391fbdb2d3ef95b9',
    'fdw id/simple/2': '3 pages 9ae4b90f9cbd0107391fbdb2d3ef95b9',
    'fdw all meta/tagged/1': '8 pages 2028c475b19e26c50550ec1b989e0589',
    'fdw all meta/tagged/2': '8 pages 2028c475b19e26c50550ec1b989e0589',
    'fdw all meta/simple/1': '8 pages 23efe186d8039e6522132b61b6da1f88',
    'fdw all meta/simple/2': '8 pages 23efe186d8039e6522132b61b6da1f88',
    'fdw fields/tagged/1': '5 pages 1ba559f4a3dbbedd402af6c687ff3f00',
    'fdw fields/tagged/2': '5 pages 1ba559f4a3dbbedd402af6c687ff3f00',
    'fdw fields/simple/1': '5 pages a7845a3cd7cc009aace108def04a3e8a',
    'fdw fields/simple/2': '5 pages a7845a3cd7cc009aace108def04a3e8a',
    'fdw nested/tagged/1': '4 pages 350fd8e7a0ec43708784b099a928c290',
    'fdw nested/tagged/2': '4 pages 350fd8e7a0ec43708784b099a928c290',
    'fdw nested/simple/1': '4 pages 3de87cf318c8c6bfe3581aa5147490ca',
    'fdw nested/simple/2': '4 pages 3de87cf318c8c6bfe3581aa5147490ca',
    'fdw parallel/tagged/1': '5 pages b1420040ef5e67bcd58a0dfb435236ae',
    'fdw parallel/tagged/2': '5 pages b1420040ef5e67bcd58a0dfb435236ae',
    'fdw parallel/simple/1': '5 pages 3ffa353de398ad41dcacd8d80ef81764',
    'fdw parallel/simple/2': '5 pages 3ffa353de398ad41dcacd8d80ef81764',
    'fdw parallel ts/tagged/1': '2 pages a59039778dafeb47ab76a2b250a99653',
    'fdw parallel ts/tagged/2': '2 pages a59039778dafeb47ab76a2b250a99653',
    'fdw parallel ts/simple/1': '2 pages c5ecf18feb95d7483e32b81651f70559',
    'fdw parallel ts/simple/2': '2 pages c5ecf18feb95d7483e32b81651f70559',
    'fdw where/tagged/1': '1 pages 65b8dabde36d6f4b79b7c0f6f9ee5268',
    'fdw where/tagged/2': '1 pages 65b8dabde36d6f4b79b7c0f6f9ee5268',
    'fdw where/simple/1': '1 pages 89e33b9fceb2587652e0022b0dccf278',
    'fdw where/simple/2': '1 pages 89e33b9fceb2587652e0022b0dccf278',
    'fdw byTs/tagged/1': '2 pages 3072ba8fc50475bd486209732a8a5f68',
    'fdw byTs/tagged/2': '2 pages 3072ba8fc50475bd486209732a8a5f68',
    'fdw byTs/simple/1': '2 pages 868ce93167ea32f1d1d9f9e4afe075e6',
    'fdw byTs/simple/2': '2 pages 868ce93167ea32f1d1d9f9e4afe075e6',
    'fdw limit/tagged/1': '2 pages bc631ada3874ebaa2826808764eb7b80',
    'fdw limit/tagged/2': '2 pages bc631ada3874ebaa2826808764eb7b80',
    'fdw limit/simple/1': '2 pages 4a63f50ad48de6923cc0cc89850b00ea',
    'fdw limit/simple/2': '2 pages 4a63f50ad48de6923cc0cc89850b00ea',
    'byCity/tagged/1': '3 pages 0175755261af08f2134979162aad17de',
    'byCity/tagged/2': '3 pages 0175755261af08f2134979162aad17de',
    'byCity/simple/1': '3 pages ff2518fd2ffe6fcfb9eed1453f704367',
    'byCity/simple/2': '3 pages ff2518fd2ffe6fcfb9eed1453f704367',
    'docs/tagged/1': '6 pages 97d608c9a2801f223fab432fb704f4c1',
    'docs/tagged/2': '6 pages 97d608c9a2801f223fab432fb704f4c1',
    'docs/simple/1': '6 pages 7f334201fffc3a4cc1d5b5f9fd7a415b',
    'docs/simple/2': '6 pages 7f334201fffc3a4cc1d5b5f9fd7a415b',
    'reverse/tagged/1': '3 pages 93e1f501bcdd1e738265828c989485db',
    'reverse/tagged/2': '3 pages 93e1f501bcdd1e738265828c989485db',
    'reverse/simple/1': '3 pages f9392534cfc9b37d6a1396f2833fdc71',
    'reverse/simple/2': '3 pages f9392534cfc9b37d6a1396f2833fdc71',
    'map/tagged/1': '3 pages fbf3fdd206a172125ceda5f7e661fb18',
    'map/tagged/2': '3 pages fbf3fdd206a172125ceda5f7e661fb18',
    'map/simple/1': '3 pages 0e7ef123d5a8a1bfd4200599576bf0bb',
    'map/simple/2': '3 pages 0e7ef123d5a8a1bfd4200599576bf0bb',
    'alias/tagged/1': '4 pages 196c1ed3400b7c15a25be5fff40c2289',
    'alias/tagged/2': '4 pages 196c1ed3400b7c15a25be5fff40c2289',
    'alias/simple/1': '4 pages 86885489cfaa109b7a7f645d627cc3c5',
    'alias/simple/2': '4 pages 86885489cfaa109b7a7f645d627cc3c5',
    'paginate/tagged/1': '80 pages 7081efdfe8044042a1720fd657b523a2',
    'paginate/tagged/2': '80 pages 7081efdfe8044042a1720fd657b523a2',
    'paginate/simple/1': '80 pages 7d4fade2bf69d9ff0faf4f27407c2da7',
    'paginate/simple/2': '80 pages 7d4fade2bf69d9ff0faf4f27407c2da7',
    'array/tagged/1': '1 pages b672a569e3174481c7390c3ae72d79a9',
    'array/tagged/2': '1 pages b672a569e3174481c7390c3ae72d79a9',
    'array/simple/1': '1 pages 63e8cb72263ea03382cc5ebd9809eb49',
    'array/simple/2': '1 pages 63e8cb72263ea03382cc5ebd9809eb49',
    'first/tagged/1': '1 pages 5173a50751e5ee05fd34589c6bda382d',
    'first/tagged/2': '1 pages 5173a50751e5ee05fd34589c6bda382d',
    'first/simple/1': '1 pages 4e3788f1732b286a8b3707830c85dd0a',
    'first/simple/2': '1 pages 4e3788f1732b286a8b3707830c85dd0a',
    'page small/tagged/1': '80 pages 312f979df388b5593356bfd9601e4758',
    'page small/tagged/2': '80 pages 312f979df388b5593356bfd9601e4758',
    'page small/simple/1': '80 pages 4bf73ea44a31c87a461634d56219b121',
    'page small/simple/2': '80 pages 4bf73ea44a31c87a461634d56219b121',
}


class PageWireTest(unittest.TestCase):
    def test_bytes_unchanged(self) -> None:
        got = wire_hashes()
        if os.environ.get("PAGE_WIRE_GOLDEN") == "print":
            print("GOLDEN = {")
            for k, v in got.items():
                print("    %r: %r," % (k, v))
            print("}")
        self.assertTrue(GOLDEN, "no golden hashes")
        self.assertEqual(set(got), set(GOLDEN))
        for k in GOLDEN:
            self.assertEqual(got[k], GOLDEN[k], k)


if __name__ == "__main__":
    unittest.main()
