"""Lazy sets, pagination and stateless cursors.

A set is a JSON-able description: a source (a collection scan, an index
range, an array, the collection definitions) plus a list of operations
(where, map, projection, take, drop).  Lambdas are kept as their source text
and the tagged encodings of the variables they capture, so a cursor carries
everything needed to resume: description, the position of the last element
served, take/drop counters, page size and the snapshot ts of page 1.
Cursors and event-source tokens are base64 JSON signed with an HMAC keyed by
the store's key (per process, or fixed under the logical clock so identical
runs give identical tokens), so the server stores nothing and rejects
forgeries.
"""
from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
import re
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

from . import parser as P
from .env import Env
from .errors import QueryError, arity_error, arity_text, no_args
from .storage import MAX_KEY, Desc, skey
from .values import (Closure, Doc, EventSource, FTime, Module, Native, NullDoc, Page,
                     Ref, SchemaDoc, SetVal, type_name)
from .wire import dec_tagged, enc_tagged

PARTITIONS_UNTERMED = 8     # the core reads these indexes in 8 partitions
# An index entry's size as the emulator bills it (document id and ts, and
# each covered value); the core's own sizes are its storage format's.
ENTRY_BYTES = 16
COVERED_VALUE_BYTES = 8


class ScanBill:
    """The read ops of one index scan as the core bills them
    (FQL2MetricsSpec assertReadOps): one per partition, plus one per 4096
    bytes of entries beyond the first 4096."""

    def __init__(self, ev: Any, partitions: int) -> None:
        self.stats = ev.ctx.stats
        self.stats.read_ops += partitions
        self.bytes = 0

    def entry(self, n: int) -> None:
        before = self.bytes
        self.bytes += n
        self.stats.bytes_read += n
        if before and (self.bytes - 1) // 4096 > (before - 1) // 4096:
            self.stats.read_ops += 1

DEFAULT_PAGE = 16
MAX_PAGE = 16000
_body_cache: Dict[str, P.Node] = {}


# ------------------------------------------------------------------ tokens
def sign(obj: Any, key: bytes) -> str:
    raw = json.dumps(obj, separators=(",", ":")).encode()
    mac = hmac.new(key, raw, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac + raw).decode().rstrip("=")


def unsign(tok: Any, key: bytes) -> Optional[Any]:
    if not isinstance(tok, str) or len(tok) < 24:
        return None
    try:
        data = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
    except Exception:
        return None
    mac, raw = data[:16], data[16:]
    if not hmac.compare_digest(mac, hmac.new(key, raw, hashlib.sha256).digest()[:16]):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


# ------------------------------------------------------------------ keys as JSON
def key_to_json(k: Any) -> Any:
    if isinstance(k, tuple):
        return {"t": [key_to_json(x) for x in k]}
    if isinstance(k, Desc):
        return {"d": key_to_json(k.k)}
    if isinstance(k, bytes):
        return {"b": base64.b64encode(k).decode()}
    return k


def key_from_json(j: Any) -> Any:
    if isinstance(j, dict):
        if "t" in j:
            return tuple(key_from_json(x) for x in j["t"])
        if "d" in j:
            return Desc(key_from_json(j["d"]))
        if "b" in j:
            return base64.b64decode(j["b"])
    return j


# ------------------------------------------------------------------ construction
def make(src: Dict[str, Any], ev: Any = None) -> SetVal:
    """A set over `src`; made inside `at (t)` it reads at t wherever it is
    used."""
    if ev is not None and ev.ctx.in_at:
        src["at"] = ev.ctx.snap
    return SetVal({"src": src, "ops": []})


def add_op(ev: Any, s: SetVal, op: Dict[str, Any]) -> SetVal:
    return SetVal({"src": s.desc["src"], "ops": s.desc["ops"] + [op]}, s.page_size)


def closure_spec(ev: Any, cl: Any) -> Dict[str, Any]:
    if not isinstance(cl, Closure):
        raise QueryError("invalid_argument", "Cannot paginate a set built with a native function.")
    node = cl.node
    bs = node.body_src or node.body.span
    body = cl.src[bs[0]:bs[1]]
    env: Dict[str, str] = {}
    for name in sorted(P.free_vars(node)):
        found, v = cl.env.lookup(name) if cl.env is not None else (False, None)
        if found:
            try:
                env[name] = enc_tagged(v)
            except Exception:
                raise QueryError("invalid_argument",
                                 f"Cannot paginate a set whose function captures `{name}` "
                                 f"of type {type_name(v)}.")
    return {"p": node.params, "b": body, "d": cl.allow_dollar, "e": env}


