"""Versioned document store with indexes and history.

Every write appends a new Version (deletes append a tombstone) linked to
the previous one, so reads at any snapshot ts see the right state; a second
write to a document in the same transaction (same ts) replaces the version
the transaction wrote, as in Fauna.  Each
collection keeps a sorted list of document ids and each index a sorted list
of entry keys, both searched with bisect, so a page read costs O(log N +
page size) whatever the collection's size.  Entries carry [start, end) ts
validity so index reads honour the snapshot too.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import math
import os
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

from .txnlock import RWLock
from .values import Doc, FDate, FTime, Legacy, Module, NullDoc, Ref

INF_TS = 1 << 62
LOGICAL_START_US = 1704067200 * 1_000_000       # 2024-01-01T00:00:00Z
LOGICAL_FIRST_ID = 400000000000000001
HISTORY_SLACK_US = 15 * 60 * 1_000_000
BACKGROUND_BUILD_DOCS = 128          # the core builds smaller indexes synchronously
PROCESS_SIGN_KEY = os.urandom(32)
LOGICAL_SIGN_KEY = hashlib.sha256(b"fauna emulator: logical clock signing key").digest()


class Version:
    """One stored version of a document; also caches its encodings."""
    __slots__ = ("coll", "id", "idn", "ts", "tso", "ttl", "data", "deleted",
                 "prev", "enc_t", "enc_s", "enc_ft", "enc_fs", "dd", "sz", "plain", "iso")

    def __init__(self, coll: str, idn: int, ts: int, data: Dict[str, Any],
                 ttl: Optional[FTime] = None, deleted: bool = False,
                 prev: Optional["Version"] = None, id: Optional[str] = None) -> None:
        self.coll = coll
        self.idn = idn
        self.id = id if id is not None else str(idn)
        self.ts = ts
        self.tso = FTime(ts * 1000)
        self.ttl = ttl
        self.data = data
        self.deleted = deleted
        self.prev = prev
        self.enc_t = self.enc_s = self.enc_ft = self.enc_fs = None
        self.dd = None
        self.sz = 0             # length of the user fields' tagged encoding
        self.plain = True       # no user field named like a document's own (wire.py)
        self.iso = None         # tso as ISO text (wire.ver_iso)


# ----------------------------------------------------------------- ordering
class Desc:
    """Reverses the order of a sort key (for `order: "desc"` index values)."""
    __slots__ = ("k",)

    def __init__(self, k: Any) -> None:
        self.k = k

    def __lt__(self, o: Any) -> bool:
        if isinstance(o, Desc):
            return o.k < self.k
        return True          # only the MAX_KEY sentinel is ever compared

    def __gt__(self, o: Any) -> bool:
        if isinstance(o, Desc):
            return self.k < o.k
        return False

    def __eq__(self, o: object) -> bool:
        return isinstance(o, Desc) and o.k == self.k

    def __hash__(self) -> int:
        return hash(("desc", self.k))


MAX_KEY = (99,)


def skey(v: Any) -> tuple:
    """A total order over FQL values, used for index keys and comparisons."""
    if isinstance(v, bool):
        return (3, v)
    if isinstance(v, (int, float)):
        return (1, v)
    if isinstance(v, str):
        return (2, v)
    if v is None or isinstance(v, NullDoc):
        return (10,)
    if isinstance(v, FTime):
        return (4, v.ns)
    if isinstance(v, FDate):
        return (5, v.d.toordinal())
    if isinstance(v, bytes):
        return (6, v)
    if isinstance(v, (Doc, Ref)):
        try:
            return (7, v.coll, int(v.id))
        except ValueError:
            return (7, v.coll, 0, v.id)
    if isinstance(v, list):
        return (8, tuple(skey(x) for x in v))
    if isinstance(v, dict):
        return (9, tuple((k, skey(x)) for k, x in sorted(v.items())))
    if isinstance(v, Module):
        return (11, v.name)
    if isinstance(v, Legacy):
        return (12, json.dumps(v.wire, sort_keys=True))
    return (13, id(v))


def field_of(ver: Version, path: Tuple[str, ...]) -> Any:
    """The value an index term/value path reads from a version."""
    head = path[0]
    if head == "ts":
        v: Any = ver.tso
    elif head == "id":
        v = ver.id
    elif head == "ttl":
        v = ver.ttl
    elif head == "data" and len(path) > 1:
        v = ver.data
        for p in path[1:]:
            v = v.get(p) if isinstance(v, dict) else None
        return v
    else:
        v = ver.data.get(head)
    for p in path[1:]:
        v = v.get(p) if isinstance(v, dict) else None
    return v


def parse_path(f: str) -> Tuple[str, ...]:
    f = f.strip()
    if f.startswith("."):
        f = f[1:]
    return tuple(p for p in f.split(".") if p)


class Index:
    def __init__(self, name: str, terms: List[Tuple[str, ...]],
                 values: List[Tuple[Tuple[str, ...], bool]], raw: Dict[str, Any]) -> None:
        self.name = name
        self.terms = terms
        self.values = values
        self.raw = raw
        self.keys: List[tuple] = []
        self.ent: Dict[tuple, list] = {}      # key -> [end_ts, version]
        self.cur: Dict[int, tuple] = {}       # doc id -> current key
        # A background build (see Store.add_index): not queryable until then.
        self.ready_at: Optional[float] = None

    def key_for(self, ver: Version) -> tuple:
        tk = tuple(skey(field_of(ver, p)) for p in self.terms)
        vk = tuple(Desc(skey(field_of(ver, p))) if desc else skey(field_of(ver, p))
                   for p, desc in self.values)
        return (tk, vk, ver.idn, ver.ts)

    def raw_values(self, ver: Version) -> List[Any]:
        return [field_of(ver, p) for p, _ in self.values]

    def update(self, ver: Version, bulk: bool = False) -> None:
        old = self.cur.get(ver.idn)
        if old is not None:
            self.ent[old][0] = ver.ts
            del self.cur[ver.idn]
        if ver.deleted:
            return
        k = self.key_for(ver)
        self.ent[k] = [INF_TS, ver]
        self.cur[ver.idn] = k
        if bulk:
            self.keys.append(k)
        else:
            bisect.insort(self.keys, k)

    def _drop_key(self, k: tuple) -> None:
        self.ent.pop(k, None)
        i = bisect.bisect_left(self.keys, k)
        if i < len(self.keys) and self.keys[i] == k:
            del self.keys[i]

    def replace(self, old: Version, ver: Version) -> None:
        """`ver` takes the place of `old`, written earlier in the same
        transaction (same ts): `old`'s entry goes, `ver`'s comes."""
        k = self.cur.pop(old.idn, None)
        if k is not None:
            self._drop_key(k)
        if ver.deleted:
            return
        k = self.key_for(ver)
        self.ent[k] = [INF_TS, ver]
        self.cur[ver.idn] = k
        bisect.insort(self.keys, k)

    def queryable(self) -> bool:
        if self.ready_at is None:
            return True
        if time.monotonic() >= self.ready_at:
            self.ready_at = None
            return True
        return False

    def rebuild(self, latest: Dict[int, Version]) -> None:
        """Build from every version of every document (history included)."""
        self.keys, self.ent, self.cur = [], {}, {}
        chains = []
        for ver in latest.values():
            chain = []
            v: Optional[Version] = ver
            while v is not None:
                chain.append(v)
                v = v.prev
            chains.append(chain[::-1])
        for chain in chains:
            for v in chain:
                self.update(v, bulk=True)
        self.keys.sort()

    def definition(self) -> Dict[str, Any]:
        # fields as they were written, `mva` only when given
        # (FQL2CollectionsSpec "accepts and correctly renders indexes field")
        d: Dict[str, Any] = {}
        for part in ("terms", "values"):
            if self.raw.get(part):
                d[part] = [dict(f) for f in self.raw[part]]
        ready = self.queryable()
        d["queryable"] = ready
        d["status"] = "complete" if ready else "building"
        return d


class Coll:
    def __init__(self, name: str, ts: int, history_days: int = 0,
                 ttl_days: Optional[int] = None) -> None:
        self.name = name
        self.ts = ts
        self.history_days = history_days
        self.ttl_days = ttl_days
        self.extra: Dict[str, Any] = {}
        self.indexes: Dict[str, Index] = {}
        self.latest: Dict[int, Version] = {}
        self.ids: List[int] = []
        self.ids_dirty = False
        self.log: List[Tuple[int, Version]] = []    # (ts, version) in commit order
        self.log_ts: List[int] = []
        self.gen = 0            # bumped by every change other than an append

    def visible(self, idn: int, snap: int) -> Optional[Version]:
        v = self.latest.get(idn)
        while v is not None and v.ts > snap:
            v = v.prev
        if v is None or v.deleted:
            return None
        if v.ttl is not None and v.ttl.ns // 1000 <= snap:
            return None
        return v

    def version_at(self, idn: int, snap: int) -> Optional[Version]:
        """Latest version (tombstones included) with ts <= snap."""
        v = self.latest.get(idn)
        while v is not None and v.ts > snap:
            v = v.prev
        return v

    def put(self, ver: Version, bulk: bool = False) -> Optional[tuple]:
        """Store a new version; returns what `unput` needs to undo it.

        A write to a document already written by the same transaction (same
        ts) takes the place of that version instead of adding one: as in
        Fauna, a transaction leaves at most one version per document, so one
        log entry, one index entry and one feed event.  A document created
        and deleted by one transaction leaves nothing.
        """
        prev = self.latest.get(ver.idn)
        if prev is not None and prev.ts == ver.ts and not bulk:
            return self._replace(prev, ver)
        ver.prev = prev
        self.latest[ver.idn] = ver
        if prev is None:
            if bulk:
                self.ids.append(ver.idn)
                self.ids_dirty = True
            else:
                bisect.insort(self.ids, ver.idn)
        for ix in self.indexes.values():
            ix.update(ver, bulk)
        self.log.append((ver.ts, ver))
        self.log_ts.append(ver.ts)
        return None

    def _log_pos(self, ver: Version) -> int:
        """Index of `ver`'s log entry (same-transaction entries are last)."""
        log = self.log
        i = len(log) - 1
        while i >= 0 and log[i][0] >= ver.ts:
            if log[i][1] is ver:
                return i
            i -= 1
        for j, (_, v) in enumerate(log):
            if v is ver:
                return j
        return -1

    def _replace(self, prev: Version, ver: Version) -> tuple:
        ver.prev = prev.prev
        i = self._log_pos(prev)
        for ix in self.indexes.values():
            ix.replace(prev, ver)
        self.gen += 1
        if ver.deleted and (ver.prev is None or ver.prev.deleted):
            # (re)created and deleted by this transaction: no version remains
            if ver.prev is None:
                del self.latest[ver.idn]
                j = bisect.bisect_left(self.ids, ver.idn)
                if j < len(self.ids) and self.ids[j] == ver.idn:
                    del self.ids[j]
            else:
                self.latest[ver.idn] = ver.prev
            if i >= 0:
                del self.log[i]
                del self.log_ts[i]
            return ("drop", prev, i)
        self.latest[ver.idn] = ver
        if i >= 0:
            self.log[i] = (ver.ts, ver)
        return ("replace", prev, i)

    def unput(self, ver: Version, rec: Optional[tuple] = None) -> None:
        """Undo the put of `ver` (aborted transaction); `rec` is what put returned."""
        self.gen += 1
        if rec is not None:
            kind, prev, i = rec
            for ix in self.indexes.values():
                ix.replace(ver, prev)
            self.latest[prev.idn] = prev
            if kind == "drop":
                if prev.prev is None:
                    j = bisect.bisect_left(self.ids, prev.idn)
                    if j >= len(self.ids) or self.ids[j] != prev.idn:
                        self.ids.insert(j, prev.idn)
                if i >= 0:
                    self.log.insert(i, (prev.ts, prev))
                    self.log_ts.insert(i, prev.ts)
            elif i >= 0:
                self.log[i] = (prev.ts, prev)
            return
        prev = ver.prev
        if prev is None:
            del self.latest[ver.idn]
            i = bisect.bisect_left(self.ids, ver.idn)
            if i < len(self.ids) and self.ids[i] == ver.idn:
                del self.ids[i]
        else:
            self.latest[ver.idn] = prev
        for ix in self.indexes.values():
            k = ix.cur.pop(ver.idn, None)
            if k is not None:
                ix.ent.pop(k, None)
                i = bisect.bisect_left(ix.keys, k)
                if i < len(ix.keys) and ix.keys[i] == k:
                    del ix.keys[i]
            if prev is not None and not prev.deleted:
                pk = ix.key_for(prev)
                if pk in ix.ent:
                    ix.ent[pk][0] = INF_TS
                    ix.cur[prev.idn] = pk
        if self.log and self.log[-1][1] is ver:
            self.log.pop()
            self.log_ts.pop()

    def finish_bulk(self) -> None:
        if self.ids_dirty:
            self.ids = sorted(set(self.ids))
            self.ids_dirty = False
        for ix in self.indexes.values():
            ix.keys.sort()
        # keep the log in commit order
        self.log.sort(key=lambda e: e[0])
        self.log_ts = [t for t, _ in self.log]

    def min_ts(self, now: int) -> int:
        """Oldest readable snapshot: history_days plus the core's 15 min slack."""
        return now - self.history_days * 86_400_000_000 - HISTORY_SLACK_US


