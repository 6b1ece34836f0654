"""The document ids a `Range` over `Documents(Collection(c))` keeps.

The core's RangeFunction takes any set (SetFunctions.scala); the entries of
Documents are their refs, so a bound is a prefix of one value compared in
the order of values (RangeSet.compareCursors): inclusive at both ends, an
empty bound no bound, a bound longer than an entry (`[ref, x]`) after that
entry, and a bound that is no ref of the collection before or after all of
its refs as its type sorts.  Bounds become an id interval here, so that a
range is read with bisect over the collection's sorted ids.
"""
from __future__ import annotations

from typing import Any, List, Tuple

from ..storage import skey

ID_END = 2 ** 63      # above every document id


def lower_id(bound: List[Any], coll: str) -> int:
    """The smallest id `bound`, as a lower bound, keeps."""
    if not bound:
        return -1
    b0 = skey(bound[0])
    if b0[:2] == (7, coll):
        if len(b0) > 3:             # a ref with an id that is no number: after id 0
            return 1
        return b0[2] if len(bound) == 1 else b0[2] + 1
    return -1 if b0 < (7, coll) else ID_END + 1


def upper_id(bound: List[Any], coll: str) -> int:
    """The largest id `bound`, as an upper bound, keeps."""
    if not bound:
        return ID_END
    b0 = skey(bound[0])
    if b0[:2] == (7, coll):
        if len(b0) > 3:
            return 0
        return b0[2] if len(bound) == 1 else b0[2] - 1
    return -1 if b0 < (7, coll) else ID_END


def id_interval(bounds: List[Tuple[List[Any], List[Any], bool]], coll: str) -> Tuple[int, int]:
    """[lo, hi] of ids inside every range of `bounds`: (from, to, reversed)
    each; a range over the reversed set runs from its high end to its low
    one, so its `from` is the upper bound."""
    lo, hi = -1, ID_END
    for frm, to, rev in bounds:
        if rev:
            frm, to = to, frm
        lo = max(lo, lower_id(frm, coll))
        hi = min(hi, upper_id(to, coll))
    return lo, hi
