#!/usr/bin/env python3
"""Parallel and asynchronous scans of fauna_fdw, side by side in one run.

Run inside pg_virtualenv, as root, with the extension installed:

    pg_virtualenv -t -v 15 python3 bench/parallel_bench.py
    pg_virtualenv -t -v 15 python3 bench/parallel_bench.py --sizes 100000 --latencies 0,40

For each N (--sizes) it loads the emulator with N documents in collection
Bench (the documents of bench/fdw_bench.py, ~360 bytes each) and N/4 in
each of Q1..Q4 (served by --read-processes emulator processes: one
process computes one page at a time, as one node of the real service
would not), and for each round trip (--latencies, ms; 0 = loopback,
else through bench/delay_proxy.py) measures, best of --runs:

  serial    SELECT count(*), sum(hashtext(ref || data::text)) FROM bench
            with max_parallel_workers_per_gather = 0 (one stream)
  par K     the same query read by K streams (K = --streams: the table's
            max_streams K, max_parallel_workers_per_gather K - 1)
  union     the same checksum over bench_q1 UNION ALL ... bench_q4, with
            async_capable off, then on (max_parallel_workers_per_gather 0)

Every variant's result (row count and checksum of every row) must equal
the serial one's.  While each runs, the peak RssAnon of the leader and of
each of its parallel workers is sampled (memory per stream).  Prints the
speed-up of each variant over its serial counterpart; see bench/RESULTS.md.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import emulator_throughput as et  # noqa: E402
import fdw_bench as fb  # noqa: E402

CHECKSUM = "SELECT count(*), sum(hashtext(ref || data::text)::bigint) FROM {t}"
UNION = ("(SELECT ref, data FROM bench_q1 UNION ALL SELECT ref, data FROM bench_q2 "
         "UNION ALL SELECT ref, data FROM bench_q3 UNION ALL SELECT ref, data FROM bench_q4) u")


def write_load_file(path, n):
    """Bench: n documents; Q1..Q4: n/4 each (ids in disjoint ranges)."""
    fb.write_load_file(path, n)
    rng = __import__("random").Random(7)
    with open(path, "a") as f:
        for q in range(1, 5):
            f.write(json.dumps({"collection": {"name": "Q%d" % q}}) + "\n")
        for q in range(1, 5):
            for i in range(n // 4):
                data = et.tagged_doc_fields(i, rng, 10)
                f.write(json.dumps({"coll": "Q%d" % q, "id": str(q * 100_000_000 + i),
                                    "data": data}, separators=(",", ":")) + "\n")


def cpu_seconds(pid):
    """User + system CPU of a process (and of its reaped children), in s."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def tree_pids(pid):
    """A process and its children (the emulator's --read-processes)."""
    out = [pid]
    for d in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(d) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.split("/")[2]))
        except (OSError, ValueError, IndexError):
            pass
    return out


class StreamMemory:
    """Peak RssAnon and last CPU time of a backend and of its parallel
    workers, sampled."""

    def __init__(self, leader):
        self.leader = leader
        self.peaks = {}
        self.cpu = {}
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.loop, daemon=True)

    def pids(self):
        out = [self.leader]
        tag = ("parallel worker for PID %d" % self.leader).encode()
        for d in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                with open(d, "rb") as f:
                    if tag in f.read():
                        out.append(int(d.split("/")[2]))
            except OSError:
                pass
        return out

    def loop(self):
        while not self.stop_ev.is_set():
            for pid in self.pids():
                try:
                    anon = fb.proc_status(pid)["RssAnon"]
                    self.cpu[pid] = cpu_seconds(pid)
                except (OSError, KeyError):
                    continue
                self.peaks[pid] = max(self.peaks.get(pid, 0), anon)
            time.sleep(0.01)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop_ev.set()
        self.t.join()


def setup(ps, url, page_size):
    for s in [
        "SET client_min_messages = warning",
        "CREATE EXTENSION IF NOT EXISTS fauna_fdw",
        "DROP SERVER IF EXISTS pb CASCADE",
        "CREATE SERVER pb FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint '%s', page_size '%d')"
        % (url, page_size),
        "CREATE USER MAPPING FOR CURRENT_USER SERVER pb OPTIONS (secret '%s')" % et.SECRET,
        "CREATE FOREIGN TABLE bench (ref text, data jsonb) SERVER pb OPTIONS (collection 'Bench')",
    ] + ["CREATE FOREIGN TABLE bench_q%d (ref text, data jsonb) SERVER pb OPTIONS (collection 'Q%d')"
         % (q, q) for q in range(1, 5)]:
        ps.run(s)


def measure(ps, sql, settings, runs, others):
    """Best of runs; others: {name: [pid]} whose CPU is counted too (the
    emulator, the delay proxy), beside the backends' (sampled, so a
    worker's last 10 ms may be missed)."""
    for s in settings:
        ps.run(s)
    best = None
    walls = []
    for _ in range(runs):
        before = {k: sum(cpu_seconds(p) for p in pids) for k, pids in others.items()}
        lead = cpu_seconds(ps.pid)
        with StreamMemory(ps.pid) as mem:
            r = fb.timed_sql(ps, sql)
        r["peaks"] = mem.peaks
        r["cpu"] = {k: sum(cpu_seconds(p) for p in pids) - before[k] for k, pids in others.items()}
        r["cpu"]["backends"] = (cpu_seconds(ps.pid) - lead +
                                sum(v for p, v in mem.cpu.items() if p != ps.pid))
        walls.append(r["wall"])
        if best is None or r["wall"] < best["wall"]:
            best = r
    plan = "\n".join(ps.run("EXPLAIN (COSTS OFF) " + sql))
    return {"wall": best["wall"], "walls": walls, "out": best["out"], "plan": plan, "cpu": best["cpu"],
            "streams": len(best["peaks"]),
            "max_rss_anon": max(best["peaks"].values()) if best["peaks"] else 0}


