"""Event feeds (`POST /feed/1`).

Events are derived from the collection's write log: for each write after the
start point, membership of the document in the set before and after the
write decides add / update / remove.  Cursors are signed (ts, ordinal)
pairs, so the server keeps no per-feed state.
"""
from __future__ import annotations

import bisect
import json
import time
from typing import Any, Dict, List, Optional, Tuple

from . import sets as S
from .errors import QueryError
from .evaluator import Ctx, Evaluator
from .storage import Version, field_of
from .txnlock import WriteNeeded
from .values import Doc, FTime
from .wire import encoder, load_request_json

Response = Tuple[int, str, Dict[str, str]]


def _bad(msg: str) -> Response:
    return 400, json.dumps({"error": {"code": "invalid_request",
                                      "message": "Invalid request body: " + msg}}), {}


def handle_feed(svc: Any, body: bytes, headers: Dict[str, str], principal: Any,
                stall_s: float = 0.0) -> Response:
    """`stall_s`: a `stall` fault holds the read this long."""
    t0 = time.monotonic()
    try:
        req = load_request_json(body)
    except (ValueError, UnicodeDecodeError) as e:
        return _bad(str(e))
    if not isinstance(req, dict) or "token" not in req:
        return _bad("Value for key token not found.")
    key = svc.store.sign_key
    tok = S.unsign(req["token"], key)
    if not isinstance(tok, dict) or tok.get("k") != "feed":
        return _bad("invalid event source provided.")
    page_size = req.get("page_size", 16)
    if not isinstance(page_size, int) or isinstance(page_size, bool):
        return _bad(f"Unexpected value '{page_size}'.")
    if page_size <= 0:
        return _bad("page size must be greater than zero.")
    if page_size > S.MAX_PAGE:
        return _bad(f"page size can not be greater than {S.MAX_PAGE}.")
    if "cursor" in req and "start_ts" in req:
        return _bad("can not provide both `start_ts` and `cursor`.")
    start_ts, start_ord = tok["t"], None
    if "cursor" in req:
        cur = S.unsign(req["cursor"], key)
        if not isinstance(cur, dict) or cur.get("k") != "ec":
            return _bad("invalid event cursor provided.")
        start_ts, start_ord = cur["ts"], cur["o"]
    elif "start_ts" in req:
        st = req["start_ts"]
        if isinstance(st, str):
            return _bad(f"Unexpected string value '{st}'.")
        if not isinstance(st, int) or isinstance(st, bool):
            return _bad(f"Unexpected value '{st}'.")
        start_ts = st
    store = svc.store
    page = (svc, principal, tok, start_ts, start_ord, page_size, t0, stall_s)
    try:
        with store.lock.shared():
            events, last_cursor, has_next, stats = read_events(*page, read_only=True)
    except WriteNeeded:
        # an event source's lambda that writes: again, alone
        with store.lock:
            events, last_cursor, has_next, stats = read_events(*page, read_only=False)
    body = ('{"events":[' + ",".join(events) + '],"cursor":' + json.dumps(S.sign(last_cursor, key)) +
            ',"has_next":' + ("true" if has_next else "false") + ',"stats":' + stats + "}")
    return 200, body, {}


