// Fails closed when the database cannot be reached: bounded waits, and connection-level
// errors become SERVICE_UNAVAILABLE `unavailable` instead of hangs or 500s.

import { errorCodes } from "../db/connection-errors.ts";
import type { Database, DatabaseGuard, DatabaseHandle, Deadline } from "../db/index.ts";
import { ScopegateError } from "./errors.ts";

/** A request waits at most this long for any database step; then it is refused, not queued. */
export const DATABASE_DEADLINE_MS = 2500;

const CONNECTION_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN", // a DNS lookup that failed for now: the same outage as ENOTFOUND
  "EHOSTUNREACH",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  // query_canceled: statement_timeout. In the transactions of the request path (the batcher's,
  // withDatabaseTransaction) it is what is left of the caller's deadline, so this is the same
  // refusal as the deadline itself; elsewhere it is the pool's 5 s bound (db/client.ts).
  "57014",
]);

export function isDatabaseUnavailable(error: unknown): boolean {
  // The deadline's own error is thrown as is (withDatabase races it), never wrapped.
  return (
    error instanceof DatabaseTimeout ||
    errorCodes(error).some((code) => CONNECTION_ERROR_CODES.has(code) || code.startsWith("08"))
  );
}

class DatabaseTimeout extends Error {}

export function unavailable(cause?: unknown): ScopegateError {
  return new ScopegateError(
    "SERVICE_UNAVAILABLE",
    "unavailable",
    "The service is temporarily unavailable.",
    {},
    cause,
  );
}

/**
 * Runs a database step under the request deadline; unreachable database -> 503. The step gets
 * the deadline: a signal that aborts when it passes, so work still waiting (for a pooled
 * connection) when its caller has been refused can give up instead of running late, and the
 * time left, which bounds each statement's `statement_timeout`.
 */
export async function withDatabase<T>(step: (deadline: Deadline) => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new AbortController();
  const ends = performance.now() + DATABASE_DEADLINE_MS;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired.abort();
      reject(new DatabaseTimeout("database deadline"));
    }, DATABASE_DEADLINE_MS);
  });
  try {
    return await Promise.race([
      step({ signal: expired.signal, remainingMs: () => ends - performance.now() }),
      deadline,
    ]);
  } catch (error) {
    if (error instanceof ScopegateError) throw error;
    if (isDatabaseUnavailable(error)) throw unavailable(error);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One-off work on the request path (a document written or removed, a key re-hashed) in one
 * transaction whose every statement is bounded by what is left of the deadline
 * (`statement_timeout`): a caller refused at the deadline never has its write commit later.
 */
export function withDatabaseTransaction<T>(
  database: DatabaseHandle,
  work: (tx: Database) => Promise<T>,
): Promise<T> {
  return withDatabase((deadline) => database.transactWork(({ tx }) => work(tx), deadline));
}

/** How the transaction batcher (db/batch.ts) bounds its transactions and names a database that cannot serve. */
export const databaseGuard: DatabaseGuard = {
  run: withDatabase,
  isUnavailable: (error) =>
    (error instanceof ScopegateError && error.reason === "unavailable") || isDatabaseUnavailable(error),
  unavailable,
};
