"""Queries side by side: reads hold the store lock shared, writes hold it
alone (faunaemu/txnlock.py), a read that comes to a write runs again alone;
no read sees part of a transaction.

Run:  python3 -m unittest emulator.tests.test_concurrency
"""
from __future__ import annotations

import threading
import time
import unittest

from emulator.tests.support import Server, iso, together
from faunaemu.txnlock import RWLock

STALL_MS = 600

# ---------------------------------------------------------------- the lock
class ServerCase(unittest.TestCase):
    """A server of its own for each test, with the clock `logical` says,
    seeded by the queries of `seed`."""
    logical = True
    seed: tuple = ()

    def setUp(self) -> None:
        self.s = Server(logical=self.logical)
        for src in self.seed:
            self.s.query(src)

    def tearDown(self) -> None:
        self.s.close()


class SideBySide(ServerCase):
    """Reads hold the store lock shared: N slow reads take about as long as
    one.  Writes hold it alone: two slow writes take twice as long."""
    seed = ('Collection.create({ name: "R" })',
            "Set.sequence(0, 20).forEach(i => R.create({ n: i }))")

    def stall(self, path: str, count: int) -> None:
        self.s.fault({"kind": "stall", "delay_ms": STALL_MS, "count": count, "path": path})

    def test_reads_run_side_by_side(self) -> None:
        self.stall("/query/1", 4)
        res, took = together([lambda: self.s.query("R.all().count()")] * 4)
        self.assertEqual([r["data"] for r in res], [20] * 4)
        self.assertLess(took, 2 * STALL_MS / 1000, "four stalled reads ran one after another")
        self.assertGreaterEqual(took, STALL_MS / 1000)

    def test_v4_and_v10_reads_and_feeds_run_side_by_side(self) -> None:
        src = self.s.query("R.all().eventSource()")["data"]
        self.stall("/", 2)
        self.stall("/query/1", 1)
        self.stall("/feed/1", 1)
        res, took = together([
            lambda: self.s.v4({"paginate": {"documents": {"collection": "R"}}, "size": 100}),
            lambda: self.s.v4({"count": {"documents": {"collection": "R"}}}),
            lambda: self.s.query("R.all().count()"),
            lambda: self.s.call("/feed/1", {"token": src}),
        ])
        self.assertEqual(len(res[0][1]["resource"]["data"]), 20)
        self.assertEqual(res[1][1]["resource"], 20)
        self.assertEqual(res[2]["data"], 20)
        self.assertEqual(res[3][0], 200)
        self.assertLess(took, 2 * STALL_MS / 1000, "stalled reads ran one after another")

    def test_writes_run_alone(self) -> None:
        self.stall("/query/1", 2)
        res, took = together([lambda: self.s.query("R.create({ n: 100 }).n"),
                              lambda: self.s.query("R.create({ n: 101 }).n")])
        self.assertEqual(sorted(r["data"] for r in res), [100, 101])
        self.assertGreaterEqual(took, 2 * STALL_MS / 1000 - 0.05)

    def test_a_read_that_writes_runs_again_alone(self) -> None:
        # nothing in the text of the second query names a write (the write
        # is in its cursor): it starts as a read and runs again alone
        after = self.s.query("R.all().map(d => d.update({ seen: true })).pageSize(5)")["data"]["after"]
        page = self.s.query(f'Set.paginate("{after}")')
        self.assertGreaterEqual(page["stats"]["write_ops"], 5)
        self.assertEqual([d["seen"] for d in page["data"]["data"]], [True] * 5)
        b = self.s.query("R.all().where(.seen == true).map(.n).toArray()")
        self.assertEqual(b["data"][:10], list(range(10)))


    def test_a_write_waits_for_the_reads_before_it(self) -> None:
        self.s.fault({"kind": "stall", "delay_ms": STALL_MS, "count": 1, "path": "/query/1",
                      "match": "count()"})
        took: dict = {}

        def write() -> int:
            time.sleep(0.15)         # the read holds the lock by now
            t0 = time.monotonic()
            n = self.s.query("R.create({ n: 100 }).n")["data"]
            took["write"] = time.monotonic() - t0
            return n
        res, _ = together([lambda: self.s.query("R.all().count()")["data"], write])
        self.assertEqual(res, [20, 100])         # the read did not see the write
        # it waited for the rest of the read's stall
        self.assertGreaterEqual(took["write"], STALL_MS / 1000 - 0.15 - 0.05)
        self.assertEqual(self.s.query("R.all().count()")["data"], 21)

    def test_a_read_that_writes_runs_again_and_writes_once(self) -> None:
        self.s.query('Collection.create({ name: "Log" })')
        svc = self.s.srv.service
        runs: list = []
        attempt = svc.attempt

        def recording(*args, read_only: bool):
            runs.append(read_only)
            return attempt(*args, read_only=read_only)
        svc.attempt = recording
        b = self.s.query("R.all().map(d => Log.create({ of: d.n }).of).pageSize(5)")
        first = b["data"]
        self.assertEqual(runs, [False])           # its text names a write: alone from the start
        runs.clear()
        # the cursor's text names no write: a read first, then again alone
        page = self.s.query(f'Set.paginate("{first["after"]}")')
        self.assertEqual(runs, [True, False])
        self.assertEqual(page["data"]["data"], [5, 6, 7, 8, 9])
        # The read left nothing behind and the run alone wrote once: the Log
        # holds just what the two queries report writing.  (Each page also
        # maps the element after it, to know whether there is a next page:
        # 0..5, then 5..10.)
        self.assertEqual(page["stats"]["write_ops"], b["stats"]["write_ops"])
        logged = self.s.query("Log.all().map(.of).toArray()")["data"]
        self.assertEqual(len(logged), b["stats"]["write_ops"] + page["stats"]["write_ops"])
        self.assertEqual(sorted(logged), list(range(6)) + list(range(5, 11)))


