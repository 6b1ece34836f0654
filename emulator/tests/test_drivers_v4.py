"""Cross-check the emulator's legacy FQL v4 API (POST /) with the official
Fauna v4 JavaScript driver (npm ``faunadb``).

Starts ``emulator/fauna_emulator.py`` on a free port, installs the pinned
``faunadb`` driver into ``emulator/tests/drivers_v4/node_modules`` when
missing, and runs the node test files there (``node --test``) against it.

Run:  python3 -m unittest emulator.tests.test_drivers_v4
  or  python3 -m unittest discover -s emulator/tests -t .

node and npm are required: their absence is a failure, not a skip.
Set FAUNA_DRIVER_TESTS_CLOCK=logical to run against ``--clock logical``.
"""

import os
import shutil
import subprocess
import sys
import time
import unittest

from emulator.tests.test_drivers import EMULATOR, REPO, SECRET, start_emulator, stop_emulator

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVERS_V4 = os.path.join(HERE, "drivers_v4")


def ensure_v4_driver_installed():
    """npm install --ignore-scripts when node_modules/faunadb is missing."""
    if os.path.isdir(os.path.join(DRIVERS_V4, "node_modules", "faunadb")):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise AssertionError("npm is not installed (apt-get install npm)")
    res = subprocess.run(
        [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=DRIVERS_V4,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    if res.returncode != 0:
        raise AssertionError("npm install failed:\n" + res.stdout)


class DriverV4CrossCheck(unittest.TestCase):
    maxDiff = None

    def test_node_v4_driver(self):
        node = shutil.which("node")
        self.assertIsNotNone(node, "node is not installed (apt-get install nodejs)")
        self.assertIsNotNone(shutil.which("npm"), "npm is not installed (apt-get install npm)")
        ver = subprocess.run([node, "--version"], stdout=subprocess.PIPE, text=True).stdout
        major, minor = (int(x) for x in ver.strip().lstrip("v").split(".")[:2])
        self.assertGreaterEqual(major, 18, "node >= 18 is needed (node --test, fetch), got " + ver)
        self.assertTrue(os.path.exists(EMULATOR), "missing %s" % EMULATOR)

        ensure_v4_driver_installed()

        extra = []
        clock = os.environ.get("FAUNA_DRIVER_TESTS_CLOCK")
        if clock:
            extra += ["--clock", clock]
        proc, endpoint, emu_lines = start_emulator(extra)
        try:
            env = dict(os.environ)
            env["FAUNA_ENDPOINT"] = endpoint
            env["FAUNA_SECRET"] = SECRET
            env.pop("NODE_OPTIONS", None)
            files = sorted(f for f in os.listdir(DRIVERS_V4) if f.endswith(".test.mjs"))
            self.assertTrue(files, "no *.test.mjs in %s" % DRIVERS_V4)
            started = time.monotonic()
            outputs = []
            returncode = 0
            for f in files:
                res = subprocess.run(
                    [node, "--test", os.path.join(DRIVERS_V4, f)],
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
        sys.stdout.write("".join(outputs))
        sys.stdout.write("\n[node --test (v4 driver) finished in %.1fs, exit %d]\n" % (elapsed, returncode))
        sys.stdout.flush()
        if returncode != 0:
            tail = "\n".join(emu_lines[-40:])
            self.fail(
                "node --test exited %d (v4 driver cross-check failed); see output above.\n"
                "last emulator output:\n%s" % (returncode, tail)
            )


if __name__ == "__main__":
    unittest.main()
