"""Encoding of values to the tagged and simple JSON formats, and decoding of
tagged input.

Encoders return JSON text (not Python structures) so that a stored document
version's encoding can be cached once and spliced into every page that
serves it; that is what makes paging large collections cheap.
"""
from __future__ import annotations

import base64
import decimal
import json
import math
import re
import threading
from typing import Any, Callable, Dict, List, Optional

from .errors import QueryError
from .values import (INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, Closure, Doc,
                     EventSource, FDate, FTime, Legacy, Module, Native, NullDoc,
                     Page, Ref, SchemaDoc, SetVal)

_dumps = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
_str = json.encoder.encode_basestring  # type: ignore[attr-defined]


# User fields whose names are the document's own (meta fields, methods) are
# rendered inside a `data` object when a document is encoded (the core's
# Tokens.SpecialFieldNames); `doc.data` holds every user field.
SPECIAL_FIELDS = frozenset(("id", "coll", "ts", "ttl", "data", "delete", "update", "replace",
                            "updateData", "replaceData", "exists"))


# ---------------------------------------------------------------- refs
# A document ref stored in a field renders as a plain ref while its document
# exists, and with `"exists": false, "cause": …` once it does not (deleted,
# never created, unreadable).  That depends on the reader and the snapshot,
# so a version's cached encodings hold plain refs and remember which refs
# they hold (Version.rk); while a response is encoded the service installs a
# RefResolver, and a version whose refs do not all exist is encoded afresh
# (not cached) with the dangling ones marked.  Live refs, the common case,
# cost a memoized lookup per ref.
class _Local(threading.local):
    resolver: Optional["RefResolver"] = None     # class defaults: no AttributeError
    refs: Optional[List[tuple]] = None           # (cheap lookups on the hot path)
    snap: Optional[int] = None


_tls = _Local()
_UNKNOWN = object()
_RK: Dict[tuple, tuple] = {}


class RefResolver:
    """`with RefResolver(fn):` while encoding a response; fn(ref, snap)
    returns None when the ref's document exists for the reader at `snap`
    (the snapshot the document holding the ref was read at; None: the
    query's), else the cause."""

    def __init__(self, fn: Callable[[Ref, Optional[int]], Optional[str]]) -> None:
        self.fn = fn
        self.snaps: Dict[Optional[int], Dict[tuple, Optional[str]]] = {}
        # snap -> {id(a version's refs tuple): any dangling}; ids are stable
        # while encoding (the versions keep their tuples alive)
        self.sets: Dict[Optional[int], Dict[int, bool]] = {}

    def cause(self, coll: str, id: str, snap: Optional[int]) -> Optional[str]:
        return self._cause((coll, id), snap)

    def _cause(self, k: tuple, snap: Optional[int]) -> Optional[str]:
        m = self.snaps.get(snap)
        if m is None:
            m = self.snaps[snap] = {}
        c = m.get(k, _UNKNOWN)
        if c is _UNKNOWN:
            c = m[k] = self.fn(Ref(k[0], k[1]), snap)
        return c  # type: ignore[return-value]

    def any_dangling(self, refs: tuple, snap: Optional[int]) -> bool:
        m = self.sets.get(snap)
        if m is None:
            m = self.sets[snap] = {}
        v = m.get(id(refs))
        if v is None:
            v = m[id(refs)] = any(self._cause(k, snap) is not None for k in refs)
        return v

    def __enter__(self) -> "RefResolver":
        self.saved = _tls.resolver
        _tls.resolver = self
        return self

    def __exit__(self, *exc: Any) -> None:
        _tls.resolver = self.saved


def _enc_ref(v: Any, tagged: bool) -> str:
    coll, id = v.coll, v.id
    refs = _tls.refs
    cause = None
    if refs is not None:             # building a cached encoding: plain, noted
        refs.append((coll, id))
    else:
        r = _tls.resolver
        if r is not None:
            cause = r.cause(coll, id, _tls.snap)
    if tagged:
        head = '{"@ref":{"id":' + _str(id) + ',"coll":{"@mod":' + _str(coll) + "}"
        if cause is None:
            return head + "}}"
        return head + ',"exists":false,"cause":' + _str(cause) + "}}"
    head = '{"id":' + _str(id) + ',"coll":' + _str(coll)
    if cause is None:
        return head + "}"
    return head + ',"exists":false,"cause":' + _str(cause) + "}"


