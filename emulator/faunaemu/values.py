"""Runtime values of the FQL evaluator.

Plain Python types carry most values: None, bool, int (Int or Long, chosen
by magnitude when encoded), float (Double), str, list (Array), dict (Object),
bytes (Bytes).  The classes below carry the rest.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, List, Optional, Tuple

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


class FTime:
    """A Time with nanosecond precision (the core's Timestamp)."""
    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = ns

    @classmethod
    def from_micros(cls, us: int) -> "FTime":
        return cls(us * 1000)

    @property
    def micros(self) -> int:
        return self.ns // 1000

    @classmethod
    def parse(cls, s: str) -> "FTime":
        """ISO-8601 with offset or Z, up to 9 fraction digits."""
        import re
        m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?"
                         r"(Z|[+-]\d\d:?\d\d)", s.strip())
        if not m:
            raise ValueError(s)
        y, mo, d, h, mi, sec, frac, tz = m.groups()
        dt = _dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec or 0),
                          tzinfo=_dt.timezone.utc)
        off = 0
        if tz != "Z":
            sign = -1 if tz[0] == "-" else 1
            t = tz[1:].replace(":", "")
            off = sign * (int(t[:2]) * 3600 + int(t[2:]) * 60)
        delta = dt - _EPOCH
        secs = delta.days * 86400 + delta.seconds - off
        ns = int((frac or "0").ljust(9, "0"))
        return cls(secs * 1_000_000_000 + ns)

    def iso(self) -> str:
        secs, ns = divmod(self.ns, 1_000_000_000)
        dt = _EPOCH + _dt.timedelta(seconds=secs)
        # four-digit years always (strftime's %Y does not pad year 1)
        base = (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"
                f"T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}")
        if ns == 0:
            return base + "Z"
        if ns % 1_000_000 == 0:
            return f"{base}.{ns // 1_000_000:03d}Z"
        if ns % 1000 == 0:
            return f"{base}.{ns // 1000:06d}Z"
        return f"{base}.{ns:09d}Z"

    def __eq__(self, o: object) -> bool:
        return isinstance(o, FTime) and o.ns == self.ns

    def __hash__(self) -> int:
        return hash(("t", self.ns))

    def __repr__(self) -> str:
        return f"Time({self.iso()!r})"


class FDate:
    __slots__ = ("d",)

    def __init__(self, d: _dt.date) -> None:
        self.d = d

    @classmethod
    def parse(cls, s: str) -> "FDate":
        return cls(_dt.date.fromisoformat(s))

    def iso(self) -> str:
        return self.d.isoformat()

    def __eq__(self, o: object) -> bool:
        return isinstance(o, FDate) and o.d == self.d

    def __hash__(self) -> int:
        return hash(("d", self.d))


class Module:
    """A named module: a user collection (`is_coll`), or a builtin such as
    Time, Collection, Set, Key, Role, Math."""
    __slots__ = ("name", "is_coll")

    def __init__(self, name: str, is_coll: bool = False) -> None:
        self.name = name
        self.is_coll = is_coll

    def __eq__(self, o: object) -> bool:
        return isinstance(o, Module) and o.name == self.name

    def __hash__(self) -> int:
        return hash(("m", self.name))

    def __repr__(self) -> str:
        return self.name


class Ref:
    """A document reference as stored in a field or received in input;
    resolved to a Doc or NullDoc when read."""
    __slots__ = ("coll", "id")

    def __init__(self, coll: str, id: str) -> None:
        self.coll = coll
        self.id = id

    def __eq__(self, o: object) -> bool:
        return isinstance(o, (Ref, Doc, NullDoc)) and o.coll == self.coll and o.id == self.id

    def __hash__(self) -> int:
        return hash(("r", self.coll, self.id))


class Doc:
    """A live user document: a particular stored version.  `snap`: the
    snapshot it was read at, when known (the documents its fields refer to
    are read at that snapshot too).  `unread`: found by a scan and not
    billed yet (the core reads a document only when more than its id is
    used, see Evaluator.bill)."""
    __slots__ = ("ver", "snap", "unread")

    def __init__(self, ver: Any, snap: Optional[int] = None, unread: bool = False) -> None:
        self.ver = ver
        self.snap = snap
        self.unread = unread

    @property
    def coll(self) -> str:
        return self.ver.coll

    @property
    def id(self) -> str:
        return self.ver.id

    def __eq__(self, o: object) -> bool:
        return isinstance(o, (Ref, Doc, NullDoc)) and o.coll == self.coll and o.id == self.id

    def __hash__(self) -> int:
        return hash(("r", self.coll, self.id))


class NullDoc:
    """A reference to a missing document; behaves as null with a cause."""
    __slots__ = ("coll", "id", "cause")

    def __init__(self, coll: str, id: str, cause: str = "not found") -> None:
        self.coll = coll
        self.id = id
        self.cause = cause

    def __eq__(self, o: object) -> bool:
        if o is None:
            return True
        return isinstance(o, (Ref, Doc, NullDoc)) and o.coll == self.coll and o.id == self.id

    def __hash__(self) -> int:
        return hash(("r", self.coll, self.id))


