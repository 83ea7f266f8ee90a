// The database goes away during a call (a TCP proxy in front of Postgres is cut): the call fails
// closed with SERVICE_UNAVAILABLE within 3 s, the refusal the caller got is spooled to disk, and
// once the database is back it is replayed into the chain: one final per call, nothing
// half-written, and the log verifies.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createDatabase, type DatabaseHandle, keyLimits, migrateDatabase } from "../../db/index.ts";
import { createLogger } from "../../server/logger.ts";
import { OfflineProvider } from "../../server/model/offline.ts";
import type { Completion, CompletionRequest, ModelProvider } from "../../server/model/provider.ts";
import { openServices, type RunningServices } from "../../server/services.ts";
import { createScratchDatabase, dropDatabase, testDatabaseUrl } from "../helpers/database.ts";
import { auditRows, callerFor, createTestKey, testAuditConfig, testConfig } from "../helpers/services.ts";
import { otherDatabase } from "../helpers/skip.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";
import { expectRefusal } from "../pipeline/support.ts";
import { auditTempDir, verifyNow } from "./support.ts";

const baseUrl = testDatabaseUrl();
const FAIL_CLOSED_WITHIN_MS = 3000;

/** The offline model, counting its calls; `during` runs inside a call (after admission committed). */
class CountingModel implements ModelProvider {
  readonly name = "offline";
  calls = 0;
  during: (() => Promise<void>) | null = null;
  private readonly inner = new OfflineProvider();
  async complete(request: CompletionRequest): Promise<Completion> {
    this.calls += 1;
    await this.during?.();
    return this.inner.complete(request);
  }
}

interface SpoolLine {
  record: {
    requestId: string;
    phase: string;
    outcome: string;
    reason: string;
    details?: Record<string, unknown>;
  };
}

function spooled(dir: string): SpoolLine[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.startsWith("spool-"))
    .flatMap((name) => readFileSync(join(dir, name), "utf8").split("\n"))
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as SpoolLine);
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined || Date.now() > end) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Awaits a call that must fail closed; returns how long the refusal took. */
async function expectUnavailable(call: Promise<unknown>): Promise<number> {
  const started = performance.now();
  await expectRefusal(call, "SERVICE_UNAVAILABLE", "unavailable");
  return performance.now() - started;
}

