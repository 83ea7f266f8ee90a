// Crash: a real `scopegate serve` on Postgres is killed with SIGKILL while 50 clients load it.
// Afterwards every response a client received has its final record, no model call lacks its
// admitted record, and the log verifies up to the crash point: the killed writer's chain has no
// `final` checkpoint, its records up to its last signed checkpoint are proven complete, and the
// records after it (hash-chained, but unsigned) are counted as `uncheckpointed`, not as tampering.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, type DatabaseHandle } from "../../db/index.ts";
import type { CheckpointBody } from "../../server/audit/checkpoint.ts";
import { parseSigningKey } from "../../server/audit/signing.ts";
import { verifyAudit } from "../../server/audit/verify.ts";
import { parseVersionedSecret } from "../../server/config.ts";
import { createLogger } from "../../server/logger.ts";
import { openServices, type RunningServices } from "../../server/services.ts";
import { createScratchDatabase, dropDatabase, testDatabaseUrl } from "../helpers/database.ts";
import { type ServeProcess, sharedSecrets, startServeProcess } from "../helpers/serve-process.ts";
import { auditRows, createTestKey, testAuditConfig, testConfig } from "../helpers/services.ts";
import { otherDatabase } from "../helpers/skip.ts";
import { auditTempDir } from "./support.ts";

const baseUrl = testDatabaseUrl();
const BIN = fileURLToPath(new URL("../../bin/scopegate.mjs", import.meta.url));
const CLIENTS = 50;
// Enough responses that the kill lands mid-load, after several periodic checkpoints.
const KILL_AFTER_RESPONSES = 600;
const CHECKPOINT_EVERY = 100;

interface Received {
  requestId: string;
  status: number;
  kind: Kind;
}
type Kind = "summarize" | "chat" | "denied";
const KINDS: Kind[] = ["summarize", "chat", "summarize", "denied"];

function checkpointsOf(dir: string, writerId: string): CheckpointBody[] {
  const file = readdirSync(dir).find((name) => name === `checkpoints-${writerId}.jsonl`);
  if (!file) return [];
  return readFileSync(join(dir, file), "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse((JSON.parse(line) as { body: string }).body) as CheckpointBody);
}

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
}

