// Pagination, ts-index ranges and snapshot stability, as seen by the official
// JavaScript driver (npm `fauna`, FQL v10).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fql, Document, Module, NamedDocument, Page, TimeStub } from "fauna";
import {
  makeClient,
  uniqueName,
  cmpId,
  timeMicros,
  assertNoDuplicates,
} from "./helpers.mjs";

// An FQL identifier spliced as source text: fql(["Name"]) encodes as a
// nested {"fql": ["Name"]} fragment. Names come from uniqueName() only.
const ident = (name) => fql([name]);

function microsToTime(us) {
  const us_ = BigInt(us);
  const ms = Number(us_ / 1000n);
  const base = new Date(ms).toISOString().slice(0, 19); // no fraction
  const frac = (us_ % 1_000_000n).toString().padStart(6, "0");
  return TimeStub.from(`${base}.${frac}Z`);
}

const byTsThenId = (a, b) => {
  const ta = timeMicros(a.ts);
  const tb = timeMicros(b.ts);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return cmpId(a.id, b.id);
};

async function collectPages(client, query) {
  const pages = [];
  for await (const page of client.paginate(query)) {
    pages.push(page);
  }
  return pages;
}

// Creates a collection with a ts index and 11 documents written by 5 queries:
//   b1: 3 docs in one query, s1, s2: one doc each, b2: 5 docs in one query, s3.
async function seed(client, prefix) {
  const name = uniqueName(prefix);
  const created = await client.query(fql`
    Collection.create({
      name: ${name},
      indexes: { byTs: { values: [{ field: ".ts", order: "asc" }] } }
    })`);
  assert.ok(created.data instanceof NamedDocument, "Collection.create returns a named document");
  assert.equal(created.data.name, name);
  assert.ok(created.data.coll instanceof Module);
  assert.equal(created.data.coll.name, "Collection");

  const C = ident(name);
  const b1 = (
    await client.query(fql`[
      ${C}.create({ n: 1, batch: "b1" }),
      ${C}.create({ n: 2, batch: "b1" }),
      ${C}.create({ n: 3, batch: "b1" })
    ]`)
  ).data;
  const s1 = (await client.query(fql`${C}.create({ n: 4, batch: "s1" })`)).data;
  const s2 = (await client.query(fql`${C}.create({ n: 5, batch: "s2" })`)).data;
  const b2 = (
    await client.query(fql`[
      ${C}.create({ n: 6, batch: "b2" }),
      ${C}.create({ n: 7, batch: "b2" }),
      ${C}.create({ n: 8, batch: "b2" }),
      ${C}.create({ n: 9, batch: "b2" }),
      ${C}.create({ n: 10, batch: "b2" })
    ]`)
  ).data;
  const s3 = (await client.query(fql`${C}.create({ n: 11, batch: "s3" })`)).data;
  const all = [...b1, s1, s2, ...b2, s3];
  for (const d of all) {
    assert.ok(d instanceof Document, `create returns a Document, got ${JSON.stringify(d)}`);
    assert.equal(d.coll.name, name);
    assert.ok(d.ts instanceof TimeStub);
    assert.match(d.id, /^\d+$/, "document ids are strings of digits");
  }
  return { name, C, b1, s1, s2, b2, s3, all };
}

