"""An in-process emulator for the unit tests: one server per test class,
on a port the kernel picks, with a logical clock, emptied (documents,
faults, request log) before each test; and `Server`, an emulator of its
own for tests that call it from several threads at once."""
from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from faunaemu.server import start  # noqa: E402
from faunaemu.storage import Store  # noqa: E402

PARALLEL_SECRET = "parallel-secret"


class EmulatorCase(unittest.TestCase):
    secret = "test-secret"
    hold_index_builds = False
    typechecked = True

    @classmethod
    def setUpClass(cls) -> None:
        cls.store = Store(logical=True, hold_index_builds=cls.hold_index_builds,
                          typechecked=cls.typechecked)
        cls.srv = start("127.0.0.1", 0, cls.store, cls.secret)
        cls.port = cls.srv.server_address[1]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.srv.shutdown()
        cls.srv.server_close()

    def setUp(self) -> None:
        with self.store.lock:
            self.store.reset()
        self.srv.faults.clear()
        self.srv.log.clear()


class Server:
    """An emulator in this process, and HTTP calls to it (one connection
    per call, so that calls from several threads do not share one)."""

    def __init__(self, logical: bool) -> None:
        self.srv = start("127.0.0.1", 0, Store(logical=logical), PARALLEL_SECRET)
        self.port = self.srv.server_address[1]

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()

    def call(self, path: str, body: object, headers: dict | None = None) -> tuple:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {"Authorization": f"Bearer {PARALLEL_SECRET}", "Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", path, json.dumps(body), h)
        r = c.getresponse()
        raw = r.read()
        c.close()
        return r.status, json.loads(raw) if raw else None, dict(r.getheaders())

    def query(self, src: str) -> dict:
        st, b, _ = self.call("/query/1", {"query": src}, {"x-format": "simple"})
        if st != 200:
            raise AssertionError(f"{st} {b}")
        return b

    def v4(self, expr: object) -> tuple:
        st, b, h = self.call("/", expr, {"X-FaunaDB-API-Version": "4"})
        return st, b, h

    def fault(self, spec: dict) -> None:
        st, b, _ = self.call("/_emulator/faults", spec)
        if st != 200:
            raise AssertionError(f"{st} {b}")


def iso(us: int) -> str:
    """A µs timestamp as the ISO text `Time()` takes."""
    secs, frac = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:06d}Z"


def together(fns: list) -> tuple:
    """Run the calls in threads at once: (their results, seconds taken)."""
    out: list = [None] * len(fns)
    errors: list = []

    def run(i: int) -> None:
        try:
            out[i] = fns[i]()
        except BaseException as e:  # reported by the caller
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - t0
    if errors:
        raise errors[0]
    return out, elapsed


# ---------------------------------------------------------------- v10 forms
