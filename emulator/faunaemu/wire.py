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
from typing import Any, Callable, Dict, List, Optional, Tuple

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
# A document ref stored in a field renders as a plain ref whether or not its
# document exists: the core materializes only the documents a result holds,
# and a document's own fields keep their refs unresolved
# (MaterializedValue.materialize, step 3, and encode's `docs = Map.empty`).
def _enc_ref(v: Any, tagged: bool) -> str:
    if tagged:
        return '{"@ref":{"id":' + _str(v.id) + ',"coll":{"@mod":' + _str(v.coll) + "}}}"
    return '{"id":' + _str(v.id) + ',"coll":' + _str(v.coll) + "}"


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
    # enc_tagged inlined: an object's members are encoded a call each
    get = _TAGGERS.get
    body = "{" + ",".join([_str(k) + ":" + (get(type(x)) or _enc_tagged_other)(x)
                           for k, x in v.items()]) + "}"
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
    Doc: lambda v: ver_tagged(v.ver),
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
        return ver_tagged(v.ver)
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
        body = "[" + _page_items(v, True) + "]"
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


def ver_fields_tagged(ver: Any) -> str:
    """The tagged encoding of a version's user fields (`doc.data`'s body)."""
    s = ver.enc_ft
    if s is None:
        s = _ver_fields_raw(ver, enc_tagged)
        ver.enc_ft = s
        ver.sz = len(s)
        ver.plain = SPECIAL_FIELDS.isdisjoint(ver.data)
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


def ver_tagged(ver: Any) -> str:
    s = ver.enc_t
    if s is None:
        if ver.enc_ft is None:
            ver_fields_tagged(ver)
        s = _doc_tagged(ver, ver.enc_ft)
        ver.enc_t = s
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
        return ver_simple(v.ver)
    if t is NullDoc:
        return "null"       # the simple format has no missing-document form
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
        body = "[" + _page_items(v, False) + "]"
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


def ver_fields_simple(ver: Any) -> str:
    s = ver.enc_fs
    if s is None:
        s = _ver_fields_raw(ver, enc_simple)
        ver.enc_fs = s
        ver.plain = SPECIAL_FIELDS.isdisjoint(ver.data)
    return s


def _doc_simple(ver: Any, fields: str) -> str:
    f = fields if ver.plain else _ver_body(ver, enc_simple, fields)
    ttl = ',"ttl":' + enc_simple(ver.ttl) if ver.ttl is not None else ""
    return ('{"id":"' + ver.id + '","coll":' + _str(ver.coll) + ',"ts":"' +
            time_iso(ver.tso) + '"' + ttl + ("," + f if f else "") + "}")


def ver_simple(ver: Any) -> str:
    s = ver.enc_s
    if s is None:
        if ver.enc_fs is None:
            ver_fields_simple(ver)
        s = _doc_simple(ver, ver.enc_fs)
        ver.enc_s = s
    return s


# ---------------------------------------------------------------- pages
def _page_items(page: Page, tagged: bool) -> str:
    """A page's items, comma-separated."""
    if page.meta is None:
        enc = enc_tagged if tagged else enc_simple
        return ",".join([enc(x) for x in page.items])
    names, vers, _ = page.meta
    return ",".join(map(meta_encoder(names, tagged), vers))


def ver_iso(ver: Any) -> str:
    """time_iso(ver.tso), kept by the version: a scan's `ts` column costs
    an attribute read instead of a look-up in the large _iso_cache
    (encoding { id, ts, data } of 20000 fdw_bench documents a page at a
    time: 0.90 -> 0.70 us per document, measured)."""
    ver.iso = s = time_iso(ver.tso)
    return s


# The text of a document's own field as an object member, from its version:
# what enc_tagged/enc_simple write for the value doc_field returns.
_META_TAGGED: Dict[str, Callable[[Any], str]] = {
    "id": lambda ver: '"id":' + _str(ver.id),
    "ts": lambda ver: '"ts":{"@time":"' + (ver.iso or ver_iso(ver)) + '"}',
    "ttl": lambda ver: '"ttl":' + enc_tagged(ver.ttl),
    "coll": lambda ver: '"coll":{"@mod":' + _str(ver.coll) + "}",
    "data": lambda ver: '"data":{' + ver_fields_tagged(ver) + "}",
}
_META_SIMPLE: Dict[str, Callable[[Any], str]] = {
    "id": lambda ver: '"id":' + _str(ver.id),
    "ts": lambda ver: '"ts":"' + (ver.iso or ver_iso(ver)) + '"',
    "ttl": lambda ver: '"ttl":' + enc_simple(ver.ttl),
    "coll": lambda ver: '"coll":' + _str(ver.coll),
    "data": lambda ver: '"data":{' + ver_fields_simple(ver) + "}",
}


