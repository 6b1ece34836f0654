"""Conformance of the emulator to the Fauna core's own FQL v10 specs.

Each case is derived from a named spec of the public core source
(Stoppedwumm/faunadb; `api:` is ext/api/src/test/scala/fql2/, `model:` is
ext/model/src/test/scala/fql2/), named in the comment above it, and asserts
what that spec asserts: status, error code, message and data.  Where a spec
leaves a detail open the comment says which core source decided it.  What
still differs from the core is listed in docs/emulator-conformance.md.

Run from the repo root:  python3 -m unittest emulator.tests.test_conformance
"""
from __future__ import annotations

import http.client
import json
import unittest

from .support import EmulatorCase


SECRET = "conformance-secret"


class CoreSpecCase(EmulatorCase):
    """An in-process emulator (logical clock), emptied before each case."""
    secret = SECRET

    def post(self, path: str, body: object, secret: str | None = SECRET,
             headers: dict | None = None, raw: bytes | None = None) -> tuple:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {"Content-Type": "application/json"}
        if secret is not None:
            h["Authorization"] = f"Bearer {secret}"
        h.update(headers or {})
        c.request("POST", path, raw if raw is not None else json.dumps(body), h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data)

    def query(self, fql: str, fmt: str = "simple", secret: str = SECRET,
              headers: dict | None = None) -> tuple:
        h = {"x-format": fmt}
        h.update(headers or {})
        return self.post("/query/1", {"query": fql}, secret, h)

    def ok(self, fql: str, fmt: str = "simple", secret: str = SECRET,
           headers: dict | None = None) -> object:
        st, b = self.query(fql, fmt, secret, headers)
        self.assertEqual(st, 200, b)
        return b["data"]

    def err(self, fql: str, code: str, message: str, secret: str = SECRET,
            headers: dict | None = None) -> dict:
        """A query error: the core answers every query failure with 400."""
        st, b = self.query(fql, secret=secret, headers=headers)
        self.assertEqual((st, b["error"]["code"], b["error"]["message"]), (400, code, message), b)
        return b

    def paged(self, first: dict, secret: str = SECRET) -> list:
        """Every element of a set, following `after` cursors."""
        out, page = list(first["data"]), first
        while page.get("after"):
            page = self.ok(f"Set.paginate({json.dumps(page['after'])})", secret=secret)
            out.extend(page["data"])
        return out


