// The emulator's clocks as the driver sees them. FAUNA_EMULATOR_CLOCK is set
// by test_drivers.py: "logical" (deterministic ids and 1 ms per write
// transaction, see emulator/README.md) or "wall".
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fql } from "fauna";
import { makeClient, uniqueName, timeMicros } from "./helpers.mjs";

const CLOCK = process.env.FAUNA_EMULATOR_CLOCK ?? "wall";
const LOGICAL_START_US = 1704067200n * 1_000_000n; // 2024-01-01T00:00:00Z
const LOGICAL_FIRST_ID = 400000000000000001n;
const ident = (name) => fql([name]);

describe(`emulator clock (${CLOCK})`, () => {
  let client;
  let C;

  before(async () => {
    client = makeClient();
    const name = uniqueName("Clock");
    await client.query(fql`Collection.create({ name: ${name} })`);
    C = ident(name);
  });

  after(() => client.close());

  test("a write's txn_ts is its documents' ts; writes are strictly later", async () => {
    const w1 = await client.query(fql`${C}.create({ n: 1 })`);
    const w2 = await client.query(fql`[${C}.create({ n: 2 }), ${C}.create({ n: 3 })]`);
    assert.equal(timeMicros(w1.data.ts), BigInt(w1.txn_ts));
    for (const d of w2.data) assert.equal(timeMicros(d.ts), BigInt(w2.txn_ts));
    assert.ok(w2.txn_ts > w1.txn_ts);
    if (CLOCK === "logical") {
      assert.equal(w2.txn_ts - w1.txn_ts, 1000, "logical clock: +1 ms per write transaction");
      assert.ok(BigInt(w1.txn_ts) >= LOGICAL_START_US);
      const [a, b] = w2.data.map((d) => BigInt(d.id));
      assert.equal(b - a, 1n, "logical clock: ids +1 per new document");
      assert.equal(a - BigInt(w1.data.id), 1n);
      assert.ok(BigInt(w1.data.id) >= LOGICAL_FIRST_ID);
    } else {
      const nowUs = BigInt(Date.now()) * 1000n;
      const diff = nowUs - BigInt(w2.txn_ts);
      assert.ok(diff >= -60_000_000n && diff <= 60_000_000n, `wall ts within a minute of now (${diff} µs)`);
    }
  });

  test("a read-only query does not advance the write clock", async () => {
    const w = await client.query(fql`${C}.create({ n: 4 })`);
    const r = await client.query(fql`${C}.all().count()`);
    assert.ok(r.txn_ts >= w.txn_ts, "a read's snapshot includes the last write");
    const w2 = await client.query(fql`${C}.create({ n: 5 })`);
    assert.ok(w2.txn_ts > r.txn_ts);
    if (CLOCK === "logical") {
      assert.equal(r.txn_ts, w.txn_ts, "logical clock: reads return the last write's ts");
      assert.equal(w2.txn_ts - w.txn_ts, 1000, "a read in between does not use up a tick");
    }
  });
});
