"""Methods of modules, collections, documents, arrays, strings and times."""
from __future__ import annotations

import math
import re
import secrets
from typing import Any, Dict, List, Optional

from . import parser as P
from . import sets as S
from .errors import QueryError, arity_error, arity_text, no_args
from .storage import BACKGROUND_BUILD_DOCS, Coll, Desc, parse_path, skey
from .values import (INT32_MAX, INT64_MIN, Closure, Doc, EventSource, FDate, FTime, Module,
                     Native, NullDoc, Page, Ref, SchemaDoc, SetVal, type_name,
                     values_equal)
from .wire import SPECIAL_FIELDS, dec_tagged, enc_tagged

COLL_METHODS = {"all", "byId", "create", "createData", "where", "firstWhere"}
DOC_METHODS = {"update", "replace", "delete", "exists", "updateData", "replaceData"}
ARRAY_METHODS = {"map", "forEach", "concat", "toSet", "first", "last", "includes", "where",
                 "indexOf", "isEmpty", "nonEmpty", "take", "drop", "reverse", "append",
                 "prepend", "flatMap", "distinct", "order", "any", "every", "fold",
                 "reduce", "slice", "firstWhere", "toArray", "filter", "flatten"}
STRING_METHODS = {"toUpperCase", "toLowerCase", "includes", "startsWith", "endsWith",
                  "concat", "split", "slice", "trim", "indexOf", "toString",
                  "replaceAll", "parseInt", "parseDouble"}
# methods of no arguments (the core checks the count first)
NO_ARG_METHODS = {"first", "last", "isEmpty", "nonEmpty", "toSet", "toArray", "reverse",
                  "distinct", "toUpperCase", "toLowerCase", "toString", "trim", "parseInt",
                  "parseDouble", "toMicros", "toMillis", "toSeconds", "exists"}
NUMBER_METHODS = {"toString"}
TIME_METHODS = {"toMicros", "toMillis", "toSeconds", "add", "subtract", "difference",
                "toString"}
UNITS = {"nanoseconds": 1, "microseconds": 1000, "milliseconds": 1_000_000,
         "seconds": 1_000_000_000, "minutes": 60_000_000_000, "hours": 3_600_000_000_000,
         "half days": 43_200_000_000_000, "days": 86_400_000_000_000}
# Time.add/subtract/difference take each unit singular or plural (core FQL2TimeSpec)
TIME_UNITS = dict(UNITS)
TIME_UNITS.update({k[:-1]: v for k, v in UNITS.items()})
EPOCH_UNITS = ("nanoseconds", "microseconds", "milliseconds", "seconds")


# the range a Time can take (Python's datetime, years 1-9999)
TIME_MIN_NS = -62_135_596_800 * 1_000_000_000
TIME_MAX_NS = 253_402_300_800 * 1_000_000_000 - 1


def checked_time(ns: int) -> FTime:
    if not TIME_MIN_NS <= ns <= TIME_MAX_NS:
        raise QueryError("invalid_time", "The resulting time is out of range.")
    return FTime(ns)


def bad_unit(unit: str) -> QueryError:
    return QueryError("invalid_unit", f"`{unit}` is not a valid time unit.")
IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
RESERVED_COLL_NAMES = {"Collection", "Key", "Role", "Function", "Time", "Date", "Set",
                       "Math", "Object", "Array", "String", "Database", "Credential",
                       "AccessProvider", "Token", "Bytes", "Boolean", "Int", "Long",
                       "Double", "Number", "Null", "Any", "Never", "Query", "events"}


def no_method(recv: Any, name: str) -> QueryError:
    return QueryError("invalid_query",
                      f"The function `{name}` does not exist on `{type_name(recv)}`")


def has_method(ev: Any, obj: Any, name: str) -> bool:
    if isinstance(obj, Module):
        if obj.is_coll:
            c = ev.store.coll(obj.name)
            return name in COLL_METHODS or (c is not None and name in c.indexes)
        return (obj.name, name) in MODULE_FUNCS
    if isinstance(obj, Doc):
        return name in DOC_METHODS
    if isinstance(obj, SetVal):
        return name in S.SET_METHODS
    if isinstance(obj, list):
        return name in ARRAY_METHODS
    if isinstance(obj, str):
        return name in STRING_METHODS
    if isinstance(obj, FTime):
        return name in TIME_METHODS
    if type(obj) in (int, float):
        return name in NUMBER_METHODS
    return False


def number_string(v: Any) -> str:
    """Int/Long/Double `toString()`: a whole double loses its `.0`
    (FQL2ToStringSpec)."""
    if type(v) is float:
        from .wire import java_double
        if v.is_integer() and abs(v) < 1e16:
            return str(int(v))
        return java_double(v)
    return str(v)


def not_a_function(name: str, v: Any) -> QueryError:
    """Calling a field that holds no function, e.g. `[1].length()`."""
    return QueryError("invalid_function_invocation",
                      f"`{name}`: Expected a function, found `{type_name(v)}`")


