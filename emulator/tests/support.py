"""An in-process emulator for the unit tests: one server per test class,
on a port the kernel picks, with a logical clock, emptied (documents,
faults, request log) before each test."""
from __future__ import annotations

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from faunaemu.server import start  # noqa: E402
from faunaemu.storage import Store  # noqa: E402


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
