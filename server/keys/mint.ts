// Minting keys: `create` (a new lineage, by an administrator) and `derive` (a short-lived child
// of the calling key, within its scopes, expiry and limits). The plaintext is returned exactly
// once.
import type { Principal } from "../auth/principal.ts";
import type { Context } from "../context.ts";
import { fail } from "../errors.ts";
import { checkDerivable, checkGrantable } from "./grants.ts";
import { change, eventRecord, insertKey } from "./lifecycle.ts";
import type { CreateKeyInput, DeriveKeyInput } from "./schemas.ts";

const expiryAfter = (now: Date, seconds: number | undefined) =>
  seconds === undefined ? null : new Date(now.getTime() + seconds * 1000);

export async function createKey(ctx: Context, actor: Principal, callId: string, input: CreateKeyInput) {
  const call = { ctx, actor, callId };
  const scopes = [...new Set(input.scopes)];
  checkGrantable(actor, scopes);
  const expiresAt = expiryAfter(ctx.clock.now(), input.ttlSeconds);
  const event = eventRecord(call, "create", { scopes, expiresAt: expiresAt?.toISOString() ?? null });
  const created = await ctx.audit.appendWith([event], {
    work: async (tx) => {
      const key = await insertKey(tx, call, {
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
      Object.assign(event.details ?? {}, { targetKeyId: key.keyId });
      return key;
    },
  });
  ctx.keyCache.invalidate(created.keyId);
  return {
    keyId: created.keyId,
    key: created.plaintext,
    scopes,
    expiresAt: expiresAt?.toISOString() ?? null,
    env: input.env,
  };
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