# ---------------------------------------------------------------- ranges and snapshots
class RangesAndSnapshots(CoreSpecCase):
    def make_users(self, n: int) -> list:
        self.ok("Collection.create({ name: 'User', indexes: { fooRange: { values: "
                "[{ field: '.foo' }] } } })")
        return self.ok(f"Set.sequence(0, {n}).toArray().map(i => User.create({{ foo: i }}).id)")

    # model: FQL2SetsSpec.scala, "can range with document id": a document, its
    # id, a decimal string and a number give the same inclusive range.
    def test_all_range_by_document_id(self) -> None:
        ids = self.make_users(5)
        first, third = ids[0], ids[2]
        forms = [f"from: User.byId('{first}'), to: User.byId('{third}')",
                 f"from: User.byId('{first}')!.id, to: User.byId('{third}')!.id",
                 f"from: '{first}', to: '{third}'",
                 f"from: {first}, to: {third}"]
        for f in forms:
            with self.subTest(f):
                self.assertEqual(self.ok(f"User.all({{ {f} }}).map(.id).toArray()"), ids[:3])

    # model: FQL2SetsSpec.scala, "can range with document id" with "can
    # paginate a range": an id range pages by cursor, forward and reversed,
    # and adjacent ranges split a collection without gap or overlap
    def test_paginate_document_id_ranges(self) -> None:
        ids = self.make_users(20)
        lo, hi = ids[3], ids[16]
        page = self.ok(f"User.all({{ from: '{lo}', to: '{hi}' }}).pageSize(3).map(.id)")
        self.assertEqual(len(page["data"]), 3)
        self.assertEqual(self.paged(page), ids[3:17])
        page = self.ok(f"User.all({{ from: '{lo}', to: '{hi}' }}).reverse().pageSize(3).map(.id)")
        self.assertEqual(self.paged(page), ids[16:2:-1])
        mid = int(ids[10])
        left = self.ok(f"User.all({{ to: {mid - 1} }}).map(.id).toArray()")
        right = self.ok(f"User.all({{ from: {mid} }}).map(.id).toArray()")
        self.assertEqual(left + right, ids)

    # model: FQL2SetsSpec.scala, "fail to parse non-doc id for no-value index"
    def test_all_range_needs_a_document_id(self) -> None:
        self.make_users(1)
        self.err("User.all({ from: 'foo' })", "invalid_argument",
                 "invalid argument `range`: The `from` field must be a document id.")

    # model: FQL2SetsSpec.scala, "can paginate a range" (forward and reversed)
    def test_paginate_a_range(self) -> None:
        self.make_users(100)
        page = self.ok("User.fooRange({ from: 10, to: 90 }).map(.foo).paginate()")
        self.assertEqual(self.paged(page), list(range(10, 91)))
        page = self.ok("User.fooRange({ from: 10, to: 90 }).reverse().map(.foo).paginate()")
        self.assertEqual(self.paged(page), list(range(90, 9, -1)))

    # model: FQL2SetsSpec.scala, "out-of-order prefixes result in an empty set"
    def test_out_of_order_range_is_empty(self) -> None:
        self.make_users(100)
        self.assertEqual(self.ok("User.fooRange({ from: 90, to: 1 }).toArray()"), [])

    # model: FQL2SetsSpec.scala, "require left or right bound" and "fail to
    # parse invalid range argument"
    def test_range_needs_an_object_with_a_bound(self) -> None:
        self.make_users(1)
        msg = ("invalid argument `range`: should be an object contining `{ from }`, `{ to }`, "
               "or `{ from, to }` fields")
        self.err("User.fooRange({})", "invalid_argument", msg)
        self.err("User.fooRange(123)", "invalid_argument", msg)

    # model: FQL2SetsSpec.scala, "fail to parse non-persistable range bound"
    def test_range_bound_must_be_indexable(self) -> None:
        self.make_users(1)
        self.err("User.fooRange({ from: Collection })", "invalid_argument",
                 "invalid argument `range`: The `from` field should be either an indexable "
                 "value or an array of values")
        self.err("User.fooRange({ from: 1234, to: Collection })", "invalid_argument",
                 "invalid argument `range`: The `to` field should be either an indexable "
                 "value or an array of values")

    # model: FQL2SetsSpec.scala, "fail to parse long prefix"
    def test_range_prefix_no_longer_than_the_values(self) -> None:
        self.ok("Collection.create({ name: 'User', indexes: { flipAndFooRange: { values: "
                "[{ field: '.flip' }, { field: '.foo' }] } } })")
        self.err("User.flipAndFooRange({ from: [123, 456, 'not covered'] })", "invalid_argument",
                 "invalid argument `range`: The field `from` can have at most 2 values")

    # model: FQL2SetsSpec.scala, "can range with a prefix interval"
    def test_range_with_a_prefix_interval(self) -> None:
        self.ok("Collection.create({ name: 'User', indexes: { flipAndFooRange: { values: "
                "[{ field: '.flip' }, { field: '.foo' }] } } })")
        self.ok("Set.sequence(0, 100).toArray().map(i => User.create({ foo: i, "
                "flip: if (i % 2 == 0) 'heads' else 'tails' }))")
        got = self.ok("User.flipAndFooRange({ from: 'heads', to: ['heads', 30] }) "
                      "{ flip, foo }.toArray()")
        self.assertEqual(got, [{"flip": "heads", "foo": i} for i in range(0, 31, 2)])

    def products(self, order: str) -> dict:
        self.ok("Collection.create({ name: 'Products', indexes: { byPrice: { terms: "
                "[{ field: '.category' }], values: [{ field: '.price', order: '%s' }, "
                "{ field: '.count', order: '%s' }] } } })" % (order, order))
        ids = {}
        for name, fields in (("null", ""), ("price", ", price: 1000"), ("count", ", count: 200"),
                             ("all", ", price: 300, count: 300")):
            ids[name] = self.ok(f"Products.create({{ category: 'sports'{fields} }}).id")
        return ids

    def by_price(self, rng: str) -> list:
        return self.ok(f"Products.byPrice('sports', {rng}).map(.id).toArray()")

    # model: FQL2IndexSpec.scala, "documents with null value come after
    # documents in unbounded to queries and don't show up in bounded to
    # queries": null is a value, the greatest, not a missing bound.
    def test_null_bound_ascending(self) -> None:
        d = self.products("asc")
        every = [d["all"], d["price"], d["count"], d["null"]]
        self.assertEqual(self.by_price("{ from: 100 }"), every)
        self.assertEqual(self.by_price("{ from: [100, 100] }"), every)
        self.assertEqual(self.by_price("{ from: null }"), [d["count"], d["null"]])
        self.assertEqual(self.by_price("{ from: [null, null] }"), [d["null"]])
        self.assertEqual(self.by_price("{ to: 1000 }"), [d["all"], d["price"]])
        self.assertEqual(self.by_price("{ to: [1000, 1000] }"), [d["all"]])
        self.assertEqual(self.by_price("{ to: null }"), every)
        self.assertEqual(self.by_price("{ to: [null, null] }"), every)

    # model: FQL2IndexSpec.scala, "documents with null values in a desc index
    # show up first in unbounded from queries and don't show up in bounded
    # from queries"
    def test_null_bound_descending(self) -> None:
        d = self.products("desc")
        every = [d["null"], d["count"], d["price"], d["all"]]
        self.assertEqual(self.by_price("{ to: 100 }"), every)
        self.assertEqual(self.by_price("{ to: null }"), [d["null"], d["count"]])
        self.assertEqual(self.by_price("{ to: [null, null] }"), [d["null"]])
        self.assertEqual(self.by_price("{ from: 1000 }"), [d["price"], d["all"]])
        self.assertEqual(self.by_price("{ from: [1000, 1000] }"), [d["all"]])
        self.assertEqual(self.by_price("{ from: null }"), every)

    def alice_and_bob(self) -> tuple:
        self.ok("Collection.create({ name: 'User' })")
        st, b = self.query("let alice = User.create({ name: 'Alice' })\n"
                           "let bob = User.create({ name: 'Bob', other: alice })\n"
                           "{ alice: alice.id, bob: bob.id, ts: bob.ts }")
        self.assertEqual(st, 200, b)
        ids = b["data"]
        self.ok(f"User.byId('{ids['alice']}')!.update({{ name: 'Carol' }})\n"
                f"User.byId('{ids['bob']}')!.update({{ name: 'Joe' }})")
        return f"User.byId('{ids['bob']}')!", f"Time('{ids['ts']}')"

    # model: FQL2TemporalitySpec.scala, "lookup name in the past" and "lookup
    # other docs in the past": a document read in `at` keeps its snapshot,
    # and so do the documents its fields refer to, inside the block or out.
    def test_at_reads_references_at_its_time(self) -> None:
        bob, ts = self.alice_and_bob()
        self.assertEqual(self.ok(f"at ({ts}) {{ {bob}.name }}"), "Bob")
        self.assertEqual(self.ok(f"(at ({ts}) {{ {bob} }}).name"), "Bob")
        self.assertEqual(self.ok(f"{bob}.other.name"), "Carol")
        self.assertEqual(self.ok(f"at ({ts}) {{ {bob}.other.name }}"), "Alice")
        self.assertEqual(self.ok(f"(at ({ts}) {{ {bob}.other }}).name"), "Alice")
        self.assertEqual(self.ok(f"(at ({ts}) {{ {bob} }}).other.name"), "Alice")

    # model: FQL2TemporalitySpec.scala, "deleting a doc should work"
    def test_at_reads_a_deleted_reference(self) -> None:
        bob, ts = self.alice_and_bob()
        self.ok(f"{bob}.other!.delete()")
        self.assertEqual(self.ok(f"at ({ts}) {{ {bob}.other.name }}"), "Alice")
        self.assertEqual(self.ok(f"(at ({ts}) {{ {bob} }}).other.name"), "Alice")
        self.assertIsNone(self.ok(f"{bob}.other?.name"))

    # model: FQL2TemporalitySpec.scala, "lookup other docs in the past", for a
    # set made in `at`: it is read, and its map lambda runs, at that time
    # even when the page is built after the block (here: as the result).
    def test_at_set_and_its_map_read_at_its_time(self) -> None:
        bob, ts = self.alice_and_bob()
        got = self.ok(f"at ({ts}) {{ User.all().map(u => [u.name, u.other?.name]) }}")
        self.assertEqual(got["data"], [["Alice", None], ["Bob", "Alice"]])

    # api: FQL2BasicSpec.scala, "returns a 400 when reading before MVT"
    def test_at_before_retained_history(self) -> None:
        self.ok('Collection.create({ name: "Author", "history_days": 0 })')
        st, b = self.query('at (Time("2000-01-01T00:00:00.000Z")) {\n  Author.byId("1")!.foo\n}')
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_request"))
        self.assertIn("Requested timestamp 2000-01-01T00:00:00Z less than minimum allowed "
                      "timestamp", b["error"]["message"])


