#!/usr/bin/env python3
"""Print the emulator's requests made after a marker.

Used by pg_regress suites through psql's \\! to show what fauna_fdw sent:
    SELECT * FROM t WHERE ref = '9100000000000000001';   -- the marker
    SELECT ... ;                                        -- the statement
    \\! python3 test/request_log.py 9100000000000000001
Reads the emulator's request log (GET /_emulator/log, admin secret) and
prints every request that arrived after the last one whose body holds
MARKER, in the order they arrived (the log's `seq`):

    POST /query/1 x-format=tagged x-query-timeout-ms=30000
      Events.byTs({ from: @time:2024-01-01T00:00:00.025Z }).pageSize(@int:2) { id }

With --statuses, one line a request: `POST /query/1 -> 401` (the status
answered, or the fault, such as "drop", when there was none).  With
--cursors, only the cursors sent to Set.paginate, one a line, as sent.

A template's value parts are shown as @tag:value (strings as JSON), except
the cursor of Set.paginate, shown as <cursor>; a query sent as plain text
(test/fauna_write.py) is shown as it is.  Missing headers print as "-".
Nothing here depends on the number of earlier requests, so the output is
stable whatever earlier suites did; a request of an earlier suite that
completes late (held by a delay fault) arrived before the marker and is
left out.  Reads FAUNA_ENDPOINT and FAUNA_SECRET.
"""
import json
import os
import sys
import urllib.request

HEADERS = ("x-format", "x-query-timeout-ms")


def render_value(v):
    if isinstance(v, dict) and len(v) == 1:
        (tag, inner), = v.items()
        if tag.startswith("@") and isinstance(inner, str):
            return "%s:%s" % (tag, inner)
    return json.dumps(v, sort_keys=True)


def render_query(q):
    if isinstance(q, str):
        return q
    out = []

    def part(p):
        if isinstance(p, str):
            out.append(p)
        elif isinstance(p, dict) and "fql" in p:
            for x in p["fql"]:
                part(x)
        elif isinstance(p, dict) and "value" in p:
            if out and out[-1].endswith("Set.paginate(") and isinstance(p["value"], str):
                out.append("<cursor>")
            else:
                out.append(render_value(p["value"]))
        else:
            out.append(json.dumps(p, sort_keys=True))
    part(q)
    return "".join(out)


def paginate_cursors(body):
    """The string values sent right after "Set.paginate(" in a template."""
    try:
        parts = json.loads(body)["query"]["fql"]
    except (TypeError, ValueError, KeyError):
        return []
    return [v["value"] for prev, v in zip(parts, parts[1:])
            if isinstance(prev, str) and prev.endswith("Set.paginate(")
            and isinstance(v, dict) and isinstance(v.get("value"), str)]


def render_body(body):
    if body is None:
        return "<binary body>"
    try:
        req = json.loads(body)
    except ValueError:
        return body
    if isinstance(req, dict) and "query" in req:
        return render_query(req["query"])
    return json.dumps(req, sort_keys=True)


def main():
    args = sys.argv[1:]
    mode = args[0] if args[:1] in (["--statuses"], ["--cursors"]) else None
    if mode:
        args = args[1:]
    if len(args) != 1:
        sys.exit("usage: request_log.py [--statuses | --cursors] MARKER")
    marker = args[0]
    req = urllib.request.Request(
        os.environ["FAUNA_ENDPOINT"].rstrip("/") + "/_emulator/log",
        headers={"Authorization": "Bearer " + os.environ["FAUNA_SECRET"]})
    with urllib.request.urlopen(req, timeout=30) as resp:
        entries = json.load(resp)["requests"]
    marks = [e["seq"] for e in entries if marker in (e.get("body") or "")]
    if not marks:
        print("request_log: marker %s not found" % marker)
        return
    after = sorted((e for e in entries if e["seq"] > max(marks)), key=lambda e: e["seq"])
    for e in after:
        if mode == "--cursors":
            for cursor in paginate_cursors(e.get("body")):
                print(cursor)
            continue
        if mode == "--statuses":
            print("%s %s -> %s" % (e["method"], e["path"], e["status"] if e["status"] else e["fault"]))
            continue
        hdrs = e.get("headers") or {}
        print("%s %s %s" % (e["method"], e["path"],
                            " ".join("%s=%s" % (h, hdrs.get(h, "-")) for h in HEADERS)))
        print("  " + render_body(e.get("body")))


if __name__ == "__main__":
    main()
