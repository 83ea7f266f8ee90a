// Reading the audit log: filters, newest first, cursor pagination by id.
import { and, desc, eq, gte, lt, lte, type SQL } from "drizzle-orm";
import { type AuditRow, auditLog, type Database } from "../../db/index.ts";

export interface AuditFilter {
  keyId?: string;
  owner?: string;
  outcome?: "ok" | "denied" | "rejected" | "error";
  procedure?: string;
  phase?: "admitted" | "final" | "event";
  since?: Date;
  until?: Date;
  limit: number;
  /** The id of the last record of the previous page. */
  cursor?: number;
}

export async function listAudit(db: Database, filter: AuditFilter) {
  const conditions: SQL[] = [];
  if (filter.keyId) conditions.push(eq(auditLog.keyId, filter.keyId));
  if (filter.owner) conditions.push(eq(auditLog.owner, filter.owner));
  if (filter.outcome) conditions.push(eq(auditLog.outcome, filter.outcome));
  if (filter.procedure) conditions.push(eq(auditLog.procedure, filter.procedure));
  if (filter.phase) conditions.push(eq(auditLog.phase, filter.phase));
  if (filter.since) conditions.push(gte(auditLog.ts, filter.since));
  if (filter.until) conditions.push(lte(auditLog.ts, filter.until));
  if (filter.cursor !== undefined) conditions.push(lt(auditLog.id, filter.cursor));
  const rows = await db
    .select()
    .from(auditLog)
    .where(and(...conditions))
    .orderBy(desc(auditLog.id))
    .limit(filter.limit + 1);
  const page = rows.slice(0, filter.limit);
  const last = page.at(-1);
  return { items: page.map(toApiRecord), nextCursor: rows.length > filter.limit && last ? last.id : null };
}

export function toApiRecord(row: AuditRow) {
  return {
    id: row.id,
    ts: row.ts.toISOString(),
    writerId: row.writerId,
    seq: row.seq,
    requestId: row.requestId,
    callId: row.callId,
    phase: row.phase,
    keyId: row.keyId,
    keyFingerprint: row.keyFingerprint,
    owner: row.owner,
    endUser: row.endUser,
    procedure: row.procedure,
    scopes: row.scopes,
    outcome: row.outcome,
    reason: row.reason,
    input: row.input,
    output: row.output,
    redactions: row.redactions,
    flags: row.flags,
    model: row.model,
    inputTokens: row.inputTokens,
    outputTokens: row.outputTokens,
    latencyMs: row.latencyMs,
    clientAddress: row.clientAddress,
    count: row.count,
    details: row.details,
  };
}