# ---------------------------------------------------------------- paging
class Paging(CoreSpecCase):
    def docs(self, n: int) -> list:
        self.ok("Collection.create({ name: 'Coll' })")
        return self.ok(f"Set.sequence(0, {n}).toArray().map(_ => Coll.create({{}}).id)")

    # model: FQL2SetsSpec.scala, ".take() has bounds checks"
    def test_take_negative_is_invalid_bounds(self) -> None:
        self.docs(1)
        self.err("Coll.all().take(-1)", "invalid_bounds",
                 "expected `limit` to be greater than 0, received -1")

    # api: FQL2PaginationSpec.scala, "pageSize + index" (tagged format)
    def test_page_size_and_index(self) -> None:
        ids = self.docs(15)
        first = self.ok("Coll.all().pageSize(2).map(.id.toString())", fmt="tagged")["@set"]
        self.assertEqual(len(first["data"]), 2)
        self.assertEqual(self.paged(first), ids)

    # api: FQL2PaginationSpec.scala, "pageSize + index + reverse"
    def test_page_size_index_reverse(self) -> None:
        ids = self.docs(15)
        first = self.ok("Coll.all().pageSize(2).reverse().map(.id.toString())",
                        fmt="tagged")["@set"]
        self.assertEqual(first["data"], ids[::-1][:2])
        pages = [first]
        while pages[-1].get("after"):
            pages.append(self.ok(f"Set.paginate({json.dumps(pages[-1]['after'])})"))
        self.assertEqual([len(p["data"]) for p in pages], [2] * 7 + [1])
        self.assertEqual([x for p in pages for x in p["data"]], ids[::-1])

    # api: FQL2PaginationSpec.scala, "set pagination is stable in presence of
    # subsequent writes"
    def test_pagination_is_stable_under_writes(self) -> None:
        ids = self.docs(32)
        first = self.ok("Coll.all().map(.id)")
        self.assertEqual(first["data"], ids[:16])
        self.ok("Coll.create({})")
        second = self.ok(f"Set.paginate({json.dumps(first['after'])})")
        self.assertEqual(second["data"], ids[16:])
        self.assertNotIn("after", second)

    # api: FQL2PaginationSpec.scala, "page size must be between 0 and 100k"
    def test_page_size_bounds(self) -> None:
        self.docs(1)
        for n in (0, -1, 100001):
            with self.subTest(n):
                st, b = self.query(f"Coll.all().paginate({n})")
                self.assertEqual((st, b["error"]["code"]), (400, "invalid_bounds"))

    # model: FQL2ToStringSpec.scala, ints and doubles; api: FQL2StringSpec.scala
    # (`10.toString()` in a concatenation)
    def test_number_to_string(self) -> None:
        self.assertEqual(self.ok("1.toString()"), "1")
        self.assertEqual(self.ok("2.0.toString()"), "2")
        self.assertEqual(self.ok("2.5.toString()"), "2.5")
        self.assertEqual(self.ok("'foo ' + 10.toString() + ' bar'"), "foo 10 bar")


