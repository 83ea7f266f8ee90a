// Tamper evidence: plain-SQL edits, deletions, forged inserts, swaps and a deleted tail are each
// named by verify at the right record; an untouched log and a pruned one verify.
import { getTableColumns, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { type AuditRow, auditLog } from "../../db/index.ts";
import { hashRecord } from "../../server/audit/chain.ts";
import { createLogger } from "../../server/logger.ts";
import { openServices } from "../../server/services.ts";
import { auditRows, callerFor, createTestKey, useTestServices } from "../helpers/services.ts";
import { expectRefusal, TestClock } from "../pipeline/support.ts";
import { fillLog, rowIds, verifyNow, withAuditDir } from "./support.ts";

const services = useTestServices(() => withAuditDir());

describe("the hash covers every column", () => {
  it("changes when any stored column but id changes", async () => {
    const s = services();
    await fillLog(s, 3);
    const [row] = await auditRows(s.database);
    if (!row) throw new Error("no audit row");
    const key = s.config.auditKey[0];
    if (!key) throw new Error("no audit key");
    const { id: _id, hash, ...content } = row;
    expect(hashRecord(key, content)).toBe(hash);
    const changed: Record<string, unknown> = {
      writerId: "w_other",
      seq: 999,
      ts: new Date(0),
      callId: "c_other",
      requestId: "r_other",
      phase: content.phase === "event" ? "final" : "event",
      keyId: "k_other",
      keyFingerprint: "f_other",
      owner: "o_other",
      endUser: "u_other",
      procedure: "p_other",
      scopes: ["x:y"],
      outcome: content.outcome === "error" ? "ok" : "error",
      reason: "other",
      input: "other input",
      output: "other output",
      redactions: ["other"],
      flags: ["other"],
      model: "other",
      inputTokens: 12345,
      outputTokens: 54321,
      latencyMs: 999999,
      clientAddress: "198.51.100.9",
      count: 77,
      details: { other: true },
      prevHash: "1:other",
    };
    const columns = Object.keys(getTableColumns(auditLog)).filter((c) => c !== "id" && c !== "hash");
    // A new column must be added to the canonical content (and to this table) to be covered.
    expect(Object.keys(changed).sort()).toEqual(columns.sort());
    for (const column of columns) {
      expect(hashRecord(key, { ...content, [column]: changed[column] }), column).not.toBe(hash);
    }
  });

  it("does not depend on the key order of details (jsonb reorders keys)", async () => {
    const s = services();
    await s.audit.append({
      phase: "event",
      requestId: "r1",
      details: { zeta: 1, alpha: { b: 2, a: 1 }, mid: [3] },
    });
    expect((await verifyNow(s)).ok).toBe(true);
  });

  it("stores text Postgres cannot hold (NUL, unpaired surrogates) as U+FFFD, hashed as stored", async () => {
    const s = services();
    const odd = "a\u0000b\ud800c\udfffd";
    // One caller's odd text must not fail the batch that carries another caller's record.
    await Promise.all([
      s.audit.append({ phase: "event", requestId: "r_odd", input: odd, details: { [odd]: [odd] } }),
      s.audit.append({ phase: "event", requestId: "r_plain", input: "plain" }),
    ]);
    const rows = await auditRows(s.database);
    const stored = rows.find((row) => row.requestId === "r_odd");
    expect(stored?.input).toBe("a\ufffdb\ufffdc\ufffdd");
    expect(stored?.details).toEqual({ "a\ufffdb\ufffdc\ufffdd": ["a\ufffdb\ufffdc\ufffdd"] });
    expect(rows.some((row) => row.requestId === "r_plain")).toBe(true);
    expect((await verifyNow(s)).ok).toBe(true);
  });
});

describe("verify", () => {
  it("passes an untouched log, with its checkpoints", async () => {
    const s = services();
    await fillLog(s, 12);
    await s.audit.checkpoint();
    const report = await verifyNow(s);
    expect(report).toMatchObject({ ok: true, problems: [], chains: 1, uncheckpointed: 0 });
    expect(report.records).toBe((await auditRows(s.database)).length);
    expect(report.checkpoints).toBeGreaterThan(0);
  });

  async function tamperedLog() {
    const s = services();
    await fillLog(s, 30);
    await s.audit.checkpoint();
    const rows = await rowIds(s.database);
    return {
      s,
      rows,
      at: (i: number) =>
        rows[i] ??
        (() => {
          throw new Error(`no row ${i}`);
        })(),
    };
  }

  it("names an UPDATEd record as edited", async () => {
    const { s, at } = await tamperedLog();
    const target = at(10);
    await s.database.db.execute(
      sql`update audit_log set outcome = 'ok', reason = null where id = ${target.id}`,
    );
    const report = await verifyNow(s);
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ kind: "edited", recordId: target.id });
  });

  it("names a DELETEd record, at the record after the gap", async () => {
    const { s, at } = await tamperedLog();
    await s.database.db.execute(sql`delete from audit_log where id = ${at(7).id}`);
    const report = await verifyNow(s);
    expect(report.problems[0]).toMatchObject({ kind: "deleted", recordId: at(8).id, seq: at(8).seq });
  });

  it("names a forged INSERTed record", async () => {
    const { s, rows } = await tamperedLog();
    const last = (await auditRows(s.database)).at(-1) as AuditRow;
    const forged = await s.database.rows<{ id: number }>(sql`
      insert into audit_log (writer_id, seq, ts, request_id, call_id, phase, key_id, procedure, outcome, prev_hash, hash)
      values (${last.writerId}, ${last.seq + 1}, now(), 'req_forged', 'call_forged', 'final', ${last.keyId}, 'summarizeDoc', 'ok',
              ${last.hash}, ${`1:${"ab".repeat(32)}`})
      returning id::int as id`);
    expect(rows.length).toBeGreaterThan(0);
    const report = await verifyNow(s);
    expect(report.problems[0]).toMatchObject({ kind: "inserted", recordId: forged[0]?.id });
  });

  it("names two swapped records as reordered", async () => {
    const { s, at } = await tamperedLog();
    const [a, b] = [at(4), at(9)];
    // Swap their positions in the chain (seq), through a free value as the pair is unique.
    await s.database.db.execute(sql`update audit_log set seq = -1 where id = ${a.id}`);
    await s.database.db.execute(sql`update audit_log set seq = ${a.seq} where id = ${b.id}`);
    await s.database.db.execute(sql`update audit_log set seq = ${b.seq} where id = ${a.id}`);
    const report = await verifyNow(s);
    expect(report.problems[0]).toMatchObject({ kind: "reordered", recordId: b.id, seq: a.seq });
  });

  it("names records swapped by id (the listing order) as reordered", async () => {
    const { s, at } = await tamperedLog();
    const [a, b] = [at(4), at(9)];
    await s.database.db.execute(sql`update audit_log set id = -1 where id = ${a.id}`);
    await s.database.db.execute(sql`update audit_log set id = ${a.id} where id = ${b.id}`);
    await s.database.db.execute(sql`update audit_log set id = ${b.id} where id = -1`);
    const report = await verifyNow(s);
    expect(report.problems[0]?.kind).toBe("reordered");
  });

  it("names the newest ten deleted as a truncated tail, at the last record left", async () => {
    const { s, rows, at } = await tamperedLog();
    const keep = rows.length - 10;
    await s.database.db.execute(
      sql`delete from audit_log where id in (select id from audit_log order by id desc limit 10)`,
    );
    const report = await verifyNow(s);
    expect(report.problems[0]).toMatchObject({ kind: "truncated", recordId: at(keep - 1).id });
  });

  it("sees the tail deleted together with the checkpoints in the database, from the file", async () => {
    const { s, rows, at } = await tamperedLog();
    await s.database.db.execute(
      sql`delete from audit_log where id in (select id from audit_log order by id desc limit 10)`,
    );
    await s.database.db.execute(sql`delete from audit_checkpoints`);
    const report = await verifyNow(s);
    expect(report.problems[0]).toMatchObject({ kind: "truncated", recordId: at(rows.length - 11).id });
  });

  it("flags a forged checkpoint row", async () => {
    const { s } = await tamperedLog();
    await s.database.db.execute(sql`
      insert into audit_checkpoints (writer_id, seq, kind, body, signature)
      select writer_id, seq + 100, kind, replace(body, '"seq":', '"seq":1'), signature from audit_checkpoints limit 1`);
    expect((await verifyNow(s)).problems[0]?.kind).toBe("bad_checkpoint");
  });
});

