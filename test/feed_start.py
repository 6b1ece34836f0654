#!/usr/bin/env python3
"""Print where the last event-feed read of the emulator started.

Used by pg_regress suites through psql's \\!: reads the emulator's request
log (GET /_emulator/log, admin secret) and prints whether the `start_ts`
of the last POST /feed/1 request equals the microseconds in the
environment variable EXPECTED_START_US (set with psql's \\setenv), so that
expected outputs do not depend on the logical clock's absolute values.
Reads FAUNA_ENDPOINT and FAUNA_SECRET (exported by test/run_regress.sh).
"""
import json
import os
import urllib.request


def main():
    req = urllib.request.Request(
        os.environ["FAUNA_ENDPOINT"].rstrip("/") + "/_emulator/log",
        headers={"Authorization": "Bearer " + os.environ["FAUNA_SECRET"]})
    with urllib.request.urlopen(req, timeout=30) as resp:
        log = json.load(resp)["requests"]
    log.sort(key=lambda e: e["seq"])      # arrival order
    feeds = [json.loads(e["body"]) for e in log if e["path"] == "/feed/1"]
    if not feeds:
        print("no feed request")
        return
    start = feeds[-1].get("start_ts")
    want = int(os.environ["EXPECTED_START_US"])
    print("feed started at the expected time" if start == want
          else "feed started at %s, expected %s" % (start, want))


if __name__ == "__main__":
    main()
