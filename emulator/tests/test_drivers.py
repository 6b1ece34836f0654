"""Cross-check the emulator with the official Fauna JavaScript driver.

Starts ``emulator/fauna_emulator.py`` on a free port, installs the pinned npm
``fauna`` driver into ``emulator/tests/drivers/node_modules`` when missing, and
runs the node test files there (``node --test``) against it.

Run:  python3 -m unittest emulator.tests.test_drivers
  or  python3 -m unittest discover -s emulator/tests -t .

node and npm are required: their absence is a failure, not a skip.
Runs the node suite twice, against the wall clock and ``--clock logical``
(the tests see which in FAUNA_EMULATOR_CLOCK); FAUNA_DRIVER_TESTS_CLOCK=wall
or =logical runs only that one.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(EMULATOR_DIR)
DRIVERS = os.path.join(HERE, "drivers")
EMULATOR = os.path.join(EMULATOR_DIR, "fauna_emulator.py")
SECRET = "driver-tests-secret"

LISTEN_RE = re.compile(r"listening on (http://[^\s]+)")


def start_emulator(extra_args=(), timeout=30.0):
    """Start the emulator on port 0; return (process, endpoint, output lines)."""
    cmd = [sys.executable, EMULATOR, "--port", "0", "--secret", SECRET]
    cmd += list(extra_args)
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines = []
    found = {}
    ready = threading.Event()

    def pump():
        # Keep draining the emulator's output so it never blocks on a full pipe.
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if not ready.is_set():
                m = LISTEN_RE.search(line)
                if m:
                    found["endpoint"] = m.group(1).rstrip("/")
                    ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    ready.wait(timeout)
    if "endpoint" not in found:
        stop_emulator(proc)
        raise RuntimeError(
            "emulator did not print 'listening on http://…' within %.0fs; output:\n%s"
            % (timeout, "\n".join(lines))
        )
    return proc, found["endpoint"], lines


def stop_emulator(proc, timeout=10.0):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def ensure_driver_installed():
    """npm install --ignore-scripts when node_modules/fauna is missing."""
    if os.path.isdir(os.path.join(DRIVERS, "node_modules", "fauna")):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise AssertionError("npm is not installed (apt-get install npm)")
    # `npm ci` would also do, but install copes with a lock from another npm.
    res = subprocess.run(
        [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=DRIVERS,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    if res.returncode != 0:
        raise AssertionError("npm install failed:\n" + res.stdout)


class DriverCrossCheck(unittest.TestCase):
    """The node suite runs twice: against the wall clock and `--clock logical`."""

    maxDiff = None

    def test_node_driver_wall_clock(self):
        self.run_node_suite("wall")

    def test_node_driver_logical_clock(self):
        self.run_node_suite("logical")

    def run_node_suite(self, clock):
        only = os.environ.get("FAUNA_DRIVER_TESTS_CLOCK")
        node = shutil.which("node")
        self.assertIsNotNone(node, "node is not installed (apt-get install nodejs)")
        self.assertIsNotNone(shutil.which("npm"), "npm is not installed (apt-get install npm)")
        if only and only != clock:
            # an explicit choice of clock runs only that one (not a skip of
            # anything unavailable: both runs exist, this one was not asked for)
            return
        ver = subprocess.run([node, "--version"], stdout=subprocess.PIPE, text=True).stdout
        major, minor = (int(x) for x in ver.strip().lstrip("v").split(".")[:2])
        self.assertGreaterEqual(major, 18, "node >= 18 is needed (node --test, fetch), got " + ver)
        self.assertTrue(os.path.exists(EMULATOR), "missing %s" % EMULATOR)

        ensure_driver_installed()

        extra = ["--clock", clock] if clock != "wall" else []
        proc, endpoint, emu_lines = start_emulator(extra)
        try:
            env = dict(os.environ)
            env["FAUNA_ENDPOINT"] = endpoint
            env["FAUNA_SECRET"] = SECRET
            env["FAUNA_EMULATOR_CLOCK"] = clock
            env.pop("FAUNA_DEBUG", None)
            env.pop("NODE_OPTIONS", None)
            # One file at a time: the fault-injection test changes what the
            # emulator answers to *every* client for its next N requests.
            # --test-concurrency exists from node 20.10; older nodes get one
            # `node --test FILE` per file.
            if (major, minor) >= (20, 10):
                runs = [[node, "--test", "--test-concurrency=1", DRIVERS + os.sep]]
            else:
                files = sorted(f for f in os.listdir(DRIVERS) if f.endswith(".test.mjs"))
                runs = [[node, "--test", os.path.join(DRIVERS, f)] for f in files]
            started = time.monotonic()
            outputs = []
            returncode = 0
            for cmd in runs:
                res = subprocess.run(
                    cmd,
                    cwd=REPO,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=900,
                )
                outputs.append(res.stdout)
                returncode = returncode or res.returncode
            elapsed = time.monotonic() - started
        finally:
            stop_emulator(proc)
        sys.stdout.write("\n== fauna-js driver cross-check, emulator --clock %s\n" % clock)
        sys.stdout.write("".join(outputs))
        sys.stdout.write("\n[node --test (%s clock) finished in %.1fs, exit %d]\n"
                         % (clock, elapsed, returncode))
        sys.stdout.flush()
        if returncode != 0:
            tail = "\n".join(emu_lines[-40:])
            self.fail(
                "node --test exited %d against --clock %s (driver cross-check failed); "
                "see output above.\nlast emulator output:\n%s" % (returncode, clock, tail)
            )


if __name__ == "__main__":
    unittest.main()
