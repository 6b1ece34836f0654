"""Per-store v4 state: the registry of v4 indexes."""
from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Tuple

from ..storage import Coll, Desc, Index, Store, Version, skey
from ..values import Ref


# ================================================================== state
class V4Index(Index):
    """A v4 index over one collection; value paths read `ref`, `ts` (µs
    number), `ttl` and `data.…` of a version."""

    def __init__(self, name: str, source: str, terms: List[List[str]], values: List[Tuple[List[str], bool]],
                 ts: int, extra: Dict[str, Any]) -> None:
        super().__init__(name, [tuple(t) for t in terms], [(tuple(p), r) for p, r in values], {})
        self.source = source
        self.v4_terms = terms
        self.v4_values = values
        self.ts = ts
        self.extra = extra
        self.synced = 0
        self.synced_gen = 0
        self.synced_last: Optional[Version] = None
        self.coll_obj: Optional[Coll] = None
        self.sync_lock = threading.Lock()

    @staticmethod
    def read(ver: Version, path: Tuple[str, ...]) -> Any:
        if not path:
            return None
        head = path[0]
        if head == "ref":
            return Ref(ver.coll, ver.id) if len(path) == 1 else None
        if head == "ts":
            return ver.ts if len(path) == 1 else None
        if head == "ttl":
            return ver.ttl if len(path) == 1 else None
        if head != "data":
            return None
        v: Any = ver.data
        for p in path[1:]:
            v = v.get(p) if isinstance(v, dict) else None
        return v

    def key_for(self, ver: Version) -> tuple:
        tk = tuple(skey(self.read(ver, p)) for p in self.terms)
        vk = tuple(Desc(skey(self.read(ver, p))) if desc else skey(self.read(ver, p))
                   for p, desc in self.values)
        return (tk, vk, ver.idn, ver.ts)

    def raw_values(self, ver: Version) -> List[Any]:
        return [self.read(ver, p) for p, _ in self.values]

    def sync(self, store: Store) -> None:
        """Bring the index up to date with its collection.  Reads run side
        by side (txnlock.py), so two may sync at once: one at a time, and
        the second finds nothing left to do, since no write commits while
        a read holds the store."""
        with self.sync_lock:
            self._sync(store)

    def _sync(self, store: Store) -> None:
        c = store.coll(self.source)
        if c is None:
            self.keys, self.ent, self.cur = [], {}, {}
            self.coll_obj, self.synced, self.synced_last = None, 0, None
            return
        log = c.log
        # anything but appends to the log (a write replacing one of the same
        # transaction, an undo) bumps c.gen: rebuild then
        stale = (c is not self.coll_obj or len(log) < self.synced or c.gen != self.synced_gen or
                 (self.synced and log[self.synced - 1][1] is not self.synced_last))
        if stale:
            self.rebuild(c.latest)
        else:
            for _, ver in log[self.synced:]:
                self.update(ver)
        self.coll_obj = c
        self.synced = len(log)
        self.synced_gen = c.gen
        self.synced_last = log[-1][1] if log else None


class V4State:
    def __init__(self, colls_obj: Any) -> None:
        self.colls_obj = colls_obj
        self.indexes: Dict[str, V4Index] = {}


# reads that run side by side may both come to a store without its state
_state_lock = threading.Lock()


def state_of(store: Store) -> V4State:
    with _state_lock:
        st = store.__dict__.get("_v4_state")
        if st is None or st.colls_obj is not store.colls:      # new store or reset
            st = V4State(store.colls)
            store.__dict__["_v4_state"] = st
        return st


