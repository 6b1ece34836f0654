"""The legacy FQL v4 API: `POST /` with the JSON expression language.

It shares the v10 store: a v4 collection is a v10 collection, a v4
document's `data` is the v10 document's user fields and its ref id is the
v10 id.  v4 indexes are standalone, globally named objects kept in a
per-store registry (`V4State`); each holds a storage.Index that is brought
up to date lazily from the source collection's commit log before a read, so
v10 writes are seen by v4 index reads and aborted transactions (which pop
the log) trigger a rebuild.

Wire shapes: success `{"resource": value}`; errors
`{"errors": [{"position", "code", "description"}]}`; tagged values `@ref`
(nested), `@ts`, `@date`, `@bytes`, `@set`, `@query`, `@obj`.  With
`X-FaunaDB-API-Version: 4` refs use `collection`/`collections`; without the
header (API 2.1) `class`/`classes`.

The package: values, state (v4 indexes), encoding, forms, ranges (the ids
a Range over Documents keeps), query (the evaluator), api (the front end).
"""
from .api import V4Api, fault_body_v4

__all__ = ["V4Api", "fault_body_v4"]
