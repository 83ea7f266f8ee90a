// The real `scopegate` bin around one running server (embedded, or Postgres with DATABASE_URL):
// the server's validation messages reach the user (and --json errors are JSON on stderr), docs
// remove, keys derive with the parent key from SCOPEGATE_API_KEY or stdin (never needed in argv),
// and migrate refusing to open a data directory that a server holds.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScratchDatabase, dropDatabase } from "../helpers/database.ts";
import { otherDatabase } from "../helpers/skip.ts";
import {
  type CliResult,
  type Env,
  embeddedEnv,
  postgresEnv,
  type RunningServe,
  removeDir,
  runCli,
  runJson,
  startServe,
  stopAllChildren,
  summarize,
  tempDataDir,
} from "./cli-helpers.ts";
import { type CreatedKey, KEY_FORMAT } from "./scenarios.ts";

const BIN = join(resolve(import.meta.dirname, "../.."), "bin/scopegate.mjs");

function withStdin(args: string[], env: Env, input: string): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const baseUrl = process.env.DATABASE_URL;

/**
 * The JSON error a --json command wrote to stderr: its last line (a command that opens the
 * database in-process may log JSON lines before it).
 */
function jsonError(stderr: string): { error: Record<string, unknown> } {
  const last = stderr.trim().split("\n").at(-1) ?? "";
  return JSON.parse(last) as { error: Record<string, unknown> };
}

