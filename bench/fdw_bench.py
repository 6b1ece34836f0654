#!/usr/bin/env python3
"""fauna_fdw end-to-end benchmark (issue 6): fdw vs. official driver vs. transfer floor.

Run inside pg_virtualenv (PGHOST/PGUSER/... point at a throwaway cluster), as
root, with the extension installed (make && make install):

    pg_virtualenv python3 bench/fdw_bench.py                 # N = 10k, 100k, 1M
    pg_virtualenv python3 bench/fdw_bench.py --quick         # N = 10k, 100k
    pg_virtualenv python3 bench/fdw_bench.py --sizes 50000 --runs 5 --json out.json

For each N it writes a --load JSONL file (collection Bench with a ts index
byTs, values [{field: ".ts", order: "asc"}]; N documents of ~300 bytes of
user-field JSON, the shape of bench/emulator_throughput.py: strings, @int,
@double, bool, @time, @date, an array, a nested object, an @ref; every
document has its own ts, 1 ms apart, in an order shuffled against the ids),
starts the emulator with it, and measures, best of --runs:

 1. fauna_fdw (foreign table bench(ref text, ts timestamptz, data jsonb),
    page_size --page-size), in one long-lived psql session whose backend pid
    is known: wall (Python clock around the statement) and backend CPU
    (/proc/<pid>/schedstat on-CPU ns, and utime+stime of /proc/<pid>/stat)
    of
      A  SELECT count(data) FROM bench                       (decode only)
      B  SELECT count(*), sum(length(data::text)) FROM bench (+ jsonb output)
      C  INSERT INTO bench_local SELECT ref, ts, data FROM bench (+ heap writes)
 2. the official JS driver (npm fauna 2.5.0, bench/fdw_bench_driver.mjs):
    Bench.all().pageSize(P) paginated, every document decoded; wall and
    process.cpuUsage().
 3. the transfer floor: the very requests fauna_fdw sent (taken from the
    emulator's request log, cursors included: they are stateless and
    replay to the same pages), made again by one curl process on one
    keep-alive HTTP/1.1 connection, bodies discarded; wall is the sum of
    curl's time_total per transfer.
 4. peak memory of a fresh backend running B and C: VmHWM (peak RSS,
    includes shared buffers touched), the peak of RssAnon sampled every 2 ms
    (private memory), and sum(total_bytes) of pg_backend_memory_contexts
    after the statement (what stayed allocated).
 5. incremental refresh: the 1,000 (--changed) documents with the highest ts
    read with WHERE ts > <bound>, timed against the full scan (same queries
    A/B/C), with EXPLAIN VERBOSE of the refresh and its transfer floor.
 6. a page-size sweep (--page-sizes, at --sweep-sizes N) of query A/B and
    the floor, to choose the page_size default.

Prints the ratios: fdw wall / floor wall, fdw CPU / driver CPU, refresh /
full scan, and peak memory per N. See bench/README.md and bench/RESULTS.md.
"""

import argparse
import datetime
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import emulator_throughput as et  # noqa: E402  (load-file shape, emulator start/stop)

SECRET = et.SECRET
COLL = et.COLL
OTHER = et.OTHER
DRIVER = os.path.join(HERE, "fdw_bench_driver.mjs")
TS_BASE_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
TS_STEP_US = 1000
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGET_WALL = 1.2     # fdw wall / floor wall
TARGET_CPU = 1 / 3    # fdw CPU per doc / driver CPU per doc

QUERIES = {
    "A": "SELECT count(data) FROM {t}{w}",
    "B": "SELECT count(*), sum(length(data::text)) FROM {t}{w}",
    "C": "INSERT INTO bench_local SELECT ref, ts, data FROM {t}{w}",
}
QUERY_DESC = {
    "A": "count(data): fetch + decode to jsonb",
    "B": "count(*), sum(length(data::text)): + jsonb->text",
    "C": "INSERT INTO local SELECT ref, ts, data",
}


# ---------------------------------------------------------------- data

