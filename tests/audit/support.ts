// Shared pieces of the audit tests: services whose audit files live in a temp dir, running
// verify as the CLI and API do, and filling a log with real calls.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import type { DatabaseHandle } from "../../db/index.ts";
import { verifyAudit } from "../../server/audit/verify.ts";
import type { RunningServices } from "../../server/services.ts";
import { callerFor, createTestKey, type TestServiceOptions, testAuditConfig } from "../helpers/services.ts";

export function auditTempDir(): string {
  return mkdtempSync(join(tmpdir(), "scopegate-audit-"));
}

/** Test services with a checkpoint/spool dir of their own. */
export function withAuditDir(options: TestServiceOptions = {}): TestServiceOptions {
  const dir = auditTempDir();
  return { ...options, config: { ...options.config, dataDir: dir, audit: testAuditConfig({ dir }) } };
}

/** Verifies with what a verifier holds: the audit (HMAC) keys and the public keys only. */
export function verifyNow(services: RunningServices) {
  const audit = services.config.audit;
  return verifyAudit(services.database.db, {
    auditKeys: services.config.auditKey,
    publicKeys: audit.verifyKeys,
    dir: audit.dir,
  });
}

/** Makes `count` real calls of several outcomes (ok, denied, rejected) through the pipeline. */
export async function fillLog(services: RunningServices, count: number): Promise<void> {
  const key = await createTestKey(services, { scopes: ["endpoint:summarize-doc"] });
  const caller = callerFor(services, key.plaintext);
  for (let i = 0; i < count; i++) {
    const call =
      i % 3 === 2
        ? caller.chat({ messages: [{ role: "user", content: "hi" }] })
        : caller.summarizeDoc({ text: `Record number ${i}. It says something. Then more.` });
    await call.catch(() => {});
  }
  await services.audit.drain();
}

export async function rowIds(
  database: DatabaseHandle,
): Promise<Array<{ id: number; seq: number; writerId: string }>> {
  return database.rows(
    sql`select id::int as id, seq::int as seq, writer_id as "writerId" from audit_log order by writer_id, seq`,
  );
}