def restore_env(ev: Any, e: Dict[str, str]) -> Any:
    vals = {}
    for k, text in e.items():
        vals[k] = resolve_deep(ev, dec_tagged(json.loads(text)))
    return Env(vals, None)


def resolve_deep(ev: Any, v: Any) -> Any:
    if isinstance(v, Ref):
        return ev.resolve(v)
    if isinstance(v, list):
        return [resolve_deep(ev, x) for x in v]
    if isinstance(v, dict):
        return {k: resolve_deep(ev, x) for k, x in v.items()}
    if isinstance(v, tuple) and v and v[0] == "schema-ref":
        c = ev.store.coll(v[2])
        return ev.coll_def(c) if c is not None else None
    return v


def parse_body(text: str, allow_dollar: bool) -> P.Node:
    k = ("$" if allow_dollar else "") + text
    n = _body_cache.get(k)
    if n is None:
        if len(_body_cache) > 10_000:
            _body_cache.clear()
        n = P.parse_expr(text, allow_dollar)
        _body_cache[k] = n
    return n


def restore_closure(ev: Any, spec: Dict[str, Any]) -> Closure:
    body = parse_body(spec["b"], spec.get("d", False))
    text = spec["b"]
    lam = P.Lambda((0, len(text)), list(spec["p"]), body, False, (0, len(text)))
    return Closure(lam, restore_env(ev, spec.get("e", {})), spec["b"], spec.get("d", False))


def proj_spec(ev: Any, fields: List[P.ProjField], env: Any) -> List[Dict[str, Any]]:
    out = []
    for f in fields:
        d: Dict[str, Any] = {"n": f.name}
        if f.nested is not None:
            d["s"] = proj_spec(ev, f.nested, env)
        if f.expr is not None:
            xs = f.expr_src or f.expr.span
            lam = P.Lambda(xs, [P.THIS], f.expr, False, xs)
            d["x"] = closure_spec(ev, Closure(lam, env, ev.ctx.src, ev.ctx.allow_dollar))
        out.append(d)
    return out


def restore_proj(ev: Any, spec: List[Dict[str, Any]]) -> Tuple[List[P.ProjField], Any]:
    env = Env({}, None)
    fields = []
    for d in spec:
        pf = P.ProjField(d["n"])
        if "s" in d:
            pf.nested, sub_env = restore_proj(ev, d["s"])
            env.vars.update(sub_env.vars)
        if "x" in d:
            pf.expr = parse_body(d["x"]["b"], d["x"].get("d", False))
            env.vars.update(restore_env(ev, d["x"].get("e", {})).vars)
        fields.append(pf)
    return fields, env


def desc_json(ev: Any, desc: Dict[str, Any]) -> Dict[str, Any]:
    """The serializable form of a set description (live closures encoded)."""
    ops = []
    for op in desc["ops"]:
        o = {k: v for k, v in op.items() if not k.startswith("_")}
        if op["op"] in ("where", "map") and "fn" not in o:
            o["fn"] = closure_spec(ev, op["_c"])
            op["fn"] = o["fn"]
        ops.append(o)
    src = serializable_src(ev, desc["src"])
    return {"src": {k: v for k, v in src.items() if not k.startswith("_")}, "ops": ops}


def live_fn(ev: Any, op: Dict[str, Any]) -> Closure:
    c = op.get("_c")
    if c is None:
        c = restore_closure(ev, op["fn"])
        op["_c"] = c
    return c


def live_proj(ev: Any, op: Dict[str, Any]) -> Tuple[List[P.ProjField], Any]:
    lp = op.get("_live")
    if lp is None:
        lp = restore_proj(ev, op["f"])
        op["_live"] = lp
    return lp


# ------------------------------------------------------------------ sources
RANGE_SHAPE = ("should be an object contining `{ from }`, `{ to }`, or `{ from, to }` "
               "fields")


