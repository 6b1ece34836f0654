"""Encoding values in v4's tagged JSON."""
from __future__ import annotations

import base64
import math
from typing import Any, Dict

from ..values import Doc, FDate, FTime, Legacy, Module, NullDoc, Ref
from .values import LambdaV, RawRef, SRef, SetV


# ================================================================== encoding
class Encoder:
    def __init__(self, v4: bool) -> None:
        self.coll_key = "collection" if v4 else "class"
        self.colls_id = "collections" if v4 else "classes"

    def native(self, name: str) -> Dict[str, Any]:
        if name == "collections":
            name = self.colls_id
        return {"@ref": {"id": name}}

    def sref(self, r: SRef) -> Dict[str, Any]:
        if r.kind is None:
            return self.native(r.name)
        return {"@ref": {"id": r.name, self.coll_key: self.native(r.kind)}}

    def enc(self, v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            if v != v or v in (math.inf, -math.inf):
                # JSON has no NaN/Infinity; Fauna's JSON writer (Jackson,
                # QUOTE_NON_NUMERIC_NUMBERS) quotes them
                return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")
            return v
        if isinstance(v, list):
            return [self.enc(x) for x in v]
        if isinstance(v, tuple):
            return [self.enc(x) for x in v]
        if isinstance(v, dict):
            out = {k: self.enc(x) for k, x in v.items()}
            if any(k.startswith("@") for k in v):
                return {"@obj": out}
            return out
        if isinstance(v, (Ref, Doc, NullDoc)):
            return {"@ref": {"id": v.id, self.coll_key: self.sref(SRef("collections", v.coll))}}
        if isinstance(v, SRef):
            return self.sref(v)
        if isinstance(v, RawRef):
            return {"@ref": v.payload}
        if isinstance(v, Legacy):
            return self.enc(v.value)
        if isinstance(v, Module):
            return self.sref(SRef("collections", v.name))
        if isinstance(v, FTime):
            return {"@ts": v.iso()}
        if isinstance(v, FDate):
            return {"@date": v.iso()}
        if isinstance(v, (bytes, bytearray)):
            return {"@bytes": base64.b64encode(bytes(v)).decode()}
        if isinstance(v, SetV):
            return {"@set": v.desc}
        if isinstance(v, LambdaV):
            return {"@query": v.raw}
        return None


