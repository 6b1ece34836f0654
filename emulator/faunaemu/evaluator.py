"""Evaluates a parsed FQL query against the store, inside one transaction.

The server holds the store lock for the whole query (shared for a query
run as a read, exclusive for one that writes: txnlock.py), so a query is a
serializable transaction; writes are undone if the query fails.
"""
from __future__ import annotations

import base64
import json
import math
import os
import secrets
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from . import parser as P
from .errors import QueryError, arity_error, arity_text, no_args
from .storage import Coll, Store, Version, parse_path, skey
from .txnlock import WriteNeeded
from .values import (INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, Closure, Doc,
                     EventSource, FDate, FTime, Module, Native, NullDoc, Page,
                     Ref, SchemaDoc, SetVal, type_name)
from .env import Env
from .values import is_num, values_equal
from .wire import DataDict, dec_tagged, enc_tagged, ver_fields_tagged

BUILTIN_MODULES = {"Time", "Date", "Collection", "Set", "Key", "Role", "Math",
                   "Object", "Array", "String", "Function", "Credential",
                   "Database", "AccessProvider"}
BUILTIN_FUNCS = {"abort", "Time", "Date", "TransactionTime", "newId", "log", "dbg",
                 "asc", "desc"}
RESERVED_CREATE = {"coll", "ts"}


BYTES_PER_READ_OP = 4096
DOC_OVERHEAD_BYTES = 80     # a version's header as the emulator sizes it
MISS_BYTES = 14             # what the core reads for a missing document


class Stats:
    __slots__ = ("read_ops", "write_ops", "compute_ops", "bytes_read", "bytes_write")

    def __init__(self) -> None:
        self.read_ops = self.write_ops = self.compute_ops = 0
        self.bytes_read = self.bytes_write = 0


class Ctx:
    """Per-query state: snapshot, pending write ts, stats, undo log."""

    def __init__(self, store: Store, principal: Any, src: str, allow_dollar: bool,
                 deadline: Optional[float] = None) -> None:
        self.store = store
        self.principal = principal
        self.src = src
        self.allow_dollar = allow_dollar
        self.snap = store.read_ts()
        self.write_ts: Optional[int] = None
        self.in_at = 0
        self.stats = Stats()
        self.undo: List[Callable[[], None]] = []
        self.deadline = deadline
        self.ticks = 0
        # x-typecheck: names are checked before the query runs; without it
        # an unknown name is a runtime unbound_variable where it is read
        self.typecheck = True
        self.docs_read: set = set()
        # run under the store's shared lock: the first write raises WriteNeeded
        self.read_only = False