def range_error(msg: str) -> QueryError:
    return QueryError("invalid_argument", f"invalid argument `range`: {msg}")


def parse_range(rng: Any, n_values: int) -> Dict[str, Any]:
    """A `{ from, to }` argument as the core reads it: an object with at
    least one of the two (null is a value, not a missing bound); with no
    covered values the bounds are document ids, else index values (an array
    is a prefix of up to `n_values` values).  Returns the present bounds:
    ids (int) or lists of values."""
    if type(rng) is not dict or ("from" not in rng and "to" not in rng):
        raise range_error(RANGE_SHAPE)
    out: Dict[str, Any] = {}
    for field in ("from", "to"):
        if field not in rng:
            continue
        v = rng[field]
        if n_values == 0:
            out[field] = doc_id_bound(field, v)
            continue
        if isinstance(v, list) and n_values == 1:
            # one covered value: an array is that value; as `to` it stays a
            # prefix bound (the core appends a null, which sorts last)
            elems = [v + [None] if field == "to" else v]
        elif isinstance(v, list):
            elems = v
        else:
            elems = [v]
        if len(elems) > n_values:
            raise range_error(f"The field `{field}` can have at most {n_values} values")
        for x in elems:
            if not indexable(x):
                raise range_error(f"The `{field}` field should be either an indexable value or "
                                  f"an array of values")
        out[field] = elems
    return out


def indexable(v: Any) -> bool:
    if isinstance(v, (Module, Closure, Native, SetVal, Page, EventSource)):
        return False
    if isinstance(v, list):
        return all(indexable(x) for x in v)
    if isinstance(v, dict):
        return all(indexable(x) for x in v.values())
    return True


def doc_id_bound(field: str, v: Any) -> int:
    if isinstance(v, (Doc, NullDoc, Ref)):
        v = v.id
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v) and -2**63 <= int(v) < 2**63:
        return int(v)
    raise range_error(f"The `{field}` field must be a document id.")


def index_bounds(ix: Any, terms: List[Any], rng: Dict[str, Any]) -> Tuple[tuple, tuple]:
    tk = tuple(skey(t) for t in terms)
    lo: tuple = (tk,)
    hi: tuple = (tk, (MAX_KEY,))
    if not ix.values:
        # no covered values: the entries sort by document id
        if "from" in rng:
            lo = (tk, (), rng["from"])
        if "to" in rng:
            hi = (tk, (), rng["to"] + 1)
        return lo, hi

    def vkey(vals: List[Any]) -> tuple:
        return tuple(Desc(skey(x)) if ix.values[i][1] else skey(x) for i, x in enumerate(vals))

    if "from" in rng:
        lo = (tk, vkey(rng["from"]))
    if "to" in rng:
        hi = (tk, vkey(rng["to"]) + (MAX_KEY,))
    return lo, hi


def range_of(ev: Any, src: Dict[str, Any]) -> Dict[str, Any]:
    """A source's stored bounds (ids as ints, values decoded)."""
    out: Dict[str, Any] = {}
    for k in ("from", "to"):
        if k in src:
            j = json.loads(src[k])
            out[k] = j if isinstance(j, int) else resolve_deep(ev, dec_tagged(j))
    return out


def store_range(src: Dict[str, Any], rng: Dict[str, Any]) -> None:
    for k, v in rng.items():
        src[k] = json.dumps(v) if isinstance(v, int) else enc_tagged(v)


