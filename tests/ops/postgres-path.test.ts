// The production path on a real PostgreSQL, driven the way an operator drives it: real `scopegate`
// processes. A database that cannot be used is named (refused, missing, unknown role) by serve,
// migrate and the CLI; an application-role server waits for the owner's migrations with /readyz
// 503 instead of hanging; Postgres-mode audit checkpoints never mix with the quick start's.
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  baseEnv,
  type Env,
  embeddedEnv,
  postgresEnv,
  removeDir,
  runCli,
  spawnCli,
  startServe,
  stopAllChildren,
  summarize,
  tempDataDir,
} from "../cli/cli-helpers.ts";
import { createKey } from "../cli/scenarios.ts";
import { createScratchDatabase, dropDatabase } from "../helpers/database.ts";
import { unusedLocalPort } from "../helpers/ports.ts";
import { otherDatabase } from "../helpers/skip.ts";

const baseUrl = process.env.DATABASE_URL;

function withUrl(url: string, change: (u: URL) => void): string {
  const u = new URL(url);
  change(u);
  return u.toString();
}

/** Resolves with the first match of `pattern` in the growing text, or fails after `ms`. */
async function waitFor(text: () => string, pattern: RegExp, ms: number): Promise<RegExpExecArray> {
  const until = Date.now() + ms;
  for (;;) {
    const match = pattern.exec(text());
    if (match) return match;
    if (Date.now() > until) throw new Error(`no ${pattern} within ${ms} ms in:\n${text()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The `address` of the server's JSON `listening` log line (stderr). */
function listeningAddress(stderr: string): string | undefined {
  const line = stderr.split("\n").find((l) => l.includes('"msg":"listening"'));
  return line ? (JSON.parse(line) as { address?: string }).address : undefined;
}

describe.skipIf(otherDatabase("postgres"))("PostgreSQL path", { timeout: 180_000 }, () => {
  const admin = baseUrl ?? "";
  let dataDir = "";
  const scratch: string[] = [];
  const roles: string[] = [];

  const scratchDatabase = async () => {
    const url = await createScratchDatabase(admin);
    scratch.push(url);
    return url;
  };

  afterEach(async () => {
    await stopAllChildren();
    if (dataDir) removeDir(dataDir);
  });
  afterAll(async () => {
    for (const url of scratch) await dropDatabase(admin, url);
    const sql = postgres(admin, { max: 1, onnotice: () => {} });
    for (const role of roles) await sql.unsafe(`drop role if exists "${role}"`);
    await sql.end();
  });

  it("names why the database cannot be used, for serve, migrate and every CLI command", async () => {
    dataDir = tempDataDir();
    const port = await unusedLocalPort();
    const missingDb = `sg_missing_${randomBytes(4).toString("hex")}`;
    const unknownRole = `sg_nobody_${randomBytes(4).toString("hex")}`;
    const password = `pw-${randomBytes(6).toString("hex")}`;
    const causes = [
      {
        url: withUrl(admin, (u) => {
          u.hostname = "127.0.0.1";
          u.port = String(port);
        }),
        expected: `cannot connect to PostgreSQL at 127.0.0.1:${port}: connection refused`,
      },
      {
        url: withUrl(admin, (u) => {
          u.pathname = `/${missingDb}`;
        }),
        expected: `database "${missingDb}" does not exist`,
      },
      {
        // The local server trusts 127.0.0.1 (pg_hba), so a wrong password cannot fail there;
        // an unknown role is the authentication failure it can produce.
        url: withUrl(admin, (u) => {
          u.username = unknownRole;
          u.password = password;
        }),
        expected: `role "${unknownRole}" does not exist`,
      },
    ];
    for (const { url, expected } of causes) {
      const env = postgresEnv(url, dataDir);
      const commands = [
        ["serve", "--port", "0"],
        ["migrate"],
        ["keys", "list"],
        ["audit", "verify"],
        ["db", "roles", "--apply"],
      ];
      for (const args of commands) {
        const result = await runCli(args, env, 30_000);
        const what = `${args.join(" ")} against ${expected}`;
        expect(result.code, `${what}: ${result.stderr}`).toBe(1);
        expect(result.stderr, what).toContain(expected);
        expect(result.stderr, what).not.toContain("Failed query");
        expect(result.stderr, what).not.toContain(password);
      }
    }
  });

  it("serves as the application role before the owner migrates: /readyz 503 migrations_pending, then ready", async () => {
    dataDir = tempDataDir();
    const databaseUrl = await scratchDatabase();
    const suffix = randomBytes(4).toString("hex");
    const owner = `sg_owner_${suffix}`;
    const app = `sg_app_${suffix}`;
    roles.push(app, owner);
    const asRole = (role: string) =>
      withUrl(databaseUrl, (u) => {
        u.username = role;
      });
    // `db roles` needs DATABASE_URL and nothing else: no secrets, no model settings.
    const rolesOnly = baseEnv({ DATABASE_URL: databaseUrl });
    const applyRoles = () =>
      runCli(["db", "roles", "--owner-role", owner, "--app-role", app, "--apply"], rolesOnly);
    const printed = await runCli(["db", "roles"], rolesOnly);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toContain('CREATE ROLE "scopegate_app"');
    expect((await applyRoles()).code).toBe(0);

    const appEnv: Env = { ...postgresEnv(asRole(app), dataDir), HOST: "127.0.0.1" };
    const { child } = spawnCli(["serve", "--port", "0"], appEnv);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const waiting = await waitFor(() => stderr, /waiting for database migrations[^\n]*"port":(\d+)/, 30_000);
    const url = `http://127.0.0.1:${waiting[1]}`;
    const readyz = await fetch(`${url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toEqual({ status: "unready", reason: "migrations_pending" });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const call = await fetch(`${url}/trpc/summarizeDoc`, { method: "POST", body: "{}" });
    expect(call.status).toBe(503);
    expect(await call.json()).toMatchObject({ error: { data: { reason: "unavailable" } } });
    // A CLI command under the same role cannot wait: it says what to run.
    const cli = await runCli(["keys", "list"], appEnv);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/migration\(s\) pending.*scopegate migrate/);

    const migrated = await runCli(["migrate"], postgresEnv(asRole(owner), dataDir));
    expect(migrated.code, migrated.stderr).toBe(0);
    expect((await applyRoles()).code).toBe(0);
    await waitFor(() => stdout, new RegExp(`listening on http://localhost:${waiting[1]}\\b`), 30_000);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect(listeningAddress(stderr)).toBe("127.0.0.1");
  });

  it("keeps Postgres-mode audit checkpoints apart from the embedded quick start's in the same data dir", async () => {
    dataDir = tempDataDir();
    // The quick start first: its server signs checkpoints into <data dir>/audit.
    const embedded = await startServe(embeddedEnv(dataDir));
    expect(listeningAddress(embedded.output().stderr)).toBe("127.0.0.1");
    const quickStartKey = await createKey(embeddedEnv(dataDir), "quick-start");
    expect((await summarize(embedded.url, quickStartKey.key)).status).toBe(200);
    await embedded.stop();
    const embeddedFiles = readdirSync(join(dataDir, "audit")).filter((n) => n.startsWith("checkpoints-"));
    expect(embeddedFiles.length).toBeGreaterThan(0);

    const databaseUrl = await scratchDatabase();
    const env = postgresEnv(databaseUrl, dataDir);
    const server = await startServe(env);
    // No HOST in Postgres mode: every interface.
    expect(listeningAddress(server.output().stderr)).toBe("::");
    const created = await createKey(env, "checkpointed");
    expect((await summarize(server.url, created.key)).status).toBe(200);
    await server.stop();

    const own = readdirSync(join(dataDir, "audit-postgres"));
    expect(own).toHaveLength(1);
    const ownDir = join(dataDir, "audit-postgres", own[0] ?? "");
    expect(readdirSync(ownDir).some((n) => n.startsWith("checkpoints-"))).toBe(true);
    expect(readdirSync(join(dataDir, "audit")).filter((n) => n.startsWith("checkpoints-"))).toEqual(
      embeddedFiles,
    );

    const verify = await runCli(["audit", "verify"], env);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toContain("audit log intact");
    const prune = await runCli(["audit", "prune", "--older-than", "90d"], env);
    expect(prune.code, prune.stdout + prune.stderr).toBe(0);
    expect(prune.stdout).toContain("pruned 0 record(s)");

    // What the separation prevents: the quick start's files read as this database's.
    const mixed = await runCli(["audit", "verify"], { ...env, SCOPEGATE_AUDIT_DIR: join(dataDir, "audit") });
    expect(mixed.code).toBe(1);
    expect(mixed.stdout).toContain("bad_checkpoint");
  });
});
