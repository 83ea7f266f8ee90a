// Key lifecycle: create (plaintext returned exactly once), list, show, revoke, rotate, derive
// and limit changes. Each change is written with its `event` audit record in one transaction,
// and announced to every process (NOTIFY) so caches drop the key at once.
import { desc, eq } from "drizzle-orm";
import { type ApiKeyRow, apiKeys, type Database, type KeyLimitsRow, keyLimits } from "../../db/index.ts";
import type { AuditRecord } from "../audit/record.ts";
import { Declined } from "../audit/writer.ts";
import { generateKey } from "../auth/key-format.ts";
import { notifyKeyChanged } from "../auth/key-store.ts";
import type { Principal } from "../auth/principal.ts";
import { describeValidScopes, isKnownScope, missingScopes } from "../auth/scopes.ts";
import { hashSecret } from "../auth/secret-hash.ts";
import type { Context } from "../context.ts";
import { withDatabase } from "../db-errors.ts";
import { fail, type Reason } from "../errors.ts";
import { tokensToday, utcDay } from "../limits/gcra.ts";
import type { CreateKeyInput, DeriveKeyInput, SetLimitsInput } from "./schemas.ts";

export interface KeyMetadata {
  keyId: string;
  env: "live" | "test";
  name: string;
  owner: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  parentId: string | null;
  rotatedFromId: string | null;
  endUser: string | null;
  limits: { rpm: number | null; dailyTokens: number | null; maxUses: number | null };
  usage: { uses: number; tokensToday: number; lastUsedAt: string | null };
}

export function toMetadata(row: ApiKeyRow, limits: KeyLimitsRow, now: Date): KeyMetadata {
  return {
    keyId: row.id,
    env: row.env,
    name: row.name,
    owner: row.owner,
    scopes: row.scopes,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    parentId: row.parentId,
    rotatedFromId: row.rotatedFromId,
    endUser: row.endUser,
    limits: { rpm: limits.rpm, dailyTokens: limits.dailyTokens, maxUses: limits.maxUses },
    usage: {
      uses: limits.uses,
      tokensToday: tokensToday(limits.tokenDay, limits.tokensUsed, utcDay(now)),
      lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    },
  };
}

/** Unknown or malformed scopes are bad input; well-formed scopes the granter lacks are forbidden. */
export function checkGrantable(granter: Principal, requested: readonly string[]): void {
  const unknown = requested.filter((s) => !isKnownScope(s));
  if (unknown.length > 0) {
    fail(
      "BAD_REQUEST",
      "invalid_input",
      `Unknown scope(s): ${unknown.join(", ")}. Valid: ${describeValidScopes()}.`,
      {
        fieldErrors: { scopes: [`unknown: ${unknown.join(", ")}`, `valid: ${describeValidScopes()}`] },
      },
    );
  }
  const notHeld = missingScopes(granter.scopes, requested);
  if (notHeld.length > 0) {
    fail("FORBIDDEN", "missing_scope", `A key cannot grant scopes it does not hold: ${notHeld.join(", ")}.`, {
      missingScopes: notHeld,
    });
  }
}

interface LifecycleCall {
  ctx: Context;
  actor: Principal;
  callId: string;
}

