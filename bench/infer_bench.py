#!/usr/bin/env python3
"""Documents read by type inference (issue 14): O(sample), not O(collection).

Run inside pg_virtualenv (a throwaway cluster), with the extension
installed (make install), e.g. through the machine's lock:

    pg_virtualenv -t -v 15 python3 bench/infer_bench.py
    ... python3 bench/infer_bench.py --docs 2000 --samples 10,100   # a smoke run

For each collection size N (--docs) it writes a --load file with two
collections of N small documents each -- InferSpread, with a ts index
(byTs), and InferFirst, without one -- starts the emulator with it, and for
each sample size S (--samples) runs

    SELECT count(*) FROM fauna_fdw_infer('bench', <collection>, S)

Documents read: the emulator's request log holds the requests fauna_fdw
sent; each one is sent again and the documents of its answer are counted,
with the read_ops Fauna would bill for it.  Prints, per N, S and
collection: the requests, the documents read, the read ops, documents read
/ S and / N, and the wall time of the statement.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request

SECRET = "infer_bench_secret"
TS_BASE_US = 1_700_000_000_000_000


def write_load_file(path, n, seed=1):
    """N documents in each collection, 1 ms apart, ts shuffled against ids."""
    rng = random.Random(seed)
    perm = list(range(n))
    random.Random(seed + 1).shuffle(perm)
    with open(path, "w") as f:
        f.write(json.dumps({"collection": {"name": "InferSpread", "indexes": {
            "byTs": {"values": [{"field": ".ts", "order": "asc"}]}}}}) + "\n")
        f.write(json.dumps({"collection": {"name": "InferFirst"}}) + "\n")
        for coll, base in (("InferSpread", 10_000_000), ("InferFirst", 50_000_000)):
            for i in range(n):
                data = {"n": {"@int": str(i)}, "name": "doc%d" % i,
                        "price": {"@double": "%.2f" % (rng.random() * 100)},
                        "active": i % 3 == 0,
                        "when": {"@time": "2024-01-01T00:00:00Z"},
                        "tags": ["a", "b"][: i % 3]}
                f.write(json.dumps({"coll": coll, "id": str(base + i),
                                    "ts": TS_BASE_US + (perm[i] + 1) * 1000,
                                    "data": data}, separators=(",", ":")) + "\n")


def control(url, method, path):
    req = urllib.request.Request(url + path, method=method,
                                 headers={"Authorization": "Bearer " + SECRET})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def documents_returned(url, body):
    """Send a logged request again: the documents its answer holds (the
    elements of a page, or one document), and its read_ops."""
    req = urllib.request.Request(
        url + "/query/1", data=body.encode(), method="POST",
        headers={"Authorization": "Bearer " + SECRET,
                 "Content-Type": "application/json", "x-format": "tagged"})
    with urllib.request.urlopen(req, timeout=120) as r:
        answer = json.loads(r.read())
    data = answer.get("data")
    if isinstance(data, dict) and "@set" in data:
        data = data["@set"]
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        docs = len(data["data"])
    else:
        docs = 0 if data is None else 1
    return docs, answer["stats"]["read_ops"]


def psql(sql):
    return subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def start_emulator(load):
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    p = subprocess.Popen([sys.executable, "emulator/fauna_emulator.py", "--port", "0",
                          "--secret", SECRET, "--load", load],
                         stdout=log, stderr=subprocess.STDOUT)
    for _ in range(6000):
        with open(log.name) as f:
            for line in f:
                if "listening on" in line:
                    return p, line.split("listening on ")[1].split()[0]
        if p.poll() is not None:
            sys.exit("emulator exited:\n" + open(log.name).read())
        time.sleep(0.1)
    p.kill()
    sys.exit("emulator did not start")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", default="100000", help="collection sizes, comma-separated")
    ap.add_argument("--samples", default="100,1000", help="sample sizes, comma-separated")
    args = ap.parse_args()
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    if "PGHOST" not in os.environ and "PGPORT" not in os.environ:
        print("warning: PGHOST/PGPORT not set; run inside pg_virtualenv", file=sys.stderr)

    print("%9s %7s %-12s %8s %10s %8s %8s %10s %8s" %
          ("N", "sample", "collection", "requests", "docs read", "read ops", "read/S",
           "read/N", "wall s"))
    for n in [int(x) for x in args.docs.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            load = os.path.join(tmp, "load.jsonl")
            write_load_file(load, n)
            emu, url = start_emulator(load)
            try:
                psql("DROP EXTENSION IF EXISTS fauna_fdw CASCADE; CREATE EXTENSION fauna_fdw;"
                     "CREATE SERVER bench FOREIGN DATA WRAPPER fauna_fdw "
                     "OPTIONS (endpoint '%s');"
                     "CREATE USER MAPPING FOR CURRENT_USER SERVER bench "
                     "OPTIONS (secret '%s');"
                     % (url, SECRET))
                for s in [int(x) for x in args.samples.split(",")]:
                    for coll in ("InferSpread", "InferFirst"):
                        control(url, "DELETE", "/_emulator/log")
                        t0 = time.monotonic()
                        psql("SELECT count(*) FROM fauna_fdw_infer('bench', '%s', %d)" % (coll, s))
                        wall = time.monotonic() - t0
                        bodies = [r["body"] for r in control(url, "GET", "/_emulator/log")["requests"]
                                  if r["path"] == "/query/1"]
                        counts = [documents_returned(url, b) for b in bodies]
                        docs = sum(c[0] for c in counts)
                        ops = sum(c[1] for c in counts)
                        print("%9d %7d %-12s %8d %10d %8d %8.2f %10.5f %8.3f" %
                              (n, s, coll, len(bodies), docs, ops, docs / s, docs / n, wall))
                        sys.stdout.flush()
                psql("DROP EXTENSION fauna_fdw CASCADE;")
            finally:
                emu.terminate()
                emu.wait()


if __name__ == "__main__":
    main()
