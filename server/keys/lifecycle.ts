// What every key lifecycle change shares: its `event` audit record, committed in one
// transaction with the change (a refusal rolls back both), the insert of a new key (plaintext
// returned, never stored), and the announcement to every process (NOTIFY) so caches drop the
// key at once.
import { apiKeys, type Database, Declined, keyLimits } from "../../db/index.ts";
import type { AuditRecord } from "../audit/record.ts";
import { generateKey } from "../auth/key-format.ts";
import { notifyKeyChanged } from "../auth/key-store.ts";
import type { Principal } from "../auth/principal.ts";
import { hashSecret } from "../auth/secret-hash.ts";
import type { Context } from "../context.ts";
import { fail, type Reason } from "../errors.ts";

export interface LifecycleCall {
  ctx: Context;
  actor: Principal;
  callId: string;
}

export function eventRecord(
  { ctx, actor, callId }: LifecycleCall,
  event: string,
  details: object,
): AuditRecord {
  return {
    phase: "event",
    requestId: ctx.request.requestId,
    callId,
    keyId: actor.keyId,
    owner: actor.owner,
    procedure: `keys.${event}`,
    reason: event,
    clientAddress: ctx.request.clientAddress,
    details: { event, ...details },
  };
}

export interface NewKey {
  env: "live" | "test";
  name: string;
  owner: string;
  scopes: string[];
  expiresAt: Date | null;
  endUser: string | null;
  parentId: string | null;
  rotatedFromId: string | null;
  /** An existing lineage's limits (rotation), or fresh limits for a new lineage. */
  limits: { shareWith: string } | { rpm: number | null; dailyTokens: number | null; maxUses: number | null };
}

/** Inserts a key (and its limits row for a new lineage); returns the plaintext, never stored. */
export async function insertKey(tx: Database, call: LifecycleCall, key: NewKey) {
  const pepper = call.ctx.config.peppers[0];
  if (!pepper) throw new Error("no pepper configured");
  const { plaintext, keyId, secret } = generateKey(key.env);
  const limitId = "shareWith" in key.limits ? key.limits.shareWith : keyId;
  if (!("shareWith" in key.limits)) await tx.insert(keyLimits).values({ id: keyId, ...key.limits });
  await tx.insert(apiKeys).values({
    id: keyId,
    env: key.env,
    secretHash: hashSecret(pepper, secret),
    pepperVersion: pepper.version,
    name: key.name,
    owner: key.owner,
    scopes: key.scopes,
    expiresAt: key.expiresAt,
    endUser: key.endUser,
    limitId,
    parentId: key.parentId,
    rotatedFromId: key.rotatedFromId,
    createdBy: call.actor.keyId,
  });
  // Other processes may hold this id as "no such key" (key-store's unknown-id cache).
  await notifyKeyChanged(tx, keyId);
  return { keyId, plaintext };
}

export type Refusal = {
  code: "NOT_FOUND" | "CONFLICT" | "FORBIDDEN" | "BAD_REQUEST";
  reason: Reason;
  message: string;
  details?: object;
};

/** Runs a lifecycle change with its event record; a refusal rolls back both. */
export async function change<T>(
  call: LifecycleCall,
  event: AuditRecord,
  keyId: string,
  work: (tx: Database) => Promise<T | Refusal>,
) {
  const result = await call.ctx.audit.appendWith([event], {
    work: async (tx) => {
      const outcome = await work(tx);
      if (isRefusal(outcome)) return new Declined(outcome);
      await notifyKeyChanged(tx, keyId);
      return outcome;
    },
  });
  if (result instanceof Declined) {
    const refusal = result.value as Refusal;
    fail(refusal.code, refusal.reason, refusal.message, refusal.details);
  }
  call.ctx.keyCache.invalidate(keyId);
  return result as T;
}

function isRefusal(value: unknown): value is Refusal {
  return (
    typeof value === "object" && value !== null && "reason" in value && "code" in value && "message" in value
  );
}

export const noSuchKey = (keyId: string): Refusal => ({
  code: "NOT_FOUND",
  reason: "not_found",
  message: `No key with id ${keyId}.`,
});
