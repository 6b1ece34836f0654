"""The front end: POST / requests and their answers."""
from __future__ import annotations

import json
import re
import time
import traceback
from typing import Any, Dict, List, Tuple

from .. import sets as S
from ..auth import parse_authorization
from ..errors import QueryError
from ..evaluator import Ctx, Evaluator, Stats
from ..storage import Store
from ..txnlock import WriteNeeded
from ..wire import DecodeError, java_double, load_request_json
from .encoding import Encoder
from .query import V4Query
from .values import BUILD, Response, V4Error, bad_expr

# A body with none of these keys runs first as a read (shared lock); one
# that writes all the same (a lambda's body held in a variable, say) stops
# before its first write and runs again alone.
MAY_WRITE_RE = re.compile(rb'"(?:create\w*|update|replace|delete|insert|remove)"\s*:')


# ================================================================== front end
def error_body(errors: List[Dict[str, Any]]) -> str:
    return json.dumps({"errors": errors}, separators=(",", ":"))


def err_json(e: V4Error, enc: Encoder) -> Dict[str, Any]:
    d: Dict[str, Any] = {}
    if e.position is not None:
        d["position"] = e.position
    d["code"] = e.code
    d["description"] = e.description
    for k, v in e.extra.items():
        d[k] = enc.enc(v)
    return d


FAULT_BODIES = {
    400: ("invalid argument", "Invalid request."),
    401: ("unauthorized", "Unauthorized"),
    403: ("permission denied", "Insufficient privileges to perform the action."),
    404: ("instance not found", "Document not found."),
    409: ("contended transaction", "Transaction was aborted due to detection of concurrent modification."),
    413: ("request size exceeded", "Request body too large."),
    429: ("too many requests", "Rate limit exceeded"),
    500: ("internal server error", "Internal server error."),
    502: ("bad gateway", "Bad gateway."),
    503: ("unavailable", "Service unavailable."),
    504: ("gateway timeout", "Gateway timeout."),
}


def dump_json(value: Any) -> str:
    """A response body as Fauna's v4 JSON writer makes it: compact, and
    doubles as Java's Double.toString writes them (1.0E10, not 10000000000.0;
    NaN and infinities are already strings)."""
    out: List[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, float):
            out.append(java_double(v))
        elif isinstance(v, dict):
            out.append("{")
            for i, (k, x) in enumerate(v.items()):
                if i:
                    out.append(",")
                out.append(json.dumps(k))
                out.append(":")
                walk(x)
            out.append("}")
        elif isinstance(v, list):
            out.append("[")
            for i, x in enumerate(v):
                if i:
                    out.append(",")
                walk(x)
            out.append("]")
        else:
            out.append(json.dumps(v))

    walk(value)
    return "".join(out)


def fault_body_v4(status: int) -> str:
    code, msg = FAULT_BODIES.get(status, ("internal server error", "Injected fault."))
    return error_body([{"position": [], "code": code, "description": msg}])