def _cached(ver: Any, build: Callable[[], str]) -> str:
    """Run `build` (an encoding of `ver` to cache) noting the refs it holds."""
    saved = _tls.refs
    _tls.refs = []
    try:
        s = build()
        if _tls.refs and ver.rk is None:
            rk = tuple(sorted(set(_tls.refs)))
            # versions holding the same refs share one tuple (RefResolver
            # remembers its verdict per tuple)
            ver.rk = _RK.setdefault(rk, rk) if len(_RK) < 100_000 else rk
    finally:
        _tls.refs = saved
    return s


def _dangling(ver: Any, snap: Optional[int]) -> bool:
    """Whether some ref `ver` holds must render as a null document now
    (only called for versions holding refs: ver.rk)."""
    r = _tls.resolver
    return r is not None and r.any_dangling(ver.rk, snap)


def _fresh(build: Callable[[], str], snap: Optional[int]) -> str:
    """Encode uncached, with the resolver marking the dangling refs."""
    saved = _tls.snap
    _tls.snap = snap
    try:
        return build()
    finally:
        _tls.snap = saved


class DataDict(dict):
    """`doc.data` (and the user-field object of a version): a dict that
    remembers its version so the encoder can reuse the cached text."""
    __slots__ = ("ver",)


_iso_cache: Dict[int, str] = {}


def time_iso(t: FTime) -> str:
    s = _iso_cache.get(t.ns)
    if s is None:
        s = t.iso()
        if len(_iso_cache) > 500_000:
            _iso_cache.clear()
        _iso_cache[t.ns] = s
    return s


