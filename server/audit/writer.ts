// Writes audit records with group commit: concurrent callers' records go into one transaction
// (one multi-row insert) while each caller waits for its own commit. Each process appends to
// its own hash chain (writer id + seq), so processes never wait on each other's lock.
import { createHmac, randomBytes } from "node:crypto";
import { inArray } from "drizzle-orm";
import { apiKeys, auditLog, type Database, type NewAuditRow } from "../../db/index.ts";
import type { VersionedSecret } from "../config.ts";
import { redactSecrets } from "../guard/redact.ts";
import { type AuditRecord, canonicalContent } from "./record.ts";

/** Work done in the same transaction as a record's insert (e.g. charging a key's limits). */
export type InTransaction<T> = (tx: Database) => Promise<T>;

interface Pending {
  records: AuditRecord[];
  /** api_keys rows the work charges; locked up front in id order so batches cannot deadlock. */
  lockKeyIds: readonly string[];
  work: InTransaction<unknown> | undefined;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** The outcome of a transactional step that declined: its records are not written. */
export class Declined<T> {
  constructor(readonly value: T) {}
}

export const GENESIS_HASH = "0".repeat(64);
// Audit text columns are bounded so one request cannot bloat the log.
const MAX_TEXT = 4096;
const MAX_BATCH = 500;

export class AuditWriter {
  readonly writerId: string;
  private seq = 0;
  private head = GENESIS_HASH;
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly db: Database,
    private readonly auditKey: VersionedSecret,
    private readonly now: () => Date = () => new Date(),
    writerId?: string,
  ) {
    this.writerId = writerId ?? `w_${randomBytes(9).toString("base64url")}`;
  }

  /** Appends records and waits until they are committed. */
  async append(...records: AuditRecord[]): Promise<void> {
    await this.enqueue(records, [], undefined);
  }

  /**
   * Runs `work` and appends `records` in one transaction. If `work` returns `Declined`, the
   * transaction step is rolled back, the records are not written, and the value is returned.
   */
  appendWith<T>(records: AuditRecord[], lockKeyIds: readonly string[], work: InTransaction<T>): Promise<T> {
    return this.enqueue(records, lockKeyIds, work) as Promise<T>;
  }

  /** Waits for everything queued so far (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private enqueue(
    records: AuditRecord[],
    lockKeyIds: readonly string[],
    work: InTransaction<unknown> | undefined,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ records, lockKeyIds, work, resolve, reject });
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        await this.flushBatch(batch);
      }
    } finally {
      this.flushing = null;
    }
  }

  private async flushBatch(batch: Pending[]): Promise<void> {
    const results = new Map<Pending, unknown>();
    let seq = this.seq;
    let head = this.head;
    try {
      await this.db.transaction(async (tx) => {
        const rows: NewAuditRow[] = [];
        const lockIds = [...new Set(batch.flatMap((item) => item.lockKeyIds))].sort();
        if (lockIds.length > 0) {
          await tx
            .select({ id: apiKeys.id })
            .from(apiKeys)
            .where(inArray(apiKeys.id, lockIds))
            .orderBy(apiKeys.id)
            .for("update");
        }
        for (const item of batch) {
          if (item.work) {
            const result = await runStep(tx, item.work);
            results.set(item, result);
            if (result instanceof Declined) continue;
          }
          for (const record of item.records) {
            seq += 1;
            const row = this.chain(record, seq, head);
            head = row.hash;
            rows.push(row);
          }
        }
        if (rows.length > 0) await tx.insert(auditLog).values(rows);
      });
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    this.seq = seq;
    this.head = head;
    for (const item of batch) item.resolve(results.get(item));
  }

  private chain(record: AuditRecord, seq: number, prevHash: string): NewAuditRow {
    const input = boundedRedacted(record.input);
    const output = boundedRedacted(record.output);
    const redactions = [...new Set([...input.applied, ...output.applied])];
    const row: Omit<NewAuditRow, "hash"> = {
      writerId: this.writerId,
      seq,
      ts: this.now(),
      callId: record.callId ?? null,
      requestId: record.requestId,
      phase: record.phase,
      keyId: record.keyId ?? null,
      keyFingerprint: record.keyFingerprint ?? null,
      owner: record.owner ?? null,
      endUser: record.endUser ?? null,
      procedure: record.procedure ?? null,
      scopes: record.scopes ?? null,
      outcome: record.outcome ?? null,
      reason: record.reason ?? null,
      input: input.text,
      output: output.text,
      redactions: redactions.length > 0 ? redactions : null,
      flags: record.flags && record.flags.length > 0 ? record.flags : null,
      model: record.model ?? null,
      inputTokens: record.inputTokens ?? null,
      outputTokens: record.outputTokens ?? null,
      latencyMs: record.latencyMs ?? null,
      clientAddress: record.clientAddress ?? null,
      count: record.count ?? 1,
      details: record.details ?? null,
      prevHash,
    };
    return { ...row, hash: hashRecord(this.auditKey, row) };
  }
}

export function hashRecord(key: VersionedSecret, row: Omit<NewAuditRow, "id" | "hash">): string {
  const mac = createHmac("sha256", key.key).update(canonicalContent(row)).digest("hex");
  return `${key.version}:${mac}`;
}

async function runStep(tx: Database, work: InTransaction<unknown>): Promise<unknown> {
  // A savepoint per step: a declined step rolls back alone, the rest of the batch commits.
  let declined: Declined<unknown> | null = null;
  try {
    return await tx.transaction(async (savepoint) => {
      const result = await work(savepoint);
      if (result instanceof Declined) {
        declined = result;
        throw result;
      }
      return result;
    });
  } catch (error) {
    if (declined && error === declined) return declined;
    throw error;
  }
}

function boundedRedacted(text: string | null | undefined): { text: string | null; applied: string[] } {
  if (text === null || text === undefined) return { text: null, applied: [] };
  // Redact before the final cut, so the cut cannot leave half a secret unrecognised; the first
  // cut only bounds the redaction work and lies far past the final one.
  const redacted = redactSecrets(text.slice(0, 2 * MAX_TEXT));
  const bounded =
    redacted.text.length > MAX_TEXT ? `${redacted.text.slice(0, MAX_TEXT)}…[truncated]` : redacted.text;
  return { text: bounded, applied: redacted.applied };
}
