// The outage spool on its own: a spooled record is on disk at once, replays into the chain with
// its original time, is never replayed twice, and a dead writer's spool is picked up by another.
import { readdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { AuditRecord } from "../../server/audit/record.ts";
import { redactRecord } from "../../server/audit/redacted-record.ts";
import { AuditSpool } from "../../server/audit/spool.ts";
import { auditRows, useTestServices } from "../helpers/services.ts";
import { verifyNow, withAuditDir } from "./support.ts";

const services = useTestServices(() => withAuditDir());

function spoolFiles(dir: string | null): string[] {
  return dir ? readdirSync(dir).filter((n) => n.startsWith("spool-")) : [];
}

describe("audit spool", () => {
  it("keeps a record on disk, replays it once into the chain, and the chain verifies", async () => {
    const s = services();
    const dir = s.config.audit.dir;
    const at = new Date(Date.now() - 5000);
    await s.audit.spool({
      phase: "final",
      requestId: "req_spooled",
      callId: "call_spooled",
      procedure: "summarizeDoc",
      outcome: "error",
      reason: "unavailable",
      ts: at,
    });
    expect(spoolFiles(dir)).toHaveLength(1);
    expect(await auditRows(s.database)).toHaveLength(0);
    expect(await s.audit.replaySpool()).toBe(1);
    expect(await s.audit.replaySpool()).toBe(0);
    expect(spoolFiles(dir)).toHaveLength(0);
    const rows = await auditRows(s.database);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ requestId: "req_spooled", phase: "final", outcome: "error", ts: at });
    expect(rows[0]?.details).toMatchObject({ spooled: true });
    expect((await verifyNow(s)).ok).toBe(true);
  });

  it("replays a dead writer's spool, keeping one final per call", async () => {
    const s = services();
    const dir = s.config.audit.dir;
    if (!dir) throw new Error("no audit dir");
    await s.audit.append({ phase: "final", requestId: "req_a", callId: "call_a", outcome: "ok" });
    const dead = new AuditSpool(dir, "w_dead_writer");
    const now = new Date();
    // The same call's final committed after all (the database answered late): the spooled
    // refusal must not become a second final.
    await dead.write(
      redactRecord({
        phase: "final",
        requestId: "req_a",
        callId: "call_a",
        outcome: "error",
        reason: "unavailable",
      }),
      now,
    );
    await dead.write(
      redactRecord({
        phase: "final",
        requestId: "req_b",
        callId: "call_b",
        outcome: "error",
        reason: "unavailable",
      }),
      now,
    );
    const [file] = spoolFiles(dir);
    if (!file) throw new Error("no spool file");
    // Fresh files may belong to a live process on a shared dir; an old one is an orphan.
    expect(await s.audit.replaySpool()).toBe(0);
    const old = new Date(Date.now() - 120_000);
    utimesSync(join(dir, file), old, old);
    expect(await s.audit.replaySpool()).toBe(2);
    const rows = await auditRows(s.database);
    expect(rows.filter((r) => r.callId === "call_a" && r.phase === "final")).toHaveLength(1);
    expect(rows.filter((r) => r.callId === "call_a" && r.phase === "event")).toHaveLength(1);
    expect(rows.filter((r) => r.callId === "call_b" && r.phase === "final")).toHaveLength(1);
    expect(spoolFiles(dir)).toHaveLength(0);
    expect((await verifyNow(s)).ok).toBe(true);
  });

  it("takes refusals onto disk while a replay waits on the database, and keeps what a failed replay claimed", async () => {
    const s = services();
    const dir = s.config.audit.dir;
    if (!dir) throw new Error("no audit dir");
    const spool = new AuditSpool(dir, "w_replay_test");
    const refusal = (n: number): AuditRecord => ({
      phase: "final",
      requestId: `req_${n}`,
      callId: `call_${n}`,
      outcome: "error",
      reason: "unavailable",
    });
    const intoChain = (records: AuditRecord[]) => s.audit.append(...records);
    await spool.write(redactRecord(refusal(1)), new Date());

    // A replay whose database step fails leaves the records on disk for the next one.
    await expect(
      spool.replay(s.database.db, async () => {
        throw new Error("database still down");
      }),
    ).rejects.toThrow("database still down");
    expect(spool.hasPending).toBe(true);
    expect(spoolFiles(dir)).toHaveLength(1);

    // A replay stuck on the database does not hold a new refusal back from the disk: this write
    // completes while the replay is still waiting (before the fix it waited behind it for good).
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = () => {};
    const waiting = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const replaying = spool.replay(s.database.db, async (records) => {
      entered();
      await gate;
      await intoChain(records);
    });
    await waiting;
    await spool.write(redactRecord(refusal(2)), new Date());
    expect(spool.hasPending).toBe(true);
    release();
    expect(await replaying).toBe(1);
    expect(await spool.replay(s.database.db, intoChain)).toBe(1);
    expect(spoolFiles(dir)).toHaveLength(0);
    const rows = await auditRows(s.database);
    expect(rows.map((r) => [r.requestId, r.phase])).toEqual([
      ["req_1", "final"],
      ["req_2", "final"],
    ]);
    expect((await verifyNow(s)).ok).toBe(true);
  });
});
