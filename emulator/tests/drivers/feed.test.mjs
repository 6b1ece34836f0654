// Event feeds (POST /feed/1) read with the official driver's FeedClient.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fql, Document, StreamToken, FeedPage, InvalidRequestError } from "fauna";
import { makeClient, uniqueName, timeMicros, cmpId } from "./helpers.mjs";

const ident = (name) => fql([name]);

async function readFeed(feed) {
  const pages = [];
  for await (const page of feed) {
    assert.ok(page instanceof FeedPage);
    pages.push({ events: [...page.events], hasNext: page.hasNext, cursor: page.cursor });
  }
  return pages;
}

describe("event feeds (fauna-js FeedClient)", () => {
  let client;
  let name;
  let C;

  before(async () => {
    client = makeClient();
    name = uniqueName("Feed");
    await client.query(fql`Collection.create({ name: ${name} })`);
    C = ident(name);
  });

  after(() => client.close());

  test("an empty feed: no events, has_next false", async () => {
    const src = (await client.query(fql`${C}.all().eventSource()`)).data;
    const pages = await readFeed(client.feed(src));
    assert.equal(pages.length, 1);
    assert.equal(pages[0].events.length, 0);
    assert.equal(pages[0].hasNext, false);
    assert.equal(typeof pages[0].cursor, "string");
  });

  test("add, update, remove in order; remove carries the old document", async () => {
    // a document written before the event source exists is not reported
    const pre = (await client.query(fql`${C}.create({ n: 0, label: "pre" })`)).data;

    const srcRes = await client.query(fql`${C}.all().eventSource()`);
    const src = srcRes.data;
    assert.ok(src instanceof StreamToken, "eventSource() returns an @stream token");
    assert.equal(typeof src.token, "string");

    const w1 = await client.query(fql`${C}.create({ n: 1, label: "a" })`);
    const a = w1.data;
    const w2 = await client.query(fql`${C}.byId(${a.id})!.update({ n: 2 })`);
    const w3 = await client.query(fql`${C}.byId(${a.id})!.delete()`);
    const w4 = await client.query(fql`[
      ${C}.create({ n: 3, label: "b" }),
      ${C}.create({ n: 4, label: "c" })
    ]`);
    const [b, c] = w4.data;

    const pages = await readFeed(client.feed(src, { page_size: 2 }));
    assert.deepEqual(
      pages.map((p) => p.events.length),
      [2, 2, 1],
      "page_size 2 splits 5 events into pages of 2, 2, 1",
    );
    assert.deepEqual(
      pages.map((p) => p.hasNext),
      [true, true, false],
    );
    const events = pages.flatMap((p) => p.events);

    assert.deepEqual(
      events.map((e) => e.type),
      ["add", "update", "remove", "add", "add"],
    );
    for (const e of events) {
      assert.ok(e.data instanceof Document, `event data is a @doc: ${JSON.stringify(e)}`);
      assert.equal(e.data.coll.name, name);
      assert.equal(typeof e.txn_ts, "number");
      assert.equal(typeof e.cursor, "string");
      assert.notEqual(e.data.id, pre.id, "writes before the token are not events");
    }

    const [add, upd, rem, addB, addC] = events;
    assert.equal(add.data.id, a.id);
    assert.equal(add.data.n, 1);
    assert.equal(add.txn_ts, w1.txn_ts, "event txn_ts is the write's txn_ts");
    assert.equal(BigInt(add.txn_ts), timeMicros(a.ts));

    assert.equal(upd.data.id, a.id);
    assert.equal(upd.data.n, 2);
    assert.equal(upd.data.label, "a");
    assert.equal(upd.txn_ts, w2.txn_ts);
    assert.equal(upd.data.ts.isoString, w2.data.ts.isoString);

    assert.equal(rem.data.id, a.id);
    assert.equal(rem.data.n, 2, "remove carries the document as it was before the delete");
    assert.equal(rem.data.label, "a");
    assert.equal(rem.txn_ts, w3.txn_ts);

    // two creates of one query: one txn_ts, both reported
    assert.equal(addB.txn_ts, w4.txn_ts);
    assert.equal(addC.txn_ts, w4.txn_ts);
    assert.deepEqual(
      [addB.data.id, addC.data.id].sort(cmpId),
      [b.id, c.id].sort(cmpId),
    );

    // strictly increasing across transactions
    assert.ok(add.txn_ts < upd.txn_ts && upd.txn_ts < rem.txn_ts && rem.txn_ts < addB.txn_ts);
    // cursors are distinct; a page with more to come ends at its last
    // event, the last page at the feed's snapshot (core: Feed.poll)
    assert.equal(new Set(events.map((e) => e.cursor)).size, events.length);
    assert.equal(pages[0].cursor, pages[0].events[1].cursor);
    assert.notEqual(pages[2].cursor, pages[2].events[0].cursor);
  });

  test("resume from a cursor: only later events", async () => {
    const src = (await client.query(fql`${C}.all().eventSource()`)).data;
    const d1 = (await client.query(fql`${C}.create({ n: 10 })`)).data;
    const d2 = (await client.query(fql`${C}.create({ n: 11 })`)).data;

    const first = await client.feed(src, { page_size: 1 }).nextPage();
    const ev1 = [...first.events];
    assert.equal(ev1.length, 1);
    assert.equal(ev1[0].data.id, d1.id);
    assert.equal(first.hasNext, true);

    const d3 = (await client.query(fql`${C}.create({ n: 12 })`)).data;
    const rest = (await readFeed(client.feed(src, { cursor: first.cursor }))).flatMap(
      (p) => p.events,
    );
    assert.deepEqual(
      rest.map((e) => [e.type, e.data.id]),
      [
        ["add", d2.id],
        ["add", d3.id],
      ],
    );

    // polling again from the final cursor: nothing new
    const last = rest[rest.length - 1].cursor;
    const again = await client.feed(src, { cursor: last }).nextPage();
    assert.equal([...again.events].length, 0);
    assert.equal(again.hasNext, false);
  });

  test("start_ts is exclusive: events strictly after it", async () => {
    const d1 = await client.query(fql`${C}.create({ n: 20 })`);
    const d2 = await client.query(fql`${C}.create({ n: 21 })`);
    // token created after the writes; start_ts reaches back before them
    const src = (await client.query(fql`${C}.all().eventSource()`)).data;
    const events = (await readFeed(client.feed(src, { start_ts: d1.txn_ts }))).flatMap(
      (p) => p.events,
    );
    assert.deepEqual(
      events.map((e) => [e.type, e.data.id]),
      [["add", d2.data.id]],
    );

    const events2 = (await readFeed(client.feed(src, { start_ts: d1.txn_ts - 1 }))).flatMap(
      (p) => p.events,
    );
    assert.deepEqual(
      events2.map((e) => [e.type, e.data.id]),
      [
        ["add", d1.data.id],
        ["add", d2.data.id],
      ],
    );
  });

  test("feed from a query: the driver resolves the token itself", async () => {
    const t0 = (await client.query(fql`0`)).txn_ts;
    const d = (await client.query(fql`${C}.create({ n: 30 })`)).data;
    const events = (
      await readFeed(client.feed(fql`${C}.all().eventSource()`, { start_ts: t0 }))
    ).flatMap((p) => p.events);
    assert.deepEqual(
      events.map((e) => [e.type, e.data.id]),
      [["add", d.id]],
    );
  });

  test("page_size over 16000 is a 400 invalid_request", async () => {
    const src = (await client.query(fql`${C}.all().eventSource()`)).data;
    await assert.rejects(client.feed(src, { page_size: 16001 }).nextPage(), (e) => {
      assert.ok(e instanceof InvalidRequestError, `got ${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.httpStatus, 400);
      assert.equal(e.code, "invalid_request");
      return true;
    });
  });
});
