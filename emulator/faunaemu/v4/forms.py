"""The forms of the expression language and their keys."""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

from ..values import Ref
from .values import KINDS, KIND_ALIASES, SRef, bad_expr


# ================================================================== forms
# name -> (required keys, optional keys)
FORMS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "object": (("object",), ()),
    "let": (("let", "in"), ()),
    "var": (("var",), ()),
    "lambda": (("lambda", "expr"), ()),
    "if": (("if", "then", "else"), ()),
    "do": (("do",), ()),
    "abort": (("abort",), ()),
    "at": (("at", "expr"), ()),
    "map": (("map", "collection"), ()),
    "foreach": (("foreach", "collection"), ()),
    "filter": (("filter", "collection"), ()),
    "ref": (("ref",), ("id", "scope")),
    "collection": (("collection",), ("scope",)),
    "class": (("class",), ("scope",)),
    "index": (("index",), ("scope",)),
    "role": (("role",), ("scope",)),
    "database": (("database",), ("scope",)),
    "function": (("function",), ("scope",)),
    "collections": (("collections",), ()),
    "classes": (("classes",), ()),
    "indexes": (("indexes",), ()),
    "keys": (("keys",), ()),
    "roles": (("roles",), ()),
    "databases": (("databases",), ()),
    "functions": (("functions",), ()),
    "documents": (("documents",), ()),
    "match": (("match",), ("terms",)),
    "range": (("range", "from", "to"), ()),
    "reverse": (("reverse",), ()),
    "paginate": (("paginate",), ("size", "after", "before", "ts", "events", "sources", "cursor")),
    "get": (("get",), ("ts",)),
    "exists": (("exists",), ("ts",)),
    "select": (("select", "from"), ("default", "all")),
    "now": (("now",), ()),
    "time": (("time",), ()),
    "epoch": (("epoch", "unit"), ()),
    "date": (("date",), ()),
    "to_micros": (("to_micros",), ()),
    "to_millis": (("to_millis",), ()),
    "to_seconds": (("to_seconds",), ()),
    "new_id": (("new_id",), ()),
    "next_id": (("next_id",), ()),
    "create": (("create",), ("params",)),
    "update": (("update", "params"), ()),
    "replace": (("replace", "params"), ()),
    "delete": (("delete",), ()),
    "create_collection": (("create_collection",), ()),
    "create_class": (("create_class",), ()),
    "create_index": (("create_index",), ()),
    "create_key": (("create_key",), ()),
    "create_role": (("create_role",), ()),
    "equals": (("equals",), ()),
    "not": (("not",), ()),
    "and": (("and",), ()),
    "or": (("or",), ()),
    "add": (("add",), ()),
    "count": (("count",), ()),
    "is_null": (("is_null",), ()),
    "concat": (("concat",), ("separator",)),
}
FORM_INDEX: Dict[frozenset, str] = {}
for _n, (_req, _opt) in FORMS.items():
    FORM_INDEX[frozenset(_req)] = _n


def find_form(keys: frozenset) -> Optional[str]:
    for n, (req, opt) in FORMS.items():
        if set(req) <= keys and keys <= set(req) | set(opt):
            return n
    return None


def parse_ref_string(s: str, pos: List[Any]) -> Any:
    parts = s.split("/")
    if len(parts) == 1 and (parts[0] in KINDS or parts[0] in KIND_ALIASES):
        return SRef(None, KIND_ALIASES.get(parts[0], parts[0]))
    if len(parts) == 2 and parts[0] in ("classes", "collections") | KINDS:
        return SRef(KIND_ALIASES.get(parts[0], parts[0]), parts[1])
    if len(parts) == 3 and parts[0] in ("classes", "collections"):
        return Ref(parts[1], parts[2])
    raise bad_expr(pos, "Ref expected, String provided.")


