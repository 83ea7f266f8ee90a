// Shared pieces of the procedure-level pipeline tests: catching tRPC refusals, a controllable
// clock, a model double that counts calls, and audit-row lookups.
import { getTRPCErrorShape, TRPCError } from "@trpc/server";
import { eq, type Logger as QueryLogger, type SQL } from "drizzle-orm";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { expect } from "vitest";
import { apiKeys, type Database, type DatabaseHandle, keyLimits } from "../../db/index.ts";
import * as schema from "../../db/schema/index.ts";
import { isKnownScope } from "../../server/auth/scopes.ts";
import type { Clock } from "../../server/context.ts";
import { reasonOf } from "../../server/errors.ts";
import { OfflineProvider } from "../../server/model/offline.ts";
import type { Completion, CompletionRequest, ModelProvider } from "../../server/model/provider.ts";
import { appRouter } from "../../server/routers/app.ts";
import type { RunningServices } from "../../server/services.ts";
import { auditRows, type callerFor, createTestKey, type KeyOptions } from "../helpers/services.ts";

export type Caller = ReturnType<typeof callerFor>;

/**
 * A key holding exactly `scopes`. Scopes outside the catalog (`DB:x`) cannot be granted, so they
 * are written to the row directly: matching must still refuse them.
 */
export async function keyHolding(
  services: RunningServices,
  scopes: string[],
  options: Partial<KeyOptions> = {},
) {
  const key = await createTestKey(services, { ...options, scopes: scopes.filter(isKnownScope) });
  if (!scopes.every(isKnownScope)) {
    await services.database.db.update(apiKeys).set({ scopes }).where(eq(apiKeys.id, key.keyId));
  }
  return key;
}

export type Refusal = TRPCError & {
  reason?: string;
  details: { missingScopes?: string[]; fieldErrors?: Record<string, string[]> };
};

/** The error a call was refused with, or null when it succeeded. */
export async function outcomeOf(promise: Promise<unknown>): Promise<Refusal | null> {
  return promise.then(
    () => null,
    (error: unknown) => {
      if (!(error instanceof TRPCError)) throw error;
      return error as Refusal;
    },
  );
}

/** Asserts the call was refused with this code and reason, and returns the error. */
export async function expectRefusal(
  promise: Promise<unknown>,
  code: string,
  reason: string,
): Promise<Refusal> {
  const error = await outcomeOf(promise);
  expect(error, `expected ${code} ${reason}`).not.toBeNull();
  // reasonOf: what the errorFormatter puts in data.reason, also for tRPC's own input errors.
  expect({ code: error?.code, reason: error && reasonOf(error) }).toEqual({ code, reason });
  return error as Refusal;
}

/** Uses charged so far to the metering row of `keyId`. */
export async function usesOf(services: RunningServices, keyId: string): Promise<number | undefined> {
  const [row] = await services.database.db
    .select({ uses: keyLimits.uses })
    .from(apiKeys)
    .innerJoin(keyLimits, eq(keyLimits.id, apiKeys.limitId))
    .where(eq(apiKeys.id, keyId));
  return row?.uses;
}

/** What a client would receive as `error.data`: the router's own errorFormatter applied. */
export function errorData(error: TRPCError, path: string) {
  return getTRPCErrorShape({
    config: appRouter._def._config,
    error,
    type: "unknown",
    path,
    input: undefined,
    ctx: undefined,
  }).data;
}

/** A clock the test moves by hand. */
export class TestClock implements Clock {
  constructor(private current = new Date("2030-01-01T00:00:00.000Z")) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

/** The test clock of services made with `useTestServices(() => ({ clock: new TestClock() }))`. */
export function testClockOf(services: RunningServices): TestClock {
  if (!(services.clock instanceof TestClock)) throw new Error("these services were not given a TestClock");
  return services.clock;
}

/**
 * The offline model behind a counter (and an optional hook that runs first), so a test can
 * prove a refused call never reached the model. The model is not what these tests check.
 */
export class CountingModel implements ModelProvider {
  readonly name = "offline";
  calls = 0;
  private readonly inner = new OfflineProvider();
  constructor(private readonly beforeComplete?: (request: CompletionRequest) => Promise<void>) {}
  async complete(request: CompletionRequest): Promise<Completion> {
    this.calls += 1;
    await this.beforeComplete?.(request);
    return this.inner.complete(request);
  }
}

export async function finalRecords(database: DatabaseHandle) {
  return (await auditRows(database)).filter((r) => r.phase === "final");
}

export async function admittedRecords(database: DatabaseHandle) {
  return (await auditRows(database)).filter((r) => r.phase === "admitted");
}

/**
 * The same real database behind a second Drizzle instance that reports every statement it
 * sends (on both drivers), for proving which queries a call did or did not make.
 */
export function observedDatabase(handle: DatabaseHandle, onQuery: (query: string) => void): DatabaseHandle {
  const logger: QueryLogger = { logQuery: (query) => onQuery(query) };
  if (handle.driver === "pglite" && handle.pglite) {
    const db = drizzlePglite(handle.pglite, { schema, logger }) as unknown as Database;
    const rows = async <T extends Record<string, unknown>>(query: SQL) =>
      ((await db.execute(query)) as unknown as { rows: T[] }).rows;
    return { ...handle, db, rows };
  }
  if (handle.driver === "postgres" && handle.postgresClient) {
    const db = drizzlePostgres(handle.postgresClient, { schema, logger }) as unknown as Database;
    const rows = async <T extends Record<string, unknown>>(query: SQL) =>
      (await db.execute(query)) as unknown as T[];
    return { ...handle, db, rows };
  }
  throw new Error(`no underlying client for driver ${handle.driver}`);
}
