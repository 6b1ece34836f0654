"""The emulator's --read-processes option: several processes, one copy of
the loaded data each, serving reads side by side (benchmarks of parallel
scans); writes are refused, and stopping the emulator stops them all.

Run:  python3 -m unittest emulator.tests.test_read_processes
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(os.path.dirname(HERE), "fauna_emulator.py")
SECRET = "read-processes-secret"


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


class ReadProcessesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="emu_readers_")
        load = os.path.join(cls.dir, "load.jsonl")
        with open(load, "w") as f:
            f.write(json.dumps({"collection": {"name": "Things"}}) + "\n")
            for i in range(20):
                f.write(json.dumps({"coll": "Things", "id": str(1000 + i),
                                    "data": {"n": {"@int": str(i)}}}) + "\n")
        cls.proc = subprocess.Popen(
            [sys.executable, EMULATOR, "--port", "0", "--secret", SECRET, "--load", load,
             "--read-processes", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = cls.proc.stdout.readline()
        m = re.search(r"listening on (http://[\d.]+:\d+)", line)
        if not m:
            cls.proc.kill()
            raise RuntimeError("the emulator did not start: %r" % line)
        cls.url = m.group(1)

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.kill()
            cls.proc.wait()

    def query(self, fql):
        req = urllib.request.Request(self.url + "/query/1", data=json.dumps({"query": fql}).encode(),
                                     headers={"Authorization": "Bearer " + SECRET}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_1_reads_on_every_connection(self):
        self.assertEqual(len(children_of(self.proc.pid)), 2)
        for _ in range(12):    # new connections, taken by any of the processes
            status, body = self.query("Things.all().count()")
            self.assertEqual((status, body["data"]), (200, 20))

    def test_2_writes_are_refused(self):
        status, body = self.query("Things.create({ n: 99 })")
        self.assertEqual(status, 403)
        self.assertEqual(body["error"]["code"], "forbidden")
        status, body = self.query("Things.all().count()")
        self.assertEqual(body["data"], 20)

    def test_3_stopping_stops_every_process(self):
        kids = children_of(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        end = time.time() + 10
        while time.time() < end and any(os.path.exists("/proc/%d" % k) for k in kids):
            time.sleep(0.05)
        self.assertFalse([k for k in kids if os.path.exists("/proc/%d" % k)])


if __name__ == "__main__":
    unittest.main()
