"""Request handling independent of HTTP: /query/1 and /feed/1 bodies in,
status + JSON text + headers out."""
from __future__ import annotations

import json
import re
import time
from typing import Any, Dict, List, Optional, Tuple

from . import parser as P
from . import sets as S
from .auth import Auth, parse_authorization
from .errors import ProtocolError, QueryError
from .evaluator import Ctx, Env, Evaluator
from .storage import Store
from .txnlock import WriteNeeded
from .values import FTime, Module, Page, Ref, SetVal
from .wire import DecodeError, dec_tagged, encoder, load_request_json

Response = Tuple[int, str, Dict[str, str]]
TAG_PAIR_RE = re.compile(r"[a-zA-Z0-9_]+=[a-zA-Z0-9_]+\Z")
MAX_BODY = 8 * 1024 * 1024
MAX_TIMEOUT_MS = 600_000
# A query whose text names none of these runs first as a read (shared
# lock); one that writes all the same, through a cursor's lambda or a name
# bound at run time, stops before its first write and runs again alone.
MAY_WRITE_RE = re.compile(r"\b(?:create|createData|update|updateData|replace|replaceData|delete|"
                          r"TransactionTime)\b")


def proto_body(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":"))


def parse_bool(name: str, v: str) -> bool:
    lv = v.lower()
    if lv in ("true", "false"):
        return lv == "true"
    raise bad_header(name, "Must be a boolean value.")


def parse_query_tags(v: str) -> Dict[str, str]:
    """`k=v,k2=v2` as the core's tag parser reads it; its error reasons."""
    if len(v) > 3000:
        raise bad_header("x-query-tags", "header is too long")
    tags: Dict[str, str] = {}
    if v == "":
        return tags
    pairs = v.split(",")
    if not all(TAG_PAIR_RE.match(p) for p in pairs):
        raise bad_header("x-query-tags", "invalid tags")
    if len(pairs) > 25:
        raise bad_header("x-query-tags", "too many tags")
    for pair in pairs:
        k, val = pair.split("=", 1)
        if len(k) > 40:
            raise bad_header("x-query-tags", "invalid key")
        if len(val) > 80:
            raise bad_header("x-query-tags", "invalid value")
        if k in tags:
            raise bad_header("x-query-tags", "duplicate key")
        tags[k] = val
    return tags


def bad_header(name: str, reason: str) -> ProtocolError:
    return ProtocolError(400, "invalid_request", f"Invalid header '{name}': {reason}")


def header_long(v: str) -> Optional[int]:
    """A header's value as Java's toLongOption reads it, else None."""
    return int(v) if re.fullmatch(r"[+-]?\d+", v) and -2**63 <= int(v) < 2**63 else None


def parse_query(src: str, allow_dollar: bool) -> P.Node:
    """Parse FQL text; whatever goes wrong is the client's invalid query."""
    try:
        return P.parse(src, allow_dollar)
    except QueryError:
        raise
    except RecursionError:
        raise QueryError.syntax("Query is too deeply nested", 0, len(src))
    except Exception as e:  # a parser bug must not become a 500
        import sys
        import traceback
        sys.stderr.write("emulator: unexpected %s while parsing a query:\n%s"
                         % (type(e).__name__, "".join(traceback.format_exception(e))))
        raise QueryError.syntax("Invalid query", 0, len(src))


