// Shared helpers for the driver cross-checks. Not a test file (node --test
// only runs *.test.mjs here).
//
// Every test file reads FAUNA_ENDPOINT (e.g. http://127.0.0.1:8443) and
// FAUNA_SECRET (the emulator's --secret, which is also its admin secret).
import assert from "node:assert/strict";
import { Client, FetchClient } from "fauna";

export const ENDPOINT = process.env.FAUNA_ENDPOINT;
export const SECRET = process.env.FAUNA_SECRET;

if (!ENDPOINT || !SECRET) {
  throw new Error(
    "FAUNA_ENDPOINT and FAUNA_SECRET must be set (see emulator/tests/test_drivers.py)",
  );
}

// The driver's default HTTP client on Node is HTTP/2 (h2c on http:// URLs),
// which a Python standard-library server cannot speak. FetchClient is the
// driver's own HTTP/1.1 client (used in browsers, Deno, Bun, workers); all
// protocol handling above the transport is the same code.
export function httpClient(endpoint = ENDPOINT) {
  return new FetchClient({ url: new URL(endpoint).toString(), fetch_keepalive: false });
}

export function makeClient(config = {}) {
  const endpoint = new URL(config.endpoint ?? ENDPOINT);
  return new Client(
    {
      endpoint,
      secret: SECRET,
      // keep the 429 backoff short so the retry test does not sleep seconds
      max_backoff: 0.05,
      query_timeout_ms: 30_000,
      ...config,
      endpoint,
    },
    httpClient(endpoint),
  );
}

let counter = 0;
// A collection name no other test file (or earlier run) uses.
export function uniqueName(prefix) {
  counter += 1;
  const rnd = Math.floor(Math.random() * 1e9).toString(36);
  return `${prefix}_${process.pid}_${rnd}_${counter}`;
}

// Raw HTTP call, for checks below the driver (request log, fault API).
export async function rawPost(path, body, headers = {}) {
  const res = await fetch(new URL(path, ENDPOINT), {
    method: "POST",
    headers: {
      Authorization: `Bearer ${SECRET}`,
      "Content-Type": "application/json",
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export async function rawGet(path, headers = {}) {
  const res = await fetch(new URL(path, ENDPOINT), {
    method: "GET",
    headers: { Authorization: `Bearer ${SECRET}`, ...headers },
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

// Document ids are strings holding 64-bit integers; compare numerically.
export function cmpId(a, b) {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

// Fauna times are ISO strings with 0/3/6/9 fraction digits; compare at ns.
export function timeNanos(t) {
  const iso = typeof t === "string" ? t : t.isoString;
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(iso);
  assert.ok(m, `unexpected time format ${iso}`);
  const secs = BigInt(Date.parse(m[1] + "Z")) / 1000n;
  const frac = BigInt((m[2] ?? "").padEnd(9, "0"));
  return secs * 1_000_000_000n + frac;
}

export function timeMicros(t) {
  return timeNanos(t) / 1000n;
}

export function assertNoDuplicates(ids, what = "ids") {
  const seen = new Set();
  for (const id of ids) {
    assert.ok(!seen.has(id), `${what}: duplicate ${id} in ${JSON.stringify(ids)}`);
    seen.add(id);
  }
}

// ---- emulator control API (/_emulator/, admin secret) -------------------
// See emulator/README.md for the endpoints and the request-log entry shape.

async function control(method, path, body) {
  const res = await fetch(new URL(path, ENDPOINT), {
    method,
    headers: { Authorization: `Bearer ${SECRET}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.status >= 200 && res.status < 300, `${method} ${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

export async function injectFault(spec) {
  return control("POST", "/_emulator/faults", spec);
}

export async function clearFaults() {
  return control("DELETE", "/_emulator/faults");
}

// Entries: { path, status, body, ... } oldest first.
export async function requestLog() {
  const r = await control("GET", "/_emulator/log");
  return Array.isArray(r) ? r : r.requests ?? r.entries ?? r.log;
}

export async function clearRequestLog() {
  return control("DELETE", "/_emulator/log");
}