# ---------------------------------------------------------------- authorization
class Authorization(CoreSpecCase):
    def books_and_a_reader_without_read(self) -> str:
        return self.ok('Collection.create({ name: "Books", indexes: { byTitle: '
                       '{ terms: [ { field: "title" } ] } } })\n'
                       'Role.create({ name: "TestRole", privileges: { resource: "Books", '
                       'actions: {} } })\n'
                       'Key.create({ role: "TestRole" }).secret')

    # api: FQL2ABACSpec.scala, the Set.paginate case: a cursor made by an
    # admin gives a key whose role may not read the collection nothing.
    def test_paginate_someone_elses_cursor_needs_read(self) -> None:
        secret = self.books_and_a_reader_without_read()
        self.ok('Books.create({ title: "t1" })\nBooks.create({ title: "t1" })\n'
                'Books.create({ title: "t1" })')
        cursor = self.ok('Books.byTitle("t1").paginate(1)')["after"]
        self.err(f"Set.paginate({json.dumps(cursor)})", "permission_denied",
                 "Insufficient privileges to read from collection Books.", secret=secret)

    # api: FQL2ABACSpec.scala, assertDenied: reading a document the role may
    # not read and asserting it non-null is a null value due to permission
    # denied, never document_not_found.
    def test_denied_document_read(self) -> None:
        secret = self.books_and_a_reader_without_read()
        book = self.ok('Books.create({ title: "t1" }).id')
        self.err(f"Books.byId('{book}')!", "null_value", "Null value, due to permission denied",
                 secret=secret)
        self.err(f"Books.byId('{book}')!.title", "null_value",
                 "Null value, due to permission denied", secret=secret)

    # api: FQL2ABACSpec.scala, "do NOT require history_read when paginating
    # non-temporal cursors": a reader pages its own cursor to the end.
    def test_reader_pages_its_own_cursor(self) -> None:
        self.ok('Collection.create({ name: "Col" })\n'
                'Role.create({ name: "Reader", privileges: { resource: "Col", '
                'actions: { read: true } } })')
        secret = self.ok('Key.create({ role: "Reader" }).secret')
        self.ok("Set.sequence(0, 64).toArray().map(_ => Col.create({ foo: 42 }))")
        first = self.ok("Col.all().map(.foo).paginate(32)!", secret=secret)
        self.assertEqual(first["data"], [42] * 32)
        second = self.ok(f"Set.paginate({json.dumps(first['after'])})", secret=secret)
        self.assertEqual(second["data"], [42] * 32)
        self.assertNotIn("after", second)


# ---------------------------------------------------------------- errors
class Errors(CoreSpecCase):
    # api: FQL2BasicSpec.scala, "returns unbound_variable for invalid
    # reference" (typechecking off): summary, code and message.
    def test_unbound_variable_untypechecked(self) -> None:
        b = self.err("{ x }", "unbound_variable", "Unbound variable `x`",
                     headers={"x-typecheck": "false"})
        self.assertEqual(b["summary"], "error: Unbound variable `x`\nat *query*:1:3\n  |\n"
                                       "1 | { x }\n  |   ^\n  |")

    # api: FQL2BasicSpec.scala, "returns invalid_syntax when parsing the
    # query fails"; with typechecking on, an unknown name fails validation.
    def test_validation_failures(self) -> None:
        self.err("{ x ", "invalid_query", "The query failed 1 validation check")
        self.err("{ x }", "invalid_query", "The query failed 1 validation check",
                 headers={"x-typecheck": "true"})

    # api: FQL2BasicSpec.scala, invalid_function_invocation with typechecking off
    def test_calling_a_non_function(self) -> None:
        self.err('{\n  let x = "hi"\n  x.length()\n}', "invalid_function_invocation",
                 "`length`: Expected a function, found `Int`", headers={"x-typecheck": "false"})

    # api: FQL2BasicSpec.scala, "returns type_mismatch runtime error" (the
    # summary's first frame; the core adds the call site as a second)
    def test_type_mismatch_in_if(self) -> None:
        q = ('{\n  let x = (y) => {\n    if (y) {\n      "z"\n    } else {\n      "?"\n'
             '    }\n  }\n  x(3)\n}')
        b = self.err(q, "type_mismatch", "expected type: Boolean, received Int",
                     headers={"x-typecheck": "false"})
        self.assertTrue(b["summary"].startswith(
            "error: expected type: Boolean, received Int\nat *query*:3:9\n  |\n"
            "3 |     if (y) {\n  |         ^\n"), b["summary"])

    # api: FQL2ArraySpec.scala, "throws a type error if the lambda returns a
    # non-boolean value" (filter), "throws a type error if any element is not
    # an array" (flatten), "throws a type error if the lambda returns a value
    # that is not an array" (flatMap)
    def test_array_type_mismatches(self) -> None:
        h = {"x-typecheck": "false"}
        self.err("let arr = ['Luke', 'Han', 'Leia']\n"
                 "arr.filter((name) => if(name == 'Han') 'Han' else true)",
                 "type_mismatch", "expected type: Boolean, received String", headers=h)
        self.err("let arr = [[1],[2,3,4],[5],\"howdy\",[6,7]]\narr.flatten()",
                 "type_mismatch", "expected type: Array<Any>, received String")
        self.err("let arr = [0, 1, 2, 0]\narr.flatMap(x => 'foobar')",
                 "type_mismatch", "expected type: Array<Any>, received String", headers=h)
        self.assertEqual(self.ok("[[1],[2,3,4],[5],[],[6,7]].flatten()"), [1, 2, 3, 4, 5, 6, 7])

    # model: FQLInterpreter.handleNullCause (the core's message for `!` on
    # a null literal), as FQL2ABACSpec's assertDenied spells the null forms
    def test_null_literal(self) -> None:
        self.err("null!", "null_value", "Null literal value")

    # model: QueryFailure.DocumentNotFound, for a document that is not there
    def test_missing_document(self) -> None:
        self.ok("Collection.create({ name: 'C' })")
        self.err("C.byId('123')!", "document_not_found",
                 "Collection `C` does not contain document with id 123.")