class Evaluator:
    def __init__(self, ctx: Ctx, sets: Any, auth: Any) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.sets = sets          # the sets module (set engine)
        self.auth = auth
        self._dispatch = {
            P.Lit: self.e_lit, P.Var: self.e_var, P.Arr: self.e_arr, P.Obj: self.e_obj,
            P.Member: self.e_member, P.Index: self.e_index, P.Call: self.e_call,
            P.NonNull: self.e_nonnull, P.Unary: self.e_unary, P.Binary: self.e_binary,
            P.If: self.e_if, P.Block: self.e_block, P.Lambda: self.e_lambda,
            P.Projection: self.e_projection, P.At: self.e_at, P.Interp: self.e_interp,
        }

    # ----------------------------------------------------------- helpers
    def err(self, code: str, msg: str, node: Optional[P.Node] = None) -> QueryError:
        return QueryError(code, msg, node.span if node is not None else None)

    def tick(self) -> None:
        c = self.ctx
        c.ticks += 1
        if c.deadline is not None and (c.ticks & 255) == 0 and time.monotonic() > c.deadline:
            raise QueryError("time_out", "Query timed out.", status=440)

    def eval(self, node: P.Node, env: Env) -> Any:
        try:
            return self._dispatch[type(node)](node, env)
        except QueryError as e:
            if e.span is None:
                e.span = node.span
            raise
        except RecursionError:
            raise QueryError("invalid_query", "Query is too deeply nested.", node.span)
        except Exception as e:
            # Last resort: a Python exception from evaluating user FQL is a bug in
            # the emulator, but the client gets a Fauna error, not a 500.
            raise unexpected_error(e, node.span) from e

    def run(self, root: P.Node, env: Env) -> Any:
        if self.ctx.typecheck:
            self.check_unbound(root, set(env_names(env)))
        return self.eval(root, env)

    # Static check: unknown identifiers fail before anything runs, as the
    # core's validation does ("Unbound variable `x`").
    def check_unbound(self, n: Any, bound: set) -> None:
        if isinstance(n, P.Var):
            if n.name in bound or n.name == P.THIS:
                return
            if n.name in BUILTIN_MODULES or n.name in BUILTIN_FUNCS:
                return
            if self.store.coll(n.name) is not None:
                return
            raise QueryError.validation(f"Unbound variable `{n.name}`", n.span)
        if isinstance(n, P.Lambda):
            self.check_unbound(n.body, bound | set(n.params))
            return
        if isinstance(n, P.Block):
            b = set(bound)
            for s in n.stmts:
                if isinstance(s, P.Let):
                    self.check_unbound(s.expr, b)
                    b.add(s.name)
                else:
                    self.check_unbound(s, b)
            return
        if isinstance(n, P.Node):
            for k, v in n.__dict__.items():
                if k != "span" and k != "name_span":
                    self.check_unbound(v, bound)
        elif isinstance(n, (list, tuple)):
            for x in n:
                self.check_unbound(x, bound)
        elif isinstance(n, P.ProjField):
            self.check_unbound(n.expr, bound)
            self.check_unbound(n.nested, bound)

    # ----------------------------------------------------------- nodes
    def e_lit(self, n: P.Lit, env: Env) -> Any:
        return n.value

    def e_interp(self, n: P.Interp, env: Env) -> Any:
        out = []
        for p in n.parts:
            if isinstance(p, str):
                out.append(p)
            else:
                out.append(to_display(self.eval(p, env)))
        return "".join(out)

    def e_var(self, n: P.Var, env: Env) -> Any:
        found, v = env.lookup(n.name)
        if found:
            return v
        name = n.name
        if name in BUILTIN_MODULES:
            return Module(name)
        if name in BUILTIN_FUNCS:
            return Native(name, getattr(self, "f_" + name))
        if self.store.coll(name) is not None:
            return Module(name, is_coll=True)
        raise self.unbound(name, n.span)

    def unbound(self, name: str, span: Any) -> QueryError:
        if self.ctx.typecheck:
            return QueryError.validation(f"Unbound variable `{name}`", span)
        return QueryError("unbound_variable", f"Unbound variable `{name}`", span)

    def e_arr(self, n: P.Arr, env: Env) -> Any:
        return [self.eval(x, env) for x in n.items]

    def e_obj(self, n: P.Obj, env: Env) -> Any:
        return {k: self.eval(v, env) for k, v in n.pairs}

    def e_block(self, n: P.Block, env: Env) -> Any:
        local = Env({}, env)
        result = None
        for s in n.stmts:
            if isinstance(s, P.Let):
                local.vars[s.name] = self.eval(s.expr, local)
                result = None
            else:
                result = self.eval(s, local)
        return result

    def e_lambda(self, n: P.Lambda, env: Env) -> Any:
        return Closure(n, env, self.ctx.src, self.ctx.allow_dollar)

    def e_if(self, n: P.If, env: Env) -> Any:
        c = self.eval(n.cond, env)
        if not isinstance(c, bool):
            raise self.err("type_mismatch", f"expected type: Boolean, received {type_name(c)}",
                           n.cond)
        if c:
            return self.eval(n.then, env)
        return self.eval(n.other, env) if n.other is not None else None

    def e_at(self, n: P.At, env: Env) -> Any:
        t = self.eval(n.ts, env)
        if not isinstance(t, FTime):
            raise self.err("invalid_argument",
                           f"expected value for `at` of type Time, received {type_name(t)}", n.ts)
        saved = self.ctx.snap
        self.ctx.snap = t.ns // 1000
        self.ctx.in_at += 1
        try:
            return self.eval(n.body, env)
        finally:
            self.ctx.snap = saved
            self.ctx.in_at -= 1

    def e_nonnull(self, n: P.NonNull, env: Env) -> Any:
        v = self.eval(n.expr, env)
        if isinstance(v, NullDoc):
            raise null_doc_error(v, n.span)
        if v is None:
            if isinstance(n.expr, P.Lit):
                raise self.err("null_value", "Null literal value", n.expr)
            raise self.err("null_value", "Value is null.", n)
        return v

    def e_unary(self, n: P.Unary, env: Env) -> Any:
        v = self.eval(n.expr, env)
        if n.op == "!":
            if not isinstance(v, bool):
                raise self.err("invalid_argument",
                               f"expected value of type Boolean, received {type_name(v)}", n)
            return not v
        if n.op == "-":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise self.err("invalid_argument",
                               f"expected value of type Number, received {type_name(v)}", n)
            if v == INT64_MIN and type(v) is int:
                raise self.err("integer_overflow", "Integer overflow.", n)
            return -v
        if n.op == "+":
            return v
        if n.op == "~" and isinstance(v, int) and not isinstance(v, bool):
            return ~v
        raise self.err("invalid_argument", f"invalid operand for `{n.op}`", n)

    def e_binary(self, n: P.Binary, env: Env) -> Any:
        op = n.op
        if op == "&&" or op == "||":
            l = self.eval(n.left, env)
            if not isinstance(l, bool):
                raise self.err("invalid_argument",
                               f"expected value of type Boolean, received {type_name(l)}", n.left)
            if op == "&&" and not l:
                return False
            if op == "||" and l:
                return True
            r = self.eval(n.right, env)
            if not isinstance(r, bool):
                raise self.err("invalid_argument",
                               f"expected value of type Boolean, received {type_name(r)}", n.right)
            return r
        if op == "??":
            l = self.eval(n.left, env)
            if l is None or isinstance(l, NullDoc):
                return self.eval(n.right, env)
            return l
        l = self.eval(n.left, env)
        r = self.eval(n.right, env)
        if op == "==":
            return values_equal(l, r)
        if op == "!=":
            return not values_equal(l, r)
        if op in ("<", "<=", ">", ">="):
            if not comparable(l, r):
                return False
            a, b = skey(l), skey(r)
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        if op == "isa":
            return isinstance(r, Module) and type_name(l) == (r.name if not r.is_coll else r.name)
        if op == "+" and isinstance(l, str) and isinstance(r, str):
            return l + r
        if op == "+" and isinstance(l, str):
            return l + to_display(r)
        if not is_num(l) or not is_num(r):
            raise self.err("invalid_argument",
                           f"expected value of type Number, received {type_name(l if not is_num(l) else r)}", n)
        return arith(op, l, r, n)

    def e_member(self, n: P.Member, env: Env) -> Any:
        obj = self.eval(n.obj, env)
        if n.optional and (obj is None or isinstance(obj, NullDoc)):
            return None
        return self.get_member(obj, n.name, n)

    def e_index(self, n: P.Index, env: Env) -> Any:
        obj = self.eval(n.obj, env)
        if n.optional and (obj is None or isinstance(obj, NullDoc)):
            return None
        idx = self.eval(n.index, env)
        if isinstance(obj, list):
            if not isinstance(idx, int) or isinstance(idx, bool):
                raise self.err("invalid_argument",
                               f"expected value for `index` of type Int, received {type_name(idx)}", n.index)
            if idx < 0 or idx >= len(obj):
                raise self.err("index_out_of_bounds",
                               f"index {idx} out of bounds for length {len(obj)}", n)
            return self.resolve(obj[idx])
        if isinstance(idx, str):
            return self.get_member(obj, idx, n)
        raise self.err("invalid_argument", f"Cannot index into {type_name(obj)}", n)

    def e_call(self, n: P.Call, env: Env) -> Any:
        if isinstance(n.fn, P.Member):
            recv = self.eval(n.fn.obj, env)
            if n.fn.optional and (recv is None or isinstance(recv, NullDoc)):
                return None
            args = [self.eval(a, env) for a in n.args]
            try:
                return self.call_method(recv, n.fn.name, args, n)
            except QueryError as e:
                if e.span is None:
                    # an unknown method at its name; the rest, as the core
                    # does, at the argument list
                    e.span = n.fn.name_span if e.code == "invalid_query" else \
                        (n.args_span or (n.fn.name_span[0], n.span[1]))
                raise
        fn = self.eval(n.fn, env)
        if n.optional and fn is None:
            return None
        args = [self.eval(a, env) for a in n.args]
        try:
            if isinstance(fn, Module) and fn.name in ("Time", "Date") and not fn.is_coll:
                return getattr(self, "f_" + fn.name)(args)
            return self.call_fn(fn, args, n, direct=True)
        except QueryError as e:
            if e.span is None:
                e.span = n.args_span or n.span
            raise

    def e_projection(self, n: P.Projection, env: Env) -> Any:
        v = self.eval(n.expr, env)
        return self.project(v, n.fields, env)

    # ----------------------------------------------------------- functions
    def call_fn(self, fn: Any, args: List[Any], node: Optional[P.Node] = None,
                direct: bool = False) -> Any:
        self.tick()
        self.ctx.stats.compute_ops += 1
        if isinstance(fn, Closure):
            params = fn.node.params
            if len(args) != len(params) and not fn.node.variadic:
                if direct:
                    # `f(1)` for `(x, y) => …`: the core's arity error
                    raise arity_error(arity_text(len(params)), len(args))
                if not (len(params) == 1 and params[0] == P.THIS and len(args) >= 1):
                    raise QueryError("invalid_argument",
                                     f"callback function has {len(params)} parameters but received "
                                     f"{len(args)} arguments", node.span if node else None)
            env = Env(dict(zip(params, args)), fn.env)
            if fn.src is not self.ctx.src:
                # a closure restored from a cursor: its spans refer to its own text
                try:
                    return self.eval(fn.node.body, env)
                except QueryError as e:
                    e.span = None
                    raise
            return self.eval(fn.node.body, env)
        if isinstance(fn, Native):
            return fn.fn(args)
        raise QueryError("invalid_query", f"`{type_name(fn)}` is not a function",
                         node.span if node else None)

    def f_abort(self, args: List[Any]) -> Any:
        if len(args) != 1:
            raise arity_error(arity_text(1), len(args))
        raise QueryError("abort", "Query aborted.", abort=args[0], has_abort=True)

    def f_Time(self, args: List[Any]) -> Any:
        s = self.arg(args, 0, str, "time", 1)
        try:
            return FTime.parse(s)
        except ValueError:
            raise QueryError("invalid_time", f"`{s}` is not a valid time.")

    def f_Date(self, args: List[Any]) -> Any:
        s = self.arg(args, 0, str, "date", 1)
        try:
            return FDate.parse(s)
        except ValueError:
            raise QueryError("invalid_date", f"`{s}` is not a valid date.")

    def f_TransactionTime(self, args: List[Any]) -> Any:
        no_args(args)
        return FTime.from_micros(self.txn_time())

    def f_newId(self, args: List[Any]) -> Any:
        no_args(args)
        return str(self.store.new_id())

    def f_asc(self, args: List[Any]) -> Any:
        return {"asc": self.accessor_arg(args)}

    def f_desc(self, args: List[Any]) -> Any:
        return {"desc": self.accessor_arg(args)}

    def accessor_arg(self, args: List[Any]) -> Any:
        """The argument of asc()/desc(): a function of one element (`.field`, `x => ...`)."""
        fn = self.arg(args, 0, object, "accessor", 1)
        if not isinstance(fn, (Closure, Native)):
            raise QueryError("invalid_argument",
                             f"expected value for `accessor` of type function, received {type_name(fn)}")
        return fn

    def f_log(self, args: List[Any]) -> Any:
        return None

    def f_dbg(self, args: List[Any]) -> Any:
        return args[0] if args else None

    def txn_time(self) -> int:
        """The transaction's commit time; a query that writes commits at it.
        Every write asks for it before changing anything, so a query run as
        a read stops here (WriteNeeded) and is run again as a write."""
        c = self.ctx
        if c.write_ts is None:
            if c.read_only:
                raise WriteNeeded()
            c.write_ts = self.store.next_write_ts()
            c.snap = max(c.snap, c.write_ts) if not c.in_at else c.snap
        return c.write_ts

    def arg(self, args: List[Any], i: int, typ: Any, name: str, nargs: Optional[int] = None) -> Any:
        if nargs is not None and len(args) != nargs:
            raise arity_error(arity_text(nargs), len(args))
        if i >= len(args):
            raise arity_error(arity_text(i + 1, "at least"), len(args))
        v = args[i]
        ok = isinstance(v, typ) and not (typ is int and isinstance(v, bool))
        if typ is int and isinstance(v, bool):
            ok = False
        if not ok:
            tn = {str: "String", int: "Int", dict: "Object", list: "Array", bool: "Boolean",
                  FTime: "Time"}.get(typ, getattr(typ, "__name__", "Any"))
            if typ is dict:
                got = type_name(v)
            else:
                got = type_name(v)
            raise QueryError("invalid_argument",
                             f"expected value for `{name}` of type {tn}, received {got}")
        return v

    # ----------------------------------------------------------- documents
    def resolve(self, v: Any, snap: Optional[int] = None) -> Any:
        if isinstance(v, Ref):
            return self.get_doc(v.coll, v.id, snap=snap)
        return v

    def get_doc(self, coll: str, id: str, need_read: bool = True,
                snap: Optional[int] = None) -> Any:
        """`coll`'s document `id` at `snap` (default: the query's snapshot)."""
        c = self.store.coll(coll)
        if c is None:
            return NullDoc(coll, id, "not found")
        if snap is None:
            snap = self.ctx.snap
        from .sets import check_history
        check_history(self, c, snap)
        if need_read and not self.auth.can(self.ctx, coll, "read"):
            return NullDoc(coll, id, "permission denied")
        try:
            idn = int(id)
        except ValueError:
            return NullDoc(coll, id, "not found")
        ver = c.visible(idn, snap)
        if ver is None:
            self.count_miss()
            prior = c.version_at(idn, snap)
            return NullDoc(coll, id, "deleted" if prior is not None and prior.deleted else "not found")
        self.count_read(ver)
        return Doc(ver, snap)

    # Read ops as the core bills them (FQL2MetricsSpec): a document read
    # costs ceil(bytes / 4096) ops once per query however often it is read,
    # a miss costs one op (14 bytes); index scans are billed by
    # sets.ScanBill.
    def count_read(self, ver: Version) -> None:
        self.count_reads((ver,))

    def count_reads(self, vers: Iterable[Version]) -> None:
        """count_read for each version; the stats are added up once (a
        scan bills a page's documents in one call)."""
        seen = self.ctx.docs_read
        ops = nbytes = 0
        for ver in vers:
            key = (ver.coll, ver.idn, ver.ts)
            if key in seen:
                continue
            seen.add(key)
            if ver.enc_ft is None:
                ver_fields_tagged(ver)
            n = ver.sz + DOC_OVERHEAD_BYTES
            ops += -(-n // BYTES_PER_READ_OP)
            nbytes += n
        st = self.ctx.stats
        st.read_ops += ops
        st.bytes_read += nbytes

    def bill(self, doc: Doc) -> None:
        """A scanned document is used beyond its id: it is read now."""
        if doc.unread:
            doc.unread = False
            self.count_read(doc.ver)

    def bill_result(self, v: Any) -> None:
        """The documents a result renders are read."""
        t = type(v)
        if t is Doc:
            self.bill(v)
        elif t is list:
            for x in v:
                self.bill_result(x)
        elif t is dict:
            for x in v.values():
                if type(x) in _HOLDS_DOCS:
                    self.bill_result(x)
        elif t is Page:
            if v.meta is not None:
                return      # projections on a document's own fields hold no document
            for x in v.items:
                self.bill_result(x)

    def count_miss(self) -> None:
        self.ctx.stats.read_ops += 1
        self.ctx.stats.bytes_read += MISS_BYTES


    def doc_field(self, ver: Version, name: str, snap: Optional[int] = None) -> Any:
        """A field of a document read at `snap`: a reference it holds is
        read at that snapshot too (FQL2TemporalitySpec)."""
        if name == "id":
            return ver.id
        if name == "coll":
            return Module(ver.coll, is_coll=True)
        if name == "ts":
            return ver.tso
        if name == "ttl":
            return ver.ttl
        if name == "data":
            return data_dict(ver)
        return self.resolve(ver.data.get(name), snap)

    def get_member(self, obj: Any, name: str, node: Optional[P.Node]) -> Any:
        t = type(obj)
        if t is Doc:
            if name != "id" and name != "coll":
                self.bill(obj)
            return self.doc_field(obj.ver, name, obj.snap)
        if t is dict or t is DataDict:
            return self.resolve(obj.get(name))
        if obj is None:
            raise QueryError("invalid_null_access", f"Cannot access `{name}` on null.",
                             node.name_span if isinstance(node, P.Member) else None)
        if t is NullDoc:
            if name in ("id",):
                return obj.id
            if name == "coll":
                return Module(obj.coll, is_coll=True)
            raise null_doc_error(obj)
        if isinstance(obj, SchemaDoc):
            if name == "name" or (name == "id" and obj.coll == "Key"):
                return obj.name
            if name == "coll":
                return Module(obj.coll)
            if name == "ts":
                return FTime.from_micros(obj.ts)
            return obj.fields.get(name)
        if t is Page:
            if name == "data":
                return obj.items
            if name == "after":
                return obj.after
            return None
        if t is Module and obj.is_coll and name == "definition":
            return self.coll_def(self.need_coll(obj.name))
        if t is list and name == "length":
            return len(obj)
        if t is str and name == "length":
            return len(obj)
        if t is FTime and name in TIME_FIELDS:
            return TIME_FIELDS[name](obj)
        # a method referenced without calling it
        if self.has_method(obj, name):
            return Native(name, lambda args, o=obj, nm=name: self.call_method(o, nm, args, node))
        raise QueryError("invalid_query",
                         f"The function `{name}` does not exist on `{type_name(obj)}`",
                         node.name_span if isinstance(node, P.Member) else None)

    def has_method(self, obj: Any, name: str) -> bool:
        from . import builtins as B
        return B.has_method(self, obj, name)

    def call_method(self, recv: Any, name: str, args: List[Any], node: Optional[P.Node]) -> Any:
        from . import builtins as B
        if type(recv) is Doc and name != "exists":
            self.bill(recv)
        return B.call_method(self, recv, name, args, node)

    def need_coll(self, name: str) -> Coll:
        c = self.store.coll(name)
        if c is None:
            raise self.unbound(name, None)
        return c

    def coll_def(self, c: Coll) -> SchemaDoc:
        fields: Dict[str, Any] = {}
        fields["history_days"] = c.history_days
        if c.ttl_days is not None:
            fields["ttl_days"] = c.ttl_days
        fields["indexes"] = {n: ix.definition() for n, ix in c.indexes.items()}
        fields["constraints"] = []
        for k, v in c.extra.items():
            fields[k] = v
        return SchemaDoc("Collection", c.name, c.ts, fields)

    # ----------------------------------------------------------- writes
    def begin_write(self, coll: str, action: str) -> int:
        if self.store.read_only:
            raise QueryError("forbidden", "This emulator serves reads only (--read-processes).",
                             status=403)
        if self.ctx.in_at:
            raise QueryError("invalid_effect",
                             "`at` expression cannot perform writes.")
        if not self.auth.can(self.ctx, coll, action):
            raise QueryError("permission_denied", "Insufficient privileges to perform the action.")
        return self.txn_time()

    def write_version(self, c: Coll, idn: int, data: Dict[str, Any], ttl: Optional[FTime],
                      deleted: bool = False, id_str: Optional[str] = None) -> Version:
        ts = self.ctx.write_ts
        assert ts is not None
        ver = Version(c.name, idn, ts, data, ttl, deleted, id=id_str)
        rec = c.put(ver)
        self.ctx.undo.append(lambda: c.unput(ver, rec))
        st = self.ctx.stats
        st.write_ops += 1
        if not deleted:
            from .wire import ver_size
            st.bytes_write += ver_size(ver) + 80
        return ver

    def to_stored(self, v: Any) -> Any:
        """Convert a value for storage: documents become references."""
        if isinstance(v, (Doc, NullDoc)):
            return Ref(v.coll, v.id)
        if isinstance(v, dict):
            return {k: self.to_stored(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.to_stored(x) for x in v]
        if isinstance(v, (SetVal, Page, Closure, Native, EventSource)):
            raise QueryError("invalid_argument",
                             f"Cannot store a value of type {type_name(v)} in a document.")
        if isinstance(v, Module) and not v.is_coll:
            raise QueryError("invalid_argument", f"Cannot store a value of type {type_name(v)} in a document.")
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            return v
        return v

    # ----------------------------------------------------------- projection
    @staticmethod
    def meta_names(fields: List[P.ProjField]) -> Optional[Tuple[str, ...]]:
        """The names of a projection made only of a document's own fields
        (`{ id, ts, data }`: fauna_fdw's scans), else None.  Such a
        projection of a document depends on its version alone."""
        names = tuple(f.name for f in fields)
        if (len(set(names)) != len(names) or not META_FIELDS.issuperset(names)
                or any(f.expr is not None or f.nested is not None for f in fields)):
            return None
        return names

    @staticmethod
    def meta_bills(names: Tuple[str, ...]) -> bool:
        """Whether projecting a scanned document on `names` reads it."""
        return any(n != "id" and n != "coll" for n in names)

    def meta_items(self, names: Tuple[str, ...], vers: List[Version]) -> List[Dict[str, Any]]:
        """What project(doc, fields) gives for each version, for the fields
        `meta_names` returned `names` for (a Page's lazy items)."""
        getters = [(n, META_GETTERS[n]) for n in names]
        return [{n: get(ver) for n, get in getters} for ver in vers]

    def project(self, v: Any, fields: List[P.ProjField], env: Env) -> Any:
        if v is None or isinstance(v, NullDoc):
            return None
        if isinstance(v, SetVal):
            return self.sets.add_op(self, v, {"op": "proj", "f": self.sets.proj_spec(self, fields, env),
                                               "_live": (fields, env)})
        if isinstance(v, list):
            return [self.project(self.resolve(x), fields, env) for x in v]
        if isinstance(v, Page):
            return Page([self.project(x, fields, env) for x in v.items], v.after, v.as_set)
        if type(v) in (int, float, str, bool):
            return v        # a primitive passes through (FQL2ProjectionSpec)
        out: Dict[str, Any] = {}
        if type(v) is Doc:
            # fast path for the common `{ id, ts, data, field }` projection of a document
            ver = v.ver
            if any(f.name not in ("id", "coll") or f.expr is not None or f.nested is not None
                   for f in fields):
                self.bill(v)
            for f in fields:
                if f.expr is None and f.nested is None:
                    n = f.name
                    if n == "id":
                        out[n] = ver.id
                    elif n == "ts":
                        out[n] = ver.tso
                    elif n == "data":
                        out[n] = self.doc_field(ver, "data", v.snap)
                    elif n == "ttl":
                        out[n] = ver.ttl
                    elif n == "coll":
                        out[n] = self.doc_field(ver, "coll")
                    else:
                        x = ver.data.get(n)
                        out[n] = self.resolve(x, v.snap) if type(x) is Ref else x
                else:
                    break
            else:
                return out
            out = {}
        for f in fields:
            if f.expr is not None:
                # `alias: expr`, where `.field` refers to the projected value
                out[f.name] = self.eval(f.expr, Env({P.THIS: v}, env))
                continue
            val = self.get_member(v, f.name, None)
            if f.nested is not None:
                val = self.project(val, f.nested, env)
            out[f.name] = val
        return out


# What bill_result looks into: an object's other members are skipped without
# a call (a page of { id, name, ... } objects: one call per member was a
# tenth of serving it).
_HOLDS_DOCS = frozenset((Doc, list, dict, Page))


def data_dict(ver: Version) -> DataDict:
    """`doc.data`: one DataDict per version, which the encoders know."""
    dd = ver.dd
    if dd is None:
        dd = DataDict(ver.data)
        dd.ver = ver
        ver.dd = dd
    return dd


# A document's own fields, as doc_field reads them.
META_GETTERS: Dict[str, Callable[[Version], Any]] = {
    "id": lambda ver: ver.id,
    "ts": lambda ver: ver.tso,
    "ttl": lambda ver: ver.ttl,
    "coll": lambda ver: Module(ver.coll, is_coll=True),
    "data": data_dict,
}
META_FIELDS = frozenset(META_GETTERS)


TIME_FIELDS: Dict[str, Callable[[FTime], Any]] = {}


def _time_fields() -> None:
    import datetime as dt

    def comp(attr: str) -> Callable[[FTime], Any]:
        def f(t: FTime) -> Any:
            d = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=t.ns // 1000)
            return getattr(d, attr)
        return f
    for a in ("year", "month", "day", "hour", "minute", "second"):
        TIME_FIELDS[a] = comp(a)
    TIME_FIELDS["dayOfMonth"] = comp("day")


_time_fields()


def unexpected_error(e: Exception, span: Any) -> QueryError:
    import sys
    import traceback
    sys.stderr.write("emulator: unexpected %s while evaluating a query:\n%s"
                     % (type(e).__name__, "".join(traceback.format_exception(e))))
    return QueryError("invalid_argument",
                      "The arguments of this expression cannot be evaluated.", span)


def env_names(env: Env) -> List[str]:
    out: List[str] = []
    e: Optional[Env] = env
    while e is not None:
        out.extend(e.vars.keys())
        e = e.parent
    return out


def null_doc_error(v: NullDoc, span: Any = None) -> QueryError:
    """The core's error for using a null document: a denied read is a null
    value, a missing or deleted document is not found."""
    if v.cause == "permission denied":
        return QueryError("null_value", "Null value, due to permission denied", span)
    return QueryError("document_not_found", nulldoc_msg(v), span)


def nulldoc_msg(v: NullDoc) -> str:
    if v.cause == "deleted":
        return f"Collection `{v.coll}` does not contain document with id {v.id}."
    if v.cause == "permission denied":
        return f"Insufficient privileges to read document with id {v.id} in collection `{v.coll}`."
    return f"Collection `{v.coll}` does not contain document with id {v.id}."


def comparable(a: Any, b: Any) -> bool:
    if is_num(a) and is_num(b):
        return True
    return type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict))