// One server for the file (PGlite start-up costs seconds per process); tests use their own keys
// and documents. With DATABASE_URL the same commands run on a scratch Postgres database (where
// the CLI opens the database itself: no lock); the lock tests are embedded-only.
describe("CLI commands against a running server", { timeout: 180_000 }, () => {
  let dataDir: string;
  let env: Env;
  let server: RunningServe;

  let databaseUrl: string | undefined;

  beforeAll(async () => {
    dataDir = tempDataDir();
    databaseUrl = baseUrl ? await createScratchDatabase(baseUrl) : undefined;
    env = databaseUrl ? postgresEnv(databaseUrl, dataDir) : embeddedEnv(dataDir);
    server = await startServe(env);
  }, 120_000);
  afterAll(async () => {
    await stopAllChildren();
    removeDir(dataDir);
    if (baseUrl && databaseUrl) await dropDatabase(baseUrl, databaseUrl);
  });

  it("keys create with a misspelled scope prints the server's message, not 'Invalid input.'", async () => {
    const args = ["keys", "create", "--name", "typo", "--scope", "endpoint:sumarize-doc"];
    const human = await runCli(args, env);
    expect(human.code).toBe(1);
    expect(human.stderr).toContain('unknown scope "endpoint:sumarize-doc"; valid: endpoint:summarize-doc');
    expect(human.stderr).toContain("[invalid_input]");
    expect(human.stderr).not.toContain("Invalid input.");
    expect(human.stdout).toBe("");

    const json = await runCli([...args, "--json"], env);
    expect(json.code).toBe(1);
    expect(json.stdout).toBe("");
    const { error } = jsonError(json.stderr);
    expect(error).toMatchObject({ code: "BAD_REQUEST", reason: "invalid_input", httpStatus: 400 });
    expect(error.requestId).toMatch(/^req_/);
    expect((error.fieldErrors as Record<string, string[]>).scopes?.[0]).toMatch(
      /^unknown scope "endpoint:sumarize-doc"; valid: /,
    );
  });

  it("a refused call with --json is a JSON error on stderr naming the missing scopes", async () => {
    const reader = await runJson<CreatedKey>(
      ["keys", "create", "--name", "reader", "--scope", "endpoint:chat"],
      env,
    );
    const remote = { ...env, SCOPEGATE_URL: server.url, SCOPEGATE_API_KEY: reader.key };
    const result = await runCli(["keys", "list", "--json"], remote);
    expect(result.code).toBe(1);
    expect(jsonError(result.stderr)).toMatchObject({
      error: { code: "FORBIDDEN", reason: "missing_scope", missingScopes: ["admin:keys"] },
    });
    expect(result.stderr).not.toContain(reader.key);
  });

  it("docs remove deletes the document it names; a second remove is not_found", async () => {
    const file = join(dataDir, "doc.txt");
    writeFileSync(file, "A short document for the remove test.\n");
    const doc = await runJson<{ id: string; source: string }>(
      ["docs", "add", "--source", "removable", "--title", "To remove", file],
      env,
    );
    const keep = await runJson<{ id: string }>(
      ["docs", "add", "--source", "removable", "--title", "To keep", file],
      env,
    );
    const removed = await runJson<{ id: string; removed: boolean }>(
      ["docs", "remove", "--source", "removable", doc.id],
      env,
    );
    expect(removed).toMatchObject({ id: doc.id, source: "removable", removed: true });
    const left = await runJson<Array<{ id: string }>>(["docs", "list", "--source", "removable"], env);
    expect(left.map((d) => d.id)).toEqual([keep.id]);
    const again = await runCli(["docs", "remove", "--source", "removable", doc.id], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("[not_found]");
  });

  it("keys derive takes the parent key from SCOPEGATE_API_KEY or stdin; argv is not needed", async () => {
    const parent = await runJson<CreatedKey>(
      ["keys", "create", "--name", "parent", "--scope", "keys:derive", "--scope", "endpoint:summarize-doc"],
      env,
    );
    const derive = ["keys", "derive", "--scope", "endpoint:summarize-doc", "--ttl", "5m", "--json"];

    const fromEnv = await runCli(derive, { ...env, SCOPEGATE_API_KEY: parent.key });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    const child = JSON.parse(fromEnv.stdout) as CreatedKey;
    expect(child.key).toMatch(KEY_FORMAT);
    expect(child.scopes).toEqual(["endpoint:summarize-doc"]);
    expect((await summarize(server.url, child.key)).status).toBe(200);

    const fromStdin = await withStdin([...derive, "--from-key", "-"], env, `${parent.key}\n`);
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    expect((JSON.parse(fromStdin.stdout) as CreatedKey).key).toMatch(KEY_FORMAT);

    // The child's lineage is the parent's: a derive acts as the parent key, never as root.
    const listed = await runJson<Array<{ keyId: string; parentId: string | null }>>(["keys", "list"], env);
    expect(listed.find((k) => k.keyId === child.keyId)?.parentId).toBe(parent.keyId);

    // In argv it still works, with a warning that never repeats the key.
    const fromArgv = await runCli([...derive, "--from-key", parent.key], env);
    expect(fromArgv.code, fromArgv.stderr).toBe(0);
    expect(fromArgv.stderr).toContain("shell history");
    expect(fromArgv.stderr).not.toContain(parent.key);
  });

  it("keys derive with no parent key, or an empty stdin, is a usage error; a key without keys:derive is refused", async () => {
    const derive = ["keys", "derive", "--scope", "endpoint:summarize-doc"];
    const none = await runCli(derive, env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("SCOPEGATE_API_KEY");
    expect(none.stderr).toContain("Usage: scopegate keys derive");
    const empty = await withStdin([...derive, "--from-key", "-"], env, "");
    expect(empty.code).toBe(2);

    const plain = await runJson<CreatedKey>(
      ["keys", "create", "--name", "no-derive", "--scope", "endpoint:summarize-doc"],
      env,
    );
    const refused = await runCli(derive, { ...env, SCOPEGATE_API_KEY: plain.key });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("[missing_scope]");
    expect(refused.stderr).toContain("keys:derive");
  });

  it.skipIf(otherDatabase("pglite"))(
    "migrate refuses while the server holds the data directory, and leaves its lock alone",
    async () => {
      const lockFile = join(dataDir, "scopegate.lock");
      const before = readFileSync(lockFile, "utf8");
      const result = await runCli(["migrate"], env);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `in use by scopegate serve (process ${server.child.pid}, port ${server.port})`,
      );
      expect(result.stdout).not.toContain("migrations applied");
      const json = await runCli(["migrate", "--json"], env);
      expect(jsonError(json.stderr)).toMatchObject({ error: { reason: "data_dir_locked" } });
      expect(readFileSync(lockFile, "utf8")).toBe(before);
      // The server still works on the directory it holds.
      const key = await runJson<CreatedKey>(
        ["keys", "create", "--name", "after-migrate", "--scope", "endpoint:summarize-doc"],
        env,
      );
      expect((await summarize(server.url, key.key)).status).toBe(200);
    },
  );
});

describe.skipIf(otherDatabase("pglite"))("scopegate migrate on its own", { timeout: 180_000 }, () => {
  it("with no server it takes the lock, migrates, and releases the lock", async () => {
    const dataDir = tempDataDir();
    try {
      const result = await runCli(["migrate"], embeddedEnv(dataDir));
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toBe("migrations applied\n");
      expect(existsSync(join(dataDir, "scopegate.lock"))).toBe(false);
      // A server started afterwards finds nothing pending and opens the same directory.
      const server = await startServe(embeddedEnv(dataDir));
      await server.stop();
    } finally {
      await stopAllChildren();
      removeDir(dataDir);
    }
  });
});