# ---------------------------------------------------------------- encoding
class Encoding(CoreSpecCase):
    # api: FQL2ProjectionSpec.scala, "primitive types": ints, strings,
    # doubles and booleans pass through a projection, null short-circuits.
    def test_projection_of_primitives(self) -> None:
        h = {"x-typecheck": "false"}
        proj = " {\n  hello,\n  nested {\n    key\n  }\n}"
        self.assertEqual(self.ok("3" + proj, headers=h), 3)
        self.assertEqual(self.ok('"goodbye"' + proj, headers=h), "goodbye")
        self.assertEqual(self.ok("1.1" + proj, headers=h), 1.1)
        self.assertEqual(self.ok("true" + proj, headers=h), True)
        self.assertIsNone(self.ok("null" + proj, headers=h))

    # api: FQL2ProtocolSpec.scala, "can set the format with headers"
    def test_formats(self) -> None:
        self.assertEqual(self.ok("1"), 1)
        self.assertEqual(self.ok("1", fmt="simple"), 1)
        self.assertEqual(self.ok("1", fmt="tagged"), {"@int": "1"})
        self.assertEqual(self.ok("1", fmt="decorated"), "1")

    # model: MaterializedValue.Decorator (the decorated format is FQL text)
    def test_decorated_structure(self) -> None:
        self.assertEqual(self.ok("{ a: [1, 'x'], 'b c': Date('2024-01-02') }", fmt="decorated"),
                         '{\n  a: [\n    1,\n    "x"\n  ],\n  "b c": Date("2024-01-02")\n}')

    # model: serialization/FQL2ValueEncoderSpec.scala, "refs" (simple and
    # tagged): a ref stored in a document stays a plain ref even to a
    # document that never was; a deleted, missing or unreadable document is
    # null in the simple format and a ref with its cause in the tagged one.
    def test_refs_by_format(self) -> None:
        self.ok("Collection.create({ name: 'User' })\nCollection.create({ name: 'Books' })\n"
                "Role.create({ name: 'TestRole', privileges: { resource: 'Books', "
                "actions: { create: true, read: false } } })")
        doc = self.ok("User.create({ foo: User.byId('1234') })")
        self.assertEqual(doc["foo"], {"id": "1234", "coll": "User"})
        tagged = self.ok(f"User.byId('{doc['id']}')", fmt="tagged")
        self.assertEqual(tagged["@doc"]["foo"],
                         {"@ref": {"id": "1234", "coll": {"@mod": "User"}}})
        self.assertEqual(self.ok("User.byId('1234')", fmt="tagged"), {"@ref": {
            "id": "1234", "coll": {"@mod": "User"}, "exists": False, "cause": "not found"}})
        self.assertIsNone(self.ok("User.byId('1234')"))
        st, b = self.query(f"User.byId('{doc['id']}')!.delete()", fmt="tagged")
        self.assertEqual((st, b["data"]), (200, {"@ref": {
            "id": doc["id"], "coll": {"@mod": "User"}, "exists": False, "cause": "deleted"}}))
        self.assertIsNone(self.ok(f"User.byId('{doc['id']}')"))
        book = self.ok("Books.create({}).id")
        secret = self.ok("Key.create({ role: 'TestRole' }).secret")
        self.assertIsNone(self.ok(f"Books.byId('{book}')", secret=secret))
        self.assertEqual(self.ok(f"Books.byId('{book}')", fmt="tagged", secret=secret), {"@ref": {
            "id": book, "coll": {"@mod": "Books"}, "exists": False,
            "cause": "permission denied"}})


    # api: FQL2CollectionsSpec.scala, "accepts and correctly renders indexes
    # field": fields as written, `mva` only where it was given
    def test_index_definitions_render_as_written(self) -> None:
        self.ok("Collection.create({ name: 'C' })")
        res = self.ok('C.definition.update({indexes: {\n'
                      '  termAndValue: { terms: [{ field: "name" }], values: [{ field: "_ref" }] },\n'
                      '  termless: { values: [{ field: "_ref" }] },\n'
                      '  valueless: { terms: [{ field: "name" }] },\n'
                      '  mvaIdx: { terms: [{ field: "arr", mva: false }] }\n}})')
        ix = res["indexes"]
        self.assertNotIn("backingIndexes", res)
        self.assertEqual(ix["termAndValue"]["terms"], [{"field": "name"}])
        self.assertEqual(ix["termAndValue"]["values"][0]["field"], "_ref")
        self.assertNotIn("mva", ix["termAndValue"]["values"][0])
        self.assertNotIn("terms", ix["termless"])
        self.assertEqual(ix["termless"]["values"][0]["field"], "_ref")
        self.assertEqual(ix["valueless"]["terms"], [{"field": "name"}])
        self.assertNotIn("values", ix["valueless"])
        self.assertEqual(ix["mvaIdx"]["terms"], [{"field": "arr", "mva": False}])


