// Writes audit records: each commits with the step it accompanies (an admission charge and its
// `admitted` record, a settlement and its `final` record, a key lifecycle change and its
// `event` record) in one transaction of the group-commit batcher (db/batch.ts), chained into
// this process's hash chain (chain.ts). The chain is checkpointed (signed) every N records or
// interval, and records that cannot be written are spooled to disk and replayed.
import { type DatabaseHandle, type Step, TransactionBatcher } from "../../db/index.ts";
import type { VersionedSecret } from "../config.ts";
import { databaseGuard } from "../db-errors.ts";
import { lockLimits } from "../limits/metering.ts";
import type { Logger } from "../logger.ts";
import { AuditChain, type ChainedRecords, newWriterId } from "./chain.ts";
import type { CheckpointKind, CheckpointSink } from "./checkpoint.ts";
import type { AuditRecord } from "./record.ts";
import { redactRecord } from "./redacted-record.ts";
import type { AuditSpool } from "./spool.ts";

export interface AuditWriterOptions {
  now?: () => Date;
  writerId?: string;
  /** Signs the chain head every `checkpointEvery` records (and when asked); none = no checkpoints. */
  checkpoints?: CheckpointSink;
  checkpointEvery?: number;
  /** Where records go when the database cannot take them; none = fail closed without a copy. */
  spool?: AuditSpool;
  logger?: Logger;
}

export class AuditWriter {
  readonly writerId: string;
  private readonly chain: AuditChain;
  private readonly batcher: TransactionBatcher<ChainedRecords>;
  private readonly now: () => Date;
  private readonly checkpoints: CheckpointSink | undefined;
  private readonly checkpointEvery: number;
  private readonly spoolSink: AuditSpool | undefined;
  private readonly logger: Logger | undefined;
  private checkpointedSeq = 0;
  private checkpointing: Promise<void> = Promise.resolve();

  constructor(
    private readonly database: DatabaseHandle,
    auditKey: VersionedSecret,
    options: AuditWriterOptions = {},
  ) {
    this.writerId = options.writerId ?? newWriterId();
    this.now = options.now ?? (() => new Date());
    this.checkpoints = options.checkpoints;
    this.checkpointEvery = options.checkpointEvery ?? 1000;
    this.spoolSink = options.spool;
    this.logger = options.logger;
    this.chain = new AuditChain(database, auditKey, this.writerId, this.now, () => this.afterCommit());
    // Every step that changes limit rows goes through this one batcher, so they are locked in
    // one order (lockLimits) and batches never deadlock.
    this.batcher = new TransactionBatcher(database, this.chain, {
      guard: databaseGuard,
      lockRows: lockLimits,
    });
  }

  /** Where this writer signs checkpoints (prune signs its anchors there too). */
  get checkpointSink(): CheckpointSink | undefined {
    return this.checkpoints;
  }

  /** The chain's position as committed: (records written, head hash). */
  get position(): { seq: number; head: string } {
    return this.chain.position;
  }

  /** Appends records and waits until they are committed. */
  async append(...records: AuditRecord[]): Promise<void> {
    const redacted = records.map(redactRecord);
    await this.batcher.commit(() => redacted);
  }

  /**
   * Runs `step` and appends `records` in one transaction (db/batch.ts says how each kind of step
   * commits and fails). If the step declines, the records are not written and its `Declined`
   * value is returned.
   */
  appendWith<T>(records: AuditRecord[], step: Step<T>): Promise<T> {
    // Every row is made from a redacted record. A work step may still fill its records in (a
    // minted key's id), so they are redacted once it has run; the others now, so no row lock
    // is held while their text is scanned.
    if ("work" in step) return this.batcher.commitWith(() => records.map(redactRecord), step);
    const redacted = records.map(redactRecord);
    return this.batcher.commitWith(() => redacted, step);
  }

  /** Callers waiting for their records to commit (a metric). */
  get queueDepth(): number {
    return this.batcher.queueDepth;
  }

  /** Waits for everything queued so far, and for checkpoints in flight (shutdown, tests). */
  async drain(): Promise<void> {
    await this.batcher.drain();
    await this.checkpointing;
  }

  /**
   * Signs the current head if anything was written since the last checkpoint (or always, for
   * `final` at shutdown when the chain is not empty). Serialised, so checkpoints of one writer
   * appear in seq order in its file.
   */
  checkpoint(kind: CheckpointKind = "periodic"): Promise<void> {
    const sink = this.checkpoints;
    if (!sink) return Promise.resolve();
    const step = async () => {
      const { seq, head } = this.position;
      if (seq === 0 || (seq === this.checkpointedSeq && kind !== "final")) return;
      await sink.write(kind, this.writerId, seq, head, this.now());
      this.checkpointedSeq = seq;
    };
    const run = this.checkpointing.then(step);
    this.checkpointing = run.catch((error: unknown) =>
      this.logger?.error("audit checkpoint failed", { writerId: this.writerId, error }),
    );
    return run;
  }

  /**
   * Keeps a record that could not be written (the database is down) in the fsync'd spool, to be
   * replayed into the chain later. Resolves once it is on disk; rejects if there is no spool or
   * the disk refuses too, and then the caller has only the log line.
   */
  async spool(record: AuditRecord): Promise<void> {
    if (!this.spoolSink) throw new Error("no audit spool configured");
    await this.spoolSink.write(redactRecord(record), record.ts ?? this.now());
  }

  /** Appends; if the database cannot take the records, spools them instead (and still throws). */
  async appendOrSpool(records: AuditRecord[]): Promise<void> {
    try {
      await this.append(...records);
    } catch (error) {
      for (const record of records) await this.spool(record);
      throw error;
    }
  }

  /** Replays spooled records into the chain, if any; a database still down leaves them spooled. */
  async replaySpool(): Promise<number> {
    if (!this.spoolSink) return 0;
    return this.spoolSink.replay(this.database.db, (records) => this.append(...records));
  }

  get hasSpooled(): boolean {
    return this.spoolSink?.hasPending ?? false;
  }

  private afterCommit(): void {
    if (this.position.seq - this.checkpointedSeq >= this.checkpointEvery) {
      this.checkpoint("periodic").catch(() => {});
    }
    if (this.hasSpooled) {
      // The database answers again: bring the outage's records into the chain.
      this.replaySpool().catch((error: unknown) =>
        this.logger?.warn("audit spool replay deferred", { writerId: this.writerId, error }),
      );
    }
  }
}
