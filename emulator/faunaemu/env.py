"""Variable scopes of a query: a leaf module, so that the evaluator and
the sets it drives share one Env without importing each other."""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple


class Env:
    __slots__ = ("vars", "parent")

    def __init__(self, vars: Dict[str, Any], parent: Optional["Env"] = None) -> None:
        self.vars = vars
        self.parent = parent

    def lookup(self, name: str) -> Tuple[bool, Any]:
        e: Optional[Env] = self
        while e is not None:
            if name in e.vars:
                return True, e.vars[name]
            e = e.parent
        return False, None
