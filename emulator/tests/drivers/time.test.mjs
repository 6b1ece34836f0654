// Time arithmetic and errors, expectations taken from the core's
// FQL2TimeSpec (add/subtract units, invalid time, invalid unit), checked
// through the official driver.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fql, TimeStub, QueryRuntimeError } from "fauna";
import { makeClient, timeNanos } from "./helpers.mjs";

const EPOCH = timeNanos("1970-01-01T00:00:00Z");
const NS = {
  nanosecond: 1n,
  microsecond: 1_000n,
  millisecond: 1_000_000n,
  second: 1_000_000_000n,
  minute: 60_000_000_000n,
  hour: 3_600_000_000_000n,
  "half day": 43_200_000_000_000n,
  day: 86_400_000_000_000n,
};

describe("Time (core FQL2TimeSpec via fauna-js)", () => {
  let client;
  before(() => {
    client = makeClient();
  });
  after(() => client.close());

  test("Time(), Time.fromString(), comparisons", async () => {
    const r = await client.query(fql`[
      Time("1970-01-01T00:00:00.123Z"),
      Time.fromString("1970-01-01T00:00:00.123Z"),
      Time("1970-01-01T00:00:00Z") == Time("1970-01-01T00:00:00Z"),
      Time("1970-01-01T00:00:00Z") != Time("1970-01-01T00:00:01Z"),
      Time("1970-01-01T00:00:01Z") > Time("1970-01-01T00:00:00Z"),
      Time("1970-01-01T00:00:00Z") >= Time("1970-01-01T00:00:00Z"),
      Time("1970-01-01T00:00:01Z") < Time("1970-01-01T00:00:00Z"),
      Time("1970-01-01T00:00:00Z") <= Time("1970-01-01T00:00:00Z")
    ]`);
    const [t1, t2, ...bools] = r.data;
    assert.ok(t1 instanceof TimeStub);
    assert.equal(timeNanos(t1), EPOCH + 123_000_000n);
    assert.equal(timeNanos(t2), EPOCH + 123_000_000n);
    assert.deepEqual(bools, [true, true, true, true, false, true]);
  });

  test("add/subtract with plural units", async () => {
    for (const [unit, ns] of Object.entries(NS)) {
      if (unit === "half day") continue; // covered by the todo test below
      const plural = unit + "s";
      const r = await client.query(
        fql`let ts = Time("1970-01-01T00:00:00Z"); [ts.add(1, ${plural}), ts.subtract(1, ${plural})]`,
      );
      assert.equal(timeNanos(r.data[0]) - EPOCH, ns, `add(1, "${plural}")`);
      assert.equal(EPOCH - timeNanos(r.data[1]), ns, `subtract(1, "${plural}")`);
    }
  });

  test(
    "add/subtract with singular units and \"half day(s)\" (core accepts all)",
    async () => {
      const cases = [...Object.entries(NS), ["half days", NS["half day"]]];
      for (const [unit, ns] of cases) {
        const r = await client.query(
          fql`let ts = Time("1970-01-01T00:00:00Z"); [ts.add(1, ${unit}), ts.subtract(1, ${unit})]`,
        );
        assert.equal(timeNanos(r.data[0]) - EPOCH, ns, `add(1, "${unit}")`);
        assert.equal(EPOCH - timeNanos(r.data[1]), ns, `subtract(1, "${unit}")`);
      }
    },
  );

  test("invalid time: invalid_time", async () => {
    await assert.rejects(client.query(fql`Time("2020-01-01 01:01:01")`), (e) => {
      assert.ok(e instanceof QueryRuntimeError, `${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.httpStatus, 400);
      assert.equal(e.code, "invalid_time");
      return true;
    });
  });

  test("invalid unit: invalid_unit", async () => {
    await assert.rejects(
      client.query(fql`Time("2020-01-01T01:01:01Z").add(1, "invalid")`),
      (e) => {
        assert.ok(e instanceof QueryRuntimeError, `${e?.constructor?.name}: ${e?.message}`);
        assert.equal(e.code, "invalid_unit");
        return true;
      },
    );
  });

  test(
    "error messages match the core's wording",
    async () => {
      await assert.rejects(client.query(fql`Time("2020-01-01 01:01:01")`), (e) => {
        assert.equal(e.message, "`2020-01-01 01:01:01` is not a valid time.");
        return true;
      });
      await assert.rejects(
        client.query(fql`Time("2020-01-01T01:01:01Z").add(1, "invalid")`),
        (e) => {
          assert.equal(e.message, "`invalid` is not a valid time unit.");
          return true;
        },
      );
    },
  );

  test(
    "Math.sqrt(-1) is NaN, not an internal error",
    async () => {
      const r = await client.query(fql`Math.sqrt(-1)`);
      assert.ok(Number.isNaN(r.data));
    },
  );
});