def iter_source(ev: Any, src: Dict[str, Any], snap: int, pos: Any,
                docs: bool = True) -> Iterator[Tuple[Any, Any]]:
    """(position, element) of a set's source from after `pos`.  A document
    scan's elements are unread Docs, or with docs=False their versions."""
    k = src["k"]
    store = ev.store
    # the query's deadline is checked while scanning, too (every 256 elements)
    ctx = ev.ctx
    deadline = ctx.deadline
    n = 0

    def tick() -> None:
        ctx.ticks += 256
        if deadline is not None and time.monotonic() > deadline:
            raise QueryError("time_out", "Query timed out.", status=440)
    if k == "all":
        c = store.coll(src["c"])
        if c is None:
            return
        check_history(ev, c, snap)
        scan = ScanBill(ev, PARTITIONS_UNTERMED)
        ids = c.ids
        lo = json.loads(src["from"]) if "from" in src else None
        hi = json.loads(src["to"]) if "to" in src else None
        rev = bool(src.get("rev"))
        if not rev:
            i = (0 if lo is None else bisect.bisect_left(ids, lo)) if pos is None \
                else bisect.bisect_right(ids, pos)
            step, end = 1, len(ids)
        else:
            i = (len(ids) if hi is None else bisect.bisect_right(ids, hi)) if pos is None \
                else bisect.bisect_left(ids, pos)
            i -= 1
            step, end = -1, -1
        latest = c.latest
        while i != end:
            n += 1
            if not n & 255:
                tick()
            idn = ids[i]
            i += step
            if (hi is not None and idn > hi) or (lo is not None and idn < lo):
                break
            v = latest.get(idn)
            if v is None:
                continue
            if v.ts > snap or v.deleted or v.ttl is not None:
                v = c.visible(idn, snap)
                if v is None:
                    continue
            scan.entry(ENTRY_BYTES)
            yield idn, Doc(v, snap, unread=True) if docs else v
    elif k == "idx":
        c = store.coll(src["c"])
        if c is None or src["i"] not in c.indexes:
            return
        check_history(ev, c, snap)
        ix = c.indexes[src["i"]]
        scan = ScanBill(ev, 1 if ix.terms else PARTITIONS_UNTERMED)
        entry_bytes = ENTRY_BYTES + COVERED_VALUE_BYTES * len(ix.values)
        terms = [resolve_deep(ev, dec_tagged(json.loads(t))) for t in src["t"]]
        lo, hi = index_bounds(ix, terms, range_of(ev, src))
        keys = ix.keys
        rev = bool(src.get("rev"))
        if not rev:
            i = bisect.bisect_left(keys, lo) if pos is None \
                else bisect.bisect_right(keys, key_from_json(pos))
            step, end = 1, len(keys)
        else:
            i = (bisect.bisect_left(keys, hi) if pos is None
                 else bisect.bisect_left(keys, key_from_json(pos))) - 1
            step, end = -1, -1
        ent = ix.ent
        while i != end:
            n += 1
            if not n & 255:
                tick()
            key = keys[i]
            i += step
            if key < lo or not key < hi:
                break
            if key[3] > snap:
                continue
            e = ent[key]
            if e[0] <= snap:
                continue
            v = e[1]
            if v.ttl is not None and v.ttl.ns // 1000 <= snap:
                continue
            scan.entry(entry_bytes)
            yield key, Doc(v, snap, unread=True) if docs else v
    elif k == "arr":
        items = src.get("_v")
        if items is None:
            items = resolve_deep(ev, dec_tagged(json.loads(src["v"])))
            src["_v"] = items
        i = 0 if pos is None else pos + 1
        while i < len(items):
            n += 1
            if not n & 255:
                tick()
            yield i, items[i]
            i += 1
    elif k == "seq":
        i = src["a"] if pos is None else pos + 1
        b = src["b"]
        while i < b:
            n += 1
            if not n & 255:
                tick()
            yield i, i
            i += 1
    elif k == "colls":
        names = sorted(store.colls)
        i = 0 if pos is None else bisect.bisect_right(names, pos)
        for name in names[i:]:
            n += 1
            if not n & 255:
                tick()
            yield name, ev.coll_def(store.colls[name])
    else:
        raise QueryError("invalid_cursor", "Cursor is invalid or expired.")


def check_history(ev: Any, c: Any, snap: int) -> None:
    """A read before the collection's retained history is refused."""
    now = ev.store.now()
    if snap < now and snap < c.min_ts(now):
        raise QueryError("invalid_request",
                         f"Requested timestamp {FTime.from_micros(snap).iso()} less than minimum "
                         f"allowed timestamp {FTime.from_micros(c.min_ts(now)).iso()}.")


def pos_json(src: Dict[str, Any], p: Any) -> Any:
    return key_to_json(p) if src["k"] == "idx" else p


