// `npm run bench`: what the scoped pipeline adds over a bare tRPC procedure doing the same model
// work, over HTTP (autocannon), on Postgres (when DATABASE_URL is set) and PGlite; the pipeline's
// in-process CPU cost; and, on Postgres, one versus two `scopegate serve` processes.
// `--quick`: the 50 ms model at concurrency 16 (`--concurrency 1,16` adds levels) on one database
// and the microbenchmark only.
// Both runs add the many-keys point (`--many-keys 1000`, 0 skips it): that many live keys, each
// request taking the next, at concurrency 64 — every call then loads its key and locks its own
// limits row, where the one-key points hit the key cache and queue on one row.
// The last line printed is one JSON object (ratio, addedP50Ms, addedP99Ms, pipelineP50Ms,
// addedCpuMsPerCall, manyKeys, …).
import { writeFileSync } from "node:fs";
import { cpus, freemem, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { createScratchDatabase, dropDatabase } from "../../tests/helpers/database.ts";
import {
  cpuOf,
  type LoadResult,
  postgresCpuMs,
  rssOf,
  runLoad,
  type StageTotals,
  stageMeans,
  stageTotals,
  startTarget,
  type Target,
} from "./load.ts";
import { type MicroResult, runMicro } from "./micro.ts";
import { runScaling, type ScalingRow } from "./scaling.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    seconds: { type: "string" },
    "no-scaling": { type: "boolean", default: false },
    "many-keys": { type: "string", default: "1000" },
    // The quick run's concurrency levels (comma-separated; the headline needs 16), e.g. `1,16`
    // to see the added latency with no queueing beside the headline point.
    concurrency: { type: "string", default: "16" },
  },
});
const manyKeys = Number(values["many-keys"]);
const MANY_KEYS_CONNECTIONS = 64;
const quick = values.quick;
const seconds = Number(values.seconds ?? (quick ? 5 : 10));
// Long enough for V8 to have optimized the hot paths: a server's steady state, for both targets.
const warmupSeconds = quick ? 8 : 10;
const rounds = 2;
const baseUrl = process.env.DATABASE_URL ?? null;

type DbName = "postgres" | "pglite";
interface Row {
  database: DbName;
  modelDelayMs: number;
  connections: number;
  /** Live keys the requests are spread over (1, or the many-keys point's). */
  keys: number;
  bare: LoadResult;
  pipeline: LoadResult;
  ratio: number;
  addedP50Ms: number;
  addedP99Ms: number;
  bareRssMb: number;
  pipelineRssMb: number;
  /** Mean ms per pipeline stage during the measured rounds (admit and audit include queueing). */
  stagesMs: Record<string, number>;
  /** CPU ms per call during the measured rounds: what bounds throughput on 2 shared cores. */
  cpuMsPerCall: {
    bareMain: number;
    bareProcess: number;
    pipelineMain: number;
    pipelineProcess: number;
    postgres: number | null;
  };
  /** What the pipeline adds per call: its CPU minus the bare server's, main thread and all threads. */
  addedCpuMsPerCall: { main: number; process: number };
}

