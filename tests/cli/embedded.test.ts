// The real CLI on the embedded database (PGlite in a temp data dir): through a running server
// with the lock's local token, or opening the database itself; the lock file; the demo key.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { otherDatabase } from "../helpers/skip.ts";
import {
  type Env,
  embeddedEnv,
  removeDir,
  runCli,
  spawnCli,
  startServe,
  stopAllChildren,
  summarize,
  tempDataDir,
} from "./cli-helpers.ts";
import {
  createKey,
  createKeyWhileServing,
  documentsAndAudit,
  KEY_FORMAT,
  revokeWithServerStopped,
} from "./scenarios.ts";

// With DATABASE_URL the CLI runs against Postgres (postgres.test.ts); the embedded database and
// its lock are covered by the PGlite run.
// Every command is a new process that starts PGlite (seconds each), hence the long timeout.
describe.skipIf(otherDatabase("pglite"))("CLI on the embedded database", { timeout: 180_000 }, () => {
  let dataDir: string;
  let env: Env;

  beforeEach(() => {
    dataDir = tempDataDir();
    env = embeddedEnv(dataDir);
  });
  afterEach(async () => {
    await stopAllChildren();
    removeDir(dataDir);
  });

  const lockFile = () => join(dataDir, "scopegate.lock");

  it("creates a key through the running server with the lock's local token, and the key works", async () => {
    const { server, creation } = await createKeyWhileServing(env);
    // The server holds the lock (0600) and published its port and a local admin token.
    const lock = JSON.parse(readFileSync(lockFile(), "utf8")) as {
      pid: number;
      port: number;
      token: string;
    };
    expect(lock).toMatchObject({ pid: server.child.pid, port: server.port });
    expect(lock.token).toMatch(/^sglocal_/);
    expect(statSync(lockFile()).mode & 0o777).toBe(0o600);
    // Acting in-process would record the address "local"; through the server it is the socket's.
    expect(creation?.clientAddress).toBe("127.0.0.1");
    expect(server.output().stderr).not.toContain(lock.token);

    await server.stop();
    expect(existsSync(lockFile())).toBe(false);
  });

  it("opens the database itself with the server stopped; a revoked key is refused after restart", async () => {
    await revokeWithServerStopped(env);
    expect(existsSync(lockFile())).toBe(false);
  });

  it("prints docs and audit rows with the API's field names and escapes control characters", async () => {
    await documentsAndAudit(env, dataDir);
  });

  it("takes over a stale lock left by a dead process", async () => {
    const dead = spawnSync(process.execPath, ["-e", "0"]);
    expect(dead.status).toBe(0);
    writeFileSync(lockFile(), JSON.stringify({ pid: dead.pid, port: 1, token: "sglocal_stale" }), {
      mode: 0o600,
    });

    const list = await runCli(["keys", "list", "--json"], env);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
    expect(existsSync(lockFile())).toBe(false);

    writeFileSync(lockFile(), JSON.stringify({ pid: dead.pid, port: 1, token: "sglocal_stale" }), {
      mode: 0o600,
    });
    const server = await startServe(env);
    const lock = JSON.parse(readFileSync(lockFile(), "utf8")) as { pid: number };
    expect(lock.pid).toBe(server.child.pid);
  });

  it("refuses to serve while a CLI command holds the lock, with a clear error", async () => {
    // `docs add` takes the lock, then blocks reading its file: a FIFO nobody has written yet.
    const fifo = join(dataDir, "slow-doc");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const { child: holder } = spawnCli(["docs", "add", "--source", "s", "--title", "t", fifo], env);
    const holderDone = new Promise<number | null>((r) => holder.once("close", (code) => r(code)));
    try {
      await waitFor(() => lockHeldBy(lockFile(), holder.pid));

      await expect(startServe(env)).rejects.toThrow(/data directory is in use by process \d+/);
      const second = await runCli(["keys", "list"], env);
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/in use by process/);
    } finally {
      writeFileSync(fifo, "Released by the test.\n");
    }
    expect(await holderDone).toBe(0);
    expect(existsSync(lockFile())).toBe(false);
  });

  it("writes the demo key to a 0600 file and prints only its path", async () => {
    const server = await startServe(env);
    const path = join(dataDir, "demo-key");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const demoKey = readFileSync(path, "utf8").trim();
    expect(demoKey).toMatch(KEY_FORMAT);
    expect(demoKey.startsWith("sg_test_")).toBe(true);
    const { stdout, stderr } = server.output();
    expect(stdout).toContain(path);
    expect(stdout + stderr).not.toContain(demoKey);
    expect(stdout + stderr).not.toContain(demoKey.slice(21, 53));
    const call = await summarize(server.url, demoKey);
    expect(call.status).toBe(200);
  });

  it("with SCOPEGATE_URL and SCOPEGATE_API_KEY acts with that key, never as root", async () => {
    const admin = await createKey(env, "not-admin");
    const server = await startServe(env);
    const remote = { ...env, SCOPEGATE_URL: server.url, SCOPEGATE_API_KEY: admin.key };
    const refused = await runCli(["keys", "list"], remote);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("[missing_scope]");
    expect(refused.stderr).toContain("admin:keys");
    expect(refused.stderr).not.toContain(admin.key);
  });
});

function lockHeldBy(path: string, pid: number | undefined): boolean {
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { pid: number }).pid === pid;
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}
