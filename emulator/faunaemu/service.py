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
from .values import FTime, Module, Page, Ref, SetVal
from .wire import DecodeError, RefResolver, dec_tagged, encoder, load_request_json

Response = Tuple[int, str, Dict[str, str]]
TAG_RE = re.compile(r"[a-zA-Z0-9_]+\Z")
MAX_BODY = 8 * 1024 * 1024


def proto_body(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":"))


def parse_bool(name: str, v: str) -> bool:
    lv = v.strip().lower()
    if lv in ("true", "false"):
        return lv == "true"
    raise ProtocolError(400, "invalid_request",
                        f"Invalid header '{name}': expected a boolean, received '{v}'.")


def parse_query_tags(v: str) -> Dict[str, str]:
    if len(v.encode()) > 3000:
        raise ProtocolError(400, "invalid_request",
                            "Invalid header 'x-query-tags': tags header exceeds 3000 bytes.")
    tags: Dict[str, str] = {}
    if v.strip() == "":
        return tags
    for pair in v.split(","):
        if "=" not in pair:
            raise ProtocolError(400, "invalid_request",
                                f"Invalid header 'x-query-tags': invalid tag '{pair}'.")
        k, val = pair.split("=", 1)
        if not TAG_RE.match(k) or not TAG_RE.match(val) or len(k.encode()) > 40 \
                or len(val.encode()) > 80:
            raise ProtocolError(400, "invalid_request",
                                f"Invalid header 'x-query-tags': invalid tag '{pair}'. Keys must be "
                                f"at most 40 and values at most 80 characters of [a-zA-Z0-9_].")
        tags[k] = val
    if len(tags) > 25:
        raise ProtocolError(400, "invalid_request",
                            "Invalid header 'x-query-tags': too many tags (at most 25).")
    return tags


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