// Without a real Postgres there is no second process to kill: PGlite is single-process, and a
// killed embedded server is the same chain logic as this test exercises.
const skipped = otherDatabase("postgres");
describe.skipIf(skipped)("a serve process killed with SIGKILL under load (Postgres)", () => {
  let databaseUrl = "";
  let dataDir = "";
  let env: Record<string, string> = {};
  let server: ServeProcess | undefined;
  let root: RunningServices | undefined;
  let direct: DatabaseHandle | undefined;

  beforeAll(async () => {
    databaseUrl = await createScratchDatabase(baseUrl as string);
    dataDir = auditTempDir();
    env = {
      DATABASE_URL: databaseUrl,
      SCOPEGATE_DATA_DIR: dataDir,
      // Named, so the serve child, the in-process services and the CLI share one audit directory.
      SCOPEGATE_AUDIT_DIR: join(dataDir, "audit"),
      SCOPEGATE_AUDIT_CHECKPOINT_EVERY: String(CHECKPOINT_EVERY),
      ...sharedSecrets(),
    };
    server = await startServeProcess(env);
    direct = await createDatabase({ kind: "postgres", url: databaseUrl, maxConnections: 2 });
    // The local operator mints keys in-process, with the processes' pepper and signing key.
    const signingKey = parseSigningKey(env.SCOPEGATE_AUDIT_SIGNING_KEY ?? "");
    root = await openServices(
      testConfig({
        peppers: parseVersionedSecret("SCOPEGATE_PEPPER", env.SCOPEGATE_PEPPER ?? ""),
        auditKey: parseVersionedSecret("SCOPEGATE_AUDIT_KEY", env.SCOPEGATE_AUDIT_KEY ?? ""),
        dataDir,
        audit: testAuditConfig({
          dir: join(dataDir, "audit"),
          signingKey,
          verifyKeys: [signingKey.publicKey],
        }),
      }),
      { logger: createLogger("silent"), localAdminToken: null, database: direct },
    );
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    await root?.close();
    await direct?.close();
    if (databaseUrl) await dropDatabase(baseUrl as string, databaseUrl);
  });

  it("keeps every received response's final record, every admitted record, and a verifying log", async () => {
    const s = root as RunningServices;
    const serve = server as ServeProcess;
    const full = await createTestKey(s, {
      scopes: ["endpoint:summarize-doc", "endpoint:chat", "prompt-processing"],
    });
    const summarizeOnly = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const call = async (base: string, kind: Kind, i: number): Promise<Received> => {
      const [path, key, input] =
        kind === "summarize"
          ? [
              "summarizeDoc",
              full,
              { text: `Crash test ${i}. Revenue grew. Costs fell. Two features shipped.` },
            ]
          : [
              "chat",
              kind === "chat" ? full : summarizeOnly,
              { messages: [{ role: "user", content: `hello ${i}` }] },
            ];
      const response = await fetch(`${base}/trpc/${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${key.plaintext}`, "content-type": "application/json" },
        body: JSON.stringify(input),
      });
      await response.arrayBuffer();
      return { requestId: response.headers.get("x-request-id") ?? "", status: response.status, kind };
    };

    const received: Received[] = [];
    let cutOff = 0;
    let started = 0;
    let killed = false;
    const client = async () => {
      while (!killed) {
        const i = started++;
        try {
          received.push(await call(serve.url, KINDS[i % KINDS.length] as Kind, i));
        } catch {
          // The process died with this request in flight: the client got no response.
          cutOff += 1;
          return;
        }
        if (received.length >= KILL_AFTER_RESPONSES && !killed) {
          killed = true;
          serve.child.kill("SIGKILL");
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    await serve.stop();
    expect(serve.child.signalCode).toBe("SIGKILL");
    // The kill landed mid-load: some requests were in flight and got no answer.
    expect(cutOff).toBeGreaterThan(0);
    expect(received.length).toBeGreaterThanOrEqual(KILL_AFTER_RESPONSES);
    const expected: Record<Kind, number> = { summarize: 200, chat: 200, denied: 403 };
    for (const r of received) expect(r.status, r.kind).toBe(expected[r.kind]);

    const rows = await auditRows(s.database);
    // Every response a client received: its final record, exactly one, with the outcome it saw.
    const finals = new Map<string, typeof rows>();
    for (const row of rows.filter((r) => r.phase === "final")) {
      finals.set(row.requestId, [...(finals.get(row.requestId) ?? []), row]);
    }
    for (const r of received) {
      const final = finals.get(r.requestId) ?? [];
      expect(final, r.requestId).toHaveLength(1);
      expect(final[0]?.outcome, r.requestId).toBe(r.status === 200 ? "ok" : "denied");
    }
    // No model call without its admitted record, committed earlier in the same chain.
    const admitted = new Map(rows.filter((r) => r.phase === "admitted").map((r) => [r.callId, r]));
    const modelCalls = rows.filter(
      (r) =>
        r.phase === "final" && (r.outcome === "ok" || r.reason?.startsWith("model_")) && r.model !== null,
    );
    expect(modelCalls.length).toBeGreaterThanOrEqual(received.filter((r) => r.status === 200).length);
    for (const final of modelCalls) {
      const record = admitted.get(final.callId);
      expect(record, final.requestId).toBeDefined();
      expect(record?.writerId).toBe(final.writerId);
      expect((record?.seq ?? Number.POSITIVE_INFINITY) < final.seq).toBe(true);
    }
    // Admitted calls without a final were in flight at the kill: none of them answered a client.
    const finalCalls = new Set(rows.filter((r) => r.phase === "final").map((r) => r.callId));
    const answered = new Set(received.map((r) => r.requestId));
    const interrupted = rows.filter((r) => r.phase === "admitted" && !finalCalls.has(r.callId));
    for (const record of interrupted) expect(answered.has(record.requestId), record.requestId).toBe(false);

    // The killed writer: several signed checkpoints, none `final`.
    const auditDir = join(dataDir, "audit");
    const servedRows = rows.filter((r) => r.procedure === "summarizeDoc" || r.procedure === "chat");
    const killedWriter = servedRows[0]?.writerId ?? "";
    expect(new Set(servedRows.map((r) => r.writerId))).toEqual(new Set([killedWriter]));
    const signed = checkpointsOf(auditDir, killedWriter);
    expect(signed.length).toBeGreaterThanOrEqual(1);
    expect(signed.map((c) => c.kind)).not.toContain("final");
    const lastSigned = Math.max(...signed.map((c) => c.seq));
    const lastWritten = Math.max(...rows.filter((r) => r.writerId === killedWriter).map((r) => r.seq));
    expect(lastWritten).toBeGreaterThanOrEqual(lastSigned);

    // Up to the crash point: everything signed is present, and the unsigned tail verifies as
    // a hash chain. The operator's own chain is signed now, so the tail is the killed writer's.
    await s.audit.checkpoint();
    const report = await verifyAudit(s.database.db, {
      auditKeys: s.config.auditKey,
      publicKeys: s.config.audit.verifyKeys,
      dir: auditDir,
    });
    expect(report).toMatchObject({ ok: true, problems: [], records: rows.length });
    expect(report.uncheckpointed).toBe(lastWritten - lastSigned);

    // The same verdict from the CLI, with the server's environment and only what it holds.
    const cli = await runCli(["audit", "verify"], env);
    expect(cli.code, cli.out).toBe(0);
    expect(cli.out).toContain("audit log intact");

    // A restarted server starts a chain of its own beside the dead one; both verify, and the
    // dead chain stays exactly as the crash left it (still no final checkpoint).
    server = await startServeProcess(env);
    const again = await call(server.url, "summarize", -1);
    expect(again.status).toBe(200);
    await server.stop();
    const after = await verifyAudit(s.database.db, {
      auditKeys: s.config.auditKey,
      publicKeys: s.config.audit.verifyKeys,
      dir: auditDir,
    });
    expect(after).toMatchObject({ ok: true, problems: [], uncheckpointed: lastWritten - lastSigned });
    expect(checkpointsOf(auditDir, killedWriter)).toEqual(signed);
    const [restarted] = (await auditRows(s.database)).filter((r) => r.requestId === again.requestId);
    expect(restarted?.writerId).not.toBe(killedWriter);

    // The edge of "up to the crash point": the unsigned tail could be removed unnoticed (that is
    // the window a checkpoint interval leaves), a record a signature covers cannot.
    const keys = { auditKeys: s.config.auditKey, publicKeys: s.config.audit.verifyKeys, dir: auditDir };
    await s.database.rows(
      sql`delete from audit_log where writer_id = ${killedWriter} and seq > ${lastSigned} returning id`,
    );
    expect(await verifyAudit(s.database.db, keys)).toMatchObject({ ok: true, uncheckpointed: 0 });
    await s.database.rows(
      sql`delete from audit_log where writer_id = ${killedWriter} and seq = ${lastSigned} returning id`,
    );
    const cut = await verifyAudit(s.database.db, keys);
    expect(cut.ok).toBe(false);
    expect(cut.problems[0]).toMatchObject({ kind: "truncated", writerId: killedWriter });
  }, 180_000);
});