// An outage needs a database on the other side of a socket; embedded PGlite runs in-process.
const skipped = otherDatabase("postgres");
describe.skipIf(skipped)("the database fails during a call (Postgres behind a TCP proxy)", () => {
  let databaseUrl = "";
  let direct: DatabaseHandle;
  let proxy: TcpProxy;
  let proxied: DatabaseHandle | undefined;
  let services: RunningServices | undefined;
  let model: CountingModel;
  let auditDir = "";

  beforeAll(async () => {
    databaseUrl = await createScratchDatabase(baseUrl as string);
    // Assertions read around the proxy, so they see the database while the service cannot.
    direct = await createDatabase({ kind: "postgres", url: databaseUrl, maxConnections: 2 });
    await migrateDatabase(direct);
    proxy = await TcpProxy.start(databaseUrl);
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    await direct?.close();
    if (databaseUrl) await dropDatabase(baseUrl as string, databaseUrl);
  });

  beforeEach(async () => {
    await proxy.restore();
    await direct.db.execute(sql`truncate table audit_log, audit_checkpoints, documents, api_keys cascade`);
    auditDir = join(auditTempDir(), "audit");
    model = new CountingModel();
    proxied = await createDatabase({ kind: "postgres", url: proxy.through(databaseUrl), maxConnections: 4 });
    services = await openServices(
      testConfig({
        database: { kind: "postgres", url: proxy.through(databaseUrl) },
        audit: testAuditConfig({ dir: auditDir }),
      }),
      { logger: createLogger("silent"), localAdminToken: null, database: proxied, model },
    );
  });

  afterEach(async () => {
    await proxy.restore();
    await services?.close();
    await proxied?.close();
  });

  const rowsOf = async (requestId: string) =>
    (await auditRows(direct)).filter((r) => r.requestId === requestId);

  it("down before the call: refused within 3 s, no model call, spooled, replayed once after recovery", async () => {
    const s = services as RunningServices;
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    await proxy.cut();
    const requestId = "req_down_before";
    const caller = callerFor(s, key.plaintext, { requestId });
    const elapsed = await expectUnavailable(
      caller.summarizeDoc({ text: "The database is down. Nothing runs." }),
    );
    expect(elapsed).toBeLessThan(FAIL_CLOSED_WITHIN_MS);
    expect(model.calls).toBe(0);
    // On disk (fsync'd) as the refusal the caller got; nothing of the call in the database.
    expect(spooled(auditDir).map((l) => l.record)).toEqual([
      expect.objectContaining({ requestId, phase: "final", outcome: "error", reason: "unavailable" }),
    ]);
    expect(await rowsOf(requestId)).toEqual([]);

    await proxy.restore();
    // The next write that reaches the database brings the spool into the chain.
    const after = await callerFor(s, key.plaintext).summarizeDoc({ text: "Back again. It works." });
    expect(after.summary).toEqual(expect.any(String));
    const replayed = await until(async () => {
      const rows = await rowsOf(requestId);
      return rows.length > 0 ? rows : undefined;
    }, 10_000);
    expect(replayed).toEqual([
      expect.objectContaining({
        phase: "final",
        outcome: "error",
        reason: "unavailable",
        details: expect.objectContaining({ spooled: true }),
      }),
    ]);
    expect(await until(async () => (spooled(auditDir).length === 0 ? true : undefined), 5_000)).toBe(true);
    await s.audit.checkpoint();
    expect(await verifyNow(s)).toMatchObject({ ok: true, problems: [] });
  });

  it("the spooled refusal keeps no secret of the call's input (a key in `text`), nor does its replay", async () => {
    const s = services as RunningServices;
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const planted = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const secret = planted.plaintext.split("_")[3] ?? "";
    await proxy.cut();
    const requestId = "req_spool_secret";
    await expectUnavailable(
      callerFor(s, key.plaintext, { requestId }).summarizeDoc({
        text: `Deploy with x${planted.plaintext} today. The key is ${planted.plaintext}.`,
      }),
    );
    const onDisk = readdirSync(auditDir)
      .filter((name) => name.startsWith("spool-"))
      .map((name) => readFileSync(join(auditDir, name), "utf8"))
      .join("\n");
    expect(onDisk).toContain(requestId);
    expect(onDisk).toContain("[redacted:scopegate_key]");
    expect(onDisk).not.toContain(secret.slice(0, 32));
    await proxy.restore();
    expect(await s.audit.replaySpool()).toBe(1);
    const stored = JSON.stringify(await rowsOf(requestId));
    expect(stored).toContain("[redacted:scopegate_key]");
    expect(stored).not.toContain(secret.slice(0, 32));
  });

  it("hung (answers nothing) before the call: refused within 3 s, no model call, spooled", async () => {
    const s = services as RunningServices;
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    proxy.stall();
    const requestId = "req_hung_before";
    const caller = callerFor(s, key.plaintext, { requestId });
    const elapsed = await expectUnavailable(
      caller.summarizeDoc({ text: "The database hangs. Nothing runs." }),
    );
    expect(elapsed).toBeLessThan(FAIL_CLOSED_WITHIN_MS);
    expect(model.calls).toBe(0);
    expect(spooled(auditDir).map((l) => l.record)).toEqual([
      expect.objectContaining({ requestId, phase: "final", outcome: "error", reason: "unavailable" }),
    ]);
    await proxy.restore();
    expect(await s.audit.replaySpool()).toBe(1);
    expect((await rowsOf(requestId)).map((r) => [r.phase, r.reason])).toEqual([["final", "unavailable"]]);
  });

  it("hung while a replay is waiting on it: a refusal is still spooled and answered within 3 s", async () => {
    const s = services as RunningServices;
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    // Every pooled connection open, so the replay's query waits on one that never answers.
    await Promise.all(Array.from({ length: 4 }, () => s.database.db.execute(sql`select pg_sleep(0.05)`)));
    proxy.stall();
    const first = callerFor(s, key.plaintext, { requestId: "req_hung_first" });
    await expectUnavailable(first.summarizeDoc({ text: "The database hangs. First call." }));
    // The periodic replay tries the hung database with the first refusal still on disk...
    const replay = s.audit.replaySpool().catch(() => -1);
    // ...and a refusal meanwhile must not wait behind it to reach the disk.
    const second = callerFor(s, key.plaintext, { requestId: "req_hung_second" });
    const elapsed = await expectUnavailable(second.summarizeDoc({ text: "Still hanging. Second call." }));
    expect(elapsed).toBeLessThan(FAIL_CLOSED_WITHIN_MS);
    expect(
      spooled(auditDir)
        .map((l) => l.record.requestId)
        .sort(),
    ).toEqual(["req_hung_first", "req_hung_second"]);
    await proxy.restore();
    await replay;
    await s.audit.replaySpool();
    expect(spooled(auditDir)).toEqual([]);
    for (const requestId of ["req_hung_first", "req_hung_second"]) {
      expect((await rowsOf(requestId)).map((r) => r.phase)).toEqual(["final"]);
    }
    expect(await verifyNow(s)).toMatchObject({ ok: true, problems: [] });
  });

  it("down after admission: the caller gets 503, the admitted record stands, the final is spooled and replayed once", async () => {
    const s = services as RunningServices;
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    // Inside the model call: the admitted record and the limit charge committed before it.
    model.during = () => proxy.cut();
    const requestId = "req_down_after";
    const caller = callerFor(s, key.plaintext, { requestId });
    const elapsed = await expectUnavailable(
      caller.summarizeDoc({ text: "Admitted, then the database went away." }),
    );
    expect(elapsed).toBeLessThan(FAIL_CLOSED_WITHIN_MS);
    expect(model.calls).toBe(1);
    model.during = null;

    // Nothing half-written: the admitted record and its charge, no final in the database...
    const during = await rowsOf(requestId);
    expect(during.map((r) => r.phase)).toEqual(["admitted"]);
    const callId = during[0]?.callId;
    // ...and the final waits on disk, as the refusal the caller got, with what the call would
    // have returned noted beside it.
    expect(spooled(auditDir).map((l) => l.record)).toEqual([
      expect.objectContaining({
        requestId,
        callId,
        phase: "final",
        outcome: "error",
        reason: "unavailable",
        details: expect.objectContaining({ unwrittenOutcome: "ok" }),
      }),
    ]);
    // The settlement was part of the final's transaction, so the token reservation stays
    // charged (the key is over-counted by reservation - use until the day ends: fails safe).
    const limits = async () => {
      const [row] = await direct.db.select().from(keyLimits).where(eq(keyLimits.id, key.keyId));
      return { uses: row?.uses, tokensUsed: row?.tokensUsed };
    };
    const charged = await limits();
    expect(charged.uses).toBe(1);
    expect(charged.tokensUsed).toBeGreaterThan(0);

    await proxy.restore();
    expect(await s.audit.replaySpool()).toBe(1);
    const rows = await rowsOf(requestId);
    expect(rows.map((r) => r.phase)).toEqual(["admitted", "final"]);
    expect(rows[1]).toMatchObject({
      callId,
      outcome: "error",
      reason: "unavailable",
      details: expect.objectContaining({ spooled: true, unwrittenOutcome: "ok" }),
    });
    expect(spooled(auditDir)).toEqual([]);
    // Replay writes the record only; the reservation is not settled after the fact.
    expect(await limits()).toEqual(charged);
    await s.audit.checkpoint();
    expect(await verifyNow(s)).toMatchObject({ ok: true, problems: [] });
  });
});