# ---------------------------------------------------------------- request bodies
class RequestBodies(CoreSpecCase):
    def template(self, query: object) -> tuple:
        return self.post("/query/1", {"query": query}, headers={"x-format": "tagged"})

    # model: serialization/FQL2QueryTemplateSpec.scala, "evals a list of fql
    # strings", "evals a value between fql strings", "evals nested fql strings"
    def test_fql_templates(self) -> None:
        self.assertEqual(self.template({"fql": ["'foo'", ".length"]})[1]["data"], {"@int": "3"})
        self.assertEqual(self.template({"fql": ["'hello ' +", {"value": "world"}]})[1]["data"],
                         "hello world")
        self.assertEqual(self.template({"fql": ["2 +", {"fql": ["3 +", "4 +"]}, "5"]})[1]["data"],
                         {"@int": "14"})

    # model: serialization/FQL2QueryTemplateSpec.scala, "evals arrays", "evals
    # objects", "query can be a single value"
    def test_array_object_value_at_the_top(self) -> None:
        self.assertEqual(self.template({"array": ["2", "3"]})[1]["data"],
                         [{"@int": "2"}, {"@int": "3"}])
        self.assertEqual(self.template({"array": ["1 + 1", {"value": {"@int": "3"}}]})[1]["data"],
                         [{"@int": "2"}, {"@int": "3"}])
        self.assertEqual(self.template({"object": {"a": "1 + 1", "b": {"value": {"@int": "3"}}}})
                         [1]["data"], {"a": {"@int": "2"}, "b": {"@int": "3"}})
        self.assertEqual(self.template({"value": {"@int": "5"}})[1]["data"], {"@int": "5"})

    # model: serialization/FQL2QueryTemplateSpec.scala, "renders invalid value
    # errors at the correct location": a value that does not decode fails
    # the query's checks
    def test_bad_template_value(self) -> None:
        st, b = self.template({"fql": [{"value": {"@blah": "foo"}}, ".bar!"]})
        self.assertEqual((st, b["error"]["code"], b["error"]["message"]),
                         (400, "invalid_query", "The query failed 1 validation check"))
        self.assertTrue(b["summary"].startswith("error: invalid tag '@blah'\nat *query*:1:1\n"),
                        b["summary"])

    # api: FQL2BasicSpec.scala, "returns invalid request"
    def test_body_without_query(self) -> None:
        st, b = self.post("/query/1", {"foo": "bar"})
        self.assertEqual((st, b["error"]), (400, {"code": "invalid_request",
                                                  "message": "Invalid request body"}))

    # api: FQL2BasicSpec.scala, "correctly fails invalid auth query"
    def test_bad_token(self) -> None:
        st, b = self.post("/query/1", {"query": "{ len: 'foo'.length }"}, secret="notanauth")
        self.assertEqual((st, b["error"]), (401, {"code": "unauthorized",
                                                  "message": "Access token required"}))

    # api: FQL2BasicSpec.scala, the query-with-arguments case: arguments are
    # variables of the query
    def test_arguments(self) -> None:
        st, b = self.post("/query/1", {
            "query": "let aNestedField = anObject.x\nlet anIndexedField = anArray[0]\n"
                     "let aMappedField = anArray.map(i => i * 2)\n"
                     "{ aLong: aLong, aString: aString, aNestedField: aNestedField, "
                     "anIndexedField: anIndexedField, aMappedField: aMappedField }",
            "arguments": {"aLong": 10, "aString": "str", "anObject": {"x": 10, "y": 20},
                          "anArray": [10, 20]}}, headers={"x-format": "simple"})
        self.assertEqual((st, b["data"]), (200, {"aLong": 10, "aString": "str",
                                                 "aNestedField": 10, "anIndexedField": 10,
                                                 "aMappedField": [20, 40]}))


class TaggedArguments(CoreSpecCase):
    """model: serialization/FQL2ValueDecoderSpec.scala; the message prefix
    is FQL2Endpoint's ("Invalid argument '<name>': ")."""

    def arg(self, value: object, fmt: str = "tagged") -> tuple:
        return self.post("/query/1", {"query": "k", "arguments": {"k": value}},
                         headers={"x-format": fmt})

    def bad(self, value: object, reason: str) -> None:
        st, b = self.arg(value)
        self.assertEqual((st, b["error"]), (400, {
            "code": "invalid_request", "message": f"Invalid argument 'k': {reason}"}))

    # "parses a long" / "parses a double" (tagged): bare numbers refused
    def test_numbers_must_be_tagged(self) -> None:
        self.bad(39, "numbers must be tagged")
        self.bad(3.39e-9, "numbers must be tagged")
        st, b = self.arg(39, fmt="simple")
        self.assertEqual((st, b["data"]), (200, 39))

    # "parses int", "errors on invalid int", "... long", "... double"
    def test_numbers(self) -> None:
        self.assertEqual(self.arg({"@int": "1234"})[1]["data"], {"@int": "1234"})
        self.bad({"@int": "a"}, "invalid integer")
        self.bad({"@int": "4294967296"}, "invalid integer")
        self.bad({"@long": "a"}, "invalid long")
        self.bad({"@long": "18446744073709551616"}, "invalid long")
        self.assertEqual(self.arg({"@double": "12.34"})[1]["data"], {"@double": "12.34"})
        self.bad({"@double": "a"}, "invalid double")

    # "errors on invalid date", "errors on invalid time", "handles time
    # without a timezone", "errors on invalid bytes"
    def test_times_dates_bytes(self) -> None:
        self.assertEqual(self.arg({"@date": "2022-12-13"})[1]["data"], {"@date": "2022-12-13"})
        self.bad({"@date": "foo"}, "invalid date")
        self.assertEqual(self.arg({"@time": "1970-01-01T00:01:03Z"})[1]["data"],
                         {"@time": "1970-01-01T00:01:03Z"})
        self.bad({"@time": "foo"}, "invalid time")
        self.bad({"@time": "1970-01-01T00:01:03"}, "invalid time")
        self.bad({"@bytes": "1"}, "invalid bytes")

    # "parses tagged struct", "errors on invalid tag"
    def test_objects_and_tags(self) -> None:
        st, b = self.arg({"@object": {"@this is a key": "foo"}})
        self.assertEqual((st, b["data"]), (200, {"@object": {"@this is a key": "foo"}}))
        self.bad({"@foo": "a"}, "invalid tag '@foo'")
        self.bad({"@int": "3", "@long": 4}, "too many keys in tagged value")


