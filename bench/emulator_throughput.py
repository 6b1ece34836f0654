#!/usr/bin/env python3
"""Emulator read throughput: page through a large collection the way fauna_fdw does.

Generates a --load JSONL file of N documents (~300 bytes of JSON each, with
nested objects, arrays, times, dates, numbers and refs), starts
emulator/fauna_emulator.py with it, then reads the whole collection over one
keep-alive HTTP/1.1 connection (http.client.HTTPConnection):

    POST /query/1  Bench.all().pageSize(1000)            (x-format: tagged)
    POST /query/1  Set.paginate(<after>)  ... until no cursor

The timed loop does what a lean client must: send, read the body, find the
cursor, count the documents. Every body is then parsed with json.loads (timed
separately and reported) and checked: N distinct ids, in id order, each a
@doc of the collection with its fields.

Prints docs/s, bytes/s and the ratio to the target (100,000 docs/s).
With --check, exits 1 when below the target. See bench/README.md.
"""

import argparse
import gc
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMULATOR = os.path.join(REPO, "emulator", "fauna_emulator.py")
TARGET_DOCS_PER_S = 100_000
SECRET = "bench-secret"
COLL = "Bench"
OTHER = "BenchOther"
LISTEN_RE = re.compile(r"listening on http://([^:/\s]+):(\d+)")
AFTER_RE = re.compile(rb'"after"\s*:\s*"([^"]*)"')
DOC_TAG = b'"@doc"'

FIRST_NAMES = ["Ada", "Grace", "Linus", "Barbara", "Ken", "Edsger", "Frances", "Donald"]
CITIES = ["Lisbon", "Oslo", "Quito", "Hanoi", "Accra", "Perth", "Lima", "Riga"]
TAGS = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa"]


def tagged_doc_fields(i, rng, n_other):
    """User fields of document i, tagged (x-format: tagged) JSON."""
    sec = 1_700_000_000 + i * 37
    created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return {
        "name": "%s %d" % (rng.choice(FIRST_NAMES), i),
        "email": "user%d@example.com" % i,
        "age": {"@int": str(18 + i % 70)},
        "balance": {"@double": "%d.%02d" % (i % 10000, i % 100)},
        "active": i % 3 != 0,
        "created": {"@time": "%s.%06dZ" % (created, i % 1_000_000)},
        "birthday": {"@date": "19%02d-%02d-%02d" % (50 + i % 50, 1 + i % 12, 1 + i % 28)},
        "tags": rng.sample(TAGS, 3),
        "address": {
            "street": "%d Main St" % (i % 999),
            "city": rng.choice(CITIES),
            "zip": "%05d" % (i % 100000),
        },
        "manager": {"@ref": {"id": str(1000 + i % n_other), "coll": {"@mod": OTHER}}},
    }


def write_load_file(path, n, seed=1):
    """Write the --load JSONL file (format: emulator/README.md)."""
    rng = random.Random(seed)
    n_other = 10
    raw_sizes = []
    with open(path, "w") as f:
        # collections first, then documents
        f.write(json.dumps({"collection": {"name": OTHER}}) + "\n")
        f.write(json.dumps({"collection": {"name": COLL}}) + "\n")
        for j in range(n_other):
            f.write(json.dumps({"coll": OTHER, "id": str(1000 + j), "data": {"n": {"@int": str(j)}}}) + "\n")
        for i in range(n):
            data = tagged_doc_fields(i, rng, n_other)
            line = json.dumps({"coll": COLL, "id": str(10_000_000 + i), "data": data}, separators=(",", ":"))
            if i < 1000:
                raw_sizes.append(len(json.dumps(data, separators=(",", ":"))))
            f.write(line + "\n")
    return sum(raw_sizes) / len(raw_sizes)


def start_emulator(load_file, extra, timeout):
    cmd = [sys.executable, EMULATOR, "--port", "0", "--secret", SECRET, "--load", load_file] + extra
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    found = {}
    ready = threading.Event()

    def pump():
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            m = LISTEN_RE.search(line)
            if m and not ready.is_set():
                found["addr"] = (m.group(1), int(m.group(2)))
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    t0 = time.monotonic()
    ready.wait(timeout)
    if "addr" not in found:
        stop(proc)
        sys.exit("emulator did not become ready in %.0fs:\n%s" % (timeout, "\n".join(lines[-30:])))
    return proc, found["addr"], time.monotonic() - t0, lines


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def post(conn, body):
    payload = json.dumps(body).encode()
    conn.request(
        "POST",
        "/query/1",
        body=payload,
        headers={
            "Authorization": "Bearer " + SECRET,
            "Content-Type": "application/json",
            "x-format": "tagged",
            "Connection": "keep-alive",
        },
    )
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise SystemExit("HTTP %d: %s" % (resp.status, data[:500].decode(errors="replace")))
    return data


def read_all(host, port, page_size):
    """The timed loop. Returns (bodies, docs, bytes, requests, seconds)."""
    conn = http.client.HTTPConnection(host, port, timeout=120)
    first_q = "%s.all().pageSize(%d)" % (COLL, page_size)
    bodies = []
    docs = 0
    nbytes = 0
    t0 = time.perf_counter()
    body = post(conn, {"query": {"fql": [first_q]}})
    while True:
        bodies.append(body)
        nbytes += len(body)
        docs += body.count(DOC_TAG)
        # the cursor follows the data array; search from the end
        tail = body[body.rfind(b'"after"') :] if b'"after"' in body else b""
        m = AFTER_RE.match(tail)
        if not m:
            break
        after = m.group(1).decode()
        body = post(conn, {"query": {"fql": ["Set.paginate(", {"value": after}, ")"]}})
    secs = time.perf_counter() - t0
    conn.close()
    return bodies, docs, nbytes, len(bodies), secs


