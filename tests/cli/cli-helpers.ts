// Runs the real `scopegate` bin as child processes (one-shot commands and `serve --port 0`) with
// an environment built from scratch, and makes sure every spawned server is killed.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "bin/scopegate.mjs");

export type Env = Record<string, string>;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Only what the child needs: nothing from the test runner's own environment leaks in. */
export function baseEnv(extra: Env): Env {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? tmpdir(),
    LOG_LEVEL: "info",
    ...extra,
  };
}

export function embeddedEnv(dataDir: string): Env {
  return baseEnv({ SCOPEGATE_DATA_DIR: dataDir });
}

/** Postgres mode: the secrets every process must share (required there), and the offline model. */
export function postgresEnv(databaseUrl: string, dataDir: string): Env {
  return baseEnv({
    DATABASE_URL: databaseUrl,
    SCOPEGATE_DATA_DIR: dataDir,
    SCOPEGATE_PEPPER: randomBytes(32).toString("base64"),
    SCOPEGATE_AUDIT_KEY: randomBytes(32).toString("base64"),
    // An Ed25519 seed: any 32 random bytes.
    SCOPEGATE_AUDIT_SIGNING_KEY: randomBytes(32).toString("base64"),
    SCOPEGATE_MODEL_PROVIDER: "offline",
  });
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), "scopegate-cli-"));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

// Every child a test spawned, killed after each test even when it failed or timed out.
const children = new Map<ChildProcess, Promise<void>>();

function track(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((r) =>
    child.once("exit", () => {
      children.delete(child);
      r();
    }),
  );
  children.set(child, exited);
  return exited;
}

async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(killer);
}

/** Kills every child a test started (servers and commands), whether or not the test passed. */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...children].map(([child, exited]) => kill(child, exited)));
}

/** Spawns the bin with `args`; the caller reads its output. */
export function spawnCli(args: string[], env: Env): { child: ChildProcess; exited: Promise<void> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return { child, exited: track(child) };
}

export function runCli(args: string[], env: Env, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const { child } = spawnCli(args, env);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => {
      stdout += c.toString("utf8");
    });
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString("utf8");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Runs a command that must succeed and parses its `--json` output. */
export async function runJson<T>(args: string[], env: Env): Promise<T> {
  const result = await runCli([...args, "--json"], env);
  if (result.code !== 0) {
    throw new Error(`scopegate ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}

export interface RunningServe {
  url: string;
  port: number;
  child: ChildProcess;
  output(): { stdout: string; stderr: string };
  stop(): Promise<void>;
}

/** `scopegate serve --port 0`; resolves once it prints its address. */
export function startServe(env: Env, timeoutMs = 60_000): Promise<RunningServe> {
  const { child, exited } = spawnCli(["serve", "--port", "0"], env);
  let stdout = "";
  let stderr = "";
  const server: RunningServe = {
    url: "",
    port: 0,
    child,
    output: () => ({ stdout, stderr }),
    stop: () => kill(child, exited),
  };
  return new Promise((resolvePromise, reject) => {
    const fail = (why: string) => {
      void server.stop();
      reject(new Error(`serve ${why}\nstdout: ${stdout}\nstderr: ${stderr}`));
    };
    const timer = setTimeout(() => fail("did not start in time"), timeoutMs);
    child.stdout?.on("data", (c: Buffer) => {
      stdout += c.toString("utf8");
      const match = /scopegate listening on http:\/\/localhost:(\d+)/.exec(stdout);
      if (match?.[1] && server.port === 0) {
        clearTimeout(timer);
        server.port = Number(match[1]);
        server.url = `http://127.0.0.1:${server.port}`;
        resolvePromise(server);
      }
    });
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString("utf8");
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (server.port === 0) fail(`exited with ${code}`);
    });
  });
}

export async function summarize(url: string, key: string) {
  const response = await fetch(`${url}/trpc/summarizeDoc`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ text: "The CLI created this key. The server accepts it for summaries." }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
