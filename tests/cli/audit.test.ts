// The `scopegate audit` commands as an operator runs them, against a running `serve` and with
// the server stopped: list/stats/export/tail/prune output, and verify's exit codes (0 intact,
// 1 naming the first tampered record). Embedded PGlite without DATABASE_URL, Postgres with it.
import { sql } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDatabase, type DatabaseHandle } from "../../db/index.ts";
import { createScratchDatabase, dropDatabase } from "../helpers/database.ts";
import {
  type Env,
  embeddedEnv,
  postgresEnv,
  removeDir,
  runCli,
  runJson,
  spawnCli,
  startServe,
  stopAllChildren,
  tempDataDir,
} from "./cli-helpers.ts";
import type { AuditItem, CreatedKey } from "./scenarios.ts";

const baseUrl = process.env.DATABASE_URL;
const mode = baseUrl === undefined ? "embedded PGlite" : "Postgres";

// What `audit list --json` and `audit export` carry for every record (the API's field names).
const RECORD_FIELDS = [
  "callId",
  "clientAddress",
  "count",
  "details",
  "endUser",
  "flags",
  "hash",
  "id",
  "input",
  "inputTokens",
  "keyFingerprint",
  "keyId",
  "latencyMs",
  "model",
  "outcome",
  "output",
  "outputTokens",
  "owner",
  "phase",
  "prevHash",
  "procedure",
  "reason",
  "redactions",
  "requestId",
  "scopes",
  "seq",
  "ts",
  "writerId",
];

interface Stats {
  byOutcome: Array<{ outcome: string; count: number }>;
  byReason: Array<{ outcome: string; reason: string; count: number }>;
  topDeniedKeys: Array<{ key: string; count: number }>;
  topDeniedAddresses: Array<{ address: string; count: number }>;
}

/** One summarizeDoc call over HTTP; returns its status and the request id the server assigned. */
async function summarize(url: string, key: string): Promise<{ status: number; requestId: string }> {
  const response = await fetch(`${url}/trpc/summarizeDoc`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ text: "The audit commands read this. Every call is recorded." }),
  });
  await response.arrayBuffer();
  return { status: response.status, requestId: response.headers.get("x-request-id") ?? "" };
}

function createKey(env: Env, name: string, scope: string): Promise<CreatedKey> {
  return runJson<CreatedKey>(["keys", "create", "--name", name, "--scope", scope], env);
}

