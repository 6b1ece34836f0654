#!/usr/bin/env python3
"""Backend CPU per document of several builds of fauna_fdw, alternated.

    pg_virtualenv -t -v 15 python3 bench/build_cpu.py DIR1,DIR2,... [N]

For each work tree DIR (each with the extension built), three rounds of:
`make install` from DIR, a new session, and the best of three runs of
fdw_bench.py's query A (`SELECT count(data) FROM bench`, N documents,
default 200,000, page_size 1000) by backend CPU (/proc schedstat).  The
builds alternate within a round, so a noisy machine treats them alike.
Prints each build's best CPU and its CPU per document.  Installs into the
machine's PostgreSQL: hold the lock other test runs use.
"""
import os, subprocess, sys, time, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdw_bench as fb, emulator_throughput as et
VARIANTS = sys.argv[1].split(',')   # dirs to make install from
N = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
d = tempfile.mkdtemp()
load = os.path.join(d, 'l.jsonl'); fb.write_load_file(load, N)
proc, (host, port), secs, _ = et.start_emulator(load, [], 600)
res = {v: [] for v in VARIANTS}
try:
    for rnd in range(3):
        for v in VARIANTS:
            subprocess.run(['make', '-s', '-C', v, 'install'], check=True, stdout=subprocess.DEVNULL)
            ps = fb.Psql()
            for s in ["SET client_min_messages = warning", "DROP EXTENSION IF EXISTS fauna_fdw CASCADE", "CREATE EXTENSION fauna_fdw",
                      "CREATE SERVER b FOREIGN DATA WRAPPER fauna_fdw OPTIONS (endpoint 'http://%s:%d', page_size '1000')" % (host, port),
                      "CREATE USER MAPPING FOR CURRENT_USER SERVER b OPTIONS (secret '%s')" % et.SECRET,
                      "CREATE FOREIGN TABLE bench (ref text, ts timestamptz, data jsonb) SERVER b OPTIONS (collection 'Bench')"]:
                ps.run(s)
            ps.run("SELECT count(data) FROM bench")
            best = min(fb.timed_sql(ps, "SELECT count(data) FROM bench")['cpu'] for _ in range(3))
            res[v].append(best)
            ps.close()
            print(rnd, v, '%.3f' % best, flush=True)
finally:
    et.stop(proc)
for v in VARIANTS:
    print(v, 'best cpu %.3f s, per doc %.2f us' % (min(res[v]), min(res[v]) / N * 1e6))