function eventRecord({ ctx, actor, callId }: LifecycleCall, event: string, details: object): AuditRecord {
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

interface NewKey {
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
async function insertKey(tx: Database, call: LifecycleCall, key: NewKey) {
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

const expiryAfter = (now: Date, seconds: number | undefined) =>
  seconds === undefined ? null : new Date(now.getTime() + seconds * 1000);

export async function createKey(ctx: Context, actor: Principal, callId: string, input: CreateKeyInput) {
  const call = { ctx, actor, callId };
  const scopes = [...new Set(input.scopes)];
  checkGrantable(actor, scopes);
  const expiresAt = expiryAfter(ctx.clock.now(), input.ttlSeconds);
  let created: { keyId: string; plaintext: string } | undefined;
  const event = eventRecord(call, "create", { scopes, expiresAt: expiresAt?.toISOString() ?? null });
  await ctx.audit.appendWith([event], async (tx) => {
    created = await insertKey(tx, call, {
      env: input.env,
      name: input.name,
      owner: input.owner ?? actor.owner,
      scopes,
      expiresAt,
      endUser: input.endUser ?? null,
      parentId: null,
      rotatedFromId: null,
      limits: {
        rpm: input.rpm ?? null,
        dailyTokens: input.dailyTokens ?? null,
        maxUses: input.maxUses ?? null,
      },
    });
    Object.assign(event.details ?? {}, { targetKeyId: created.keyId });
  });
  if (!created) throw new Error("key was not created");
  ctx.keyCache.invalidate(created.keyId);
  return {
    keyId: created.keyId,
    key: created.plaintext,
    scopes,
    expiresAt: expiresAt?.toISOString() ?? null,
    env: input.env,
  };
}

async function keyWithLimits(db: Database, keyId: string, forUpdate = false) {
  const query = db
    .select({ key: apiKeys, limits: keyLimits })
    .from(apiKeys)
    .innerJoin(keyLimits, eq(keyLimits.id, apiKeys.limitId))
    .where(eq(apiKeys.id, keyId))
    .limit(1);
  const [row] = await (forUpdate ? query.for("update") : query);
  return row ?? null;
}

/** The calling key's limits and usage, read fresh (the authentication cache may be up to 1 s old). */
export async function ownLimits(ctx: Context, principal: Principal) {
  const limitId = principal.limitIds[0];
  const [row] = limitId
    ? await withDatabase(() => ctx.database.db.select().from(keyLimits).where(eq(keyLimits.id, limitId)))
    : [];
  if (!row) return { limits: principal.limits, usage: principal.usage };
  return {
    limits: { rpm: row.rpm, dailyTokens: row.dailyTokens, maxUses: row.maxUses },
    usage: {
      uses: row.uses,
      tokensToday: tokensToday(row.tokenDay, row.tokensUsed, utcDay(ctx.clock.now())),
    },
  };
}

export async function listKeys(ctx: Context): Promise<KeyMetadata[]> {
  const rows = await withDatabase(() =>
    ctx.database.db
      .select({ key: apiKeys, limits: keyLimits })
      .from(apiKeys)
      .innerJoin(keyLimits, eq(keyLimits.id, apiKeys.limitId))
      .orderBy(desc(apiKeys.createdAt))
      .limit(1000),
  );
  const now = ctx.clock.now();
  return rows.map((r) => toMetadata(r.key, r.limits, now));
}

export async function showKey(ctx: Context, keyId: string): Promise<KeyMetadata> {
  const row = await withDatabase(() => keyWithLimits(ctx.database.db, keyId));
  if (!row) fail("NOT_FOUND", "not_found", `No key with id ${keyId}.`);
  return toMetadata(row.key, row.limits, ctx.clock.now());
}

type Refusal = {
  code: "NOT_FOUND" | "CONFLICT" | "FORBIDDEN" | "BAD_REQUEST";
  reason: Reason;
  message: string;
  details?: object;
};

/** Runs a lifecycle change with its event record; a refusal rolls back both. */
async function change<T>(
  call: LifecycleCall,
  event: AuditRecord,
  keyId: string,
  work: (tx: Database) => Promise<T | Refusal>,
) {
  const result = await call.ctx.audit.appendWith([event], async (tx) => {
    const outcome = await work(tx);
    if (isRefusal(outcome)) return new Declined(outcome);
    await notifyKeyChanged(tx, keyId);
    return outcome;
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

const noSuchKey = (keyId: string): Refusal => ({
  code: "NOT_FOUND",
  reason: "not_found",
  message: `No key with id ${keyId}.`,
});

export async function revokeKey(ctx: Context, actor: Principal, callId: string, keyId: string) {
  const call = { ctx, actor, callId };
  const revokedAt = ctx.clock.now();
  const at = await change(call, eventRecord(call, "revoke", { targetKeyId: keyId }), keyId, async (tx) => {
    const row = await keyWithLimits(tx, keyId, true);
    if (!row) return noSuchKey(keyId);
    if (row.key.revokedAt) return row.key.revokedAt;
    await tx.update(apiKeys).set({ revokedAt }).where(eq(apiKeys.id, keyId));
    return revokedAt;
  });
  return { keyId, revokedAt: at.toISOString() };
}

/**
 * A new secret for the same key: same name, owner, scopes and limits (the lineage shares its
 * counters). The old key works for the grace period, never past its own expiry. A key is
 * rotated once: a retried rotation finds the successor and is refused, so no second live
 * secret appears. Rotating hands out a working key, so the actor must hold all its scopes.
 */
export async function rotateKey(
  ctx: Context,
  actor: Principal,
  callId: string,
  keyId: string,
  graceSeconds: number,
) {
  const call = { ctx, actor, callId };
  const now = ctx.clock.now();
  const graceEnd = new Date(now.getTime() + graceSeconds * 1000);
  const event = eventRecord(call, "rotate", { targetKeyId: keyId, graceSeconds });
  const rotated = await change(call, event, keyId, async (tx) => {
    const row = await keyWithLimits(tx, keyId, true);
    if (!row) return noSuchKey(keyId);
    const old = row.key;
    const missing = missingScopes(actor.scopes, old.scopes);
    if (missing.length > 0) {
      return {
        code: "FORBIDDEN",
        reason: "missing_scope",
        message: `Rotating this key needs its scopes: ${missing.join(", ")}.`,
        details: { missingScopes: missing },
      } as Refusal;
    }
    if (old.revokedAt || (old.expiresAt && old.expiresAt <= now)) {
      return {
        code: "CONFLICT",
        reason: "key_inactive",
        message: "Only an active key can be rotated.",
      } as Refusal;
    }
    const [successor] = await tx
      .select({ id: apiKeys.id })
      .from(apiKeys)
      .where(eq(apiKeys.rotatedFromId, keyId))
      .limit(1);
    if (successor) {
      return {
        code: "CONFLICT",
        reason: "already_rotated",
        message: `Key ${keyId} was already rotated to ${successor.id}.`,
        details: { successorKeyId: successor.id },
      } as Refusal;
    }
    const created = await insertKey(tx, call, {
      env: old.env,
      name: old.name,
      owner: old.owner,
      scopes: old.scopes,
      expiresAt: old.expiresAt,
      endUser: old.endUser,
      parentId: old.parentId,
      rotatedFromId: old.id,
      limits: { shareWith: old.limitId },
    });
    const oldExpiresAt = old.expiresAt && old.expiresAt < graceEnd ? old.expiresAt : graceEnd;
    await tx.update(apiKeys).set({ expiresAt: oldExpiresAt }).where(eq(apiKeys.id, keyId));
    Object.assign(event.details ?? {}, { newKeyId: created.keyId });
    return { ...created, expiresAt: old.expiresAt, oldExpiresAt };
  });
  return {
    keyId: rotated.keyId,
    key: rotated.plaintext,
    rotatedFromId: keyId,
    expiresAt: rotated.expiresAt?.toISOString() ?? null,
    oldKeyExpiresAt: rotated.oldExpiresAt.toISOString(),
  };
}

/** Scopes a derived key may never carry: deriving must not mint administrators or more derivers. */
const NOT_DERIVABLE = (scope: string) => scope.startsWith("admin:") || scope === "keys:derive";

export function checkDerivable(scopes: readonly string[]): void {
  const forbidden = scopes.filter(NOT_DERIVABLE);
  if (forbidden.length > 0) {
    fail("FORBIDDEN", "missing_scope", `Derived keys cannot hold: ${forbidden.join(", ")}.`, {
      missingScopes: forbidden,
    });
  }
}

/** The scopes of the key a rotation would hand out again (none if it does not exist). */
export async function scopesOfKey(ctx: Context, keyId: string): Promise<string[]> {
  const [row] = await withDatabase(() =>
    ctx.database.db.select({ scopes: apiKeys.scopes }).from(apiKeys).where(eq(apiKeys.id, keyId)),
  );
  return row?.scopes ?? [];
}

/**
 * A short-lived child of the calling key: scopes a subset of the parent's, expiry and limits no
 * later or higher than the parent's. Calls with the child are charged to every ancestor too.
 */
export async function deriveKey(ctx: Context, parent: Principal, callId: string, input: DeriveKeyInput) {
  if (parent.kind !== "key") {
    fail(
      "BAD_REQUEST",
      "invalid_input",
      "keys.derive derives from the calling key; the local operator uses keys.create.",
    );
  }
  const call = { ctx, actor: parent, callId };
  const scopes = [...new Set(input.scopes)];
  checkDerivable(scopes);
  checkGrantable(parent, scopes);
  const tooHigh: Record<string, string[]> = {};
  const cap = (field: "rpm" | "dailyTokens", requested: number | undefined): number | null => {
    const limit = parent.limits[field];
    if (requested !== undefined && limit !== null && requested > limit)
      tooHigh[field] = [`at most the parent's ${limit}`];
    return requested ?? limit;
  };
  const rpm = cap("rpm", input.rpm);
  const dailyTokens = cap("dailyTokens", input.dailyTokens);
  if (Object.keys(tooHigh).length > 0) {
    fail("BAD_REQUEST", "invalid_input", "A derived key's limits cannot exceed its parent's.", {
      fieldErrors: tooHigh,
    });
  }
  if (parent.boundEndUser && input.endUser !== undefined && input.endUser !== parent.boundEndUser) {
    fail("FORBIDDEN", "end_user_mismatch", "The parent key is bound to a different end user.");
  }
  const requestedExpiry = new Date(ctx.clock.now().getTime() + input.ttlSeconds * 1000);
  const expiresAt =
    parent.expiresAt && parent.expiresAt < requestedExpiry ? parent.expiresAt : requestedExpiry;
  const event = eventRecord(call, "derive", {
    parentKeyId: parent.keyId,
    scopes,
    expiresAt: expiresAt.toISOString(),
  });
  const created = await change(call, event, parent.keyId, async (tx) => {
    const child = await insertKey(tx, call, {
      env: parent.env,
      name: `${parent.name} (derived)`.slice(0, 64),
      owner: parent.owner,
      scopes,
      expiresAt,
      endUser: input.endUser ?? parent.boundEndUser,
      parentId: parent.keyId,
      rotatedFromId: null,
      limits: { rpm, dailyTokens, maxUses: input.maxUses ?? null },
    });
    Object.assign(event.details ?? {}, { targetKeyId: child.keyId });
    return child;
  });
  return { key: created.plaintext, keyId: created.keyId, scopes, expiresAt: expiresAt.toISOString() };
}

/** Changes a lineage's limits; a derived key's stay within its parent's. */
export async function setLimits(ctx: Context, actor: Principal, callId: string, input: SetLimitsInput) {
  const call = { ctx, actor, callId };
  const event = eventRecord(call, "set_limits", {
    targetKeyId: input.keyId,
    rpm: input.rpm,
    dailyTokens: input.dailyTokens,
  });
  const updated = await change(call, event, input.keyId, async (tx) => {
    const row = await keyWithLimits(tx, input.keyId, true);
    if (!row) return noSuchKey(input.keyId);
    if (row.key.parentId) {
      const parent = await keyWithLimits(tx, row.key.parentId);
      const over = (["rpm", "dailyTokens"] as const).filter((f) => {
        const wanted = input[f];
        const ceiling = parent?.limits[f] ?? null;
        return ceiling !== null && (wanted === null || (wanted !== undefined && wanted > ceiling));
      });
      if (over.length > 0) {
        return {
          code: "BAD_REQUEST",
          reason: "invalid_input",
          message: `A derived key's ${over.join(", ")} cannot exceed its parent's.`,
        } as Refusal;
      }
    }
    const [limits] = await tx
      .update(keyLimits)
      .set({
        ...(input.rpm === undefined ? {} : { rpm: input.rpm }),
        ...(input.dailyTokens === undefined ? {} : { dailyTokens: input.dailyTokens }),
      })
      .where(eq(keyLimits.id, row.key.limitId))
      .returning();
    return limits ?? row.limits;
  });
  return { keyId: input.keyId, rpm: updated.rpm, dailyTokens: updated.dailyTokens };
}
