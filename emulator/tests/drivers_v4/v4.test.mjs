// Cross-checks the emulator's legacy FQL v4 API (POST /) with the official
// faunadb v4 driver. Reads FAUNA_ENDPOINT and FAUNA_SECRET.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import faunadb from 'faunadb';

const q = faunadb.query;
const endpoint = new URL(process.env.FAUNA_ENDPOINT || 'http://127.0.0.1:8443');
const secret = process.env.FAUNA_SECRET || 'secret';

// The driver speaks HTTP/2 under node unless given a fetch implementation;
// the emulator is HTTP/1.1, so hand it node's own fetch.
function client(s = secret) {
  return new faunadb.Client({
    secret: s,
    domain: endpoint.hostname,
    port: Number(endpoint.port),
    scheme: endpoint.protocol.replace(':', ''),
    fetch: globalThis.fetch.bind(globalThis),
  });
}

const uniq = `v4_${process.pid}_${Date.now() % 100000}`;
const C = `${uniq}_users`;
const IX = `${uniq}_by_ts`;
const IXN = `${uniq}_by_name`;

async function pageAll(c, set, size, opts = {}) {
  const out = [];
  let after;
  let pages = 0;
  for (;;) {
    const page = await c.query(q.Paginate(set, { size, ...opts, ...(after ? { after } : {}) }));
    out.push(...page.data);
    pages++;
    assert.ok(page.data.length <= size);
    if (!page.after) break;
    after = page.after;
    assert.ok(pages < 1000, 'runaway pagination');
  }
  return { out, pages };
}

test('schema, documents in one Do, index pages and events', async () => {
  const c = client();
  const coll = await c.query(q.CreateCollection({ name: C }));
  assert.equal(coll.name, C);
  assert.ok(coll.ref instanceof faunadb.values.Ref);
  assert.equal(coll.ref.id, C);
  assert.equal(coll.ref.collection.id, 'collections');

  const ix = await c.query(q.CreateIndex({
    name: IX, source: q.Collection(C),
    values: [{ field: ['ts'] }, { field: ['ref'] }],
  }));
  assert.equal(ix.name, IX);
  assert.equal(ix.source.id, C);
  await c.query(q.CreateIndex({ name: IXN, source: q.Collection(C), terms: [{ field: ['data', 'name'] }] }));

  // five documents in one transaction: they share a ts
  const names = ['a', 'b', 'c', 'd', 'e'];
  const docs = await c.query(q.Do(names.map((n, i) =>
    q.Create(q.Collection(C), { data: { name: n, i, at: q.Time('2024-05-01T00:00:00Z') } }))));
  // Do(array) evaluates to the array: five documents, one ts
  assert.equal(docs.length, 5);
  assert.ok(docs.every((d) => d.ts === docs[0].ts));
  const created = docs[4];
  assert.equal(created.data.name, 'e');
  assert.ok(created.data.at instanceof faunadb.values.FaunaTime);
  const ts0 = created.ts;

  // a later single write, then an update
  const f = await c.query(q.Create(q.Ref(q.Collection(C), '42'), { data: { name: 'f' } }));
  assert.equal(f.ref.id, '42');
  assert.ok(f.ts > ts0);
  const upd = await c.query(q.Update(f.ref, { data: { name: 'ff' } }));
  assert.equal(upd.data.name, 'ff');

  // full read of the index in pages of 2: values [ts, ref], ordered
  const { out, pages } = await pageAll(c, q.Match(q.Index(IX)), 2);
  assert.equal(out.length, 6);
  assert.equal(pages, 3);
  for (let i = 1; i < out.length; i++) {
    const [pt, pr] = out[i - 1];
    const [t, r] = out[i];
    assert.ok(pt < t || (pt === t && BigInt(pr.id) < BigInt(r.id)), 'ordered by ts then ref');
  }
  assert.equal(out.filter(([t]) => t === ts0).length, 5);

  // Range with inclusive bounds: only the Do's entries
  const r = await pageAll(c, q.Range(q.Match(q.Index(IX)), [ts0], [ts0]), 2);
  assert.equal(r.out.length, 5);
  assert.equal(r.pages, 3);

  // Range from after ts0: only document 42 (updated)
  const later = await c.query(q.Paginate(q.Range(q.Match(q.Index(IX)), [ts0 + 1], [])));
  assert.equal(later.data.length, 1);
  assert.equal(later.data[0][1].id, '42');

  // events on the range: adds for each entry, a remove+add for the update
  const ev = await pageAll(c, q.Range(q.Match(q.Index(IX)), [], []), 2, { events: true });
  const actions = ev.out.map((e) => e.action);
  assert.deepEqual(actions.filter((a) => a === 'add').length, 7);
  assert.deepEqual(actions.filter((a) => a === 'remove').length, 1);
  for (let i = 1; i < ev.out.length; i++) assert.ok(ev.out[i - 1].ts <= ev.out[i].ts);

  // document events from a ts: create of 42 and its update
  const dev = await c.query(q.Paginate(q.Documents(q.Collection(C)), { events: true, after: ts0 + 1, size: 10 }));
  assert.deepEqual(dev.data.map((e) => e.action), ['create', 'update']);
  assert.equal(dev.data[1].document.id, '42');

  // match with terms and Map/Get/Lambda
  const byName = await c.query(q.Map(q.Paginate(q.Match(q.Index(IXN), 'c')), q.Lambda('x', q.Get(q.Var('x')))));
  assert.equal(byName.data.length, 1);
  assert.equal(byName.data[0].data.i, 2);

  // snapshot reads: At and paginate ts
  const before = await c.query(q.At(ts0, q.Get(q.Ref(q.Collection(C), '42')))).catch((e) => e);
  assert.equal(before.name, 'NotFound');
  const snap = await c.query(q.Paginate(q.Documents(q.Collection(C)), { ts: ts0 }));
  assert.equal(snap.data.length, 5);

  // Select with default, Let/Var, Equals
  const sel = await c.query(q.Let({ d: q.Get(f.ref) }, q.Select(['data', 'missing'], q.Var('d'), 'dflt')));
  assert.equal(sel, 'dflt');
  assert.equal(await c.query(q.Equals(q.ToMicros(q.Time('1970-01-01T00:00:01Z')), 1000000)), true);
  assert.equal(await c.query(q.Exists(q.Ref(q.Collection(C), '999'))), false);

  // delete
  const del = await c.query(q.Delete(f.ref));
  assert.equal(del.data.name, 'ff');
  assert.equal(await c.query(q.Exists(f.ref)), false);
});