class Service:
    def __init__(self, store: Store, admin_secret: str) -> None:
        self.store = store
        self.auth = Auth(store, admin_secret)

    # ------------------------------------------------------------ auth
    def principal(self, headers: Dict[str, str]) -> Any:
        secret = parse_authorization(headers.get("authorization"))
        if secret is None:
            raise ProtocolError(401, "unauthorized", "Access token required",
                                {"WWW-Authenticate": "Bearer"})
        p = self.auth.authenticate(secret)
        if p is None:
            raise ProtocolError(401, "unauthorized", "Access token required",
                                {"WWW-Authenticate": "Bearer"})
        return p

    # ------------------------------------------------------------ query
    def query(self, body: bytes, headers: Dict[str, str], stall_s: float = 0.0) -> Response:
        """`stall_s`: a `stall` fault holds the transaction this long."""
        t0 = time.monotonic()
        try:
            # The core's order: the request's own headers, then the tags, then
            # format and flags, then the body; a missing or bad token last.
            timeout_ms = 120_000
            if "x-last-txn-ts" in headers:
                v = headers["x-last-txn-ts"]
                if header_long(v) is None:
                    raise bad_header("x-last-txn-ts", f"Invalid timestamp '{v}'.")
            if "x-query-timeout-ms" in headers:
                v = headers["x-query-timeout-ms"]
                n = header_long(v)
                if n is None:
                    raise bad_header("x-query-timeout-ms", f"Invalid number '{v}'.")
                if n <= 0:
                    raise bad_header("x-query-timeout-ms", "Must be greater than 0.")
                if n > MAX_TIMEOUT_MS:
                    raise bad_header("x-query-timeout-ms",
                                     f"Must be less than or equal to {MAX_TIMEOUT_MS}.")
                timeout_ms = n
            if "x-max-contention-retries" in headers:
                v = headers["x-max-contention-retries"]
                n = header_long(v)
                if n is None or not -2**31 <= n < 2**31:
                    raise bad_header("x-max-contention-retries", f"Invalid number '{v}'.")
                if not 0 <= n <= 7:
                    raise bad_header("x-max-contention-retries", "Must be between 0 and 7.")
            tags = parse_query_tags(headers["x-query-tags"]) if "x-query-tags" in headers else None
            fmt = headers.get("x-format", "simple")
            if fmt not in ("simple", "tagged", "decorated"):
                raise bad_header("x-format", f"Invalid format {fmt}")
            tagged = fmt != "simple"
            typecheck = self.store.typechecked
            if "x-typecheck" in headers:
                typecheck = parse_bool("x-typecheck", headers["x-typecheck"])
            for h in ("x-linearized", "x-performance-hints"):
                if h in headers:
                    parse_bool(h, headers[h])
            if len(body) > MAX_BODY:
                raise ProtocolError(413, "request_size_exceeded",
                                    f"Request body exceeds the maximum of {MAX_BODY} bytes.")
            try:
                req = load_request_json(body)
            except (ValueError, UnicodeDecodeError) as e:
                raise ProtocolError(400, "invalid_request", f"Invalid request body: {e}")
            if not isinstance(req, dict) or "query" not in req:
                raise ProtocolError(400, "invalid_request", "Invalid request body")
            src, values, bad_value = self.template(req["query"])
            args = req.get("arguments") or {}
            if not isinstance(args, dict):
                raise ProtocolError(400, "invalid_request",
                                    "Invalid request body: arguments must be an object.")
            argv = {}
            for k, v in args.items():
                try:
                    argv[k] = dec_tagged(v) if tagged else v
                except DecodeError as e:
                    raise ProtocolError(400, "invalid_request", f"Invalid argument '{k}': {e}")
            principal = self.principal(headers)
        except ProtocolError as e:
            return e.status, proto_body(e.code, e.message), e.headers
        return self.run(src, values, argv, principal, fmt, tags, t0, timeout_ms, typecheck,
                        bad_value, stall_s)

    def template(self, q: Any) -> Tuple[str, Dict[str, Any], Optional[QueryError]]:
        """Flatten a query (string or template) to source text; value parts
        become `$vN` variables so no user value is spliced into FQL text.
        As the core's FQL2Query: the top level may be any part (`fql`,
        `value`, `array`, `object`), an fql part inside an array or object is
        parenthesized, and a value that does not decode is a check failure
        of the query at its place (returned, raised when the query runs)."""
        if isinstance(q, str):
            return q, {}, None
        values: Dict[str, Any] = {}
        out: List[str] = []
        bad: List[QueryError] = []

        def part(p: Any, in_container: bool = False) -> None:
            if isinstance(p, str):
                out.append("(" + p + ")" if in_container else p)
                return
            if not isinstance(p, dict) or len(p) != 1:
                raise ProtocolError(400, "invalid_request", "Invalid request body")
            (k, x), = p.items()
            if k == "fql" and isinstance(x, list):
                if in_container:
                    out.append("(")
                for y in x:
                    part(y)
                if in_container:
                    out.append(")")
            elif k == "value":
                name = f"$v{len(values)}"
                start = sum(len(t) for t in out)
                try:
                    values[name] = dec_tagged(x)
                except DecodeError as e:
                    values[name] = None
                    if not bad:
                        bad.append(QueryError.validation(str(e), (start, start + len(name))))
                out.append(name)
            elif k == "array" and isinstance(x, list):
                out.append("[")
                for i, y in enumerate(x):
                    if i:
                        out.append(", ")
                    part(y, True)
                out.append("]")
            elif k == "object" and isinstance(x, dict):
                out.append("{ ")
                for i, (kk, y) in enumerate(x.items()):
                    if i:
                        out.append(", ")
                    out.append(json.dumps(kk) + ": ")
                    part(y, True)
                out.append(" }")
            else:
                raise ProtocolError(400, "invalid_request", "Invalid request body")

        part(q)
        return "".join(out), values, (bad[0] if bad else None)

    def run(self, src: str, values: Dict[str, Any], argv: Dict[str, Any], principal: Any,
            fmt: str, tags: Optional[Dict[str, str]], t0: float, timeout_ms: int,
            typecheck: bool = True, bad_value: Optional[QueryError] = None,
            stall_s: float = 0.0) -> Response:
        """Run the query as one transaction: as a read under the store's
        shared lock unless its text may write, alone when it does."""
        q = (src, values, argv, principal, fmt, tags, t0, timeout_ms, typecheck, bad_value,
             stall_s)
        if not MAY_WRITE_RE.search(src):
            try:
                with self.store.lock.shared():
                    return self.attempt(*q, read_only=True)
            except WriteNeeded:
                pass        # it came to a write, with nothing changed: again, alone
        with self.store.lock:
            return self.attempt(*q, read_only=False)

    def attempt(self, src: str, values: Dict[str, Any], argv: Dict[str, Any], principal: Any,
                fmt: str, tags: Optional[Dict[str, str]], t0: float, timeout_ms: int,
                typecheck: bool, bad_value: Optional[QueryError], stall_s: float,
                read_only: bool) -> Response:
        enc = encoder(fmt)
        store = self.store
        allow_dollar = bool(values)
        ctx = Ctx(store, principal, src, allow_dollar, deadline=t0 + timeout_ms / 1000.0)
        ctx.typecheck = typecheck
        ctx.read_only = read_only
        ev = Evaluator(ctx, S, self.auth)
        try:
            root = parse_query(src, allow_dollar)
            if bad_value is not None:
                raise bad_value
            env_vars = {k: S.resolve_deep(ev, v) for k, v in values.items()}
            env_vars.update({k: S.resolve_deep(ev, v) for k, v in argv.items()})
            result = ev.run(root, Env(env_vars))
            if stall_s:
                time.sleep(stall_s)     # a `stall` fault: a slow transaction
            result = self.finish(ev, result)
            ev.bill_result(result)
            data = enc(result)
            if ctx.write_ts is not None and ctx.stats.write_ops:
                store.last_ts = max(store.last_ts, ctx.write_ts)
                txn_ts = ctx.write_ts
            else:
                txn_ts = store.last_ts if store.logical else ctx.snap
                if ctx.write_ts is not None and store.logical:
                    txn_ts = store.last_ts
            body = ('{"data":' + data + ',"summary":"","txn_ts":' + str(txn_ts) +
                    ',"stats":' + self.stats_json(ctx, t0) + ',"schema_version":' +
                    str(self.schema_version()) + self.tags_json(tags) + "}")
            return 200, body, {}
        except QueryError as e:
            for u in reversed(ctx.undo):
                u()
            if e.status == 440:
                return 440, proto_body("time_out", e.message), {}
            err: Dict[str, Any] = {"code": e.code, "message": e.message}
            extra = ""
            cf = getattr(e, "constraint_failures", None)
            if cf is not None:
                err["constraint_failures"] = cf
            err_text = json.dumps(err, separators=(",", ":"))[:-1]
            if e.has_abort:
                try:
                    err_text += ',"abort":' + enc(self.finish(ev, e.abort))
                except Exception:
                    err_text += ',"abort":null'
            err_text += "}"
            txn_ts = store.last_ts if store.logical else max(ctx.snap, store.last_ts)
            body = ('{"error":' + err_text + ',"summary":' +
                    json.dumps(e.render_summary(src)) + ',"txn_ts":' + str(txn_ts) +
                    ',"stats":' + self.stats_json(ctx, t0) + ',"schema_version":' +
                    str(self.schema_version()) + self.tags_json(tags) + "}")
            return e.status, body, {}
        except Exception as e:  # never a traceback to the client
            for u in reversed(ctx.undo):
                u()
            import traceback
            traceback.print_exc()
            return 500, proto_body("internal_error", f"Internal error: {type(e).__name__}"), {}

    def finish(self, ev: Evaluator, v: Any) -> Any:
        """Materialize sets in a result (a top-level set becomes its first page)."""
        if isinstance(v, SetVal):
            return S.materialize(ev, v, None, True)
        if isinstance(v, list):
            return [self.finish(ev, x) for x in v]
        if type(v) is dict:
            return {k: self.finish(ev, x) for k, x in v.items()}
        if isinstance(v, Ref):
            return ev.resolve(v)
        return v

    def stats_json(self, ctx: Ctx, t0: float) -> str:
        st = ctx.stats
        qt = int((time.monotonic() - t0) * 1000)
        return ('{"compute_ops":%d,"read_ops":%d,"write_ops":%d,"query_time_ms":%d,'
                '"contention_retries":0,"storage_bytes_read":%d,"storage_bytes_write":%d,'
                '"rate_limits_hit":[]}' % (1 + st.compute_ops // 50, st.read_ops, st.write_ops, qt,
                                           st.bytes_read, st.bytes_write))

    def schema_version(self) -> int:
        return max([c.ts for c in self.store.colls.values()], default=0)

    @staticmethod
    def tags_json(tags: Optional[Dict[str, str]]) -> str:
        if tags is None:
            return ""
        return ',"query_tags":' + json.dumps(",".join(f"{k}={v}" for k, v in tags.items()))

    # ------------------------------------------------------------ feeds
    def feed(self, body: bytes, headers: Dict[str, str], stall_s: float = 0.0) -> Response:
        """`stall_s`: a `stall` fault holds the read this long."""
        from .feeds import handle_feed
        try:
            principal = self.principal(headers)
        except ProtocolError as e:
            return e.status, proto_body(e.code, e.message), e.headers
        return handle_feed(self, body, headers, principal, stall_s)
