// Writes audit records with group commit: concurrent callers' records go into one transaction
// (one multi-row insert) while each caller waits for its own commit. Each process appends to
// its own hash chain (writer id + seq), so processes never wait on each other's lock; the chain
// is checkpointed (signed) every N records or interval, and records that cannot be written are
// spooled to disk and replayed.
//
// Two kinds of batch. Records with atomic steps (one statement each: admission charges,
// settlements) go out pipelined — BEGIN, the steps, the insert and COMMIT in one or two round
// trips, no query building. Records with `work` (a closure on a Drizzle transaction, each in its
// own savepoint: key lifecycle events) take the general path. Plain records join either.
import { createHmac, randomBytes } from "node:crypto";
import {
  type Database,
  type DatabaseHandle,
  type NewAuditRow,
  type Rows,
  type Statement,
  statementSql,
} from "../../db/index.ts";
import type { VersionedSecret } from "../config.ts";
import { unavailable, withDatabase } from "../db-errors.ts";
import { ScopegateError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { CheckpointKind, CheckpointSink } from "./checkpoint.ts";
import { insertAuditRows, storable } from "./insert.ts";
import { type AuditRecord, canonicalContent } from "./record.ts";
import { type RedactedRecord, redactRecord } from "./redacted-record.ts";
import type { AuditSpool } from "./spool.ts";

/** Work done in the same transaction as a record's insert, in its own savepoint. */
export type InTransaction<T> = (tx: Database) => Promise<T>;

/**
 * One all-or-nothing statement in the same transaction as a record's insert (so it needs no
 * savepoint to undo it), sent together with the batch's other steps.
 */
export interface AtomicStep<T> {
  statement: Statement;
  /** key_limits rows it changes; a batch locks them up front in id order, so batches cannot deadlock. */
  lockIds: readonly string[];
  /** The step's value from its rows; a `Declined` value keeps its records out. Absent: it cannot decline. */
  outcome?: (rows: Rows) => T;
}

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

interface Pending {
  /** Redacted when the batch is committed, not before: a step's `work` may still fill them in. */
  records: AuditRecord[];
  step?: AtomicStep<unknown>;
  work?: InTransaction<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

// $1 the ids of the key_limits rows a batch charges.
const LOCK_LIMITS = "select id from key_limits where id = any($1::text[]) order by id for update";
// $1 this writer's id.
const CHAIN_HEAD =
  "select seq::float8 as seq, hash from audit_log where writer_id = $1 order by seq desc limit 1";

/** The outcome of a transactional step that declined: its records are not written. */
export class Declined<T> {
  constructor(readonly value: T) {}
}

export const GENESIS_HASH = "0".repeat(64);

/** A fresh chain per process start: no two processes (or restarts) ever share a chain. */
export function newWriterId(): string {
  return `w_${randomBytes(9).toString("base64url")}`;
}
const MAX_BATCH = 500;
const MAX_WORK_PER_BATCH = 32;
const MAX_QUEUED = 20_000;

/** A step's own failure: its savepoint rolled back, the rest of the batch commits. */
class StepFailed {
  constructor(readonly error: unknown) {}
}

export class AuditWriter {
  readonly writerId: string;
  private seq = 0;
  private head = GENESIS_HASH;
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  /** After a failed commit the database may hold more of this chain than we know (the commit
   * went through but its answer was lost); the next batch reads the head back first. */
  private resync = false;
  private readonly now: () => Date;
  private readonly checkpoints: CheckpointSink | undefined;
  private readonly checkpointEvery: number;
  private readonly spoolSink: AuditSpool | undefined;
  private readonly logger: Logger | undefined;
  private checkpointedSeq = 0;
  private checkpointing: Promise<void> = Promise.resolve();

  constructor(
    private readonly database: DatabaseHandle,
    private readonly auditKey: VersionedSecret,
    options: AuditWriterOptions = {},
  ) {
    this.writerId = options.writerId ?? newWriterId();
    this.now = options.now ?? (() => new Date());
    this.checkpoints = options.checkpoints;
    this.checkpointEvery = options.checkpointEvery ?? 1000;
    this.spoolSink = options.spool;
    this.logger = options.logger;
  }

  /** Where this writer signs checkpoints (prune signs its anchors there too). */
  get checkpointSink(): CheckpointSink | undefined {
    return this.checkpoints;
  }

  /** The chain's position as committed: (records written, head hash). */
  get position(): { seq: number; head: string } {
    return { seq: this.seq, head: this.head };
  }

  /** Appends records and waits until they are committed. */
  async append(...records: AuditRecord[]): Promise<void> {
    await this.enqueue({ records });
  }

  /**
   * Runs `work` and appends `records` in one transaction. If `work` returns `Declined`, the
   * transaction step is rolled back, the records are not written, and the value is returned.
   */
  appendWith<T>(records: AuditRecord[], work: InTransaction<T>): Promise<T> {
    return this.enqueue({ records, work }) as Promise<T>;
  }

  /**
   * Runs `step` (one statement) and appends `records` in one transaction; a failing statement
   * fails the whole batch. If `step` declines, the records are not written and the value is
   * returned.
   */
  appendAtomic<T>(records: AuditRecord[], step: AtomicStep<T>): Promise<T> {
    return this.enqueue({ records, step }) as Promise<T>;
  }

  /** Callers waiting for their records to commit (a metric). */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** Waits for everything queued so far, and for checkpoints in flight (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
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

  private enqueue(item: Omit<Pending, "resolve" | "reject">): Promise<unknown> {
    // No unbounded queueing: past this many waiting callers, refuse rather than fall behind.
    if (this.queue.length >= MAX_QUEUED) return Promise.reject(unavailable());
    return new Promise((resolve, reject) => {
      this.queue.push({ ...item, resolve, reject });
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        await this.flushBatch(this.takeBatch());
      }
    } finally {
      this.flushing = null;
    }
  }

  /**
   * Up to MAX_BATCH items of one kind (plain records join either): pipelined atomic steps, or at
   * most MAX_WORK_PER_BATCH savepoint steps — each costs its own round trips inside the
   * transaction, so a batch full of them would hold every caller in it past the deadline.
   */
  private takeBatch(): Pending[] {
    let kind: "step" | "work" | null = null;
    let work = 0;
    let take = 0;
    while (take < this.queue.length && take < MAX_BATCH) {
      const item = this.queue[take];
      const itemKind = item?.work ? "work" : item?.step ? "step" : null;
      if (itemKind && kind && itemKind !== kind) break;
      kind = itemKind ?? kind;
      if (itemKind === "work") {
        if (work === MAX_WORK_PER_BATCH) break;
        work += 1;
      }
      take += 1;
    }
    return this.queue.splice(0, take);
  }

  private async flushBatch(batch: Pending[]): Promise<void> {
    let committed: Committed;
    try {
      // The deadline covers this transaction, not the time a caller waited in the queue: a busy
      // but healthy database delays callers, an unreachable one fails them within the deadline.
      committed = await withDatabase(async (deadline) => {
        if (this.resync) await this.readCommittedHead(deadline);
        return batch.some((item) => item.work)
          ? this.commitWithSavepoints(batch, deadline)
          : this.commitPipelined(batch, deadline);
      });
    } catch (error) {
      this.resync = true;
      for (const item of batch) item.reject(error);
      // Everyone still queued would wait for the same dead database: fail them closed now.
      if (error instanceof ScopegateError && error.reason === "unavailable") {
        for (const item of this.queue.splice(0)) item.reject(error);
      }
      return;
    }
    const written = committed.seq - this.seq;
    this.seq = committed.seq;
    this.head = committed.head;
    this.resync = false;
    for (const item of batch) {
      const result = committed.results.get(item);
      if (result instanceof StepFailed) item.reject(result.error);
      else item.resolve(result);
    }
    if (written > 0 && this.seq - this.checkpointedSeq >= this.checkpointEvery) {
      this.checkpoint("periodic").catch(() => {});
    }
    if (written > 0 && this.hasSpooled) {
      // The database answers again: bring the outage's records into the chain.
      this.replaySpool().catch((error: unknown) =>
        this.logger?.warn("audit spool replay deferred", { writerId: this.writerId, error }),
      );
    }
  }

  /**
   * Atomic steps, the lock on their limit rows and the insert in one transaction, sent together:
   * one round trip, or two when a step may decline (the chain skips declined records, so the
   * rows are hashed once the steps have answered).
   */
  private async commitPipelined(batch: Pending[], deadline: AbortSignal): Promise<Committed> {
    const steps = batch.flatMap((item) => (item.step ? [{ item, step: item.step }] : []));
    const lockIds = [...new Set(steps.flatMap(({ step }) => step.lockIds))].sort();
    // Locked first, in id order: batches cannot deadlock, and each step's statement then sees
    // its rows as they are (a declined charge is explained from what it read). PGlite has one
    // connection in one process, so its transactions never overlap and need no lock.
    const lock: Statement[] =
      lockIds.length > 0 && this.database.driver === "postgres"
        ? [{ text: LOCK_LIMITS, params: [lockIds] }]
        : [];
    const statements = [...lock, ...steps.map(({ step }) => step.statement)];
    const results = new Map<Pending, unknown>();
    // Redacted before the transaction: no row lock is held while the text is scanned.
    const redacted = redactBatch(batch);
    if (!steps.some(({ step }) => step.outcome)) {
      const chained = this.chainBatch(batch, results, redacted);
      await this.database.transact([...statements, ...insertIfAny(chained.rows)], undefined, deadline);
      return { ...chained, results };
    }
    let chained: ReturnType<AuditWriter["chainBatch"]> | undefined;
    await this.database.transact(
      statements,
      (answers) => {
        for (const [i, { item, step }] of steps.entries()) {
          results.set(item, step.outcome?.(answers[lock.length + i] ?? []));
        }
        chained = this.chainBatch(batch, results, redacted);
        return insertIfAny(chained.rows);
      },
      deadline,
    );
    if (!chained) throw new Error("pipelined batch committed without its rows");
    return { ...chained, results };
  }

  /** Savepoint steps one by one on a Drizzle transaction, then the insert (not past the deadline). */
  private async commitWithSavepoints(batch: Pending[], deadline: AbortSignal): Promise<Committed> {
    return this.database.db.transaction(async (tx) => {
      deadline.throwIfAborted();
      const results = new Map<Pending, unknown>();
      for (const item of batch) if (item.work) results.set(item, await runStep(tx, item.work));
      deadline.throwIfAborted();
      // After the steps' work, which may still fill the records in (a minted key's id).
      const chained = this.chainBatch(batch, results, redactBatch(batch));
      for (const insert of insertIfAny(chained.rows)) await tx.execute(statementSql(insert));
      return { ...chained, results };
    });
  }

  /** Chains the records of every item whose step did not decline or fail, from the known head. */
  private chainBatch(
    batch: Pending[],
    results: Map<Pending, unknown>,
    redacted: Map<Pending, RedactedRecord[]>,
  ) {
    let seq = this.seq;
    let head = this.head;
    const rows: NewAuditRow[] = [];
    for (const item of batch) {
      const result = results.get(item);
      if (result instanceof Declined || result instanceof StepFailed) continue;
      for (const record of redacted.get(item) ?? []) {
        seq += 1;
        const row = this.chain(record, seq, head);
        head = row.hash;
        rows.push(row);
      }
    }
    return { seq, head, rows };
  }

  /** After a failed commit: the database may hold more of this chain than we know. */
  private async readCommittedHead(deadline: AbortSignal): Promise<void> {
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

export function hashRecord(key: VersionedSecret, row: Omit<NewAuditRow, "id" | "hash">): string {
  const mac = createHmac("sha256", key.key).update(canonicalContent(row)).digest("hex");
  return `${key.version}:${mac}`;
}

interface Committed {
  seq: number;
  head: string;
  results: Map<Pending, unknown>;
}

/** Every row is made from a redacted record: this is the one way into the table. */
const redactBatch = (batch: Pending[]): Map<Pending, RedactedRecord[]> =>
  new Map(batch.map((item) => [item, item.records.map(redactRecord)]));

const insertIfAny = (rows: NewAuditRow[]): Statement[] => (rows.length > 0 ? [insertAuditRows(rows)] : []);

async function runStep(tx: Database, work: InTransaction<unknown>): Promise<unknown> {
  // A savepoint per step: a declined or failing step rolls back alone, the rest of the batch
  // commits (one caller's bug must not cost other callers their records). A lost connection
  // still fails the whole transaction, at its next statement.
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
    return new StepFailed(error);
  }
}
