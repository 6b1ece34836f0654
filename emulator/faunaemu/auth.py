"""Secrets, roles and privilege checks.

The `--secret` given on the command line is an admin key.  Keys made with
`Key.create` carry a builtin role (admin, server, server-readonly) or a user
role whose privileges list per-collection actions.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Dict, Optional

from .errors import QueryError

ACTIONS = ("read", "write", "create", "delete")


@dataclass
class Principal:
    role: str
    is_admin: bool = False


def parse_authorization(header: Optional[str]) -> Optional[str]:
    """The secret from `Bearer <secret>` or Basic `secret:` (base64)."""
    if not header:
        return None
    parts = header.strip().split(None, 1)
    if len(parts) != 2:
        return None
    scheme, val = parts[0].lower(), parts[1].strip()
    if scheme == "bearer":
        return val or None
    if scheme == "basic":
        try:
            dec = base64.b64decode(val, validate=True).decode()
        except Exception:
            return None
        return dec.split(":", 1)[0] or None
    return None


class Auth:
    def __init__(self, store: Any, admin_secret: str) -> None:
        self.store = store
        self.admin_secret = admin_secret

    def authenticate(self, secret: Optional[str]) -> Optional[Principal]:
        if secret is None:
            return None
        if secret == self.admin_secret:
            return Principal("admin", True)
        rec = self.store.keys.get(secret)
        if rec is None:
            return None
        role = rec["role"]
        if role != "admin" and role not in ("server", "server-readonly") and role not in self.store.roles:
            return None
        return Principal(role, role == "admin")

    # -- checks used by the evaluator ------------------------------------
    def can(self, ctx: Any, coll: str, action: str) -> bool:
        p: Principal = ctx.principal
        if p.role in ("admin", "server"):
            return True
        if p.role == "server-readonly":
            return action == "read"
        role = self.store.roles.get(p.role)
        if role is None:
            return False
        for priv in role.get("privileges") or []:
            if priv.get("resource") != coll:
                continue
            acts = priv.get("actions") or {}
            a = acts.get(action)
            if a is True:
                return True
        return False

    def need(self, ctx: Any, coll: str, action: str) -> None:
        if not self.can(ctx, coll, action):
            raise QueryError("permission_denied", "Insufficient privileges to perform the action.")

    def need_schema(self, ctx: Any) -> None:
        if ctx.principal.role not in ("admin", "server"):
            raise QueryError("permission_denied", "Insufficient privileges to perform the action.")

    def need_admin(self, ctx: Any) -> None:
        if ctx.principal.role != "admin":
            raise QueryError("permission_denied", "Insufficient privileges to perform the action.")