# ---------------------------------------------------------------- feeds
class Feeds(CoreSpecCase):
    def poll(self, token: str, **params: object) -> dict:
        body = {"token": token}
        body.update(params)
        st, b = self.post("/feed/1", body)
        self.assertEqual(st, 200, b)
        return b

    def source(self) -> str:
        self.ok("Collection.create({ name: 'Coll' })")
        return self.ok("Coll.all().eventSource()")

    # api: stream/FeedSpec.scala, "poll from an empty stream"
    def test_poll_an_empty_feed(self) -> None:
        page = self.poll(self.source())
        self.assertEqual((page["has_next"], page["events"]), (False, []))

    # model: runtime/stream/Feed.scala (poll): a page read to the end carries
    # a cursor at the feed's snapshot, so writes after an empty poll are
    # delivered from its cursor.
    def test_empty_poll_cursor_advances(self) -> None:
        src = self.source()
        empty = self.poll(src)
        doc = self.ok("Coll.create({ n: 1 }).id")
        page = self.poll(src, cursor=empty["cursor"])
        self.assertEqual([(e["type"], e["data"]["@doc"]["id"]) for e in page["events"]],
                         [("add", doc)])
        again = self.poll(src, cursor=page["cursor"])
        self.assertEqual((again["events"], again["has_next"]), ([], False))

    # api: stream/FeedSpec.scala, "start from a txn time": events strictly
    # after start_ts, data tagged (@doc) though no x-format was sent
    def test_start_from_a_txn_time(self) -> None:
        src = self.source()
        ts = self.ok("Coll.create({}).ts")
        doc2 = self.ok("Coll.create({}).id")
        st, b = self.query(f"Time('{ts}').toMicros()")
        page = self.poll(src, start_ts=b["data"])
        self.assertFalse(page["has_next"])
        self.assertEqual([(e["type"], e["data"]["@doc"]["id"]) for e in page["events"]],
                         [("add", doc2)])

    # api: stream/FeedSpec.scala, "poll pages of events"
    def test_poll_pages_of_events(self) -> None:
        src = self.source()
        docs = self.ok("Set.sequence(0, 7).toArray().map(_ => Coll.create({}).id)")
        seen, params = [], {"page_size": 3}
        while True:
            page = self.poll(src, **params)
            seen.extend(e["data"]["@doc"]["id"] for e in page["events"])
            params["cursor"] = page["cursor"]
            if not page["has_next"]:
                break
        self.assertEqual(seen, docs)

    # api: stream/FeedSpec.scala, "stop at first error, then resume the
    # feed"; event data is tagged whatever x-format says (FeedEndpoint)
    def test_stop_at_error_then_resume(self) -> None:
        self.ok("Collection.create({ name: 'Coll' })")
        src = self.ok("Coll\n  .all()\n  .map(doc =>\n    if (doc.n == 1) abort('oops')\n"
                      "    else doc.n\n  )\n  .eventSource()")
        for n in range(3):
            self.ok(f"Coll.create({{ n: {n} }})")
        st, page0 = self.post("/feed/1", {"token": src}, headers={"x-format": "simple"})
        self.assertEqual(st, 200)
        ev = page0["events"]
        self.assertEqual([(e["type"], e.get("data")) for e in ev[:1]], [("add", {"@int": "0"})])
        self.assertEqual((len(ev), ev[1]["type"], ev[1]["error"]["code"]), (2, "error", "abort"))
        page1 = self.poll(src, cursor=page0["cursor"])
        self.assertEqual([(e["type"], e["data"]) for e in page1["events"]],
                         [("add", {"@int": "2"})])


    # model: FQL2StreamsSpec.scala, "rejects invalid shape" and "reject
    # invalid .changesOn(..) position": what cannot be streamed
    def test_unstreamable_sets(self) -> None:
        self.ok("Collection.create({ name: 'Foo', indexes: { byBar: { terms: [{ field: '.bar' }], "
                "values: [{ field: '.n' }] } } })")
        cases = [
            ("at(Time.now().subtract(1, 'day')) {\n  Foo.all().toStream()\n}",
             "toStream", "streaming is not supported for sets created within an `at()` expression."),
            ("at(Time.now().subtract(1, 'day')) {\n  Foo.byBar(42).toStream()\n}",
             "toStream", "streaming is not supported for sets created within an `at()` expression."),
            ("[].toSet()\n  .toStream()", "toStream", "streaming is not supported on array sets."),
            ("Set.sequence(1, 10)\n  .toStream()", "toStream",
             "streaming is not supported on sets created from `Set.sequence()`."),
            ("Foo.all({from: Foo.byId(1234)}).toStream()", "toStream",
             "range queries are not supported yet, use `.where()` method instead."),
            ("Foo.byBar(42, {from: 0}).toStream()", "toStream",
             "range queries are not supported yet, use `.where()` method instead."),
            ("Foo.all()\n  .take(10)\n  .toStream()", "toStream",
             "streaming is not supported on sets returned from `.take()`."),
            ("Foo.all()\n  .drop(10)\n  .toStream()", "toStream",
             "streaming is not supported on sets returned from `.drop()`."),
            ("Foo.all()\n  .reverse()\n  .toStream()", "toStream",
             "streaming is not supported on sets that have been reversed."),
            ("Foo.all().map(.bar).changesOn(.bar)", "changesOn",
             "it was not called on the source set."),
        ]
        for q, method, why in cases:
            with self.subTest(q):
                self.err(q, "invalid_receiver", f"can't call `.{method}()` because {why}")
        self.assertIsInstance(self.ok("Foo.all().where(.n > 1).eventSource()"), str)


