"""Bulk loading of a JSON-lines file at start-up (`--load FILE.jsonl`).

Lines are either collection declarations
  {"collection": {"name": "Users", "indexes": {...}, "history_days": 0, "ttl_days": null}}
or documents
  {"coll": "Users", "id": "123", "ts": "2024-01-01T00:00:00Z" | 1704067200000000,
   "ttl": {"@time": "..."}, "data": {...tagged values...}}
Everything loads as one transaction unless a document gives its own ts.
"""
from __future__ import annotations

import gc
import json
from typing import Any, Dict

from .builtins import normalize_index
from .storage import Coll, Store, Version
from .values import FTime
from .wire import dec_tagged


class LoadError(Exception):
    pass


def load_file(store: Store, path: str) -> int:
    """Load the file, as one write transaction; returns the number of
    documents.  Python's cyclic garbage collector is off meanwhile: the
    millions of new objects, none of them garbage, would set it scanning
    the growing heap again and again.  What was loaded is frozen out of its
    reach afterwards, so that later collections do not scan it either."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(store, path)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _load(store: Store, path: str) -> int:
    ts = store.next_write_ts()
    max_ts = store.last_ts
    touched: Dict[str, Coll] = {}
    n = 0
    with store.lock, open(path, "r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
                if "collection" in rec:
                    d = rec["collection"]
                    name = d["name"]
                    c = store.coll(name)
                    if c is None:
                        c = Coll(name, ts, d.get("history_days") or 0, d.get("ttl_days"))
                        store.colls[name] = c
                    for iname, idef in (d.get("indexes") or {}).items():
                        store.add_index(c, iname, normalize_index(iname, idef))
                    max_ts = max(max_ts, ts)
                    continue
                cname = rec["coll"]
                c = store.coll(cname)
                if c is None:
                    c = Coll(cname, ts)
                    store.colls[cname] = c
                touched[cname] = c
                dts = rec.get("ts")
                if dts is None:
                    vts = ts
                elif isinstance(dts, int):
                    vts = dts
                elif isinstance(dts, dict):
                    vts = dec_tagged(dts).ns // 1000
                else:
                    vts = FTime.parse(dts).ns // 1000
                data = dec_tagged(rec.get("data") or {})
                ttl = dec_tagged(rec["ttl"]) if rec.get("ttl") is not None else None
                rid = rec.get("id")
                idn = int(rid) if rid is not None else store.new_id()
                c.put(Version(cname, idn, vts, data, ttl, bool(rec.get("deleted"))), bulk=True)
                max_ts = max(max_ts, vts)
                n += 1
            except (KeyError, ValueError, TypeError) as e:
                raise LoadError(f"{path}:{lineno}: {e}") from e
        for c in touched.values():
            c.finish_bulk()
        store.last_ts = max(store.last_ts, max_ts)
    return n