_meta_encoders: Dict[Tuple[Tuple[str, ...], bool], Callable[[Any], str]] = {}


def meta_encoder(names: Tuple[str, ...], tagged: bool) -> Callable[[Any], str]:
    """ver -> the encoding of the version's projection on `names` (fields of
    the document's own, see Page.meta): the same text as encoding the
    projected object, without building and walking it."""
    f = _meta_encoders.get((names, tagged))
    if f is None:
        f = _braced([(_META_TAGGED if tagged else _META_SIMPLE)[n] for n in names])
        _meta_encoders[(names, tagged)] = f
    return f


def _braced(parts: List[Callable[[Any], str]]) -> Callable[[Any], str]:
    """ver -> "{" + the parts' texts, comma-separated + "}".  The two and
    three parts of fauna_fdw's `{ id, data }` and `{ id, ts, data }` are
    concatenated without a list and join: 0.30 instead of 0.49 us per
    document of { id, data } (fdw_bench's documents, measured)."""
    if len(parts) == 2:
        a, b = parts
        return lambda ver: "{" + a(ver) + "," + b(ver) + "}"
    if len(parts) == 3:
        a, b, c = parts
        return lambda ver: "{" + a(ver) + "," + b(ver) + "," + c(ver) + "}"
    return lambda ver: "{" + ",".join([p(ver) for p in parts]) + "}"


def encoder(fmt: Any) -> Callable[[Any], str]:
    """The encoder for an x-format: "simple", "tagged" or "decorated" (a bool
    means tagged or simple)."""
    if fmt == "decorated":
        return enc_decorated
    return enc_tagged if fmt is True or fmt == "tagged" else enc_simple


# ---------------------------------------------------------------- decorated
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def enc_decorated(v: Any) -> str:
    """The decorated format: the value written as FQL text (a JSON string),
    laid out as the core's decorator does (two-space indents, one member per
    line, documents expanded once, missing ones as `Coll("id") /* cause */`)."""
    out: List[str] = []
    _Decorator(out).value(v)
    return _str("".join(out))


class _Decorator:
    def __init__(self, out: List[str]) -> None:
        self.out = out
        self.depth = 0
        self.at_line_start = False
        self.seen: set = set()

    def write(self, text: str) -> None:
        if self.at_line_start and text:
            self.out.append("  " * self.depth)
            self.at_line_start = False
        self.out.append(text)
        if text.endswith("\n"):
            self.at_line_start = True

    def string(self, text: str) -> None:
        self.write(_str(text))

    def key(self, k: str) -> None:
        self.write(k if _IDENT_RE.match(k) else _str(k))

    def members(self, open_: str, close: str, items: List[Tuple[Optional[str], Any]]) -> None:
        if not items:
            self.write(open_ + close)
            return
        self.write(open_ + "\n")
        self.depth += 1
        for i, (k, x) in enumerate(items):
            if k is not None:
                self.key(k)
                self.write(": ")
            self.value(x)
            self.write("\n" if i == len(items) - 1 else ",\n")
        self.depth -= 1
        self.write(close)

    def ref(self, coll: str, id: str) -> None:
        self.write(coll + '("' + id + '")')

    def doc(self, ver: Any) -> None:
        key = (ver.coll, ver.id)
        if key in self.seen:
            self.ref(ver.coll, ver.id)
            return
        self.seen.add(key)
        items: List[Tuple[Optional[str], Any]] = [
            ("id", ver.id), ("coll", Module(ver.coll)), ("ts", ver.tso)]
        if ver.ttl is not None:
            items.append(("ttl", ver.ttl))
        items.extend(ver.data.items())
        self.members("{", "}", items)
        self.seen.discard(key)

    def value(self, v: Any) -> None:
        t = type(v)
        if v is None:
            self.write("null")
        elif t is bool:
            self.write("true" if v else "false")
        elif t is int or (isinstance(v, int) and t is not bool):
            self.write(str(int(v)))
        elif t is float:
            if math.isnan(v):
                self.write("Math.NaN")
            elif math.isinf(v):
                self.write("Math.Infinity" if v > 0 else "-Math.Infinity")
            else:
                self.write(java_double(v))
        elif t is str:
            self.string(v)
        elif t is FTime:
            self.write("Time(" + _str(time_iso(v)) + ")")
        elif t is FDate:
            self.write("Date(" + _str(v.iso()) + ")")
        elif t is bytes:
            self.write("Bytes(" + _str(base64.b64encode(v).decode()) + ")")
        elif t is list:
            self.members("[", "]", [(None, x) for x in v])
        elif t is DataDict:
            self.members("{", "}", list(v.ver.data.items()))
        elif isinstance(v, dict):
            self.members("{", "}", list(v.items()))
        elif t is Doc:
            self.doc(v.ver)
        elif t is NullDoc:
            self.ref(v.coll, v.id)
            self.write(" /* " + v.cause + " */")
        elif t is Ref:
            self.ref(v.coll, v.id)
        elif t is Module:
            self.write(v.name)
        elif isinstance(v, SchemaDoc):
            items = [("id" if v.coll == "Key" else "name", v.name), ("coll", Module(v.coll)),
                     ("ts", FTime.from_micros(v.ts))]
            self.members("{", "}", items + list(v.fields.items()))
        elif t is Page:
            items = [("data", v.items)]
            if v.after:
                items.append(("after", v.after))
            self.members("{", "}", items)
        elif t is EventSource:
            self.string(v.token)
        elif t is Legacy:
            self.value(v.wire)
        elif t in (Closure, Native):
            self.string("[function <lambda>]" if t is Closure else f"[function {v.name}]")
        else:
            raise TypeError(f"cannot encode {t}")


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
    """Decode a tagged JSON value (already parsed by json.loads); a bad one
    raises DecodeError with the core's reason (UndecidedValue.parseTagged)."""
    t = type(v)
    if t is str or v is None or t is bool:
        return v
    if t is int or t is float:
        raise DecodeError("numbers must be tagged")
    if t is list:
        return [dec_tagged(x, refs_ok) for x in v]
    if t is dict:
        # one member: a tag or a one-field object; more: no member may be a tag
        if len(v) == 1:
            (k, x), = v.items()
            if k[:1] == "@":
                return _dec_tag(k, x)
            return {k: dec_tagged(x, refs_ok)}
        for k in v:
            if k[:1] == "@":
                raise DecodeError("too many keys in tagged value")
        return {k: dec_tagged(x, refs_ok) for k, x in v.items()}
    raise DecodeError("unsupported value")


