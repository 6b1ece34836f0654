"""The query forms of a scan split into id ranges read at one snapshot:
FQL v10 (`C.all({ from, to })`, `at`, cursors) and FQL v4 (`Range` over
`Documents`, `Reverse`, `At`, `Paginate` cursors), checked against the
core's specs named at each test.

Run:  python3 -m unittest emulator.tests.test_scan_forms
"""
from __future__ import annotations

import json
import unittest

from emulator.tests.support import Server, iso


# ---------------------------------------------------------------- v10 forms
class RangeForms(unittest.TestCase):
    """What fauna_fdw sends for one part of a parallel scan (FQL v10)."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.s = Server(logical=True)
        cls.s.query('Collection.create({ name: "P" })')
        cls.ids = cls.s.query("Set.sequence(0, 12).map(i => P.create({ n: i }).id).toArray()")["data"]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.s.close()

    def ids_of(self, src: str) -> list:
        """Every id of a set, following its cursors."""
        b = self.s.query(src)["data"]
        out = [d["id"] for d in b["data"]]
        while b.get("after"):
            b = self.s.query(f'Set.paginate("{b["after"]}")')["data"]
            out += [d["id"] for d in b["data"]]
        return out

    # FQL2SetsSpec "can range with document id" (a document, its id, an id
    # string, an id number), FQL2SetsSpec ".first() returns the first
    # element" and ".reverse() returns a reversed index set"
    def test_first_and_last_id(self) -> None:
        b = self.s.query("{ first: P.all().first()?.id, last: P.all().reverse().first()?.id }")
        self.assertEqual(b["data"], {"first": self.ids[0], "last": self.ids[-1]})
        b = self.s.query('Collection.create({ name: "Empty" })')
        b = self.s.query("{ first: Empty.all().first()?.id, last: Empty.all().reverse().first()?.id }")
        self.assertEqual(b["data"], {"first": None, "last": None})

    def test_inclusive_id_range_however_given(self) -> None:
        lo, hi = self.ids[3], self.ids[7]
        want = self.ids[3:8]
        for bounds in (f'from: "{lo}", to: "{hi}"', f"from: {lo}, to: {hi}",
                       f'from: P.byId("{lo}"), to: P.byId("{hi}")'):
            with self.subTest(bounds=bounds):
                self.assertEqual(self.ids_of(f"P.all({{ {bounds} }}).pageSize(2) {{ id }}"), want)
        self.assertEqual(self.ids_of(f'P.all({{ from: "{lo}", to: "{hi}" }}).reverse().pageSize(2) {{ id }}'),
                         want[::-1])

    def test_the_template_a_scan_sends(self) -> None:
        # the snapshot, the bounds and the page size as template values (x-format tagged)
        snap = self.s.query("P.all().first()!.id")["txn_ts"]
        q = {"fql": ["at (", {"value": {"@time": iso(snap)}}, ") { P.all({ from: ",
                     {"value": self.ids[2]}, ", to: ", {"value": self.ids[6]}, " }).pageSize(",
                     {"value": {"@int": "2"}}, ") { id, n } }"]}
        st, b, _ = self.s.call("/query/1", {"query": q}, {"x-format": "tagged"})
        self.assertEqual(st, 200, b)
        page = b["data"]["@set"]
        self.assertEqual([d["id"] for d in page["data"]], self.ids[2:4])
        seen = self.ids_of(f'Set.paginate("{page["after"]}")')
        self.assertEqual(seen, self.ids[4:7])

    def test_adjacent_ranges_cover_the_collection_once(self) -> None:
        cuts = [self.ids[0], self.ids[4], self.ids[9]]
        parts = [f'P.all({{ from: "{cuts[0]}", to: "{int(cuts[1]) - 1}" }}) {{ id }}',
                 f'P.all({{ from: "{cuts[1]}", to: "{int(cuts[2]) - 1}" }}) {{ id }}',
                 f'P.all({{ from: "{cuts[2]}", to: "{self.ids[-1]}" }}) {{ id }}']
        seen = [i for p in parts for i in self.ids_of(p)]
        self.assertEqual(seen, self.ids)

    # FQL2PaginationSpec "set pagination is stable in presence of subsequent
    # writes"; FQL2ABACSpec reads `at(...) { coll.all().paginate(32) }` and
    # follows its cursor
    def test_parts_at_one_snapshot_keep_range_and_snapshot(self) -> None:
        self.s.query('Collection.create({ name: "Q" })')
        ids = self.s.query("Set.sequence(0, 10).map(i => Q.create({ n: i }).id).toArray()")["data"]
        snap = self.s.query("Q.all().first()!.id")["txn_ts"]
        lo, hi = ids[1], ids[8]
        first = self.s.query(f'at (Time("{iso(snap)}")) {{ Q.all({{ from: "{lo}", to: "{hi}" }})'
                             f'.pageSize(3) {{ id, n }} }}')["data"]
        # after the snapshot: an update and a delete inside the range, a new document
        self.s.query(f'Q.byId("{ids[5]}")!.update({{ n: 1000 }})')
        self.s.query(f'Q.byId("{ids[6]}")!.delete()')
        self.s.query("Q.create({ n: 2000 })")
        seen = list(first["data"])
        after = first.get("after")
        while after:
            page = self.s.query(f'Set.paginate("{after}")')["data"]
            seen += page["data"]
            after = page.get("after")
        self.assertEqual([d["id"] for d in seen], ids[1:9])
        self.assertEqual([d["n"] for d in seen], list(range(1, 9)))


# ---------------------------------------------------------------- v4 forms
def ref(i: int) -> dict:
    return {"ref": {"collection": "V"}, "id": str(i)}


def ids_v4(page: dict) -> list:
    return [int(r["@ref"]["id"]) for r in page["resource"]["data"]]


class V4RangeForms(unittest.TestCase):
    """FQL v4: At(ts, Paginate(Range(Documents(Collection(c)), lo, hi)))."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.s = Server(logical=True)
        cls.s.v4({"create_collection": {"object": {"name": "V"}}})
        for i in range(1, 9):
            cls.s.v4({"create": ref(i), "params": {"object": {"data": {"object": {"n": i}}}}})

    @classmethod
    def tearDownClass(cls) -> None:
        cls.s.close()

    def docs(self, lo: object, hi: object) -> dict:
        return {"range": {"documents": {"collection": "V"}}, "from": lo, "to": hi}

    # RangeFunctionSpec "limits a set to a lower and upper bound with refs"
    # (Range takes any set, SetFunctions.scala RangeFunction; the entries
    # of Documents are refs)
    def test_range_of_documents_by_ref(self) -> None:
        st, b, _ = self.s.v4({"paginate": self.docs(ref(3), ref(6)), "size": 2})
        self.assertEqual(st, 200, b)
        self.assertEqual(ids_v4(b), [3, 4])
        st, b, _ = self.s.v4({"paginate": self.docs([ref(3)], [ref(6)]), "size": 2,
                              "after": b["resource"]["after"]})
        self.assertEqual(ids_v4(b), [5, 6])
        self.assertNotIn("after", b["resource"])
        st, b, _ = self.s.v4({"paginate": self.docs([], ref(2))})
        self.assertEqual(ids_v4(b), [1, 2])
        st, b, _ = self.s.v4({"paginate": self.docs(ref(7), ref(100))})
        self.assertEqual(ids_v4(b), [7, 8])

    def test_at_snapshot_hides_later_writes(self) -> None:
        st, b, h = self.s.v4({"paginate": {"documents": {"collection": "V"}}})
        ts = int(h["x-txn-time"])
        self.s.v4({"delete": ref(4)})
        self.s.v4({"create": ref(5000), "params": {"object": {"data": {"object": {"n": 0}}}}})
        st, b, _ = self.s.v4({"at": ts, "expr": {"paginate": self.docs(ref(2), ref(9999)), "size": 3}})
        self.assertEqual(ids_v4(b), [2, 3, 4])
        st, b, _ = self.s.v4({"at": ts, "expr": {"paginate": self.docs(ref(2), ref(9999)), "size": 3,
                                                 "after": b["resource"]["after"]}})
        self.assertEqual(ids_v4(b), [5, 6, 7])
        st, b, _ = self.s.v4({"paginate": self.docs(ref(2), ref(9999))})
        self.assertEqual(ids_v4(b), [2, 3, 5, 6, 7, 8, 5000])
        self.s.v4({"create": ref(4), "params": {"object": {"data": {"object": {"n": 4}}}}})
        self.s.v4({"delete": ref(5000)})

    # RangeFunctionSpec "does not support historical events reads"
    def test_events_of_a_range_are_refused(self) -> None:
        st, b, _ = self.s.v4({"paginate": self.docs(ref(1), ref(2)), "events": True})
        self.assertEqual((st, b["errors"][0]["description"]), (400, "Set does not support events history."))

    # How a bound that is not one ref of the collection compares
    # (RangeSet.compareCursors): a prefix of one value, in the order of
    # values; a longer bound comes after the entry it starts with.
    def test_bounds_of_other_shapes(self) -> None:
        cases = [
            (5, ref(3), [1, 2, 3]),             # a number sorts before every ref
            (ref(6), "x", []),                  # so does a string: nothing up to it
            ([ref(3), 0], ref(5), [4, 5]),      # [ref, x] as lower: after ref 3
            (ref(2), [ref(4), 0], [2, 3]),      # [ref, x] as upper: before ref 4
            ({"object": {"a": 1}}, [], []),     # an object sorts after every ref
            ([], [], list(range(1, 9))),
            (ref(6), ref(3), []),
        ]
        for lo, hi, want in cases:
            with self.subTest(lo=lo, hi=hi):
                st, b, _ = self.s.v4({"paginate": self.docs(lo, hi)})
                self.assertEqual((st, ids_v4(b)), (200, want))

    def test_range_of_a_range_keeps_both(self) -> None:
        st, b, _ = self.s.v4({"paginate": {"range": self.docs(ref(2), ref(6)),
                                           "from": ref(4), "to": ref(8)}})
        self.assertEqual(ids_v4(b), [4, 5, 6])
        st, b, _ = self.s.v4({"count": self.docs(ref(2), ref(6))})
        self.assertEqual(b["resource"], 5)

    # The first and last refs of a collection: a page of one of its
    # documents, forwards and reversed (ReverseFunctionSpec "sets": Reverse
    # of a set reads it backwards)
    def test_first_and_last_ref(self) -> None:
        first = {"paginate": {"documents": {"collection": "V"}}, "size": 1}
        last = {"paginate": {"reverse": {"documents": {"collection": "V"}}}, "size": 1}
        st, b, h = self.s.v4(first)
        self.assertEqual((st, ids_v4(b), b["resource"]["after"][0]["@ref"]["id"]), (200, [1], "2"))
        st, b, _ = self.s.v4(last)
        self.assertEqual((st, ids_v4(b), b["resource"]["after"][0]["@ref"]["id"]), (200, [8], "7"))
        # at a snapshot, before a later document
        ts = int(h["x-txn-time"])
        self.s.v4({"create": ref(9), "params": {"object": {"data": {"object": {"n": 9}}}}})
        try:
            st, b, _ = self.s.v4({"at": ts, "expr": last})
            self.assertEqual(ids_v4(b), [8])
            st, b, _ = self.s.v4(last)
            self.assertEqual(ids_v4(b), [9])
        finally:
            self.s.v4({"delete": ref(9)})
        self.s.v4({"create_collection": {"object": {"name": "Empty"}}})
        for e in (first, last):
            e = json.loads(json.dumps(e).replace('"V"', '"Empty"'))
            st, b, _ = self.s.v4(e)
            self.assertEqual((st, b["resource"]), (200, {"data": []}))

    # ReverseFunctionSpec "range": Reverse(Range(...)) and Range(Reverse(...),
    # hi, lo) read the range backwards; after/before cursors of a reversed set
    def test_reverse(self) -> None:
        rev = {"reverse": self.docs(ref(2), ref(7))}
        st, b, _ = self.s.v4({"paginate": rev, "size": 4})
        self.assertEqual((st, ids_v4(b)), (200, [7, 6, 5, 4]))
        st, b, _ = self.s.v4({"paginate": rev, "size": 4, "after": b["resource"]["after"]})
        self.assertEqual(ids_v4(b), [3, 2])
        self.assertNotIn("after", b["resource"])
        st, b, _ = self.s.v4({"paginate": rev, "after": [ref(4)]})
        self.assertEqual(ids_v4(b), [4, 3, 2])
        st, b, _ = self.s.v4({"paginate": rev, "before": [ref(4)]})
        self.assertEqual(ids_v4(b), [7, 6, 5])
        st, b, _ = self.s.v4({"paginate": {"range": {"reverse": {"documents": {"collection": "V"}}},
                                           "from": ref(6), "to": ref(3)}})
        self.assertEqual(ids_v4(b), [6, 5, 4, 3])
        st, b, _ = self.s.v4({"paginate": {"reverse": rev}})
        self.assertEqual(ids_v4(b), [2, 3, 4, 5, 6, 7])
        # any other set: an index's entries (ReverseFunctionSpec "pages")
        self.s.v4({"create_index": {"object": {"name": "V_by_n", "source": {"collection": "V"},
                                               "values": [{"object": {"field": ["data", "n"]}}]}}})
        by_n = {"reverse": {"match": {"index": "V_by_n"}}}
        st, b, _ = self.s.v4({"paginate": by_n, "size": 3})
        self.assertEqual((st, b["resource"]["data"]), (200, [8, 7, 6]))
        st, b, _ = self.s.v4({"paginate": by_n, "size": 3, "after": b["resource"]["after"]})
        self.assertEqual(b["resource"]["data"], [5, 4, 3])
        # an array and a page (ReverseFunctionSpec "arrays", "pages")
        st, b, _ = self.s.v4({"reverse": [1, 2, 3]})
        self.assertEqual(b["resource"], [3, 2, 1])
        st, b, _ = self.s.v4({"reverse": {"paginate": self.docs(ref(1), ref(3))}})
        self.assertEqual(ids_v4(b), [3, 2, 1])
        st, b, _ = self.s.v4({"reverse": 1})
        self.assertEqual((st, b["errors"][0]["code"]), (400, "invalid argument"))



if __name__ == "__main__":
    unittest.main()
