// Authentication: parse the presented key (format and checksum, no lookup for malformed keys),
// look it up by its public id, compare the secret in constant time, and only then tell a
// holder of the correct secret that the key is expired, revoked or used up.
import { timingSafeEqual } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { apiKeys } from "../../db/index.ts";
import type { Config } from "../config.ts";
import type { Context } from "../context.ts";
import { withDatabase } from "../db-errors.ts";
import { fail } from "../errors.ts";
import { parseKey } from "./key-format.ts";
import { localOperator, type Principal } from "./principal.ts";
import { fingerprint, secretMatches } from "./secret-hash.ts";

export const END_USER_PATTERN = /^[A-Za-z0-9._@:-]{1,128}$/;

/** What the audit layer may keep of a presented credential: never the credential itself. */
export interface PresentedCredential {
  fingerprint: string;
  parsedKeyId: string | null;
}

interface AncestorRow extends Record<string, unknown> {
  id: string;
  revoked_at: string | Date | null;
  expires_at: string | Date | null;
}

export function bearerToken(authorization: string | undefined): string | null {
  if (authorization === undefined) return null;
  const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(authorization.trim());
  return match?.[1] ?? "";
}

export function describeCredential(ctx: Context): PresentedCredential | null {
  return describeCredentialOf(ctx.config, ctx.request.authorization);
}

export function describeCredentialOf(
  config: Config,
  authorization: string | undefined,
): PresentedCredential | null {
  const token = bearerToken(authorization);
  if (!token) return null;
  const auditKey = config.auditKey[0];
  if (!auditKey) return null;
  return { fingerprint: fingerprint(auditKey, token), parsedKeyId: parseKey(token)?.keyId ?? null };
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export async function authenticate(ctx: Context): Promise<Principal> {
  const token = bearerToken(ctx.request.authorization);
  if (token === null)
    fail("UNAUTHORIZED", "missing_key", "An API key is required: Authorization: Bearer <key>.");
  if (ctx.localAdminToken && sameSecret(token, ctx.localAdminToken)) return localOperator();

  const parsed = parseKey(token);
  if (!parsed) fail("UNAUTHORIZED", "invalid_key", "The API key is invalid.");
  const row = await withDatabase(async () => {
    const [found] = await ctx.database.db.select().from(apiKeys).where(eq(apiKeys.id, parsed.keyId)).limit(1);
    return found ?? null;
  });
  const matches = secretMatches(
    ctx.config.peppers,
    row && { hash: row.secretHash, pepperVersion: row.pepperVersion },
    parsed.secret,
  );
  if (!row || !matches || row.env !== parsed.env)
    fail("UNAUTHORIZED", "invalid_key", "The API key is invalid.");

  // Only a holder of the correct secret gets past this line and may learn the key's state.
  const now = ctx.clock.now();
  if (row.revokedAt) fail("UNAUTHORIZED", "revoked_key", "This API key has been revoked.");
  if (row.expiresAt && row.expiresAt <= now) fail("UNAUTHORIZED", "expired_key", "This API key has expired.");
  if (row.maxUses !== null && row.uses >= row.maxUses) {
    fail("UNAUTHORIZED", "usage_exhausted", "This API key has no uses left.");
  }
  const ancestors = row.parentId ? await loadAncestors(ctx, row.parentId) : [];
  for (const ancestor of ancestors) {
    if (ancestor.revoked_at)
      fail("UNAUTHORIZED", "revoked_key", "The key this key was derived from is revoked.");
    if (ancestor.expires_at && new Date(ancestor.expires_at) <= now) {
      fail("UNAUTHORIZED", "expired_key", "The key this key was derived from has expired.");
    }
  }

  const endUser = resolveEndUser(ctx.request.endUser, row.endUser);
  return {
    kind: "key",
    keyId: row.id,
    name: row.name,
    owner: row.owner,
    env: row.env,
    scopes: row.scopes,
    chargeTo: [row.id, ...ancestors.map((a) => a.id)],
    expiresAt: row.expiresAt,
    maxUses: row.maxUses,
    uses: row.uses,
    rpm: row.rpm,
    dailyTokens: row.dailyTokens,
    endUser,
  };
}

function resolveEndUser(header: string | undefined, bound: string | null): string | null {
  if (header !== undefined && !END_USER_PATTERN.test(header)) {
    fail("BAD_REQUEST", "invalid_end_user", "x-end-user must match ^[A-Za-z0-9._@:-]{1,128}$.");
  }
  if (bound !== null && header !== undefined && header !== bound) {
    fail("FORBIDDEN", "end_user_mismatch", "This key is bound to a different end user.");
  }
  return bound ?? header ?? null;
}

async function loadAncestors(ctx: Context, parentId: string): Promise<AncestorRow[]> {
  return withDatabase(() =>
    ctx.database.rows<AncestorRow>(sql`
      with recursive chain(id, parent_id, revoked_at, expires_at, depth) as (
        select id, parent_id, revoked_at, expires_at, 1 from ${apiKeys} where id = ${parentId}
        union all
        select k.id, k.parent_id, k.revoked_at, k.expires_at, c.depth + 1
        from ${apiKeys} k join chain c on k.id = c.parent_id
        where c.depth < 16
      )
      select id, revoked_at, expires_at from chain order by depth`),
  );
}
