// Reading keys: their metadata as the API shows it (never a secret), one key with its limits
// row, the list, and the calling key's own limits read fresh.
import { desc, eq } from "drizzle-orm";
import { type ApiKeyRow, apiKeys, type Database, type KeyLimitsRow, keyLimits } from "../../db/index.ts";
import type { Principal } from "../auth/principal.ts";
import type { Context } from "../context.ts";
import { withDatabase } from "../db-errors.ts";
import { fail } from "../errors.ts";
import { tokensToday, utcDay } from "../limits/gcra.ts";

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

/** A key and its lineage's limits; `forUpdate` locks both (a lifecycle change). */
export async function keyWithLimits(db: Database, keyId: string, forUpdate = false) {
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

/** The scopes of the key a rotation would hand out again (none if it does not exist). */
export async function scopesOfKey(ctx: Context, keyId: string): Promise<string[]> {
  const [row] = await withDatabase(() =>
    ctx.database.db.select({ scopes: apiKeys.scopes }).from(apiKeys).where(eq(apiKeys.id, keyId)),
  );
  return row?.scopes ?? [];
}