interface Measured extends LoadResult {
  mainCpuMs: number;
  processCpuMs: number;
  postgresCpuMs: number;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const loadBefore = loadavg();
const started = new Date();

/** Mean of the rounds: alternating bare and pipeline runs spreads a noisy machine's drift over both. */
function mean(results: LoadResult[]): LoadResult {
  const avg = (pick: (r: LoadResult) => number) => results.reduce((s, r) => s + pick(r), 0) / results.length;
  const sum = (pick: (r: LoadResult) => number) => results.reduce((s, r) => s + pick(r), 0);
  return {
    rps: avg((r) => r.rps),
    p50: avg((r) => r.p50),
    p99: avg((r) => r.p99),
    requests: sum((r) => r.requests),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
  };
}

const loadOf = (target: Target, connections: number, secs: number) =>
  runLoad({ urls: [target.url], key: target.key, keys: target.keys, connections, seconds: secs });

async function measure(target: Target, connections: number): Promise<Measured> {
  const pid = target.child.pid ?? 0;
  const before = { ...cpuOf(pid), postgres: postgresCpuMs() };
  const result = await loadOf(target, connections, seconds);
  const after = { ...cpuOf(pid), postgres: postgresCpuMs() };
  if (result.non2xx > 0 || result.errors > 0)
    log(`  warning: ${result.non2xx} non-2xx, ${result.errors} socket errors`);
  return {
    ...result,
    mainCpuMs: after.mainMs - before.mainMs,
    processCpuMs: after.processMs - before.processMs,
    postgresCpuMs: after.postgres - before.postgres,
  };
}

/** CPU ms per answered call over all rounds. */
const perCall = (samples: Measured[], pick: (m: Measured) => number) =>
  samples.reduce((sum, m) => sum + pick(m), 0) /
  Math.max(
    1,
    samples.reduce((sum, m) => sum + m.requests, 0),
  );

/** One point: warm-up, then rounds alternating bare and each pipeline; a row per pipeline. */
async function point(
  delay: number,
  connections: number,
  bare: Target,
  pipelines: ReadonlyArray<[DbName, Target]>,
): Promise<Row[]> {
  const all: Array<[string, Target]> = [["bare", bare], ...pipelines];
  for (const [, target] of all) await loadOf(target, connections, warmupSeconds);
  const samples = new Map<string, Measured[]>(all.map(([name]) => [name, []]));
  const stagesBefore = new Map<DbName, StageTotals>();
  for (const [db, target] of pipelines) stagesBefore.set(db, await stageTotals(target.url));
  for (let round = 0; round < rounds; round++)
    for (const [name, target] of all) samples.get(name)?.push(await measure(target, connections));
  const b = mean(samples.get("bare") ?? []);
  const rows: Row[] = [];
  for (const [db, target] of pipelines) {
    const p = mean(samples.get(db) ?? []);
    const cpu = {
      bareMain: perCall(samples.get("bare") ?? [], (m) => m.mainCpuMs),
      bareProcess: perCall(samples.get("bare") ?? [], (m) => m.processCpuMs),
      pipelineMain: perCall(samples.get(db) ?? [], (m) => m.mainCpuMs),
      pipelineProcess: perCall(samples.get(db) ?? [], (m) => m.processCpuMs),
      postgres: db === "postgres" ? perCall(samples.get(db) ?? [], (m) => m.postgresCpuMs) : null,
    };
    const row: Row = {
      database: db,
      modelDelayMs: delay,
      connections,
      keys: target.keys.length,
      bare: b,
      pipeline: p,
      ratio: p.rps / b.rps,
      addedP50Ms: p.p50 - b.p50,
      addedP99Ms: p.p99 - b.p99,
      bareRssMb: rssOf(bare.child.pid ?? 0).rssMb,
      pipelineRssMb: rssOf(target.child.pid ?? 0).rssMb,
      stagesMs: stageMeans(stagesBefore.get(db) ?? new Map(), await stageTotals(target.url)),
      cpuMsPerCall: cpu,
      addedCpuMsPerCall: {
        main: cpu.pipelineMain - cpu.bareMain,
        process: cpu.pipelineProcess - cpu.bareProcess,
      },
    };
    rows.push(row);
    const r2 = (_k: string, v: unknown) => (typeof v === "number" ? Math.round(v * 100) / 100 : v);
    log(
      `${db} model ${delay} ms c=${connections} keys=${row.keys}: bare ${b.rps.toFixed(0)} rps p50 ${b.p50.toFixed(2)} p99 ${b.p99.toFixed(2)} | pipeline ${p.rps.toFixed(0)} rps p50 ${p.p50.toFixed(2)} p99 ${p.p99.toFixed(2)} | ratio ${row.ratio.toFixed(3)} | cpu ms/call ${JSON.stringify(cpu, r2)} added ${JSON.stringify(row.addedCpuMsPerCall, r2)} | stages ${JSON.stringify(row.stagesMs, (_k, v) => (typeof v === "number" ? Math.round(v * 10) / 10 : v))}`,
    );
  }
  return rows;
}

async function overhead(databases: DbName[], delays: number[], concurrencies: number[]): Promise<Row[]> {
  const rows: Row[] = [];
  const scratch = baseUrl && databases.includes("postgres") ? await createScratchDatabase(baseUrl) : null;
  const urlOf = (db: DbName) => (db === "postgres" ? scratch : null);
  try {
    for (const delay of delays) {
      const bare = await startTarget("bare", delay, null);
      const pipelines = new Map<DbName, Target>();
      try {
        for (const db of databases) pipelines.set(db, await startTarget("pipeline", delay, urlOf(db)));
        for (const connections of concurrencies)
          rows.push(...(await point(delay, connections, bare, [...pipelines])));
        // The many-keys point, once, on the primary database with the 50 ms model.
        if (manyKeys > 1 && delay === 50) {
          const many = await startTarget("pipeline", delay, urlOf(primary), [], manyKeys);
          try {
            rows.push(...(await point(delay, MANY_KEYS_CONNECTIONS, bare, [[primary, many]])));
          } finally {
            await many.stop();
          }
        }
      } finally {
        await Promise.all([bare.stop(), ...[...pipelines.values()].map((t) => t.stop())]);
      }
    }
  } finally {
    if (baseUrl && scratch) await dropDatabase(baseUrl, scratch);
  }
  return rows;
}

const primary: DbName = baseUrl ? "postgres" : "pglite";
const databases: DbName[] = quick ? [primary] : baseUrl ? ["postgres", "pglite"] : ["pglite"];
log(
  `overhead: ${databases.join(", ")}, ${seconds} s x ${rounds} rounds per point, load average ${loadBefore.map((l) => l.toFixed(2)).join(" ")}`,
);
const micro: MicroResult = await runMicro(quick ? 2000 : 10000);
log(`pipeline CPU per call (2 KB prompt): p50 ${micro.p50.toFixed(3)} ms, p99 ${micro.p99.toFixed(3)} ms`);
const quickConcurrency = values.concurrency.split(",").map(Number);
const rows = await overhead(databases, quick ? [50] : [50, 0], quick ? quickConcurrency : [1, 16, 64]);

let scaling: ScalingRow[] = [];
if (!quick && baseUrl && !values["no-scaling"]) {
  const scratch = await createScratchDatabase(baseUrl);
  try {
    scaling = await runScaling(scratch, { seconds, delays: [50, 0], connections: [16, 64] });
  } finally {
    await dropDatabase(baseUrl, scratch);
  }
  for (const s of scaling)
    log(
      `scaling model ${s.modelDelayMs} ms c=${s.connections}: ${s.processes} process(es) ${s.load.rps.toFixed(0)} rps p50 ${s.load.p50.toFixed(2)} p99 ${s.load.p99.toFixed(2)}`,
    );
}

const headline = rows.find(
  (r) => r.database === primary && r.modelDelayMs === 50 && r.connections === 16 && r.keys === 1,
);
if (!headline) throw new Error("the 50 ms / concurrency 16 point was not measured");
const manyKeysRow = rows.find((r) => r.keys > 1);
const summary = {
  database: primary,
  modelDelayMs: 50,
  connections: 16,
  ratio: round3(headline.ratio),
  addedP50Ms: round3(headline.addedP50Ms),
  addedP99Ms: round3(headline.addedP99Ms),
  pipelineP50Ms: round3(micro.p50),
  bareRps: Math.round(headline.bare.rps),
  pipelineRps: Math.round(headline.pipeline.rps),
  cpuMsPerCall: Object.fromEntries(
    Object.entries(headline.cpuMsPerCall).map(([k, v]) => [k, v === null ? null : round3(v)]),
  ),
  addedCpuMsPerCall: {
    main: round3(headline.addedCpuMsPerCall.main),
    process: round3(headline.addedCpuMsPerCall.process),
  },
  manyKeys: manyKeysRow
    ? {
        keys: manyKeysRow.keys,
        connections: manyKeysRow.connections,
        ratio: round3(manyKeysRow.ratio),
        bareRps: Math.round(manyKeysRow.bare.rps),
        pipelineRps: Math.round(manyKeysRow.pipeline.rps),
        addedP50Ms: round3(manyKeysRow.addedP50Ms),
        addedP99Ms: round3(manyKeysRow.addedP99Ms),
        addedCpuMsPerCall: {
          main: round3(manyKeysRow.addedCpuMsPerCall.main),
          process: round3(manyKeysRow.addedCpuMsPerCall.process),
        },
      }
    : null,
  targetsMet: {
    ratio: headline.ratio >= 0.9,
    addedP50Ms: headline.addedP50Ms <= 5,
    addedP99Ms: headline.addedP99Ms <= 15,
    pipelineP50Ms: micro.p50 <= 0.5,
    addedCpuMsPerCall: headline.addedCpuMsPerCall.main <= 1.2,
  },
};

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

const machine = {
  date: started.toISOString(),
  cpu: `${cpus()[0]?.model ?? "unknown"} x ${cpus().length}`,
  memoryGb: Math.round(totalmem() / 2 ** 30),
  freeMemoryGb: Math.round(freemem() / 2 ** 30),
  node: process.version,
  loadAverageBefore: loadBefore.map(round3),
  loadAverageAfter: loadavg().map(round3),
};
const name = quick ? "overhead-quick" : "overhead";
writeFileSync(
  new URL(`../results/${name}.json`, import.meta.url),
  `${JSON.stringify({ machine, seconds, rounds, summary, micro, rows, scaling }, null, 2)}\n`,
);
writeFileSync(new URL(`../results/${name}.md`, import.meta.url), report());

function report(): string {
  const f = (n: number, d = 2) => n.toFixed(d);
  return [
    `# Overhead benchmark${quick ? " (--quick)" : ""}`,
    "",
    `Run ${machine.date} on ${machine.cpu}, ${machine.memoryGb} GB, Node ${machine.node}; load average (1/5/15 min) ${machine.loadAverageBefore.join(" / ")} before, ${machine.loadAverageAfter.join(" / ")} after.`,
    `Each point: ${rounds} rounds of ${seconds} s per target (after ${warmupSeconds} s warm-up), bare and pipeline alternating; numbers are the mean of the rounds.`,
    "Model: the offline provider behind a fixed delay (bench/overhead/model.ts), in the target process. Request: summarizeDoc of a 2 KB text.",
    "(a) bare = bench/overhead/bare-server.ts (own tRPC router, same node-http adapter, no auth/guard/audit); (b) pipeline = createHttpServer + openServices.",
    "",
    "| database | model | conns | keys | bare rps | pipeline rps | ratio | bare p50 | +p50 ms | bare p99 | +p99 ms | RSS bare / pipeline MB | pipeline stage means ms (auth / admit / model / audit) | CPU ms/call: bare main / pipeline main / pipeline all threads / postgres | added CPU ms/call: main / all threads |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map(
      (r) =>
        `| ${r.database} | ${r.modelDelayMs} ms | ${r.connections} | ${r.keys} | ${f(r.bare.rps, 0)} | ${f(r.pipeline.rps, 0)} | ${f(r.ratio, 3)} | ${f(r.bare.p50)} | ${f(r.addedP50Ms)} | ${f(r.bare.p99)} | ${f(r.addedP99Ms)} | ${r.bareRssMb} / ${r.pipelineRssMb} | ${["authenticate", "admit", "model", "audit"].map((k) => f(r.stagesMs[k] ?? Number.NaN, 1)).join(" / ")} | ${[r.cpuMsPerCall.bareMain, r.cpuMsPerCall.pipelineMain, r.cpuMsPerCall.pipelineProcess].map((v) => f(v)).join(" / ")} / ${r.cpuMsPerCall.postgres === null ? "-" : f(r.cpuMsPerCall.postgres)} | ${f(r.addedCpuMsPerCall.main)} / ${f(r.addedCpuMsPerCall.process)} |`,
    ),
    "",
    `Pipeline CPU per call, in process (warm-cache authenticate, scope checks, sanitize, detect, redaction; ${micro.promptBytes}-byte prompt, ${micro.iterations} iterations): p50 ${f(micro.p50, 3)} ms, p99 ${f(micro.p99, 3)} ms; part p50s: ${Object.entries(
      micro.parts,
    )
      .map(([k, v]) => `${k} ${f(v, 3)} ms`)
      .join(
        ", ",
      )}. Besides, summarizeDoc screens the document (p50 ${f(micro.summarize.screenDocument, 3)} ms) and checks the answer (p50 ${f(micro.summarize.checkOutput, 3)} ms).`,
    "Added CPU per call = the pipeline's CPU per answered call minus the bare server's, on its main (JavaScript) thread and over all its threads (GC, libuv); PostgreSQL's own CPU is the last column of the CPU group.",
    ...(manyKeysRow
      ? [
          `Many keys (keys = ${manyKeysRow.keys}): requests spread round-robin over that many live keys at concurrency ${manyKeysRow.connections}, so each call loads its key (the cache keeps an entry 1 s) and locks its own limits row; the one-key rows hit the cache and queue on one row.`,
        ]
      : []),
    "",
    ...(scaling.length > 0
      ? [
          "## Scaling: `scopegate serve` processes sharing Postgres",
          "",
          "Real serve processes (openai provider against bench/overhead/openai-stub.ts with the given delay); connections split evenly between processes; autocannon and the stub run in the bench process on the same 2 cores.",
          "",
          "| model | conns | processes | rps | p50 ms | p99 ms | RSS MB |",
          "| --- | --- | --- | --- | --- | --- | --- |",
          ...scaling.map(
            (s) =>
              `| ${s.modelDelayMs} ms | ${s.connections} | ${s.processes} | ${f(s.load.rps, 0)} | ${f(s.load.p50)} | ${f(s.load.p99)} | ${s.rssMb.join(" + ")} |`,
          ),
          "",
        ]
      : []),
    "Targets (Postgres, 50 ms model, concurrency 16, one key): ratio >= 0.9, added p50 <= 5 ms, added p99 <= 15 ms; pipeline CPU p50 <= 0.5 ms; added CPU per call (main thread) <= 1.2 ms.",
    `Headline (${summary.database}): ${JSON.stringify(summary)}`,
    "",
  ].join("\n");
}

console.log(JSON.stringify(summary));
