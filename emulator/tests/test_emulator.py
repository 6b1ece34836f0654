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
from faunaemu.storage import Store  # noqa: E402
from faunaemu.wire import java_double  # noqa: E402
from .support import EmulatorCase  # noqa: E402

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


class ServerTest(EmulatorCase):
    secret = SECRET

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
        self.req("POST", "/_emulator/faults", {"kind": "body", "status": 503, "body": '{"x": 1}'})
        st, b = self.q("1 + 1")
        self.assertEqual((st, b), (503, {"x": 1}))
        st, b, _ = self.req("POST", "/_emulator/faults", {"kind": "body", "body": "", "status": "5"})
        self.assertEqual(st, 400)

    def test_reverse_members_fault(self) -> None:
        self.ok('Collection.create({ name: "R" })')
        self.ok('R.create({ a: 1, b: { c: 2, d: 3 } })')
        self.req("POST", "/_emulator/faults", {"kind": "reverse_members"})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("POST", "/query/1", body=json.dumps({"query": "R.all().pageSize(1) { a, b }"}),
                     headers={"Authorization": "Bearer " + SECRET, "x-format": "tagged"})
        r = conn.getresponse()
        text = r.read().decode()
        conn.close()
        body = json.loads(text, object_pairs_hook=list)
        # top level and nested objects alike: the last member comes first
        self.assertEqual([k for k, _ in body][-1], "data")
        page = dict(dict(body)["data"])["@set"]
        self.assertEqual([k for k, _ in page], ["data"])   # one document: no cursor
        doc = page[0][1][0]
        self.assertEqual([k for k, _ in doc], ["b", "a"])
        self.assertEqual([k for k, _ in dict(doc)["b"]], ["d", "c"])
        # the next answer is in the usual order again
        st, b = self.q("{ x: 1, y: 2 }")
        self.assertEqual(list(b["data"].keys()), ["x", "y"])

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
            "message": "callee function expects exactly 1 argument, but 0 were provided."}))

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
                   "callee function expects exactly 1 argument, but 0 were provided."),
                  ("Math.max(1)", "invalid_function_invocation",
                   "callee function expects exactly 2 arguments, but 1 was provided."),
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


T0 = 1704067200000000          # the logical clock's first write: 2024-01-01T00:00:00Z
MS = 1000
NO_WRITE_TS = T0 - MS          # txn_ts of a read-only query on a fresh logical store


def stats(compute: int = 1, read: int = 0, write: int = 0, bytes_read: int = 0,
          bytes_write: int = 0) -> dict:
    return {"compute_ops": compute, "read_ops": read, "write_ops": write, "query_time_ms": 0,
            "contention_retries": 0, "storage_bytes_read": bytes_read,
            "storage_bytes_write": bytes_write, "rate_limits_hit": []}


def summary(msg: str, src: str, start: int, end: int) -> str:
    """The core's single-line rendering (0-based [start, end) of `src`)."""
    return (f"error: {msg}\nat *query*:1:{start + 1}\n  |\n1 | {src}\n"
            f"  | {' ' * start}{'^' * (end - start)}\n  |")


class ExactServerTest(ServerTest):
    maxDiff = None

    def exact(self, query: object, fmt: str = "tagged", secret: str = SECRET,
              headers: dict | None = None, **kw: object) -> tuple:
        """(status, body) of a query; stats.query_time_ms (measured) set to 0."""
        body = {"query": query}
        body.update(kw)
        h = {"x-format": fmt}
        h.update(headers or {})
        st, b, _ = self.req("POST", "/query/1", body, secret, h)
        if isinstance(b, dict) and isinstance(b.get("stats"), dict):
            self.assertIsInstance(b["stats"]["query_time_ms"], int)
            b["stats"]["query_time_ms"] = 0
        return st, b

    def qerr(self, code: str, message: str, summ: str, txn_ts: int = NO_WRITE_TS,
             schema_version: int = 0, st: dict | None = None, **extra: object) -> dict:
        err = {"code": code, "message": message}
        err.update(extra)
        return {"error": err, "summary": summ, "txn_ts": txn_ts,
                "stats": st if st is not None else stats(), "schema_version": schema_version}

    def feed(self, body: dict) -> tuple:
        st, b, _ = self.req("POST", "/feed/1", body, headers={"x-format": "tagged"})
        return st, b