class V4Api:
    def __init__(self, store: Store, auth: Any) -> None:
        self.store = store
        self.auth = auth

    def handle(self, body: bytes, headers: Dict[str, str], stall_s: float = 0.0) -> Response:
        """`stall_s`: a `stall` fault holds the transaction this long."""
        t0 = time.monotonic()
        ver_h = (headers.get("x-faunadb-api-version") or "").strip()
        v4 = ver_h.startswith("4") or ver_h.startswith("5")
        secret = parse_authorization(headers.get("authorization"))
        principal = self.auth.authenticate(secret) if secret is not None else None
        if principal is None:
            return 401, error_body([{"code": "unauthorized", "description": "Unauthorized"}]), \
                {"WWW-Authenticate": 'Basic realm="Unauthorized"', "x-faunadb-build": BUILD}
        try:
            expr = load_request_json(body) if body else None
        except DecodeError as e:
            return 400, error_body([{"position": [], "code": "invalid expression",
                                     "description": f"Request body is invalid: {e}"}]), \
                {"x-faunadb-build": BUILD}
        except (ValueError, UnicodeDecodeError):
            return 400, error_body([{"position": [], "code": "invalid expression",
                                     "description": "Request body is not valid JSON."}]), \
                {"x-faunadb-build": BUILD}
        run = (expr, body, principal, v4, stall_s)
        out = None
        if not MAY_WRITE_RE.search(body or b""):
            try:
                with self.store.lock.shared():
                    out = self.transact(*run, read_only=True)
            except WriteNeeded:
                out = None      # it came to a write, with nothing changed: again, alone
        if out is None:
            with self.store.lock:
                out = self.transact(*run, read_only=False)
        status, text, txn_ts, st = out
        qt = int((time.monotonic() - t0) * 1000)
        hdrs = {
            "x-txn-time": str(txn_ts),
            "x-last-txn-time": str(txn_ts),
            "x-faunadb-build": BUILD,
            "x-query-bytes-in": str(len(body or b"")),
            "x-query-bytes-out": str(len(text.encode())),
            "x-read-ops": str(st.read_ops),
            "x-compute-ops": str(1 + st.compute_ops // 50),
            "x-write-ops": str(st.write_ops),
            "x-byte-read-ops": str(st.read_ops),
            "x-byte-write-ops": str(st.write_ops),
            "x-storage-bytes-read": str(st.bytes_read),
            "x-storage-bytes-write": str(st.bytes_write),
            "x-txn-retries": "0",
            "x-query-time": str(qt),
        }
        return status, text, hdrs


    def transact(self, expr: Any, body: bytes, principal: Any, v4: bool, stall_s: float,
                 read_only: bool) -> Tuple[int, str, int, Stats]:
        """Evaluate the expression as one transaction: (status, body, txn
        time, stats); a failed one is undone."""
        store = self.store
        enc = Encoder(v4)
        ctx = Ctx(store, principal, "", False)
        ctx.read_only = read_only
        ev = Evaluator(ctx, S, self.auth)
        q = V4Query(self, ctx, ev)
        q.api_flag = v4
        try:
            if body is None or body.strip() == b"":
                raise bad_expr([], "Request body is empty.")
            result = q.eval(expr, {}, [])
            if stall_s:
                time.sleep(stall_s)     # a `stall` fault: a slow transaction
            text = dump_json({"resource": enc.enc(result)})
            if ctx.write_ts is not None and ctx.stats.write_ops:
                store.last_ts = max(store.last_ts, ctx.write_ts)
                return self.created(expr, result), text, ctx.write_ts, ctx.stats
            return 200, text, store.last_ts if store.logical else ctx.snap, ctx.stats
        except (V4Error, QueryError) as e:
            if isinstance(e, QueryError):
                status_map = {"permission_denied": (403, "permission denied")}
                st, code = status_map.get(e.code, (400, "invalid argument"))
                e = V4Error(st, code, e.message, [])
            status, text = e.status, error_body([err_json(e, enc)])
        except RecursionError:
            status, text = 400, error_body([{"position": [], "code": "invalid expression",
                                             "description": "Expression is too deeply nested."}])
        except Exception as e:  # never a traceback to the client
            traceback.print_exc()
            status, text = 500, error_body([{"position": [], "code": "internal server error",
                                             "description": f"Internal error: {type(e).__name__}"}])
        for u in reversed(ctx.undo):
            u()
        return status, text, store.last_ts if store.logical else max(ctx.snap, store.last_ts), \
            ctx.stats

    @staticmethod
    def created(expr: Any, result: Any) -> int:
        """201 for a create that made an instance, else 200."""
        if isinstance(result, dict) and "ref" in result and isinstance(expr, dict) and \
                next(iter(expr), None) in ("create", "create_collection", "create_class",
                                           "create_index", "create_key", "create_role"):
            return 201
        return 200
