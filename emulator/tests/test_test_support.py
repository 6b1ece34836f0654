"""The emulator features the project's own tests rely on: deep request
bodies answered with a 400 (never a dropped connection), a taken port
refused before any --load, index builds held until the control API says,
and the request log's arrival numbers."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from faunaemu.wire import MAX_BODY_NESTING  # noqa: E402
from .support import EmulatorCase  # noqa: E402

SECRET = "support-secret"
EMULATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fauna_emulator.py")


class Server(EmulatorCase):
    secret = SECRET

    def raw(self, method: str, path: str, data: bytes | None, headers: dict | None = None) -> tuple:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        h = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
        h.update(headers or {})
        c.request(method, path, data, h)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, json.loads(body) if body else None

    def fql(self, query: str) -> tuple:
        return self.raw("POST", "/query/1", json.dumps({"query": query}).encode())


class DeepNestingTests(Server):
    """A deeply nested body is the client's invalid request: a 400 with a
    Fauna error body, on a connection that stays usable."""

    def nested_argument(self, depth: int) -> bytes:
        # built as text: json.dumps itself recurses per level
        return ('{"query":"x","arguments":{"x":' + '{"object":{"a":' * depth
                + '{"@int":"1"}' + '}}' * depth + '}}').encode()

    def test_505_deep_argument_is_a_400(self) -> None:
        st, b = self.raw("POST", "/query/1", self.nested_argument(505))
        self.assertEqual(st, 400)
        self.assertEqual(b, {"error": {"code": "invalid_request", "message":
                                       "Invalid request body: Value is nested more than "
                                       f"{MAX_BODY_NESTING} levels deep."}})

    def test_deep_array_fql_template_feed_and_v4_bodies(self) -> None:
        n = 3000
        arr = b"[" * n + b"1" + b"]" * n
        st, b = self.raw("POST", "/query/1", b'{"query":"x","arguments":{"x":' + arr + b"}}")
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_request"))
        st, b = self.raw("POST", "/query/1",
                         b'{"query":' + b'{"fql":[' * n + b'"1"' + b"]}" * n + b"}")
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_request"))
        st, b = self.raw("POST", "/feed/1", b'{"token":"x","x":' + arr + b"}")
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_request"))
        self.assertIn("nested more than", b["error"]["message"])
        st, b = self.raw("POST", "/", b'{"x":' + arr + b"}")
        self.assertEqual(st, 400)
        self.assertEqual(b["errors"][0]["code"], "invalid expression")
        self.assertIn("nested more than", b["errors"][0]["description"])

    def test_brackets_inside_strings_do_not_count(self) -> None:
        s = "[{" * 1000
        st, b = self.raw("POST", "/query/1",
                         json.dumps({"query": "x", "arguments": {"x": s}}).encode())
        self.assertEqual((st, b["data"]), (200, s))

    def test_nesting_up_to_the_limit_is_answered(self) -> None:
        # the body's own two levels ({"arguments": {"x": ...}}) count too
        depth = MAX_BODY_NESTING - 3
        body = (b'{"query":"x","arguments":{"x":' + b"[" * depth + b'{"@int":"7"}'
                + b"]" * depth + b"}}")
        st, b = self.raw("POST", "/query/1", body)
        self.assertEqual(st, 200, b)
        v = b["data"]
        for _ in range(depth):
            v = v[0]
        self.assertEqual(v, {"@int": "7"})


class HeldIndexBuildTests(Server):
    hold_index_builds = True

    def definition(self) -> dict:
        st, b = self.raw("POST", "/query/1", json.dumps({"query": "Big.definition.indexes.byI"}).encode(),
                         {"x-format": "simple"})
        self.assertEqual(st, 200, b)
        return b["data"]

    def test_build_waits_for_the_control_call(self) -> None:
        self.assertEqual(self.fql('Collection.create({ name: "Big" })')[0], 200)
        self.assertEqual(self.fql("Set.sequence(0, 130).forEach(i => Big.create({ i: i }))")[0], 200)
        st, b = self.fql('Big.definition.update({ indexes: { byI: { values: [{ field: ".i" }] } } })')
        self.assertEqual(st, 200, b)
        # long past the default --index-build-ms: still building
        time.sleep(0.6)
        self.assertEqual(self.definition()["status"], "building")
        st, b = self.fql("Big.byI().count()")
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_index_invocation"))
        # the control API needs the admin secret
        st, b = self.raw("POST", "/_emulator/index_builds/finish", b"",
                         {"Authorization": "Bearer nobody"})
        self.assertEqual(st, 401)
        self.assertEqual(self.definition()["status"], "building")
        st, b = self.raw("POST", "/_emulator/index_builds/finish", b"")
        self.assertEqual((st, b), (200, {"built": ["Big.byI"]}))
        self.assertEqual(self.definition()["status"], "complete")
        st, b = self.fql("Big.byI().count()")
        self.assertEqual((st, b["data"]), (200, 130))
        # nothing left to build
        self.assertEqual(self.raw("POST", "/_emulator/index_builds/finish", b""), (200, {"built": []}))


class RequestLogOrderTests(Server):
    def test_seq_numbers_arrivals_not_completions(self) -> None:
        st, _ = self.raw("POST", "/_emulator/faults",
                         json.dumps({"kind": "delay", "delay_ms": 400, "match": "slow"}).encode())
        self.assertEqual(st, 200)
        slow = threading.Thread(target=self.fql, args=('"slow"',))
        slow.start()
        time.sleep(0.1)
        self.fql('"fast"')
        slow.join()
        st, log = self.raw("GET", "/_emulator/log", None)
        entries = log["requests"]
        bodies = [json.loads(e["body"])["query"] for e in entries]
        # completed in the other order; numbered in arrival order
        self.assertEqual(bodies, ['"fast"', '"slow"'])
        self.assertLess(entries[1]["seq"], entries[0]["seq"])


class RequestLogScriptTests(Server):
    """test/request_log.py, as the regress suites use it: a request of an
    earlier suite that arrived before the marker but completes after it
    (held by a delay fault) is not shown."""

    def test_late_completion_before_the_marker_is_left_out(self) -> None:
        st, _ = self.raw("POST", "/_emulator/faults",
                         json.dumps({"kind": "delay", "delay_ms": 600, "match": "earlier"}).encode())
        self.assertEqual(st, 200)
        slow = threading.Thread(target=self.fql, args=('"earlier suite"',))
        slow.start()
        time.sleep(0.15)
        self.fql('"marker 9100000000000000099"')
        self.fql('"this check"')
        slow.join()
        env = dict(os.environ, FAUNA_ENDPOINT=f"http://127.0.0.1:{self.port}", FAUNA_SECRET=SECRET)
        script = os.path.join(os.path.dirname(EMULATOR), "..", "test", "request_log.py")
        out = subprocess.run([sys.executable, script, "9100000000000000099"], env=env,
                             capture_output=True, text=True, check=True).stdout
        self.assertEqual(out, 'POST /query/1 x-format=- x-query-timeout-ms=-\n  "this check"\n')
        out = subprocess.run([sys.executable, script, "--statuses", "9100000000000000099"], env=env,
                             capture_output=True, text=True, check=True).stdout
        self.assertEqual(out, "POST /query/1 -> 200\n")


class ConnectionCountTests(Server):
    def test_connections_are_counted(self) -> None:
        st, c0 = self.raw("GET", "/_emulator/connections", None)
        self.assertEqual(st, 200)
        self.assertEqual(c0["tls_handshakes"], 0)
        # three requests on one kept-alive connection, then one on another
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        for _ in range(3):
            c.request("POST", "/query/1", '{"query":"1"}', {"Authorization": f"Bearer {SECRET}"})
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
        c.close()
        self.fql("2")
        st, c1 = self.raw("GET", "/_emulator/connections", None)
        # the keep-alive connection, fql's, and this call's own
        self.assertEqual(c1["connections"] - c0["connections"], 3)
        self.assertEqual((c1["tls_handshakes"], c1["tls_resumed"]), (0, 0))


class CommandLineTests(unittest.TestCase):
    def test_taken_port_fails_before_loading(self) -> None:
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.write(json.dumps({"collection": {"name": "L"}}) + "\n")
            for i in range(20000):
                f.write(json.dumps({"coll": "L", "data": {"n": {"@int": str(i)}}}) + "\n")
            name = f.name
        try:
            t0 = time.monotonic()
            p = subprocess.run([sys.executable, EMULATOR, "--port", str(port), "--secret", "s",
                                "--load", name], capture_output=True, text=True, timeout=120)
            took = time.monotonic() - t0
        finally:
            os.unlink(name)
            taken.close()
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(f"fauna_emulator: cannot listen on 127.0.0.1:{port}: Address already in use",
                      p.stderr)
        self.assertNotIn("Traceback", p.stderr)
        # refused before the load: nothing was loaded
        self.assertNotIn("loaded", p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertLess(took, 30)


if __name__ == "__main__":
    unittest.main()


class UntypecheckedDatabaseTests(Server):
    """--no-typecheck: a database created with typechecked: false."""
    typechecked = False

    def query(self, fql: str, headers: dict | None = None) -> tuple:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        h = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", "/query/1", json.dumps({"query": fql}), h)
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        return r.status, body

    def test_unknown_name_fails_as_evaluated(self) -> None:
        st, b = self.query("Nope.all()")
        self.assertEqual((st, b["error"]["code"], b["error"]["message"]),
                         (400, "unbound_variable", "Unbound variable `Nope`"))

    def test_the_header_still_decides(self) -> None:
        st, b = self.query("Nope.all()", {"x-typecheck": "true"})
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_query"))
