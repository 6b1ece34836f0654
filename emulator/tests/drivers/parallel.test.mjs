// The query forms of fauna_fdw's parallel scans, through the official
// driver: the first and last document ids of a collection, an inclusive
// range of ids (as ids, id strings and documents, FQL2SetsSpec "can range
// with document id"), and every part read at one snapshot with at(), whose
// cursors keep both the range and the snapshot; parts read side by side.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fql } from "fauna";
import { injectFault, makeClient, uniqueName } from "./helpers.mjs";

const ident = (name) => fql([name]);

describe("parallel scan forms", () => {
  let client;
  let name;
  let C;
  let ids;

  before(async () => {
    client = makeClient();
    name = uniqueName("Par");
    await client.query(fql`Collection.create({ name: ${name} })`);
    C = ident(name);
    const r = await client.query(fql`Set.sequence(0, 12).map(i => ${C}.create({ n: i }).id).toArray()`);
    ids = r.data.map(BigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  });

  after(() => client.close());

  test("first and last ids", async () => {
    const r = await client.query(fql`{ first: ${C}.all().first()?.id, last: ${C}.all().reverse().first()?.id }`);
    assert.equal(BigInt(r.data.first), ids[0]);
    assert.equal(BigInt(r.data.last), ids[ids.length - 1]);
  });

  test("an inclusive range of ids, however given", async () => {
    const lo = ids[3].toString();
    const hi = ids[7].toString();
    const want = ids.slice(3, 8).map(String);
    for (const q of [
      fql`${C}.all({ from: ${lo}, to: ${hi} }) { id }`,
      fql`${C}.all({ from: ${C}.byId(${lo}), to: ${C}.byId(${hi}) }) { id }`,
    ]) {
      const r = await client.query(q);
      assert.deepEqual(r.data.data.map((d) => d.id), want);
    }
  });

  test("parts at one snapshot: the cursor keeps the range and the snapshot", async () => {
    const snap = (await client.query(fql`${C}.all().first()?.id`)).txn_ts;
    const at = new Date(Number(BigInt(snap) / 1000n)).toISOString().replace("Z", "") +
      (BigInt(snap) % 1000n).toString().padStart(3, "0") + "Z";
    const lo = ids[2].toString();
    const hi = ids[9].toString();
    const q = fql`at (Time(${at})) { ${C}.all({ from: ${lo}, to: ${hi} }).pageSize(3) { id, n } }`;
    const first = await client.query(q);
    // written after the snapshot: an update inside the range, a new document
    await client.query(fql`${C}.byId(${ids[8].toString()})!.update({ n: 1000 })`);
    await client.query(fql`${C}.create({ n: 2000 })`);
    const seen = [...first.data.data];
    let after = first.data.after;
    while (after) {
      const page = await client.query(fql`Set.paginate(${after})`);
      seen.push(...page.data.data);
      after = page.data.after;
    }
    assert.deepEqual(seen.map((d) => d.id), ids.slice(2, 10).map(String));
    assert.ok(seen.every((d) => d.n < 1000), "the update after the snapshot is not seen");
  });
  // the emulator serves reads side by side (docs/emulator.md): four parts,
  // each held 500 ms inside its transaction, take about the time of one
  test("parts are read side by side", async () => {
    await injectFault({ kind: "stall", delay_ms: 500, count: 4, path: "/query/1", match: name });
    const cuts = [0, 3, 6, 9, ids.length];
    const clients = cuts.slice(1).map(() => makeClient());
    const t0 = performance.now();
    const parts = await Promise.all(clients.map((c, i) => c.query(
      fql`${C}.all({ from: ${ids[cuts[i]].toString()}, to: ${ids[cuts[i + 1] - 1].toString()} }).pageSize(100) { id }`)));
    const took = performance.now() - t0;
    clients.forEach((c) => c.close());
    assert.deepEqual(parts.flatMap((p) => p.data.data.map((d) => d.id)), ids.map(String));
    assert.ok(took >= 500 && took < 950, `four stalled reads took ${took} ms`);
  });
});