test('error classes', async () => {
  const c = client();
  await assert.rejects(client('wrong-secret').query(q.Now()), (e) => {
    assert.equal(e.name, 'Unauthorized');
    assert.equal(e.requestResult.statusCode, 401);
    return true;
  });
  await assert.rejects(c.query(q.Get(q.Ref(q.Collection(C), '123456'))), (e) => {
    assert.equal(e.name, 'NotFound');
    assert.equal(e.requestResult.responseContent.errors[0].code, 'instance not found');
    return true;
  });
  await assert.rejects(c.query(q.Get(q.Collection(`${uniq}_nope`))), (e) => {
    assert.equal(e.name, 'BadRequest');
    const err = e.requestResult.responseContent.errors[0];
    assert.equal(err.code, 'invalid ref');
    assert.deepEqual(err.position, ['get']);
    return true;
  });
  await assert.rejects(c.query(q.Abort('stop')), (e) => {
    assert.equal(e.name, 'BadRequest');
    assert.equal(e.description, 'stop');
    return true;
  });
  await assert.rejects(c.query(q.CreateCollection({ name: C })), (e) => {
    assert.equal(e.name, 'BadRequest');
    assert.equal(e.requestResult.responseContent.errors[0].code, 'instance already exists');
    return true;
  });
  // a key with a role that cannot read the collection: PermissionDenied
  const role = await c.query(q.CreateRole({ name: `${uniq}_none`, privileges: [] }));
  assert.equal(role.name, `${uniq}_none`);
  const key = await c.query(q.CreateKey({ role: q.Role(`${uniq}_none`) }));
  assert.ok(key.secret);
  await assert.rejects(client(key.secret).query(q.Paginate(q.Documents(q.Collection(C)))), (e) => {
    assert.equal(e.name, 'PermissionDenied');
    return true;
  });
  const server = await c.query(q.CreateKey({ role: 'server' }));
  const p = await client(server.secret).query(q.Paginate(q.Documents(q.Collection(C))));
  assert.ok(p.data.length >= 5);
  assert.ok(p.data.every((r) => r instanceof faunadb.values.Ref && r.collection.id === C));
});

