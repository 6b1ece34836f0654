"""Unit and HTTP tests of the emulator (server started in-process on port 0).

Run from the repo root:  python3 -m unittest emulator.tests.test_emulator
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from faunaemu import parser as P  # noqa: E402
from faunaemu.errors import QueryError  # noqa: E402
from faunaemu.loader import load_file  # noqa: E402
from faunaemu.server import start  # noqa: E402
from faunaemu.storage import Store  # noqa: E402
from faunaemu.wire import java_double  # noqa: E402

SECRET = "unit-secret"


class ParserTests(unittest.TestCase):
    def test_shorthand_becomes_lambda(self) -> None:
        root = P.parse("Users.all().where(.ts > t)")
        call = root.stmts[0]
        self.assertIsInstance(call, P.Call)
        self.assertIsInstance(call.args[0], P.Lambda)
        self.assertEqual(call.args[0].params, [P.THIS])

    def test_projection_after_page_size(self) -> None:
        root = P.parse("Users.all().pageSize(10) { id, address { city } }")
        proj = root.stmts[0]
        self.assertIsInstance(proj, P.Projection)
        self.assertEqual(proj.fields[1].name, "address")
        self.assertEqual(proj.fields[1].nested[0].name, "city")

    def test_block_vs_object(self) -> None:
        self.assertIsInstance(P.parse("{ a: 1 }").stmts[0], P.Obj)
        self.assertIsInstance(P.parse("{ let x = 1; x }").stmts[0], P.Block)

    def test_newline_chain_and_statements(self) -> None:
        root = P.parse("let a = 1\nUsers\n  .all()")
        self.assertEqual(len(root.stmts), 2)

    def test_syntax_error(self) -> None:
        with self.assertRaises(QueryError) as cm:
            P.parse("1 +")
        self.assertEqual(cm.exception.code, "invalid_query")

    def test_strings(self) -> None:
        self.assertEqual(P.parse(r"'a\'b'").stmts[0].value, "a'b")
        self.assertEqual(P.parse(r'"x\u{41}\n"').stmts[0].value, "xA\n")

    def test_java_double(self) -> None:
        self.assertEqual(java_double(1e10), "1.0E10")
        self.assertEqual(java_double(1.5), "1.5")
        self.assertEqual(java_double(1e-4), "1.0E-4")


class ServerTest(unittest.TestCase):
    store: Store

    @classmethod
    def setUpClass(cls) -> None:
        cls.store = Store(logical=True)
        cls.srv = start("127.0.0.1", 0, cls.store, SECRET)
        cls.port = cls.srv.server_address[1]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.srv.shutdown()
        cls.srv.server_close()

    def setUp(self) -> None:
        with self.store.lock:
            self.store.reset()
        self.srv.faults.clear()

    def req(self, method: str, path: str, body: object = None, secret: str | None = SECRET,
            headers: dict | None = None) -> tuple:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = {"Content-Type": "application/json"}
        if secret is not None:
            h["Authorization"] = f"Bearer {secret}"
        h.update(headers or {})
        data = json.dumps(body) if body is not None else None
        c.request(method, path, data, h)
        r = c.getresponse()
        raw = r.read()
        c.close()
        return r.status, (json.loads(raw) if raw else None), dict(r.getheaders())

    def q(self, query: object, fmt: str = "tagged", secret: str = SECRET, **kw: object) -> tuple:
        body = {"query": query}
        body.update(kw)
        st, b, _ = self.req("POST", "/query/1", body, secret, {"x-format": fmt})
        return st, b

    def ok(self, query: object, fmt: str = "tagged", secret: str = SECRET) -> object:
        st, b = self.q(query, fmt, secret)
        self.assertEqual(st, 200, b)
        return b["data"]

    def setup_users(self, n: int = 3) -> None:
        self.ok('Collection.create({ name: "Users", indexes: { byTs: { values: [{ field: ".ts", '
                'order: "asc" }] }, byEmail: { terms: [{ field: ".email" }] } } })')
        for i in range(n):
            self.ok(f'Users.create({{ name: "u{i}", email: "e{i}", n: {i} }})')


class QueryTests(ServerTest):
    def test_literals_tagged_and_simple(self) -> None:
        self.assertEqual(self.ok("[1, 9007199254740993, 1.5, 'a', null, true]"),
                         [{"@int": "1"}, {"@long": "9007199254740993"}, {"@double": "1.5"},
                          "a", None, True])
        self.assertEqual(self.ok("{ a: 1, b: [2] }", "simple"), {"a": 1, "b": [2]})
        self.assertEqual(self.ok('Time("2024-01-01T00:00:00Z").toMicros()'),
                         {"@long": "1704067200000000"})

    def test_success_body_shape(self) -> None:
        st, b = self.q("1 + 1")
        self.assertEqual(st, 200)
        self.assertEqual(b["summary"], "")
        self.assertEqual(set(b["stats"]), {"compute_ops", "read_ops", "write_ops", "query_time_ms",
                                           "contention_retries", "storage_bytes_read",
                                           "storage_bytes_write", "rate_limits_hit"})
        self.assertGreaterEqual(b["stats"]["compute_ops"], 1)
        self.assertNotIn("query_tags", b)

    def test_logical_clock(self) -> None:
        st, b = self.q('Collection.create({ name: "C" })')
        self.assertEqual(b["txn_ts"], 1704067200000000)
        st, b = self.q('C.create({ a: 1 })')
        self.assertEqual(b["txn_ts"], 1704067200001000)
        self.assertEqual(b["data"]["@doc"]["id"], "400000000000000001")
        self.assertEqual(b["data"]["@doc"]["ts"], {"@time": "2024-01-01T00:00:00.001Z"})
        st, b = self.q('C.all().count()')
        self.assertEqual(b["txn_ts"], 1704067200001000)   # reads do not advance

    def test_template_and_arguments(self) -> None:
        self.setup_users()
        d = self.ok({"fql": ["Users.byEmail(", {"value": "e1"}, ").first()!.name"]})
        self.assertEqual(d, "u1")
        st, b = self.q("x + 1", arguments={"x": {"@int": "41"}})
        self.assertEqual(b["data"], {"@int": "42"})

    def test_projection_of_reserved_fields(self) -> None:
        # `coll`, `ts`, `id` are document fields too, so a projection keeps them
        self.setup_users(1)
        d = self.ok("Users.all().pageSize(1) { id, coll, ts, name }")["@set"]["data"][0]
        self.assertEqual(d["coll"], {"@mod": "Users"})
        self.assertEqual(d["id"], "400000000000000001")
        self.assertEqual(d["ts"], {"@time": "2024-01-01T00:00:00.001Z"})
        self.assertEqual(d["name"], "u0")

    def test_pagination_and_snapshot(self) -> None:
        self.setup_users(5)
        p1 = self.ok("Users.all().pageSize(2) { name }")
        self.assertEqual([x["name"] for x in p1["@set"]["data"]], ["u0", "u1"])
        after = p1["@set"]["after"]
        # a write between pages must not be seen by later pages
        self.ok('Users.create({ name: "late" })')
        self.ok('Users.all().first()!.delete()')
        names = []
        while after:
            page = self.ok({"fql": ["Set.paginate(", {"value": after}, ")"]})
            names += [x["name"] for x in page["data"]]
            after = page.get("after")
        self.assertEqual(names, ["u2", "u3", "u4"])

    def test_index_range_inclusive_and_order(self) -> None:
        self.setup_users(4)
        docs = self.ok("Users.byTs().toArray()", "simple")
        ts = [d["ts"] for d in docs]
        sub = self.ok({"fql": ["Users.byTs({ from: Time(", {"value": ts[1]}, "), to: Time(",
                               {"value": ts[2]}, ") }).toArray().map(.name)"]}, "simple")
        self.assertEqual(sub, ["u1", "u2"])
        desc = self.ok('Collection.byName("Users")!.update({ indexes: { byTsDesc: { values: '
                       '[{ field: "ts", order: "desc" }] } } })', "simple")
        self.assertIn("byTsDesc", desc["indexes"])
        self.assertEqual(self.ok("Users.byTsDesc().toArray().map(.name)", "simple"),
                         ["u3", "u2", "u1", "u0"])

    def test_null_doc(self) -> None:
        self.setup_users(0)
        self.assertEqual(self.ok('Users.byId("123")'),
                         {"@ref": {"id": "123", "coll": {"@mod": "Users"}, "exists": False,
                                   "cause": "not found"}})
        self.assertIsNone(self.ok('Users.byId("123") { id }'))
        self.assertFalse(self.ok('Users.byId("123").exists()'))
        st, b = self.q('Users.byId("123")!')
        self.assertEqual((st, b["error"]["code"]), (400, "document_not_found"))

    def test_history_at(self) -> None:
        self.setup_users(1)
        self.ok('Users.all().first()!.update({ name: "new" })')
        old = self.ok('at (Time("2024-01-01T00:00:00.001Z")) { Users.all().first()!.name }')
        self.assertEqual(old, "u0")

    def test_errors(self) -> None:
        st, b = self.q("Nope.all()")
        self.assertEqual(st, 400)
        self.assertEqual(b["error"], {"code": "invalid_query",
                                      "message": "The query failed 1 validation check"})
        self.assertEqual(b["summary"], "error: Unbound variable `Nope`\nat *query*:1:1\n  |\n"
                                       "1 | Nope.all()\n  | ^^^^\n  |")
        st, b = self.q("abort('x')")
        self.assertEqual((st, b["error"]["code"], b["error"]["abort"]), (400, "abort", "x"))
        st, b = self.q("[1].toSet().pageSize(0)")
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_bounds"))
        st, b = self.q("Set.paginate('garbage-cursor-garbage-cursor-garbage')")
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_cursor"))
        st, b = self.q("'a'.nothing()")
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_query"))
        st, b = self.q("1 +")
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_query"))

    def test_failed_query_rolls_back(self) -> None:
        self.setup_users(0)
        st, b = self.q('Users.create({ name: "x" })\nabort(1)')
        self.assertEqual(st, 400)
        self.assertEqual(self.ok("Users.all().count()"), {"@int": "0"})

    def test_protocol_errors(self) -> None:
        st, b, h = self.req("POST", "/query/1", {"query": "1"}, secret=None)
        self.assertEqual((st, b["error"]["code"], h.get("WWW-Authenticate")),
                         (401, "unauthorized", "Bearer"))
        st, b, _ = self.req("POST", "/query/1", {"query": "1"}, secret="bad")
        self.assertEqual((st, b["error"]["code"]), (401, "unauthorized"))
        for h in ({"x-query-timeout-ms": "0"}, {"x-query-tags": "bad tag=1"},
                  {"x-format": "xml"}, {"x-typecheck": "maybe"}):
            st, b, _ = self.req("POST", "/query/1", {"query": "1"}, headers=h)
            self.assertEqual((st, b["error"]["code"]), (400, "invalid_request"), h)
        st, b, _ = self.req("POST", "/query/1", {"query": "1"}, headers={"x-query-tags": "a=1,b=x"})
        self.assertEqual(b["query_tags"], "a=1,b=x")

    def test_keys_and_roles(self) -> None:
        self.setup_users(1)
        self.ok('Collection.create({ name: "Secret" })')
        self.ok('Role.create({ name: "reader", privileges: [{ resource: "Users", '
                'actions: { read: true } }] })')
        secret = self.ok('Key.create({ role: "reader" }).secret')
        self.assertEqual(self.ok("Users.all().count()", secret=secret), {"@int": "1"})
        st, b = self.q('Users.create({ name: "x" })', secret=secret)
        self.assertEqual((st, b["error"]["code"]), (400, "permission_denied"))
        st, b = self.q('Secret.all()', secret=secret)
        self.assertEqual((st, b["error"]["code"]), (400, "permission_denied"))
        ro = self.ok('Key.create({ role: "server-readonly" }).secret')
        st, b = self.q('Users.create({ name: "x" })', secret=ro)
        self.assertEqual((st, b["error"]["code"]), (400, "permission_denied"))

    def test_feed(self) -> None:
        self.setup_users(0)
        tok = self.ok("Users.where(.n > 0).eventSource()")["@stream"]
        self.ok('Users.create({ name: "a", n: 1 })')
        self.ok('Users.create({ name: "b", n: 0 })')
        self.ok('Users.where(.name == "a").first()!.update({ n: 2 })')
        self.ok('Users.where(.name == "b").first()!.update({ n: 5 })')
        self.ok('Users.where(.name == "a").first()!.delete()')
        st, page, _ = self.req("POST", "/feed/1", {"token": tok, "page_size": 3},
                               headers={"x-format": "tagged"})
        self.assertEqual(st, 200, page)
        types = [(e["type"], e["data"]["@doc"]["name"]) for e in page["events"]]
        self.assertEqual(types, [("add", "a"), ("update", "a"), ("add", "b")])
        self.assertTrue(page["has_next"])
        st, page2, _ = self.req("POST", "/feed/1", {"token": tok, "cursor": page["cursor"]},
                                headers={"x-format": "tagged"})
        self.assertEqual([(e["type"], e["data"]["@doc"]["name"], e["data"]["@doc"]["n"])
                          for e in page2["events"]], [("remove", "a", {"@int": "2"})])
        self.assertFalse(page2["has_next"])
        st, b, _ = self.req("POST", "/feed/1", {"token": "INVALID!"})
        self.assertEqual((st, b["error"]["message"]),
                         (400, "Invalid request body: invalid event source provided."))


class ControlTests(ServerTest):
    def test_status_fault_then_recovery_and_log(self) -> None:
        st, b, _ = self.req("POST", "/_emulator/faults",
                            {"kind": "status", "status": 429, "count": 2, "path": "/query/1"})
        self.assertEqual(st, 200)
        for _ in range(2):
            st, b = self.q("1")
            self.assertEqual((st, b["error"]["code"]), (429, "limit_exceeded"))
        st, b = self.q("1")
        self.assertEqual(st, 200)
        st, log, _ = self.req("GET", "/_emulator/log")
        entries = [e for e in log["requests"] if e["path"] == "/query/1"]
        self.assertEqual([e["status"] for e in entries[-3:]], [429, 429, 200])
        self.assertEqual(entries[-1]["headers"]["authorization"], "<redacted>")

    def test_log_elapsed_ms(self) -> None:
        self.req("DELETE", "/_emulator/log")
        self.req("POST", "/_emulator/faults", {"kind": "delay", "delay_ms": 150, "path": "/query/1"})
        self.q("1")
        self.q("1")
        st, log, _ = self.req("GET", "/_emulator/log")
        slow, fast = [e["elapsed_ms"] for e in log["requests"] if e["path"] == "/query/1"]
        self.assertGreaterEqual(slow, 150)
        self.assertLess(fast, 150)
        self.assertGreaterEqual(fast, 0)

    def test_content_type_and_body_faults(self) -> None:
        self.req("POST", "/_emulator/faults", {"kind": "content_type", "content_type": "text/html"})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("POST", "/query/1", body=json.dumps({"query": "1 + 1"}),
                     headers={"Authorization": "Bearer " + SECRET})
        r = conn.getresponse()
        self.assertEqual((r.status, r.getheader("Content-Type")), (200, "text/html"))
        self.assertEqual(json.loads(r.read())["data"], 2)
        conn.close()
        self.req("POST", "/_emulator/faults", {"kind": "body", "body": '{"data": null}'})
        st, b = self.q("1 + 1")
        self.assertEqual((st, b), (200, {"data": None}))
        st, b = self.q("1 + 1")
        self.assertEqual((st, b["data"]), (200, {"@int": "2"}))
        st, b, _ = self.req("POST", "/_emulator/faults", {"kind": "body"})
        self.assertEqual(st, 400)

    def test_control_needs_admin(self) -> None:
        st, _, _ = self.req("GET", "/_emulator/log", secret=None)
        self.assertEqual(st, 401)
        key = self.ok('Key.create({ role: "server" }).secret')
        st, _, _ = self.req("GET", "/_emulator/log", secret=key)
        self.assertEqual(st, 403)

    def test_page_fault_and_truncated(self) -> None:
        self.ok('Collection.create({ name: "T" })')
        self.ok('[1, 2, 3].forEach(i => T.create({ i: i }))')
        self.req("POST", "/_emulator/faults", {"kind": "status", "status": 503, "page": 2})
        p1 = self.ok("T.all().pageSize(1)")
        st, b = self.q({"fql": ["Set.paginate(", {"value": p1["@set"]["after"]}, ")"]})
        self.assertEqual((st, b["error"]["code"]), (503, "time_out"))
        self.req("POST", "/_emulator/faults", {"kind": "truncated"})
        s = socket.create_connection(("127.0.0.1", self.port))
        body = b'{"query":"1"}'
        s.sendall(b"POST /query/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SECRET.encode() +
                  b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0]
                     .split(b":")[1])
        self.assertGreater(length, len(rest))

    def test_reset(self) -> None:
        self.ok('Collection.create({ name: "R" })')
        st, _, _ = self.req("POST", "/_emulator/reset")
        self.assertEqual(st, 200)
        st, b = self.q("R.all()")
        self.assertEqual(st, 400)


class DriverGapTests(ServerTest):
    """Fixes for the gaps in emulator/tests/drivers/KNOWN_GAPS.md."""

    def test_time_units_singular_plural_half_day(self) -> None:
        # core FQL2TimeSpec "add" / "subtract"
        units = [("nanosecond", "1970-01-01T00:00:00.000000001Z"),
                 ("microsecond", "1970-01-01T00:00:00.000001Z"),
                 ("millisecond", "1970-01-01T00:00:00.001Z"),
                 ("second", "1970-01-01T00:00:01Z"), ("minute", "1970-01-01T00:01:00Z"),
                 ("hour", "1970-01-01T01:00:00Z"), ("half day", "1970-01-01T12:00:00Z"),
                 ("day", "1970-01-02T00:00:00Z")]
        for u, want in units:
            for name in (u, u + "s"):
                self.assertEqual(self.ok(f'Time("1970-01-01T00:00:00Z").add(1, "{name}")'),
                                 {"@time": want}, name)
        self.assertEqual(self.ok('Time("1970-01-01T00:00:00Z").subtract(1, "half days")'),
                         {"@time": "1969-12-31T12:00:00Z"})
        self.assertEqual(self.ok('Time("1970-01-01T00:00:00Z").subtract(1, "day")'),
                         {"@time": "1969-12-31T00:00:00Z"})
        self.assertEqual(self.ok('Time("1970-01-02T00:00:00Z").difference('
                                 'Time("1970-01-01T00:00:00Z"), "half day")'), {"@int": "2"})

    def test_time_error_messages(self) -> None:
        # core FQL2TimeSpec "error on invalid time" / "error on invalid unit"
        st, b = self.q('Time("2020-01-01 01:01:01")')
        self.assertEqual((st, b["error"]), (400, {
            "code": "invalid_time", "message": "`2020-01-01 01:01:01` is not a valid time."}))
        st, b = self.q('Time("2020-01-01T01:01:01Z").add(1, "invalid")')
        self.assertEqual((st, b["error"]), (400, {
            "code": "invalid_unit", "message": "`invalid` is not a valid time unit."}))
        st, b = self.q('Time.epoch(1, "days")')
        self.assertEqual((st, b["error"]), (400, {
            "code": "invalid_unit", "message": "`days` is not a valid time unit."}))

    def test_cursor_keeps_parenthesized_lambda_body(self) -> None:
        # core FQL2PaginationSpec "set pagination works with closed over globals"
        self.ok('Collection.create({ name: "Q" })')
        self.ok("Set.sequence(0, 40).forEach(i => Q.create({ foo: i }))")
        for query in ("Q.all().where(d => (d == Q) || true)",
                      "Q.all().where(d => (d.foo) >= (0)).pageSize(7)",
                      "Q.all().where((.foo) >= 0).pageSize(7)",
                      "Q.all().pageSize(7) { foo, x: (.foo) + (1) }"):
            page = self.ok(query, "simple")
            got = [d["foo"] for d in page["data"]]
            after = page.get("after")
            while after:
                page = self.ok({"fql": ["Set.paginate(", {"value": after}, ")"]}, "simple")
                got += [d["foo"] for d in page["data"]]
                after = page.get("after")
            self.assertEqual(got, list(range(40)), query)
        page = self.ok("Q.all().pageSize(1) { x: (.foo) + (1) }", "simple")
        payload = json.loads(base64.urlsafe_b64decode(page["after"] + "==")[16:])
        self.assertEqual(payload["d"]["ops"][0]["f"][0]["x"]["b"], "(.foo) + (1)")
        page = self.ok("Q.all().where(d => (d == Q) || true).pageSize(1)", "simple")
        payload = json.loads(base64.urlsafe_b64decode(page["after"] + "==")[16:])
        self.assertEqual(payload["d"]["ops"][0]["fn"]["b"], "(d == Q) || true")

    def test_lambda_body_source_extent(self) -> None:
        src = "x => (x.a) + (1)"
        lam = P.parse(src).stmts[0]
        self.assertEqual(src[lam.body_src[0]:lam.body_src[1]], "(x.a) + (1)")
        self.assertEqual(lam.span, (0, len(src)))

    def test_order_asc_desc(self) -> None:
        self.assertEqual(self.ok("[3, 1, 2].order(desc(x => x))", "simple"), [3, 2, 1])
        self.assertEqual(self.ok("[3, 1, 2].order(asc(x => x))", "simple"), [1, 2, 3])
        self.assertEqual(self.ok("[{ a: 1, b: 2 }, { a: 1, b: 3 }, { a: 0, b: 1 }]"
                                 ".order(.a, desc(.b)).map(.b)", "simple"), [1, 3, 2])
        self.ok('Collection.create({ name: "Q" })')
        self.ok("Set.sequence(1, 21).forEach(i => Q.create({ foo: i }))")
        page = self.ok("Q.all().order(desc(.foo))", "simple")
        got = [d["foo"] for d in page["data"]]
        page = self.ok({"fql": ["Set.paginate(", {"value": page["after"]}, ")"]}, "simple")
        got += [d["foo"] for d in page["data"]]
        self.assertEqual(got, list(range(20, 0, -1)))
        st, b = self.q("[1, 2].order(1)")
        self.assertEqual((st, b["error"]), (400, {
            "code": "invalid_argument",
            "message": "expected value for `ordering` of type function or ordering "
                       "(`asc(...)`, `desc(...)`), received Int"}))
        st, b = self.q("desc(1)")
        self.assertEqual((st, b["error"]), (400, {
            "code": "invalid_argument",
            "message": "expected value for `accessor` of type function, received Int"}))
        st, b = self.q("asc()")
        self.assertEqual((st, b["error"]), (400, {
            "code": "invalid_function_invocation",
            "message": "callee function expects exactly 1 argument, but 0 were provided"}))

    def test_math_java_semantics(self) -> None:
        nan, inf, ninf = {"@double": "NaN"}, {"@double": "Infinity"}, {"@double": "-Infinity"}
        cases = [("Math.sqrt(-1)", nan), ("Math.sqrt(4)", {"@double": "2.0"}),
                 ("Math.log(0)", ninf), ("Math.log(-1)", nan), ("Math.log10(100)", {"@double": "2.0"}),
                 ("Math.acos(2)", nan), ("Math.asin(-2)", nan), ("Math.sin(1.0 / 0.0)", nan),
                 ("Math.pow(0, -1)", inf), ("Math.pow(-0.0, -1)", ninf), ("Math.pow(-8, 0.5)", nan),
                 ("Math.pow(10, 400)", inf), ("Math.pow(-10, 401)", ninf), ("Math.pow(2, 3)", {"@double": "8.0"}),
                 ("Math.exp(1000)", inf), ("Math.sinh(-1000)", ninf), ("Math.cosh(-1000)", inf),
                 ("Math.floor(1.0 / 0.0)", inf), ("Math.ceil(0.0 / 0.0)", nan), ("Math.floor(1.5)", {"@double": "1.0"}),
                 ("Math.max(0.0 / 0.0, 1)", nan), ("Math.max(1, 0.0 / 0.0)", nan), ("Math.min(1, 2)", {"@int": "1"}),
                 ("Math.max(1, 2.5)", {"@double": "2.5"}), ("Math.abs(-3)", {"@int": "3"}),
                 ("1.0 % 0.0", nan), ("5 % 0.0", nan), ("(1.0 / 0.0) % 2", nan), ("-7 % 3", {"@int": "-1"}),
                 ("9223372036854775807 % 10", {"@int": "7"}),
                 ("0 ** -1", inf), ("0.0 ** -1", inf), ("(-8) ** 0.5", nan), ("2 ** 10", {"@int": "1024"}),
                 ("2 ** 64", {"@double": "1.8446744073709552E19"}), ("2 ** 9999999", inf)]
        for query, want in cases:
            self.assertEqual(self.ok(query), want, query)
        self.assertEqual(self.ok('"abc".split("")', "simple"), ["a", "b", "c"])
        errors = [("Math.abs(-9223372036854775807 - 1)", "integer_overflow", "Integer overflow."),
                  ("-(-9223372036854775807 - 1)", "integer_overflow", "Integer overflow."),
                  ("Math.abs()", "invalid_function_invocation",
                   "callee function expects exactly 1 argument, but 0 were provided"),
                  ("Math.max(1)", "invalid_function_invocation",
                   "callee function expects exactly 2 arguments, but 1 were provided"),
                  ("Math.pow(2, 'a')", "invalid_argument",
                   "expected value for `exponent` of type Number, received String"),
                  ('Time("9999-12-31T23:59:59Z").add(1, "days")', "invalid_time",
                   "The resulting time is out of range."),
                  ('Time.epoch(9223372036854775807, "seconds")', "invalid_time",
                   "The resulting time is out of range.")]
        for query, code, msg in errors:
            st, b = self.q(query)
            self.assertEqual((st, b["error"]), (400, {"code": code, "message": msg}), query)

    def test_unexpected_python_error_is_a_fauna_error(self) -> None:
        from faunaemu import builtins as B
        saved = B.MODULE_FUNCS[("Math", "abs")]
        B.MODULE_FUNCS[("Math", "abs")] = lambda ev, args: 1 // 0
        stderr = sys.stderr
        try:
            sys.stderr = open(os.devnull, "w")
            st, b = self.q("1 + Math.abs(1)")
        finally:
            sys.stderr.close()
            sys.stderr = stderr
            B.MODULE_FUNCS[("Math", "abs")] = saved
        self.assertEqual(st, 400)
        self.assertEqual(b["error"], {"code": "invalid_argument",
                                      "message": "The arguments of this expression cannot be evaluated."})
        self.assertEqual(b["summary"], "error: The arguments of this expression cannot be evaluated.\n"
                                       "at *query*:1:5\n  |\n1 | 1 + Math.abs(1)\n  |     ^^^^^^^^^^^\n  |")


class LoadTests(unittest.TestCase):
    def test_load_file(self) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.write(json.dumps({"collection": {"name": "L", "indexes": {
                "byTs": {"values": [{"field": "ts"}]}}}}) + "\n")
            f.write(json.dumps({"coll": "L", "id": "7", "data": {"t": {"@time": "2024-02-01T00:00:00Z"},
                                                                 "n": {"@int": "3"}}}) + "\n")
            f.write(json.dumps({"coll": "L", "data": {"n": {"@int": "4"}}}) + "\n")
            name = f.name
        try:
            st = Store(logical=True)
            self.assertEqual(load_file(st, name), 2)
            c = st.coll("L")
            self.assertEqual(len(c.latest), 2)
            self.assertEqual(len(c.indexes["byTs"].keys), 2)
            self.assertIn(7, c.latest)
        finally:
            os.unlink(name)


if __name__ == "__main__":
    unittest.main()
