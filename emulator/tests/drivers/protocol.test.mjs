// Request/response details the driver depends on: headers it sends, fields it
// reads (txn_ts, stats, query_tags), schema documents, feed
// error events.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fql, NamedDocument, QueryRuntimeError, ServiceError } from "fauna";
import { makeClient, uniqueName, requestLog, clearRequestLog } from "./helpers.mjs";

const ident = (name) => fql([name]);

describe("protocol details (fauna-js)", () => {
  let client;
  let name;
  let C;

  before(async () => {
    client = makeClient();
    name = uniqueName("Proto");
    await client.query(fql`Collection.create({
      name: ${name},
      indexes: { byTs: { values: [{ field: ".ts", order: "asc" }] } }
    })`);
    C = ident(name);
  });

  after(() => client.close());

  test("success body: txn_ts (µs), summary, stats with the documented counters", async () => {
    const res = await client.query(fql`${C}.create({ a: 1 })`);
    assert.equal(typeof res.txn_ts, "number");
    assert.ok(res.txn_ts > 1_600_000_000_000_000, "txn_ts is in microseconds");
    assert.equal(typeof res.summary, "string");
    for (const k of [
      "compute_ops",
      "read_ops",
      "write_ops",
      "query_time_ms",
      "contention_retries",
      "storage_bytes_read",
      "storage_bytes_write",
    ]) {
      assert.equal(typeof res.stats[k], "number", `stats.${k}`);
    }
    assert.ok(Array.isArray(res.stats.rate_limits_hit));
    assert.ok(res.stats.write_ops >= 1, "a create counts a write op");
    assert.equal(typeof res.schema_version, "number");
  });

  test("every header the driver can send is accepted; x-last-txn-ts is sent", async () => {
    await client.query(fql`1`); // make sure the client has seen a txn_ts
    await clearRequestLog();
    const res = await client.query(fql`${C}.all().pageSize(1)`, {
      query_tags: { job: "sync_1", env: "test" },
      linearized: true,
      max_contention_retries: 3,
      query_timeout_ms: 12_345,
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      typecheck: false,
      performance_hints: false,
    });
    assert.deepEqual(res.query_tags, { job: "sync_1", env: "test" }, "query_tags echo");
    const [entry] = (await requestLog()).filter((e) => e.path === "/query/1");
    assert.ok(entry, "request logged");
    const h = entry.headers;
    assert.equal(h["x-format"], "tagged");
    assert.equal(h["x-query-timeout-ms"], "12345");
    assert.equal(h["x-linearized"], "true");
    assert.equal(h["x-max-contention-retries"], "3");
    assert.equal(h["x-query-tags"], "job=sync_1,env=test");
    assert.match(h["x-last-txn-ts"] ?? "", /^\d+$/);
    assert.match(h["x-driver-env"] ?? "", /^driver=javascript-/);
    assert.equal(h.authorization, "<redacted>", "the log never keeps the secret");
  });

  test("a malformed x-query-tags is a 400 invalid_request", async () => {
    await assert.rejects(client.query(fql`1`, { query_tags: { "bad tag": "x" } }), (e) => {
      assert.ok(e instanceof ServiceError, `${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.httpStatus, 400);
      assert.equal(e.code, "invalid_request");
      return true;
    });
  });

  test("Collection.byName: a named document with its indexes, queryable", async () => {
    const def = (await client.query(fql`Collection.byName(${name})`)).data;
    assert.ok(def instanceof NamedDocument);
    assert.equal(def.name, name);
    assert.equal(def.coll.name, "Collection");
    assert.deepEqual(def.indexes.byTs.values, [
      { field: ".ts", order: "asc" },
    ]);
    assert.equal(def.indexes.byTs.queryable, true);
    const none = (await client.query(fql`Collection.byName(${"NoSuch_" + name})`)).data;
    assert.equal(none, null);
    const all = (await client.query(fql`Collection.all().pageSize(1000).map(.name)`)).data;
    assert.ok(all.data.includes(name), "Collection.all() lists it");
  });

  test("historical read: at (ts) sees the old version", async () => {
    const d = (await client.query(fql`${C}.create({ v: 1 })`)).data;
    await client.query(fql`${C}.byId(${d.id})!.update({ v: 2 })`);
    const old = (await client.query(fql`at (${d.ts}) { ${C}.byId(${d.id})!.v }`)).data;
    assert.equal(old, 1);
    const now = (await client.query(fql`${C}.byId(${d.id})!.v`)).data;
    assert.equal(now, 2);
  });

  test("feed: a start_ts older than history gives an error event; the driver throws it", async () => {
    const src = (await client.query(fql`${C}.all().eventSource()`)).data;
    const feed = client.feed(src, { start_ts: 1000 });
    await assert.rejects(
      (async () => {
        for await (const page of feed) {
          for (const _ of page.events) {
            // consuming the iterator throws at the error event
          }
        }
      })(),
      (e) => {
        assert.ok(e instanceof QueryRuntimeError, `${e?.constructor?.name}: ${e?.message}`);
        assert.equal(e.code, "invalid_stream_start_time");
        return true;
      },
    );
  });
});