// A part of a parallel scan in v4: a ref range of a collection's documents
// (RangeFunctionSpec "limits a set to a lower and upper bound with refs";
// Range takes any set), read at one snapshot with At, following cursors;
// the first and last refs from a page of one, forwards and reversed.
test('Range over Documents by ref, first and last refs, At one snapshot, side by side', async () => {
  const c = client();
  const P = `${uniq}_parts`;
  await c.query(q.CreateCollection({ name: P }));
  await c.query(q.Do([1, 2, 3, 4, 5, 6, 7, 8].map((i) =>
    q.Create(q.Ref(q.Collection(P), String(i)), { data: { n: i } }))));
  const ref = (i) => q.Ref(q.Collection(P), String(i));
  const docs = q.Documents(q.Collection(P));
  const range = (lo, hi) => q.Range(docs, lo, hi);

  const first = await c.query(q.Paginate(docs, { size: 1 }));
  const last = await c.query(q.Paginate(q.Reverse(docs), { size: 1 }));
  assert.deepEqual([first.data[0].id, last.data[0].id], ['1', '8']);
  assert.ok(first.data[0] instanceof faunadb.values.Ref && first.data[0].collection.id === P);

  const { out } = await pageAll(c, range(ref(2), ref(6)), 2);
  assert.deepEqual(out.map((r) => r.id), ['2', '3', '4', '5', '6']);
  const bracketed = await pageAll(c, range([ref(2)], [ref(6)]), 10);
  assert.deepEqual(bracketed.out.map((r) => r.id), ['2', '3', '4', '5', '6']);
  const back = await pageAll(c, q.Reverse(range(ref(2), ref(6))), 2);
  assert.deepEqual(back.out.map((r) => r.id), ['6', '5', '4', '3', '2']);

  // the snapshot: x-txn-time of a read
  let ts;
  const observed = new faunadb.Client({
    secret, domain: endpoint.hostname, port: Number(endpoint.port),
    scheme: endpoint.protocol.replace(':', ''), fetch: globalThis.fetch.bind(globalThis),
    observer: (res) => { ts = Number(res.responseHeaders['x-txn-time']); },
  });
  await observed.query(q.Paginate(docs, { size: 1 }));
  await c.query(q.Delete(ref(3)));
  await c.query(q.Update(ref(5), { data: { n: 500 } }));
  await c.query(q.Create(ref(9), { data: { n: 9 } }));
  const seen = [];
  let after;
  for (;;) {
    const page = await c.query(q.At(ts, q.Map(
      q.Paginate(range(ref(2), ref(100)), { size: 2, ...(after ? { after } : {}) }),
      q.Lambda('r', q.Get(q.Var('r'))))));
    seen.push(...page.data);
    if (!page.after) break;
    after = page.after;
  }
  assert.deepEqual(seen.map((d) => d.ref.id), ['2', '3', '4', '5', '6', '7', '8']);
  assert.deepEqual(seen.map((d) => d.data.n), [2, 3, 4, 5, 6, 7, 8]);
  const lastThen = await c.query(q.At(ts, q.Paginate(q.Reverse(docs), { size: 1 })));
  assert.equal(lastThen.data[0].id, '8');

  // four reads, each held 400 ms in its transaction, run side by side
  await fetch(new URL('/_emulator/faults', endpoint), {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ kind: 'stall', delay_ms: 400, count: 4, path: '/', match: P }),
  });
  const t0 = performance.now();
  const pages = await Promise.all([[1, 2], [3, 4], [5, 6], [7, 9]].map(([lo, hi]) =>
    client().query(q.Paginate(range(ref(lo), ref(hi))))));
  const took = performance.now() - t0;
  assert.deepEqual(pages.map((p) => p.data.length), [2, 1, 2, 3]);
  assert.ok(took >= 400 && took < 800, `four stalled reads took ${took} ms`);
});