describe("pagination and ts index (fauna-js)", () => {
  let client;
  let S;

  before(async () => {
    client = makeClient();
    S = await seed(client, "Pag");
  });

  after(() => client.close());

  test("writes of one query share ts; later queries get later ts", () => {
    const ts = (d) => timeMicros(d.ts);
    for (const d of S.b1) assert.equal(ts(d), ts(S.b1[0]));
    for (const d of S.b2) assert.equal(ts(d), ts(S.b2[0]));
    assert.ok(ts(S.b1[0]) < ts(S.s1));
    assert.ok(ts(S.s1) < ts(S.s2));
    assert.ok(ts(S.s2) < ts(S.b2[0]));
    assert.ok(ts(S.b2[0]) < ts(S.s3));
    assertNoDuplicates(S.all.map((d) => d.id), "created ids");
  });

  test("paginate all().pageSize(3): every document once, in id order, 3 per page", async () => {
    const pages = await collectPages(client, fql`${S.C}.all().pageSize(3)`);
    assert.deepEqual(
      pages.map((p) => p.length),
      [3, 3, 3, 2],
    );
    const docs = pages.flat();
    const ids = docs.map((d) => d.id);
    assertNoDuplicates(ids);
    const expected = S.all.map((d) => d.id).sort(cmpId);
    assert.deepEqual(ids, expected);
    for (const d of docs) {
      assert.ok(d instanceof Document);
      assert.equal(d.coll.name, S.name);
      const orig = S.all.find((o) => o.id === d.id);
      assert.equal(d.n, orig.n);
      assert.equal(d.batch, orig.batch);
      assert.equal(d.ts.isoString, orig.ts.isoString);
    }
  });

  test("first page is a Page with an after cursor; last page has none", async () => {
    const res = await client.query(fql`${S.C}.all().pageSize(10)`);
    assert.ok(res.data instanceof Page, "a set materializes as a Page (@set)");
    assert.equal(res.data.data.length, 10);
    assert.equal(typeof res.data.after, "string");
    const res2 = await client.query(fql`Set.paginate(${res.data.after})`);
    assert.equal(res2.data.data.length, 1);
    assert.equal(res2.data.after, undefined);
    // default page size is 16: all 11 fit in one page, no cursor
    const res3 = await client.query(fql`${S.C}.all()`);
    assert.equal(res3.data.data.length, 11);
    assert.equal(res3.data.after, undefined);
  });

  test("paginate byTs().pageSize(2): ts order then id order, pages split same-ts groups", async () => {
    const pages = await collectPages(client, fql`${S.C}.byTs().pageSize(2)`);
    assert.deepEqual(
      pages.map((p) => p.length),
      [2, 2, 2, 2, 2, 1],
    );
    const got = pages.flat().map((d) => d.id);
    assertNoDuplicates(got);
    const expected = [...S.all].sort(byTsThenId).map((d) => d.id);
    assert.deepEqual(got, expected);
  });

  test("byTs({ from: t }) is inclusive of t", async () => {
    const t = S.s1.ts;
    const got = (await collectPages(client, fql`${S.C}.byTs({ from: ${t} }).pageSize(2)`))
      .flat()
      .map((d) => d.id);
    const expected = S.all
      .filter((d) => timeMicros(d.ts) >= timeMicros(t))
      .sort(byTsThenId)
      .map((d) => d.id);
    assert.deepEqual(got, expected);
    assert.equal(got[0], S.s1.id, "the document written at exactly t is included");
    assert.equal(got.length, 8);
  });

  test("byTs({ from: t }) where t is the ts of a multi-document write", async () => {
    const t = S.b2[0].ts;
    const got = (await collectPages(client, fql`${S.C}.byTs({ from: ${t} }).pageSize(4)`))
      .flat()
      .map((d) => d.id);
    const expected = [...S.b2.map((d) => d.id).sort(cmpId), S.s3.id];
    assert.deepEqual(got, expected);
  });

  test("byTs({ from, to }) includes both ends", async () => {
    const got = (
      await collectPages(
        client,
        fql`${S.C}.byTs({ from: ${S.s1.ts}, to: ${S.b2[0].ts} }).pageSize(3)`,
      )
    )
      .flat()
      .map((d) => d.id);
    const expected = [S.s1.id, S.s2.id, ...S.b2.map((d) => d.id).sort(cmpId)];
    assert.deepEqual(got, expected);
  });

  test("byTs({ to: t }) includes t", async () => {
    const got = (await collectPages(client, fql`${S.C}.byTs({ to: ${S.b1[0].ts} })`))
      .flat()
      .map((d) => d.id);
    assert.deepEqual(got, S.b1.map((d) => d.id).sort(cmpId));
  });

  test("byTs({ from: t + 1us }) excludes documents at t", async () => {
    const from = microsToTime(timeMicros(S.s1.ts) + 1n);
    const got = (await collectPages(client, fql`${S.C}.byTs({ from: ${from} })`))
      .flat()
      .map((d) => d.id);
    const expected = S.all
      .filter((d) => timeMicros(d.ts) >= timeMicros(from))
      .sort(byTsThenId)
      .map((d) => d.id);
    assert.ok(!got.includes(S.s1.id));
    assert.deepEqual(got, expected);
  });

  test("byTs({ from: Time(string) }) built in FQL", async () => {
    const iso = S.s2.ts.isoString;
    const got = (await collectPages(client, fql`${S.C}.byTs({ from: Time(${iso}) }).pageSize(5)`))
      .flat()
      .map((d) => d.id);
    const expected = S.all
      .filter((d) => timeMicros(d.ts) >= timeMicros(S.s2.ts))
      .sort(byTsThenId)
      .map((d) => d.id);
    assert.deepEqual(got, expected);
  });

  test("strict bound: byTs({ from: t }).where(.ts > t) excludes t", async () => {
    const t = S.s1.ts;
    const got = (
      await collectPages(client, fql`${S.C}.byTs({ from: ${t} }).where(.ts > ${t}).pageSize(2)`)
    )
      .flat()
      .map((d) => d.id);
    const expected = S.all
      .filter((d) => timeMicros(d.ts) > timeMicros(t))
      .sort(byTsThenId)
      .map((d) => d.id);
    assert.deepEqual(got, expected);
  });

  test("projection after pageSize is kept on every page", async () => {
    const pages = await collectPages(client, fql`${S.C}.all().pageSize(4) { id, ts, n }`);
    assert.equal(pages.length, 3);
    const rows = pages.flat();
    assert.deepEqual(
      rows.map((r) => r.id),
      S.all.map((d) => d.id).sort(cmpId),
    );
    for (const r of rows) {
      assert.ok(!(r instanceof Document), "a projection yields plain objects");
      assert.deepEqual(Object.keys(r).sort(), ["id", "n", "ts"]);
      assert.ok(r.ts instanceof TimeStub);
      assert.equal(typeof r.n, "number");
      const orig = S.all.find((o) => o.id === r.id);
      assert.equal(r.n, orig.n);
    }
  });

  test("snapshot: writes after page 1 are not seen by later pages of all()", async () => {
    const T = await seed(client, "Snap");
    const ids = T.all.map((d) => d.id).sort(cmpId);
    const first = await client.query(fql`${T.C}.all().pageSize(4)`);
    assert.deepEqual(
      first.data.data.map((d) => d.id),
      ids.slice(0, 4),
    );
    const snapshotTs = first.txn_ts;

    // After page 1: insert, update a doc of page 2, delete a doc of page 3.
    const updatedId = ids[5];
    const deletedId = ids[9];
    const before5 = T.all.find((d) => d.id === updatedId);
    const added = (await client.query(fql`${T.C}.create({ n: 100, batch: "late" })`)).data;
    await client.query(fql`${T.C}.byId(${updatedId})!.update({ n: 999 })`);
    await client.query(fql`${T.C}.byId(${deletedId})!.delete()`);
    assert.ok(client.lastTxnTs > snapshotTs, "the driver now sends a newer x-last-txn-ts");

    const rest = [];
    let after = first.data.after;
    while (after) {
      const res = await client.query(fql`Set.paginate(${after})`);
      rest.push(...res.data.data);
      after = res.data.after;
    }
    assert.deepEqual(
      rest.map((d) => d.id),
      ids.slice(4),
      "later pages show the page-1 snapshot",
    );
    assert.ok(!rest.some((d) => d.id === added.id), "a later insert is not seen");
    const u = rest.find((d) => d.id === updatedId);
    assert.equal(u.n, before5.n, "a later update is not seen");
    assert.equal(u.ts.isoString, before5.ts.isoString);
    assert.ok(rest.some((d) => d.id === deletedId), "a later delete is not seen");

    // a fresh read sees the new state
    const now = (await collectPages(client, fql`${T.C}.all().pageSize(100)`)).flat();
    assert.ok(now.some((d) => d.id === added.id));
    assert.ok(!now.some((d) => d.id === deletedId));
    assert.equal(now.find((d) => d.id === updatedId).n, 999);
  });

  test("snapshot: an update that moves a doc to the end of byTs is not seen twice", async () => {
    const T = await seed(client, "SnapTs");
    const order = [...T.all].sort(byTsThenId).map((d) => d.id);
    const first = await client.query(fql`${T.C}.byTs().pageSize(3)`);
    assert.deepEqual(
      first.data.data.map((d) => d.id),
      order.slice(0, 3),
    );
    // order[4] is on page 2; updating it bumps its ts past every other doc
    await client.query(fql`${T.C}.byId(${order[4]})!.update({ touched: true })`);
    const rest = [];
    let after = first.data.after;
    while (after) {
      const res = await client.query(fql`Set.paginate(${after})`);
      rest.push(...res.data.data);
      after = res.data.after;
    }
    const got = [...first.data.data, ...rest].map((d) => d.id);
    assertNoDuplicates(got);
    assert.deepEqual(got, order);
    assert.equal(rest.find((d) => d.id === order[4]).touched, undefined);

    // the same range read now puts the updated doc last
    const now = (await collectPages(client, fql`${T.C}.byTs().pageSize(3)`)).flat();
    assert.equal(now[now.length - 1].id, order[4]);
    assert.equal(now[now.length - 1].touched, true);
  });
});