def _tag_str(k: str, x: Any) -> str:
    if not isinstance(x, str):
        raise DecodeError(f"{k} requires a string value")
    return x


_JAVA_INT_RE = re.compile(r"[+-]?[0-9]+")


def _java_int(text: str, lo: int, hi: int) -> Optional[int]:
    """Java's Integer/Long parsing: an optional sign and decimal digits."""
    if not _JAVA_INT_RE.fullmatch(text):
        return None
    n = int(text)
    return n if lo <= n <= hi else None


def _parsed(k: str, x: Any, parse: Callable[[str], Any], reason: str) -> Any:
    text = _tag_str(k, x)
    try:
        return parse(text)
    except Exception:
        raise DecodeError(reason) from None


def _dec_tag(k: str, x: Any) -> Any:
    if k == "@int":
        n = _java_int(_tag_str(k, x), INT32_MIN, INT32_MAX)
        if n is None:
            raise DecodeError("invalid integer")
        return n
    if k == "@long":
        n = _java_int(_tag_str(k, x), INT64_MIN, INT64_MAX)
        if n is None:
            raise DecodeError("invalid long")
        return n
    if k == "@double":
        return _parsed(k, x, float, "invalid double")
    if k == "@object":
        if not isinstance(x, dict):
            raise DecodeError("@object requires an object value")
        return {kk: dec_tagged(vv) for kk, vv in x.items()}
    if k == "@time":
        return _parsed(k, x, FTime.parse, "invalid time")
    if k == "@date":
        return _parsed(k, x, FDate.parse, "invalid date")
    if k == "@bytes":
        return _parsed(k, x, lambda t: base64.b64decode(t, validate=True), "invalid bytes")
    if k == "@mod":
        return Module(_tag_str(k, x), is_coll=True)
    if k in ("@doc", "@ref"):
        return _dec_ref(k, x)
    raise DecodeError(f"invalid tag '{k}'")


def _dec_ref(k: str, x: Any) -> Any:
    if not isinstance(x, dict):
        raise DecodeError(f"{k} requires an object value")
    coll = x.get("coll")
    if isinstance(coll, dict) and set(coll) == {"@mod"}:
        coll = coll["@mod"]
    if coll is None:
        raise DecodeError(f"{k} field 'coll' is required")
    if not isinstance(coll, str):
        raise DecodeError(f"{k} field 'coll' requires a module value")
    if "id" in x:
        if not isinstance(x["id"], str):
            raise DecodeError(f"{k} field 'id' requires a string value")
        if _java_int(x["id"], INT64_MIN, INT64_MAX) is None:
            raise DecodeError(f"{k} field 'id' must be an integer")
        return Ref(coll, x["id"])
    if "name" in x:
        if not isinstance(x["name"], str):
            raise DecodeError(f"{k} field 'name' requires a string value")
        return ("schema-ref", coll, x["name"])
    raise DecodeError(f"{k} field 'id' is required")