class Store:
    """All data of the single database the emulator serves."""

    def __init__(self, logical: bool = False, index_build_ms: int = 500,
                 hold_index_builds: bool = False, typechecked: bool = True) -> None:
        self.logical = logical
        # The database's "typechecked" setting: the default of a query's
        # x-typecheck header (off: unknown names fail as they are evaluated,
        # with unbound_variable, instead of in a check before the query runs).
        self.typechecked = typechecked
        # Cursors and event-source tokens are signed with this key: fixed
        # under the logical clock (identical runs give identical tokens),
        # per process otherwise.
        self.sign_key = LOGICAL_SIGN_KEY if logical else PROCESS_SIGN_KEY
        # An index added to a collection of >= BACKGROUND_BUILD_DOCS documents
        # is built "in the background": not queryable for this long.
        self.index_build_ms = index_build_ms
        # Tests that look at an index while it builds: builds stay pending
        # until finish_index_builds(), not until a clock runs out.
        self.hold_index_builds = hold_index_builds
        # shared by queries that read, exclusive for those that write (txnlock.py)
        self.lock = RWLock()
        # ids are drawn by reads too (newId()), which run side by side
        self.id_lock = threading.Lock()
        # several processes serve one loaded copy each: no writes (they
        # would reach one copy only)
        self.read_only = False
        self.reset()

    def reset(self) -> None:
        self.colls: Dict[str, Coll] = {}
        self.coll_hist: Dict[str, List[Tuple[int, Optional[Coll]]]] = {}
        self.roles: Dict[str, Dict[str, Any]] = {}
        self.keys: Dict[str, Dict[str, Any]] = {}     # secret -> key record
        self.key_docs: Dict[str, Version] = {}
        self.last_ts = LOGICAL_START_US - 1000 if self.logical else self._now_us()
        self.next_id = LOGICAL_FIRST_ID
        self._last_wall_id = 0

    # ------------------------------------------------------------- clocks
    @staticmethod
    def _now_us() -> int:
        return time.time_ns() // 1000

    def read_ts(self) -> int:
        """Snapshot of a query that has not written (yet)."""
        if self.logical:
            return self.last_ts
        return max(self._now_us(), self.last_ts)

    def next_write_ts(self) -> int:
        if self.logical:
            return self.last_ts + 1000
        return max(self._now_us(), self.last_ts + 1)

    def now(self) -> int:
        return self.last_ts if self.logical else max(self._now_us(), self.last_ts)

    def new_id(self) -> int:
        with self.id_lock:
            if self.logical:
                i = self.next_id
                self.next_id += 1
                return i
            # time-ordered 18-digit ids, like the core's snowflake-style ids
            base = ((time.time_ns() // 1_000_000) - 1_577_836_800_000) << 20
            i = max(base, self._last_wall_id + 1)
            self._last_wall_id = i
            return i

    # ------------------------------------------------------------- schema
    def coll(self, name: str) -> Optional[Coll]:
        return self.colls.get(name)

    def add_index(self, c: Coll, name: str, d: Dict[str, Any], background: bool = False) -> Index:
        """Define (or redefine) an index and build it from the collection.

        `background`: the build is one the core runs as a task (an index
        added to a collection holding >= BACKGROUND_BUILD_DOCS documents); the
        index answers `queryable: false` until `index_build_ms` have passed,
        or with `hold_index_builds` until finish_index_builds().
        """
        terms = [parse_path(t["field"] if isinstance(t, dict) else str(t))
                 for t in (d.get("terms") or [])]
        values = []
        for v in d.get("values") or []:
            if isinstance(v, dict):
                values.append((parse_path(v["field"]), v.get("order", "asc") == "desc"))
            else:
                values.append((parse_path(str(v)), False))
        ix = Index(name, terms, values, d)
        ix.rebuild(c.latest)
        if background and self.hold_index_builds:
            ix.ready_at = math.inf
        elif background and self.index_build_ms > 0:
            ix.ready_at = time.monotonic() + self.index_build_ms / 1000.0
        c.indexes[name] = ix
        return ix

    def finish_index_builds(self) -> List[str]:
        """Complete every background build now; returns the indexes built,
        as "Collection.index"."""
        built = []
        for cname, c in self.colls.items():
            for iname, ix in c.indexes.items():
                if ix.ready_at is not None:
                    ix.ready_at = None
                    built.append(f"{cname}.{iname}")
        return sorted(built)
