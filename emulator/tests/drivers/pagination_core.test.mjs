// Cursor cases from the core's FQL2PaginationSpec, run through the driver:
// every set transformation must survive Set.paginate(after).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fql, Page, QueryRuntimeError } from "fauna";
import { makeClient, uniqueName } from "./helpers.mjs";

const ident = (name) => fql([name]);

async function pages(client, query) {
  const out = [];
  for await (const page of client.paginate(query)) out.push(page);
  return out;
}

describe("cursor serialization (core FQL2PaginationSpec via fauna-js)", () => {
  let client;
  let name;
  let C;
  let ids; // 48 docs, foo = 1..48, bar = "baz", in creation (= id) order

  before(async () => {
    client = makeClient();
    name = uniqueName("Cur");
    C = ident(name);
    await client.query(fql`Collection.create({
      name: ${name},
      indexes: { byBar: { terms: [{ field: "bar" }] } }
    })`);
    const creates = [];
    for (let i = 1; i <= 48; i++) creates.push(fql`${C}.create({ foo: ${i}, bar: "baz" })`);
    // one query, one transaction (48 creates separated by newlines)
    const parts = [""];
    for (let i = 1; i < creates.length; i++) parts.push("\n");
    parts.push(`\n${name}.all().paginate(48).data.map(.id)`);
    ids = (await client.query(fql(parts, ...creates))).data;
    assert.equal(ids.length, 48);
  });

  after(() => client.close());

  test("sets materialize as pages of 16 with cursors", async () => {
    const ps = await pages(client, fql`${C}.all()`);
    assert.deepEqual(
      ps.map((p) => p.length),
      [16, 16, 16],
    );
    assert.deepEqual(
      ps.flat().map((d) => d.id),
      ids,
    );
  });

  test("array.toSet().paginate() and Set.paginate(after, size)", async () => {
    const first = (await client.query(fql`[0, 1, 2, 3].toSet().paginate(1)`)).data;
    assert.ok(!(first instanceof Page), ".paginate() returns a plain {data, after}");
    assert.deepEqual(first.data, [0]);
    for (const size of [1, 2, 3, 5]) {
      let seen = [0];
      let after = first.after;
      while (after) {
        const r = (await client.query(fql`Set.paginate(${after}, ${size})`)).data;
        assert.deepEqual(r.data, [0, 1, 2, 3].slice(seen.length, seen.length + size));
        seen = seen.concat(r.data);
        after = r.after;
        assert.equal(after === undefined, seen.length === 4, `size ${size}`);
      }
      assert.deepEqual(seen, [0, 1, 2, 3]);
    }
  });

  test(".paginate(0), (-1), (100001) are invalid_bounds", async () => {
    for (const n of [0, -1, 100001]) {
      await assert.rejects(client.query(fql`${C}.all().paginate(${n})`), (e) => {
        assert.ok(e instanceof QueryRuntimeError, `${n}: ${e?.constructor?.name} ${e?.message}`);
        assert.equal(e.code, "invalid_bounds");
        return true;
      });
    }
  });

  test("closures survive the cursor: let fuu = -1; map(.foo * fuu)", async () => {
    const vals = (await pages(client, fql`let fuu = -1; ${C}.all().map(.foo * fuu)`)).flat();
    assert.deepEqual(
      vals,
      Array.from({ length: 48 }, (_, i) => -(i + 1)),
    );
  });

  test("bang operator survives: map(.foo!)", async () => {
    const vals = (await pages(client, fql`${C}.all().map(.foo!)`)).flat();
    assert.deepEqual(
      vals,
      Array.from({ length: 48 }, (_, i) => i + 1),
    );
  });

  test(
    "closed-over globals survive: where(d => (d == Coll) || true)",
    async () => {
      const got = (await pages(client, fql`${C}.all().where(d => (d == ${C}) || true)`))
        .flat()
        .map((d) => d.id);
      assert.deepEqual(got, ids);
    },
  );

  test("a lambda with a block body survives the cursor", async () => {
    const got = (await pages(client, fql`${C}.all().where(d => { let x = d.foo; x > 0 })`))
      .flat()
      .map((d) => d.id);
    assert.deepEqual(got, ids);
  });

  test("index with terms: byBar('baz')", async () => {
    const ps = await pages(client, fql`${C}.byBar("baz")`);
    assert.deepEqual(
      ps.map((p) => p.length),
      [16, 16, 16],
    );
    assert.deepEqual(
      ps.flat().map((d) => d.id),
      ids,
    );
  });

  test("take(20): 16 then 4", async () => {
    const ps = await pages(client, fql`${C}.all().take(20)`);
    assert.deepEqual(
      ps.map((p) => p.length),
      [16, 4],
    );
    assert.deepEqual(
      ps.flat().map((d) => d.id),
      ids.slice(0, 20),
    );
  });

  test("where(.foo <= 20): 16 then 4", async () => {
    const ps = await pages(client, fql`${C}.all().where(.foo <= 20)`);
    assert.deepEqual(
      ps.map((p) => p.length),
      [16, 4],
    );
    assert.deepEqual(
      ps.flat().map((d) => d.id),
      ids.slice(0, 20),
    );
  });

  test("order(.foo)", async () => {
    const asc = (await pages(client, fql`${C}.all().order(.foo)`)).flat().map((d) => d.id);
    assert.deepEqual(asc, ids);
  });

  test("order(desc(.foo))", async () => {
    const desc = (await pages(client, fql`${C}.all().order(desc(.foo))`)).flat().map((d) => d.foo);
    assert.deepEqual(
      desc,
      Array.from({ length: 48 }, (_, i) => 48 - i),
    );
  });

  test("projection with a missing key gives null on every page", async () => {
    const ps = await pages(client, fql`${C}.all() { id, null_key }`);
    assert.equal(ps.length, 3);
    for (const row of ps.flat()) {
      assert.deepEqual(Object.keys(row).sort(), ["id", "null_key"]);
      assert.equal(row.null_key, null);
    }
    assert.deepEqual(
      ps.flat().map((r) => r.id),
      ids,
    );
  });
});