# ---------------------------------------------------------------- metrics
class Metrics(CoreSpecCase):
    def stats(self, fql: str) -> dict:
        st, b = self.query(fql)
        self.assertEqual(st, 200, b)
        return b["stats"]

    def read_ops_formula(self, stats: dict, partitions: int) -> None:
        # api: FQL2MetricsSpec.scala, assertReadOps
        self.assertNotEqual(stats["storage_bytes_read"], 0)
        self.assertEqual(stats["read_ops"],
                         -(-stats["storage_bytes_read"] // 4096) + partitions - 1)

    # api: FQL2MetricsSpec.scala, "get document"
    def test_get_document(self) -> None:
        self.ok("Collection.create({ name: 'C' })")
        doc = self.ok("C.create({ a: 1 }).id")
        s = self.stats(f"C.byId('{doc}')!")
        self.assertEqual((s["compute_ops"], s["write_ops"], s["storage_bytes_write"]), (1, 0, 0))
        self.read_ops_formula(s, 1)

    # api: FQL2MetricsSpec.scala, "get document not found" and "exists
    # incurs one read op"
    def test_a_miss_costs_a_read(self) -> None:
        self.ok("Collection.create({ name: 'C' })")
        s = self.stats("C.byId('0')?.foo ?? 'not found'")
        self.assertEqual((s["read_ops"], s["storage_bytes_read"]), (1, 14))
        s = self.stats('C.byId("1234").exists()')
        self.assertEqual(s["read_ops"], 1)

    # api: FQL2MetricsSpec.scala, "get same document many times"
    def test_same_document_many_times(self) -> None:
        self.ok("Collection.create({ name: 'C' })")
        doc = self.ok("C.create({ a: 1 }).id")
        s = self.stats(f"C.byId('{doc}')!\n" * 100)
        self.read_ops_formula(s, 1)

    # api: FQL2MetricsSpec.scala, "paginate": the documents index has 8
    # partitions
    def test_paginate(self) -> None:
        self.ok("Collection.create({ name: 'C' })")
        self.ok("C.create({})")
        self.read_ops_formula(self.stats("C.all().map(.id).paginate()"), 8)

    # api: FQL2MetricsSpec.scala, "get first element of a set" and "get
    # first element of an empty set"
    def test_first_of_an_index(self) -> None:
        self.ok("Collection.create({ name: 'C', indexes: { byChar: { terms: "
                "[{ field: '.char' }] } } })")
        self.ok("C.create({ char: 'a' })")
        self.assertEqual(self.stats("C.byChar('a').first()")["read_ops"], 2)
        self.assertEqual(self.stats("C.byChar('b').first()")["read_ops"], 1)


# ---------------------------------------------------------------- protocol
class Protocol(CoreSpecCase):
    # api: FQL2ProtocolSpec.scala, "setting an invalid format doesn't 500"
    # (message: RequestParams.InvalidHeader + ValueFormat.InvalidFormat)
    def test_invalid_format(self) -> None:
        st, b = self.query("1", fmt="foo")
        self.assertEqual((st, b), (400, {"error": {
            "code": "invalid_request", "message": "Invalid header 'x-format': Invalid format foo"}}))

    # api: FQL2ProtocolSpec.scala, "can set typecheck with headers" and "can
    # set linearized with headers" (messages: RequestParams)
    def test_boolean_headers(self) -> None:
        for h in ("x-typecheck", "x-linearized"):
            for v in ("true", "false"):
                self.assertEqual(self.ok("1", headers={h: v}), 1)
            st, b = self.query("1", headers={h: "foo"})
            self.assertEqual((st, b), (400, {"error": {
                "code": "invalid_request", "message": f"Invalid header '{h}': Must be a boolean value."}}))

    # api: FQL2ProtocolSpec.scala, "x-query-tags" "response is in correct shape"
    def test_query_tags(self) -> None:
        st, b = self.query("1", headers={"x-query-tags": "foo=bar"})
        self.assertEqual((st, b["query_tags"]), (200, "foo=bar"))
        st, b = self.query("1", headers={"x-query-tags": "foo,,"})
        self.assertEqual((st, b), (400, {"error": {
            "code": "invalid_request", "message": "Invalid header 'x-query-tags': invalid tags"}}))

    # api: FQL2ProtocolSpec.scala, "x-fauna-tags should not work"
    def test_fauna_tags_ignored(self) -> None:
        st, b = self.query("1", headers={"x-fauna-tags": "foo,,"})
        self.assertEqual((st, b["data"]), (200, 1))
        self.assertNotIn("query_tags", b)

    # api: FQL2ProtocolSpec.scala, "can set the timeout with headers": a query
    # past its timeout is a 440 time_out; a valid header is accepted.
    def test_query_timeout(self) -> None:
        st, b = self.query("Set.sequence(0, 1000000).toArray().length",
                           headers={"x-query-timeout-ms": "1"})
        self.assertEqual((st, b["error"]["code"]), (440, "time_out"))
        self.assertEqual(self.ok("1", headers={"x-query-timeout-ms": "1000"}), 1)

    # api: FQL2ProtocolSpec.scala, "can set the last transaction time with
    # headers" (x-last-txn-ts and x-max-contention-retries; messages:
    # RequestParams)
    def test_numeric_headers(self) -> None:
        self.assertEqual(self.ok("1", headers={"x-last-txn-ts": "123"}), 1)
        self.assertEqual(self.ok("1", headers={"x-max-contention-retries": "2"}), 1)
        cases = [("x-last-txn-ts", "foo", "Invalid timestamp 'foo'."),
                 ("x-max-contention-retries", "-3", "Must be between 0 and 7."),
                 ("x-query-timeout-ms", "0", "Must be greater than 0."),
                 ("x-query-timeout-ms", "x", "Invalid number 'x'.")]
        for h, v, msg in cases:
            with self.subTest(h=h, v=v):
                st, b = self.query("1", headers={h: v})
                self.assertEqual((st, b), (400, {"error": {
                    "code": "invalid_request", "message": f"Invalid header '{h}': {msg}"}}))

    # api: FQL2ProtocolSpec.scala, "schema version": "included in successful
    # query response" and "included in error query response"
    def test_schema_version(self) -> None:
        st, b = self.query('Collection.create({ name: "hi" })')
        ts = b["txn_ts"]
        st, b = self.query("hi.all().first()")
        self.assertEqual((st, b["schema_version"]), (200, ts))
        st, b = self.query("hii.all().first()")
        self.assertEqual((st, b["schema_version"]), (400, ts))


if __name__ == "__main__":
    unittest.main()
