"""The legacy FQL v4 API (`POST /`): exact bodies and statuses, the shared
store with FQL v10, index ranges, cursors and events.

Run:  python3 -m unittest emulator.tests.test_v4
"""

import base64
import json
import unittest
import urllib.error
import urllib.request

from emulator.faunaemu.server import start
from emulator.faunaemu.storage import Store

SECRET = "v4-secret"
T0 = 1704067200000000          # first logical write: 2024-01-01T00:00:00Z
MS = 1000


def cref(name, v4=True):
    k, ks = ("collection", "collections") if v4 else ("class", "classes")
    return {"@ref": {"id": name, k: {"@ref": {"id": ks}}}}


def dref(coll, id, v4=True):
    k = "collection" if v4 else "class"
    return {"@ref": {"id": id, k: cref(coll, v4)}}


def iref(name):
    return {"@ref": {"id": name, "collection": {"@ref": {"id": "indexes"}}}}


def obj(d):
    return {"object": d}


def create_doc(coll, data, id=None):
    target = {"collection": coll} if id is None else {"ref": {"collection": coll}, "id": id}
    return {"create": target, "params": obj({"data": obj(data)})}


class V4Test(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.srv = start("127.0.0.1", 0, Store(logical=True), SECRET)
        self.base = "http://127.0.0.1:%d" % self.srv.server_address[1]

    def tearDown(self):
        self.srv.shutdown()
        self.srv.server_close()

    # ------------------------------------------------------------ helpers
    def raw(self, path, body, secret=SECRET, v4=True, method="POST", bearer=False):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h = {}
        if secret is not None:
            h["Authorization"] = ("Bearer " + secret) if bearer else \
                "Basic " + base64.b64encode((secret + ":").encode()).decode()
        if v4:
            h["X-FaunaDB-API-Version"] = "4"
        req = urllib.request.Request(self.base + path, data=data, headers=h, method=method)
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, json.loads(r.read() or b"null"), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null"), dict(e.headers)

    def q(self, expr, **kw):
        return self.raw("/", expr, **kw)

    def ok(self, expr, **kw):
        st, body, _ = self.q(expr, **kw)
        self.assertIn(st, (200, 201), body)
        return body["resource"]

    def v10(self, src):
        st, body, _ = self.raw("/query/1", {"query": src}, bearer=True, v4=False)
        self.assertEqual(st, 200, body)
        return body["data"]

    def err(self, expr, status, code, position=None, description=None, **kw):
        st, body, _ = self.q(expr, **kw)
        self.assertEqual(st, status, body)
        e = body["errors"][0]
        self.assertEqual(e["code"], code, body)
        if position is not None:
            self.assertEqual(e["position"], position, body)
        if description is not None:
            self.assertEqual(e["description"], description, body)
        return e

    def setup_users(self):
        self.ok({"create_collection": obj({"name": "users"})})                       # T0
        self.ok({"create_index": obj({"name": "users_ts", "source": {"collection": "users"},
                                      "values": [obj({"field": ["ts"]}), obj({"field": ["ref"]})]})})
        self.ok({"do": [create_doc("users", {"n": i}, id=str(i)) for i in (1, 2, 3)]})  # T0+2ms

    # ------------------------------------------------------------ forms
    def test_create_collection_and_document_exact(self):
        st, body, h = self.q({"create_collection": obj({"name": "users"})})
        self.assertEqual(st, 201)
        self.assertEqual(body, {"resource": {"ref": cref("users"), "ts": T0, "history_days": 30,
                                             "name": "users"}})
        for k in ("x-txn-time", "x-faunadb-build", "x-query-bytes-in", "x-query-bytes-out",
                  "x-read-ops", "x-compute-ops", "x-write-ops", "x-storage-bytes-read",
                  "x-txn-retries", "x-query-time"):
            self.assertIn(k, {x.lower() for x in h}, k)
        self.assertEqual(h["x-txn-time"], str(T0))
        self.assertEqual(h["x-write-ops"], "1")
        st, body, _ = self.q(create_doc("users", {"name": "Ann", "born": {"@date": "1983-01-02"},
                                                  "at": {"@ts": "2020-01-01T00:00:00Z"},
                                                  "raw": {"@bytes": "AQID"},
                                                  "esc": {"@obj": {"@x": 1}}}, id="7"))
        self.assertEqual(st, 201)
        doc = {"ref": dref("users", "7"), "ts": T0 + MS,
               "data": {"name": "Ann", "born": {"@date": "1983-01-02"},
                        "at": {"@ts": "2020-01-01T00:00:00Z"}, "raw": {"@bytes": "AQID"},
                        "esc": {"@obj": {"@x": 1}}}}
        self.assertEqual(body, {"resource": doc})
        st, body, h = self.q({"get": {"ref": {"collection": "users"}, "id": "7"}})
        self.assertEqual((st, body), (200, {"resource": doc}))
        self.assertEqual(h["x-read-ops"], "1")

    def test_api_21_naming(self):
        self.ok({"create_collection": obj({"name": "users"})})
        self.ok(create_doc("users", {"a": 1}, id="1"))
        st, body, _ = self.q({"get": {"ref": {"class": "users"}, "id": "1"}}, v4=False)
        self.assertEqual(body["resource"]["ref"], dref("users", "1", v4=False))
        st, body, _ = self.q({"paginate": {"classes": None}}, v4=False)
        self.assertEqual(body, {"resource": {"data": [cref("users", v4=False)]}})
        # input in either naming
        st, body, _ = self.q({"get": dref("users", "1", v4=False)})
        self.assertEqual(st, 200)

    def test_select_let_map_filter_equals_time(self):
        self.setup_users()
        self.assertEqual(self.ok({"let": [{"x": 5}, {"y": {"var": "x"}}], "in": {"var": "y"}}), 5)
        self.assertEqual(self.ok({"select": ["a", 1], "from": obj({"a": [1, 2]})}), 2)
        self.assertEqual(self.ok({"select": ["a", "z"], "from": obj({"a": obj({})}), "default": None}), None)
        self.err({"select": ["a", "z"], "from": obj({"a": obj({})})}, 404, "value not found", [])
        self.assertEqual(self.ok({"equals": [1, 1, 1]}), True)
        self.assertEqual(self.ok({"equals": [dref("users", "1"), {"ref": {"collection": "users"}, "id": "1"}]}), True)
        self.assertEqual(self.ok({"to_micros": {"time": "2024-01-01T00:00:00.000001Z"}}), T0 + 1)
        self.assertEqual(self.ok({"now": None}), {"@ts": "2024-01-01T00:00:00.002Z"})
        r = self.ok({"map": {"lambda": "r", "expr": {"select": ["data", "n"], "from": {"get": {"var": "r"}}}},
                     "collection": {"paginate": {"documents": {"collection": "users"}}}})
        self.assertEqual(r, {"data": [1, 2, 3]})
        r = self.ok({"filter": {"lambda": ["t", "r"], "expr": {"equals": [{"var": "r"}, dref("users", "2")]}},
                     "collection": {"paginate": {"match": {"index": "users_ts"}}}})
        self.assertEqual(r, {"data": [[T0 + 2 * MS, dref("users", "2")]]})
        self.assertEqual(self.ok({"exists": {"ref": {"collection": "users"}, "id": "9"}}), False)
        self.assertEqual(self.ok({"exists": {"ref": {"collection": "users"}, "id": "1"}}), True)

    def test_update_delete_at(self):
        self.setup_users()
        r = self.ok({"update": {"ref": {"collection": "users"}, "id": "1"},
                     "params": obj({"data": obj({"n": None, "m": 2})})})
        self.assertEqual(r, {"ref": dref("users", "1"), "ts": T0 + 3 * MS, "data": {"m": 2}})
        r = self.ok({"delete": {"ref": {"collection": "users"}, "id": "1"}})
        self.assertEqual(r["data"], {"m": 2})
        self.err({"get": {"ref": {"collection": "users"}, "id": "1"}}, 404, "instance not found", [],
                 "Document not found.")
        old = self.ok({"at": T0 + 2 * MS, "expr": {"get": {"ref": {"collection": "users"}, "id": "1"}}})
        self.assertEqual(old["data"], {"n": 1})
        old = self.ok({"get": {"ref": {"collection": "users"}, "id": "1"}, "ts": {"@ts": "2024-01-01T00:00:00.003Z"}})
        self.assertEqual(old["data"], {"m": 2})

    # ------------------------------------------------------------ errors
    def test_error_statuses(self):
        self.setup_users()
        self.err({"foo": 1}, 400, "invalid expression", [],
                 "No form/function found, or invalid argument keys: { foo }.")
        self.err({"paginate": {"documents": {"collection": "users"}}, "size": "x"}, 400,
                 "invalid argument", ["size"])
        e = self.err({"create_collection": obj({})}, 400, "validation failed", [])
        self.assertEqual(e["failures"][0]["field"], ["name"])
        self.err({"get": {"collection": "nope"}}, 400, "invalid ref", ["get"],
                 "Ref refers to undefined collection 'nope'")
        self.err({"paginate": {"match": {"index": "nope"}}}, 400, "invalid ref", ["paginate", "match"],
                 "Ref refers to undefined index 'nope'")
        self.err({"create_collection": obj({"name": "users"})}, 400, "instance already exists", [])
        self.err({"abort": "no"}, 400, "transaction aborted", [], "no")
        st, body, _ = self.q({"now": None}, secret="bad")
        self.assertEqual((st, body), (401, {"errors": [{"code": "unauthorized", "description": "Unauthorized"}]}))
        st, body, _ = self.q({"now": None}, secret=None)
        self.assertEqual(st, 401)
        self.err({"get": {"ref": {"collection": "users"}, "id": "99"}}, 404, "instance not found", [])
        # 403: a key whose role has no privileges
        self.ok({"create_role": obj({"name": "nobody", "privileges": []})})
        key = self.ok({"create_key": obj({"role": {"role": "nobody"}})})
        self.assertEqual(key["role"], {"@ref": {"id": "nobody", "collection": {"@ref": {"id": "roles"}}}})
        self.err({"paginate": {"documents": {"collection": "users"}}}, 403, "permission denied",
                 ["paginate"], secret=key["secret"])
        self.err({"create_collection": obj({"name": "x"})}, 403, "permission denied", [], secret=key["secret"])
        # the rest through the fault API, matched by path
        for status, code in ((409, "contended transaction"), (429, "too many requests"),
                             (500, "internal server error"), (503, "unavailable")):
            st, _, _ = self.raw("/_emulator/faults", {"kind": "status", "status": status, "path": "/"},
                                bearer=True, v4=False)
            self.assertEqual(st, 200)
            self.err({"now": None}, status, code)
        # a /query/1 fault does not hit POST /
        self.raw("/_emulator/faults", {"kind": "status", "status": 503, "path": "/query/1"}, bearer=True, v4=False)
        self.assertEqual(self.q({"now": None})[0], 200)

    def test_exists_of_missing_collection_and_index(self):
        """Collection("x") / Index("x") only build the ref, as in Fauna: Exists
        is false; the undefined ref is an error where it is used."""
        self.setup_users()
        self.assertEqual(self.q({"exists": {"collection": "nope"}})[:2], (200, {"resource": False}))
        self.assertEqual(self.q({"exists": {"index": "nope"}})[:2], (200, {"resource": False}))
        self.assertEqual(self.q({"exists": {"class": "nope"}}, v4=False)[:2], (200, {"resource": False}))
        self.assertEqual(self.q({"exists": {"collection": "users"}})[:2], (200, {"resource": True}))
        self.assertEqual(self.q({"exists": {"index": "users_ts"}})[:2], (200, {"resource": True}))
        self.assertEqual(self.q({"collection": "nope"})[:2], (200, {"resource": cref("nope")}))
        # the common idiom: create the collection unless it exists
        idiom = {"if": {"exists": {"collection": "things"}}, "then": "had it",
                 "else": {"create_collection": obj({"name": "things"})}}
        self.assertEqual(self.ok(idiom)["name"], "things")
        self.assertEqual(self.ok(idiom), "had it")
        # used, the undefined ref is still an error, positioned where it is used
        und = {"errors": [{"position": ["get"], "code": "invalid ref",
                           "description": "Ref refers to undefined collection 'nope'"}]}
        self.assertEqual(self.q({"get": {"collection": "nope"}})[:2], (400, und))
        self.err({"paginate": {"documents": {"collection": "nope"}}}, 400, "invalid ref",
                 ["paginate", "documents"], "Ref refers to undefined collection 'nope'")
        self.err({"paginate": {"match": {"index": "nope"}}}, 400, "invalid ref",
                 ["paginate", "match"], "Ref refers to undefined index 'nope'")
        self.err({"create": {"collection": "nope"}, "params": obj({"data": obj({"a": 1})})}, 400,
                 "invalid ref", ["create"], "Ref refers to undefined collection 'nope'")
        self.err({"delete": {"collection": "nope"}}, 400, "invalid ref", ["delete"],
                 "Ref refers to undefined collection 'nope'")
        self.err({"create_index": obj({"name": "x", "source": {"collection": "nope"}})}, 400,
                 "invalid ref", [], "Ref refers to undefined collection 'nope'")
        self.err({"create_role": obj({"name": "r", "privileges": [obj({
            "resource": {"collection": "nope"}, "actions": obj({"read": True})})]})}, 400,
                 "invalid ref", [], "Ref refers to undefined collection 'nope'")
        self.assertEqual(self.q({"exists": {"ref": {"collection": "nope"}, "id": "1"}})[:2],
                         (200, {"resource": False}))

    def test_writes_to_one_document_in_one_transaction(self):
        """One version per document per transaction: one event, one index entry."""
        self.setup_users()                                                  # up to T0+2ms
        self.ok({"do": [create_doc("users", {"n": 5}, id="5"),              # T0+3ms
                        {"update": {"ref": {"collection": "users"}, "id": "5"},
                         "params": obj({"data": obj({"n": 50})})},
                        create_doc("users", {"n": 6}, id="6"),
                        {"delete": {"ref": {"collection": "users"}, "id": "6"}}]})
        evs = self.ok({"paginate": {"documents": {"collection": "users"}}, "events": True,
                       "after": T0 + 3 * MS})
        self.assertEqual(evs["data"], [{"ts": T0 + 3 * MS, "action": "create",
                                        "document": dref("users", "5"), "data": {"n": 50}}])
        page = self.ok({"paginate": {"match": {"index": "users_ts"}}})
        self.assertEqual(page["data"], [[T0 + 2 * MS, dref("users", str(i))] for i in (1, 2, 3)] +
                         [[T0 + 3 * MS, dref("users", "5")]])
        self.assertEqual(self.ok({"exists": dref("users", "6")}), False)

    def test_failed_query_undoes_writes_and_log(self):
        self.ok({"create_collection": obj({"name": "users"})})
        self.err({"do": [create_doc("users", {"a": 1}, id="5"), {"abort": "x"}]}, 400, "transaction aborted", ["do", 1])
        self.assertEqual(self.ok({"exists": {"ref": {"collection": "users"}, "id": "5"}}), False)
        st, log, _ = self.raw("/_emulator/log", b"", bearer=True, v4=False, method="GET")
        paths = [(r["method"], r["path"], r["status"]) for r in log["requests"]]
        self.assertIn(("POST", "/", 400), paths)

    # ------------------------------------------------------------ shared store
    def test_v10_to_v4_and_back(self):
        self.v10('Collection.create({ name: "Books" })')
        doc = self.v10('Books.create({ id: "11", title: "Dune", at: Time("2020-01-01T00:00:00Z") })')
        self.assertEqual(doc["id"], "11")
        r = self.ok({"get": {"ref": {"collection": "Books"}, "id": "11"}})
        self.assertEqual(r["data"], {"title": "Dune", "at": {"@ts": "2020-01-01T00:00:00Z"}})
        self.assertEqual(r["ref"], dref("Books", "11"))
        self.assertEqual(self.ok({"paginate": {"collections": None}}), {"data": [cref("Books")]})
        # v4 writes, v10 reads
        self.ok(create_doc("Books", {"title": "Emma", "other": dref("Books", "11")}, id="12"))
        self.assertEqual(self.v10('Books.byId("12")!.other.title'), "Dune")
        self.ok({"create_collection": obj({"name": "Films"})})
        self.ok(create_doc("Films", {"t": "Alien"}))
        self.assertEqual(self.v10("Films.all().toArray().map(.t)"), ["Alien"])
        # v10 updates reach a v4 index
        self.ok({"create_index": obj({"name": "books_by_title", "source": {"collection": "Books"},
                                      "terms": [obj({"field": ["data", "title"]})]})})
        self.v10('Books.byId("11")!.update({ title: "Dune2" })')
        self.assertEqual(self.ok({"paginate": {"match": {"index": "books_by_title"}, "terms": "Dune2"}}),
                         {"data": [dref("Books", "11")]})
        self.assertEqual(self.ok({"paginate": {"match": {"index": "books_by_title"}, "terms": "Dune"}}),
                         {"data": []})

    def test_non_finite_doubles_are_valid_json(self):
        self.v10('Collection.create({ name: "Nums" })')
        self.v10('Nums.create({ id: "1", nan: Math.sqrt(-1), inf: Math.log(0) * -1, '
                 'ninf: Math.log(0), x: 1.5 })')
        st, raw, _ = self.raw_text("/", {"get": {"ref": {"collection": "Nums"}, "id": "1"}})
        self.assertEqual(st, 200, raw)
        def strict(c):
            raise ValueError("bare %s in a v4 response" % c)
        data = json.loads(raw, parse_constant=strict)["resource"]["data"]
        self.assertEqual(data, {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity", "x": 1.5})

    def test_doubles_are_written_as_java_does(self):
        # the core's v4 JSON writer formats doubles with Double.toString
        self.v10('Collection.create({ name: "Dbl" })')
        self.v10('Dbl.create({ id: "1", big: 1.0e10, huge: 1e16, small: 0.001, one: 1.0, n: 3 })')
        st, raw, _ = self.raw_text("/", {"select": "data", "from": {"get": {"ref": {"collection": "Dbl"}, "id": "1"}}})
        self.assertEqual(st, 200, raw)
        self.assertEqual(raw, '{"resource":{"big":1.0E10,"huge":1.0E16,"small":0.001,"one":1.0,"n":3}}')

    def test_times_before_year_1000_have_four_digit_years(self):
        self.assertEqual(self.ok({"time": "0001-01-01T00:00:00Z"}), {"@ts": "0001-01-01T00:00:00Z"})
        self.assertEqual(self.ok({"time": "0500-06-01T12:00:00.5Z"}), {"@ts": "0500-06-01T12:00:00.500Z"})

    def raw_text(self, path, body):
        req = urllib.request.Request(
            self.base + path, data=json.dumps(body).encode(),
            headers={"Authorization": "Basic " + base64.b64encode((SECRET + ":").encode()).decode(),
                     "X-FaunaDB-API-Version": "4"}, method="POST")
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode(), dict(r.headers)

    # ------------------------------------------------------------ ranges and cursors
    def test_range_inclusive(self):
        self.ok({"create_collection": obj({"name": "nums"})})
        self.ok({"create_index": obj({"name": "nums_by_n", "source": {"collection": "nums"},
                                      "values": [obj({"field": ["data", "n"]}), obj({"field": ["ref"]})]})})
        self.ok({"do": [create_doc("nums", {"n": n}, id=str(10 + n)) for n in range(6)]})
        m = {"match": {"index": "nums_by_n"}}
        r = self.ok({"paginate": {"range": m, "from": 2, "to": 4}})
        self.assertEqual([x[0] for x in r["data"]], [2, 3, 4])
        r = self.ok({"paginate": {"range": m, "from": [4], "to": []}})
        self.assertEqual([x[0] for x in r["data"]], [4, 5])
        r = self.ok({"paginate": {"range": m, "from": [], "to": [1]}})
        self.assertEqual([x[0] for x in r["data"]], [0, 1])
        # a full [value, ref] bound is inclusive too
        r = self.ok({"paginate": {"range": m, "from": [3, dref("nums", "13")], "to": [3, dref("nums", "13")]}})
        self.assertEqual(r["data"], [[3, dref("nums", "13")]])

    def test_cursors(self):
        self.setup_users()
        m = {"match": {"index": "users_ts"}}
        p1 = self.ok({"paginate": m, "size": 2})
        t = T0 + 2 * MS
        self.assertEqual(p1, {"data": [[t, dref("users", "1")], [t, dref("users", "2")]],
                              "after": [t, dref("users", "3"), dref("users", "3")]})
        # after is inclusive; the page reports the before cursor
        p2 = self.ok({"paginate": m, "size": 2, "after": p1["after"]})
        self.assertEqual(p2, {"before": [t, dref("users", "3"), dref("users", "3")],
                              "data": [[t, dref("users", "3")]]})
        # before is exclusive
        p0 = self.ok({"paginate": m, "size": 2, "before": p2["before"]})
        self.assertEqual(p0["data"], p1["data"])
        # cursors do not pin the snapshot: a later write shows up on the next page...
        self.ok(create_doc("users", {"n": 4}, id="4"))                          # T0+3ms
        p2b = self.ok({"paginate": m, "size": 2, "after": p1["after"]})
        self.assertEqual([x[1] for x in p2b["data"]], [dref("users", "3"), dref("users", "4")])
        # ...unless the reader pins it with ts (or At)
        p2c = self.ok({"paginate": m, "size": 2, "after": p1["after"], "ts": t})
        self.assertEqual(len(p2c["data"]), 1)
        p2d = self.ok({"at": t, "expr": {"paginate": m, "size": 2, "after": p1["after"]}})
        self.assertEqual(p2d["data"], p2c["data"])
        # Documents(Collection) cursors are [ref]
        d1 = self.ok({"paginate": {"documents": {"collection": "users"}}, "size": 3})
        self.assertEqual(d1["after"], [dref("users", "4")])
        d2 = self.ok({"paginate": {"documents": {"collection": "users"}}, "size": 3, "after": d1["after"]})
        self.assertEqual(d2, {"before": [dref("users", "4")], "data": [dref("users", "4")]})

    def test_events(self):
        self.setup_users()
        self.ok({"update": {"ref": {"collection": "users"}, "id": "2"}, "params": obj({"data": obj({"n": 20})})})  # +3ms
        self.ok({"delete": {"ref": {"collection": "users"}, "id": "3"}})                                  # +4ms
        t = T0 + 2 * MS
        evs = self.ok({"paginate": {"documents": {"collection": "users"}}, "events": True, "after": t + MS})
        self.assertEqual(evs, {"before": {"ts": t + MS, "action": "update", "document": dref("users", "2")},
                               "data": [
            {"ts": t + MS, "action": "update", "document": dref("users", "2"), "data": {"n": 20}},
            {"ts": t + 2 * MS, "action": "delete", "document": dref("users", "3")}]})
        allev = self.ok({"paginate": {"documents": {"collection": "users"}}, "events": True, "size": 2})
        self.assertEqual([e["action"] for e in allev["data"]], ["create", "create"])
        nxt = self.ok({"paginate": {"documents": {"collection": "users"}}, "events": True, "size": 10,
                       "after": allev["after"]})
        self.assertEqual([e["action"] for e in nxt["data"]], ["create", "update", "delete"])
        sev = self.ok({"paginate": {"match": {"index": "users_ts"}}, "events": True, "after": t + MS})
        self.assertEqual([(e["action"], e["document"]["@ref"]["id"], e["ts"]) for e in sev["data"]],
                         [("remove", "2", t + MS), ("add", "2", t + MS), ("remove", "3", t + 2 * MS)])
        self.assertEqual(sev["data"][1]["data"], [t + MS, dref("users", "2")])

    def test_delete_event_and_the_document_before_it(self):
        """A delete event has no data; the document as it was is read at the
        delete's ts - 1 (what fauna_fdw's v4 event tables do for removes)."""
        self.setup_users()
        self.ok({"delete": {"ref": {"collection": "users"}, "id": "3"}})
        ev = self.ok({"paginate": {"documents": {"collection": "users"}}, "events": True,
                      "after": T0 + 3 * MS})["data"]
        self.assertEqual(ev, [{"ts": T0 + 3 * MS, "action": "delete", "document": dref("users", "3")}])
        r = dref("users", "3")
        self.assertEqual(self.ok({"exists": r, "ts": T0 + 3 * MS}), False)
        self.assertEqual(self.ok({"exists": r, "ts": {"add": [T0 + 3 * MS, -1]}}), True)
        self.assertEqual(self.ok({"select": "data", "from": {"get": r, "ts": T0 + 3 * MS - 1}}), {"n": 3})
        # an event cursor sent back wrapped in {"object": ...}, as drivers do
        allev = self.ok({"paginate": {"documents": {"collection": "users"}}, "events": True, "size": 2})
        nxt = self.ok({"at": T0 + 3 * MS, "expr": {"paginate": {"documents": {"collection": "users"}},
                                                    "events": True, "size": 2,
                                                    "after": obj(allev["after"])}})
        self.assertEqual([(e["action"], e["document"]["@ref"]["id"]) for e in nxt["data"]],
                         [("create", "3"), ("delete", "3")])

    # ------------------------------------------------------------ v4-only values
    def native(self, name):
        return {"@ref": {"id": name}}

    def test_v4_only_values_round_trip(self):
        self.ok({"create_collection": obj({"name": "vals"})})
        self.ok({"create_index": obj({"name": "idx", "source": {"collection": "vals"},
                                      "terms": [obj({"field": ["data", "name"]})]})})

        def sref(id, kind):
            return {"@ref": {"id": id, "collection": self.native(kind)}}
        deep = {"@ref": {"id": "5", "collection": dref("foo", "1234")}}
        scoped = {"@ref": {"id": "c", "collection": self.native("collections"),
                           "database": sref("child", "databases")}}
        cases = [
            sref("my_db", "databases"), sref("k1", "keys"), sref("t1", "tokens"),
            sref("c1", "credentials"), sref("fn", "functions"), sref("r1", "roles"),
            sref("ap", "access_providers"), sref("some_index", "indexes"),
            self.native("databases"), deep, scoped,
            {"@query": {"lambda": "x", "expr": {"var": "x"}}},
            {"@query": {"lambda": ["a", "b"], "expr": {"add": [{"var": "a"}, {"var": "b"}]}}},
            {"@set": {"match": iref("idx"), "terms": "a"}},
            {"@set": {"documents": cref("vals")}},
            [sref("my_db", "databases"), {"k": deep}],
        ]
        for i, v in enumerate(cases):
            with self.subTest(value=v):
                arg = [v[0], obj(v[1])] if isinstance(v, list) else v
                d = self.ok({"create": {"ref": {"collection": "vals"}, "id": str(100 + i)},
                             "params": obj({"data": obj({"name": "n%d" % i, "v": arg})})})
                self.assertEqual(d["data"]["v"], v)
                g = self.ok({"get": {"ref": {"collection": "vals"}, "id": str(100 + i)}})
                self.assertEqual(g["data"], {"name": "n%d" % i, "v": v})
        # read back in a page too, and selected
        page = self.ok({"map": {"lambda": "x", "expr": {"select": ["data", "v"], "from": {"get": {"var": "x"}}}},
                        "collection": {"paginate": {"documents": {"collection": "vals"}}}})
        self.assertEqual(page["data"], cases)
        # an update keeps them
        self.ok({"update": {"ref": {"collection": "vals"}, "id": "100"},
                 "params": obj({"data": obj({"w": 1})})})
        g = self.ok({"get": {"ref": {"collection": "vals"}, "id": "100"}})
        self.assertEqual(g["data"], {"name": "n0", "v": cases[0], "w": 1})
        # the stored @set is still a set
        self.assertEqual(self.ok({"equals": [{"@set": {"match": iref("idx"), "terms": "a"}},
                                             {"match": {"index": "idx"}, "terms": "a"}]}), True)

    def test_v4_only_values_api_21_naming(self):
        self.ok({"create_collection": obj({"name": "vals"})})
        v = {"@ref": {"id": "my_db", "collection": self.native("databases")}}
        self.ok({"create": {"ref": {"collection": "vals"}, "id": "1"}, "params": obj({"data": obj({"v": v})})})
        g = self.ok({"get": {"ref": {"class": "vals"}, "id": "1"}}, v4=False)
        self.assertEqual(g["data"]["v"], {"@ref": {"id": "my_db", "class": self.native("databases")}})

    def test_v4_only_values_read_through_v10(self):
        """v10 has no such values: it reads their v4 JSON as a plain object
        (escaped with @object in the tagged format)."""
        self.ok({"create_collection": obj({"name": "vals"})})
        db = {"@ref": {"id": "my_db", "collection": self.native("databases")}}
        q = {"@query": {"lambda": "x", "expr": {"var": "x"}}}
        self.ok({"create": {"ref": {"collection": "vals"}, "id": "1"},
                 "params": obj({"data": obj({"db": db, "q": q})})})
        st, body, _ = self.raw("/query/1", {"query": "vals.byId('1')"}, bearer=True, v4=False)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["data"]["db"], db)
        self.assertEqual(body["data"]["q"], q)
        st, body, _ = self.raw("/query/1", {"query": "vals.byId('1')!.db"}, bearer=True, v4=False)
        self.assertEqual(body["data"], db)
        req = urllib.request.Request(self.base + "/query/1",
                                     data=json.dumps({"query": "vals.byId('1')!.db"}).encode(),
                                     headers={"Authorization": "Bearer " + SECRET, "x-format": "tagged"})
        with urllib.request.urlopen(req) as r:
            tagged = json.loads(r.read())["data"]
        self.assertEqual(tagged, {"@object": {"@ref": {"id": "my_db", "collection": {
            "@object": {"@ref": {"id": "databases"}}}}}})

    def test_malformed_refs_still_refused(self):
        self.ok({"create_collection": obj({"name": "vals"})})
        for bad in ({"@ref": {"id": 1}}, {"@ref": {"id": "x", "collection": "c"}},
                    {"@ref": {"id": "x", "other": 1}}):
            with self.subTest(value=bad):
                self.err({"create": {"collection": "vals"}, "params": obj({"data": obj({"v": bad})})},
                         400, "invalid expression")


if __name__ == "__main__":
    unittest.main()
