#!/usr/bin/env python3
"""CPU the emulator spends serving one page of a full collection read, in process.

Loads N documents (bench/fdw_bench.py's write_load_file: ~360 bytes each)
into a faunaemu Store and calls Service.query directly -- no HTTP, no
threads -- with the requests fauna_fdw sends for a scan (query templates,
x-format: tagged):

    serial    Bench.all().pageSize($n) { id, data }        then Set.paginate($after)
    serial+ts Bench.all().pageSize($n) { id, ts, data }    then Set.paginate($after)
    columns   Bench.all().pageSize($n) { id, name, ... }   (a column per field)
    parallel  at ($t) { Bench.all({ from: $a, to: $b }).pageSize($n) { id, data } }
              (the collection split in 4 id ranges), then Set.paginate($after)

Each read of the whole collection is timed with time.process_time();
--rounds reads per kind, the best and median are printed as ms of CPU per
page of --page-size documents. Parallel scans run several such streams
against one emulator process (one GIL), so this figure bounds them.

--profile prints a cProfile of one more round per kind.
--emulator DIR serves from another checkout's emulator package.
--compare DIR runs DIR's package and this tree's alternately in child
processes (--alternations times each; the machine is shared and noisy)
and prints the best of each with the ratio:

    mkdir -p /tmp/base && git archive main emulator | tar -x -C /tmp/base
    python3 bench/emulator_page_cpu.py --compare /tmp/base/emulator
"""

import argparse
import cProfile
import json
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

HEADERS = {"authorization": "Bearer secret", "x-format": "tagged"}
ID0 = 10_000_000          # fdw_bench's first document id


class V:
    """A value part of a query template."""
    def __init__(self, v):
        self.v = v


def template(*parts):
    """A request body as fauna_fdw builds it (src/fql.c): text parts and
    {"value": tagged} parts."""
    fql = [{"value": p.v} if isinstance(p, V) else p for p in parts]
    return json.dumps({"query": {"fql": fql}}).encode()


def first_pages(n_docs, page_size, streams=4):
    """kind -> list of first-page request bodies (one per stream)."""
    ps = V({"@int": str(page_size)})
    out = {
        "serial": [template("Bench.all().pageSize(", ps, ") { id, data }")],
        "serial+ts": [template("Bench.all().pageSize(", ps, ") { id, ts, data }")],
        # a table with a column per field (and the ref resolved to its document)
        "columns": [template("Bench.all().pageSize(", ps, ") { id, name, email, age, balance,"
                             " active, created, birthday, tags, address, manager }")],
    }
    par = []
    step = -(-n_docs // streams)
    for k in range(streams):
        lo, hi = ID0 + k * step, min(ID0 + (k + 1) * step, ID0 + n_docs) - 1
        par.append(template("at (", V({"@time": "2030-01-01T00:00:00.000000Z"}),
                            ") { Bench.all({ from: ", V(str(lo)), ", to: ", V(str(hi)),
                            " }).pageSize(", ps, ") { id, data } }"))
    out["parallel"] = par
    return out


def next_page(after):
    return template("Set.paginate(", V(after), ")")


AFTER_RE = re.compile(r'"after":"([^"]*)"')


def after_of(body):
    """The page's cursor (the client's work, so a regex, not json.loads)."""
    m = AFTER_RE.search(body, len(body) - 2000)
    return m.group(1) if m else None


def timed_read(svc, firsts):
    """CPU seconds and pages of reading every stream once; cursor parsing
    (the client's work) is not counted."""
    cpu = 0.0
    pages = 0
    for first in firsts:
        req = first
        while req is not None:
            t = time.process_time()
            status, body, _ = svc.query(req, HEADERS)
            cpu += time.process_time() - t
            if status != 200:
                raise RuntimeError("HTTP %d: %s" % (status, body[:500]))
            pages += 1
            after = after_of(body)
            req = next_page(after) if after else None
    return cpu, pages


def compare(args):
    """Alternate child runs of the two packages; best ms/page of each."""
    here = os.path.join(REPO, "emulator")
    runs = {"before": args.compare, "after": here}
    best = {}
    for _ in range(args.alternations):
        for label, emu in runs.items():
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--emulator", emu,
                                  "--docs", str(args.docs), "--page-size", str(args.page_size),
                                  "--rounds", str(args.rounds), "--json"]
                                 + (["--kinds", args.kinds] if args.kinds else []),
                                 capture_output=True, text=True, check=True).stdout
            for kind, ms in json.loads(out.splitlines()[-1]).items():
                best[(label, kind)] = min(best.get((label, kind), ms), ms)
    print("CPU ms per %d-document page, best of %d alternations x %d rounds"
          % (args.page_size, args.alternations, args.rounds))
    print("  before: %s\n  after:  %s" % (runs["before"], runs["after"]))
    print("%-10s %8s %8s %7s" % ("kind", "before", "after", "ratio"))
    for kind in first_pages(args.docs, args.page_size):
        if ("before", kind) not in best:
            continue
        b, a = best[("before", kind)], best[("after", kind)]
        print("%-10s %8.2f %8.2f %7.2f" % (kind, b, a, a / b))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--emulator", default=os.path.join(REPO, "emulator"),
                    help="directory holding the faunaemu package (default: this tree's)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--compare", metavar="DIR",
                    help="another faunaemu package's directory: run both, alternately")
    ap.add_argument("--alternations", type=int, default=3)
    ap.add_argument("--kinds", help="comma-separated kinds to run (default: all)")
    ap.add_argument("--json", action="store_true",
                    help="last line: {kind: best ms/page} (for --compare)")
    args = ap.parse_args()
    if args.compare:
        return compare(args)

    sys.path.insert(0, os.path.abspath(args.emulator))
    import fdw_bench
    from faunaemu.loader import load_file
    from faunaemu.service import Service
    from faunaemu.storage import Store
    print("emulator: %s" % os.path.dirname(sys.modules["faunaemu.service"].__file__))

    store = Store(logical=True)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "load.jsonl")
        fdw_bench.write_load_file(path, args.docs)
        load_file(store, path)
    svc = Service(store, "secret")

    kinds = first_pages(args.docs, args.page_size)
    result = {}
    for kind, firsts in kinds.items():
        if args.kinds and kind not in args.kinds.split(","):
            continue
        timed_read(svc, firsts)          # warm: version encodings are cached once
        per_page = []
        for _ in range(args.rounds):
            cpu, pages = timed_read(svc, firsts)
            per_page.append(cpu / pages * 1000)
        result[kind] = min(per_page)
        print("%-10s %3d pages of %d docs: CPU ms/page best %.2f median %.2f"
              % (kind, pages, args.page_size, min(per_page), statistics.median(per_page)))
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            timed_read(svc, firsts)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(18)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
