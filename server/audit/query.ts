// Reading the audit log: filters, newest first, cursor pagination; export in id order; and one
// key's own records of one request (the demo page's pipeline trace).
import { and, asc, desc, eq, gt, gte, isNull, lte, type SQL, sql } from "drizzle-orm";
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

function filterConditions(filter: Omit<AuditFilter, "limit" | "cursor">): SQL[] {
  const conditions: SQL[] = [];
  if (filter.keyId) conditions.push(eq(auditLog.keyId, filter.keyId));
  if (filter.owner) conditions.push(eq(auditLog.owner, filter.owner));
  if (filter.outcome) conditions.push(eq(auditLog.outcome, filter.outcome));
  if (filter.procedure) conditions.push(eq(auditLog.procedure, filter.procedure));
  if (filter.phase) conditions.push(eq(auditLog.phase, filter.phase));
  if (filter.since) conditions.push(gte(auditLog.ts, filter.since));
  if (filter.until) conditions.push(lte(auditLog.ts, filter.until));
  return conditions;
}

/**
 * Newest first by (ts, id), the order of the (key_id|owner|-, ts, id) indexes, so a page is one
 * backward index range scan that stops after `limit` rows. The cursor stays a record id: its
 * ts is looked up by primary key and the page continues strictly before (ts, id).
 */
export async function listAudit(db: Database, filter: AuditFilter) {
  const conditions = filterConditions(filter);
  if (filter.cursor !== undefined) {
    const [at] = await db.select({ ts: auditLog.ts }).from(auditLog).where(eq(auditLog.id, filter.cursor));
    // A cursor whose record was pruned meanwhile continues from the id alone.
    conditions.push(
      at
        ? sql`(${auditLog.ts}, ${auditLog.id}) < (${at.ts.toISOString()}::timestamptz, ${filter.cursor})`
        : sql`${auditLog.id} < ${filter.cursor}`,
    );
  }
  const rows = await db
    .select()
    .from(auditLog)
    .where(and(...conditions))
    .orderBy(desc(auditLog.ts), desc(auditLog.id))
    .limit(filter.limit + 1);
  const page = rows.slice(0, filter.limit);
  const last = page.at(-1);
  return { items: page.map(toApiRecord), nextCursor: rows.length > filter.limit && last ? last.id : null };
}

export interface ExportFilter {
  since?: Date;
  until?: Date;
  /** Continue after this id (the last one of the previous page). */
  afterId?: number;
  limit: number;
  /** Leave out this key's own `audit.export` calls. */
  excludeExportsBy?: string;
}

/** Oldest first by id, for a SIEM or `audit tail`: every record once, with its chain fields. */
export async function exportAudit(db: Database, filter: ExportFilter) {
  const conditions = filterConditions(filter);
  if (filter.afterId !== undefined) conditions.push(gt(auditLog.id, filter.afterId));
  if (filter.excludeExportsBy !== undefined) {
    conditions.push(
      sql`not (${auditLog.procedure} is not distinct from 'audit.export' and ${auditLog.keyId} is not distinct from ${filter.excludeExportsBy})`,
    );
  }
  const rows = await db
    .select()
    .from(auditLog)
    .where(and(...conditions))
    .orderBy(asc(auditLog.id))
    .limit(filter.limit);
  return { items: rows.map(toApiRecord), lastId: rows.at(-1)?.id ?? filter.afterId ?? null };
}

/** How long after a call its trace can be read: the lookup is a range scan of the key's recent records. */
export const TRACE_WINDOW_MS = 15 * 60_000;
const MAX_TRACE_RECORDS = 200;

/**
 * The records a key's own calls in one request left (admitted, final, events), oldest first.
 * Only records of calls authenticated as that key: a refused attempt with a wrong secret under
 * its id carries a fingerprint and stays out. The (key_id, ts, id) index bounds the scan to the
 * key's records in the trace window, whatever the size of the log.
 */
export async function traceOfRequest(db: Database, keyId: string, requestId: string, now: Date) {
  const rows = await db
    .select()
    .from(auditLog)
    .where(
      and(
        eq(auditLog.keyId, keyId),
        gte(auditLog.ts, new Date(now.getTime() - TRACE_WINDOW_MS)),
        eq(auditLog.requestId, requestId),
        isNull(auditLog.keyFingerprint),
      ),
    )
    .orderBy(asc(auditLog.id))
    .limit(MAX_TRACE_RECORDS);
  // What the caller's own pipeline did; inputs, outputs, addresses and chain hashes stay with admin:audit.
  return rows.map((row) => ({
    id: row.id,
    ts: row.ts.toISOString(),
    callId: row.callId,
    phase: row.phase,
    procedure: row.procedure,
    scopes: row.scopes,
    outcome: row.outcome,
    reason: row.reason,
    flags: row.flags,
    model: row.model,
    inputTokens: row.inputTokens,
    outputTokens: row.outputTokens,
    latencyMs: row.latencyMs,
  }));
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
    prevHash: row.prevHash,
    hash: row.hash,
  };
}