def iter_items(ev: Any, desc: Dict[str, Any], snap: int, pos: Any,
               counts: List[int]) -> Iterator[Tuple[Any, Any]]:
    ops = desc["ops"]
    if not ops:
        yield from iter_source(ev, desc["src"], snap, pos)
        return
    compiled = []
    for op in ops:
        kind = op["op"]
        if kind in ("where", "map"):
            compiled.append((kind, live_fn(ev, op)))
        elif kind == "proj":
            compiled.append((kind, live_proj(ev, op)))
        else:
            compiled.append((kind, op["n"]))
    for p, item in iter_source(ev, desc["src"], snap, pos):
        ok = True
        for i, (kind, arg) in enumerate(compiled):
            if kind == "where":
                r = ev.call_fn(arg, [item])
                if r is None or r is False:
                    ok = False
                    break
                if r is not True:
                    raise QueryError("invalid_argument",
                                     f"expected value for `predicate return` of type Boolean, "
                                     f"received {type_name(r)}")
            elif kind == "map":
                item = ev.call_fn(arg, [item])
            elif kind == "proj":
                item = ev.project(item, arg[0], arg[1])
            elif kind == "take":
                if counts[i] >= arg:
                    return
                counts[i] += 1
            elif kind == "drop":
                if counts[i] < arg:
                    counts[i] += 1
                    ok = False
                    break
        if ok:
            yield p, item


def materialize(ev: Any, s: SetVal, size: Optional[int], as_set: bool,
                cur: Optional[Dict[str, Any]] = None) -> Page:
    """Produce one page of `s` (or resume the cursor `cur`)."""
    if cur is not None:
        desc, snap, pos, counts, page_no = cur["d"], cur["s"], cur["p"], cur["c"], cur["g"]
    else:
        desc, snap, pos, page_no = s.desc, set_snap(ev, s.desc), None, 1
        counts = [0] * len(desc["ops"])
    if size is None:
        size = s.page_size or DEFAULT_PAGE
    items: List[Any] = []
    last_pos, saved = pos, list(counts)
    more = False
    has_counters = any(op["op"] in ("take", "drop") for op in desc["ops"])
    names = meta_projection(ev, desc)
    meta = None
    old_snap = ev.ctx.snap
    ev.ctx.snap = snap
    try:
        if names is not None:
            vers, last_pos, more = scan_meta_page(ev, desc, snap, pos, size, names)
            items = None
            meta = (names, vers, ev.meta_items)
        else:
            for p, item in iter_items(ev, desc, snap, pos, counts):
                if len(items) >= size:
                    more = True
                    break
                items.append(item)
                last_pos = p
                if has_counters:
                    saved = list(counts)
    finally:
        ev.ctx.snap = old_snap
    after = None
    if more:
        after = sign({"d": desc_json(ev, desc), "s": snap, "p": pos_json(desc["src"], last_pos),
                      "c": saved, "n": size, "g": page_no + 1}, ev.store.sign_key)
    return Page(items, after, as_set, meta)


def meta_projection(ev: Any, desc: Dict[str, Any]) -> Optional[Tuple[str, ...]]:
    """The field names when the set is a document scan whose one operation
    projects fields of the document's own (`Coll.all() { id, data }`, as
    fauna_fdw reads), else None."""
    ops = desc["ops"]
    if len(ops) != 1 or ops[0]["op"] != "proj" or desc["src"]["k"] not in ("all", "idx"):
        return None
    return ev.meta_names(live_proj(ev, ops[0])[0])


def scan_meta_page(ev: Any, desc: Dict[str, Any], snap: int, pos: Any, size: int,
                   names: Tuple[str, ...]) -> Tuple[List[Any], Any, bool]:
    """materialize's loop for a meta_projection set: (the versions of the
    page's documents, the position of the last, whether more follow).
    iter_items would project each document into an object; here only its
    version is kept (Page.meta).  As there, the look-ahead document that
    tells whether more follow is projected, so billed, too: the documents
    are billed together at the end, whatever ends the scan."""
    vers: List[Any] = []
    last_pos = pos
    more = False
    try:
        for p, ver in iter_source(ev, desc["src"], snap, pos, docs=False):
            vers.append(ver)
            if len(vers) > size:
                more = True
                break
            last_pos = p
    finally:
        if ev.meta_bills(names):
            ev.count_reads(vers)
    if more:
        vers.pop()
    return vers, last_pos, more