class SchemaDoc:
    """A schema document (Collection / Role definition) rendered with `name`."""
    __slots__ = ("coll", "name", "ts", "fields")

    def __init__(self, coll: str, name: str, ts: int, fields: Dict[str, Any]) -> None:
        self.coll = coll
        self.name = name
        self.ts = ts
        self.fields = fields


class Closure:
    """A user lambda with its captured environment; `src` is its source text
    (used to serialize it into cursors and event-source tokens)."""
    __slots__ = ("node", "env", "src", "allow_dollar")

    def __init__(self, node: Any, env: Any, src: str, allow_dollar: bool) -> None:
        self.node = node
        self.env = env
        self.src = src
        self.allow_dollar = allow_dollar


class Native:
    """A builtin function value, e.g. `Users.all` referenced but not called."""
    __slots__ = ("name", "fn")

    def __init__(self, name: str, fn: Any) -> None:
        self.name = name
        self.fn = fn


class SetVal:
    """A lazy set: a serializable description (source + ops), see sets.py."""
    __slots__ = ("desc", "page_size")

    def __init__(self, desc: Dict[str, Any], page_size: Optional[int] = None) -> None:
        self.desc = desc
        self.page_size = page_size


class Page:
    """A materialized page of a set, as `Set.paginate` returns it (an object
    with `data` and optional `after`), or as a top-level set result.

    `meta`: (names, versions, build) when every item is the projection of a
    document version on `names`, fields of the document's own that need no
    evaluation (`{ id, ts, data }`, see sets.scan_meta_page).  The encoders
    then write each item from its version's cached encodings, billing skips
    the items (they hold no document), and the items themselves are made
    by build(names, versions) only if something asks for them: a page
    served to fauna_fdw never does."""
    __slots__ = ("_items", "after", "as_set", "meta")

    def __init__(self, items: Optional[List[Any]], after: Optional[str], as_set: bool,
                 meta: Optional[Tuple[Tuple[str, ...], List[Any], Any]] = None) -> None:
        self._items = items
        self.after = after
        self.as_set = as_set
        self.meta = meta

    @property
    def items(self) -> List[Any]:
        items = self._items
        if items is None:
            names, vers, build = self.meta  # type: ignore[misc]
            items = self._items = build(names, vers)
        return items


class Legacy:
    """A value only FQL v4 has, stored in a document by the v4 front end: a
    ref to a database, key, token, credential, function, role, access
    provider or index, a ref nested deeper than a document ref, a `@query`
    (lambda) or a `@set`.  `value` is the v4 front end's own object (it
    encodes it back exactly, in either API version's naming); `wire` is its
    v4 JSON (API 4 naming).  FQL v10 has no representation for these:
    v10 reads render `wire` as a plain object (tagged: escaped with
    `@object`), e.g. `{"@ref": {"id": "my_db", "collection": {"@ref":
    {"id": "databases"}}}}`; v10 writes never produce one."""
    __slots__ = ("value", "wire")

    def __init__(self, value: Any, wire: Any) -> None:
        self.value = value
        self.wire = wire

    def __eq__(self, o: object) -> bool:
        return isinstance(o, Legacy) and o.wire == self.wire

    def __hash__(self) -> int:
        import json
        return hash(json.dumps(self.wire, sort_keys=True))


class EventSource:
    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token


def type_name(v: Any) -> str:
    """The core's type name of a value, for error messages."""
    if v is None or isinstance(v, NullDoc):
        return "Null"
    if isinstance(v, bool):
        return "Boolean"
    if isinstance(v, int):
        return "Int" if INT32_MIN <= v <= INT32_MAX else "Long"
    if isinstance(v, float):
        return "Double"
    if isinstance(v, str):
        return "String"
    if isinstance(v, list):
        return "Array"
    if isinstance(v, dict):
        return "Object"
    if isinstance(v, FTime):
        return "Time"
    if isinstance(v, FDate):
        return "Date"
    if isinstance(v, bytes):
        return "Bytes"
    if isinstance(v, Doc):
        return v.coll
    if isinstance(v, SchemaDoc):
        return v.coll + "Def" if v.coll == "Collection" else v.coll
    if isinstance(v, Module):
        return v.name + "Collection" if v.is_coll else v.name
    if isinstance(v, (SetVal, Page)):
        return "Set"
    if isinstance(v, (Closure, Native)):
        return "Function"
    if isinstance(v, EventSource):
        return "EventSource"
    if isinstance(v, Legacy):
        return "Object"
    return "Any"


# ------------------------------------------------------------- comparison

def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def values_equal(a: Any, b: Any) -> bool:
    if a is None or isinstance(a, NullDoc):
        return b is None or isinstance(b, NullDoc)
    if b is None or isinstance(b, NullDoc):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_num(a) and is_num(b):
        return a == b
    if isinstance(a, (Doc, Ref)) and isinstance(b, (Doc, Ref)):
        return a.coll == b.coll and a.id == b.id
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    if isinstance(a, SchemaDoc):
        return a.coll == b.coll and a.name == b.name
    return a == b
