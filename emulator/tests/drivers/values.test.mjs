// Tagged values (x-format: tagged) round-trip through the official driver:
// template values, query arguments, stored fields, documents and refs.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  fql,
  DateStub,
  Document,
  DocumentReference,
  Module,
  NullDocument,
  TimeStub,
} from "fauna";
import { makeClient, uniqueName } from "./helpers.mjs";

const ident = (name) => fql([name]);

const BIG = 2n ** 62n + 12345n; // needs @long, not a safe JS number
const BIG_NEG = -(2n ** 63n); // Long.MinValue
const JUST_OVER_2_53 = 9007199254740993n;

// stored: the sample is written into a document, where Fauna drops null
// fields and field names must not start with "@".
function sample(stored = false) {
  const v = {
    time_ms: TimeStub.from("2023-04-06T03:33:32.226Z"),
    time_us: TimeStub.from("2024-02-29T23:59:59.123456Z"),
    time_ns: TimeStub.from("2021-01-01T00:00:00.123456789Z"),
    time_s: TimeStub.from("2030-12-31T00:00:00Z"),
    date: DateStub.from("2024-02-29"),
    bytes: new Uint8Array([0, 1, 2, 127, 128, 254, 255]),
    small: 5,
    negative: -2147483648,
    big: BIG,
    big_neg: BIG_NEG,
    just_over: JUST_OVER_2_53,
    double: 1.5,
    tiny: 1e-300,
    str: "héllo \u2603 \"quoted\" \\ \n tab\t",
    empty: "",
    yes: true,
    no: false,
    nothing: null,
    arr: [1, "two", [3, [4]], { five: 5 }],
    nested: { a: { b: { c: { d: "deep", t: TimeStub.from("2022-02-02T02:02:02.002Z") } } } },
    "@weird": { "@key": "needs @object escaping" },
  };
  if (stored) {
    delete v.nothing;
    delete v["@weird"];
    v.escaped = { "@key": "needs @object escaping" };
  }
  return v;
}

function checkSample(got, what, stored = false) {
  const exp = sample(stored);
  assert.ok(got.time_ms instanceof TimeStub, `${what}: @time decodes to TimeStub`);
  assert.equal(got.time_ms.isoString, exp.time_ms.isoString);
  assert.equal(got.time_us.isoString, exp.time_us.isoString);
  assert.equal(got.time_ns.isoString, exp.time_ns.isoString);
  assert.equal(got.time_s.isoString, exp.time_s.isoString);
  assert.ok(got.date instanceof DateStub, `${what}: @date decodes to DateStub`);
  assert.equal(got.date.dateString, "2024-02-29");
  assert.ok(got.bytes instanceof Uint8Array, `${what}: @bytes decodes to Uint8Array`);
  assert.deepEqual([...got.bytes], [...exp.bytes]);
  assert.equal(got.small, 5, `${what}: @int stays a number`);
  assert.equal(got.negative, -2147483648);
  assert.equal(typeof got.big, "bigint", `${what}: @long decodes to BigInt (long_type bigint)`);
  assert.equal(got.big, BIG);
  assert.equal(got.big_neg, BIG_NEG);
  assert.equal(got.just_over, JUST_OVER_2_53);
  assert.equal(got.double, 1.5);
  assert.equal(got.tiny, 1e-300);
  assert.equal(got.str, exp.str);
  assert.equal(got.empty, "");
  assert.equal(got.yes, true);
  assert.equal(got.no, false);
  if (stored) {
    assert.ok(!("nothing" in got), `${what}: a null field is not stored`);
  } else {
    assert.equal(got.nothing, null);
  }
  assert.deepEqual(got.arr, [1, "two", [3, [4]], { five: 5 }]);
  assert.equal(got.nested.a.b.c.d, "deep");
  assert.equal(got.nested.a.b.c.t.isoString, "2022-02-02T02:02:02.002Z");
  if (stored) {
    assert.deepEqual(got.escaped, { "@key": "needs @object escaping" });
  } else {
    assert.deepEqual(got["@weird"], { "@key": "needs @object escaping" });
  }
}

