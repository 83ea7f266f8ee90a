// Changing existing keys: revoke, rotate (a new secret for the same lineage, the old one kept
// for a grace period) and limit changes, each with its `event` record in one transaction.
import { eq } from "drizzle-orm";
import { apiKeys, keyLimits } from "../../db/index.ts";
import type { Principal } from "../auth/principal.ts";
import { missingScopes } from "../auth/scopes.ts";
import type { Context } from "../context.ts";
import { change, eventRecord, insertKey, noSuchKey, type Refusal } from "./lifecycle.ts";
import { keyWithLimits } from "./lookup.ts";
import type { SetLimitsInput } from "./schemas.ts";

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
