"""HTTP front end: routing, keep-alive, fault injection, the control API."""
from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional, Tuple

from .auth import parse_authorization
from .faults import Faults, RequestLog, fault_body, reverse_members
from .service import MAX_BODY, Service, proto_body
from .storage import Store


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: Tuple[str, int], store: Store, secret: str, quiet: bool = True,
                 tls: Optional[ssl.SSLContext] = None) -> None:
        super().__init__(addr, Handler)
        self.store = store
        self.secret = secret
        self.service = Service(store, secret)
        from .v4 import V4Api
        self.v4 = V4Api(store, self.service.auth)
        self.faults = Faults()
        self.log = RequestLog()
        self.quiet = quiet
        # --tls: a server-side context; every connection is TLS then
        self.tls = tls
        # connections accepted, TLS handshakes completed and, of those, the
        # ones that resumed an earlier session (GET /_emulator/connections)
        self.conn_lock = threading.Lock()
        self.conn_counts = {"connections": 0, "tls_handshakes": 0, "tls_resumed": 0}

    def count_connection(self, tls_conn: Any = None) -> None:
        with self.conn_lock:
            self.conn_counts["connections"] += 1
            if tls_conn is not None:
                self.conn_counts["tls_handshakes"] += 1
                if tls_conn.session_reused:
                    self.conn_counts["tls_resumed"] += 1

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Serve one connection; with --tls, after the TLS handshake.

        The handshake runs here, in the connection's own thread, not in
        the accepting one: a client that stalls in it (or rejects the
        certificate) must not hold up the others.
        """
        if self.tls is None:
            self.count_connection()
            super().finish_request(request, client_address)
            return
        try:
            request.settimeout(60)
            conn = self.tls.wrap_socket(request, server_side=True)
            conn.settimeout(None)
        except (ssl.SSLError, OSError) as e:
            # a client that refused our certificate (the point of the TLS
            # tests) or spoke plain HTTP: its failure, not the server's
            if not self.quiet:
                print(f"TLS handshake with {client_address[0]} failed: {e}",
                      file=sys.stderr, flush=True)
            return
        self.count_connection(conn)
        try:
            super().finish_request(conn, client_address)
        finally:
            try:
                conn.close()
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the body
    # waits for the client's delayed ACK (~40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self.handle_any("GET")

    def do_POST(self) -> None:
        self.handle_any("POST")

    def do_DELETE(self) -> None:
        self.handle_any("DELETE")

    def do_PUT(self) -> None:
        self.handle_any("PUT")

    # --------------------------------------------------------------------
    def read_body(self) -> Optional[bytes]:
        n = self.headers.get("Content-Length")
        if n is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    line = self.rfile.readline()
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            return b""
        try:
            length = int(n)
        except ValueError:
            return None
        if length > MAX_BODY:
            return None
        return self.rfile.read(length)

    def handle_any(self, method: str) -> None:
        self.started = time.perf_counter()
        # numbered on arrival: a request that completes late (an injected
        # delay) still sorts before every request that arrived after it
        self.arrival = self.server.log.next_seq()
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = self.read_body()
        if body is None:
            self.respond(413, proto_body("request_size_exceeded",
                                         f"Request body exceeds the maximum of {MAX_BODY} bytes."), {})
            self.close_connection = True
            return
        if path.startswith("/_emulator/"):
            status, text, hdrs = self.control(method, path, headers, body)
            self.respond(status, text, hdrs)
            return
        fault = self.server.faults.take(path, body, self.server.store.sign_key)
        if fault is not None and fault["kind"] == "delay":
            time.sleep(fault["delay_ms"] / 1000.0)
            fault = None
        if fault is not None and fault["kind"] == "drop":
            self.log_request_entry(method, path, headers, body, None, "drop")
            self.drop()
            return
        if fault is not None and fault["kind"] == "status":
            st = fault["status"]
            self.log_request_entry(method, path, headers, body, st, "status")
            if path == "/":
                from .v4 import fault_body_v4
                # as the v4 API's own 401 (faunaemu/v4/api.py)
                hdrs = {"WWW-Authenticate": 'Basic realm="Unauthorized"'} if st == 401 else {}
                self.respond(st, fault_body_v4(st), hdrs)
            else:
                # a real 401 always carries the challenge (service.py)
                self.respond(st, fault_body(st), {"WWW-Authenticate": "Bearer"} if st == 401 else {})
            return
        stall_s = 0.0
        if fault is not None and fault["kind"] == "stall":
            stall_s = fault["delay_ms"] / 1000.0
            fault = None
        status, text, hdrs = self.route(method, path, headers, body, stall_s)
        self.log_request_entry(method, path, headers, body, status,
                               fault["kind"] if fault else "stall" if stall_s else None)
        if fault is None:
            self.respond(status, text, hdrs)
        elif fault["kind"] == "content_type":
            data = text.encode()
            self.raw_respond(status, data, len(data), len(data), hdrs,
                             content_type=fault["content_type"])
        elif fault["kind"] == "body":
            self.respond(fault["status"] or 200, fault["body"], hdrs)
        elif fault["kind"] == "reverse_members":
            self.respond(status, reverse_members(text) if status == 200 else text, hdrs)
        elif fault["kind"] == "malformed":
            self.respond(200, '{"data": {"@int": "1"}, "summary": ,,, not json', {})
        else:
            data = text.encode()
            if fault["kind"] == "drop_mid_body":
                self.raw_respond(status, data, len(data), len(data) // 2, hdrs)
            else:  # truncated: announce more than is sent
                self.raw_respond(status, data, len(data) + 100, len(data), hdrs)
            self.drop()

    def route(self, method: str, path: str, headers: Dict[str, str], body: bytes,
              stall_s: float = 0.0) -> Tuple[int, str, Dict[str, str]]:
        """`stall_s`: a `stall` fault holds the request's transaction this long."""
        svc = self.server.service
        if path == "/query/1":
            if method != "POST":
                return 405, proto_body("invalid_request", "Method not allowed."), {}
            return svc.query(body, headers, stall_s)
        if path == "/feed/1":
            if method != "POST":
                return 405, proto_body("invalid_request", "Method not allowed."), {}
            return svc.feed(body, headers, stall_s)
        if path == "/":   # legacy FQL v4 (faunaemu/v4/)
            if method != "POST":
                return 405, '{"errors":[{"code":"method not allowed","description":"Method not allowed."}]}', {}
            return self.server.v4.handle(body, headers, stall_s)
        if path == "/ping":
            return 200, '{"resource":"Scope write is OK"}', {}
        return 404, proto_body("not_found", f"Resource {path} not found."), {}

    # ------------------------------------------------------------- control
    def control(self, method: str, path: str, headers: Dict[str, str], body: bytes) -> Tuple[int, str, Dict[str, str]]:
        secret = parse_authorization(headers.get("authorization"))
        if secret is None:
            return 401, proto_body("unauthorized", "Access token required"), {"WWW-Authenticate": "Bearer"}
        if secret != self.server.secret:
            p = self.server.service.auth.authenticate(secret)
            if p is None:
                return 401, proto_body("unauthorized", "Invalid token, unable to validate request."), \
                    {"WWW-Authenticate": "Bearer"}
            return 403, proto_body("forbidden", "The control API needs the admin secret."), {}
        srv = self.server
        if path == "/_emulator/faults":
            if method == "POST":
                try:
                    spec = json.loads(body or b"{}")
                    if not isinstance(spec, dict):
                        raise ValueError("expected an object")
                    rule = srv.faults.add(spec)
                except ValueError as e:
                    return 400, proto_body("invalid_request", str(e)), {}
                return 200, json.dumps(rule), {}
            if method == "GET":
                return 200, json.dumps({"faults": srv.faults.list()}), {}
            if method == "DELETE":
                srv.faults.clear()
                return 200, '{"ok":true}', {}
        if path == "/_emulator/log":
            if method == "GET":
                return 200, json.dumps({"requests": srv.log.all()}), {}
            if method == "DELETE":
                srv.log.clear()
                return 200, '{"ok":true}', {}
        if path == "/_emulator/connections" and method == "GET":
            with srv.conn_lock:
                return 200, json.dumps(srv.conn_counts), {}
        if path == "/_emulator/index_builds/finish" and method == "POST":
            with srv.store.lock:
                built = srv.store.finish_index_builds()
            return 200, json.dumps({"built": built}), {}
        if path == "/_emulator/reset" and method == "POST":
            with srv.store.lock:
                srv.store.reset()
            srv.faults.clear()
            srv.log.clear()
            return 200, '{"ok":true}', {}
        if path == "/_emulator/stats" and method == "GET":
            with srv.store.lock.shared():
                out = {"collections": {n: {"documents": len(c.latest), "versions": len(c.log)}
                                       for n, c in srv.store.colls.items()},
                       "last_txn_ts": srv.store.last_ts}
            return 200, json.dumps(out), {}
        return 404, proto_body("not_found", f"Unknown control call {method} {path}."), {}

    # ------------------------------------------------------------- output
    def log_request_entry(self, method: str, path: str, headers: Dict[str, str], body: bytes,
                          status: Optional[int], fault: Optional[str]) -> None:
        hdrs = {k: ("<redacted>" if k == "authorization" else v) for k, v in headers.items()}
        try:
            b: Any = body.decode("utf-8")
        except UnicodeDecodeError:
            b = None
        # elapsed_ms: from the request's headers to its answer being ready
        # (before it is sent): the server's own work on it
        elapsed = round((time.perf_counter() - self.started) * 1000, 3)
        self.server.log.add({"seq": self.arrival, "time": time.time(),
                             "method": method, "path": path,
                             "headers": hdrs, "body": b, "status": status, "fault": fault,
                             "elapsed_ms": elapsed})

    def respond(self, status: int, text: str, headers: Dict[str, str]) -> None:
        data = text.encode()
        self.raw_respond(status, data, len(data), len(data), headers)

    def raw_respond(self, status: int, data: bytes, announce: int, send: int,
                    headers: Dict[str, str],
                    content_type: str = "application/json;charset=utf-8") -> None:
        try:
            self.send_response_only(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(announce))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data[:send])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
        except Exception:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def start(host: str, port: int, store: Store, secret: str, quiet: bool = True,
          tls: Optional[ssl.SSLContext] = None) -> EmulatorServer:
    """Bind and serve in a background thread (used by tests)."""
    srv = EmulatorServer((host, port), store, secret, quiet, tls)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv
