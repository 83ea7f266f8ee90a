// Drives a benchmark target over HTTP with autocannon and reads its memory from /proc: exact
// per-response latencies (autocannon's own histogram rounds to whole milliseconds), throughput,
// non-2xx and socket errors, and the target's RSS.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { BENCH_TEXT } from "./model.ts";

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export const SUMMARIZE_BODY = JSON.stringify({ text: BENCH_TEXT, maxWords: 40 });

export interface LoadOptions {
  /** One or more servers; the connections are split evenly between them. */
  urls: string[];
  key: string;
  /** Several keys: each request takes the next one, round-robin (the many-keys variant). */
  keys?: readonly string[];
  connections: number;
  seconds: number;
  /** Requests per second over all connections (a fixed-rate soak); unbounded when absent. */
  rate?: number;
  /** The route and JSON body posted; summarizeDoc of the 2 KB text by default. */
  path?: string;
  body?: string;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  let non2xx = 0;
  const share = Math.max(1, Math.floor(options.connections / options.urls.length));
  const results = await Promise.all(
    options.urls.map(
      (url) =>
        new Promise<autocannon.Result>((resolve, reject) => {
          const instance = autocannon(
            {
              url: `${url}${options.path ?? "/trpc/summarizeDoc"}`,
              method: "POST",
              connections: share,
              ...(options.rate
                ? { overallRate: Math.max(1, Math.round(options.rate / options.urls.length)) }
                : {}),
              duration: options.seconds,
              headers: {
                "content-type": "application/json",
                ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
              },
              body: options.body ?? SUMMARIZE_BODY,
              ...(options.keys && options.keys.length > 1 ? { requests: [rotateKeys(options.keys)] } : {}),
            },
            (error, result) => (error ? reject(error) : resolve(result)),
          );
          instance.on("response", (_client, statusCode, _bytes, responseTime) => {
            if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
            else non2xx += 1;
          });
        }),
    ),
  );
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / options.seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    requests: latencies.length + non2xx,
    non2xx,
    errors: results.reduce((sum, r) => sum + r.errors + r.timeouts, 0),
  };
}

/** An autocannon request that carries the next of `keys` on every send. */
function rotateKeys(keys: readonly string[]): autocannon.Request {
  let next = 0;
  return {
    setupRequest: (request) => {
      const key = keys[next++ % keys.length];
      return { ...request, headers: { ...request.headers, authorization: `Bearer ${key}` } };
    },
  };
}

export type StageTotals = Map<string, { sum: number; count: number }>;

/** The pipeline's cumulative stage timings (authenticate, admit, model, audit) from /metrics. */
export async function stageTotals(url: string): Promise<StageTotals> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const totals: StageTotals = new Map();
  for (const match of text.matchAll(
    /^scopegate_stage_duration_seconds_(sum|count)\{stage="([a-z_]+)"\} (\S+)$/gm,
  )) {
    const [, field, stage, value] = match;
    if (!field || !stage) continue;
    const entry = totals.get(stage) ?? { sum: 0, count: 0 };
    if (field === "sum") entry.sum = Number(value);
    else entry.count = Number(value);
    totals.set(stage, entry);
  }
  return totals;
}

/** Mean milliseconds per stage between two snapshots. */
export function stageMeans(before: StageTotals, after: StageTotals): Record<string, number> {
  const means: Record<string, number> = {};
  for (const [stage, end] of after) {
    const start = before.get(stage) ?? { sum: 0, count: 0 };
    const calls = end.count - start.count;
    if (calls > 0) means[stage] = ((end.sum - start.sum) * 1000) / calls;
  }
  return means;
}

const CLOCK_TICK_MS = 10; // USER_HZ is 100 on Linux

/** CPU time (user + system) in ms from a /proc stat line. */
function statCpuMs(path: string): number {
  const fields = readFileSync(path, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_MS;
}

/** CPU used so far by a process: its main (JavaScript) thread, and all its threads (GC, libuv). */
export function cpuOf(pid: number): { mainMs: number; processMs: number } {
  return { mainMs: statCpuMs(`/proc/${pid}/task/${pid}/stat`), processMs: statCpuMs(`/proc/${pid}/stat`) };
}

/** CPU used so far by every PostgreSQL server process on the machine (Linux /proc). */
export function postgresCpuMs(): number {
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").startsWith("postgres"))
        total += statCpuMs(`/proc/${entry}/stat`);
    } catch {
      // The process ended while we looked.
    }
  }
  return total;
}

/** Resident memory of a process, current and peak, in MiB (Linux /proc). */
export function rssOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  return { rssMb: Math.round(kb("VmRSS") / 1024), peakMb: Math.round(kb("VmHWM") / 1024) };
}

export interface Target {
  url: string;
  key: string;
  /** Every live key of the target (one, or the many-keys variant's). */
  keys: string[];
  child: ChildProcess;
  stop(): Promise<void>;
}

const TARGET = fileURLToPath(new URL("./target.ts", import.meta.url));

/** Starts bench/overhead/target.ts in its own process and waits for its {url, key} line. */
export async function startTarget(
  mode: "bare" | "pipeline",
  delayMs: number,
  databaseUrl: string | null,
  nodeArgs: string[] = [],
  keys = 1,
): Promise<Target> {
  const { BENCH_DATABASE_URL: _inherited, ...inherited } = process.env;
  const env = databaseUrl ? { ...inherited, BENCH_DATABASE_URL: databaseUrl } : inherited;
  const child = spawn(
    process.execPath,
    // `--import tsx`, not the tsx CLI (which runs a second process): the pid measured is the server's.
    [
      ...nodeArgs,
      "--import",
      "tsx",
      TARGET,
      "--mode",
      mode,
      "--delay",
      String(delayMs),
      "--keys",
      String(keys),
    ],
    { env, stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const end = output.indexOf("\n");
      if (end >= 0) resolve(output.slice(0, end));
    });
    void exited.then(() => reject(new Error(`benchmark target (${mode}) exited before listening`)));
  });
  const { url, keys: created } = JSON.parse(line) as { url: string; keys: string[] };
  return {
    url,
    key: created[0] ?? "",
    keys: created,
    child,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}