class NoTornReads(ServerCase):
    """A read sees all of a transaction's writes or none, whatever runs
    beside it.  Wall clock: a read's snapshot is the time it starts, so
    without the lock it would see a write transaction half done."""
    logical = False
    seed = ('Collection.create({ name: "T" })',
            "Set.sequence(0, 8).forEach(i => T.create({ g: 0 }))")

    def test_reads_beside_slow_write_transactions(self) -> None:
        before = self.s.query("T.all().first()!.id")["txn_ts"]
        stop = threading.Event()
        seen: list = []

        def writer() -> None:
            # each transaction rewrites every document, slowly (a busy loop
            # between the writes), so that a read could fall in between
            for g in range(1, 4):
                self.s.query(f"T.all().toArray().forEach(d => {{ d.update({{ g: {g} }}); "
                             f"Set.sequence(0, 5000).where(x => x >= 0).count() }})")
            stop.set()

        def reader() -> None:
            while not stop.is_set():
                seen.append(self.s.query("T.all().map(.g).toArray()")["data"])

        together([writer, reader, reader])
        self.assertGreater(len(seen), 3)
        for gs in seen:
            self.assertEqual(len(set(gs)), 1, f"a read saw a transaction half done: {gs}")
        self.assertEqual(seen[-1], [3] * 8)
        old = self.s.query(f'at (Time("{iso(before)}")) {{ T.all().map(.g).toArray() }}')
        self.assertEqual(old["data"], [0] * 8)


class LockRules(unittest.TestCase):
    def test_waiting_writer_holds_back_new_readers(self) -> None:
        lock = RWLock()
        order: list = []
        first_reader_in = threading.Event()
        release_first = threading.Event()

        def reader(name: str, hold: threading.Event | None) -> None:
            with lock.shared():
                order.append(name)
                if hold is not None:
                    first_reader_in.set()
                    hold.wait(5)

        def writer() -> None:
            with lock:
                order.append("writer")

        r1 = threading.Thread(target=reader, args=("r1", release_first))
        r1.start()
        first_reader_in.wait(5)
        w = threading.Thread(target=writer)
        w.start()
        time.sleep(0.1)          # the writer waits for r1
        r2 = threading.Thread(target=reader, args=("r2", None))
        r2.start()
        time.sleep(0.1)          # r2 waits behind the writer
        self.assertEqual(order, ["r1"])
        release_first.set()
        for t in (r1, w, r2):
            t.join(5)
        self.assertEqual(order, ["r1", "writer", "r2"])

    def test_reentry(self) -> None:
        lock = RWLock()
        with lock:
            with lock:
                with lock.shared():
                    pass
        with lock.shared():
            with lock.shared():
                pass
            with self.assertRaises(RuntimeError):
                lock.acquire()
        with lock:       # free again
            pass


if __name__ == "__main__":
    unittest.main()
