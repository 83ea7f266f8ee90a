// Key secrets are stored as HMAC-SHA256 under a versioned server pepper and compared in
// constant time. A database leak alone does not let anyone test guesses offline.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { VersionedSecret } from "../config.ts";

export function hashSecret(pepper: VersionedSecret, secret: string): string {
  return createHmac("sha256", pepper.key).update(secret).digest("hex");
}

// Unknown key ids still pay for one HMAC and one comparison, so timing does not tell
// whether a key id exists.
const DUMMY_HASH = "0".repeat(64);

export function secretMatches(
  peppers: readonly VersionedSecret[],
  stored: { hash: string; pepperVersion: number } | null,
  secret: string,
): boolean {
  const newest = peppers[0];
  if (!newest) throw new Error("no pepper configured");
  const pepper = (stored && peppers.find((p) => p.version === stored.pepperVersion)) ?? newest;
  const computed = Buffer.from(hashSecret(pepper, secret), "hex");
  const expected = Buffer.from(stored?.hash ?? DUMMY_HASH, "hex");
  const equal = expected.length === computed.length && timingSafeEqual(expected, computed);
  return equal && stored !== null && pepper.version === stored.pepperVersion;
}

/** A keyed fingerprint of a presented credential, for auditing refusals without storing it. */
export function fingerprint(auditKey: VersionedSecret, presented: string): string {
  return createHmac("sha256", auditKey.key).update(presented).digest("hex").slice(0, 16);
}
