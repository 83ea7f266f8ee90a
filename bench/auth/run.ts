// Authentication cost: a hot key served from the in-process cache versus the database path
// (cache cleared before every call). Runs on PGlite, and on Postgres when DATABASE_URL is set.
// Usage: npx tsx bench/auth/run.ts [--iterations 2000]
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { DatabaseHandle } from "../../db/index.ts";
import { authenticate } from "../../server/auth/authenticate.ts";
import { createContext } from "../../server/context.ts";
import { createLogger } from "../../server/logger.ts";
import { openServices } from "../../server/services.ts";
import { createTestKey, requestInfo, testConfig } from "../../tests/helpers/services.ts";
import { onEachDatabase } from "./databases.ts";

const { values } = parseArgs({ options: { iterations: { type: "string", default: "2000" } } });
const iterations = Number(values.iterations);

const config = testConfig({ logLevel: "silent" });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function measure(label: string, database: DatabaseHandle) {
  const services = await openServices(config, {
    logger: createLogger("silent"),
    localAdminToken: null,
    database,
  });
  const created = await createTestKey(services, { name: "bench", scopes: ["endpoint:summarize-doc"] });
  const ctx = createContext(
    services,
    requestInfo({ clientAddress: "127.0.0.1", authorization: `Bearer ${created.plaintext}` }),
  );
  const run = async (cold: boolean) => {
    const samples: number[] = [];
    for (let i = 0; i < iterations; i++) {
      if (cold) services.keyCache.clear();
      const start = performance.now();
      await authenticate(ctx);
      samples.push(performance.now() - start);
    }
    samples.sort((a, b) => a - b);
    return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
  };
  await run(false);
  const warm = await run(false);
  const cold = await run(true);
  await services.close();
  return { label, warm, cold };
}

const results = await onEachDatabase(measure);

const fmt = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
const lines = [
  "# Authentication cost: warm cache vs database path",
  "",
  `Measured ${new Date().toISOString().slice(0, 10)} on ${process.platform} ${process.arch}, Node ${process.version}, ${iterations} calls each.`,
  "`authenticate()` only (parse, checksum, lookup, HMAC compare, state checks); admission is separate.",
  "",
  "| database | warm cache p50 | warm p99 | database path p50 | database p99 |",
  "| --- | --- | --- | --- | --- |",
  ...results.map(
    (r) =>
      `| ${r.label} | ${fmt(r.warm.p50)} | ${fmt(r.warm.p99)} | ${fmt(r.cold.p50)} | ${fmt(r.cold.p99)} |`,
  ),
  "",
];
writeFileSync(new URL("./results.md", import.meta.url), lines.join("\n"));
console.log(lines.join("\n"));
