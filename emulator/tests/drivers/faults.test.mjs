// Injected 429s (emulator control API) and the driver's retry of them.
import { describe, test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import {
  fql,
  ThrottlingError,
  ContendedTransactionError,
  QueryTimeoutError,
  ServiceInternalError,
  AuthenticationError,
  AuthorizationError,
  NetworkError,
  ProtocolError,
  ServiceError,
  ClientError,
} from "fauna";
import {
  makeClient,
  uniqueName,
  injectFault,
  clearFaults,
  requestLog,
  clearRequestLog,
} from "./helpers.mjs";

const ident = (name) => fql([name]);

// Log entries of /query/1 requests whose body contains `marker`.
async function attemptsFor(marker) {
  const log = await requestLog();
  return log.filter((e) => e.path === "/query/1" && (e.body ?? "").includes(marker));
}

describe("429 fault injection and driver retries", () => {
  let client;

  before(async () => {
    client = makeClient({ max_attempts: 3, max_backoff: 0.05 });
  });

  beforeEach(async () => {
    await clearFaults();
  });

  after(async () => {
    await clearFaults();
    client.close();
  });

  test("two 429s then success: the driver retries and succeeds on attempt 3", async () => {
    const marker = uniqueName("retry_ok");
    await injectFault({ kind: "status", status: 429, count: 2, path: "/query/1", match: marker });
    const res = await client.query(fql`${marker}`);
    assert.equal(res.data, marker);
    assert.equal(res.stats.attempts, 3, "the driver counts its attempts in stats");
    const attempts = await attemptsFor(marker);
    assert.deepEqual(
      attempts.map((e) => e.status),
      [429, 429, 200],
      `request log: ${JSON.stringify(attempts)}`,
    );
    // every attempt is the same request
    assert.equal(new Set(attempts.map((e) => e.body)).size, 1);
  });

  test("429 on every attempt: ThrottlingError (429 limit_exceeded) after max_attempts", async () => {
    const marker = uniqueName("retry_fail");
    await injectFault({ kind: "status", status: 429, count: 5, path: "/query/1", match: marker });
    await assert.rejects(client.query(fql`${marker}`), (e) => {
      assert.ok(e instanceof ThrottlingError, `got ${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.httpStatus, 429);
      assert.equal(e.code, "limit_exceeded");
      return true;
    });
    const attempts = await attemptsFor(marker);
    assert.deepEqual(
      attempts.map((e) => e.status),
      [429, 429, 429],
      "exactly max_attempts requests were sent",
    );
    await clearFaults();
    const res = await client.query(fql`${marker}`);
    assert.equal(res.stats.attempts, 1, "without the fault the first attempt succeeds");
  });

  test("a 429 on page 2 of client.paginate is retried; no page lost or repeated", async () => {
    const name = uniqueName("Retry");
    const C = ident(name);
    await client.query(fql`Collection.create({ name: ${name} })`);
    await client.query(fql`[1, 2, 3, 4, 5, 6, 7].map(i => ${C}.create({ i: i }))`);
    await clearRequestLog();
    await injectFault({ kind: "status", status: 429, count: 1, path: "/query/1", match: "Set.paginate" });
    const ids = [];
    for await (const page of client.paginate(fql`${C}.all().pageSize(3)`)) {
      ids.push(...page.map((d) => d.id));
    }
    assert.equal(ids.length, 7);
    assert.equal(new Set(ids).size, 7);
    const log = (await requestLog()).filter((e) => e.path === "/query/1");
    assert.deepEqual(
      log.map((e) => e.status),
      [200, 429, 200, 200],
      "page 1, page 2 throttled, page 2 retried, page 3",
    );
  });

  test("max_attempts 1: the 429 surfaces at once", async () => {
    const once = makeClient({ max_attempts: 1 });
    const marker = uniqueName("no_retry");
    try {
      await injectFault({ kind: "status", status: 429, count: 1, path: "/query/1", match: marker });
      await assert.rejects(once.query(fql`${marker}`), ThrottlingError);
      assert.deepEqual(
        (await attemptsFor(marker)).map((e) => e.status),
        [429],
      );
    } finally {
      once.close();
    }
  });

  // Each injected status must carry a body the driver maps to the right class.
  const STATUS_CASES = [
    [409, "contended_transaction", ContendedTransactionError],
    [440, "time_out", QueryTimeoutError],
    [503, "time_out", QueryTimeoutError],
    [500, "internal_error", ServiceInternalError],
    [401, "unauthorized", AuthenticationError],
    [403, "forbidden", AuthorizationError],
  ];
  for (const [status, code, cls] of STATUS_CASES) {
    test(`injected ${status}: ${cls.name} (${code}), not retried`, async () => {
      const marker = uniqueName(`st${status}`);
      await injectFault({ kind: "status", status, count: 1, path: "/query/1", match: marker });
      await assert.rejects(client.query(fql`${marker}`), (e) => {
        assert.ok(e instanceof cls, `got ${e?.constructor?.name}: ${e?.message}`);
        assert.ok(e instanceof ServiceError);
        assert.equal(e.httpStatus, status);
        assert.equal(e.code, code);
        return true;
      });
      assert.deepEqual(
        (await attemptsFor(marker)).map((e) => e.status),
        [status],
      );
    });
  }

  test("injected 502 / 504 (router errors): a ServiceError with the status", async () => {
    for (const status of [502, 504]) {
      const marker = uniqueName(`st${status}`);
      await injectFault({ kind: "status", status, count: 1, path: "/query/1", match: marker });
      await assert.rejects(client.query(fql`${marker}`), (e) => {
        assert.ok(e instanceof ServiceError, `got ${e?.constructor?.name}: ${e?.message}`);
        assert.equal(e.httpStatus, status);
        return true;
      });
    }
  });

  // A drop before the response is a NetworkError. A body cut short after
  // the headers fails in FetchClient's response.text(), outside its catch, so
  // fauna-js 2.5.0 reports it as ClientError ("Fauna was not called", with
  // the fetch error as cause): a driver quirk; what matters is that no
  // partial result is returned.
  test("dropped connection, truncated and mid-body drops fail the query", async () => {
    for (const kind of ["drop", "truncated", "drop_mid_body"]) {
      const marker = uniqueName(kind);
      await injectFault({ kind, count: 1, path: "/query/1", match: marker });
      await assert.rejects(client.query(fql`${marker}`), (e) => {
        const ok =
          e instanceof NetworkError ||
          (kind !== "drop" && e instanceof ClientError && e.cause instanceof Error);
        assert.ok(ok, `${kind}: got ${e?.constructor?.name}: ${e?.message} (${e?.cause})`);
        return true;
      });
      const res = await client.query(fql`${marker}`);
      assert.equal(res.data, marker, `${kind}: the next request is served normally`);
    }
  });

  test("malformed 200 body: ProtocolError", async () => {
    const marker = uniqueName("malformed");
    await injectFault({ kind: "malformed", count: 1, path: "/query/1", match: marker });
    await assert.rejects(client.query(fql`${marker}`), (e) => {
      assert.ok(e instanceof ProtocolError, `got ${e?.constructor?.name}: ${e?.message}`);
      return true;
    });
  });

  test("delay beyond the client timeout: the driver gives up (NetworkError)", async () => {
    const quick = makeClient({ query_timeout_ms: 200, client_timeout_buffer_ms: 100 });
    const marker = uniqueName("delay");
    try {
      await injectFault({ kind: "delay", delay_ms: 1500, count: 1, path: "/query/1", match: marker });
      const t0 = Date.now();
      await assert.rejects(quick.query(fql`${marker}`), (e) => {
        assert.ok(e instanceof NetworkError, `got ${e?.constructor?.name}: ${e?.message}`);
        return true;
      });
      assert.ok(Date.now() - t0 < 1400, "the client did not wait for the delayed answer");
      // a delay within the timeout is just slow
      await injectFault({ kind: "delay", delay_ms: 100, count: 1, path: "/query/1", match: marker });
      const res = await client.query(fql`${marker}`);
      assert.equal(res.data, marker);
    } finally {
      quick.close();
    }
  });
});
