// Group commit: concurrent callers' steps go into one transaction while each waits for its own
// commit, and what accompanies them (a Companion: the audit chain's rows) commits in the same
// transaction, for the steps that went through. It knows nothing of what the companion writes.
//
// Two kinds of step. Fixed steps (one statement each: admission charges, settlements) go out
// pipelined — BEGIN, the steps, the companion's statements and COMMIT in one round trip, or two
// when a step may decline — with no query building. Work steps (a closure on a Drizzle
// transaction, each in its own savepoint: key lifecycle changes) take the general path. Both
// fail the same way: a step the database refuses fails only its own caller, with `StepFailed`
// (a savepoint rolls it back, or the pipelined batch is retried one caller at a time), and a
// database that cannot serve within the deadline (lost connection, timeout) fails the whole
// batch and everyone queued behind it with the guard's `unavailable`.
import type { DatabaseHandle } from "./client.ts";
import { errorCodes, innermostMessage } from "./connection-errors.ts";
import type { Database, WorkTransaction } from "./drizzle-transaction.ts";
import type { Deadline, Rows, Statement } from "./transact.ts";

/** The outcome of a step that declined: nothing of it is written, nor its companion rows. */
export class Declined<T> {
  constructor(readonly value: T) {}
}

/**
 * One all-or-nothing statement (so it needs no savepoint to undo it), sent together with the
 * batch's other steps.
 */
export interface FixedStep<T> {
  statement: Statement;
  /** Rows it changes; a batch locks them up front in id order, so batches cannot deadlock. */
  lockIds: readonly string[];
  /** The step's value from its rows; a `Declined` value keeps its companion rows out. Absent: it cannot decline. */
  outcome?: (rows: Rows) => T;
}

/** Work on a Drizzle transaction, in its own savepoint; returning `Declined` rolls it back. */
export interface WorkStep<T> {
  work: (tx: Database) => Promise<T>;
}

export type Step<T> = FixedStep<T> | WorkStep<T>;

/** What commits with the steps: each caller hands it a payload along with its step. */
export interface Companion<P> {
  /** First in every batch's deadline (e.g. reading back what a lost commit may have written). */
  beforeBatch(deadline: Deadline): Promise<void>;
  /**
   * Inside the transaction, once the steps have answered: the statements for the payloads whose
   * steps neither declined nor failed (in queue order), and what to do once they are durable.
   */
  join(payloads: P[]): { statements: Statement[]; committed(): void };
  /** A batch did not commit, or its answer was lost: the database may hold more than was said. */
  failed(): void;
}

/** The caller's deadline and what counts as a database that cannot serve (server/db-errors.ts). */
export interface DatabaseGuard {
  /** Runs under the deadline; a database that cannot serve comes out as `unavailable`. */
  run<T>(step: (deadline: Deadline) => Promise<T>): Promise<T>;
  isUnavailable(error: unknown): boolean;
  unavailable(cause?: unknown): Error;
}

/** A step the database refused (a constraint, a type error): it rolled back, nothing else did. */
export class StepFailed extends Error {
  /** The SQLSTATE, e.g. 23505 for a unique violation. */
  readonly code: string | undefined;
  constructor(cause: unknown) {
    super(innermostMessage(cause), { cause });
    this.name = "StepFailed";
    this.code = sqlState(cause);
  }
}

/** The database's own error code, found on the error or its causes (Drizzle wraps it). */
const sqlState = (error: unknown) => errorCodes(error).find((code) => /^[0-9A-Z]{5}$/.test(code));

export interface BatcherOptions {
  guard: DatabaseGuard;
  /** Locks rows of fixed steps (by their `lockIds`) before they run; Postgres only. */
  lockRows?: (ids: readonly string[]) => Statement;
  /** Past this many waiting callers, refuse rather than fall behind. */
  maxQueued?: number;
}

interface Pending<P> {
  payload: P;
  step?: Step<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH = 500;
// Each savepoint step costs its own round trips inside the transaction: a batch full of them
// would hold every caller in it past the deadline.
const MAX_WORK_PER_BATCH = 32;

/** What a committed batch's callers get, and the companion's news that its statements are durable. */
interface Committed<P> {
  results: Map<Pending<P>, unknown>;
  committed(): void;
}

/** A step's own failure: rolled back alone (its savepoint), the rest of the batch commits. */
class Failed {
  constructor(readonly error: unknown) {}
}

export class TransactionBatcher<P> {
  private queue: Pending<P>[] = [];
  private flushing: Promise<void> | null = null;
  private readonly maxQueued: number;

  constructor(
    private readonly database: DatabaseHandle,
    private readonly companion: Companion<P>,
    private readonly options: BatcherOptions,
  ) {
    this.maxQueued = options.maxQueued ?? 20_000;
  }

  /** Commits the payload's statements alone (no step), and waits until they are durable. */
  async commit(payload: P): Promise<void> {
    await this.enqueue(payload);
  }

  /**
   * Runs `step` and commits the payload's statements with it in one transaction. If the step
   * declines, neither is written and the `Declined` value is returned.
   */
  commitWith<T>(payload: P, step: Step<T>): Promise<T> {
    return this.enqueue(payload, step) as Promise<T>;
  }

