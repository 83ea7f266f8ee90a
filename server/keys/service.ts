// Key lifecycle: create (plaintext returned exactly once), list, show, revoke. Each change is
// written with its `event` audit record in one transaction.
import { desc, eq } from "drizzle-orm";
import { type ApiKeyRow, apiKeys } from "../../db/index.ts";
import type { AuditRecord } from "../audit/record.ts";
import { Declined } from "../audit/writer.ts";
import { generateKey } from "../auth/key-format.ts";
import type { Principal } from "../auth/principal.ts";
import { describeValidScopes, isKnownScope, missingScopes } from "../auth/scopes.ts";
import { hashSecret } from "../auth/secret-hash.ts";
import type { Context } from "../context.ts";
import { withDatabase } from "../db-errors.ts";
import { fail } from "../errors.ts";
import type { CreateKeyInput } from "./schemas.ts";

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
  usage: { uses: number; lastUsedAt: string | null };
}

export function toMetadata(row: ApiKeyRow): KeyMetadata {
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
    limits: { rpm: row.rpm, dailyTokens: row.dailyTokens, maxUses: row.maxUses },
    usage: { uses: row.uses, lastUsedAt: row.lastUsedAt?.toISOString() ?? null },
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

function eventRecord(
  ctx: Context,
  actor: Principal,
  callId: string,
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

export async function createKey(ctx: Context, actor: Principal, callId: string, input: CreateKeyInput) {
  const scopes = [...new Set(input.scopes)];
  checkGrantable(actor, scopes);
  const pepper = ctx.config.peppers[0];
  if (!pepper) throw new Error("no pepper configured");
  const { plaintext, keyId, secret } = generateKey(input.env);
  const expiresAt = input.ttlSeconds ? new Date(ctx.clock.now().getTime() + input.ttlSeconds * 1000) : null;
  const row = {
    id: keyId,
    env: input.env,
    secretHash: hashSecret(pepper, secret),
    pepperVersion: pepper.version,
    name: input.name,
    owner: input.owner ?? actor.owner,
    scopes,
    expiresAt,
    maxUses: input.maxUses ?? null,
    rpm: input.rpm ?? null,
    dailyTokens: input.dailyTokens ?? null,
    endUser: input.endUser ?? null,
    createdBy: actor.keyId,
  };
  const event = eventRecord(ctx, actor, callId, "create", {
    targetKeyId: keyId,
    scopes,
    expiresAt: expiresAt?.toISOString() ?? null,
  });
  await withDatabase(() =>
    ctx.audit.appendWith([event], [], async (tx) => {
      await tx.insert(apiKeys).values(row);
    }),
  );
  return { keyId, key: plaintext, scopes, expiresAt: expiresAt?.toISOString() ?? null, env: input.env };
}

export async function listKeys(ctx: Context): Promise<KeyMetadata[]> {
  const rows = await withDatabase(() =>
    ctx.database.db.select().from(apiKeys).orderBy(desc(apiKeys.createdAt)).limit(1000),
  );
  return rows.map(toMetadata);
}

export async function showKey(ctx: Context, keyId: string): Promise<KeyMetadata> {
  const [row] = await withDatabase(() =>
    ctx.database.db.select().from(apiKeys).where(eq(apiKeys.id, keyId)).limit(1),
  );
  if (!row) fail("NOT_FOUND", "not_found", `No key with id ${keyId}.`);
  return toMetadata(row);
}

export async function revokeKey(ctx: Context, actor: Principal, callId: string, keyId: string) {
  const revokedAt = ctx.clock.now();
  const event = eventRecord(ctx, actor, callId, "revoke", { targetKeyId: keyId });
  const found = await withDatabase(() =>
    ctx.audit.appendWith([event], [keyId], async (tx) => {
      const [row] = await tx
        .select({ revokedAt: apiKeys.revokedAt })
        .from(apiKeys)
        .where(eq(apiKeys.id, keyId));
      if (!row) return new Declined(null);
      if (row.revokedAt) return row.revokedAt;
      await tx.update(apiKeys).set({ revokedAt }).where(eq(apiKeys.id, keyId));
      return revokedAt;
    }),
  );
  if (found instanceof Declined) fail("NOT_FOUND", "not_found", `No key with id ${keyId}.`);
  return { keyId, revokedAt: found.toISOString() };
}
