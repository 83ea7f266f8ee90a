// This process's hash chain: each record is HMAC'd with the one before it (writer id + seq), so
// processes never wait on each other's lock. It joins the transaction of the step a record
// accompanies (db/batch.ts), and only a commit moves the chain on; after a failed commit, whose
// answer may have been lost, the next batch reads the committed head back first.
import { createHmac, randomBytes } from "node:crypto";
import type { Companion, DatabaseHandle, Deadline, NewAuditRow, Statement } from "../../db/index.ts";
import type { VersionedSecret } from "../config.ts";
import { insertAuditRows, storable } from "./insert.ts";
import { canonicalContent } from "./record.ts";
import type { RedactedRecord } from "./redacted-record.ts";

export const GENESIS_HASH = "0".repeat(64);

/** A fresh chain per process start: no two processes (or restarts) ever share a chain. */
export function newWriterId(): string {
  return `w_${randomBytes(9).toString("base64url")}`;
}

export function hashRecord(key: VersionedSecret, row: Omit<NewAuditRow, "id" | "hash">): string {
  const mac = createHmac("sha256", key.key).update(canonicalContent(row)).digest("hex");
  return `${key.version}:${mac}`;
}

/** A caller's records, redacted: when its step has run, since a step may still fill them in. */
export type ChainedRecords = () => RedactedRecord[];

// $1 this writer's id.
const CHAIN_HEAD =
  "select seq::float8 as seq, hash from audit_log where writer_id = $1 order by seq desc limit 1";

export class AuditChain implements Companion<ChainedRecords> {
  private seq = 0;
  private head = GENESIS_HASH;
  private resync = false;

  constructor(
    private readonly database: DatabaseHandle,
    private readonly auditKey: VersionedSecret,
    readonly writerId: string,
    private readonly now: () => Date,
    /** After each commit that wrote `written` records. */
    private readonly onCommitted: (written: number) => void,
  ) {}

  /** The chain's position as committed: (records written, head hash). */
  get position(): { seq: number; head: string } {
    return { seq: this.seq, head: this.head };
  }

  async beforeBatch(deadline: Deadline): Promise<void> {
    if (!this.resync) return;
    const [answer] = await this.database.transact(
      [{ text: CHAIN_HEAD, params: [this.writerId] }],
      undefined,
      deadline,
    );
    const last = answer?.[0];
    if (last && Number(last.seq) > this.seq) {
      this.seq = Number(last.seq);
      this.head = String(last.hash);
    }
    this.resync = false;
  }

  /** Chains the records from the committed head; the chain moves on only once they commit. */
  join(payloads: ChainedRecords[]): { statements: Statement[]; committed(): void } {
    let seq = this.seq;
    let head = this.head;
    const rows: NewAuditRow[] = [];
    for (const records of payloads) {
      for (const record of records()) {
        seq += 1;
        const row = this.chain(record, seq, head);
        head = row.hash;
        rows.push(row);
      }
    }
    return {
      statements: rows.length > 0 ? [insertAuditRows(rows)] : [],
      committed: () => {
        const written = seq - this.seq;
        this.seq = seq;
        this.head = head;
        if (written > 0) this.onCommitted(written);
      },
    };
  }

  failed(): void {
    this.resync = true;
  }

  private chain(record: RedactedRecord, seq: number, prevHash: string): NewAuditRow {
    // Only what Postgres can store is hashed, so the stored row verifies as written.
    const row: Omit<NewAuditRow, "hash"> = storable({
      writerId: this.writerId,
      seq,
      ts: record.ts ?? this.now(),
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
      input: record.input ?? null,
      output: record.output ?? null,
      redactions: record.redactions ?? null,
      flags: record.flags && record.flags.length > 0 ? record.flags : null,
      model: record.model ?? null,
      inputTokens: record.inputTokens ?? null,
      outputTokens: record.outputTokens ?? null,
      latencyMs: record.latencyMs ?? null,
      clientAddress: record.clientAddress ?? null,
      count: record.count ?? 1,
      details: record.details ?? null,
      prevHash,
    });
    return { ...row, hash: hashRecord(this.auditKey, row) };
  }
}
