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
from typing import Any, Callable, Dict, List

from .errors import QueryError
from .values import (INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, Closure, Doc,
                     EventSource, FDate, FTime, Legacy, Module, Native, NullDoc,
                     Page, Ref, SchemaDoc, SetVal)

_dumps = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
_str = json.encoder.encode_basestring  # type: ignore[attr-defined]


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
    Doc: lambda v: ver_tagged(v.ver),
    DataDict: lambda v: "{" + ver_fields_tagged(v.ver) + "}",
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
        return '{"@ref":{"id":' + _str(v.id) + ',"coll":{"@mod":' + _str(v.coll) + "}}}"
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


def ver_fields_tagged(ver: Any) -> str:
    s = ver.enc_ft
    if s is None:
        s = ",".join([_str(k) + ":" + enc_tagged(x) for k, x in ver.data.items()])
        ver.enc_ft = s
    return s


def ver_tagged(ver: Any) -> str:
    s = ver.enc_t
    if s is None:
        f = ver_fields_tagged(ver)
        ttl = ',"ttl":' + enc_tagged(ver.ttl) if ver.ttl is not None else ""
        s = ('{"@doc":{"id":"' + ver.id + '","coll":{"@mod":' + _str(ver.coll) +
             '},"ts":{"@time":"' + time_iso(ver.tso) + '"}' + ttl + ("," + f if f else "") + "}}")
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
        return ('{"id":' + _str(v.id) + ',"coll":' + _str(v.coll) +
                ',"exists":false,"cause":' + _str(v.cause) + "}")
    if t is Ref:
        return '{"id":' + _str(v.id) + ',"coll":' + _str(v.coll) + "}"
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


def ver_fields_simple(ver: Any) -> str:
    s = ver.enc_fs
    if s is None:
        s = ",".join([_str(k) + ":" + enc_simple(x) for k, x in ver.data.items()])
        ver.enc_fs = s
    return s


def ver_simple(ver: Any) -> str:
    s = ver.enc_s
    if s is None:
        f = ver_fields_simple(ver)
        ttl = ',"ttl":' + enc_simple(ver.ttl) if ver.ttl is not None else ""
        s = ('{"id":"' + ver.id + '","coll":' + _str(ver.coll) + ',"ts":"' +
             time_iso(ver.tso) + '"' + ttl + ("," + f if f else "") + "}")
        ver.enc_s = s
    return s


def encoder(tagged: bool) -> Callable[[Any], str]:
    return enc_tagged if tagged else enc_simple


# ---------------------------------------------------------------- decode
class DecodeError(ValueError):
    pass


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