def ref_resolver(ev: Evaluator) -> Any:
    """For the encoder: whether a stored document ref's document exists for
    this query's reader, else the cause a null document shows."""
    store, ctx, auth = ev.store, ev.ctx, ev.auth

    def cause(r: Ref, snap: Optional[int]) -> Optional[str]:
        c = store.coll(r.coll)
        if c is None:
            return "not found"
        if not auth.can(ctx, r.coll, "read"):
            return "permission denied"
        try:
            idn = int(r.id)
        except ValueError:
            return "not found"
        return None if c.visible(idn, ctx.snap if snap is None else snap) is not None \
            else "not found"
    return cause


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
            raise ProtocolError(401, "unauthorized", "Invalid token, unable to validate request.",
                                {"WWW-Authenticate": "Bearer"})
        return p

    # ------------------------------------------------------------ query
    def query(self, body: bytes, headers: Dict[str, str]) -> Response:
        t0 = time.monotonic()
        try:
            principal = self.principal(headers)
            fmt = headers.get("x-format", "simple").strip().lower() or "simple"
            if fmt not in ("simple", "tagged", "decorated"):
                raise ProtocolError(400, "invalid_request",
                                    f"Invalid header 'x-format': expected 'simple', 'tagged' or "
                                    f"'decorated', received '{fmt}'.")
            tagged = fmt != "simple"
            timeout_ms = 120_000
            if "x-query-timeout-ms" in headers:
                v = headers["x-query-timeout-ms"].strip()
                if not re.fullmatch(r"\d+", v) or not (1 <= int(v) <= 600_000):
                    raise ProtocolError(400, "invalid_request",
                                        f"Invalid header 'x-query-timeout-ms': expected an integer "
                                        f"between 1 and 600000, received '{v}'.")
                timeout_ms = int(v)
            if "x-max-contention-retries" in headers:
                v = headers["x-max-contention-retries"].strip()
                if not re.fullmatch(r"\d+", v) or int(v) > 7:
                    raise ProtocolError(400, "invalid_request",
                                        f"Invalid header 'x-max-contention-retries': expected an "
                                        f"integer between 0 and 7, received '{v}'.")
            for h in ("x-linearized", "x-typecheck"):
                if h in headers:
                    parse_bool(h, headers[h])
            if "x-last-txn-ts" in headers:
                v = headers["x-last-txn-ts"].strip()
                if not re.fullmatch(r"-?\d+", v):
                    raise ProtocolError(400, "invalid_request",
                                        f"Invalid header 'x-last-txn-ts': expected an integer, "
                                        f"received '{v}'.")
            tags = parse_query_tags(headers["x-query-tags"]) if "x-query-tags" in headers else None
            if len(body) > MAX_BODY:
                raise ProtocolError(413, "request_size_exceeded",
                                    f"Request body exceeds the maximum of {MAX_BODY} bytes.")
            try:
                req = load_request_json(body)
            except (ValueError, UnicodeDecodeError) as e:
                raise ProtocolError(400, "invalid_request", f"Invalid request body: {e}")
            if not isinstance(req, dict) or "query" not in req:
                raise ProtocolError(400, "invalid_request",
                                    "Invalid request body: Value for key query not found.")
            src, values = self.template(req["query"])
            args = req.get("arguments") or {}
            if not isinstance(args, dict):
                raise ProtocolError(400, "invalid_request",
                                    "Invalid request body: arguments must be an object.")
            try:
                argv = {k: (dec_tagged(v) if tagged else v) for k, v in args.items()}
            except DecodeError as e:
                raise ProtocolError(400, "invalid_request", f"Invalid request body: {e}")
        except ProtocolError as e:
            return e.status, proto_body(e.code, e.message), e.headers
        return self.run(src, values, argv, principal, tagged, tags, t0, timeout_ms)

    def template(self, q: Any) -> Tuple[str, Dict[str, Any]]:
        """Flatten a query (string or template) to source text; value parts
        become `$vN` variables so no user value is spliced into FQL text."""
        if isinstance(q, str):
            return q, {}
        values: Dict[str, Any] = {}
        out: List[str] = []

        def part(p: Any) -> None:
            if isinstance(p, str):
                out.append(p)
            elif isinstance(p, dict) and len(p) == 1 and "fql" in p and isinstance(p["fql"], list):
                for x in p["fql"]:
                    part(x)
            elif isinstance(p, dict) and len(p) == 1 and "value" in p:
                name = f"$v{len(values)}"
                try:
                    values[name] = dec_tagged(p["value"])
                except DecodeError as e:
                    raise ProtocolError(400, "invalid_request", f"Invalid request body: {e}")
                out.append(name)
            elif isinstance(p, dict) and len(p) == 1 and "array" in p and isinstance(p["array"], list):
                out.append("[")
                for i, x in enumerate(p["array"]):
                    if i:
                        out.append(", ")
                    part(x)
                out.append("]")
            elif isinstance(p, dict) and len(p) == 1 and "object" in p and isinstance(p["object"], dict):
                out.append("{")
                for i, (k, x) in enumerate(p["object"].items()):
                    if i:
                        out.append(", ")
                    out.append(json.dumps(k) + ": ")
                    part(x)
                out.append("}")
            else:
                raise ProtocolError(400, "invalid_request",
                                    "Invalid request body: invalid query template part.")

        if not isinstance(q, dict) or "fql" not in q:
            raise ProtocolError(400, "invalid_request",
                                "Invalid request body: query must be a string or an fql template.")
        part(q)
        return "".join(out), values

    def run(self, src: str, values: Dict[str, Any], argv: Dict[str, Any], principal: Any,
            tagged: bool, tags: Optional[Dict[str, str]], t0: float, timeout_ms: int) -> Response:
        enc = encoder(tagged)
        store = self.store
        allow_dollar = bool(values)
        with store.lock:
            ctx = Ctx(store, principal, src, allow_dollar, deadline=t0 + timeout_ms / 1000.0)
            ev = Evaluator(ctx, S, self.auth)
            try:
                root = parse_query(src, allow_dollar)
                env_vars = {k: S.resolve_deep(ev, v) for k, v in values.items()}
                env_vars.update({k: S.resolve_deep(ev, v) for k, v in argv.items()})
                result = ev.run(root, Env(env_vars))
                result = self.finish(ev, result)
                with RefResolver(ref_resolver(ev)):
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
                        with RefResolver(ref_resolver(ev)):
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
    def feed(self, body: bytes, headers: Dict[str, str]) -> Response:
        from .feeds import handle_feed
        try:
            principal = self.principal(headers)
        except ProtocolError as e:
            return e.status, proto_body(e.code, e.message), e.headers
        return handle_feed(self, body, headers, principal)