def read_events(svc: Any, principal: Any, tok: Dict[str, Any], start_ts: int,
                start_ord: Optional[int], page_size: int, t0: float, stall_s: float,
                read_only: bool) -> Tuple[List[str], Dict[str, Any], bool, str]:
    """One page of the feed, read in one transaction under the store lock
    the caller holds: (events, the cursor after them, has_next, stats)."""
    store = svc.store
    key = store.sign_key
    # the core encodes event data tagged whatever x-format says
    enc = encoder("tagged")
    desc = tok["d"]
    src = desc["src"]
    events: List[str] = []
    has_next = False
    ctx = Ctx(store, principal, "", False)
    ctx.read_only = read_only
    ev = Evaluator(ctx, S, svc.auth)
    if stall_s:
        time.sleep(stall_s)     # a `stall` fault: a slow read
    c = store.coll(src["c"])
    now = store.now()
    # An error that belongs to no event leaves the cursor where it was.
    last_cursor = {"k": "ec", "ts": start_ts, "o": start_ord}
    if c is None:
        pass
    elif start_ts < c.min_ts(now):
        msg = (f"Stream start time {FTime.from_micros(start_ts).iso()} is too far in the past. "
               f"Recreate the stream and try again.")
        events.append(json.dumps({"type": "error", "error": {
            "code": "invalid_stream_start_time", "message": msg}}))
    elif not svc.auth.can(ctx, c.name, "read"):
        events.append(json.dumps({"type": "error", "error": {
            "code": "permission_denied", "message": "Insufficient privileges to perform the action."}}))
    else:
        log, log_ts = c.log, c.log_ts
        if start_ord is None:
            i = bisect.bisect_right(log_ts, start_ts)
        else:
            i = bisect.bisect_left(log_ts, start_ts) + start_ord + 1
        paths = tok.get("w")
        while i < len(log):
            ts, ver = log[i]
            if ts > now:
                break
            first = bisect.bisect_left(log_ts, ts)
            cursor = {"k": "ec", "ts": ts, "o": i - first}
            i += 1
            try:
                e = event_for(ev, desc, ver, paths)
            except QueryError as qe:
                events.append(json.dumps({"type": "error", "error": {
                    "code": qe.code, "message": qe.message}, "txn_ts": ts,
                    "cursor": S.sign(cursor, key)})[:-1] + "}")
                last_cursor = cursor
                has_next = i < len(log)
                break
            if e is None:
                last_cursor = cursor
                continue
            if len(events) >= page_size:
                has_next = True
                break
            typ, value = e
            st = ctx.stats
            data = enc(value)
            events.append('{"type":"%s","data":%s,"txn_ts":%d,"cursor":%s,"stats":%s}' % (
                typ, data, ts, json.dumps(S.sign(cursor, key)), ev_stats(ctx)))
            last_cursor = cursor
    if not has_next and not (events and events[-1].startswith('{"type":"error"')):
        # Read to the end: the next poll starts after everything this
        # one could see (the core moves the cursor to its snapshot), so
        # a quiet feed still advances.
        last_cursor = {"k": "ec", "ts": max(now, start_ts), "o": None}
    stats = ev_stats(ctx, t0)
    return events, last_cursor, has_next, stats


def ev_stats(ctx: Ctx, t0: Optional[float] = None) -> str:
    st = ctx.stats
    qt = int((time.monotonic() - t0) * 1000) if t0 is not None else 0
    return ('{"read_ops":%d,"storage_bytes_read":%d,"compute_ops":%d,"processing_time_ms":%d,'
            '"rate_limits_hit":[]}' % (st.read_ops, st.bytes_read, 1 + st.compute_ops // 50, qt))


def member(ev: Evaluator, desc: Dict[str, Any], ver: Optional[Version]) -> Tuple[bool, Any]:
    """Whether `ver` belongs to the set, and its (mapped) element if so."""
    if ver is None or ver.deleted:
        return False, None
    src = desc["src"]
    if src["k"] == "idx":
        c = ev.store.coll(src["c"])
        ix = c.indexes.get(src["i"]) if c else None
        if ix is None:
            return False, None
        terms = [S.resolve_deep(ev, S.dec_tagged(json.loads(t))) for t in src["t"]]
        lo, hi = S.index_bounds(ix, terms, S.range_of(ev, src))
        key = ix.key_for(ver)
        if not (lo <= key < hi):
            return False, None
    elif "from" in src or "to" in src:
        # a collection's documents between two ids
        rng = S.range_of(ev, src)
        if not rng.get("from", ver.idn) <= ver.idn <= rng.get("to", ver.idn):
            return False, None
    ev.ctx.snap = ver.ts
    item: Any = Doc(ver)
    for op in desc["ops"]:
        if op["op"] == "where":
            r = ev.call_fn(S.live_fn(ev, op), [item])
            if r is not True:
                return False, None
        elif op["op"] == "map":
            item = ev.call_fn(S.live_fn(ev, op), [item])
        elif op["op"] == "proj":
            fields, env = S.live_proj(ev, op)
            item = ev.project(item, fields, env)
    return True, item


def event_for(ev: Evaluator, desc: Dict[str, Any], ver: Version,
              paths: Optional[List[List[str]]]) -> Optional[Tuple[str, Any]]:
    prev = ver.prev
    # a transaction leaves one version per document (Coll.put), so this is
    # the state before it; versions bulk-loaded with one ts are skipped alike
    while prev is not None and prev.ts == ver.ts:
        prev = prev.prev
    ev.ctx.in_at += 1          # feeds never write
    try:
        was, old_item = member(ev, desc, prev)
        now_in, new_item = member(ev, desc, ver)
    finally:
        ev.ctx.in_at -= 1
    ev.count_read(ver)
    if now_in and not was:
        return "add", new_item
    if was and not now_in:
        return "remove", old_item
    if was and now_in:
        if paths is not None and prev is not None:
            if all(field_of(prev, tuple(p)) == field_of(ver, tuple(p)) for p in paths):
                return None
        return "update", new_item
    return None