  /** Callers waiting for their commit (a metric). */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** Waits for everything queued so far. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private enqueue(payload: P, step?: Step<unknown>): Promise<unknown> {
    if (this.queue.length >= this.maxQueued) return Promise.reject(this.options.guard.unavailable());
    return new Promise((resolve, reject) => {
      this.queue.push({ payload, step, resolve, reject });
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.flush(this.takeBatch());
    } finally {
      this.flushing = null;
    }
  }

  /** Up to MAX_BATCH items of one kind (plain payloads join either), at most MAX_WORK_PER_BATCH work steps. */
  private takeBatch(): Pending<P>[] {
    let kind: "fixed" | "work" | null = null;
    let work = 0;
    let take = 0;
    while (take < this.queue.length && take < MAX_BATCH) {
      const step = this.queue[take]?.step;
      const itemKind = step ? ("work" in step ? "work" : "fixed") : null;
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

  /** Commits a batch and answers its callers; false when the database could not serve. */
  private async flush(batch: Pending<P>[]): Promise<boolean> {
    const { guard } = this.options;
    let outcome: Committed<P>;
    try {
      // The deadline covers this transaction, not the time a caller waited in the queue: a busy
      // but healthy database delays callers, an unreachable one fails them within the deadline.
      outcome = await guard.run(async (deadline) => {
        await this.companion.beforeBatch(deadline);
        return batch.some((item) => item.step && "work" in item.step)
          ? this.commitWithSavepoints(batch, deadline)
          : this.commitPipelined(batch, deadline);
      });
    } catch (error) {
      this.companion.failed();
      if (guard.isUnavailable(error)) {
        // Everyone still queued would wait for the same dead database: fail them closed now.
        for (const item of [...batch, ...this.queue.splice(0)]) item.reject(error);
        return false;
      }
      if (batch.length === 1) {
        batch[0]?.reject(refusal(error));
        return true;
      }
      // One statement of a pipelined batch failed, and with it the whole transaction; one
      // caller's refused step must not cost the others their commit, so each goes again alone.
      for (const [i, item] of batch.entries()) {
        if (!(await this.flush([item]))) {
          for (const rest of batch.slice(i + 1)) rest.reject(guard.unavailable());
          return false;
        }
      }
      return true;
    }
    // Only now: a commit that answers after its deadline was reported as failed, and the
    // companion reads back what it wrote (`failed`) instead of trusting a late answer.
    outcome.committed();
    for (const item of batch) {
      const result = outcome.results.get(item);
      if (result instanceof Failed) item.reject(refusal(result.error));
      else item.resolve(result);
    }
    return true;
  }

  /**
   * Fixed steps, the lock on their rows and the companion's statements in one transaction, sent
   * together: one round trip, or two when a step may decline (the companion joins once the
   * steps have answered).
   */
  private async commitPipelined(batch: Pending<P>[], deadline: Deadline): Promise<Committed<P>> {
    const steps = batch.flatMap((item) =>
      item.step && "statement" in item.step ? [{ item, step: item.step }] : [],
    );
    const lockIds = [...new Set(steps.flatMap(({ step }) => step.lockIds))].sort();
    // Locked first, in id order: batches cannot deadlock, and each step's statement then sees
    // its rows as they are. PGlite has one connection in one process, so its transactions never
    // overlap and need no lock.
    const { lockRows } = this.options;
    const lock =
      lockRows && lockIds.length > 0 && this.database.driver === "postgres" ? [lockRows(lockIds)] : [];
    const results = new Map<Pending<P>, unknown>();
    let joined: ReturnType<Companion<P>["join"]> | undefined;
    const join = (rows: Rows[] | null) => {
      for (const [i, { item, step }] of steps.entries()) {
        results.set(item, rows && step.outcome?.(rows[lock.length + i] ?? []));
      }
      joined = this.companion.join(accepted(batch, results));
      return joined.statements;
    };
    const statements = [...lock, ...steps.map(({ step }) => step.statement)];
    if (steps.some(({ step }) => step.outcome)) {
      await this.database.transact(statements, join, deadline);
    } else {
      await this.database.transact([...statements, ...join(null)], undefined, deadline);
    }
    if (!joined) throw new Error("pipelined batch committed without its companion");
    return { results, committed: joined.committed };
  }

  /** Work steps one by one on a Drizzle transaction, each in a savepoint, then the companion. */
  private async commitWithSavepoints(batch: Pending<P>[], deadline: Deadline): Promise<Committed<P>> {
    const results = new Map<Pending<P>, unknown>();
    const joined = await this.database.transactWork(async (transaction) => {
      for (const item of batch) {
        if (item.step && "work" in item.step) {
          results.set(item, await this.runStep(transaction, item.step.work));
        }
      }
      deadline.signal.throwIfAborted();
      // After the steps' work, which may still fill the payloads in (a minted key's id).
      const companion = this.companion.join(accepted(batch, results));
      for (const statement of companion.statements) await transaction.run(statement);
      return companion;
    }, deadline);
    return { results, committed: joined.committed };
  }

  private async runStep(transaction: WorkTransaction, work: WorkStep<unknown>["work"]): Promise<unknown> {
    // A savepoint per step: a declined or refused step rolls back alone, the rest of the batch
    // commits. A database that cannot serve (lost connection, statement timeout) fails the
    // whole transaction, as it does a pipelined one.
    let declined: Declined<unknown> | null = null;
    try {
      return await transaction.savepoint(async (tx) => {
        const result = await work(tx);
        if (result instanceof Declined) {
          declined = result;
          throw result;
        }
        return result;
      });
    } catch (error) {
      if (declined && error === declined) return declined;
      if (this.options.guard.isUnavailable(error)) throw error;
      return new Failed(error);
    }
  }
}

/** The payloads of the items whose step neither declined nor failed. */
function accepted<P>(batch: Pending<P>[], results: Map<Pending<P>, unknown>): P[] {
  return batch.flatMap((item) => {
    const result = results.get(item);
    return result instanceof Declined || result instanceof Failed ? [] : [item.payload];
  });
}

/** What a caller whose step was refused gets: `StepFailed` for the database's refusal, else the error itself. */
function refusal(error: unknown): unknown {
  return sqlState(error) !== undefined && !(error instanceof StepFailed) ? new StepFailed(error) : error;
}
