"""Fault injection and the request log of the test control API.

A rule applies to the next matching requests: an HTTP status, a delay
before the request is served (`delay`) or inside its transaction, holding
its share of the store lock (`stall`), a dropped or cut connection, a
malformed or altered body.
"""
from __future__ import annotations

import json
import re
import threading
from typing import Any, Dict, List, Optional

from . import sets as S

KINDS = {"status", "delay", "stall", "drop", "drop_mid_body", "malformed", "truncated",
         "content_type", "body", "reverse_members"}
STATUS_BODIES = {
    400: ("invalid_request", "Invalid request."),
    401: ("unauthorized", "Invalid token, unable to validate request."),
    403: ("forbidden", "Forbidden."),
    409: ("contended_transaction",
          "Transaction was aborted due to detection of concurrent modification."),
    413: ("request_size_exceeded", "Request body too large."),
    429: ("limit_exceeded", "Rate limit exceeded"),
    440: ("time_out", "Query timed out."),
    500: ("internal_error", "Internal error."),
    502: ("bad_gateway", "Bad gateway."),
    503: ("time_out", "Read timed out."),
    504: ("gateway_timeout", "Gateway timeout."),
}
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{40,}")


def fault_body(status: int) -> str:
    code, msg = STATUS_BODIES.get(status, ("internal_error", "Injected fault."))
    body: Dict[str, Any] = {"error": {"code": code, "message": msg}}
    if status == 429:
        body["stats"] = {"compute_ops": 0, "read_ops": 0, "write_ops": 0, "query_time_ms": 0,
                         "contention_retries": 0, "storage_bytes_read": 0,
                         "storage_bytes_write": 0, "rate_limits_hit": ["read"]}
    return json.dumps(body)


def reverse_members(text: str) -> str:
    """The same JSON with the members of every object in reverse order:
    JSON gives member order no meaning, so a client must not depend on it
    (e.g. on a page's "after" following its "data")."""
    value = json.loads(text, object_pairs_hook=lambda pairs: dict(reversed(pairs)))
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def page_number(body: bytes, key: bytes) -> int:
    """1 for a first page; for `Set.paginate(cursor)` the page the cursor asks for."""
    try:
        text = body.decode("utf-8", "replace")
    except Exception:
        return 1
    if "paginate" not in text:
        return 1
    for m in _TOKEN_RE.finditer(text):
        cur = S.unsign(m.group(0), key)
        if isinstance(cur, dict) and "g" in cur:
            return int(cur["g"])
    return 1


class Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: List[Dict[str, Any]] = []
        self.next_id = 1

    def add(self, spec: Dict[str, Any]) -> Dict[str, Any]:
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}")
        if kind == "status" and not isinstance(spec.get("status"), int):
            raise ValueError("status faults need an integer `status`")
        if kind in ("delay", "stall") and not isinstance(spec.get("delay_ms"), (int, float)):
            raise ValueError(f"{kind} faults need `delay_ms`")
        if kind == "content_type" and not isinstance(spec.get("content_type"), str):
            raise ValueError("content_type faults need a string `content_type`")
        if kind == "body" and not isinstance(spec.get("body"), str):
            raise ValueError("body faults need a string `body`")
        if kind == "body" and not isinstance(spec.get("status", 200), int):
            raise ValueError("a body fault's `status` must be an integer")
        count = spec.get("count", 1)
        skip = spec.get("skip", 0)
        if not isinstance(count, int) or count < 1 or not isinstance(skip, int) or skip < 0:
            raise ValueError("`count` must be >= 1 and `skip` >= 0")
        rule = {"id": self.next_id, "kind": kind, "status": spec.get("status"),
                "delay_ms": spec.get("delay_ms", 0), "count": count, "skip": skip,
                "path": spec.get("path"), "page": spec.get("page"),
                "match": spec.get("match"), "then": spec.get("then"),
                "content_type": spec.get("content_type"), "body": spec.get("body")}
        with self.lock:
            self.next_id += 1
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self.lock:
            self.rules = []

    def list(self) -> List[Dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.rules]

    def take(self, path: str, body: bytes, key: bytes) -> Optional[Dict[str, Any]]:
        """The fault to apply to this request, if any (consumes one use);
        `key` checks the cursors a `page` rule looks for."""
        with self.lock:
            if not self.rules:
                return None
            page = None
            for r in self.rules:
                if r["path"] is not None and r["path"] != path:
                    continue
                if r["match"] is not None and r["match"].encode() not in body:
                    continue
                if r["page"] is not None:
                    if page is None:
                        page = page_number(body, key)
                    if page != r["page"]:
                        continue
                if r["skip"] > 0:
                    r["skip"] -= 1
                    continue
                r["count"] -= 1
                if r["count"] <= 0:
                    self.rules.remove(r)
                return dict(r)
        return None


class RequestLog:
    """Data requests, in the order they completed; each entry's `seq`
    numbers the requests in the order they arrived (control calls too), so
    a reader can keep only the requests that arrived after a given one."""

    def __init__(self, cap: int = 10000) -> None:
        self.lock = threading.Lock()
        self.entries: List[Dict[str, Any]] = []
        self.cap = cap
        self.seq = 0

    def next_seq(self) -> int:
        with self.lock:
            self.seq += 1
            return self.seq

    def add(self, entry: Dict[str, Any]) -> None:
        with self.lock:
            self.entries.append(entry)
            if len(self.entries) > self.cap:
                del self.entries[: len(self.entries) - self.cap]

    def all(self) -> List[Dict[str, Any]]:
        with self.lock:
            return list(self.entries)

    def clear(self) -> None:
        with self.lock:
            self.entries = []