def write_load_file(path, n, seed=1):
    """Bench (with byTs) + BenchOther; doc i gets ts TS_BASE + perm[i] ms."""
    rng = random.Random(seed)
    perm = list(range(n))
    random.Random(seed + 1).shuffle(perm)
    n_other = 10
    with open(path, "w") as f:
        f.write(json.dumps({"collection": {"name": OTHER}}) + "\n")
        f.write(json.dumps({"collection": {"name": COLL, "indexes": {
            "byTs": {"values": [{"field": ".ts", "order": "asc"}]}}}}) + "\n")
        for j in range(n_other):
            f.write(json.dumps({"coll": OTHER, "id": str(1000 + j), "ts": TS_BASE_US,
                                "data": {"n": {"@int": str(j)}}}) + "\n")
        for i in range(n):
            data = et.tagged_doc_fields(i, rng, n_other)
            f.write(json.dumps({"coll": COLL, "id": str(10_000_000 + i),
                                "ts": TS_BASE_US + (perm[i] + 1) * TS_STEP_US, "data": data},
                               separators=(",", ":")) + "\n")


def ts_text(us):
    dt = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(microseconds=us)
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f+00")


# ---------------------------------------------------------------- psql session

class Psql:
    """One psql process (one backend) driven line by line over pipes."""

    def __init__(self):
        self.p = subprocess.Popen(["psql", "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1", "-F", "|"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.k = 0
        self.pid = int(self.run("SELECT pg_backend_pid()")[0])

    def run(self, sql):
        self.k += 1
        mark = "__fdw_bench_done_%d__" % self.k
        self.p.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo " + mark + "\n")
        self.p.stdin.flush()
        out = []
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("psql exited running %r:\n%s" % (sql, "".join(out)))
            if line.rstrip("\n") == mark:
                return [x.rstrip("\n") for x in out]
            out.append(line)

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(30)
        except Exception:
            self.p.kill()


def proc_cpu(pid):
    """(on-CPU seconds from schedstat, utime+stime seconds from stat)."""
    with open("/proc/%d/schedstat" % pid) as f:
        sched = int(f.read().split()[0]) / 1e9
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return sched, ticks / CLK_TCK


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssShmem", "RssFile"):
                out[k] = int(v.split()[0]) * 1024
    return out


class RssSampler:
    def __init__(self, pid, interval=0.002):
        self.pid, self.interval = pid, interval
        self.peak_anon = 0
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stop_ev.is_set():
            try:
                self.peak_anon = max(self.peak_anon, proc_status(self.pid)["RssAnon"])
            except (OSError, KeyError):
                pass
            time.sleep(self.interval)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop_ev.set()
        self.t.join()


def timed_sql(ps, sql):
    c0 = proc_cpu(ps.pid)
    t0 = time.perf_counter()
    out = ps.run(sql)
    wall = time.perf_counter() - t0
    c1 = proc_cpu(ps.pid)
    return {"wall": wall, "cpu": c1[0] - c0[0], "cpu_ticks": c1[1] - c0[1], "out": out}


# ---------------------------------------------------------------- emulator HTTP

class Emu:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.url = "http://%s:%d" % (host, port)
        self.data_url = self.url    # where queries go (a delay proxy, if any)

    def control(self, method, path):
        req = urllib.request.Request(self.url + path, method=method,
                                     headers={"Authorization": "Bearer " + SECRET})
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())

    def clear_log(self):
        self.control("DELETE", "/_emulator/log")

    def server_busy(self):
        """Seconds the emulator spent on the /query/1 requests in its log
        (elapsed_ms: from a request's headers to its answer being ready)."""
        reqs = self.control("GET", "/_emulator/log")["requests"]
        return sum(r.get("elapsed_ms") or 0 for r in reqs if r["path"] == "/query/1") / 1000

    def log_bodies(self):
        reqs = self.control("GET", "/_emulator/log")["requests"]
        return [r["body"] for r in reqs if r["path"] == "/query/1"]


FDW_HEADERS = {
    "Authorization": "Bearer " + SECRET,
    "Content-Type": "application/json",
    "Accept": "application/json",
    "x-format": "tagged",
    "x-driver": "fauna_fdw",
    "x-query-timeout-ms": "30000",
}


def replay(emu, bodies):
    """The transfer floor: the very requests fauna_fdw sent (its first
    query, then Set.paginate(<cursor>) with the cursors it received; the
    emulator's cursors are stateless, so they replay to the same pages),
    made by one curl process on one keep-alive connection, bodies
    discarded. Wall = the sum of curl's own time_total per transfer, so
    the process start is not counted. Returns {wall, requests, bytes,
    connects}."""
    with tempfile.TemporaryDirectory() as d:
        cfg = []
        for i, b in enumerate(bodies):
            f = os.path.join(d, "b%d" % i)
            with open(f, "w") as fh:
                fh.write(b)
            if i:
                cfg.append("next")
            cfg.append('url = "%s/query/1"' % emu.data_url)
            for k, v in FDW_HEADERS.items():
                cfg.append('header = "%s: %s"' % (k, v))
            cfg.append('data-binary = "@%s"' % f)
            cfg.append('output = "/dev/null"')
            cfg.append('write-out = "%{time_total} %{size_download} %{http_code} %{num_connects}\\n"')
        with open(os.path.join(d, "curl.cfg"), "w") as fh:
            fh.write("\n".join(cfg) + "\n")
        out = subprocess.run(["curl", "-s", "--http1.1", "-K", os.path.join(d, "curl.cfg")],
                             capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError("floor: curl exited %d: %s" % (out.returncode, out.stderr[-300:]))
    wall = nbytes = connects = 0
    lines = out.stdout.split()
    rows = [lines[i:i + 4] for i in range(0, len(lines), 4)]
    if len(rows) != len(bodies):
        raise RuntimeError("floor: %d curl transfers for %d requests" % (len(rows), len(bodies)))
    for t, size, code, conns in rows:
        if code != "200":
            raise RuntimeError("floor: HTTP %s" % code)
        wall += float(t)
        nbytes += int(size)
        connects += int(conns)
    return {"wall": wall, "requests": len(rows), "bytes": nbytes, "connects": connects}


def capture(emu, ps, sql):
    """Run sql once through the fdw with the emulator's log cleared; return
    the request bodies it sent."""
    emu.clear_log()
    ps.run(sql)
    bodies = emu.log_bodies()
    if len(bodies) >= 9999:
        raise RuntimeError("request log overflowed (%d requests); use a larger page size" % len(bodies))
    return bodies


def run_driver(emu, page_size, runs):
    out = subprocess.run(["node", DRIVER, emu.data_url, SECRET, COLL, str(page_size), str(runs)],
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError("driver failed:\n" + out.stderr[-3000:])
    res = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    for r in res:
        r["cpu"] = r["cpu_user_s"] + r["cpu_sys_s"]
        r["wall"] = r["wall_s"]
    return res


# ---------------------------------------------------------------- setup

def setup_sql(emu, page_size, page_sizes):
    lines = [
        "SET client_min_messages = warning",
        "CREATE EXTENSION IF NOT EXISTS fauna_fdw",
        "DROP SERVER IF EXISTS fauna_bench CASCADE",
        "CREATE SERVER fauna_bench FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint '%s', page_size '%d')"
        % (emu.data_url, page_size),
        "CREATE USER MAPPING FOR CURRENT_USER SERVER fauna_bench OPTIONS (secret '%s')" % SECRET,
        "CREATE FOREIGN TABLE bench (ref text, ts timestamptz, data jsonb) "
        "SERVER fauna_bench OPTIONS (collection '%s')" % COLL,
        "DROP TABLE IF EXISTS bench_local",
        "CREATE TABLE bench_local (ref text, ts timestamptz, data jsonb)",
    ]
    for p in page_sizes:
        lines.append("CREATE FOREIGN TABLE bench_p%d (ref text, ts timestamptz, data jsonb) "
                     "SERVER fauna_bench OPTIONS (collection '%s', page_size '%d')" % (p, COLL, p))
    return lines


def best(rs, key="wall"):
    return min(rs, key=lambda r: r[key])


def fmt_s(x):
    return "%.3f" % x


# ---------------------------------------------------------------- one N

def bench_size(n, args, workdir):
    res = {"n": n}
    load = os.path.join(workdir, "bench_%d.jsonl" % n)
    t0 = time.perf_counter()
    write_load_file(load, n)
    print("\n=== N = %d: load file %.1f MiB written in %.1fs" % (n, os.path.getsize(load) / 2**20,
                                                                 time.perf_counter() - t0), flush=True)
    proc, (host, port), start_secs, _ = et.start_emulator(load, [], args.startup_timeout)
    res["emulator_start_s"] = start_secs
    print("emulator ready after %.1fs (bulk load included)" % start_secs, flush=True)
    emu = Emu(host, port)
    proxy = None
    if args.latency_ms > 0:
        proxy = subprocess.Popen([sys.executable, os.path.join(HERE, "delay_proxy.py"), host,
                                  str(port), str(args.latency_ms / 2)],
                                 stdout=subprocess.PIPE, text=True)
        m = re.search(r"listening on ([\d.]+):(\d+)", proxy.stdout.readline())
        emu.data_url = "http://%s:%s" % (m.group(1), m.group(2))
        print("queries go through a proxy adding %.1f ms of round trip" % args.latency_ms)
    ps = None
    try:
        P = args.page_size
        sweep = n in args.sweep_sizes
        ps = Psql()
        for s in setup_sql(emu, P, args.page_sizes if sweep else []):
            ps.run(s)
        res["backend_pid"] = ps.pid

        # warm-up: a full fdw scan per query (fills the emulator's encoding
        # cache and the fdw's connection) that also captures the requests it
        # sends: the projection differs ({ id, data } or { id, ts, data }),
        # so each query gets its own transfer floor
        full_where = ""
        bodies = {}
        for q in "ABC":
            if q == "C":
                ps.run("TRUNCATE bench_local")
            bodies[q] = capture(emu, ps, QUERIES[q].format(t="bench", w=full_where))
        res["fdw_requests"] = len(bodies["A"])
        res["fdw_first_request"] = {q: b[0] if b else None for q, b in bodies.items()}
        for q in "ABC":
            print("fdw query %s sends %d requests; first: %s"
                  % (q, len(bodies[q]), bodies[q][0][:200] if bodies[q] else ""))
        res["fdw_explain"] = ps.run("EXPLAIN (VERBOSE, COSTS OFF) " + QUERIES["C"].format(t="bench", w=""))

        # ---- full scan, main page size: floor, fdw A/B/C, driver; interleaved runs
        runs = {"floorA": [], "floorB": [], "floorC": [], "A": [], "B": [], "C": [], "driver": []}
        for r in range(args.runs):
            for q in "ABC":
                emu.clear_log()
                runs["floor" + q].append(replay(emu, bodies[q]))
                runs["floor" + q][-1]["server"] = emu.server_busy()
            for q in "ABC":
                if q == "C":
                    ps.run("TRUNCATE bench_local")
                emu.clear_log()
                runs[q].append(timed_sql(ps, QUERIES[q].format(t="bench", w=full_where)))
                runs[q][-1]["server"] = emu.server_busy()
            if not args.no_driver:
                runs["driver"].extend(run_driver(emu, P, 1))
            print("  run %d: floor A %.3fs C %.3fs | fdw A %.3fs (cpu %.3f) B %.3fs (cpu %.3f) C %.3fs (cpu %.3f)%s"
                  % (r + 1, runs["floorA"][-1]["wall"], runs["floorC"][-1]["wall"], runs["A"][-1]["wall"],
                     runs["A"][-1]["cpu"], runs["B"][-1]["wall"], runs["B"][-1]["cpu"], runs["C"][-1]["wall"],
                     runs["C"][-1]["cpu"],
                     (" | driver %.3fs (cpu %.3f)" % (runs["driver"][-1]["wall"], runs["driver"][-1]["cpu"]))
                     if runs["driver"] else ""), flush=True)
        b_out = runs["B"][0]["out"]
        res["B_result"] = b_out
        if runs["driver"]:
            d = runs["driver"][-1]
            if d["docs"] != n or d["bad"]:
                raise RuntimeError("driver read %d docs (%d bad), expected %d" % (d["docs"], d["bad"], n))
        cnt = int(runs["A"][0]["out"][0])
        if cnt != n:
            raise RuntimeError("fdw counted %d docs, expected %d" % (cnt, n))
        res["full"] = {k: {"best": best(v) if v else None, "all": [
            {kk: vv for kk, vv in x.items() if kk != "out"} for x in v]} for k, v in runs.items()}
        for k in res["full"]:
            if res["full"][k]["best"]:
                res["full"][k]["best"] = {kk: vv for kk, vv in res["full"][k]["best"].items() if kk != "out"}

        # ---- incremental refresh: the --changed docs with the highest ts
        bound_us = TS_BASE_US + (n - args.changed) * TS_STEP_US
        w = " WHERE ts > '%s'" % ts_text(bound_us)
        res["refresh_where"] = w.strip()
        explain = ps.run("EXPLAIN (VERBOSE, COSTS OFF) " + QUERIES["B"].format(t="bench", w=w))
        res["refresh_explain"] = explain
        print("refresh query plan:\n    " + "\n    ".join(explain))
        rbodies = capture(emu, ps, QUERIES["A"].format(t="bench", w=w))
        res["refresh_requests"] = rbodies
        rruns = {"floor": [], "A": [], "B": [], "C": []}
        for r in range(args.runs):
            rruns["floor"].append(replay(emu, rbodies))
            for q in "ABC":
                if q == "C":
                    ps.run("TRUNCATE bench_local")
                rruns[q].append(timed_sql(ps, QUERIES[q].format(t="bench", w=w)))
        rc = int(rruns["A"][0]["out"][0])
        res["refresh_rows"] = rc
        if rc != args.changed:
            print("WARNING: refresh returned %d rows, expected %d" % (rc, args.changed))
        res["refresh"] = {k: {kk: vv for kk, vv in best(v).items() if kk != "out"} for k, v in rruns.items()}
        ea = ps.run("EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF) " + QUERIES["A"].format(t="bench", w=w))
        res["refresh_explain_analyze"] = ea

        # ---- page-size sweep
        if sweep:
            res["sweep"] = {}
            for p in args.page_sizes:
                t = "bench_p%d" % p
                sb = capture(emu, ps, QUERIES["A"].format(t=t, w=""))
                sr = {"floor": [], "A": [], "B": []}
                for r in range(args.runs):
                    sr["floor"].append(replay(emu, sb))
                    for q in "AB":
                        sr[q].append(timed_sql(ps, QUERIES[q].format(t=t, w="")))
                res["sweep"][p] = {k: {kk: vv for kk, vv in best(v).items() if kk != "out"}
                                   for k, v in sr.items()}
                res["sweep"][p]["requests"] = len(sb)
                print("  page_size %5d: %5d requests, floor %.3fs, fdw A %.3fs (cpu %.3f), B %.3fs (cpu %.3f)"
                      % (p, len(sb), res["sweep"][p]["floor"]["wall"], res["sweep"][p]["A"]["wall"],
                         res["sweep"][p]["A"]["cpu"], res["sweep"][p]["B"]["wall"], res["sweep"][p]["B"]["cpu"]),
                      flush=True)
        ps.close()
        ps = None

        # ---- peak memory: a fresh backend per statement
        res["memory"] = {}
        for q in ("B", "C"):
            m = Psql()
            try:
                if q == "C":
                    m.run("TRUNCATE bench_local")
                st0 = proc_status(m.pid)
                with RssSampler(m.pid) as smp:
                    tr = timed_sql(m, QUERIES[q].format(t="bench", w=""))
                st1 = proc_status(m.pid)
                ctx = int(m.run("SELECT sum(total_bytes) FROM pg_backend_memory_contexts")[0])
                top = m.run("SELECT name, total_bytes FROM pg_backend_memory_contexts "
                            "ORDER BY total_bytes DESC LIMIT 5")
                res["memory"][q] = {"before": st0, "after": st1, "peak_rss_anon": smp.peak_anon,
                                    "contexts_after": ctx, "top_contexts": top, "wall": tr["wall"]}
                print("memory %s: VmHWM %.1f MiB (before %.1f), peak RssAnon %.1f MiB (before %.1f), "
                      "contexts after %.2f MiB"
                      % (q, st1["VmHWM"] / 2**20, st0["VmHWM"] / 2**20, smp.peak_anon / 2**20,
                         st0["RssAnon"] / 2**20, ctx / 2**20), flush=True)
            finally:
                m.close()
    finally:
        if ps:
            ps.close()
        et.stop(proc)
        if proxy:
            proxy.kill()
            proxy.wait()
        try:
            os.remove(load)
        except OSError:
            pass
    return res


# ---------------------------------------------------------------- report

def report(results, args):
    P = args.page_size
    print("\n" + "=" * 78)
    print("SUMMARY (best of %d runs, page_size %d; CPU = backend on-CPU time from schedstat)" % (args.runs, P))
    print("\nFull scan: wall and ratio to the transfer floor (target <= %.1fx)" % TARGET_WALL)
    print("(floor A = the requests of A, projection { id, data }; floor C = those of C, { id, ts, data };\n"
          " each ratio uses its own query's floor)")
    print("%9s %8s | %8s %8s | %8s %6s | %8s %6s | %8s %6s | %8s" %
          ("N", "requests", "floorA s", "floorC s", "A s", "A/fl", "B s", "B/fl", "C s", "C/fl", "driver s"))
    for r in results:
        f = r["full"]
        fl = {q: f["floor" + q]["best"]["wall"] for q in "ABC"}
        d = f["driver"]["best"]["wall"] if f["driver"]["best"] else float("nan")
        print("%9d %8d | %8.3f %8.3f | %8.3f %6.2f | %8.3f %6.2f | %8.3f %6.2f | %8.3f" %
              (r["n"], r["fdw_requests"], fl["A"], fl["C"], f["A"]["best"]["wall"], f["A"]["best"]["wall"] / fl["A"],
               f["B"]["best"]["wall"], f["B"]["best"]["wall"] / fl["B"], f["C"]["best"]["wall"],
               f["C"]["best"]["wall"] / fl["C"], d))
    print("\nWhere the wall goes: the emulator's own work on the same requests (server s, the\n"
          "sum of its log's elapsed_ms) during the floor and during fauna_fdw's scan, best runs.\n"
          "fdw wall / its server s near 1 means fauna_fdw keeps the server busy: any excess over\n"
          "the floor is the server working slower while the backend runs beside it.")
    print("%9s | %9s %9s | %9s %9s %9s | %9s %9s" %
          ("N", "floorA s", "server s", "fdw A s", "server s", "A/server", "fdw C s", "C/server"))
    for r in results:
        f = r["full"]
        fa, a, c = f["floorA"]["best"], f["A"]["best"], f["C"]["best"]
        print("%9d | %9.3f %9.3f | %9.3f %9.3f %9.2f | %9.3f %9.2f" %
              (r["n"], fa["wall"], fa.get("server", float("nan")), a["wall"], a.get("server", float("nan")),
               a["wall"] / a["server"] if a.get("server") else float("nan"),
               c["wall"], c["wall"] / c["server"] if c.get("server") else float("nan")))
    print("\nClient CPU per document (target: fdw <= 1/3 of the driver)")
    print("%9s | %10s %10s %10s | %10s | %6s %6s %6s" %
          ("N", "A us/doc", "B us/doc", "C us/doc", "drv us/doc", "A/drv", "B/drv", "C/drv"))
    for r in results:
        f = r["full"]
        n = r["n"]
        dc = min(x["cpu"] for x in f["driver"]["all"]) if f["driver"]["all"] else float("nan")
        ca, cb, cc = (min(x["cpu"] for x in f[q]["all"]) for q in "ABC")
        print("%9d | %10.2f %10.2f %10.2f | %10.2f | %6.2f %6.2f %6.2f" %
              (n, ca / n * 1e6, cb / n * 1e6, cc / n * 1e6, dc / n * 1e6, ca / dc, cb / dc, cc / dc))
    print("\nIncremental refresh of %d changed documents (WHERE ts > bound) vs full scan" % args.changed)
    print("%9s %5s %5s | %8s %8s %7s | %8s %8s %7s | %8s %8s" %
          ("N", "rows", "reqs", "A ref s", "A full s", "ratio", "C ref s", "C full s", "ratio", "floor s", "A cpu s"))
    for r in results:
        rf, f = r["refresh"], r["full"]
        print("%9d %5d %5d | %8.4f %8.3f %7.4f | %8.4f %8.3f %7.4f | %8.4f %8.4f" %
              (r["n"], r["refresh_rows"], len(r["refresh_requests"]), rf["A"]["wall"], f["A"]["best"]["wall"],
               rf["A"]["wall"] / f["A"]["best"]["wall"], rf["C"]["wall"], f["C"]["best"]["wall"],
               rf["C"]["wall"] / f["C"]["best"]["wall"], rf["floor"]["wall"], rf["A"]["cpu"]))
    print("  (proportional to the changed docs would be ~%s)" %
          ", ".join("%.4f at N=%d" % (args.changed / r["n"], r["n"]) for r in results))
    print("\nPeak memory of a fresh backend (MiB)")
    print("%9s | %9s %9s %9s %9s | %9s %9s %9s" %
          ("N", "B VmHWM", "B HWM-0", "B anonpk", "B ctx", "C VmHWM", "C anonpk", "C ctx"))
    for r in results:
        mb, mc = r["memory"]["B"], r["memory"]["C"]
        M = 2**20
        print("%9d | %9.1f %9.1f %9.1f %9.2f | %9.1f %9.1f %9.2f" %
              (r["n"], mb["after"]["VmHWM"] / M, (mb["after"]["VmHWM"] - mb["before"]["VmHWM"]) / M,
               mb["peak_rss_anon"] / M, mb["contexts_after"] / M, mc["after"]["VmHWM"] / M,
               mc["peak_rss_anon"] / M, mc["contexts_after"] / M))
    for r in results:
        if "sweep" in r:
            print("\nPage-size sweep at N = %d" % r["n"])
            print("%9s %8s | %8s | %8s %6s %9s | %8s %6s %9s" %
                  ("page", "requests", "floor s", "A s", "A/fl", "A cpu s", "B s", "B/fl", "B cpu s"))
            for p, s in sorted(r["sweep"].items()):
                fl = s["floor"]["wall"]
                print("%9d %8d | %8.3f | %8.3f %6.2f %9.3f | %8.3f %6.2f %9.3f" %
                      (p, s["requests"], fl, s["A"]["wall"], s["A"]["wall"] / fl, s["A"]["cpu"],
                       s["B"]["wall"], s["B"]["wall"] / fl, s["B"]["cpu"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated N list")
    ap.add_argument("--quick", action="store_true", help="N = 10000,100000 only")
    ap.add_argument("--page-size", type=int, default=1000, help="page_size of the main measurements")
    ap.add_argument("--page-sizes", default="100,1000,4000,16000", help="page sizes of the sweep")
    ap.add_argument("--sweep-sizes", default="100000", help="N values at which the sweep runs ('' for none)")
    ap.add_argument("--runs", type=int, default=3, help="repetitions; the best is reported")
    ap.add_argument("--changed", type=int, default=1000, help="documents read by the refresh")
    ap.add_argument("--no-driver", action="store_true", help="skip the JS driver")
    ap.add_argument("--json", help="write all numbers here")
    ap.add_argument("--startup-timeout", type=float, default=600.0)
    ap.add_argument("--latency-ms", type=float, default=0,
                    help="round-trip time added between the clients and the emulator "
                         "(bench/delay_proxy.py), as to a remote Fauna")
    args = ap.parse_args()
    args.sizes = [int(x) for x in ("10000,100000" if args.quick else args.sizes).split(",") if x]
    args.page_sizes = [int(x) for x in args.page_sizes.split(",") if x]
    args.sweep_sizes = [int(x) for x in args.sweep_sizes.split(",") if x]
    if not os.environ.get("PGHOST") and not os.environ.get("PGPORT"):
        print("warning: PGHOST/PGPORT not set; run inside pg_virtualenv", file=sys.stderr)

    workdir = tempfile.mkdtemp(prefix="fdw-bench-")
    results = []
    try:
        for n in args.sizes:
            results.append(bench_size(n, args, workdir))
            if args.json:
                with open(args.json, "w") as f:
                    json.dump({"args": {k: v for k, v in vars(args).items()}, "results": results}, f, indent=1)
    finally:
        try:
            os.rmdir(workdir)
        except OSError:
            pass
    report(results, args)


if __name__ == "__main__":
    main()
