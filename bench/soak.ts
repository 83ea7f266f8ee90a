// Soak: the full pipeline (summarizeDoc, 50 ms model) at a fixed request rate for a long run,
// sampling the server's RSS and its heap after a forced GC, to show memory does not grow
// without bound. Postgres when DATABASE_URL is set (a scratch database), else PGlite.
// Usage: npx tsx bench/soak.ts [--minutes 5] [--rate 50] [--connections 16]
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { createScratchDatabase, dropDatabase } from "../tests/helpers/database.ts";
import { rssOf, runLoad, startTarget } from "./overhead/load.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "5" },
    rate: { type: "string", default: "50" },
    connections: { type: "string", default: "16" },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const connections = Number(values.connections);
const SAMPLE_SECONDS = 30;

interface Sample {
  atSeconds: number;
  rssMb: number;
  heapUsedMb: number;
  externalMb: number;
  rps: number;
  p99: number;
  non2xx: number;
  errors: number;
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const baseUrl = process.env.DATABASE_URL ?? null;
const scratch = baseUrl ? await createScratchDatabase(baseUrl) : null;
const started = new Date();
const loadBefore = loadavg();
const samples: Sample[] = [];
try {
  const target = await startTarget("pipeline", 50, scratch, ["--expose-gc"]);
  const heap = async () =>
    (await (await fetch(`${target.url}/bench/heap`)).json()) as { heapUsed: number; external: number };
  try {
    const first = await heap();
    samples.push({
      atSeconds: 0,
      rssMb: rssOf(target.child.pid ?? 0).rssMb,
      heapUsedMb: mb(first.heapUsed),
      externalMb: mb(first.external),
      rps: 0,
      p99: 0,
      non2xx: 0,
      errors: 0,
    });
    const rounds = Math.max(1, Math.round((minutes * 60) / SAMPLE_SECONDS));
    for (let i = 1; i <= rounds; i++) {
      const load = await runLoad({
        urls: [target.url],
        key: target.key,
        connections,
        seconds: SAMPLE_SECONDS,
        rate,
      });
      const memory = await heap();
      const sample = {
        atSeconds: i * SAMPLE_SECONDS,
        rssMb: rssOf(target.child.pid ?? 0).rssMb,
        heapUsedMb: mb(memory.heapUsed),
        externalMb: mb(memory.external),
        rps: Math.round(load.rps * 10) / 10,
        p99: Math.round(load.p99 * 10) / 10,
        non2xx: load.non2xx,
        errors: load.errors,
      };
      samples.push(sample);
      process.stderr.write(`${JSON.stringify(sample)}\n`);
    }
  } finally {
    await target.stop();
  }
} finally {
  if (baseUrl && scratch) await dropDatabase(baseUrl, scratch);
}

const first = samples[1] ?? samples[0];
const last = samples.at(-1);
const result = {
  date: started.toISOString(),
  machine: `${cpus()[0]?.model ?? "unknown"} x ${cpus().length}, Node ${process.version}`,
  database: baseUrl ? "postgres" : "pglite",
  minutes,
  rate,
  connections,
  loadAverageBefore: loadBefore,
  loadAverageAfter: loadavg(),
  rssStartMb: samples[0]?.rssMb,
  rssEndMb: last?.rssMb,
  heapAfterGcFirstWindowMb: first?.heapUsedMb,
  heapAfterGcEndMb: last?.heapUsedMb,
  samples,
};
writeFileSync(
  new URL(`./results/soak-${result.database}.json`, import.meta.url),
  `${JSON.stringify(result, null, 2)}\n`,
);
console.log(JSON.stringify({ ...result, samples: undefined }));