def call_method(ev: Any, recv: Any, name: str, args: List[Any], node: Optional[P.Node],
                from_set: bool = False) -> Any:
    t = type(recv)
    if name in NO_ARG_METHODS and (t in (Doc, NullDoc) and name == "exists" or
                                   t in (list, str, FTime) and has_method(ev, recv, name)):
        no_args(args)
    if t is Module:
        if recv.is_coll:
            return coll_method(ev, recv.name, name, args)
        f = MODULE_FUNCS.get((recv.name, name))
        if f is None:
            raise no_method(recv, name)
        return f(ev, args)
    if t is Doc:
        return doc_method(ev, recv, name, args)
    if t is NullDoc:
        if name == "exists":
            return False
        if name in DOC_METHODS:
            raise QueryError("document_not_found", f"Collection `{recv.coll}` does not contain "
                                                   f"document with id {recv.id}.")
        raise no_method(recv, name)
    if t is SetVal:
        r = S.set_method(ev, recv, name, args)
        if r is S.MATERIALIZE:
            return call_method(ev, S.to_list(ev, recv), name, args, None, from_set=True)
        return r
    if t is list:
        return array_method(ev, recv, name, args, from_set)
    if t is str:
        return string_method(ev, recv, name, args)
    if t is FTime:
        return time_method(ev, recv, name, args)
    if isinstance(recv, SchemaDoc):
        return schema_method(ev, recv, name, args)
    if t is FDate and name == "toString":
        return recv.iso()
    if t in (int, float) and name == "toString":
        no_args(args)
        return number_string(recv)
    if isinstance(recv, dict) and name in recv:
        f = ev.resolve(recv[name])
        if isinstance(f, (Closure, Native)):
            return ev.call_fn(f, args)
        raise not_a_function(name, f)
    if recv is None:
        raise QueryError("invalid_null_access", f"Cannot access `{name}` on null.")
    if isinstance(recv, (Closure, Native)):
        raise no_method(recv, name)
    raise no_method(recv, name)


# ------------------------------------------------------------------ modules
def m_time_now(ev: Any, args: List[Any]) -> Any:
    ev.arg(args, 0, object, "", 0) if args else None
    return FTime.from_micros(ev.ctx.snap if ev.ctx.write_ts is None else ev.ctx.write_ts)


def m_time_epoch(ev: Any, args: List[Any]) -> Any:
    n = ev.arg(args, 0, int, "offset", 2)
    unit = ev.arg(args, 1, str, "unit")
    if unit not in EPOCH_UNITS:
        raise bad_unit(unit)
    return checked_time(n * UNITS[unit])


def m_time_from_string(ev: Any, args: List[Any]) -> Any:
    return ev.f_Time(args)


def m_date_from_string(ev: Any, args: List[Any]) -> Any:
    return ev.f_Date(args)


