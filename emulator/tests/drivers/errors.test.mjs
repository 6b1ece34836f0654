// Error responses and the error classes the official driver maps them to.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  fql,
  Client,
  AbortError,
  AuthenticationError,
  QueryCheckError,
  QueryRuntimeError,
  ServiceError,
} from "fauna";
import { ENDPOINT, httpClient, makeClient, uniqueName, rawPost } from "./helpers.mjs";

const ident = (name) => fql([name]);

function expectError(cls, { status, code, check } = {}) {
  return (e) => {
    assert.ok(
      e instanceof cls,
      `expected ${cls.name}, got ${e?.constructor?.name}: ${e?.message} ${JSON.stringify(e?.queryInfo ?? "")}`,
    );
    assert.ok(e instanceof ServiceError);
    if (status !== undefined) assert.equal(e.httpStatus, status);
    if (code !== undefined) assert.equal(e.code, code);
    assert.equal(typeof e.message, "string");
    assert.ok(e.message.length > 0, "error has a message");
    if (check) check(e);
    return true;
  };
}

describe("errors (fauna-js error classes)", () => {
  let client;
  let name;
  let C;

  before(async () => {
    client = makeClient();
    name = uniqueName("Errs");
    await client.query(fql`Collection.create({ name: ${name} })`);
    C = ident(name);
  });

  after(() => client.close());

  test("bad secret: AuthenticationError, 401 unauthorized", async () => {
    const endpoint = new URL(ENDPOINT);
    const bad = new Client({ endpoint, secret: "not-the-secret", max_attempts: 1 }, httpClient());
    try {
      await assert.rejects(
        bad.query(fql`1`),
        expectError(AuthenticationError, { status: 401, code: "unauthorized" }),
      );
    } finally {
      bad.close();
    }
  });

  test("missing secret (raw): 401 unauthorized with WWW-Authenticate", async () => {
    const res = await fetch(new URL("/query/1", ENDPOINT), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query: "1" }),
    });
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/);
    const body = await res.json();
    assert.equal(body.error.code, "unauthorized");
  });

  test("syntax error: QueryCheckError, 400 invalid_query", async () => {
    await assert.rejects(
      client.query(fql`1 +`),
      expectError(QueryCheckError, { status: 400, code: "invalid_query" }),
    );
  });

  test("unknown identifier: QueryCheckError, 400 invalid_query", async () => {
    await assert.rejects(
      client.query(fql`NoSuchCollection_xyz.all()`),
      expectError(QueryCheckError, { status: 400, code: "invalid_query" }),
    );
  });

  test("a query error body has error.code, error.message, summary and stats", async () => {
    const r = await rawPost("/query/1", { query: "1 +" }, { "x-format": "tagged" });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, "invalid_query");
    assert.equal(typeof r.json.error.message, "string");
    assert.equal(typeof r.json.summary, "string");
    assert.ok(r.json.stats, "query errors include stats");
  });

  test("abort(value): AbortError with the decoded value", async () => {
    await assert.rejects(
      client.query(fql`abort({ why: "because", n: 3 })`),
      expectError(AbortError, {
        status: 400,
        code: "abort",
        check: (e) => assert.deepEqual(e.abort, { why: "because", n: 3 }),
      }),
    );
  });

  test("pageSize(0): QueryRuntimeError invalid_bounds", async () => {
    await assert.rejects(
      client.query(fql`${C}.all().pageSize(0)`),
      expectError(QueryRuntimeError, { status: 400, code: "invalid_bounds" }),
    );
    await assert.rejects(
      client.query(fql`${C}.all().pageSize(16001)`),
      expectError(QueryRuntimeError, { status: 400, code: "invalid_bounds" }),
    );
  });

  test("Set.paginate(garbage): QueryRuntimeError invalid_cursor", async () => {
    await assert.rejects(
      client.query(fql`Set.paginate(${"definitely-not-a-cursor"})`),
      expectError(QueryRuntimeError, { status: 400, code: "invalid_cursor" }),
    );
  });

  test("byId(missing)! : QueryRuntimeError document_not_found", async () => {
    await assert.rejects(
      client.query(fql`${C}.byId("123456789")!`),
      expectError(QueryRuntimeError, { status: 400, code: "document_not_found" }),
    );
  });

  test("malformed request body: 400 invalid_request", async () => {
    const r = await rawPost("/query/1", "{not json", { "x-format": "tagged" });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, "invalid_request");
  });

  test("bare JSON number in tagged arguments: 400 invalid_request", async () => {
    const r = await rawPost(
      "/query/1",
      { query: { fql: ["x"] }, arguments: { x: 5 } },
      { "x-format": "tagged" },
    );
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, "invalid_request");
  });
});
