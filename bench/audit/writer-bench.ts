// Audit benchmarks: records/s with group commit vs one transaction per record, the latency an
// append adds at concurrency 1/16/64 (PGlite, and Postgres when DATABASE_URL is set), and
// `audit list` by key and time range over 1,000,000 records (Postgres).
// Run: npx tsx bench/audit/writer-bench.ts   (DATABASE_URL=postgres://… for Postgres too)
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { auditLog, createDatabase, type DatabaseHandle, migrateDatabase } from "../../db/index.ts";
import { listAudit } from "../../server/audit/query.ts";
import type { AuditRecord } from "../../server/audit/record.ts";
import { AuditWriter } from "../../server/audit/writer.ts";
import { createScratchDatabase, dropDatabase } from "../../tests/helpers/database.ts";

const RECORDS = 4000;
const auditKey = { version: 1, key: randomBytes(32) };

function record(i: number): AuditRecord {
  return {
    phase: "final",
    requestId: `req_${i}`,
    callId: `call_${i}`,
    keyId: `key${String(i % 100).padStart(9, "0")}`,
    procedure: "summarizeDoc",
    outcome: "ok",
    input: JSON.stringify({ text: "Quarterly revenue grew. Costs fell." }),
    clientAddress: "203.0.113.7",
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;

/** `concurrency` clients each writing one record at a time with `write`, RECORDS in all. */
async function load(concurrency: number, write: (i: number) => Promise<unknown>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < RECORDS) {
        const i = next++;
        const t0 = performance.now();
        await write(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    concurrency,
    recordsPerSecond: Math.round(RECORDS / seconds),
    p50: percentile(latencies, 0.5).toFixed(2),
    p99: percentile(latencies, 0.99).toFixed(2),
  };
}

/** Group commit: the real writer (chained, HMAC'd, redacted). */
function run(handle: DatabaseHandle, concurrency: number) {
  const writer = new AuditWriter(handle, auditKey);
  return load(concurrency, (i) => writer.append(record(i)));
}

/** The baseline: every request inserts its own record in its own transaction (no group commit). */
function runSingleInserts(handle: DatabaseHandle, concurrency: number) {
  return load(concurrency, (i) => {
    const r = record(i);
    return handle.db.insert(auditLog).values({
      writerId: `w_single_${i}`,
      seq: 1,
      ts: new Date(),
      requestId: r.requestId,
      callId: r.callId,
      phase: r.phase,
      keyId: r.keyId,
      procedure: r.procedure,
      outcome: r.outcome,
      input: r.input,
      clientAddress: r.clientAddress,
      prevHash: "x",
      hash: "x",
    });
  });
}

async function writerBench(name: string, handle: DatabaseHandle) {
  console.log(`\n## ${name}: append (${RECORDS} records)\n`);
  console.log("| writer | clients | records/s | latency p50 ms | latency p99 ms |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const concurrency of [1, 16, 64]) {
    await handle.db.execute(sql`truncate audit_log`);
    const r = await run(handle, concurrency);
    console.log(`| group commit | ${r.concurrency} | ${r.recordsPerSecond} | ${r.p50} | ${r.p99} |`);
    await handle.db.execute(sql`truncate audit_log`);
    const b = await runSingleInserts(handle, concurrency);
    console.log(
      `| one insert per request | ${b.concurrency} | ${b.recordsPerSecond} | ${b.p50} | ${b.p99} |`,
    );
  }
}

async function listBench(handle: DatabaseHandle) {
  const rows = 1_000_000;
  await handle.db.execute(sql`truncate audit_log`);
  // 1M rows over 30 days, 1,000 keys, 20k per statement (each under the 5 s statement timeout) (the writer's path is measured above).
  for (let from = 1; from <= rows; from += 20_000)
    await handle.db.execute(sql`
    insert into audit_log (writer_id, seq, ts, call_id, request_id, phase, key_id, owner, procedure, outcome, client_address, prev_hash, hash)
    select 'w_bench', g, now() - ((${rows} - g) * interval '2592 milliseconds'), 'call_' || g, 'req_' || g, 'final',
           'key' || lpad((g % 1000)::text, 9, '0'), 'team:' || (g % 20), 'summarizeDoc',
           (array['ok','denied','rejected','error'])[1 + g % 4], '203.0.113.' || (g % 200), 'x', 'x'
    from generate_series(${from}::int, ${from + 19_999}::int) g`);
  await handle.db.execute(sql`analyze audit_log`);
  const now = Date.now();
  const cases = [
    { label: "key, last 24 h", filter: { keyId: "key000000042", since: new Date(now - 86_400_000) } },
    {
      label: "key, a day 20 days ago",
      filter: {
        keyId: "key000000042",
        since: new Date(now - 21 * 86_400_000),
        until: new Date(now - 20 * 86_400_000),
      },
    },
    {
      label: "time range only, a day 10 days ago",
      filter: { since: new Date(now - 11 * 86_400_000), until: new Date(now - 10 * 86_400_000) },
    },
    { label: "owner, last 7 days", filter: { owner: "team:7", since: new Date(now - 7 * 86_400_000) } },
  ];
  console.log(`\n## Postgres: audit list over ${rows.toLocaleString("en")} records (page of 50)\n`);
  console.log("| query | p50 ms | p99 ms | second page p50 ms |");
  console.log("| --- | --- | --- | --- |");
  for (const c of cases) {
    const first: number[] = [];
    const second: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      const page = await listAudit(handle.db, { ...c.filter, limit: 50 });
      first.push(performance.now() - t0);
      const t1 = performance.now();
      await listAudit(handle.db, { ...c.filter, limit: 50, cursor: page.nextCursor ?? undefined });
      second.push(performance.now() - t1);
    }
    first.sort((a, b) => a - b);
    second.sort((a, b) => a - b);
    console.log(
      `| ${c.label} | ${percentile(first, 0.5).toFixed(2)} | ${percentile(first, 0.99).toFixed(2)} | ${percentile(second, 0.5).toFixed(2)} |`,
    );
  }
  const plan = await handle.rows<{ "QUERY PLAN": string }>(sql`
    explain select * from audit_log where key_id = 'key000000042' and ts >= now() - interval '21 days' and ts <= now() - interval '20 days'
    order by ts desc, id desc limit 51`);
  console.log(
    `\nplan (key + day 20 days ago):\n\n\`\`\`\n${plan.map((r) => r["QUERY PLAN"]).join("\n")}\n\`\`\``,
  );
}

async function main() {
  const pglite = await createDatabase({ kind: "pglite", dataDir: null });
  await migrateDatabase(pglite);
  // BENCH_ONLY=list or BENCH_ONLY=writer runs one half.
  const onlyList = process.env.BENCH_ONLY === "list";
  const onlyWriter = process.env.BENCH_ONLY === "writer";
  if (!onlyList) await writerBench("PGlite (in-memory)", pglite);
  await pglite.close();
  const baseUrl = process.env.DATABASE_URL;
  if (!baseUrl) {
    console.log("\n(DATABASE_URL unset: Postgres benchmarks skipped)");
    return;
  }
  const url = await createScratchDatabase(baseUrl);
  const pg = await createDatabase({ kind: "postgres", url });
  try {
    await migrateDatabase(pg);
    if (!onlyList) await writerBench("Postgres (local, postgres-js)", pg);
    if (!onlyWriter) await listBench(pg);
  } finally {
    await pg.close();
    await dropDatabase(baseUrl, url);
  }
}

await main();
