"""Values of the v4 language: refs, sets, lambdas, errors."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from ..values import FDate, FTime, Ref


Response = Tuple[int, str, Dict[str, str]]
BUILD = "4.0.0-emulator"
KINDS = {"collections", "indexes", "keys", "roles", "databases", "functions", "tokens",
         "credentials", "access_providers"}
KIND_ALIASES = {"classes": "collections"}
DEFAULT_PAGE = 64
RANK = {"remove": 0, "add": 1, "create": 0, "update": 1, "delete": 2}
MAX_PAGE = 100_000


# ================================================================== values
class SRef:
    """A schema ref (`kind` e.g. "collections", `name`) or, with kind None,
    a native class ref such as `collections`/`indexes` (`name` holds it)."""
    __slots__ = ("kind", "name")

    def __init__(self, kind: Optional[str], name: str) -> None:
        self.kind = kind
        self.name = name

    def __eq__(self, o: object) -> bool:
        return isinstance(o, SRef) and o.kind == self.kind and o.name == self.name

    def __hash__(self) -> int:
        return hash(("s", self.kind, self.name))

    def path(self) -> str:
        return self.name if self.kind is None else f"{self.kind}/{self.name}"


class RawRef:
    """A ref the engine does not resolve but stores and returns verbatim:
    one whose parent is not a native class or a collection (a ref nested
    deeper than a document ref, a scoped ref with a `database`).  `payload`
    is the JSON inside `@ref`, with its nested values as sent."""
    __slots__ = ("payload",)

    def __init__(self, payload: Dict[str, Any]) -> None:
        self.payload = payload

    def __eq__(self, o: object) -> bool:
        return isinstance(o, RawRef) and o.payload == self.payload

    def __hash__(self) -> int:
        return hash(json.dumps(self.payload, sort_keys=True))


def is_ref_json(x: Any, depth: int = 0) -> bool:
    """Is x a well-formed `@ref` payload (id string; collection/class and
    database, when present, refs themselves)?"""
    if depth > 16 or not isinstance(x, dict) or not isinstance(x.get("id"), str):
        return False
    if not set(x) <= {"id", "collection", "class", "database"}:
        return False
    for k in ("collection", "class", "database"):
        if k in x:
            p = x[k]
            if not (isinstance(p, dict) and len(p) == 1 and "@ref" in p and
                    is_ref_json(p["@ref"], depth + 1)):
                return False
    return True


class SetV:
    """A set value: `desc` is the set's wire expression (for `@set`), `spec`
    the evaluated description the pager reads."""
    __slots__ = ("desc", "spec")

    def __init__(self, desc: Any, spec: Dict[str, Any]) -> None:
        self.desc = desc
        self.spec = spec


class LambdaV:
    __slots__ = ("params", "expr", "env", "raw")

    def __init__(self, params: Any, expr: Any, env: Dict[str, Any], raw: Any) -> None:
        self.params = params
        self.expr = expr
        self.env = env
        self.raw = raw


class V4Error(Exception):
    def __init__(self, status: int, code: str, description: str,
                 position: Optional[List[Any]] = None, extra: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.position = position
        self.extra = extra or {}


def bad_expr(pos: List[Any], msg: str) -> V4Error:
    return V4Error(400, "invalid expression", msg, list(pos))


def bad_arg(pos: List[Any], msg: str) -> V4Error:
    return V4Error(400, "invalid argument", msg, list(pos))


def type_name(v: Any) -> str:
    if v is None:
        return "Null"
    if isinstance(v, bool):
        return "Boolean"
    if isinstance(v, int):
        return "Integer"
    if isinstance(v, float):
        return "Number"
    if isinstance(v, str):
        return "String"
    if isinstance(v, list):
        return "Array"
    if isinstance(v, dict):
        return "Object"
    if isinstance(v, FTime):
        return "Time"
    if isinstance(v, FDate):
        return "Date"
    if isinstance(v, bytes):
        return "Bytes"
    if isinstance(v, (Ref, SRef, RawRef)):
        return "Ref"
    if isinstance(v, SetV):
        return "Set"
    if isinstance(v, LambdaV):
        return "Lambda"
    return "Value"