describe("tagged values round-trip (fauna-js)", () => {
  let client;
  let name;
  let C;

  before(async () => {
    client = makeClient({ long_type: "bigint" });
    name = uniqueName("Vals");
    await client.query(fql`Collection.create({ name: ${name} })`);
    C = ident(name);
  });

  after(() => client.close());

  test("template values echo back unchanged", async () => {
    const res = await client.query(fql`${sample()}`);
    checkSample(res.data, "echo");
  });

  test("query arguments (tagged) echo back unchanged", async () => {
    const res = await client.query(fql`arg`, { arguments: { arg: sample() } });
    checkSample(res.data, "arguments");
  });

  test("scalar template values", async () => {
    const r = await client.query(fql`[${BIG}, ${5}, ${1.25}, ${"s"}, ${true}, ${null}]`);
    assert.deepEqual(r.data, [BIG, 5, 1.25, "s", true, null]);
    const bigSum = await client.query(fql`${BIG} + 1`);
    assert.equal(bigSum.data, BIG + 1n, "64-bit arithmetic is exact");
  });

  test("stored fields read back unchanged (create, byId, all)", async () => {
    const created = (await client.query(fql`${C}.create(${sample(true)})`)).data;
    assert.ok(created instanceof Document);
    checkSample(created, "create", true);
    const read = (await client.query(fql`${C}.byId(${created.id})`)).data;
    assert.ok(read instanceof Document);
    checkSample(read, "byId", true);
    assert.equal(read.ts.isoString, created.ts.isoString);
    const fromSet = (await client.query(fql`${C}.all().where(.id == ${created.id})`)).data.data;
    assert.equal(fromSet.length, 1);
    checkSample(fromSet[0], "set element", true);
    const data = (await client.query(fql`${C}.byId(${created.id})!.data`)).data;
    checkSample(data, "doc.data", true);
    for (const k of ["id", "coll", "ts"]) {
      assert.ok(!(k in data), `.data has only user fields (found ${k})`);
    }
  });

  test("a document has id (string), coll (@mod), ts (@time)", async () => {
    const d = (await client.query(fql`${C}.create({ x: 1 })`)).data;
    assert.ok(d instanceof Document);
    assert.match(d.id, /^\d+$/);
    assert.ok(d.coll instanceof Module);
    assert.equal(d.coll.name, name);
    assert.ok(d.ts instanceof TimeStub);
    assert.ok(!Number.isNaN(Date.parse(d.ts.isoString)));
    const coll = (await client.query(fql`${C}`)).data;
    assert.ok(coll instanceof Module, "a collection evaluates to @mod");
    assert.equal(coll.name, name);
  });

  test("refs: a document stored in a field comes back as @ref; the driver sends docs as @ref", async () => {
    const target = (await client.query(fql`${C}.create({ role: "target" })`)).data;
    // pass the Document itself: the driver encodes it as {"@ref": {id, coll}}
    const holder = (
      await client.query(
        fql`${C}.create({ role: "holder", friend: ${target}, friends: [${target}], deep: { r: ${new DocumentReference({ coll: name, id: target.id })} } })`,
      )
    ).data;
    for (const r of [holder.friend, holder.friends[0], holder.deep.r]) {
      assert.ok(r instanceof DocumentReference, `nested doc is a ref: ${JSON.stringify(r)}`);
      assert.ok(!(r instanceof Document), "a stored ref is not expanded into a @doc");
      assert.equal(r.id, target.id);
      assert.equal(r.coll.name, name);
    }
    // the ref resolves in FQL
    const role = (await client.query(fql`${C}.byId(${holder.id})!.friend.role`)).data;
    assert.equal(role, "target");
    // a top-level read of the target is a full @doc
    const full = (await client.query(fql`${C}.byId(${holder.id})!.friend`)).data;
    assert.ok(full instanceof Document);
    assert.equal(full.role, "target");

    // after deleting the target the stored ref stays a plain @ref (the
    // core renders the refs a document holds unresolved:
    // FQL2ValueEncoderSpec "refs"); reading through it gives a NullDocument
    await client.query(fql`${C}.byId(${target.id})!.delete()`);
    const again = (await client.query(fql`${C}.byId(${holder.id})`)).data;
    for (const r of [again.friend, again.friends[0], again.deep.r]) {
      assert.ok(r instanceof DocumentReference, `stored ref stays a ref: ${JSON.stringify(r)}`);
      assert.ok(!(r instanceof NullDocument));
      assert.equal(r.id, target.id);
      assert.equal(r.coll.name, name);
    }
    const gone = (await client.query(fql`${C}.byId(${holder.id})!.friend`)).data;
    assert.ok(gone instanceof NullDocument, `read through: ${JSON.stringify(gone)}`);
    assert.equal(gone.ref.id, target.id);
    assert.equal(gone.cause, "deleted");
    const exists = (await client.query(fql`${C}.byId(${holder.id})!.friend.exists()`)).data;
    assert.equal(exists, false, "the dangling ref's target does not exist");
    // byId of a missing doc is a NullDocument too
    const missing = (await client.query(fql`${C}.byId(${target.id})`)).data;
    assert.ok(missing instanceof NullDocument, `byId(missing): ${JSON.stringify(missing)}`);
    assert.equal(missing.ref.id, target.id);
  });

  test("long_type number: @long within 2^53 decodes to number", async () => {
    const c2 = makeClient({ long_type: "number" });
    try {
      const r = await c2.query(fql`${2n ** 40n}`);
      assert.equal(r.data, 2 ** 40);
    } finally {
      c2.close();
    }
  });
});
