// The shape of one audit record as the pipeline builds it, and its canonical form for hashing.
import type { NewAuditRow } from "../../db/index.ts";

export type AuditPhase = "admitted" | "final" | "event";
export type AuditOutcome = "ok" | "denied" | "rejected" | "error";

export interface AuditRecord {
  phase: AuditPhase;
  requestId: string;
  callId?: string | null;
  keyId?: string | null;
  keyFingerprint?: string | null;
  owner?: string | null;
  endUser?: string | null;
  procedure?: string | null;
  scopes?: string[] | null;
  outcome?: AuditOutcome | null;
  reason?: string | null;
  input?: string | null;
  output?: string | null;
  flags?: string[] | null;
  model?: string | null;
  inputTokens?: number | null;
  outputTokens?: number | null;
  latencyMs?: number | null;
  clientAddress?: string | null;
  count?: number;
  details?: Record<string, unknown> | null;
  /** Redaction rules that masked something; set only by `redactRecord` (kept through the spool). */
  redactions?: string[] | null;
  /** When it happened, if not now: a spooled record replayed after an outage keeps its time. */
  ts?: Date;
}

/**
 * The exact bytes the hash covers: every column but id (assigned by the database; verify checks
 * that ids follow seq instead) and hash, in a fixed order, so any edit of a stored value changes
 * the hash. Verification rebuilds this from a stored row; `details` is jsonb, which does not
 * keep key order, so it is serialised with sorted keys.
 */
export function canonicalContent(row: Omit<NewAuditRow, "id" | "hash">): string {
  return JSON.stringify([
    row.writerId,
    row.seq,
    row.ts instanceof Date ? row.ts.toISOString() : row.ts,
    row.callId ?? null,
    row.requestId,
    row.phase,
    row.keyId ?? null,
    row.keyFingerprint ?? null,
    row.owner ?? null,
    row.endUser ?? null,
    row.procedure ?? null,
    row.scopes ?? null,
    row.outcome ?? null,
    row.reason ?? null,
    row.input ?? null,
    row.output ?? null,
    row.redactions ?? null,
    row.flags ?? null,
    row.model ?? null,
    row.inputTokens ?? null,
    row.outputTokens ?? null,
    row.latencyMs ?? null,
    row.clientAddress ?? null,
    row.count ?? 1,
    sortedKeys(row.details ?? null),
    row.prevHash,
  ]);
}

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, sortedKeys(v)]));
}
