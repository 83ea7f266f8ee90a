// Shared pieces of the procedure-level pipeline tests: catching tRPC refusals, a controllable
// clock, a model double that counts calls, and audit-row lookups.
import { TRPCError } from "@trpc/server";
import { eq } from "drizzle-orm";
import { expect } from "vitest";
import { apiKeys, type DatabaseHandle } from "../../db/index.ts";
import { isKnownScope } from "../../server/auth/scopes.ts";
import type { Clock } from "../../server/context.ts";
import { OfflineProvider } from "../../server/model/offline.ts";
import type { Completion, CompletionRequest, ModelProvider } from "../../server/model/provider.ts";
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
  expect({ code: error?.code, reason: error?.reason }).toEqual({ code, reason });
  return error as Refusal;
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