class SameTransactionWriteTests(ExactServerTest):
    """Audit item 1: several writes to one document in one query."""

    def test_create_then_update_is_one_version(self) -> None:
        self.ok('Collection.create({ name: "H", indexes: { byTs: { values: '
                '[{ field: ".ts", order: "asc" }] } } })')                          # T0
        q = "let d = H.create({ a: 1 })\nd.update({ a: 2 })\nH.byTs().count()"
        st, b = self.exact(q)                                                       # T0+1ms
        # read: the index's 8 partitions and its one entry (16 bytes, 8 per
        # covered value), not the document; written: both writes
        # ('"a":{"@int":"2"}' is 16 bytes, + 80 per document)
        self.assertEqual((st, b), (200, {"data": {"@int": "1"}, "summary": "", "txn_ts": T0 + MS,
                                         "stats": stats(1, 8, 2, 24, 192),
                                         "schema_version": T0}))
        docs = self.ok("H.byTs() { id, a }")["@set"]["data"]
        self.assertEqual(docs, [{"id": "400000000000000001", "a": {"@int": "2"}}])
        st, b, _ = self.req("GET", "/_emulator/stats")
        self.assertEqual(b["collections"]["H"], {"documents": 1, "versions": 1})

    def test_one_feed_event_per_document_per_transaction(self) -> None:
        self.ok('Collection.create({ name: "H", indexes: { byTs: { values: '
                '[{ field: ".ts", order: "asc" }] } } })')                          # T0
        tok = self.ok("H.all().eventSource()")["@stream"]
        self.ok("let d = H.create({ a: 1 })\nd.update({ a: 2 })\nd.update({ a: 3 })")  # +1 ms
        self.ok("let d = H.create({ a: 9 })\nd.delete()")                               # +2 ms: nothing
        self.ok('let d = H.all().first()!\nd.update({ a: 4 })\nd.update({ a: 5 })')   # +3 ms
        self.ok('let d = H.all().first()!\nd.update({ a: 6 })\nd.delete()')           # +4 ms
        st, page = self.feed({"token": tok})
        self.assertEqual(st, 200, page)

        def doc(ts: int, a: int) -> dict:
            return {"@doc": {"id": "400000000000000001", "coll": {"@mod": "H"},
                             "ts": {"@time": "2024-01-01T00:00:00.%03dZ" % ((ts - T0) // MS)},
                             "a": {"@int": str(a)}}}
        for e in page["events"]:
            self.assertIsInstance(e.pop("cursor"), str)
            self.assertIsInstance(e.pop("stats"), dict)
        self.assertEqual(page["events"], [
            {"type": "add", "data": doc(T0 + MS, 3), "txn_ts": T0 + MS},
            {"type": "update", "data": doc(T0 + 3 * MS, 5), "txn_ts": T0 + 3 * MS},
            {"type": "remove", "data": doc(T0 + 3 * MS, 5), "txn_ts": T0 + 4 * MS}])
        self.assertFalse(page["has_next"])
        self.assertEqual(self.ok("H.byTs().count()"), {"@int": "0"})
        st, b, _ = self.req("GET", "/_emulator/stats")
        self.assertEqual(b["collections"]["H"], {"documents": 1, "versions": 3})

    def test_failed_transaction_restores_replaced_versions(self) -> None:
        self.ok('Collection.create({ name: "H", indexes: { byA: { terms: [{ field: ".k" }], '
                'values: [{ field: ".a" }] } } })')
        self.ok('H.create({ k: "x", a: 1 })')
        for q in ('let d = H.all().first()!\nd.update({ a: 2 })\nd.update({ a: 3 })\nabort(0)',
                  'let d = H.all().first()!\nd.update({ a: 2 })\nd.delete()\nabort(0)',
                  'let d = H.create({ k: "x", a: 7 })\nd.update({ a: 8 })\nd.delete()\nabort(0)'):
            self.assertEqual(self.q(q)[0], 400, q)
            self.assertEqual(self.ok('H.byA("x") { a }')["@set"]["data"], [{"a": {"@int": "1"}}], q)
            self.assertEqual(self.ok("H.all().count()"), {"@int": "1"}, q)
        st, b, _ = self.req("GET", "/_emulator/stats")
        self.assertEqual(b["collections"]["H"], {"documents": 1, "versions": 1})


class AuditFixTests(ExactServerTest):
    def test_lexer_errors_are_invalid_query(self) -> None:
        """Audit item 2: bad escapes and number literals are syntax errors."""
        cases = [(r"'\u{zz}'", "Invalid unicode escape: expected 1 to 6 hex digits between "
                                "`{` and `}`", 1, 5),
                 (r"'\u{110000}'", "Invalid escape sequence: outside of valid unicode range", 1, 11),
                 (r"'\uD800'", "Invalid escape sequence: surrogates are disallowed", 1, 7),
                 ("0x", "Invalid number literal `0x`", 0, 2),
                 ("0xZZ", "Invalid number literal `0xZZ`", 0, 4),
                 ("0b", "Invalid number literal `0b`", 0, 2)]
        for src, msg, start, end in cases:
            st, b = self.exact(src)
            self.assertEqual((st, b), (400, self.qerr("invalid_query", "The query failed 1 validation check",
                                                      summary(msg, src, start, end))), src)
        self.assertEqual(self.ok(r"'\u{41}\x42\u0043'"), "ABC")

    def test_parser_exceptions_are_invalid_query(self) -> None:
        from faunaemu import parser as PP
        src = "[" * 300 + "]" * 300
        st, b = self.exact(src)
        self.assertEqual((st, b), (400, self.qerr("invalid_query", "The query failed 1 validation check",
                                                  summary("Query is too deeply nested", src, 0, 600))))
        saved = PP.parse
        PP.parse = lambda src, allow_dollar=False: 1 // 0
        stderr = sys.stderr
        try:
            sys.stderr = open(os.devnull, "w")
            st, b = self.exact("1")
        finally:
            sys.stderr.close()
            sys.stderr = stderr
            PP.parse = saved
        self.assertEqual((st, b), (400, self.qerr("invalid_query", "The query failed 1 validation check",
                                                  summary("Invalid query", "1", 0, 1))))

    def test_create_data_reserved_names_go_under_data(self) -> None:
        """Audit item 3 (FQL2DocSpec "*Data variants")."""
        self.ok('Collection.create({ name: "Users" })')                             # T0
        for q, data, want in (('Users.createData({ ts: "x" })', {"ts": "x"}, ("400000000000000001", 1, False)),
                              ('Users.createData({ id: "x", a: 0, update: 0 })',
                               {"id": "x", "update": {"@int": "0"}}, ("400000000000000002", 2, True))):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            c.request("POST", "/query/1", json.dumps({"query": q}),
                      {"Authorization": "Bearer " + SECRET, "x-format": "tagged"})
            text = c.getresponse().read()
            c.close()

            def no_dup(pairs: list) -> dict:
                keys = [k for k, _ in pairs]
                self.assertEqual(len(keys), len(set(keys)), text)
                return dict(pairs)
            b = json.loads(text, object_pairs_hook=no_dup)
            d = {"id": want[0], "coll": {"@mod": "Users"},
                 "ts": {"@time": "2024-01-01T00:00:00.%03dZ" % want[1]}}
            if want[2]:
                d["a"] = {"@int": "0"}
            d["data"] = data
            self.assertEqual(b["data"], {"@doc": d}, q)
        # every user field is in `doc.data`; the meta fields stay the document's
        got = self.ok('let d = Users.byId("400000000000000002")!\n'
                      '{ id: d.id, data: d.data, a: d.a }', "simple")
        self.assertEqual(got, {"id": "400000000000000002",
                               "data": {"id": "x", "a": 0, "update": 0}, "a": 0})
        got = self.ok('Users.byId("400000000000000002")!.updateData({ ttl: 5 }) { ttl, data }',
                      "simple")
        self.assertEqual(got, {"ttl": None, "data": {"id": "x", "a": 0, "update": 0, "ttl": 5}})
        self.assertEqual(self.ok('Users.byId("400000000000000002")', "simple"),
                         {"id": "400000000000000002", "coll": "Users", "ts": "2024-01-01T00:00:00.003Z",
                          "a": 0, "data": {"id": "x", "update": 0, "ttl": 5}})

    def test_reserved_fields_are_constraint_failures(self) -> None:
        """Audit item 4 (FQL2DocSpec, FQL2ReservedFieldAndDataAccessSpec)."""
        self.ok('Collection.create({ name: "Users" })')                             # T0
        self.ok('Users.create({ a: 1 })')                                           # T0+1ms: id ...01
        src = "Users.create({a:0, update:0})"
        st, b = self.exact(src)
        self.assertEqual((st, b), (400, self.qerr(
            "constraint_failure", "Failed to create document in collection `Users`.",
            summary("Failed to create document in collection `Users`.\nconstraint failures:\n"
                    "  update: Is a reserved field and cannot be used", src, 12, 29),
            T0 + MS, T0, constraint_failures=[{"paths": [["update"]],
                                               "message": "Is a reserved field and cannot be used"}])))
        for field in ("ts", "coll", "id", "data", "exists"):
            src = f'Users.byId("400000000000000001")!.update({{ {field}: 1 }})'
            st, b = self.exact(src)
            msg = "Failed to update document with id 400000000000000001 in collection `Users`."
            self.assertEqual((st, b), (400, self.qerr(
                "constraint_failure", msg,
                summary(msg + f"\nconstraint failures:\n  {field}: Is a reserved field and cannot be used",
                        src, src.index("({"), len(src)),
                T0 + MS, T0, stats(1, 1, 0, 96), constraint_failures=[{"paths": [[field]],
                                                   "message": "Is a reserved field and cannot be used"}])),
                field)
        # replace is worded "update" too; several lines: the core's multi-line rendering
        src = 'let doc = Users.byId("400000000000000001")!\ndoc.replace({\n  ts: 1\n})'
        st, b = self.exact(src)
        msg = "Failed to update document with id 400000000000000001 in collection `Users`."
        self.assertEqual(b["summary"], f"error: {msg}\nconstraint failures:\n"
                                       "  ts: Is a reserved field and cannot be used\n"
                                       "at *query*:2:12\n  |\n2 |   doc.replace({\n  |  ____________^\n"
                                       "3 | |   ts: 1\n4 | | })\n  | |__^\n  |")
        # a ttl that is not a time
        src = 'Users.create({ a: 1, ttl: "x" })'
        st, b = self.exact(src)
        self.assertEqual((st, b), (400, self.qerr(
            "constraint_failure", "Failed to create document in collection `Users`.",
            summary("Failed to create document in collection `Users`.\nconstraint failures:\n"
                    "  ttl: Expected Time | Null, provided String", src, 12, len(src)),
            T0 + MS, T0, constraint_failures=[{"paths": [["ttl"]],
                                               "message": "Expected Time | Null, provided String"}])))
        src = 'Users.byId("400000000000000001")!.update({ ttl: 3 })'
        st, b = self.exact(src)
        self.assertEqual((st["code"] if isinstance(st, dict) else st, b["error"]), (400, {
            "code": "constraint_failure", "message": msg,
            "constraint_failures": [{"paths": [["ttl"]], "message": "Expected Time | Null, provided Int"}]}))
        # the *Data variants take them (as user fields)
        self.assertEqual(self.ok('Users.byId("400000000000000001")!.updateData({ update: 1 }).data',
                                 "simple"), {"a": 1, "update": 1})

    def test_argument_counts(self) -> None:
        """Audit item 4: the core's invalid_function_invocation for arity."""
        self.ok('Collection.create({ name: "Users" })')                             # T0
        for src in ("TransactionTime(1)", "newId(1)", "Users.all().count(1)", "Users.all().first(1)",
                    "[1, 2].first(1)", "Time.now(1)", "'a'.toUpperCase(1)"):
            st, b = self.exact(src)
            msg = "callee function expects no arguments, but 1 was provided."
            self.assertEqual((st, b), (400, self.qerr(
                "invalid_function_invocation", msg, summary(msg, src, src.rindex("("), len(src)),
                T0, T0)), src)
        src = "let f = (x, y) => x\nf(1)"
        st, b = self.exact(src)
        msg = "callee function expects exactly 2 arguments, but 1 was provided."
        self.assertEqual((st, b["error"], b["summary"]), (400, {
            "code": "invalid_function_invocation", "message": msg},
            f"error: {msg}\nat *query*:2:2\n  |\n2 | f(1)\n  |  ^^^\n  |"))
        for src, t in (("[1, 2, 3].length()", "Int"), ("'abc'.length()", "Int"),
                       ("{ a: 1 }.a()", "Int")):
            st, b = self.exact(src)
            msg = f"`{src.split('.')[-1][:-2]}`: Expected a function, found `{t}`"
            self.assertEqual((st, b), (400, self.qerr(
                "invalid_function_invocation", msg, summary(msg, src, len(src) - 2, len(src)),
                T0, T0)), src)
        self.assertEqual(self.ok("[1, 2, 3].length"), {"@int": "3"})
        self.assertEqual(self.ok("{ f: x => x + 1 }.f(1)"), {"@int": "2"})

    def test_integer_literals_beyond_long(self) -> None:
        """Audit item 4: FQL2EncodedResultSpec "number lits encode as numbers":
        Long.MaxValue + 1 is a Double, never a @long the drivers cannot read."""
        self.assertEqual(self.ok("9223372036854775807"), {"@long": "9223372036854775807"})
        self.assertEqual(self.ok("-9223372036854775808"), {"@long": "-9223372036854775808"})
        self.assertEqual(self.ok("9223372036854775808"), {"@double": "9.223372036854776E18"})
        self.assertEqual(self.ok("-9223372036854775809"), {"@double": "-9.223372036854776E18"})
        self.assertEqual(self.ok("0xFFFFFFFFFFFFFFFF"), {"@double": "1.8446744073709552E19"})
        self.assertEqual(self.ok("1" + "0" * 400), {"@double": "Infinity"})
        self.assertEqual(self.ok("9223372036854775808", "simple"), 9.223372036854776e18)

    def test_query_timeout_inside_set_scans(self) -> None:
        """Audit item 5 and a real 440: the deadline is checked while a set is scanned."""
        st, b, h = self.req("POST", "/query/1", {"query": "Set.sequence(0, 3000000).count()"},
                            headers={"x-query-timeout-ms": "1"})
        self.assertEqual((st, b), (440, {"error": {"code": "time_out", "message": "Query timed out."}}))
        self.ok('Collection.create({ name: "Big" })')
        self.ok("Set.sequence(0, 3000).forEach(i => Big.create({ i: i }))")
        st, b, _ = self.req("POST", "/query/1", {"query": "Big.all().count() + Big.all().count() + "
                                                          "Big.all().count() + Big.all().count()"},
                            headers={"x-query-timeout-ms": "1"})
        self.assertEqual((st, b), (440, {"error": {"code": "time_out", "message": "Query timed out."}}))
        st, b, _ = self.req("POST", "/query/1", {"query": "Big.all().count()"},
                            headers={"x-query-timeout-ms": "60000"})
        self.assertEqual((st, b["data"]), (200, 3000))

    def test_dangling_ref_in_a_field(self) -> None:
        """A ref stored in a field stays a plain ref, whether its document
        exists, was deleted, never was or may not be read (the core
        materializes only the documents a result holds:
        MaterializedValue.materialize); a missing document at the top of a
        result is null in the simple format and a ref with its cause in the
        tagged one."""
        self.ok('Collection.create({ name: "H" })')                                 # T0
        self.ok('Collection.create({ name: "Secret" })')                            # +1
        self.ok('H.create({ n: 1 })')                                               # +2: ...01
        self.ok('Secret.create({ s: 1 })')                                          # +3: ...02
        self.ok('H.create({ r: H.byId("400000000000000001"), rs: [H.byId("999")], '
                'o: { s: Secret.byId("400000000000000002") } })')                   # +4: ...03
        ref = {"@ref": {"id": "400000000000000001", "coll": {"@mod": "H"}}}
        never = {"@ref": {"id": "999", "coll": {"@mod": "H"}}}
        sec = {"@ref": {"id": "400000000000000002", "coll": {"@mod": "Secret"}}}
        holder = {"@doc": {"id": "400000000000000003", "coll": {"@mod": "H"},
                           "ts": {"@time": "2024-01-01T00:00:00.004Z"}, "r": ref, "rs": [never],
                           "o": {"s": sec}}}
        self.assertEqual(self.ok('H.byId("400000000000000003")'), holder)
        self.ok('H.byId("400000000000000001")!.delete()')
        st, b = self.exact('H.byId("400000000000000003")')
        # storage_bytes_read: the stored fields' tagged size + 80
        size = len('"r":{"@ref":{"id":"400000000000000001","coll":{"@mod":"H"}}},'
                   '"rs":[{"@ref":{"id":"999","coll":{"@mod":"H"}}}],'
                   '"o":{"s":{"@ref":{"id":"400000000000000002","coll":{"@mod":"Secret"}}}}')
        self.assertEqual((st, b), (200, {"data": holder, "summary": "",
                                         "txn_ts": T0 + 5 * MS, "stats": stats(1, 1, 0, size + 80),
                                         "schema_version": T0 + MS}))
        self.assertEqual(self.ok('H.byId("400000000000000003")', "simple"), {
            "id": "400000000000000003", "coll": "H", "ts": "2024-01-01T00:00:00.004Z",
            "r": {"id": "400000000000000001", "coll": "H"},
            "rs": [{"id": "999", "coll": "H"}],
            "o": {"s": {"id": "400000000000000002", "coll": "Secret"}}})
        self.assertEqual(self.ok('H.byId("400000000000000003")!.data')["r"], ref)
        # read through, the deleted document is a null document
        self.assertEqual(self.ok('H.byId("400000000000000003")!.r'), {"@ref": {
            "id": "400000000000000001", "coll": {"@mod": "H"}, "exists": False, "cause": "deleted"}})
        self.assertIsNone(self.ok('H.byId("400000000000000003")!.r', "simple"))
        self.assertEqual(self.ok('at (Time("2024-01-01T00:00:00.004Z")) { H.byId("400000000000000003")!.r }'),
                         {"@doc": {"id": "400000000000000001", "coll": {"@mod": "H"},
                                   "ts": {"@time": "2024-01-01T00:00:00.002Z"}, "n": {"@int": "1"}}})
        # a reader who may not read the target gets the plain ref in the
        # document, a null document when it reads through it
        self.ok('Role.create({ name: "hreader", privileges: [{ resource: "H", actions: { read: true } }] })')
        key = self.ok('Key.create({ role: "hreader" }).secret')
        self.assertEqual(self.ok('H.byId("400000000000000003")', secret=key)["@doc"]["o"], {"s": sec})
        self.assertEqual(self.ok('H.byId("400000000000000003")!.o.s', secret=key), {"@ref": {
            "id": "400000000000000002", "coll": {"@mod": "Secret"}, "exists": False,
            "cause": "permission denied"}})

    def test_object_keys_values_entries_of_a_document(self) -> None:
        """Audit item 10 (FQL2DocSpec "Object methods")."""
        self.ok('Collection.create({ name: "C" })')                                 # T0
        self.assertEqual(self.ok('let d = C.create({ a: 0, b: 1 })\nObject.keys(d)', "simple"),
                         ["id", "coll", "ts", "a", "b"])
        self.assertEqual(self.ok('Object.values(C.all().first()!)', "simple"),
                         ["400000000000000001", "C", "2024-01-01T00:00:00.001Z", 0, 1])
        self.assertEqual(self.ok('Object.entries(C.all().first()!)'),
                         [["id", "400000000000000001"], ["coll", {"@mod": "C"}],
                          ["ts", {"@time": "2024-01-01T00:00:00.001Z"}], ["a", {"@int": "0"}],
                          ["b", {"@int": "1"}]])
        self.assertEqual(self.ok('Object.keys(C.createData({ x: 1, ts: 2, ttl: Time("2099-01-01T00:00:00Z") }))',
                                 "simple"), ["id", "coll", "ts", "x", "data"])
        self.assertEqual(self.ok('Object.keys(C.create({ x: 1, ttl: Time("2099-01-01T00:00:00Z") }))',
                                 "simple"), ["id", "coll", "ts", "ttl", "x"])
        src = "let d = C.create({\n  a: 0,\n  id: 1234,\n})\nd.delete()\nObject.keys(d)"
        st, b = self.exact(src)
        msg = "invalid argument `object`: collection `C` does not contain document with id 1234."
        self.assertEqual((st, b["error"]), (400, {"code": "invalid_argument", "message": msg}))
        st, b = self.exact("Object.keys(1)")
        self.assertEqual(b["error"], {"code": "invalid_argument",
                                      "message": "expected value for `object` of type Object, received Int"})

    def test_logical_clock_signs_tokens_with_a_fixed_key(self) -> None:
        """Audit item 8: identical runs under --clock logical give identical
        cursors and event tokens; the wall clock keeps a per-process key."""
        from faunaemu import storage as ST
        self.assertEqual(Store(logical=True).sign_key, ST.LOGICAL_SIGN_KEY)
        self.assertEqual(Store().sign_key, ST.PROCESS_SIGN_KEY)
        self.assertNotEqual(ST.PROCESS_SIGN_KEY, ST.LOGICAL_SIGN_KEY)

        def run(clock: str) -> list:
            import subprocess
            emu = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fauna_emulator.py")
            p = subprocess.Popen([sys.executable, emu, "--port", "0", "--secret", "k", "--clock", clock],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                line = p.stdout.readline()
                port = int(line.rsplit(":", 1)[1])
                out = []
                for q in ('Collection.create({ name: "C" })', "Set.sequence(0, 3).forEach(i => C.create({ i: i }))",
                          "C.all().pageSize(1)", "C.all().eventSource()"):
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    c.request("POST", "/query/1", json.dumps({"query": q}),
                              {"Authorization": "Bearer k", "x-format": "tagged"})
                    out.append(json.loads(c.getresponse().read())["data"])
                    c.close()
                return [out[2]["@set"]["after"], out[3]["@stream"]]
            finally:
                p.terminate()
                p.wait(10)
                p.stdout.close()
        self.assertEqual(run("logical"), run("logical"))
        self.assertNotEqual(run("wall")[0], run("wall")[0])


class IndexBuildTests(ExactServerTest):
    """Audit item 11: fauna-protocol.md §1, background index builds."""

    def test_index_added_to_a_large_collection_builds_in_the_background(self) -> None:
        self.store.index_build_ms = 300
        try:
            self.ok('Collection.create({ name: "Big" })')                           # T0
            self.ok("Set.sequence(0, 128).forEach(i => Big.create({ i: i }))")        # +1 ms
            d = self.ok('Big.definition.update({ indexes: { byI: { values: [{ field: ".i" }] } } })',
                        "simple")                                                     # +2 ms
            self.assertEqual(d["indexes"], {"byI": {"values": [{"field": ".i", "order": "asc"}],
                                                    "queryable": False, "status": "building"}})
            src = "Big.byI().count()"
            st, b = self.exact(src)
            msg = "The index `Big.byI` is not queryable."
            self.assertEqual((st, b), (400, self.qerr("invalid_index_invocation", msg,
                                                      summary(msg, src, 7, 9), T0 + 2 * MS, T0 + 2 * MS)))
            self.assertEqual(self.ok("Collection.byName('Big')!.indexes.byI.status"), "building")
            # writes during the build are in the index when it is done
            self.ok("Big.create({ i: -1 })")
            import time as _t
            _t.sleep(0.35)
            self.assertEqual(self.ok("Big.definition.indexes.byI", "simple"),
                             {"values": [{"field": ".i", "order": "asc"}],
                              "queryable": True, "status": "complete"})
            self.assertEqual(self.ok("Big.byI().count()"), {"@int": "129"})
            self.assertEqual(self.ok("Big.byI().first()!.i"), {"@int": "-1"})
            # an unchanged definition is not rebuilt
            self.ok('Big.definition.update({ indexes: { byI: { values: [{ field: ".i" }] } } })')
            self.assertEqual(self.ok("Big.byI().count()"), {"@int": "129"})
        finally:
            self.store.index_build_ms = 500

    def test_small_collections_and_loads_build_synchronously(self) -> None:
        self.ok('Collection.create({ name: "Small" })')
        self.ok("Set.sequence(0, 127).forEach(i => Small.create({ i: i }))")
        d = self.ok('Small.definition.update({ indexes: { byI: { values: [{ field: ".i" }] } } })', "simple")
        self.assertEqual((d["indexes"]["byI"]["queryable"], d["indexes"]["byI"]["status"]), (True, "complete"))
        self.assertEqual(self.ok("Small.byI().count()"), {"@int": "127"})
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.write(json.dumps({"collection": {"name": "L", "indexes": {"byN": {"values": [{"field": ".n"}]}}}}) + "\n")
            for i in range(300):
                f.write(json.dumps({"coll": "L", "data": {"n": {"@int": str(i)}}}) + "\n")
            name = f.name
        try:
            with self.store.lock:
                load_file(self.store, name)
        finally:
            os.unlink(name)
        self.assertEqual(self.ok("L.definition.indexes.byN.queryable"), True)
        self.assertEqual(self.ok("L.byN().count()"), {"@int": "300"})


class ProtocolExactTests(ExactServerTest):
    """Audit item 13 (and 7): exact statuses and bodies."""

    def test_control_api_refuses_other_keys(self) -> None:
        key = self.ok('Key.create({ role: "admin" }).secret')
        for method, path in (("GET", "/_emulator/log"), ("POST", "/_emulator/reset"),
                             ("GET", "/_emulator/faults")):
            st, b, _ = self.req(method, path, secret=key)
            self.assertEqual((st, b), (403, {"error": {"code": "forbidden",
                                                       "message": "The control API needs the admin secret."}}))
        st, b, h = self.req("GET", "/_emulator/log", secret="nope")
        self.assertEqual((st, b, h.get("WWW-Authenticate")), (401, {"error": {
            "code": "unauthorized", "message": "Invalid token, unable to validate request."}}, "Bearer"))

    def test_injected_status_bodies(self) -> None:
        want = {409: ("contended_transaction",
                      "Transaction was aborted due to detection of concurrent modification."),
                413: ("request_size_exceeded", "Request body too large."),
                440: ("time_out", "Query timed out."),
                500: ("internal_error", "Internal error."),
                502: ("bad_gateway", "Bad gateway."),
                504: ("gateway_timeout", "Gateway timeout."),
                401: ("unauthorized", "Invalid token, unable to validate request.")}
        for status, (code, msg) in want.items():
            self.req("POST", "/_emulator/faults", {"kind": "status", "status": status, "path": "/query/1"})
            st, b, h = self.req("POST", "/query/1", {"query": "1"})
            self.assertEqual((st, b), (status, {"error": {"code": code, "message": msg}}), status)
            # audit item 7: an injected 401 carries the challenge a real one has
            self.assertEqual(h.get("WWW-Authenticate"), "Bearer" if status == 401 else None, status)
        self.req("POST", "/_emulator/faults", {"kind": "status", "status": 401, "path": "/"})
        st, b, h = self.req("POST", "/", {"now": None})
        self.assertEqual((st, b, h.get("WWW-Authenticate")), (401, {"errors": [
            {"position": [], "code": "unauthorized", "description": "Unauthorized"}]},
            'Basic realm="Unauthorized"'))

    def test_request_body_over_8_mib(self) -> None:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(b"POST /query/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SECRET.encode() +
                  b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (8 * 1024 * 1024 + 1))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 413 "), head)
        self.assertEqual(json.loads(body), {"error": {
            "code": "request_size_exceeded", "message": "Request body exceeds the maximum of 8388608 bytes."}})
        # a body of exactly 8 MiB is read (and here refused as JSON)
        big = b'{"query": "1", "pad": "' + b"x" * (8 * 1024 * 1024 - 25) + b'"}'
        self.assertEqual(len(big), 8 * 1024 * 1024)
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("POST", "/query/1", big, {"Authorization": "Bearer " + SECRET})
        r = c.getresponse()
        self.assertEqual((r.status, json.loads(r.read())["data"]), (200, 1))
        c.close()

    def test_cursor_with_a_bad_signature(self) -> None:
        self.ok('Collection.create({ name: "P" })')                                 # T0
        self.ok("Set.sequence(0, 3).forEach(i => P.create({ i: i }))")                # +1 ms
        after = self.ok("P.all().pageSize(1)")["@set"]["after"]
        raw = bytearray(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)))
        raw[0] ^= 1                                    # the MAC, payload untouched
        forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
        json.loads(bytes(raw[16:]))                    # still a well-formed payload
        st, b = self.exact({"fql": ["Set.paginate(", {"value": forged}, ")"]})
        src = "Set.paginate($v0)"
        self.assertEqual((st, b), (400, self.qerr(
            "invalid_cursor", "Cursor is invalid or expired.",
            summary("Cursor is invalid or expired.", src, 12, 17), T0 + MS, T0)))

    def test_feed_start_ts_page_size_and_cursor(self) -> None:
        self.ok('Collection.create({ name: "F" })')                                 # T0
        tok = self.ok("F.all().eventSource()")["@stream"]
        for i in range(3):
            self.ok(f"F.create({{ i: {i} }})")                                        # +1..+3 ms
        # start_ts: events strictly after it (FeedSpec "start from a txn time")
        st, page = self.feed({"token": tok, "start_ts": T0 + MS})
        self.assertEqual((st, [(e["type"], e["txn_ts"]) for e in page["events"]], page["has_next"]),
                         (200, [("add", T0 + 2 * MS), ("add", T0 + 3 * MS)], False))
        # page_size bounds (1..16000)
        for size, msg in ((0, "page size must be greater than zero."),
                          (-1, "page size must be greater than zero."),
                          (16001, "page size can not be greater than 16000.")):
            st, b = self.feed({"token": tok, "page_size": size})
            self.assertEqual((st, b), (400, {"error": {"code": "invalid_request",
                                                       "message": "Invalid request body: " + msg}}), size)
        st, page = self.feed({"token": tok, "page_size": 1})
        self.assertEqual((st, len(page["events"]), page["has_next"]), (200, 1, True))
        st, rest = self.feed({"token": tok, "page_size": 16000, "cursor": page["cursor"]})
        self.assertEqual((st, [e["txn_ts"] for e in rest["events"]], rest["has_next"]),
                         (200, [T0 + 2 * MS, T0 + 3 * MS], False))
        # cursor and start_ts are exclusive of each other
        st, b = self.feed({"token": tok, "cursor": page["cursor"], "start_ts": T0})
        self.assertEqual((st, b), (400, {"error": {
            "code": "invalid_request",
            "message": "Invalid request body: can not provide both `start_ts` and `cursor`."}}))
        st, b = self.feed({"token": tok, "start_ts": "x"})
        self.assertEqual((st, b), (400, {"error": {
            "code": "invalid_request", "message": "Invalid request body: Unexpected string value 'x'."}}))

    def test_basic_auth(self) -> None:
        basic = "Basic " + base64.b64encode((SECRET + ":").encode()).decode()
        st, b, _ = self.req("POST", "/query/1", {"query": "1 + 1"}, secret=None,
                            headers={"Authorization": basic, "x-format": "tagged"})
        b["stats"]["query_time_ms"] = 0
        self.assertEqual((st, b), (200, {"data": {"@int": "2"}, "summary": "", "txn_ts": NO_WRITE_TS,
                                         "stats": stats(), "schema_version": 0}))
        bad = "Basic " + base64.b64encode(b"nope:").decode()
        st, b, h = self.req("POST", "/query/1", {"query": "1"}, secret=None, headers={"Authorization": bad})
        self.assertEqual((st, b, h.get("WWW-Authenticate")), (401, {"error": {
            "code": "unauthorized", "message": "Access token required"}}, "Bearer"))

    def test_user_role_write_privileges(self) -> None:
        self.ok('Collection.create({ name: "W" })')                                 # T0
        self.ok('W.create({ n: 0 })')                                               # +1: ...01
        self.ok('Role.create({ name: "writer", privileges: [{ resource: "W", actions: '
                '{ read: true, create: true, write: true } }] })')
        self.ok('Role.create({ name: "creator", privileges: [{ resource: "W", actions: '
                '{ create: true } }] })')
        writer = self.ok('Key.create({ role: "writer" }).secret')
        creator = self.ok('Key.create({ role: "creator" }).secret')
        self.assertEqual(self.ok('W.create({ n: 1 }).n', secret=writer), {"@int": "1"})
        self.assertEqual(self.ok('W.byId("400000000000000001")!.update({ n: 5 }).n', secret=writer),
                         {"@int": "5"})
        denied = {"code": "permission_denied", "message": "Insufficient privileges to perform the action."}
        src = 'W.byId("400000000000000001")!.delete()'
        st, b = self.exact(src, secret=writer)
        self.assertEqual((st, b["error"], b["summary"]), (400, denied,
                                                          summary(denied["message"], src, len(src) - 2,
                                                                  len(src))))
        self.assertEqual(self.ok('W.create({ n: 2 }).n', secret=creator), {"@int": "2"})
        st, b = self.exact('W.all().count()', secret=creator)
        self.assertEqual((st, b["error"]), (400, denied))
        self.assertEqual(self.ok("W.all().count()"), {"@int": "3"})

    def test_read_stats_of_a_small_read(self) -> None:
        self.ok('Collection.create({ name: "S" })')                                 # T0
        self.ok('S.create({ a: 1, s: "xy" })')                                      # +1: ...01
        # '"a":{"@int":"1"},"s":"xy"' is 25 bytes of tagged fields, + 80 per document
        st, b = self.exact('S.byId("400000000000000001")!.a')
        self.assertEqual((st, b), (200, {"data": {"@int": "1"}, "summary": "", "txn_ts": T0 + MS,
                                         "stats": stats(1, 1, 0, 105), "schema_version": T0}))
        # a collection scan costs one op per partition of the documents
        # index (8) and reads its entries (16 bytes each here), not the
        # documents whose ids are all it uses; a miss costs one op of 14
        # bytes (FQL2MetricsSpec)
        st, b = self.exact("S.all().toArray().length")
        self.assertEqual(b["stats"], stats(1, 8, 0, 16))
        st, b = self.exact("S.all().toArray()[0].a")
        self.assertEqual(b["stats"], stats(1, 9, 0, 16 + 105))
        st, b = self.exact('S.byId("5")')
        self.assertEqual(b["stats"], stats(1, 1, 0, 14))


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
