// Start-up time of the compiled `scopegate` bin (npm run build first): wall time from spawn to
// exit of one-shot commands, N runs each after a warm-up, median and p90. A server runs on the
// embedded data dir, so `keys list` includes its round trip to that server (as a user sees it).
// Run: npx tsx bench/cli-start/run.ts [runs]
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const BIN = join(resolve(import.meta.dirname, "../.."), "bin/scopegate.mjs");
const RUNS = Number(process.argv[2] ?? 20);

function timeOnce(argv: string[], env: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, argv, { env, stdio: ["ignore", "ignore", "pipe"] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${argv.join(" ")} exited ${result.status}: ${result.stderr}`);
  return ms;
}

function measure(label: string, argv: string[], env: NodeJS.ProcessEnv) {
  timeOnce(argv, env);
  const times = Array.from({ length: RUNS }, () => timeOnce(argv, env)).sort((a, b) => a - b);
  const at = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0);
  return { command: label, runs: RUNS, medianMs: at(0.5), p90Ms: at(0.9), maxMs: at(1) };
}

function startServer(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0"], {
    env,
    stdio: ["ignore", "pipe", "ignore"],
  });
  return new Promise((ready, fail) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("listening on")) ready(child);
    });
    child.once("exit", (code) => fail(new Error(`serve exited ${code}`)));
  });
}

const dataDir = mkdtempSync(join(tmpdir(), "scopegate-bench-"));
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  SCOPEGATE_DATA_DIR: dataDir,
  LOG_LEVEL: "warn",
};
const server = await startServer(env);
try {
  const cli = (args: string[]) => [BIN, ...args];
  const results = [
    measure("node -e 0 (baseline)", ["-e", "0"], env),
    measure("scopegate --version", cli(["--version"]), env),
    measure("scopegate keys list --help", cli(["keys", "list", "--help"]), env),
    measure("scopegate keys create -h", cli(["keys", "create", "-h"]), env),
    measure("scopegate keys list (through the running server)", cli(["keys", "list"]), env),
  ];
  console.log(JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2));
} finally {
  server.kill("SIGTERM");
  await new Promise((r) => server.once("exit", r));
  rmSync(dataDir, { recursive: true, force: true });
}