describe(`audit commands (${mode})`, { timeout: 240_000 }, () => {
  let databaseUrl: string | null = null;
  let dataDir: string;
  let env: Env;

  beforeEach(async () => {
    dataDir = tempDataDir();
    databaseUrl = baseUrl === undefined ? null : await createScratchDatabase(baseUrl);
    env = databaseUrl === null ? embeddedEnv(dataDir) : postgresEnv(databaseUrl, dataDir);
  });
  afterEach(async () => {
    await stopAllChildren();
    removeDir(dataDir);
    if (baseUrl !== undefined && databaseUrl !== null) await dropDatabase(baseUrl, databaseUrl);
  });

  /** The database as the server sees it, opened by the test while no server holds it. */
  const openDatabase = (): Promise<DatabaseHandle> =>
    databaseUrl === null
      ? createDatabase({ kind: "pglite", dataDir: `${dataDir}/pglite` })
      : createDatabase({ kind: "postgres", url: databaseUrl, maxConnections: 1 });

  it("list, stats, export, tail and prune report what the running server recorded", async () => {
    const server = await startServe(env);
    const allowed = await createKey(env, "allowed", "endpoint:summarize-doc");
    const narrow = await createKey(env, "narrow", "endpoint:chat");
    const ok = [await summarize(server.url, allowed.key), await summarize(server.url, allowed.key)];
    const denied = [];
    for (let i = 0; i < 3; i++) denied.push(await summarize(server.url, narrow.key));
    expect(ok.map((c) => c.status)).toEqual([200, 200]);
    expect(denied.map((c) => c.status)).toEqual([403, 403, 403]);

    // list --json: the API's field names, and each call's final with the outcome it had.
    const listed = await runJson<Array<AuditItem & Record<string, unknown>>>(
      ["audit", "list", "--limit", "200"],
      env,
    );
    for (const item of listed) expect(Object.keys(item).sort()).toEqual(RECORD_FIELDS);
    const finalOf = (requestId: string) =>
      listed.filter((r) => r.requestId === requestId && r.phase === "final");
    for (const call of ok) {
      expect(finalOf(call.requestId)).toEqual([
        expect.objectContaining({ outcome: "ok", keyId: allowed.keyId, procedure: "summarizeDoc" }),
      ]);
      expect(listed.filter((r) => r.requestId === call.requestId && r.phase === "admitted")).toHaveLength(1);
    }
    for (const call of denied) {
      expect(finalOf(call.requestId)).toEqual([
        expect.objectContaining({ outcome: "denied", reason: "missing_scope", keyId: narrow.keyId }),
      ]);
    }
    // Newest first.
    expect(listed.map((r) => r.id)).toEqual([...listed.map((r) => r.id)].sort((a, b) => b - a));
    const filtered = await runJson<AuditItem[]>(
      ["audit", "list", "--key", narrow.keyId, "--outcome", "denied"],
      env,
    );
    expect(filtered.map((r) => r.requestId).sort()).toEqual(denied.map((c) => c.requestId).sort());

    // stats --since 1h: the three denied attempts, by reason, key and address.
    const stats = await runJson<Stats>(["audit", "stats", "--since", "1h"], env);
    expect(stats.byOutcome).toContainEqual({ outcome: "denied", count: 3 });
    expect(stats.byOutcome.find((o) => o.outcome === "ok")?.count).toBeGreaterThanOrEqual(2);
    expect(stats.byReason).toContainEqual({ outcome: "denied", reason: "missing_scope", count: 3 });
    expect(stats.topDeniedKeys).toEqual([{ key: narrow.keyId, count: 3 }]);
    expect(stats.topDeniedAddresses).toEqual([{ address: "127.0.0.1", count: 3 }]);
    const human = await runCli(["audit", "stats", "--since", "1h"], env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain("missing_scope");
    expect(human.stdout).toContain(narrow.keyId);

    // export --since 1h --format jsonl: one JSON object per line, oldest first, every record.
    const exported = await runCli(["audit", "export", "--since", "1h", "--format", "jsonl"], env);
    expect(exported.code, exported.stderr).toBe(0);
    const lines = exported.stdout.split("\n").filter((line) => line !== "");
    const records = lines.map((line) => JSON.parse(line) as AuditItem & Record<string, unknown>);
    for (const record of records) expect(Object.keys(record).sort()).toEqual(RECORD_FIELDS);
    const ids = records.map((r) => r.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    // Everything list saw (older than the export) is exported.
    expect(ids).toEqual(expect.arrayContaining(listed.map((r) => r.id)));
    const unsupported = await runCli(["audit", "export", "--format", "csv"], env);
    expect(unsupported.code).toBe(2);

    // tail: a record written after it started is printed within a few seconds.
    const tail = spawnCli(["audit", "tail", "--json"], env);
    let tailed = "";
    tail.child.stdout?.on("data", (c: Buffer) => {
      tailed += c.toString("utf8");
    });
    const madeWhileTailing: string[] = [];
    const deadline = Date.now() + 30_000;
    let seenAfterMs = Number.POSITIVE_INFINITY;
    // The tail follows from its own start (a process start costs seconds): call until it shows one.
    while (Date.now() < deadline && seenAfterMs === Number.POSITIVE_INFINITY) {
      const call = await summarize(server.url, allowed.key);
      madeWhileTailing.push(call.requestId);
      const sent = Date.now();
      while (Date.now() - sent < 5_000) {
        if (tailed.includes(call.requestId)) {
          seenAfterMs = Date.now() - sent;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    tail.child.kill("SIGTERM");
    await tail.exited;
    expect(seenAfterMs).toBeLessThan(5_000);
    const tailedRecords = tailed
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as AuditItem);
    expect(tailedRecords.length).toBeGreaterThan(0);
    // Only records written after it started; none of the earlier calls.
    for (const record of tailedRecords) {
      expect([...ok, ...denied].map((c) => c.requestId)).not.toContain(record.requestId);
    }

    // prune: below the minimum retention it is refused (and that refusal is recorded); at 90d it
    // runs and records its event.
    const tooSoon = await runCli(["audit", "prune", "--older-than", "1d"], env);
    expect(tooSoon.code).toBe(1);
    expect(tooSoon.stderr).toContain("minimum retention (30 days)");
    const pruned = await runJson<{ deleted: number; cutoff: string }>(
      ["audit", "prune", "--older-than", "90d"],
      env,
    );
    expect(pruned.deleted).toBe(0);
    const prunes = await runJson<AuditItem[]>(["audit", "list", "--procedure", "audit.prune"], env);
    expect(prunes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          phase: "final",
          outcome: "denied",
          reason: "invalid_input",
          keyId: "local-cli",
        }),
        expect.objectContaining({
          phase: "event",
          outcome: "ok",
          reason: "audit_pruned",
          keyId: "local-cli",
        }),
        expect.objectContaining({ phase: "final", outcome: "ok", keyId: "local-cli" }),
      ]),
    );

    const verified = await runCli(["audit", "verify"], env);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toContain("audit log intact");
  });

  it("verify exits 0 on an intact log and 1 after a tampering UPDATE, printing that record's id", async () => {
    const server = await startServe(env);
    const allowed = await createKey(env, "allowed", "endpoint:summarize-doc");
    const calls = [await summarize(server.url, allowed.key), await summarize(server.url, allowed.key)];
    expect(calls.map((c) => c.status)).toEqual([200, 200]);
    const live = await runCli(["audit", "verify"], env);
    expect(live.code, live.stdout + live.stderr).toBe(0);
    await server.stop();

    const intact = await runCli(["audit", "verify"], env);
    expect(intact.code, intact.stdout + intact.stderr).toBe(0);
    expect(intact.stdout).toContain("audit log intact");

    // With no server holding the database, the test edits one record with plain SQL.
    const database = await openDatabase();
    let tampered: number;
    try {
      const [row] = await database.rows<{ id: number }>(
        sql`update audit_log set outcome = 'denied' where id = (
              select id from audit_log where phase = 'final' and procedure = 'summarizeDoc' order by id limit 1)
            returning id::int as id`,
      );
      if (!row) throw new Error("no summarizeDoc record to tamper with");
      tampered = row.id;
    } finally {
      await database.close();
    }

    const broken = await runCli(["audit", "verify"], env);
    expect(broken.code, broken.stdout + broken.stderr).toBe(1);
    expect(broken.stdout).toContain(`first problem at record ${tampered}`);
    expect(broken.stdout).toContain(`edited at record ${tampered}`);
    const report = await runCli(["audit", "verify", "--json"], env);
    expect(report.code).toBe(1);
    expect(JSON.parse(report.stdout)).toMatchObject({
      ok: false,
      problems: [expect.objectContaining({ kind: "edited", recordId: tampered })],
    });
  });
});