def verify(bodies, n, page_size):
    """Parse every page and check the documents. Returns parse seconds."""
    gc.disable()  # millions of small dicts: the cyclic GC would dominate
    try:
        t0 = time.perf_counter()
        parsed = [json.loads(b) for b in bodies]
        parse_secs = time.perf_counter() - t0
    finally:
        gc.enable()
    ids = []
    for k, p in enumerate(parsed):
        data = p["data"]
        page = data["@set"] if "@set" in data else data  # page 1 is a @set, later ones plain
        items = page["data"]
        if k < len(parsed) - 1:
            assert len(items) == page_size, "page %d has %d items" % (k, len(items))
            assert "after" in page, "page %d lacks a cursor" % k
        else:
            assert "after" not in page, "last page has a cursor"
        for d in items:
            doc = d["@doc"]
            assert doc["coll"] == {"@mod": COLL}, doc["coll"]
            assert "@time" in doc["ts"], doc["ts"]
            assert doc["email"] == "user%d@example.com" % (int(doc["id"]) - 10_000_000), doc
            assert "@ref" in doc["manager"], doc["manager"]
            assert "@time" in doc["created"] and "@date" in doc["birthday"], doc
            ids.append(doc["id"])
    assert len(ids) == n, "read %d docs, expected %d" % (len(ids), n)
    assert len(set(ids)) == n, "duplicate ids"
    assert ids == sorted(ids, key=int), "not in id order"
    return parse_secs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", "-n", type=int, default=100_000, help="documents to load (default 100000)")
    ap.add_argument("--page-size", type=int, default=1000, help="documents per page (default 1000)")
    ap.add_argument("--runs", type=int, default=3,
                    help="timed passes over the collection (default 3): the first is the cold read, "
                         "the best of the others the warm one")
    ap.add_argument("--load", help="reuse/write the JSONL file here instead of a temp file")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if the checked pass is below %d docs/s" % TARGET_DOCS_PER_S)
    ap.add_argument("--check-pass", choices=["cold", "warm"], default="cold",
                    help="which pass --check judges: cold = the first read after start-up "
                         "(default), warm = the best of the later runs")
    ap.add_argument("--clock", choices=["logical", "wall"], help="pass --clock to the emulator")
    ap.add_argument("--startup-timeout", type=float, default=300.0)
    args = ap.parse_args()

    tmpdir = None
    load = args.load
    if not load:
        tmpdir = tempfile.mkdtemp(prefix="fauna-bench-")
        load = os.path.join(tmpdir, "bench.jsonl")
    t0 = time.perf_counter()
    avg = write_load_file(load, args.docs)
    gen_secs = time.perf_counter() - t0
    print("generated %d docs in %.2fs (%s, %.1f MiB, avg %.0f B of user-field JSON per doc)"
          % (args.docs, gen_secs, load, os.path.getsize(load) / 2**20, avg))

    extra = ["--clock", args.clock] if args.clock else []
    proc, (host, port), start_secs, emu_lines = start_emulator(load, extra, args.startup_timeout)
    print("emulator ready on %s:%d after %.2fs (including the bulk load)" % (host, port, start_secs))
    try:
        results = []
        for run in range(args.runs):
            bodies, docs, nbytes, reqs, secs = read_all(host, port, args.page_size)
            parse_secs = verify(bodies, args.docs, args.page_size)
            results.append((secs, docs, nbytes, reqs, parse_secs))
            print("run %d: %d docs, %d requests, %.1f MiB in %.3fs = %.0f docs/s, %.1f MiB/s "
                  "(client json.loads of all pages: %.3fs)"
                  % (run + 1, docs, reqs, nbytes / 2**20, secs, docs / secs, nbytes / secs / 2**20, parse_secs))
            del bodies
    finally:
        stop(proc)
        if tmpdir:
            try:
                os.remove(load)
                os.rmdir(tmpdir)
            except OSError:
                pass

    def report(label, r):
        secs, docs, nbytes, reqs, parse_secs = r
        rate = docs / secs
        print("%s: %d docs in %.3fs" % (label, docs, secs))
        print("  docs/s:   %.0f" % rate)
        print("  bytes/s:  %.0f (%.1f MiB/s, %.0f B per doc on the wire)"
              % (nbytes / secs, nbytes / secs / 2**20, nbytes / docs))
        print("  target:   %d docs/s; ratio %.2f%s"
              % (TARGET_DOCS_PER_S, rate / TARGET_DOCS_PER_S,
                 "" if rate >= TARGET_DOCS_PER_S else "  BELOW TARGET"))
        return rate

    print()
    rates = {"cold": report("cold (first pass after start-up)", results[0])}
    if len(results) > 1:
        rates["warm"] = report("warm (best of passes 2..%d)" % len(results), min(results[1:]))
    checked = rates.get(args.check_pass, rates["cold"])
    if checked < TARGET_DOCS_PER_S:
        print("RESULT: %s pass below target" % args.check_pass)
        if args.check:
            sys.exit(1)
    else:
        print("RESULT: %s pass meets the target" % args.check_pass)

if __name__ == "__main__":
    main()
