"""The evaluator of one v4 query."""
from __future__ import annotations

import base64
import bisect
import hashlib
import json
import re
import secrets
import time
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

from ..builtins import IDENT_RE, RESERVED_COLL_NAMES, merge, strip_nulls
from ..evaluator import Ctx, Evaluator
from ..storage import Coll, Desc, INF_TS, Index, Store, Version, skey
from ..values import Doc, FDate, FTime, Legacy, Module, NullDoc, Ref
from .values import DEFAULT_PAGE, KINDS, KIND_ALIASES, LambdaV, MAX_PAGE, RANK, RawRef, SRef, SetV, V4Error, bad_arg, bad_expr, is_ref_json, type_name
from .state import V4Index, state_of
from .encoding import Encoder
from .forms import FORM_INDEX, find_form, parse_ref_string
from .ranges import id_interval

if TYPE_CHECKING:    # the api that runs the query; no import at run time
    from .api import V4Api


# ================================================================== engine
class V4Query:
    def __init__(self, api: "V4Api", ctx: Ctx, ev: Evaluator) -> None:
        self.api = api
        self.store: Store = api.store
        self.ctx = ctx
        self.ev = ev
        self.state = state_of(self.store)
        self.snap_stack: List[int] = []

    # ---------------------------------------------------------- snapshot
    @property
    def snap(self) -> int:
        return self.snap_stack[-1] if self.snap_stack else self.ctx.snap

    # ---------------------------------------------------------- eval
    def eval(self, e: Any, env: Dict[str, Any], pos: List[Any]) -> Any:
        if isinstance(e, list):
            return [self.eval(x, env, pos + [i]) for i, x in enumerate(e)]
        if not isinstance(e, dict):
            return e
        if len(e) == 1:
            k = next(iter(e))
            if k.startswith("@"):
                return self.literal(e, pos)
        keys = frozenset(e)
        form = FORM_INDEX.get(keys) or find_form(keys)
        if form is None:
            raise bad_expr(pos, "No form/function found, or invalid argument keys: { %s }."
                           % ", ".join(e.keys()))
        return getattr(self, "f_" + form)(e, env, pos)

    def literal(self, e: Dict[str, Any], pos: List[Any]) -> Any:
        k, x = next(iter(e.items()))
        try:
            if k == "@ref":
                if isinstance(x, str):
                    return parse_ref_string(x, pos)
                if isinstance(x, dict) and isinstance(x.get("id"), str) and "database" not in x:
                    parent = x.get("collection", x.get("class"))
                    if parent is None and set(x) == {"id"}:
                        name = KIND_ALIASES.get(x["id"], x["id"])
                        if name in KINDS:
                            return SRef(None, name)
                    p = self.literal(parent, pos) if isinstance(parent, dict) else None
                    if isinstance(p, SRef) and p.kind is None:
                        return SRef(p.name, x["id"])
                    if isinstance(p, SRef) and p.kind == "collections":
                        return Ref(p.name, x["id"])
                # any other well-formed ref (nested deeper, scoped to a
                # database, an unknown class) is kept as it was sent
                if is_ref_json(x):
                    return RawRef(x)
                raise bad_expr(pos, "Ref expected, Object provided.")
            if k == "@ts":
                return FTime.parse(x)
            if k == "@date":
                return FDate.parse(x)
            if k == "@bytes":
                return base64.b64decode(x + "=" * (-len(x) % 4), altchars=b"-_" if ("-" in x or "_" in x) else None)
            if k == "@obj":
                if not isinstance(x, dict):
                    raise bad_expr(pos, "Object expected.")
                return {kk: self.literal_value(v, pos + [kk]) for kk, v in x.items()}
            if k == "@set":
                return self.eval(x, {}, pos)
            if k == "@query":
                return self.eval(x, {}, pos)
        except (ValueError, TypeError):
            raise bad_expr(pos, f"Invalid {k} value.")
        raise bad_expr(pos, "No form/function found, or invalid argument keys: { %s }." % k)

    def literal_value(self, v: Any, pos: List[Any]) -> Any:
        if isinstance(v, list):
            return [self.literal_value(x, pos) for x in v]
        if isinstance(v, dict):
            if len(v) == 1 and next(iter(v)).startswith("@"):
                return self.literal(v, pos)
            return {k: self.literal_value(x, pos + [k]) for k, x in v.items()}
        return v

    # ---------------------------------------------------------- helpers
    def arg(self, e: Dict[str, Any], key: str, env: Dict[str, Any], pos: List[Any]) -> Any:
        return self.eval(e[key], env, pos + [key])

    def int_arg(self, v: Any, pos: List[Any]) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise bad_arg(pos, f"Integer expected, {type_name(v)} provided.")
        return v

    def coll_ref(self, v: Any, pos: List[Any]) -> Coll:
        if not (isinstance(v, SRef) and v.kind == "collections"):
            raise bad_arg(pos, f"Collection Ref expected, {type_name(v)} provided.")
        c = self.store.coll(v.name)
        if c is None:
            raise self.undefined("collections", v.name, pos)
        return c

    def undefined(self, kind: str, name: str, pos: List[Any]) -> V4Error:
        word = {"collections": "collection" if self.api_v4 else "class", "indexes": "index",
                "roles": "role", "keys": "key", "databases": "database",
                "functions": "function"}.get(kind, kind)
        return V4Error(400, "invalid ref", f"Ref refers to undefined {word} '{name}'", list(pos))

    @property
    def api_v4(self) -> bool:
        return self.api_flag

    api_flag = True

    def check_sref(self, r: SRef, pos: List[Any]) -> SRef:
        if r.kind is None:
            return r
        if not self.sref_exists(r):
            raise self.undefined(r.kind, r.name, pos)
        return r

    def sref_exists(self, r: SRef) -> bool:
        if r.kind == "collections":
            return self.store.coll(r.name) is not None
        if r.kind == "indexes":
            return r.name in self.state.indexes
        if r.kind == "roles":
            return r.name in self.store.roles
        if r.kind == "keys":
            return any(k["id"] == r.name for k in self.store.keys.values())
        return False

    def need_read(self, coll: str, pos: List[Any]) -> None:
        if not self.ev.auth.can(self.ctx, coll, "read"):
            raise V4Error(403, "permission denied", "Insufficient privileges to perform the action.",
                          list(pos))

    def need_schema(self, pos: List[Any], admin: bool = False) -> None:
        role = self.ctx.principal.role
        if role != "admin" and (admin or role != "server"):
            raise V4Error(403, "permission denied", "Insufficient privileges to perform the action.",
                          list(pos))

    def begin_write(self, coll: str, action: str, pos: List[Any]) -> None:
        if self.ev.store.read_only:
            raise V4Error(403, "permission denied",
                          "This emulator serves reads only (--read-processes).", list(pos))
        if self.snap_stack:
            raise V4Error(400, "invalid write time",
                          "Cannot write outside of the current transaction time.", list(pos))
        if not self.ev.auth.can(self.ctx, coll, action):
            raise V4Error(403, "permission denied", "Insufficient privileges to perform the action.",
                          list(pos))
        self.ev.txn_time()

    def schema_write(self, pos: List[Any], admin: bool = False) -> int:
        self.need_schema(pos, admin)
        if self.snap_stack:
            raise V4Error(400, "invalid write time",
                          "Cannot write outside of the current transaction time.", list(pos))
        return self.ev.txn_time()

    def apply(self, fn: Any, args: List[Any], pos: List[Any]) -> Any:
        if not isinstance(fn, LambdaV):
            raise bad_arg(pos, f"Lambda expected, {type_name(fn)} provided.")
        env = dict(fn.env)
        params = fn.params
        val: Any = args[0] if len(args) == 1 else args
        if isinstance(params, str):
            if params != "_":
                env[params] = val
        else:
            if not isinstance(val, list) or len(val) != len(params):
                raise bad_arg(pos, f"Lambda expects an array with {len(params)} elements. "
                                   f"Array contains {len(val) if isinstance(val, list) else 1}.")
            for p, x in zip(params, val):
                if p != "_":
                    env[p] = x
        return self.eval(fn.expr, env, pos + ["expr"])

    # ---------------------------------------------------------- documents
    def doc_version(self, ref: Ref, snap: int) -> Optional[Version]:
        c = self.store.coll(ref.coll)
        if c is None or not re.fullmatch(r"\d{1,19}", ref.id):
            return None
        return c.visible(int(ref.id), snap)

    def doc_obj(self, ver: Version) -> Dict[str, Any]:
        self.ev.count_read(ver)
        out: Dict[str, Any] = {"ref": Ref(ver.coll, ver.id), "ts": ver.ts, "data": self.from_stored(ver.data)}
        if ver.ttl is not None:
            out["ttl"] = ver.ttl
        return out

    def from_stored(self, v: Any) -> Any:
        if isinstance(v, Legacy):
            return v.value
        if isinstance(v, dict):
            return {k: self.from_stored(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.from_stored(x) for x in v]
        if isinstance(v, (Doc, NullDoc)):
            return Ref(v.coll, v.id)
        if isinstance(v, Module):
            return SRef("collections", v.name)
        return v

    def to_stored(self, v: Any, pos: List[Any]) -> Any:
        if isinstance(v, dict):
            return {k: self.to_stored(x, pos) for k, x in v.items()}
        if isinstance(v, list):
            return [self.to_stored(x, pos) for x in v]
        if isinstance(v, SRef) and v.kind == "collections":
            return Module(v.name, True)
        if isinstance(v, (SetV, LambdaV, SRef, RawRef)):
            # v4-only values (refs to databases, keys, ... ; deeper refs;
            # @query, @set) are stored as they are, opaque to v10
            return Legacy(v, Encoder(True).enc(v))
        return v

    def coll_obj(self, c: Coll) -> Dict[str, Any]:
        out: Dict[str, Any] = {"ref": SRef("collections", c.name), "ts": c.ts,
                               "history_days": c.history_days, "name": c.name}
        if c.ttl_days is not None:
            out["ttl_days"] = c.ttl_days
        if isinstance(c.extra.get("data"), dict):
            out["data"] = self.from_stored(c.extra["data"])
        return out

    def index_obj(self, ix: V4Index) -> Dict[str, Any]:
        out: Dict[str, Any] = {"ref": SRef("indexes", ix.name), "ts": ix.ts, "active": True,
                               "serialized": bool(ix.extra.get("serialized", True)), "name": ix.name,
                               "unique": bool(ix.extra.get("unique", False)),
                               "source": SRef("collections", ix.source)}
        if ix.v4_terms:
            out["terms"] = [{"field": list(t)} for t in ix.v4_terms]
        if ix.v4_values:
            out["values"] = [dict({"field": list(p)}, **({"reverse": True} if r else {}))
                             for p, r in ix.v4_values]
        if "data" in ix.extra:
            out["data"] = ix.extra["data"]
        out["partitions"] = 1 if ix.v4_terms else 8
        return out

    def role_obj(self, name: str, rec: Dict[str, Any]) -> Dict[str, Any]:
        privs = []
        for p in rec.get("privileges") or []:
            res = p.get("resource")
            if isinstance(res, str):
                res = parse_ref_string(res, []) if "/" in res else SRef("collections", res)
            privs.append({"resource": res, "actions": p.get("actions") or {}})
        out: Dict[str, Any] = {"ref": SRef("roles", name), "ts": rec["ts"], "name": name,
                               "privileges": privs}
        if "membership" in rec:
            out["membership"] = rec["membership"]
        return out

    def key_obj(self, rec: Dict[str, Any], secret: Optional[str]) -> Dict[str, Any]:
        role = rec["role"]
        out: Dict[str, Any] = {"ref": SRef("keys", rec["id"]), "ts": rec["ts"],
                               "role": role if role in ("admin", "server", "server-readonly", "client")
                               else SRef("roles", role)}
        if rec.get("data") is not None:
            out["data"] = rec["data"]
        if secret is not None:
            out["secret"] = secret
            out["hashed_secret"] = "$2a$05$" + hashlib.sha256(secret.encode()).hexdigest()[:53]
        return out

    def get_any(self, r: Any, snap: int, pos: List[Any]) -> Optional[Dict[str, Any]]:
        """The instance a ref names at `snap`, or None."""
        if isinstance(r, Ref):
            if self.store.coll(r.coll) is None:
                raise self.undefined("collections", r.coll, pos)
            self.need_read(r.coll, pos)
            ver = self.doc_version(r, snap)
            return self.doc_obj(ver) if ver is not None else None
        if isinstance(r, SRef):
            if r.kind == "collections":
                c = self.store.coll(r.name)
                return self.coll_obj(c) if c is not None and c.ts <= snap else None
            if r.kind == "indexes":
                ix = self.state.indexes.get(r.name)
                return self.index_obj(ix) if ix is not None and ix.ts <= snap else None
            if r.kind == "roles":
                rec = self.store.roles.get(r.name)
                return self.role_obj(r.name, rec) if rec is not None else None
            if r.kind == "keys":
                self.need_schema(pos, True)
                for rec in self.store.keys.values():
                    if rec["id"] == r.name:
                        return self.key_obj(rec, None)
                return None
            return None
        raise bad_arg(pos, f"Ref or Set expected, {type_name(r)} provided.")

    # ---------------------------------------------------------- basic forms
    def f_object(self, e, env, pos):
        o = e["object"]
        if not isinstance(o, dict):
            raise bad_expr(pos + ["object"], "Object expected.")
        return {k: self.eval(v, env, pos + ["object", k]) for k, v in o.items()}

    def f_let(self, e, env, pos):
        b = e["let"]
        env = dict(env)
        items: List[Tuple[str, Any, List[Any]]] = []
        if isinstance(b, list):
            for i, o in enumerate(b):
                if not isinstance(o, dict):
                    raise bad_expr(pos + ["let", i], "Object expected.")
                for k, v in o.items():
                    items.append((k, v, pos + ["let", i, k]))
        elif isinstance(b, dict):
            items = [(k, v, pos + ["let", k]) for k, v in b.items()]
        else:
            raise bad_expr(pos + ["let"], "Object expected.")
        for k, v, p in items:
            env[k] = self.eval(v, env, p)
        return self.eval(e["in"], env, pos + ["in"])

    def f_var(self, e, env, pos):
        name = e["var"]
        if not isinstance(name, str) or name not in env:
            raise V4Error(400, "invalid expression", f"Variable '{name}' is not defined.", pos)
        return env[name]

    def f_lambda(self, e, env, pos):
        p = e["lambda"]
        if not (isinstance(p, str) or (isinstance(p, list) and all(isinstance(x, str) for x in p))):
            raise bad_expr(pos + ["lambda"], "String or Array of Strings expected.")
        return LambdaV(p, e["expr"], dict(env), {"lambda": p, "expr": e["expr"]})

    def f_if(self, e, env, pos):
        c = self.arg(e, "if", env, pos)
        if not isinstance(c, bool):
            raise bad_arg(pos + ["if"], f"Boolean expected, {type_name(c)} provided.")
        return self.arg(e, "then" if c else "else", env, pos)

    def f_do(self, e, env, pos):
        xs = e["do"] if isinstance(e["do"], list) else [e["do"]]
        r = None
        for i, x in enumerate(xs):
            r = self.eval(x, env, pos + ["do", i])
        return r

    def f_abort(self, e, env, pos):
        msg = self.arg(e, "abort", env, pos)
        if not isinstance(msg, str):
            raise bad_arg(pos + ["abort"], f"String expected, {type_name(msg)} provided.")
        raise V4Error(400, "transaction aborted", msg, pos)

    def f_at(self, e, env, pos):
        t = self.arg(e, "at", env, pos)
        us = self.ts_arg(t, pos + ["at"])
        if self.ctx.write_ts is not None and us > self.ctx.write_ts:
            raise V4Error(400, "invalid argument", "Cannot read in the future.", pos + ["at"])
        self.snap_stack.append(us)
        try:
            return self.arg(e, "expr", env, pos)
        finally:
            self.snap_stack.pop()

    def ts_arg(self, t: Any, pos: List[Any]) -> int:
        if isinstance(t, FTime):
            return t.micros
        if isinstance(t, int) and not isinstance(t, bool):
            return t
        raise bad_arg(pos, f"Time or Integer expected, {type_name(t)} provided.")

    def f_equals(self, e, env, pos):
        xs = self.arg(e, "equals", env, pos)
        if not isinstance(xs, list):
            xs = [xs]
        enc = Encoder(True).enc
        first = json.dumps(enc(xs[0]), sort_keys=True) if xs else None
        return all(json.dumps(enc(x), sort_keys=True) == first for x in xs)

    def f_not(self, e, env, pos):
        v = self.arg(e, "not", env, pos)
        if not isinstance(v, bool):
            raise bad_arg(pos + ["not"], f"Boolean expected, {type_name(v)} provided.")
        return not v

    def f_and(self, e, env, pos):
        xs = e["and"] if isinstance(e["and"], list) else [e["and"]]
        for i, x in enumerate(xs):
            v = self.eval(x, env, pos + ["and", i])
            if v is not True:
                return False
        return True

    def f_or(self, e, env, pos):
        xs = e["or"] if isinstance(e["or"], list) else [e["or"]]
        for i, x in enumerate(xs):
            if self.eval(x, env, pos + ["or", i]) is True:
                return True
        return False

    def f_add(self, e, env, pos):
        xs = self.arg(e, "add", env, pos)
        xs = xs if isinstance(xs, list) else [xs]
        for i, x in enumerate(xs):
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise bad_arg(pos + ["add", i], f"Number expected, {type_name(x)} provided.")
        return sum(xs)

    def f_is_null(self, e, env, pos):
        return self.arg(e, "is_null", env, pos) is None

    def f_concat(self, e, env, pos):
        xs = self.arg(e, "concat", env, pos)
        sep = self.arg(e, "separator", env, pos) if "separator" in e else ""
        xs = xs if isinstance(xs, list) else [xs]
        if not all(isinstance(x, str) for x in xs):
            raise bad_arg(pos + ["concat"], "Array of Strings expected.")
        return sep.join(xs)

    def f_count(self, e, env, pos):
        v = self.arg(e, "count", env, pos)
        if isinstance(v, list):
            return len(v)
        if isinstance(v, SetV):
            return sum(1 for _ in self.iter_set(v.spec, self.snap, None, pos + ["count"]))
        raise bad_arg(pos + ["count"], f"Array or Set expected, {type_name(v)} provided.")

    # ---------------------------------------------------------- time
    def now_us(self) -> int:
        return self.ctx.write_ts if self.ctx.write_ts is not None else self.ctx.snap

    def f_now(self, e, env, pos):
        return FTime.from_micros(self.now_us())

    def f_time(self, e, env, pos):
        s = self.arg(e, "time", env, pos)
        if not isinstance(s, str):
            raise bad_arg(pos + ["time"], f"String expected, {type_name(s)} provided.")
        if s == "now":
            return FTime.from_micros(self.now_us())
        try:
            return FTime.parse(s)
        except ValueError:
            raise bad_arg(pos + ["time"], "Cannot cast '%s' to a time." % s)

    def f_epoch(self, e, env, pos):
        n = self.int_arg(self.arg(e, "epoch", env, pos), pos + ["epoch"])
        unit = self.arg(e, "unit", env, pos)
        mult = {"second": 10 ** 9, "seconds": 10 ** 9, "millisecond": 10 ** 6, "milliseconds": 10 ** 6,
                "microsecond": 1000, "microseconds": 1000, "nanosecond": 1, "nanoseconds": 1}.get(unit)
        if mult is None:
            raise bad_arg(pos + ["unit"], "Invalid time unit.")
        return FTime(n * mult)

    def f_date(self, e, env, pos):
        s = self.arg(e, "date", env, pos)
        try:
            return FDate.parse(s)
        except (ValueError, TypeError):
            raise bad_arg(pos + ["date"], "Cannot cast '%s' to a date." % (s,))

    def _time_of(self, e, key, env, pos) -> FTime:
        t = self.arg(e, key, env, pos)
        if not isinstance(t, FTime):
            raise bad_arg(pos + [key], f"Time expected, {type_name(t)} provided.")
        return t

    def f_to_micros(self, e, env, pos):
        return self._time_of(e, "to_micros", env, pos).ns // 1000

    def f_to_millis(self, e, env, pos):
        return self._time_of(e, "to_millis", env, pos).ns // 1_000_000

    def f_to_seconds(self, e, env, pos):
        return self._time_of(e, "to_seconds", env, pos).ns // 1_000_000_000

    def f_new_id(self, e, env, pos):
        return str(self.store.new_id())

    f_next_id = f_new_id

    # ---------------------------------------------------------- refs
    def f_ref(self, e, env, pos):
        base = self.arg(e, "ref", env, pos)
        if "id" not in e:
            if isinstance(base, str):
                return parse_ref_string(base, pos + ["ref"])
            raise bad_arg(pos + ["ref"], f"String expected, {type_name(base)} provided.")
        id_ = self.arg(e, "id", env, pos)
        if isinstance(id_, int) and not isinstance(id_, bool):
            id_ = str(id_)
        if not isinstance(id_, str):
            raise bad_arg(pos + ["id"], f"String expected, {type_name(id_)} provided.")
        if isinstance(base, SRef) and base.kind == "collections":
            return Ref(base.name, id_)
        if isinstance(base, SRef) and base.kind is None:
            return SRef(base.name, id_)
        raise bad_arg(pos + ["ref"], f"Ref expected, {type_name(base)} provided.")

    def _named(self, kind: str, key: str, e, env, pos, checked: bool = True) -> SRef:
        name = self.arg(e, key, env, pos)
        if isinstance(name, SRef) and name.kind == kind:
            return name
        if not isinstance(name, str):
            raise bad_arg(pos + [key], f"String expected, {type_name(name)} provided.")
        r = SRef(kind, name)
        return self.check_sref(r, pos) if checked else r

    # As in Fauna, Collection("x") and Index("x") only build the ref: a
    # missing one is an error where the ref is used (get, paginate, match,
    # writes), and `Exists(Collection("x"))` is false.
    def f_collection(self, e, env, pos):
        return self._named("collections", "collection", e, env, pos, False)

    def f_class(self, e, env, pos):
        return self._named("collections", "class", e, env, pos, False)

    def f_index(self, e, env, pos):
        return self._named("indexes", "index", e, env, pos, False)

    def f_role(self, e, env, pos):
        return self._named("roles", "role", e, env, pos)

    def f_database(self, e, env, pos):
        return self._named("databases", "database", e, env, pos)

    def f_function(self, e, env, pos):
        return self._named("functions", "function", e, env, pos)

    def _native_set(self, kind: str, key: str, e):
        return SetV({key: None}, {"k": "native", "kind": kind})

    def f_collections(self, e, env, pos):
        return self._native_set("collections", "collections", e)

    def f_classes(self, e, env, pos):
        return self._native_set("collections", "classes", e)

    def f_indexes(self, e, env, pos):
        return self._native_set("indexes", "indexes", e)

    def f_keys(self, e, env, pos):
        self.need_schema(pos, True)
        return self._native_set("keys", "keys", e)

    def f_roles(self, e, env, pos):
        return self._native_set("roles", "roles", e)

    def f_databases(self, e, env, pos):
        return self._native_set("databases", "databases", e)

    def f_functions(self, e, env, pos):
        return self._native_set("functions", "functions", e)

    # ---------------------------------------------------------- sets
    def f_documents(self, e, env, pos):
        r = self.arg(e, "documents", env, pos)
        c = self.coll_ref(r, pos + ["documents"])
        enc = Encoder(True).enc
        return SetV({"documents": enc(r)}, {"k": "docs", "c": c.name})

    def f_match(self, e, env, pos):
        r = self.arg(e, "match", env, pos)
        if not (isinstance(r, SRef) and r.kind == "indexes"):
            raise bad_arg(pos + ["match"], f"Index Ref expected, {type_name(r)} provided.")
        ix = self.state.indexes.get(r.name)
        if ix is None:
            raise self.undefined("indexes", r.name, pos + ["match"])
        terms = self.arg(e, "terms", env, pos) if "terms" in e else []
        if not isinstance(terms, list):
            terms = [terms]
        if terms and len(terms) != len(ix.terms):
            if len(ix.terms) == 0:
                raise bad_arg(pos + ["terms"], f"Index '{ix.name}' has no terms.")
            raise bad_arg(pos + ["terms"], f"Expected {len(ix.terms)} terms, {len(terms)} provided.")
        enc = Encoder(True).enc
        desc: Dict[str, Any] = {"match": enc(r)}
        if terms:
            desc["terms"] = enc(terms if len(terms) != 1 else terms[0])
        return SetV(desc, {"k": "idx", "i": ix.name, "t": terms if terms else None})

    def f_range(self, e, env, pos):
        s = self.arg(e, "range", env, pos)
        # an index's entries, or a collection's documents (entries: their refs)
        if not isinstance(s, SetV) or s.spec["k"] not in ("idx", "docs"):
            raise bad_arg(pos + ["range"], f"Set expected, {type_name(s)} provided.")
        lo = self.arg(e, "from", env, pos)
        hi = self.arg(e, "to", env, pos)
        lo = lo if isinstance(lo, list) else [lo]
        hi = hi if isinstance(hi, list) else [hi]
        enc = Encoder(True).enc
        spec = dict(s.spec)
        if spec["k"] == "docs":
            # a range of a range keeps what both keep
            spec["bounds"] = spec.get("bounds", []) + [(lo, hi, bool(spec.get("rev")))]
        else:
            spec["from"], spec["to"] = lo, hi
        return SetV({"range": s.desc, "from": enc(lo), "to": enc(hi)}, spec)

    def f_reverse(self, e, env, pos):
        s = self.arg(e, "reverse", env, pos)
        if isinstance(s, list):
            return s[::-1]
        if isinstance(s, dict) and isinstance(s.get("data"), list) and set(s) <= {"data", "before", "after"}:
            page = dict(s)
            page["data"] = s["data"][::-1]
            return page
        if not isinstance(s, SetV):
            raise bad_arg(pos + ["reverse"], f"Array, Page or Set expected, {type_name(s)} provided.")
        if s.spec["k"] == "docs":
            spec = dict(s.spec)
            spec["rev"] = not spec.get("rev")
        else:
            spec = {"k": "rev", "s": s.spec}
        return SetV({"reverse": s.desc}, spec)

    def f_map(self, e, env, pos):
        fn = self.arg(e, "map", env, pos)
        coll = self.arg(e, "collection", env, pos)
        return self.map_like(fn, coll, pos, False)

    def f_foreach(self, e, env, pos):
        fn = self.arg(e, "foreach", env, pos)
        coll = self.arg(e, "collection", env, pos)
        self.map_like(fn, coll, pos, False)
        return coll

    def f_filter(self, e, env, pos):
        fn = self.arg(e, "filter", env, pos)
        coll = self.arg(e, "collection", env, pos)
        return self.map_like(fn, coll, pos, True)

    def map_like(self, fn: Any, coll: Any, pos: List[Any], is_filter: bool) -> Any:
        if not isinstance(fn, LambdaV):
            raise bad_arg(pos + ["filter" if is_filter else "map"],
                          f"Lambda expected, {type_name(fn)} provided.")

        def run(items: List[Any]) -> List[Any]:
            out = []
            for x in items:
                r = self.apply(fn, [x], pos + ["filter" if is_filter else "map"])
                if is_filter:
                    if not isinstance(r, bool):
                        raise bad_arg(pos + ["filter", "expr"], f"Boolean expected, {type_name(r)} provided.")
                    if r:
                        out.append(x)
                else:
                    out.append(r)
            return out

        if isinstance(coll, list):
            return run(coll)
        if isinstance(coll, dict) and isinstance(coll.get("data"), list) and set(coll) <= {"data", "before", "after"}:
            out = dict(coll)
            out["data"] = run(coll["data"])
            return out
        if isinstance(coll, SetV):
            op = {"filter" if is_filter else "map": fn.raw, "collection": coll.desc}
            return SetV(op, {"k": "filter" if is_filter else "map", "s": coll.spec, "fn": fn, "pos": pos})
        raise bad_arg(pos + ["collection"], f"Array, Page or Set expected, {type_name(coll)} provided.")

    # ---------------------------------------------------------- set iteration
    # Every entry is (sort key, cursor value, item).
    def iter_set(self, spec: Dict[str, Any], snap: int, start: Any, pos: List[Any]) -> Iterator[Tuple[tuple, Any, Any]]:
        k = spec["k"]
        if k == "docs":
            c = self.store.coll(spec["c"])
            if c is None:
                return
            self.need_read(c.name, pos)
            yield from self.iter_docs(c, spec, snap, start)
        elif k == "idx":
            ix = self.state.indexes.get(spec["i"])
            if ix is None:
                return
            self.need_read(ix.source, pos)
            ix.sync(self.store)
            tk = tuple(skey(t) for t in (spec.get("t") or [])) if spec.get("t") else None
            keys = ix.keys
            if start is not None:
                i = bisect.bisect_left(keys, start)
            elif tk is not None:
                i = bisect.bisect_left(keys, (tk,))
            else:
                i = 0
            lo = [skey(x) for x in spec.get("from") or []]
            hi = [skey(x) for x in spec.get("to") or []]
            nvals = len(ix.values)
            while i < len(keys):
                key = keys[i]
                i += 1
                if tk is not None and key[0] != tk:
                    if key[0] > tk:
                        break
                    continue
                if key[3] > snap:
                    continue
                ent = ix.ent[key]
                if ent[0] <= snap:
                    continue
                ver: Version = ent[1]
                if ver.ttl is not None and ver.ttl.ns // 1000 <= snap:
                    continue
                raw = ix.raw_values(ver)
                plain = tuple(skey(x) for x in raw)
                if lo and plain[:len(lo)] < tuple(lo):
                    continue
                if hi and plain[:len(hi)] > tuple(hi):
                    if not any(d for _, d in ix.values):
                        break
                    continue
                self.ev.count_read(ver)
                ref = Ref(ver.coll, ver.id)
                item = ref if nvals == 0 else (raw[0] if nvals == 1 else list(raw))
                yield (key[0], key[1], key[2]), (list(raw) if nvals else [ref]) + [ref], item
        elif k == "native":
            kind = spec["kind"]
            if kind == "collections":
                names = sorted(n for n, c in self.store.colls.items() if c.ts <= snap)
            elif kind == "indexes":
                names = sorted(n for n, ix in self.state.indexes.items() if ix.ts <= snap)
            elif kind == "roles":
                names = sorted(self.store.roles)
            elif kind == "keys":
                names = sorted((r["id"] for r in self.store.keys.values()), key=lambda x: (len(x), x))
            else:
                names = []
            for n in names:
                key = (len(n), n) if kind == "keys" else (n,)
                if start is not None and key < start:
                    continue
                r = SRef(kind, n)
                yield key, [r], r
        elif k == "rev":
            # any other set backwards: read whole, in the reverse of its order
            for key, cur, item in reversed(list(self.iter_set(spec["s"], snap, None, pos))):
                rkey = (Desc(key),)
                if start is None or not rkey < start:
                    yield rkey, cur, item
        elif k in ("map", "filter"):
            fn = spec["fn"]
            for key, cur, item in self.iter_set(spec["s"], snap, start, pos):
                r = self.apply(fn, [item], spec["pos"] + [k])
                if k == "filter":
                    if r is True:
                        yield key, cur, item
                else:
                    yield key, cur, r
        else:
            raise bad_arg(pos, "Unsupported set.")

    def iter_docs(self, c: Coll, spec: Dict[str, Any], snap: int, start: Any) -> Iterator[Tuple[tuple, Any, Any]]:
        """The documents of `c` visible at `snap`, between the ids of the
        set's ranges, from the cursor key `start` on; backwards (keys
        `(-id,)`) for a reversed set."""
        ids = c.ids
        lo, hi = id_interval(spec.get("bounds", []), c.name)
        rev = bool(spec.get("rev"))
        at = start[0] if start and isinstance(start[0], int) else None
        if rev:
            if at is not None:
                hi = min(hi, -at)
            i, step = bisect.bisect_right(ids, hi) - 1, -1
        else:
            if at is not None:
                lo = max(lo, at)
            i, step = bisect.bisect_left(ids, lo), 1
        while 0 <= i < len(ids):
            idn = ids[i]
            i += step
            if idn > hi or idn < lo:
                break
            v = c.visible(idn, snap)
            if v is None:
                continue
            self.ev.count_read(v)
            ref = Ref(c.name, v.id)
            yield (-idn if rev else idn,), [ref], ref

    def cursor_key(self, spec: Dict[str, Any], cur: Any, pos: List[Any]) -> tuple:
        """Translate an `after`/`before` cursor into the set's sort key."""
        k = spec["k"]
        while k in ("map", "filter"):
            spec = spec["s"]
            k = spec["k"]
        if not isinstance(cur, list):
            cur = [cur]
        if k == "docs":
            sign = -1 if spec.get("rev") else 1
            r = cur[0] if cur else None
            if isinstance(r, Ref):
                try:
                    return (sign * int(r.id),)
                except ValueError:
                    return (0,)
            return (0,) if r is None or not isinstance(r, (int, str)) else (skey(r),)
        if k == "rev":
            return (Desc(self.cursor_key(spec["s"], cur, pos)),)
        if k == "idx":
            ix = self.state.indexes[spec["i"]]
            tk = tuple(skey(t) for t in (spec.get("t") or []))
            n = len(ix.values)
            vals = cur[:n] if n else []
            vk = tuple(Desc(skey(x)) if d else skey(x) for x, (_, d) in zip(vals, ix.values))
            key: tuple = (tk, vk)
            if len(cur) > n and isinstance(cur[n], Ref):
                try:
                    key = key + (int(cur[n].id),)
                except ValueError:
                    pass
            return key
        if k == "native":
            r = cur[0] if cur else None
            if isinstance(r, SRef):
                return (len(r.name), r.name) if spec["kind"] == "keys" else (r.name,)
            return ()
        return ()

    # ---------------------------------------------------------- events
    def iter_events(self, spec: Dict[str, Any], snap: int, pos: List[Any]) -> List[Tuple[tuple, Dict[str, Any]]]:
        k = spec["k"]
        out: List[Tuple[tuple, Dict[str, Any]]] = []
        if k == "docs" and "bounds" in spec:
            # RangeFunctionSpec "does not support historical events reads"
            raise V4Error(400, "invalid argument", "Set does not support events history.", [])
        if k == "rev" or spec.get("rev"):
            raise bad_arg(pos, "Unsupported set.")
        if k == "docs":
            c = self.store.coll(spec["c"])
            if c is None:
                return out
            self.need_read(c.name, pos)
            for seq, (ts, ver) in enumerate(c.log):
                if ts > snap:
                    continue
                prev = ver.prev
                if ver.deleted:
                    action = "delete"
                elif prev is None or prev.deleted:
                    action = "create"
                else:
                    action = "update"
                ev: Dict[str, Any] = {"ts": ts, "action": action, "document": Ref(c.name, ver.id)}
                if not ver.deleted:
                    ev["data"] = self.from_stored(ver.data)
                self.ev.count_read(ver)
                out.append(((ts, ver.idn, RANK[action], seq), ev))
            out.sort(key=lambda x: x[0])
        elif k == "idx":
            ix = self.state.indexes.get(spec["i"])
            if ix is None:
                return out
            self.need_read(ix.source, pos)
            ix.sync(self.store)
            tk = tuple(skey(t) for t in (spec.get("t") or [])) if spec.get("t") else None
            lo = [skey(x) for x in spec.get("from") or []]
            hi = [skey(x) for x in spec.get("to") or []]
            nvals = len(ix.values)
            for key in ix.keys:
                if tk is not None and key[0] != tk:
                    continue
                ent = ix.ent[key]
                ver = ent[1]
                raw = ix.raw_values(ver)
                plain = tuple(skey(x) for x in raw)
                if lo and plain[:len(lo)] < tuple(lo):
                    continue
                if hi and plain[:len(hi)] > tuple(hi):
                    continue
                ref = Ref(ver.coll, ver.id)
                data = ref if nvals == 0 else (raw[0] if nvals == 1 else list(raw))
                if key[3] <= snap:
                    out.append(((key[3], key[2], 1),
                                {"ts": key[3], "action": "add", "document": ref, "data": data}))
                if ent[0] != INF_TS and ent[0] <= snap:
                    out.append(((ent[0], key[2], 0),
                                {"ts": ent[0], "action": "remove", "document": ref, "data": data}))
            out.sort(key=lambda x: x[0])
        else:
            raise bad_arg(pos, "Events are only supported on Documents, Match and Range sets.")
        return out

    def paginate_events(self, s: SetV, snap: int, size: int, after: Any, before: Any,
                        pos: List[Any]) -> Dict[str, Any]:
        evs = self.iter_events(s.spec, snap, pos)

        def ckey(c: Any) -> tuple:
            if isinstance(c, dict):
                ts = self.ts_arg(c.get("ts"), pos)
                d = c.get("document")
                if not isinstance(d, Ref):
                    return (ts,)
                idn = int(d.id) if d.id.isdigit() else -1
                if c.get("action") in RANK:
                    return (ts, idn, RANK[c["action"]])
                return (ts, idn)
            if isinstance(c, list) and c:
                return ckey(c[0]) if isinstance(c[0], dict) else (self.ts_arg(c[0], pos),)
            return (self.ts_arg(c, pos),)

        def evkey(k: tuple, ev: Dict[str, Any]) -> tuple:
            d = ev["document"]
            return (ev["ts"], int(d.id) if d.id.isdigit() else -1, RANK[ev["action"]])

        def cursor(ev: Dict[str, Any]) -> Dict[str, Any]:
            return {"ts": ev["ts"], "action": ev["action"], "document": ev["document"]}

        page: Dict[str, Any] = {}
        if before is not None:
            bk = ckey(before)
            prior = [ev for k, ev in evs if evkey(k, ev)[:len(bk)] < bk]
            data = prior[-size:]
            if len(prior) > size:
                page["before"] = cursor(data[0])
            page["data"] = data
            page["after"] = before
            return page
        ak = ckey(after) if after is not None else None
        rest = [ev for k, ev in evs if ak is None or evkey(k, ev)[:len(ak)] >= ak]
        data = rest[:size]
        if after is not None:
            page["before"] = cursor(data[0]) if data else after
        page["data"] = data
        if len(rest) > size:
            page["after"] = cursor(rest[size])
        return page

    # ---------------------------------------------------------- paginate
    def cursor_arg(self, e: Dict[str, Any], key: str, env: Dict[str, Any], pos: List[Any]) -> Any:
        """An `after`/`before` cursor; an event cursor echoed back verbatim
        (`{"ts", "action", "document"}`, not wrapped in `object`) is accepted."""
        if key not in e:
            return None
        c = e[key]
        if isinstance(c, dict) and "ts" in c and set(c) <= {"ts", "action", "document", "data"}:
            return {k: self.eval(v, env, pos + [key, k]) for k, v in c.items()}
        return self.arg(e, key, env, pos)

    def f_paginate(self, e, env, pos):
        s = self.arg(e, "paginate", env, pos)
        size = DEFAULT_PAGE
        if "size" in e:
            size = self.int_arg(self.arg(e, "size", env, pos), pos + ["size"])
            if size < 1 or size > MAX_PAGE:
                raise bad_arg(pos + ["size"], f"Page size must be between 1 and {MAX_PAGE}.")
        snap = self.snap
        if "ts" in e:
            snap = self.ts_arg(self.arg(e, "ts", env, pos), pos + ["ts"])
        after = self.cursor_arg(e, "after", env, pos)
        before = self.cursor_arg(e, "before", env, pos)
        events = self.arg(e, "events", env, pos) if "events" in e else False
        if isinstance(s, list):
            data = s[:size]
            return {"data": data}
        if not isinstance(s, SetV):
            raise bad_arg(pos + ["paginate"], f"Set expected, {type_name(s)} provided.")
        if events is True:
            return self.paginate_events(s, snap, size, after, before, pos + ["paginate"])
        spos = pos + ["paginate"]
        page: Dict[str, Any] = {}
        if before is not None:
            bk = self.cursor_key(s.spec, before, pos + ["before"])
            prior = [(k, c, it) for k, c, it in self.iter_set(s.spec, snap, None, spos) if k < bk]
            chunk = prior[-size:]
            if len(prior) > size:
                page["before"] = chunk[0][1]
            page["data"] = [it for _, _, it in chunk]
            page["after"] = before
            return page
        start = self.cursor_key(s.spec, after, pos + ["after"]) if after is not None else None
        data = []
        nxt = None
        for k, c, it in self.iter_set(s.spec, snap, start, spos):
            if start is not None and k < start:
                continue
            if len(data) == size:
                nxt = c
                break
            data.append((c, it))
        if after is not None:
            page["before"] = data[0][0] if data else after
        page["data"] = [it for _, it in data]
        if nxt is not None:
            page["after"] = nxt
        return page

    # ---------------------------------------------------------- reads
    def first_of_set(self, s: SetV, snap: int, pos: List[Any]) -> Optional[Any]:
        for _, cur, item in self.iter_set(s.spec, snap, None, pos):
            return cur[-1]
        return None

    def f_get(self, e, env, pos):
        r = self.arg(e, "get", env, pos)
        snap = self.snap
        if "ts" in e:
            snap = self.ts_arg(self.arg(e, "ts", env, pos), pos + ["ts"])
        if isinstance(r, SetV):
            ref = self.first_of_set(r, snap, pos + ["get"])
            if ref is None:
                raise V4Error(404, "instance not found", "Set not found.", pos)
            r = ref
        if isinstance(r, SRef) and r.kind is not None:
            self.check_sref(r, pos + ["get"])
        d = self.get_any(r, snap, pos + ["get"])
        if d is None:
            raise V4Error(404, "instance not found", "Document not found." if self.api_v4 else
                          "Instance not found.", pos)
        return d

    def f_exists(self, e, env, pos):
        r = self.arg(e, "exists", env, pos)
        snap = self.snap
        if "ts" in e:
            snap = self.ts_arg(self.arg(e, "ts", env, pos), pos + ["ts"])
        if isinstance(r, SetV):
            return self.first_of_set(r, snap, pos + ["exists"]) is not None
        if isinstance(r, Ref) and self.store.coll(r.coll) is None:
            return False
        return self.get_any(r, snap, pos + ["exists"]) is not None

    def f_select(self, e, env, pos):
        path = self.arg(e, "select", env, pos)
        frm = self.arg(e, "from", env, pos)
        path_l = path if isinstance(path, list) else [path]
        v = frm
        found = True
        for p in path_l:
            if isinstance(p, str) and isinstance(v, dict) and p in v:
                v = v[p]
            elif isinstance(p, int) and not isinstance(p, bool) and isinstance(v, list) and -len(v) <= p < len(v):
                v = v[p]
            elif isinstance(p, str) and isinstance(v, Ref) and p in ("id", "collection", "class"):
                v = v.id if p == "id" else SRef("collections", v.coll)
            elif isinstance(p, str) and isinstance(v, SRef) and p in ("id", "collection", "class"):
                v = v.name if p == "id" else SRef(None, v.kind or "collections")
            elif not isinstance(p, (str, int)) or isinstance(p, bool):
                raise bad_arg(pos + ["select"], "Path must be a String, Integer or an Array of them.")
            else:
                found = False
                break
        if found:
            return v
        if "default" in e:
            return self.arg(e, "default", env, pos)
        shown = ", ".join(str(p) for p in path_l)
        raise V4Error(404, "value not found", f"Value not found at path [{shown}].", pos)

    # ---------------------------------------------------------- writes
    def params_of(self, e, key, env, pos) -> Dict[str, Any]:
        p = self.arg(e, key, env, pos) if key in e else {}
        if p is None:
            p = {}
        if not isinstance(p, dict):
            raise bad_arg(pos + [key], f"Object expected, {type_name(p)} provided.")
        return p

    def validation(self, pos: List[Any], failures: List[Tuple[List[str], str, str]]) -> V4Error:
        return V4Error(400, "validation failed", "document data is not valid.", list(pos),
                       {"failures": [{"field": f, "code": c, "description": d} for f, c, d in failures]})

    def data_and_ttl(self, params: Dict[str, Any], pos: List[Any]) -> Tuple[Optional[Dict[str, Any]], Any, bool]:
        data = params.get("data")
        if data is not None and not isinstance(data, dict):
            raise self.validation(pos + ["params"], [(["data"], "invalid type",
                                                      f"Expected Object, got {type_name(data)}.")])
        has_ttl = "ttl" in params
        ttl = params.get("ttl")
        if ttl is not None and not isinstance(ttl, FTime):
            raise self.validation(pos + ["params"], [(["ttl"], "invalid type",
                                                     f"Expected Time, got {type_name(ttl)}.")])
        return data, ttl, has_ttl

    def f_create(self, e, env, pos):
        r = self.arg(e, "create", env, pos)
        params = self.params_of(e, "params", env, pos)
        if isinstance(r, SRef) and r.kind is None:
            kind = r.name
            sub = {"create_collection": params} if kind == "collections" else None
            if kind == "collections":
                return self.create_collection(params, pos)
            if kind == "indexes":
                return self.create_index(params, pos)
            if kind == "roles":
                return self.create_role(params, pos)
            if kind == "keys":
                return self.create_key(params, pos)
            del sub
            raise bad_arg(pos + ["create"], "Cannot create an instance of this class.")
        if isinstance(r, SRef) and r.kind == "collections":
            c = self.coll_ref(r, pos + ["create"])
            id_str = None
        elif isinstance(r, Ref):
            c = self.store.coll(r.coll)
            if c is None:
                raise self.undefined("collections", r.coll, pos + ["create"])
            id_str = r.id
            if not re.fullmatch(r"\d{1,19}", id_str) or int(id_str) >= 2 ** 63:
                raise bad_arg(pos + ["create"], "Invalid document ID.")
        else:
            raise bad_arg(pos + ["create"], f"Ref expected, {type_name(r)} provided.")
        data, ttl, _ = self.data_and_ttl(params, pos)
        self.begin_write(c.name, "create", pos)
        if ttl is None and c.ttl_days is not None:
            ttl = FTime.from_micros(self.ctx.write_ts + c.ttl_days * 86_400_000_000)
        if id_str is not None:
            idn = int(id_str)
            if c.visible(idn, self.ctx.write_ts) is not None:
                raise V4Error(400, "instance already exists", "Document already exists.", pos)
        else:
            idn = self.store.new_id()
            while idn in c.latest:
                idn = self.store.new_id()
        stored = strip_nulls(self.to_stored(data or {}, pos + ["params"]))
        ver = self.ev.write_version(c, idn, stored, ttl)
        return self.doc_obj(ver)

    def f_update(self, e, env, pos):
        return self.write_doc(e, env, pos, "update")

    def f_replace(self, e, env, pos):
        return self.write_doc(e, env, pos, "replace")

    def write_doc(self, e, env, pos, op: str):
        r = self.arg(e, op, env, pos)
        params = self.params_of(e, "params", env, pos)
        if isinstance(r, SRef) and r.kind == "collections":
            return self.update_collection(r, params, pos, op)
        if not isinstance(r, Ref):
            raise bad_arg(pos + [op], f"Ref expected, {type_name(r)} provided.")
        c = self.store.coll(r.coll)
        if c is None:
            raise self.undefined("collections", r.coll, pos + [op])
        data, ttl, has_ttl = self.data_and_ttl(params, pos)
        self.begin_write(c.name, "write", pos)
        cur = self.doc_version(r, self.ctx.write_ts)
        if cur is None:
            raise V4Error(404, "instance not found", "Document not found.", pos)
        stored = self.to_stored(data or {}, pos + ["params"])
        new = merge(cur.data, stored) if op == "update" else strip_nulls(stored)
        ver = self.ev.write_version(c, cur.idn, new, ttl if has_ttl else cur.ttl)
        return self.doc_obj(ver)

    def f_delete(self, e, env, pos):
        r = self.arg(e, "delete", env, pos)
        if isinstance(r, Ref):
            c = self.store.coll(r.coll)
            if c is None:
                raise self.undefined("collections", r.coll, pos + ["delete"])
            self.begin_write(c.name, "delete", pos)
            cur = self.doc_version(r, self.ctx.write_ts)
            if cur is None:
                raise V4Error(404, "instance not found", "Document not found.", pos)
            out = self.doc_obj(cur)
            self.ev.write_version(c, cur.idn, cur.data, cur.ttl, deleted=True)
            return out
        if isinstance(r, SRef) and r.kind is not None:
            self.check_sref(r, pos + ["delete"])
            store = self.store
            if r.kind == "collections":
                self.schema_write(pos)
                c = store.colls[r.name]
                out = self.coll_obj(c)
                del store.colls[r.name]
                self.ctx.undo.append(lambda: store.colls.__setitem__(c.name, c))
            elif r.kind == "indexes":
                self.schema_write(pos)
                ix = self.state.indexes.pop(r.name)
                out = self.index_obj(ix)
                self.ctx.undo.append(lambda: self.state.indexes.__setitem__(ix.name, ix))
            elif r.kind == "roles":
                self.schema_write(pos, True)
                rec = store.roles.pop(r.name)
                out = self.role_obj(r.name, rec)
                self.ctx.undo.append(lambda: store.roles.__setitem__(r.name, rec))
            elif r.kind == "keys":
                self.schema_write(pos, True)
                secret = next(s for s, k in store.keys.items() if k["id"] == r.name)
                rec = store.keys.pop(secret)
                out = self.key_obj(rec, None)
                self.ctx.undo.append(lambda: store.keys.__setitem__(secret, rec))
            else:
                raise bad_arg(pos + ["delete"], "Cannot delete this ref.")
            self.ctx.stats.write_ops += 1
            return out
        raise bad_arg(pos + ["delete"], f"Ref expected, {type_name(r)} provided.")

    # ---------------------------------------------------------- schema writes
    def f_create_collection(self, e, env, pos):
        return self.create_collection(self.params_of(e, "create_collection", env, pos), pos)

    def f_create_class(self, e, env, pos):
        return self.create_collection(self.params_of(e, "create_class", env, pos), pos)

    def f_create_index(self, e, env, pos):
        return self.create_index(self.params_of(e, "create_index", env, pos), pos)

    def f_create_key(self, e, env, pos):
        return self.create_key(self.params_of(e, "create_key", env, pos), pos)

    def f_create_role(self, e, env, pos):
        return self.create_role(self.params_of(e, "create_role", env, pos), pos)

    def name_ok(self, name: Any, pos: List[Any]) -> str:
        if not isinstance(name, str):
            raise self.validation(pos, [(["name"], "value required" if name is None else "invalid type",
                                         "Value required." if name is None else "Expected String.")])
        if not IDENT_RE.match(name) or name in RESERVED_COLL_NAMES or name in (
                "events", "sets", "self", "documents", "_"):
            raise self.validation(pos, [(["name"], "invalid reference name",
                                         "Cannot be the reserved word or contain invalid characters.")])
        return name

    def nonneg(self, params: Dict[str, Any], key: str, pos: List[Any]) -> None:
        v = params.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise self.validation(pos, [([key], "invalid type", "Expected a non-negative Integer.")])

    def create_collection(self, params: Dict[str, Any], pos: List[Any]) -> Dict[str, Any]:
        name = self.name_ok(params.get("name"), pos)
        self.nonneg(params, "history_days", pos)
        self.nonneg(params, "ttl_days", pos)
        ts = self.schema_write(pos)
        store = self.store
        if store.coll(name) is not None:
            raise V4Error(400, "instance already exists", "Collection already exists.", pos)
        hd = params.get("history_days", 30)
        c = Coll(name, ts, hd if hd is not None else 0, params.get("ttl_days"))
        if isinstance(params.get("data"), dict):
            c.extra["data"] = self.to_stored(params["data"], pos)
        store.colls[name] = c
        self.ctx.undo.append(lambda: store.colls.pop(name, None))
        self.ctx.stats.write_ops += 1
        return self.coll_obj(c)

    def update_collection(self, r: SRef, params: Dict[str, Any], pos: List[Any], op: str) -> Dict[str, Any]:
        c = self.coll_ref(r, pos + [op])
        self.nonneg(params, "history_days", pos)
        self.nonneg(params, "ttl_days", pos)
        ts = self.schema_write(pos)
        if "name" in params and params["name"] != c.name:
            raise bad_arg(pos + ["params"], "Renaming collections is not supported by the emulator.")
        old = (c.history_days, c.ttl_days, dict(c.extra), c.ts)

        def undo() -> None:
            c.history_days, c.ttl_days, c.extra, c.ts = old[0], old[1], old[2], old[3]
        self.ctx.undo.append(undo)
        if "history_days" in params:
            c.history_days = params["history_days"] or 0
        if "ttl_days" in params:
            c.ttl_days = params["ttl_days"]
        if "data" in params:
            d = params["data"]
            if d is None:
                c.extra.pop("data", None)
            elif isinstance(d, dict):
                base = c.extra.get("data") if op == "update" and isinstance(c.extra.get("data"), dict) else {}
                c.extra["data"] = merge(base, self.to_stored(d, pos))
        c.ts = ts
        self.ctx.stats.write_ops += 1
        return self.coll_obj(c)

    def field_list(self, xs: Any, what: str, pos: List[Any]) -> List[Tuple[List[str], bool]]:
        if xs is None:
            return []
        if isinstance(xs, dict):
            xs = [xs]
        if not isinstance(xs, list):
            raise self.validation(pos, [([what], "invalid type", "Expected Array.")])
        out = []
        for i, x in enumerate(xs):
            f = x.get("field") if isinstance(x, dict) else None
            if isinstance(f, str):
                f = [f]
            if not isinstance(f, list) or not f or not all(isinstance(p, str) for p in f):
                if isinstance(x, dict) and "binding" in x:
                    raise bad_arg(pos, "Index bindings are not supported by the emulator.")
                raise self.validation(pos, [([what, str(i), "field"], "invalid type",
                                             "Expected a field path.")])
            out.append((list(f), bool(x.get("reverse", False))))
        return out

    def create_index(self, params: Dict[str, Any], pos: List[Any]) -> Dict[str, Any]:
        name = self.name_ok(params.get("name"), pos)
        src = params.get("source")
        if isinstance(src, dict) and "collection" in src:
            src = src["collection"]
        if not (isinstance(src, SRef) and src.kind == "collections"):
            raise self.validation(pos, [(["source"], "invalid type", "Expected a Collection Ref.")])
        c = self.coll_ref(src, pos)
        terms = [p for p, _ in self.field_list(params.get("terms"), "terms", pos)]
        values = self.field_list(params.get("values"), "values", pos)
        ts = self.schema_write(pos)
        st = self.state
        if name in st.indexes:
            raise V4Error(400, "instance already exists", "Index already exists.", pos)
        extra = {k: params[k] for k in ("unique", "serialized", "data") if k in params}
        ix = V4Index(name, c.name, terms, values, ts, extra)
        ix.sync(self.store)
        st.indexes[name] = ix
        self.ctx.undo.append(lambda: st.indexes.pop(name, None))
        self.ctx.stats.write_ops += 1
        return self.index_obj(ix)

    def create_role(self, params: Dict[str, Any], pos: List[Any]) -> Dict[str, Any]:
        name = self.name_ok(params.get("name"), pos)
        privs = params.get("privileges") or []
        if isinstance(privs, dict):
            privs = [privs]
        if not isinstance(privs, list):
            raise self.validation(pos, [(["privileges"], "invalid type", "Expected Array.")])
        stored = []
        for p in privs:
            res = p.get("resource") if isinstance(p, dict) else None
            if not isinstance(res, SRef) or res.kind is None:
                raise self.validation(pos, [(["privileges", "resource"], "invalid type",
                                             "Expected a Ref.")])
            if res.kind in ("collections", "indexes"):
                self.check_sref(res, pos)
            acts = p.get("actions") or {}
            acts = {k: v for k, v in acts.items() if isinstance(v, bool)} if isinstance(acts, dict) else {}
            stored.append({"resource": res.name if res.kind == "collections" else res.path(),
                           "actions": acts})
        ts = self.schema_write(pos, True)
        store = self.store
        if name in ("admin", "server", "server-readonly", "client") or name in store.roles:
            raise V4Error(400, "instance already exists", "Role already exists.", pos)
        rec: Dict[str, Any] = {"name": name, "privileges": stored, "ts": ts}
        if "membership" in params:
            rec["membership"] = Encoder(True).enc(params["membership"])
        store.roles[name] = rec
        self.ctx.undo.append(lambda: store.roles.pop(name, None))
        self.ctx.stats.write_ops += 1
        return self.role_obj(name, rec)

    def create_key(self, params: Dict[str, Any], pos: List[Any]) -> Dict[str, Any]:
        role = params.get("role")
        if isinstance(role, SRef) and role.kind == "roles":
            role_name = role.name
            if role_name not in self.store.roles:
                raise self.undefined("roles", role_name, pos)
        elif role in ("admin", "server", "server-readonly", "client"):
            role_name = role
        else:
            raise self.validation(pos, [(["role"], "invalid type",
                                         "Expected a builtin role name or a Role Ref.")])
        ts = self.schema_write(pos, True)
        store = self.store
        idn = store.new_id()
        secret = "fn" + secrets.token_urlsafe(30)
        rec = {"id": str(idn), "role": role_name, "ts": ts, "data": params.get("data")}
        store.keys[secret] = rec
        self.ctx.undo.append(lambda: store.keys.pop(secret, None))
        self.ctx.stats.write_ops += 1
        return self.key_obj(rec, secret)