def arith(op: str, l: Any, r: Any, node: P.Node) -> Any:
    both_int = isinstance(l, int) and isinstance(r, int)
    try:
        if op == "+":
            res = l + r
        elif op == "-":
            res = l - r
        elif op == "*":
            res = l * r
        elif op == "/":
            if both_int:
                if r == 0:
                    raise QueryError("divide_by_zero", "Attempted integer division by zero.", node.span)
                q = abs(l) // abs(r)
                res = q if (l >= 0) == (r >= 0) else -q
            else:
                res = l / r if r != 0 else (math.copysign(math.inf, l) * math.copysign(1, r) if l != 0 else math.nan)
        elif op == "%":
            if both_int:
                if r == 0:
                    raise QueryError("divide_by_zero", "Attempted integer division by zero.", node.span)
                res = abs(l) % abs(r) * (1 if l >= 0 else -1)
            else:
                # Java's double remainder: NaN for a zero divisor or an infinite dividend
                lf, rf = float(l), float(r)
                res = math.nan if rf == 0.0 or math.isinf(lf) or math.isnan(rf) else math.fmod(lf, rf)
        elif op == "**":
            from .builtins import java_pow
            if both_int and r >= 0 and (abs(l) <= 1 or r <= 63):
                res = l ** r
                if not (INT64_MIN <= res <= INT64_MAX):
                    res = java_pow(l, r)
            else:
                res = java_pow(l, r)
        elif op in ("&", "|", "^") and both_int:
            res = {"&": l & r, "|": l | r, "^": l ^ r}[op]
        else:
            raise QueryError("invalid_argument", f"invalid operands for `{op}`", node.span)
    except OverflowError:
        return math.inf
    if isinstance(res, int) and not isinstance(res, bool) and not (INT64_MIN <= res <= INT64_MAX):
        raise QueryError("integer_overflow", "Integer overflow.", node.span)
    return res


def to_display(v: Any) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        from .wire import java_double
        return java_double(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, FTime):
        return v.iso()
    if isinstance(v, FDate):
        return v.iso()
    if isinstance(v, Doc):
        return f"{v.coll}({v.id})"
    if isinstance(v, Module):
        return v.name
    try:
        return enc_tagged(v)
    except Exception:
        return type_name(v)