def java_double(x: float) -> str:
    """Format a double like Java's Double.toString, as the core does."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1, x) < 0 else "0.0"
    if 1e-3 <= abs(x) < 1e7:
        r = repr(x)
        return r if "." in r else r + ".0"
    sign, digits, exp = decimal.Decimal(repr(x)).normalize().as_tuple()
    ds = "".join(map(str, digits))
    e10 = len(ds) - 1 + int(exp)
    mant = ds[0] + "." + (ds[1:] or "0")
    return ("-" if sign else "") + mant + "E" + str(e10)


def _int_tag(v: int) -> str:
    if INT32_MIN <= v <= INT32_MAX:
        return '{"@int":"%d"}' % v
    return '{"@long":"%d"}' % v


# ---------------------------------------------------------------- tagged
def enc_tagged(v: Any) -> str:
    f = _TAGGERS.get(type(v))
    if f is not None:
        return f(v)
    return _enc_tagged_other(v)


def _tag_dict(v: Dict[str, Any]) -> str:
    body = "{" + ",".join([_str(k) + ":" + enc_tagged(x) for k, x in v.items()]) + "}"
    for k in v:
        if k[:1] == "@":
            return '{"@object":' + body + "}"
    return body


def _tag_float(v: float) -> str:
    return '{"@double":"%s"}' % java_double(v)


_TAGGERS: Dict[type, Callable[[Any], str]] = {
    str: _str,
    type(None): lambda v: "null",
    bool: lambda v: "true" if v else "false",
    int: lambda v: _int_tag(v),
    float: _tag_float,
    dict: _tag_dict,
    list: lambda v: "[" + ",".join([enc_tagged(x) for x in v]) + "]",
    FTime: lambda v: '{"@time":"' + time_iso(v) + '"}',
    Doc: lambda v: ver_tagged(v.ver, v.snap),
    DataDict: lambda v: "{" + ver_fields_tagged(v.ver) + "}",
    Ref: lambda v: _enc_ref(v, True),
}


def _enc_tagged_other(v: Any) -> str:
    t = type(v)
    if t is str:
        return _str(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return _int_tag(v)
    if t is float:
        return '{"@double":"%s"}' % java_double(v)
    if t is DataDict:
        return "{" + ver_fields_tagged(v.ver) + "}"
    if t is dict:
        parts = []
        tagged_key = False
        for k, x in v.items():
            if k.startswith("@"):
                tagged_key = True
            parts.append(_str(k) + ":" + enc_tagged(x))
        body = "{" + ",".join(parts) + "}"
        return '{"@object":' + body + "}" if tagged_key else body
    if t is list:
        return "[" + ",".join([enc_tagged(x) for x in v]) + "]"
    if t is FTime:
        return '{"@time":"' + time_iso(v) + '"}'
    if t is Doc:
        return ver_tagged(v.ver, v.snap)
    if t is NullDoc:
        return ('{"@ref":{"id":' + _str(v.id) + ',"coll":{"@mod":' + _str(v.coll) +
                '},"exists":false,"cause":' + _str(v.cause) + "}}")
    if t is Ref:
        return _enc_ref(v, True)
    if t is Module:
        return '{"@mod":' + _str(v.name) + "}"
    if t is FDate:
        return '{"@date":"' + v.iso() + '"}'
    if t is bytes:
        return '{"@bytes":"' + base64.b64encode(v).decode() + '"}'
    if isinstance(v, SchemaDoc):
        parts = [('"id":' if v.coll == "Key" else '"name":') + _str(v.name),
                 '"coll":{"@mod":' + _str(v.coll) + "}",
                 '"ts":' + enc_tagged(FTime.from_micros(v.ts))]
        for k, x in v.fields.items():
            parts.append(_str(k) + ":" + enc_tagged(x))
        return '{"@doc":{' + ",".join(parts) + "}}"
    if t is Page:
        body = "[" + ",".join([enc_tagged(x) for x in v.items]) + "]"
        after = ',"after":' + _str(v.after) if v.after else ""
        if v.as_set:
            return '{"@set":{"data":' + body + after + "}}"
        return '{"data":' + body + after + "}"
    if t is EventSource:
        return '{"@stream":' + _str(v.token) + "}"
    if t is Legacy:
        # an FQL v4-only value: its v4 JSON as an (escaped) object
        return enc_tagged(v.wire)
    if t is SetVal:
        raise TypeError("unmaterialized set")
    if t in (Closure, Native):
        raise QueryError("invalid_query", "Cannot encode a function value as a result.")
    if isinstance(v, dict):
        return enc_tagged(dict(v))
    if isinstance(v, int):
        return _int_tag(int(v))
    raise TypeError(f"cannot encode {t}")


def _ver_fields_raw(ver: Any, enc: Callable[[Any], str]) -> str:
    return ",".join([_str(k) + ":" + enc(x) for k, x in ver.data.items()])


def _ver_body(ver: Any, enc: Callable[[Any], str], fields: str) -> str:
    """The user fields as a document shows them: special names under `data`."""
    data = ver.data
    if SPECIAL_FIELDS.isdisjoint(data):
        return fields
    top = [_str(k) + ":" + enc(x) for k, x in data.items() if k not in SPECIAL_FIELDS]
    inner = [_str(k) + ":" + enc(x) for k, x in data.items() if k in SPECIAL_FIELDS]
    top.append('"data":{' + ",".join(inner) + "}")
    return ",".join(top)


def ver_fields_tagged(ver: Any, snap: Optional[int] = None) -> str:
    """The tagged encoding of a version's user fields (`doc.data`'s body)."""
    s = ver.enc_ft
    if s is None:
        s = _cached(ver, lambda: _ver_fields_raw(ver, enc_tagged))
        ver.enc_ft = s
        ver.sz = len(s)
        ver.plain = SPECIAL_FIELDS.isdisjoint(ver.data)
    if ver.rk is not None and _dangling(ver, snap):
        return _fresh(lambda: _ver_fields_raw(ver, enc_tagged), snap)
    return s


def ver_size(ver: Any) -> int:
    """Length of the tagged user fields (for storage_bytes_read/write)."""
    if ver.enc_ft is None:
        ver_fields_tagged(ver)
    return ver.sz


def _doc_tagged(ver: Any, fields: str) -> str:
    f = fields if ver.plain else _ver_body(ver, enc_tagged, fields)
    ttl = ',"ttl":' + enc_tagged(ver.ttl) if ver.ttl is not None else ""
    return ('{"@doc":{"id":"' + ver.id + '","coll":{"@mod":' + _str(ver.coll) +
            '},"ts":{"@time":"' + time_iso(ver.tso) + '"}' + ttl + ("," + f if f else "") + "}}")


def ver_tagged(ver: Any, snap: Optional[int] = None) -> str:
    s = ver.enc_t
    if s is None:
        if ver.enc_ft is None:
            ver_fields_tagged(ver)
        # no field named like the document's own: the fields' text as it is
        # (nothing is encoded again, so no refs to note)
        s = _doc_tagged(ver, ver.enc_ft) if ver.plain else \
            _cached(ver, lambda: _doc_tagged(ver, ver.enc_ft))
        ver.enc_t = s
    rk = ver.rk
    if rk is not None:
        r = _tls.resolver
        if r is not None and r.any_dangling(rk, snap):
            return _fresh(lambda: _doc_tagged(ver, _ver_fields_raw(ver, enc_tagged)), snap)
    return s


# ---------------------------------------------------------------- simple
def enc_simple(v: Any) -> str:
    t = type(v)
    if t is str:
        return _str(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        if math.isnan(v) or math.isinf(v):
            return _str(java_double(v))
        return repr(v)
    if t is DataDict:
        return "{" + ver_fields_simple(v.ver) + "}"
    if isinstance(v, dict):
        return "{" + ",".join([_str(k) + ":" + enc_simple(x) for k, x in v.items()]) + "}"
    if t is list:
        return "[" + ",".join([enc_simple(x) for x in v]) + "]"
    if t is FTime:
        return '"' + time_iso(v) + '"'
    if t is Doc:
        return ver_simple(v.ver, v.snap)
    if t is NullDoc:
        return ('{"id":' + _str(v.id) + ',"coll":' + _str(v.coll) +
                ',"exists":false,"cause":' + _str(v.cause) + "}")
    if t is Ref:
        return _enc_ref(v, False)
    if t is Module:
        return _str(v.name)
    if t is FDate:
        return '"' + v.iso() + '"'
    if t is bytes:
        return '"' + base64.b64encode(v).decode() + '"'
    if isinstance(v, SchemaDoc):
        parts = [('"id":' if v.coll == "Key" else '"name":') + _str(v.name), '"coll":' + _str(v.coll),
                 '"ts":' + enc_simple(FTime.from_micros(v.ts))]
        for k, x in v.fields.items():
            parts.append(_str(k) + ":" + enc_simple(x))
        return "{" + ",".join(parts) + "}"
    if t is Page:
        body = "[" + ",".join([enc_simple(x) for x in v.items]) + "]"
        after = ',"after":' + _str(v.after) if v.after else ""
        return '{"data":' + body + after + "}"
    if t is EventSource:
        return _str(v.token)
    if t is Legacy:
        return enc_simple(v.wire)
    if t in (Closure, Native):
        raise QueryError("invalid_query", "Cannot encode a function value as a result.")
    if isinstance(v, int):
        return str(int(v))
    raise TypeError(f"cannot encode {t}")


def ver_fields_simple(ver: Any, snap: Optional[int] = None) -> str:
    s = ver.enc_fs
    if s is None:
        s = _cached(ver, lambda: _ver_fields_raw(ver, enc_simple))
        ver.enc_fs = s
        ver.plain = SPECIAL_FIELDS.isdisjoint(ver.data)
    if ver.rk is not None and _dangling(ver, snap):
        return _fresh(lambda: _ver_fields_raw(ver, enc_simple), snap)
    return s


def _doc_simple(ver: Any, fields: str) -> str:
    f = fields if ver.plain else _ver_body(ver, enc_simple, fields)
    ttl = ',"ttl":' + enc_simple(ver.ttl) if ver.ttl is not None else ""
    return ('{"id":"' + ver.id + '","coll":' + _str(ver.coll) + ',"ts":"' +
            time_iso(ver.tso) + '"' + ttl + ("," + f if f else "") + "}")


def ver_simple(ver: Any, snap: Optional[int] = None) -> str:
    s = ver.enc_s
    if s is None:
        if ver.enc_fs is None:
            ver_fields_simple(ver)
        s = _doc_simple(ver, ver.enc_fs) if ver.plain else \
            _cached(ver, lambda: _doc_simple(ver, ver.enc_fs))
        ver.enc_s = s
    if ver.rk is not None and _dangling(ver, snap):
        return _fresh(lambda: _doc_simple(ver, _ver_fields_raw(ver, enc_simple)), snap)
    return s


def encoder(tagged: bool) -> Callable[[Any], str]:
    return enc_tagged if tagged else enc_simple


# ---------------------------------------------------------------- decode
class DecodeError(ValueError):
    pass


# Request bodies nested deeper than this many JSON arrays/objects are refused
# with a 400 before they are parsed: decoding, evaluating and encoding them
# recurse once (or more) per level, and Python's stack is not the core's.
MAX_BODY_NESTING = 256
_NESTING_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def load_request_json(body: bytes) -> Any:
    """json.loads for request bodies; ValueError (a DecodeError) when the
    body is nested more than MAX_BODY_NESTING levels deep."""
    if body.count(b"[") + body.count(b"{") > MAX_BODY_NESTING:
        depth = 0
        for m in _NESTING_TOKEN.finditer(body):
            c = m.group()
            if c in (b"[", b"{"):
                depth += 1
                if depth > MAX_BODY_NESTING:
                    raise DecodeError(f"Value is nested more than {MAX_BODY_NESTING} "
                                      f"levels deep.")
            elif c in (b"]", b"}"):
                depth -= 1
    return json.loads(body)


def dec_tagged(v: Any, refs_ok: bool = True) -> Any:
    """Decode a tagged JSON value (already parsed by json.loads)."""
    t = type(v)
    if t is str or v is None or t is bool:
        return v
    if t is int or t is float:
        raise DecodeError("Bare numbers are not allowed in tagged format")
    if t is list:
        return [dec_tagged(x, refs_ok) for x in v]
    if t is dict:
        if len(v) == 1:
            (k, x), = v.items()
            if k.startswith("@"):
                return _dec_tag(k, x)
        return {k: dec_tagged(x, refs_ok) for k, x in v.items()}
    raise DecodeError("unsupported value")


def _dec_tag(k: str, x: Any) -> Any:
    try:
        if k == "@int":
            n = int(x)
            if not (INT32_MIN <= n <= INT32_MAX):
                raise DecodeError(f"Invalid @int value {x}")
            return n
        if k == "@long":
            n = int(x)
            if not (INT64_MIN <= n <= INT64_MAX):
                raise DecodeError(f"Invalid @long value {x}")
            return n
        if k == "@double":
            return float(x)
        if k == "@object":
            if not isinstance(x, dict):
                raise DecodeError("@object must be an object")
            return {kk: dec_tagged(vv) for kk, vv in x.items()}
        if k == "@time":
            return FTime.parse(x)
        if k == "@date":
            return FDate.parse(x)
        if k == "@bytes":
            return base64.b64decode(x, validate=True)
        if k == "@mod":
            return Module(str(x), is_coll=True)
        if k in ("@doc", "@ref"):
            coll = x.get("coll")
            if isinstance(coll, dict):
                coll = coll.get("@mod")
            if "id" in x:
                return Ref(str(coll), str(x["id"]))
            if "name" in x:
                return ("schema-ref", str(coll), str(x["name"]))
            raise DecodeError(f"Invalid {k} value")
    except DecodeError:
        raise
    except Exception as e:
        raise DecodeError(f"Invalid {k} value {x!r}") from e
    if k in ("@set", "@stream"):
        raise DecodeError(f"Unsupported tag {k} in input")
    # an unknown '@' key is just an object key
    return {k: dec_tagged(x)}
