// `npx tsx bench/overhead/openai-door.ts [--seconds 5]`: the `npm run bench -- --quick` scenario
// (50 ms model, concurrency 16, one key, Postgres when DATABASE_URL is set, after warm-up) through
// the OpenAI-compatible door, beside the tRPC surface in the same run: the bare summarizeDoc
// baseline, tRPC summarizeDoc (the headline ratio), tRPC chat, and POST /v1/chat/completions with
// the same chat request. Writes bench/results/openai-door-quick.{md,json}.
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { createScratchDatabase, dropDatabase } from "../../tests/helpers/database.ts";
import { type LoadResult, runLoad, startTarget, type Target } from "./load.ts";
import { BENCH_TEXT } from "./model.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" } } });
const seconds = Number(values.seconds);
const warmupSeconds = 8;
const rounds = 2;
const connections = 16;
const delayMs = 50;
const baseUrl = process.env.DATABASE_URL ?? null;
const log = (line: string) => process.stderr.write(`${line}\n`);

const messages = [{ role: "user", content: BENCH_TEXT }];
interface Scenario {
  name: string;
  target: "bare" | "pipeline";
  path?: string;
  body?: string;
}
const SCENARIOS: Scenario[] = [
  { name: "bare summarizeDoc", target: "bare" },
  { name: "tRPC summarizeDoc", target: "pipeline" },
  { name: "tRPC chat", target: "pipeline", path: "/trpc/chat", body: JSON.stringify({ messages }) },
  {
    name: "OpenAI door",
    target: "pipeline",
    path: "/v1/chat/completions",
    body: JSON.stringify({ model: "offline", messages }),
  },
];

const loadBefore = loadavg();
const started = new Date();
const scratch = baseUrl ? await createScratchDatabase(baseUrl) : null;
const targets: Record<"bare" | "pipeline", Target> = {
  bare: await startTarget("bare", delayMs, null),
  pipeline: await startTarget("pipeline", delayMs, scratch),
};
const samples = new Map<string, LoadResult[]>(SCENARIOS.map((s) => [s.name, []]));
const run = (s: Scenario, duration: number) => {
  const target = targets[s.target];
  return runLoad({
    urls: [target.url],
    key: target.key,
    connections,
    seconds: duration,
    path: s.path,
    body: s.body,
  });
};
try {
  for (const s of SCENARIOS) await run(s, warmupSeconds);
  // Alternating rounds spread a noisy machine's drift over every scenario.
  for (let round = 0; round < rounds; round++)
    for (const s of SCENARIOS) {
      const result = await run(s, seconds);
      if (result.non2xx > 0 || result.errors > 0)
        log(`  warning: ${s.name}: ${result.non2xx} non-2xx, ${result.errors} socket errors`);
      samples.get(s.name)?.push(result);
    }
} finally {
  await Promise.all([targets.bare.stop(), targets.pipeline.stop()]);
  if (baseUrl && scratch) await dropDatabase(baseUrl, scratch);
}
const loadAfter = loadavg();

const mean = (results: LoadResult[], pick: (r: LoadResult) => number) =>
  results.reduce((sum, r) => sum + pick(r), 0) / Math.max(1, results.length);
const rows = SCENARIOS.map((s) => {
  const r = samples.get(s.name) ?? [];
  return {
    name: s.name,
    rps: mean(r, (x) => x.rps),
    p50: mean(r, (x) => x.p50),
    p99: mean(r, (x) => x.p99),
    non2xx: r.reduce((sum, x) => sum + x.non2xx, 0),
  };
});
const bare = rows[0];
const byName = (name: string) => rows.find((r) => r.name === name);
const trpcChat = byName("tRPC chat");
const door = byName("OpenAI door");
const round3 = (n: number) => Math.round(n * 1000) / 1000;
const summary = {
  database: baseUrl ? "postgres" : "pglite",
  modelDelayMs: delayMs,
  connections,
  ratios: Object.fromEntries(rows.slice(1).map((r) => [r.name, round3(r.rps / (bare?.rps ?? 1))])),
  doorVsTrpcChat: round3((door?.rps ?? 0) / (trpcChat?.rps ?? 1)),
  doorAddedP50MsOverTrpcChat: round3((door?.p50 ?? 0) - (trpcChat?.p50 ?? 0)),
  load: { before: loadBefore.map(round3), after: loadAfter.map(round3), cpus: cpus().length },
  rows: rows.map((r) => ({ ...r, rps: round3(r.rps), p50: round3(r.p50), p99: round3(r.p99) })),
};
const fmt = (n: number) => n.toFixed(2);
const md = [
  "# OpenAI door overhead (quick scenario)",
  "",
  `Run ${started.toISOString()} on ${cpus()[0]?.model ?? "?"} x ${cpus().length}, Node ${process.version}; load average (1/5/15 min) ${loadBefore.map(fmt).join(" / ")} before, ${loadAfter.map(fmt).join(" / ")} after.`,
  `Database ${summary.database}; model: offline behind ${delayMs} ms (bench/overhead/model.ts); ${connections} connections; ${rounds} rounds of ${seconds} s per scenario after ${warmupSeconds} s warm-up, alternating; one key.`,
  ...((loadBefore[0] ?? 0) > cpus().length
    ? [
        `The machine was shared and overloaded (1-minute load ${fmt(loadBefore[0] ?? 0)} on ${cpus().length} cores): the numbers are indicative, comparable within this run only.`,
      ]
    : []),
  "Chat request: one user message holding the same 2 KB text summarizeDoc gets. Ratios are throughput over the bare summarizeDoc baseline.",
  "",
  "| scenario | rps | ratio vs bare | p50 ms | p99 ms | non-2xx |",
  "| --- | --- | --- | --- | --- | --- |",
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.rps.toFixed(0)} | ${(r.rps / (bare?.rps ?? 1)).toFixed(3)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.non2xx} |`,
  ),
  "",
  `OpenAI door vs tRPC chat (same request, same pipeline): throughput ratio ${summary.doorVsTrpcChat}, p50 ${summary.doorAddedP50MsOverTrpcChat >= 0 ? "+" : ""}${summary.doorAddedP50MsOverTrpcChat} ms.`,
  "",
].join("\n");
writeFileSync(new URL("../results/openai-door-quick.md", import.meta.url), md);
writeFileSync(
  new URL("../results/openai-door-quick.json", import.meta.url),
  `${JSON.stringify(summary, null, 2)}\n`,
);
process.stdout.write(`${md}\n${JSON.stringify(summary)}\n`);
