// Authentication: parse the presented key (format and checksum, no lookup for malformed keys),
// find it by its public id (in-process cache, else one query), compare the secret in constant
// time, and only then tell a holder of the correct secret that the key is expired, revoked or
// used up. Failures are counted per client address; successes never are.
import { timingSafeEqual } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { and, eq } from "drizzle-orm";
import { apiKeys } from "../../db/index.ts";
import type { Config } from "../config.ts";
import type { Context } from "../context.ts";
import { withDatabase, withDatabaseTransaction } from "../db-errors.ts";
import { fail } from "../errors.ts";
import { containsCredential } from "../guard/redact.ts";
import { tokensToday, utcDay } from "../limits/gcra.ts";
import { END_USER_PATTERN } from "./end-user.ts";
import { parseKey } from "./key-format.ts";
import { type KeyRecord, loadKeyRecords } from "./key-store.ts";
import { localOperator, type Principal } from "./principal.ts";
import { fingerprint, hashSecret, secretMatches } from "./secret-hash.ts";

/** What the audit layer may keep of a presented credential: never the credential itself. */
export interface PresentedCredential {
  fingerprint: string;
  parsedKeyId: string | null;
}

export function bearerToken(authorization: string | undefined): string | null {
  if (authorization === undefined) return null;
  // RFC 9110 §11.1: the auth scheme is case-insensitive (`Bearer`, `bearer`, `BEARER`) and
  // separated from its token by one or more spaces.
  const match = /^Bearer +([\x21-\x7e]{1,512})$/i.exec(authorization.trim());
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

async function findKey(ctx: Context, keyId: string): Promise<KeyRecord | null> {
  const cached = ctx.keyCache.get(keyId);
  if (cached !== undefined) return cached;
  // The lookup has its deadline, and so does this caller's wait: joining behind a lookup in
  // flight must not stretch the bound on how long a request waits for the database.
  return withDatabase(() =>
    ctx.keyCache.load(keyId, (keyIds) => withDatabase(() => loadKeyRecords(ctx.database, keyIds))),
  );
}

/** Refuses a failed attempt; repeated failures from one address are slowed, then throttled. */
async function refuseInvalid(ctx: Context): Promise<never> {
  const verdict = ctx.authThrottle.recordFailure(ctx.request.clientAddress);
  if (verdict.action === "refuse") {
    fail(
      "TOO_MANY_REQUESTS",
      "auth_throttled",
      "Too many failed authentication attempts from this address.",
      {
        retryAfterMs: verdict.retryAfterMs,
      },
    );
  }
  if (verdict.delayMs > 0) await sleep(verdict.delayMs);
  fail("UNAUTHORIZED", "invalid_key", "The API key is invalid.");
}

export async function authenticate(ctx: Context): Promise<Principal> {
  const token = bearerToken(ctx.request.authorization);
  if (token === null)
    fail("UNAUTHORIZED", "missing_key", "An API key is required: Authorization: Bearer <key>.");
  if (ctx.localAdminToken && sameSecret(token, ctx.localAdminToken)) return localOperator();

  const parsed = parseKey(token);
  if (!parsed) return refuseInvalid(ctx);
  const record = await findKey(ctx, parsed.keyId);
  const key = record?.key ?? null;
  const matches = secretMatches(
    ctx.config.peppers,
    key && { hash: key.secretHash, pepperVersion: key.pepperVersion },
    parsed.secret,
  );
  if (!record || !key || !matches || key.env !== parsed.env) return refuseInvalid(ctx);

  // Only a holder of the correct secret gets past this line and may learn the key's state.
  await upgradePepper(ctx, key.id, key.pepperVersion, parsed.secret);
  const now = ctx.clock.now();
  for (const state of [key, ...record.ancestors]) {
    const own = state === key;
    if (state.revokedAt) {
      fail(
        "UNAUTHORIZED",
        "revoked_key",
        own ? "This API key has been revoked." : "The key this key was derived from is revoked.",
      );
    }
    if (state.expiresAt && state.expiresAt <= now) {
      fail(
        "UNAUTHORIZED",
        "expired_key",
        own ? "This API key has expired." : "The key this key was derived from has expired.",
      );
    }
  }
  if (key.maxUses !== null && key.uses >= key.maxUses) {
    fail("UNAUTHORIZED", "usage_exhausted", "This API key has no uses left.");
  }
  return {
    kind: "key",
    keyId: key.id,
    name: key.name,
    owner: key.owner,
    env: key.env,
    scopes: key.scopes,
    limitIds: [...new Set([key.limitId, ...record.ancestors.map((a) => a.limitId)])],
    lineage: [key.id, ...record.ancestors.map((a) => a.id)],
    expiresAt: key.expiresAt,
    limits: { rpm: key.rpm, dailyTokens: key.dailyTokens, maxUses: key.maxUses },
    usage: { uses: key.uses, tokensToday: tokensToday(key.tokenDay, key.tokensUsed, utcDay(now)) },
    endUser: resolveEndUser(ctx.request.endUser, key.endUser),
    boundEndUser: key.endUser,
  };
}

/** A key hashed under an older pepper is re-hashed under the newest once its secret is proven. */
async function upgradePepper(ctx: Context, keyId: string, version: number, secret: string): Promise<void> {
  const newest = ctx.config.peppers[0];
  if (!newest || newest.version === version) return;
  await withDatabaseTransaction(ctx.database, (tx) =>
    tx
      .update(apiKeys)
      .set({ secretHash: hashSecret(newest, secret), pepperVersion: newest.version })
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.pepperVersion, version))),
  );
  ctx.keyCache.invalidate(keyId);
}

function resolveEndUser(header: string | undefined, bound: string | null): string | null {
  if (header !== undefined && !END_USER_PATTERN.test(header)) {
    fail("BAD_REQUEST", "invalid_end_user", `x-end-user must match ${END_USER_PATTERN.source}.`);
  }
  // A credential is not a user name: one sent here is refused, never stored as the end user.
  if (header !== undefined && containsCredential(header)) {
    fail("BAD_REQUEST", "invalid_end_user", "x-end-user must not carry an API key or other credential.");
  }
  if (bound !== null && header !== undefined && header !== bound) {
    fail("FORBIDDEN", "end_user_mismatch", "This key is bound to a different end user.");
  }
  return bound ?? header ?? null;
}