describe("prune", () => {
  it("is the local operator's alone, never below the minimum retention, and leaves a log that verifies", async () => {
    const s = services();
    const clock = new TestClock();
    // A second process on the same database (its own chain), run by the local operator.
    const operatorServices = await openServices(s.config, {
      logger: createLogger("silent"),
      localAdminToken: "sglocal_test_operator_token",
      database: s.database,
      clock,
    });
    try {
      await fillLog(operatorServices, 12);
      await fillLog(s, 6);
      clock.advance(200 * 86_400_000);
      await fillLog(operatorServices, 9);
      const operator = callerFor(operatorServices, "sglocal_test_operator_token");
      const admin = await createTestKey(s, { scopes: ["admin:audit"] });
      await expectRefusal(
        callerFor(s, admin.plaintext).audit.prune({ olderThanSeconds: 90 * 86_400 }),
        "FORBIDDEN",
        "operator_only",
      );
      await expectRefusal(
        operator.audit.prune({ olderThanSeconds: 5 * 86_400 }),
        "BAD_REQUEST",
        "invalid_input",
      );
      const before = await auditRows(s.database);
      const old = before.filter((r) => r.ts.getTime() < clock.now().getTime() - 90 * 86_400_000);
      expect(old.length).toBeGreaterThan(0);
      const result = await operator.audit.prune({ olderThanSeconds: 90 * 86_400 });
      expect(result.deleted).toBe(old.length);
      const after = await auditRows(s.database);
      expect(after.some((r) => old.some((o) => o.id === r.id))).toBe(false);
      await operatorServices.audit.drain();
      expect(await verifyNow(s)).toMatchObject({ ok: true, problems: [] });
      const events = after.filter((r) => r.phase === "event" && r.reason === "audit_pruned");
      expect(events).toHaveLength(1);
      expect(events[0]?.details).toMatchObject({ deleted: old.length });
    } finally {
      await operatorServices.close();
    }
    // And after the operator's writer signed its final checkpoint, still intact.
    expect((await verifyNow(s)).ok).toBe(true);
  });
});
