// The official JavaScript driver (npm `fauna` 2.5.0) reading a whole
// collection, for bench/fdw_bench.py: Coll.all().pageSize(P), every page
// followed with the driver's own paginate() (Set.paginate(after) under the
// hood), every document decoded by the driver into a Document object.
//
//   node bench/fdw_bench_driver.mjs ENDPOINT SECRET COLLECTION PAGE_SIZE RUNS
//
// Prints one JSON line per run: {docs, pages, wall_s, cpu_user_s, cpu_sys_s}.
// Wall is process.hrtime, CPU is process.cpuUsage() (the whole node process:
// main thread, GC and I/O threads). The emulator speaks HTTP/1.1 only, so the
// driver's FetchClient is used (its default HTTP/2 client cannot connect); the
// protocol handling above the transport is the same code.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(
  path.join(here, "..", "emulator", "tests", "drivers", "package.json"),
);
const { Client, FetchClient, fql, Document } = await import(
  require.resolve("fauna")
);

const [endpointArg, secret, coll, pageSizeArg, runsArg] = process.argv.slice(2);
if (!endpointArg || !secret || !coll) {
  console.error("usage: fdw_bench_driver.mjs ENDPOINT SECRET COLLECTION PAGE_SIZE RUNS");
  process.exit(2);
}
if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(coll)) throw new Error("bad collection name");
const pageSize = Number(pageSizeArg ?? 1000);
const runs = Number(runsArg ?? 1);
const endpoint = new URL(endpointArg);

const client = new Client(
  { endpoint, secret, query_timeout_ms: 600_000, client_timeout_buffer_ms: 60_000 },
  new FetchClient({ url: endpoint.toString(), fetch_keepalive: false }),
);

for (let r = 0; r < runs; r++) {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let docs = 0;
  let pages = 0;
  let bad = 0;
  const query = fql`${fql([coll])}.all().pageSize(${pageSize})`;
  for await (const page of client.paginate(query)) {
    pages += 1;
    for (const doc of page) {
      // the driver has already decoded the document (Document, TimeStub,
      // DateStub, DocumentReference, numbers, nested objects and arrays)
      if (!(doc instanceof Document) || doc.id === undefined) bad += 1;
      docs += 1;
    }
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  console.log(
    JSON.stringify({
      docs,
      pages,
      bad,
      wall_s: wall,
      cpu_user_s: cpu.user / 1e6,
      cpu_sys_s: cpu.system / 1e6,
    }),
  );
}
client.close();
