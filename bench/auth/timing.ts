// Does response time reveal whether a key id exists? Over real HTTP (POST summarizeDoc), pairs
// of refused calls interleaved in random order: an unknown key id versus a known id with a
// wrong secret; medians and their difference, on PGlite and (with DATABASE_URL) Postgres.
// Usage: npx tsx bench/auth/timing.ts [--pairs 500]   (appends to bench/results/key-timing.md)

import { appendFileSync, existsSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import type { DatabaseHandle } from "../../db/index.ts";
import { generateKey } from "../../server/auth/key-format.ts";
import { createLogger } from "../../server/logger.ts";
import { openServices } from "../../server/services.ts";
import { startTestServer } from "../../tests/helpers/http.ts";
import { createTestKey, testConfig } from "../../tests/helpers/services.ts";
import { onEachDatabase } from "./databases.ts";

const { values } = parseArgs({ options: { pairs: { type: "string", default: "500" } } });
const pairs = Number(values.pairs);

// The brute-force throttle would add its own (identical) delays and then refuse: it is kept
// out of the way so the lookup path itself is what gets timed.
const throttle = {
  windowMs: 60_000,
  slowAfter: 1e9,
  refuseAfter: 1e9,
  delayStepMs: 0,
  maxDelayMs: 0,
  lockoutMs: 0,
};

const median = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

interface Row {
  label: string;
  unknown: number;
  wrongSecret: number;
  freshUnknown: number;
}

async function measure(label: string, database: DatabaseHandle): Promise<Row> {
  const services = await openServices(testConfig({ logLevel: "silent" }), {
    logger: createLogger("silent"),
    localAdminToken: null,
    database,
    throttle,
  });
  const server = await startTestServer(services);
  const known = await createTestKey(services, { name: "bench", scopes: ["endpoint:summarize-doc"] });
  const knownId = known.plaintext.split("_")[2] ?? "";
  const unknownId = generateKey("live").keyId;

  /** One refused call; a fresh secret each time, as a guesser would send. */
  const time = async (keyId: string | null) => {
    const key = keyId === null ? generateKey("live").plaintext : generateKey("live", keyId).plaintext;
    const start = performance.now();
    const response = await fetch(`${server.url}/trpc/summarizeDoc`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ text: "timing probe" }),
    });
    await response.arrayBuffer();
    const elapsed = performance.now() - start;
    if (response.status !== 401) throw new Error(`expected 401, got ${response.status}`);
    return elapsed;
  };

  const samples = { unknown: [] as number[], wrongSecret: [] as number[], freshUnknown: [] as number[] };
  for (let i = 0; i < 50; i++) for (const id of [unknownId, knownId, null]) await time(id);
  for (let i = 0; i < pairs; i++) {
    // Random order within each pair, so drift in machine load hits both sides alike.
    const order =
      Math.random() < 0.5 ? (["unknown", "wrongSecret"] as const) : (["wrongSecret", "unknown"] as const);
    for (const kind of order) samples[kind].push(await time(kind === "unknown" ? unknownId : knownId));
    // An id never seen before: the first touch of any id, known or not, goes to the database.
    samples.freshUnknown.push(await time(null));
  }
  await server.close();
  await services.close();
  return {
    label,
    unknown: median(samples.unknown),
    wrongSecret: median(samples.wrongSecret),
    freshUnknown: median(samples.freshUnknown),
  };
}

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(" / ");
const loadBefore = load();
const results = await onEachDatabase(measure);

const ms = (n: number) => `${n.toFixed(3)} ms`;
const intro = [
  "# Key-id existence by timing (issue 13, finding 7)",
  "",
  "`npx tsx bench/auth/timing.ts` (with DATABASE_URL for Postgres): per database, pairs of refused",
  "calls over real HTTP (POST /trpc/summarizeDoc, keep-alive, 401 each) in random order within",
  "each pair — an unknown key id and a known id with a wrong secret, a fresh secret each call —",
  "after 50 warm-up rounds. Brute-force throttle disabled (its delays are the same for both and",
  "would swamp the lookup). Target: |difference| ≤ 0.2 ms. The last column is an id presented for",
  "the first time: like a known id not used in the last second, it is looked up in the database",
  "once, then cached (known or unknown alike) for 1 s. Each run is appended below; the machine",
  "(2 cores) is shared with other engineers' builds and tests, so the load is given per run.",
  "",
];
const run = [
  `## ${new Date().toISOString().slice(0, 16)}Z — ${pairs} pairs, Node ${process.version}, load average (1/5/15 min) ${loadBefore} before, ${load()} after`,
  "",
  "| database | unknown id median | known id, wrong secret median | difference | never-seen id median |",
  "| --- | --- | --- | --- | --- |",
  ...results.map(
    (r) =>
      `| ${r.label} | ${ms(r.unknown)} | ${ms(r.wrongSecret)} | ${ms(r.unknown - r.wrongSecret)} | ${ms(r.freshUnknown)} |`,
  ),
  "",
];
const file = new URL("../results/key-timing.md", import.meta.url);
if (!existsSync(file)) writeFileSync(file, intro.join("\n"));
appendFileSync(file, run.join("\n"));
console.log(run.join("\n"));
