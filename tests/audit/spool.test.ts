// The outage spool on its own: a spooled record is on disk at once, replays into the chain with
// its original time, is never replayed twice, and a dead writer's spool is picked up by another.
import { readdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
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
      { phase: "final", requestId: "req_a", callId: "call_a", outcome: "error", reason: "unavailable" },
      now,
    );
    await dead.write(
      { phase: "final", requestId: "req_b", callId: "call_b", outcome: "error", reason: "unavailable" },
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
});