def decode_cursor(ev: Any, tok: Any) -> Dict[str, Any]:
    cur = unsign(tok, ev.store.sign_key)
    if not isinstance(cur, dict) or not {"d", "s", "p", "c", "n", "g"} <= cur.keys():
        raise QueryError("invalid_cursor", "Cursor is invalid or expired.")
    src = cur["d"]["src"]
    if src["k"] == "idx" and cur["p"] is not None:
        cur["p"] = key_from_json(cur["p"])
    # A cursor carries no authority: its reader must be allowed to read the
    # collection it pages (FQL2ABACSpec).
    cname = src.get("c")
    if cname and not ev.auth.can(ev.ctx, cname, "read"):
        raise QueryError("permission_denied",
                         f"Insufficient privileges to read from collection {cname}.")
    # The snapshot must still be within the collection's history.
    c = ev.store.coll(cname) if cname else None
    now = ev.store.now()
    if c is not None and cur["s"] < c.min_ts(now):
        raise QueryError("invalid_request",
                         f"Requested timestamp {FTime.from_micros(cur['s']).iso()} less than minimum "
                         f"allowed timestamp {FTime.from_micros(c.min_ts(now)).iso()}.")
    return cur


def page_size_arg(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise QueryError("invalid_argument",
                         f"expected value for `size` of type Int, received {type_name(v)}")
    if v < 1 or v > MAX_PAGE:
        raise QueryError("invalid_bounds",
                         f"expected `size` to be greater than or equal to 1 and less than or equal "
                         f"to {MAX_PAGE}, received {v}")
    return v


def set_snap(ev: Any, desc: Dict[str, Any]) -> int:
    """The snapshot a set reads: the one of the `at` it was made in, else
    the query's."""
    return desc["src"].get("at", ev.ctx.snap)


def to_list(ev: Any, s: SetVal) -> List[Any]:
    counts = [0] * len(s.desc["ops"])
    snap = set_snap(ev, s.desc)
    old_snap = ev.ctx.snap
    ev.ctx.snap = snap        # lambdas read at the set's snapshot too
    try:
        return [item for _, item in iter_items(ev, s.desc, snap, None, counts)]
    finally:
        ev.ctx.snap = old_snap


# ------------------------------------------------------------------ set methods
SET_METHODS = {"pageSize", "paginate", "where", "map", "take", "drop", "first", "last",
               "count", "toArray", "eventSource", "eventsOn", "forEach", "isEmpty",
               "nonEmpty", "includes", "toSet", "any", "every", "reduce", "fold",
               "concat", "distinct", "order", "reverse", "toStream", "changesOn",
               "aggregate", "firstWhere"}


# methods of no arguments (the core's arity check comes first)
NO_ARG_SET_METHODS = {"first", "last", "count", "toArray", "isEmpty", "nonEmpty", "toSet",
                      "reverse", "eventSource", "toStream", "distinct"}


# set_method's answer for a method of the set's elements, as an array
MATERIALIZE = object()


def set_method(ev: Any, s: SetVal, name: str, args: List[Any]) -> Any:
    if name in NO_ARG_SET_METHODS:
        no_args(args)
    if name == "pageSize":
        n = page_size_arg(ev.arg(args, 0, int, "size", 1))
        return SetVal(s.desc, n)
    if name == "paginate":
        if len(args) > 1:
            raise arity_error(arity_text(1, "at most"), len(args))
        n = page_size_arg(args[0]) if args else None
        return materialize(ev, s, n, False)
    if name in ("where", "map"):
        fn = ev.arg(args, 0, Closure, "predicate" if name == "where" else "mapper", 1)
        return add_op(ev, s, {"op": name, "_c": fn})
    if name in ("take", "drop"):
        what = "limit" if name == "take" else "amount"
        n = ev.arg(args, 0, int, what, 1)
        if n < 0:
            raise QueryError("invalid_bounds",
                             f"expected `{what}` to be greater than 0, received {n}")
        return add_op(ev, s, {"op": name, "n": n})
    if name == "first":
        p = materialize(ev, SetVal(s.desc, 1), 1, False)
        return p.items[0] if p.items else None
    if name == "firstWhere":
        fn = ev.arg(args, 0, Closure, "predicate", 1)
        p = materialize(ev, add_op(ev, s, {"op": "where", "_c": fn}), 1, False)
        return p.items[0] if p.items else None
    if name == "last":
        items = to_list(ev, s)
        return items[-1] if items else None
    if name == "count":
        counts = [0] * len(s.desc["ops"])
        snap = set_snap(ev, s.desc)
        old_snap = ev.ctx.snap
        ev.ctx.snap = snap
        try:
            return sum(1 for _ in iter_items(ev, s.desc, snap, None, counts))
        finally:
            ev.ctx.snap = old_snap
    if name == "toArray":
        return to_list(ev, s)
    if name == "isEmpty":
        return not materialize(ev, s, 1, False).items
    if name == "nonEmpty":
        return bool(materialize(ev, s, 1, False).items)
    if name == "toSet":
        return s
    if name == "reverse":
        src = s.desc["src"]
        if src["k"] in ("all", "idx") and all(op["op"] in ("where", "map", "proj")
                                              for op in s.desc["ops"]):
            # an order-preserving pipeline over a scan: scan backwards
            rsrc = dict(src)
            rsrc["rev"] = not src.get("rev")
            return SetVal({"src": rsrc, "ops": s.desc["ops"]}, s.page_size)
        return SetVal(arr_set(ev, to_list(ev, s)[::-1]).desc, s.page_size)
    if name == "forEach":
        fn = ev.arg(args, 0, Closure, "callback", 1)
        for item in to_list(ev, s):
            ev.call_fn(fn, [item])
        return None
    if name in ("eventSource", "toStream"):
        return event_source(ev, s, None, name)
    if name in ("eventsOn", "changesOn"):
        paths = []
        for a in args:
            if not isinstance(a, Closure) or a.node.params != [P.THIS]:
                raise QueryError("invalid_argument",
                                 "expected field accessors like `.field` as arguments")
            path: List[str] = []
            n = a.node.body
            while isinstance(n, P.Member):
                path.insert(0, n.name)
                n = n.obj
            if not (isinstance(n, P.Var) and n.name == P.THIS):
                raise QueryError("invalid_argument",
                                 "expected field accessors like `.field` as arguments")
            paths.append(path)
        return event_source(ev, s, paths, name)
    # the rest operate on the materialized elements (builtins.call_method)
    return MATERIALIZE


def arr_set(ev: Any, items: List[Any]) -> SetVal:
    s = make({"k": "arr", "v": None, "_v": items})
    return s


def event_source(ev: Any, s: SetVal, paths: Optional[List[List[str]]],
                 method: str = "eventSource") -> EventSource:
    """A feed's token for `s`; the shapes the core cannot stream are
    refused with its reasons (model FQL2StreamsSpec "rejects invalid
    shape")."""
    src = s.desc["src"]

    def refuse(why: str) -> QueryError:
        return QueryError("invalid_receiver", f"can't call `.{method}()` because {why}")
    if src["k"] == "arr":
        raise refuse("streaming is not supported on array sets.")
    if src["k"] == "seq":
        raise refuse("streaming is not supported on sets created from `Set.sequence()`.")
    if src["k"] not in ("all", "idx"):
        raise refuse("only collections and user defined indexes are streamable.")
    if "at" in src or ev.ctx.in_at:
        raise refuse("streaming is not supported for sets created within an `at()` expression.")
    if "from" in src or "to" in src:
        raise refuse("range queries are not supported yet, use `.where()` method instead.")
    if src.get("rev"):
        raise refuse("streaming is not supported on sets that have been reversed.")
    if paths is not None and s.desc["ops"]:
        raise refuse("it was not called on the source set.")
    for op in s.desc["ops"]:
        if op["op"] not in ("where", "map", "proj"):
            raise refuse(f"streaming is not supported on sets returned from `.{op['op']}()`.")
    ts = ev.ctx.write_ts if ev.ctx.write_ts is not None else ev.ctx.snap
    tok = sign({"k": "feed", "d": desc_json(ev, s.desc), "t": ts, "w": paths}, ev.store.sign_key)
    return EventSource(tok)


def serializable_src(ev: Any, src: Dict[str, Any]) -> Dict[str, Any]:
    if src["k"] == "arr" and src.get("v") is None:
        src["v"] = enc_tagged(src["_v"])
    return src