def m_date_today(ev: Any, args: List[Any]) -> Any:
    import datetime as dt
    t = FTime.from_micros(ev.ctx.snap)
    return FDate(dt.date(1970, 1, 1) + dt.timedelta(days=t.ns // 86_400_000_000_000))


def m_set_paginate(ev: Any, args: List[Any]) -> Any:
    if not args or len(args) > 2:
        raise arity_error("between 1 and 2 arguments", len(args))
    tok = args[0]
    if not isinstance(tok, str):
        raise QueryError("invalid_argument",
                         f"expected value for `cursor` of type String, received {type_name(tok)}")
    cur = S.decode_cursor(ev, tok)
    size = S.page_size_arg(args[1]) if len(args) > 1 else cur["n"]
    return S.materialize(ev, SetVal(cur["d"]), size, False, cur)


def m_set_sequence(ev: Any, args: List[Any]) -> Any:
    a = ev.arg(args, 0, int, "from", 2)
    b = ev.arg(args, 1, int, "until")
    return S.make({"k": "seq", "a": a, "b": b})


def m_set_single(ev: Any, args: List[Any]) -> Any:
    return S.arr_set(ev, [args[0]] if args else [])


def m_collection_all(ev: Any, args: List[Any]) -> Any:
    return S.make({"k": "colls"})


def m_collection_by_name(ev: Any, args: List[Any]) -> Any:
    name = ev.arg(args, 0, str, "name", 1)
    c = ev.store.coll(name)
    return ev.coll_def(c) if c is not None else None


def normalize_index(name: str, d: Any) -> Dict[str, Any]:
    if not isinstance(d, dict):
        raise constraint("Collection", [(["indexes", name], "Expected Object, provided " + type_name(d))])
    out: Dict[str, Any] = {}
    if d.get("terms") is not None:
        terms = []
        for t in d["terms"]:
            f = t.get("field") if isinstance(t, dict) else None
            if not isinstance(f, str):
                raise constraint("Collection", [(["indexes", name, "terms"], "Expected a field path")])
            if parse_path(f) in (("ts",),):
                raise constraint("Collection", [(["indexes", name, "terms"],
                                                 "The `ts` field cannot be used as an index term.")])
            terms.append(index_field(t, f))
        out["terms"] = terms
    if d.get("values") is not None:
        vals = []
        for v in d["values"]:
            f = v.get("field") if isinstance(v, dict) else None
            if not isinstance(f, str):
                raise constraint("Collection", [(["indexes", name, "values"], "Expected a field path")])
            order = v.get("order", "asc")
            if order not in ("asc", "desc"):
                raise constraint("Collection", [(["indexes", name, "values"],
                                                 "Order must be `asc` or `desc`.")])
            vals.append(dict(index_field(v, f), order=order))
        out["values"] = vals
    return out


def index_field(spec: Dict[str, Any], field: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {"field": field}
    if isinstance(spec.get("mva"), bool):
        out["mva"] = spec["mva"]
    return out


def constraint(what: str, failures: List[Any], verb: str = "create") -> QueryError:
    return constraint_error(f"Failed to {verb} {what}.", failures)


def constraint_error(message: str, failures: List[Any]) -> QueryError:
    """A constraint_failure: `failures` are (path, message) pairs.  As in the
    core, the summary lists them under the message ("constraint failures:\n
    ts: Is a reserved field and cannot be used")."""
    lines = [message, "constraint failures:"]
    for path, m in failures:
        label = ".".join(str(x) for x in path)
        lines.append("  " + (f"{label}: {m}" if label else m).replace("\n", "\n      "))
    e = QueryError("constraint_failure", message, summary_msg="\n".join(lines))
    e.constraint_failures = [{"paths": [p], "message": m} for p, m in failures]  # type: ignore[attr-defined]
    return e


# Fields a document's `create` / `update` / `replace` may not set (the core's
# Tokens.ReservedFieldNames; `id` sets the id on create): the *Data variants
# store them as user fields, rendered under `data` (wire.SPECIAL_FIELDS).
RESERVED_FIELDS = SPECIAL_FIELDS - {"ttl"}
RESERVED_MSG = "Is a reserved field and cannot be used"


def ttl_failure(ttl: Any) -> Optional[tuple]:
    if ttl is not None and not isinstance(ttl, FTime):
        return (["ttl"], f"Expected Time | Null, provided {type_name(ttl)}")
    return None


def m_collection_create(ev: Any, args: List[Any]) -> Any:
    d = ev.arg(args, 0, dict, "params", 1)
    ev.auth.need_schema(ev.ctx)
    if ev.ctx.in_at:
        raise QueryError("invalid_effect", "`at` expression cannot perform writes.")
    name = d.get("name")
    if not isinstance(name, str) or not IDENT_RE.match(name):
        raise constraint("Collection", [(["name"], "Invalid identifier.")])
    if name in RESERVED_COLL_NAMES:
        raise constraint("Collection", [(["name"], "The identifier `%s` is reserved." % name)])
    if ev.store.coll(name) is not None:
        raise constraint("Collection", [(["name"], "The identifier `%s` is not unique." % name)])
    hd = d.get("history_days", 0)
    td = d.get("ttl_days")
    if hd is not None and (not isinstance(hd, int) or isinstance(hd, bool) or hd < 0):
        raise constraint("Collection", [(["history_days"], "Expected a non-negative Int.")])
    if td is not None and (not isinstance(td, int) or isinstance(td, bool) or td < 0):
        raise constraint("Collection", [(["ttl_days"], "Expected a non-negative Int.")])
    idx = d.get("indexes") or {}
    if not isinstance(idx, dict):
        raise constraint("Collection", [(["indexes"], "Expected Object.")])
    norm = {n: normalize_index(n, x) for n, x in idx.items()}
    ts = ev.txn_time()
    c = Coll(name, ts, hd or 0, td)
    for k, v in d.items():
        if k not in ("name", "indexes", "history_days", "ttl_days", "coll", "ts"):
            c.extra[k] = v
    for n, x in norm.items():
        ev.store.add_index(c, n, x)
    ev.store.colls[name] = c
    ev.ctx.undo.append(lambda: ev.store.colls.pop(name, None))
    ev.ctx.stats.write_ops += 1
    return ev.coll_def(c)


def m_key_create(ev: Any, args: List[Any]) -> Any:
    d = ev.arg(args, 0, dict, "params", 1)
    ev.auth.need_admin(ev.ctx)
    role = d.get("role")
    if not isinstance(role, str) or (role not in ("admin", "server", "server-readonly")
                                     and role not in ev.store.roles):
        raise constraint("Key", [(["role"], "Role `%s` does not exist." % role)])
    ts = ev.txn_time()
    idn = ev.store.new_id()
    secret = "fn" + secrets.token_urlsafe(30)
    rec = {"id": str(idn), "role": role, "ts": ts, "data": d.get("data")}
    ev.store.keys[secret] = rec
    ev.ctx.undo.append(lambda: ev.store.keys.pop(secret, None))
    ev.ctx.stats.write_ops += 1
    fields: Dict[str, Any] = {"role": role}
    if d.get("data") is not None:
        fields["data"] = d["data"]
    fields["secret"] = secret
    return KeyDocView(str(idn), ts, fields)


class KeyDocView(SchemaDoc):
    """A Key document: rendered with an `id`, like user documents."""
    __slots__ = ()

    def __init__(self, id: str, ts: int, fields: Dict[str, Any]) -> None:
        super().__init__("Key", id, ts, fields)


def m_role_create(ev: Any, args: List[Any]) -> Any:
    d = ev.arg(args, 0, dict, "params", 1)
    ev.auth.need_admin(ev.ctx)
    name = d.get("name")
    if not isinstance(name, str) or not IDENT_RE.match(name):
        raise constraint("Role", [(["name"], "Invalid identifier.")])
    if name in ("admin", "server", "server-readonly") or name in ev.store.roles:
        raise constraint("Role", [(["name"], "The identifier `%s` is not unique." % name)])
    privs = d.get("privileges") or []
    if isinstance(privs, dict):
        privs = [privs]
    if not isinstance(privs, list):
        raise constraint("Role", [(["privileges"], "Expected Array.")])
    for p in privs:
        if not isinstance(p, dict) or not isinstance(p.get("resource"), str):
            raise constraint("Role", [(["privileges"], "Expected privileges with a `resource`.")])
    ts = ev.txn_time()
    rec = {"name": name, "privileges": privs, "ts": ts}
    if "membership" in d:
        rec["membership"] = d["membership"]
    ev.store.roles[name] = rec
    ev.ctx.undo.append(lambda: ev.store.roles.pop(name, None))
    ev.ctx.stats.write_ops += 1
    return SchemaDoc("Role", name, ts, {k: v for k, v in rec.items() if k not in ("name", "ts")})


def m_role_by_name(ev: Any, args: List[Any]) -> Any:
    name = ev.arg(args, 0, str, "name", 1)
    r = ev.store.roles.get(name)
    if r is None:
        return None
    return SchemaDoc("Role", name, r["ts"], {k: v for k, v in r.items() if k not in ("name", "ts")})


def m_math(fn: Any, names: tuple = ("x",)) -> Any:
    """A Math function of numbers with the arity of `names`, computed as Java's
    java.lang.Math does (NaN / Infinity results, never a Python exception)."""
    def f(ev: Any, args: List[Any]) -> Any:
        if len(args) != len(names):
            raise arity_error(arity_text(len(names)), len(args))
        for a, nm in zip(args, names):
            if isinstance(a, bool) or not isinstance(a, (int, float)):
                raise QueryError("invalid_argument",
                                 f"expected value for `{nm}` of type Number, received {type_name(a)}")
        return fn(*args)
    return f


def _j_abs(x: Any) -> Any:
    if isinstance(x, int) and x == INT64_MIN:
        raise QueryError("integer_overflow", "Integer overflow.")
    return abs(x)


def _j_round(fn: Any) -> Any:
    def f(x: Any) -> float:
        x = float(x)
        return x if math.isnan(x) or math.isinf(x) else float(fn(x))
    return f


def _j_max(a: Any, b: Any, lo: bool = False) -> Any:
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return math.nan
    return (min if lo else max)(a, b)


def _j_unary(fn: Any) -> Any:
    """Java's semantics for a unary double function: a domain error is NaN,
    an overflow is +/-Infinity."""
    def f(x: Any) -> float:
        x = float(x)
        try:
            return fn(x)
        except OverflowError:
            return math.copysign(math.inf, x) if fn is math.sinh else math.inf
        except ValueError:
            return math.nan
    return f


def _j_log(fn: Any) -> Any:
    def f(x: Any) -> float:
        x = float(x)
        if x == 0.0:
            return -math.inf
        if x < 0 or math.isnan(x):
            return math.nan
        return fn(x)
    return f


def java_pow(x: Any, y: Any) -> float:
    """java.lang.Math.pow."""
    x, y = float(x), float(y)
    try:
        return math.pow(x, y)
    except OverflowError:
        neg = x < 0 and y.is_integer() and int(y) % 2 == 1
        return -math.inf if neg else math.inf
    except (ValueError, ZeroDivisionError):
        if x == 0.0 and y < 0:
            neg = math.copysign(1.0, x) < 0 and y.is_integer() and int(y) % 2 == 1
            return -math.inf if neg else math.inf
        return math.nan


def object_arg(ev: Any, args: List[Any]) -> Dict[str, Any]:
    """The argument of Object.keys/values/entries; a document counts as the
    object it renders as (FQL2DocSpec "Object methods"): id, coll, ts, ttl?,
    its fields, and `data` holding the fields named like its own."""
    o = ev.arg(args, 0, object, "object", 1)
    if isinstance(o, (Doc, NullDoc)):
        c = ev.store.coll(o.coll)
        ver = None
        if isinstance(o, Doc) and c is not None:
            ver = c.visible(o.ver.idn, ev.ctx.snap)
        if ver is None:
            raise QueryError("invalid_argument",
                             f"invalid argument `object`: collection `{o.coll}` does not contain "
                             f"document with id {o.id}.")
        ev.count_read(ver)
        out: Dict[str, Any] = {"id": ver.id, "coll": Module(ver.coll, is_coll=True), "ts": ver.tso}
        if ver.ttl is not None:
            out["ttl"] = ver.ttl
        special = {}
        for k, v in ver.data.items():
            if k in SPECIAL_FIELDS:
                special[k] = v
            else:
                out[k] = v
        if special:
            out["data"] = special
        return out
    if not isinstance(o, dict):
        raise QueryError("invalid_argument",
                         f"expected value for `object` of type Object, received {type_name(o)}")
    return o


def m_object_keys(ev: Any, args: List[Any]) -> Any:
    return list(object_arg(ev, args).keys())


def m_object_values(ev: Any, args: List[Any]) -> Any:
    return [ev.resolve(v) for v in object_arg(ev, args).values()]


def m_object_entries(ev: Any, args: List[Any]) -> Any:
    return [[k, ev.resolve(v)] for k, v in object_arg(ev, args).items()]


MODULE_FUNCS = {
    ("Time", "now"): m_time_now,
    ("Time", "epoch"): m_time_epoch,
    ("Time", "fromString"): m_time_from_string,
    ("Date", "fromString"): m_date_from_string,
    ("Date", "today"): m_date_today,
    ("Set", "paginate"): m_set_paginate,
    ("Set", "sequence"): m_set_sequence,
    ("Set", "single"): m_set_single,
    ("Collection", "all"): m_collection_all,
    ("Collection", "byName"): m_collection_by_name,
    ("Collection", "create"): m_collection_create,
    ("Key", "create"): m_key_create,
    ("Role", "create"): m_role_create,
    ("Role", "byName"): m_role_by_name,
    ("Math", "abs"): m_math(_j_abs),
    ("Math", "floor"): m_math(_j_round(math.floor)),
    ("Math", "ceil"): m_math(_j_round(math.ceil)),
    ("Math", "max"): m_math(_j_max, ("a", "b")),
    ("Math", "min"): m_math(lambda a, b: _j_max(a, b, True), ("a", "b")),
    ("Math", "sqrt"): m_math(_j_unary(math.sqrt)),
    ("Math", "exp"): m_math(_j_unary(math.exp)),
    ("Math", "log"): m_math(_j_log(math.log)),
    ("Math", "log10"): m_math(_j_log(math.log10)),
    ("Math", "pow"): m_math(java_pow, ("x", "exponent")),
    ("Math", "sin"): m_math(_j_unary(math.sin)),
    ("Math", "cos"): m_math(_j_unary(math.cos)),
    ("Math", "tan"): m_math(_j_unary(math.tan)),
    ("Math", "asin"): m_math(_j_unary(math.asin)),
    ("Math", "acos"): m_math(_j_unary(math.acos)),
    ("Math", "atan"): m_math(_j_unary(math.atan)),
    ("Math", "sinh"): m_math(_j_unary(math.sinh)),
    ("Math", "cosh"): m_math(_j_unary(math.cosh)),
    ("Math", "tanh"): m_math(_j_unary(math.tanh)),
    ("Object", "keys"): m_object_keys,
    ("Object", "values"): m_object_values,
    ("Object", "entries"): m_object_entries,
}


# ------------------------------------------------------------------ collections
def coll_method(ev: Any, cname: str, name: str, args: List[Any]) -> Any:
    c = ev.need_coll(cname)
    if name == "all":
        if len(args) > 1:
            raise arity_error(arity_text(1, "at most"), len(args))
        ev.auth.need(ev.ctx, cname, "read")
        src: Dict[str, Any] = {"k": "all", "c": cname}
        if args:
            S.store_range(src, S.parse_range(args[0], 0))
        return S.make(src, ev)
    if name == "byId":
        i = ev.arg(args, 0, object, "id", 1)
        if isinstance(i, int) and not isinstance(i, bool):
            i = str(i)
        if not isinstance(i, str) or not re.fullmatch(r"-?\d{1,19}", i):
            raise QueryError("invalid_argument",
                             f"expected value for `id` of type ID, received {type_name(i)}"
                             if not isinstance(i, str) else f"Invalid ID `{i}`.")
        return ev.get_doc(cname, i)
    if name == "where":
        fn = ev.arg(args, 0, Closure, "predicate", 1)
        ev.auth.need(ev.ctx, cname, "read")
        return S.add_op(ev, S.make({"k": "all", "c": cname}, ev), {"op": "where", "_c": fn})
    if name == "firstWhere":
        fn = ev.arg(args, 0, Closure, "predicate", 1)
        ev.auth.need(ev.ctx, cname, "read")
        return call_method(ev, S.make({"k": "all", "c": cname}, ev), "firstWhere", [fn])
    if name in ("create", "createData"):
        d = ev.arg(args, 0, dict, "data", 1)
        return create_doc(ev, c, d, raw=name == "createData")
    ix = c.indexes.get(name)
    if ix is not None:
        ev.auth.need(ev.ctx, cname, "read")
        if not ix.queryable():
            # still being built in the background (Store.add_index)
            raise QueryError("invalid_index_invocation",
                             f"The index `{cname}.{name}` is not queryable.")
        nt = len(ix.terms)
        if len(args) < nt or len(args) > nt + 1:
            raise arity_error(arity_text(1, "at most") if nt == 0
                              else f"between {nt} and {nt + 1} arguments", len(args))
        terms = args[:nt]
        src = {"k": "idx", "c": cname, "i": name, "t": [enc_tagged(t) for t in terms]}
        if len(args) > nt:
            S.store_range(src, S.parse_range(args[nt], len(ix.values)))
        return S.make(src, ev)
    raise QueryError("invalid_query",
                     f"The function `{name}` does not exist on `{cname}Collection`")


def create_doc(ev: Any, c: Coll, d: Dict[str, Any], raw: bool = False) -> Doc:
    ev.begin_write(c.name, "create")
    data = dict(d)
    ttl = None
    id_str = None
    if not raw:
        failures = [([k], RESERVED_MSG) for k in data if k in RESERVED_FIELDS and k != "id"]
        tf = ttl_failure(data.get("ttl"))
        if tf is not None:
            failures.append(tf)
        if failures:
            raise constraint_error(f"Failed to create document in collection `{c.name}`.",
                                   failures)
        if "id" in data:
            v = data.pop("id")
            if isinstance(v, int) and not isinstance(v, bool):
                v = str(v)
            if not isinstance(v, str) or not re.fullmatch(r"\d{1,19}", v) or int(v) >= 2 ** 63:
                raise QueryError("invalid_argument", f"Invalid ID `{v}`.")
            id_str = v
        if "ttl" in data:
            ttl = data.pop("ttl")
    if ttl is None and c.ttl_days is not None:
        ttl = FTime.from_micros(ev.ctx.write_ts + c.ttl_days * 86_400_000_000)
    if id_str is not None:
        idn = int(id_str)
        existing = c.visible(idn, ev.ctx.snap)
        if existing is not None:
            raise QueryError("document_id_exists",
                             f"Collection `{c.name}` already contains document with id {id_str}.")
    else:
        idn = ev.store.new_id()
        while idn in c.latest:
            idn = ev.store.new_id()
    stored = {k: ev.to_stored(v) for k, v in data.items()}
    ver = ev.write_version(c, idn, stored, ttl)
    return Doc(ver)


def merge(old: Dict[str, Any], new: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(old)
    for k, v in new.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def strip_nulls(d: Dict[str, Any]) -> Dict[str, Any]:
    return {k: (strip_nulls(v) if isinstance(v, dict) else v) for k, v in d.items() if v is not None}


def doc_method(ev: Any, doc: Doc, name: str, args: List[Any]) -> Any:
    c = ev.need_coll(doc.coll)
    if name == "exists":
        return True
    if name in ("update", "replace", "updateData", "replaceData"):
        d = ev.arg(args, 0, dict, "data", 1)
        ev.begin_write(c.name, "write")
        cur = c.visible(doc.ver.idn, ev.ctx.snap)
        if cur is None:
            raise QueryError("document_not_found",
                             f"Collection `{c.name}` does not contain document with id {doc.id}.")
        d = dict(d)
        ttl = cur.ttl
        if not name.endswith("Data"):
            # replace words it "update" too (FQL2ReservedFieldAndDataAccessSpec)
            failures = [([k], RESERVED_MSG) for k in d if k in RESERVED_FIELDS]
            tf = ttl_failure(d.get("ttl"))
            if tf is not None:
                failures.append(tf)
            if failures:
                raise constraint_error(f"Failed to update document with id {doc.id} in "
                                       f"collection `{c.name}`.", failures)
            if "ttl" in d:
                ttl = d.pop("ttl")
        stored = {k: ev.to_stored(v) for k, v in d.items()}
        if name.startswith("update"):
            data = merge(cur.data, stored)
        else:
            data = strip_nulls(stored)
        ver = ev.write_version(c, cur.idn, data, ttl)
        return Doc(ver)
    if name == "delete":
        ev.arg(args, 0, object, "", 0) if args else None
        ev.begin_write(c.name, "delete")
        cur = c.visible(doc.ver.idn, ev.ctx.snap)
        if cur is None:
            raise QueryError("document_not_found",
                             f"Collection `{c.name}` does not contain document with id {doc.id}.")
        ev.write_version(c, cur.idn, cur.data, cur.ttl, deleted=True)
        return NullDoc(c.name, doc.id, "deleted")
    if name in ("id", "coll", "ts", "ttl", "data") or name in doc.ver.data:
        raise not_a_function(name, ev.doc_field(doc.ver, name))
    raise no_method(doc, name)


def schema_method(ev: Any, sd: SchemaDoc, name: str, args: List[Any]) -> Any:
    if name == "exists":
        return True
    if sd.coll != "Collection":
        raise no_method(sd, name)
    c = ev.store.coll(sd.name)
    if c is None:
        raise QueryError("document_not_found", f"Collection `{sd.name}` does not exist.")
    if name == "delete":
        ev.auth.need_schema(ev.ctx)
        ev.txn_time()
        del ev.store.colls[c.name]
        ev.ctx.undo.append(lambda: ev.store.colls.__setitem__(c.name, c))
        ev.ctx.stats.write_ops += 1
        return None
    if name in ("update", "replace"):
        d = ev.arg(args, 0, dict, "data", 1)
        ev.auth.need_schema(ev.ctx)
        ts = ev.txn_time()
        old = (c.history_days, c.ttl_days, dict(c.indexes), dict(c.extra), c.ts)

        def undo() -> None:
            c.history_days, c.ttl_days, c.indexes, c.extra, c.ts = old[0], old[1], old[2], old[3], old[4]
        ev.ctx.undo.append(undo)
        if "name" in d and d["name"] != c.name:
            raise constraint("Collection", [(["name"], "Renaming collections is not supported.")],
                             "update")
        if "history_days" in d:
            hd = d["history_days"]
            if hd is not None and (not isinstance(hd, int) or isinstance(hd, bool) or hd < 0):
                raise constraint("Collection", [(["history_days"], "Expected a non-negative Int.")],
                                 "update")
            c.history_days = hd or 0
        if "ttl_days" in d:
            c.ttl_days = d["ttl_days"]
        if "indexes" in d:
            idx = d["indexes"] or {}
            old_ix = c.indexes
            c.indexes = {} if name == "replace" else dict(c.indexes)
            # the core builds an index for a collection of >= 128 documents
            # in a background task: not queryable until it is done
            background = sum(1 for v in c.latest.values() if not v.deleted) >= BACKGROUND_BUILD_DOCS
            for n, x in idx.items():
                if x is None:
                    c.indexes.pop(n, None)
                    continue
                norm = normalize_index(n, x)
                if n in old_ix and old_ix[n].raw == norm:
                    c.indexes[n] = old_ix[n]       # unchanged: no rebuild
                else:
                    ev.store.add_index(c, n, norm, background=background)
        for k, v in d.items():
            if k not in ("name", "indexes", "history_days", "ttl_days", "coll", "ts"):
                if v is None:
                    c.extra.pop(k, None)
                else:
                    c.extra[k] = v
        c.ts = ts
        ev.ctx.stats.write_ops += 1
        return ev.coll_def(c)
    raise no_method(sd, name)


# ------------------------------------------------------------------ arrays
def array_method(ev: Any, a: List[Any], name: str, args: List[Any], from_set: bool = False) -> Any:
    if name == "length":
        if from_set:
            raise no_method(S.make({"k": "arr"}), name)
        raise not_a_function(name, len(a))
    res = [ev.resolve(x) for x in a] if any(isinstance(x, Ref) for x in a) else a
    if name == "map":
        fn = ev.arg(args, 0, (Closure, Native), "mapper", 1)
        out = [ev.call_fn(fn, [x]) for x in res]
        return S.arr_set(ev, out) if from_set else out
    if name == "flatMap":
        fn = ev.arg(args, 0, (Closure, Native), "mapper", 1)
        out = []
        for x in res:
            r = ev.call_fn(fn, [x])
            if isinstance(r, SetVal):
                r = S.to_list(ev, r)
            if not isinstance(r, list):
                raise type_mismatch("Array<Any>", r)
            out.extend(r)
        return S.arr_set(ev, out) if from_set else out
    if name == "forEach":
        fn = ev.arg(args, 0, (Closure, Native), "callback", 1)
        for x in res:
            ev.call_fn(fn, [x])
        return None
    if name == "flatten":
        no_args(args)
        out = []
        for x in res:
            if not isinstance(x, list):
                raise type_mismatch("Array<Any>", x)
            out.extend(x)
        return out
    if name in ("where", "filter"):
        fn = ev.arg(args, 0, (Closure, Native), "predicate", 1)
        return [x for x in res if bool_result(ev.call_fn(fn, [x]))]
    if name == "firstWhere":
        fn = ev.arg(args, 0, (Closure, Native), "predicate", 1)
        for x in res:
            if bool_result(ev.call_fn(fn, [x])):
                return x
        return None
    if name == "any":
        fn = ev.arg(args, 0, (Closure, Native), "predicate", 1)
        return any(bool_result(ev.call_fn(fn, [x])) for x in res)
    if name == "every":
        fn = ev.arg(args, 0, (Closure, Native), "predicate", 1)
        return all(bool_result(ev.call_fn(fn, [x])) for x in res)
    if name == "concat":
        o = args[0] if len(args) == 1 else ev.arg(args, 0, list, "other", 1)
        if isinstance(o, SetVal):
            o = S.to_list(ev, o)
        if not isinstance(o, list):
            raise QueryError("invalid_argument",
                             f"expected value for `other` of type Array<Any>, received {type_name(o)}")
        out = res + o
        return S.arr_set(ev, out) if from_set else out
    if name == "toSet":
        return S.arr_set(ev, list(res))
    if name == "toArray":
        return list(res)
    if name == "first":
        return res[0] if res else None
    if name == "last":
        return res[-1] if res else None
    if name == "isEmpty":
        return not res
    if name == "nonEmpty":
        return bool(res)
    if name == "includes":
        v = args[0] if args else None
        return any(values_equal(x, v) for x in res)
    if name == "indexOf":
        v = args[0] if args else None
        for i, x in enumerate(res):
            if values_equal(x, v):
                return i
        return None
    if name in ("take", "drop"):
        n = ev.arg(args, 0, int, "limit", 1)
        out = res[:max(n, 0)] if name == "take" else res[max(n, 0):]
        return S.arr_set(ev, out) if from_set else out
    if name == "slice":
        s = ev.arg(args, 0, int, "from")
        e = ev.arg(args, 1, int, "until") if len(args) > 1 else len(res)
        return res[s:e]
    if name == "reverse":
        return res[::-1]
    if name == "append":
        return res + [args[0] if args else None]
    if name == "prepend":
        return [args[0] if args else None] + res
    if name == "distinct":
        out: List[Any] = []
        for x in res:
            if not any(values_equal(x, y) for y in out):
                out.append(x)
        return S.arr_set(ev, out) if from_set else out
    if name == "order":
        # order(ordering...): each a function (ascending) or asc(fn) / desc(fn)
        orderings = [ordering_arg(a) for a in args]
        if orderings:
            keyed = []
            for i, x in enumerate(res):
                k = tuple(Desc(skey(ev.call_fn(fn, [x]))) if d else skey(ev.call_fn(fn, [x]))
                          for fn, d in orderings)
                keyed.append((k, i, x))
        else:
            keyed = [(skey(x), i, x) for i, x in enumerate(res)]
        keyed.sort(key=lambda t: (t[0], t[1]))
        out = [x for _, _, x in keyed]
        return S.arr_set(ev, out) if from_set else out
    if name in ("fold", "reduce"):
        if name == "fold":
            acc = args[0] if args else None
            fn = ev.arg(args, 1, (Closure, Native), "reducer", 2)
            items = res
        else:
            fn = ev.arg(args, 0, (Closure, Native), "reducer", 1)
            if not res:
                return None
            acc, items = res[0], res[1:]
        for x in items:
            acc = ev.call_fn(fn, [acc, x])
        return acc
    raise no_method(S.make({"k": "arr"}) if from_set else a, name)


def ordering_arg(a: Any) -> Any:
    """An `order()` argument: (function, descending)."""
    if isinstance(a, (Closure, Native)):
        return a, False
    if isinstance(a, dict) and len(a) == 1:
        (k, fn), = a.items()
        if k in ("asc", "desc") and isinstance(fn, (Closure, Native)):
            return fn, k == "desc"
    raise QueryError("invalid_argument",
                     f"expected value for `ordering` of type function or ordering "
                     f"(`asc(...)`, `desc(...)`), received {type_name(a)}")


def type_mismatch(expected: str, v: Any) -> QueryError:
    """The core's runtime type error (FQL2BasicSpec, FQL2ArraySpec)."""
    return QueryError("type_mismatch", f"expected type: {expected}, received {type_name(v)}")


def bool_result(r: Any) -> bool:
    if r is None:
        return False
    if not isinstance(r, bool):
        raise type_mismatch("Boolean", r)
    return r


# ------------------------------------------------------------------ strings, times
def string_method(ev: Any, s: str, name: str, args: List[Any]) -> Any:
    if name == "length":
        raise not_a_function(name, len(s))
    if name == "toUpperCase":
        return s.upper()
    if name == "toLowerCase":
        return s.lower()
    if name == "toString":
        return s
    if name == "trim":
        return s.strip()
    if name in ("includes", "startsWith", "endsWith", "concat", "indexOf", "split"):
        o = ev.arg(args, 0, str, "other" if name == "concat" else "pattern"
                   if name != "split" else "separator", 1)
        if name == "includes":
            return o in s
        if name == "startsWith":
            return s.startswith(o)
        if name == "endsWith":
            return s.endswith(o)
        if name == "concat":
            return s + o
        if name == "indexOf":
            i = s.find(o)
            return None if i < 0 else i
        return s.split(o) if o else list(s)
    if name == "slice":
        a = ev.arg(args, 0, int, "from")
        b = ev.arg(args, 1, int, "until") if len(args) > 1 else len(s)
        return s[a:b]
    if name == "replaceAll":
        a = ev.arg(args, 0, str, "pattern", 2)
        b = ev.arg(args, 1, str, "replacement")
        return s.replace(a, b)
    if name == "parseInt":
        try:
            return int(s)
        except ValueError:
            return None
    if name == "parseDouble":
        try:
            return float(s)
        except ValueError:
            return None
    raise no_method(s, name)


def time_method(ev: Any, t: FTime, name: str, args: List[Any]) -> Any:
    if name == "toMicros":
        return t.ns // 1000
    if name == "toMillis":
        return t.ns // 1_000_000
    if name == "toSeconds":
        return t.ns // 1_000_000_000
    if name == "toString":
        return t.iso()
    if name in ("add", "subtract"):
        n = ev.arg(args, 0, int, "amount", 2)
        unit = ev.arg(args, 1, str, "unit")
        f = TIME_UNITS.get(unit)
        if f is None:
            raise bad_unit(unit)
        d = n * f
        return checked_time(t.ns + d if name == "add" else t.ns - d)
    if name == "difference":
        o = ev.arg(args, 0, FTime, "start", 2)
        unit = ev.arg(args, 1, str, "unit")
        f = TIME_UNITS.get(unit)
        if f is None:
            raise bad_unit(unit)
        return int((t.ns - o.ns) / f)
    raise no_method(t, name)