def bench_one(ps, n, latency, args, others):
    res = {}
    par = ["RESET max_parallel_workers_per_gather", "SET parallel_setup_cost = 0",
           "SET parallel_tuple_cost = 0", "SET min_parallel_table_scan_size = 0",
           "ALTER FOREIGN TABLE bench OPTIONS (SET rows '%d')" % n]
    ps.run("ALTER FOREIGN TABLE bench OPTIONS (ADD rows '%d')" % n)
    ps.run("ALTER FOREIGN TABLE bench OPTIONS (ADD max_streams '1')")
    res["serial"] = measure(ps, CHECKSUM.format(t="bench"),
                            ["SET max_parallel_workers_per_gather = 0"], args.runs, others)
    for k in args.streams:
        res["par%d" % k] = measure(ps, CHECKSUM.format(t="bench"), par + [
            "ALTER FOREIGN TABLE bench OPTIONS (SET max_streams '%d')" % k,
            "SET max_parallel_workers_per_gather = %d" % (k - 1)], args.runs, others)
    ps.run("SET max_parallel_workers_per_gather = 0")
    for mode in ("false", "true"):
        res["union_async_" + mode] = measure(ps, CHECKSUM.format(t=UNION), [
            "ALTER SERVER pb OPTIONS (%s async_capable '%s')" % ("ADD" if mode == "false" else "SET", mode)],
            args.runs, others)
    ps.run("ALTER SERVER pb OPTIONS (DROP async_capable)")
    ps.run("ALTER FOREIGN TABLE bench OPTIONS (DROP max_streams, DROP rows)")
    for k, v in res.items():
        print("  N=%d rtt=%dms %-18s %7.2fs (runs: %s)  %s  streams %d  peak RssAnon/stream %.1f MiB  CPU s: %s"
              % (n, latency, k, v["wall"], " ".join("%.2f" % w for w in v["walls"]), "|".join(v["out"]), v["streams"], v["max_rss_anon"] / 2**20,
                 ", ".join("%s %.2f" % kv for kv in sorted(v["cpu"].items()))),
              flush=True)
    ref = res["serial"]["out"]
    for k, v in res.items():
        if k.startswith("par") and v["out"] != ref:
            raise RuntimeError("%s returned %s, serial %s" % (k, v["out"], ref))
    if res["union_async_true"]["out"] != res["union_async_false"]["out"]:
        raise RuntimeError("async union differs from the synchronous one")
    for k in res:
        if k.startswith("par") and "Parallel Foreign Scan" not in res[k]["plan"]:
            raise RuntimeError("%s did not run in parallel:\n%s" % (k, res[k]["plan"]))
    if "Async Foreign Scan" not in res["union_async_true"]["plan"]:
        raise RuntimeError("the union was not asynchronous:\n" + res["union_async_true"]["plan"])
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--latencies", default="0,40", help="round trips in ms, 0 = loopback")
    ap.add_argument("--streams", default="2,4,8")
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--read-processes", type=int, default=1,
                    help="emulator processes serving reads side by side (its --read-processes)")
    ap.add_argument("--json")
    args = ap.parse_args()
    args.streams = [int(x) for x in args.streams.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as d:
        for n in [int(x) for x in args.sizes.split(",")]:
            load = os.path.join(d, "load.jsonl")
            write_load_file(load, n)
            proc, (host, port), secs, _ = et.start_emulator(
                load, ["--read-processes", str(args.read_processes)], 1800)
            print("=== N = %d: emulator loaded in %.1fs" % (n, secs), flush=True)
            try:
                for latency in [int(x) for x in args.latencies.split(",")]:
                    url = "http://%s:%d" % (host, port)
                    proxy = None
                    if latency > 0:
                        proxy = subprocess.Popen([sys.executable, os.path.join(HERE, "delay_proxy.py"),
                                                  host, str(port), str(latency / 2)],
                                                 stdout=subprocess.PIPE, text=True)
                        m = re.search(r"listening on ([\d.]+):(\d+)", proxy.stdout.readline())
                        url = "http://%s:%s" % (m.group(1), m.group(2))
                    ps = fb.Psql()
                    try:
                        setup(ps, url, args.page_size)
                        others = {"emulator": tree_pids(proc.pid)}
                        if proxy:
                            others["proxy"] = [proxy.pid]
                        res = bench_one(ps, n, latency, args, others)
                    finally:
                        ps.close()
                        if proxy:
                            proxy.kill()
                    results.append({"n": n, "latency_ms": latency, "results": {
                        k: {kk: vv for kk, vv in v.items() if kk != "plan"} for k, v in res.items()}})
            finally:
                et.stop(proc)
    print("\n| N | round trip | serial s | " + " | ".join("%d streams" % k for k in args.streams)
          + " | UNION ALL sync s | async |")
    print("|---|---|---|" + "---|" * len(args.streams) + "---|---|")
    for r in results:
        res = r["results"]
        s = res["serial"]["wall"]
        u = res["union_async_false"]["wall"]
        print("| %d | %s | %.2f | %s | %.2f | %.2f s, %.2f x |"
              % (r["n"], "%d ms" % r["latency_ms"] if r["latency_ms"] else "loopback", s,
                 " | ".join("%.2f s, %.2f x" % (res["par%d" % k]["wall"], s / res["par%d" % k]["wall"])
                            for k in args.streams),
                 u, res["union_async_true"]["wall"], u / res["union_async_true"]["wall"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
