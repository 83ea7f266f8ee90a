// The API key format `sg_<env>_<keyId>_<secret><checksum>`: a public 12-character id, a
// 32-character base62 secret (~190 bits) and a CRC32 checksum so a mistyped or truncated key
// is refused without a database lookup and leaked keys are recognisable to secret scanners.
import { randomInt } from "node:crypto";
import { crc32 } from "node:zlib";

export type KeyEnv = "live" | "test";

export interface ParsedKey {
  env: KeyEnv;
  keyId: string;
  secret: string;
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const KEY_ID_LENGTH = 12;
const SECRET_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
export const KEY_PATTERN = /^sg_(live|test)_([0-9A-Za-z]{12})_([0-9A-Za-z]{38})$/;
export const KEY_ID_PATTERN = /^[0-9A-Za-z]{12}$/;

function randomBase62(length: number): string {
  let out = "";
  // randomInt is unbiased (rejection sampling), unlike bytes % 62.
  for (let i = 0; i < length; i++) out += BASE62[randomInt(62)];
  return out;
}

function checksum(prefix: string): string {
  let value = crc32(prefix);
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

export function newKeyId(): string {
  return randomBase62(KEY_ID_LENGTH);
}

/** A fresh key; the plaintext is returned to the caller once and never stored. */
export function generateKey(
  env: KeyEnv,
  keyId = newKeyId(),
): { plaintext: string; keyId: string; secret: string } {
  const secret = randomBase62(SECRET_LENGTH);
  const prefix = `sg_${env}_${keyId}_${secret}`;
  return { plaintext: prefix + checksum(prefix), keyId, secret };
}

/** Format and checksum only: no lookup, no secret comparison. */
export function parseKey(presented: string): ParsedKey | null {
  const match = KEY_PATTERN.exec(presented);
  if (!match) return null;
  const [, env, keyId, tail] = match;
  if (!env || !keyId || !tail) return null;
  const secret = tail.slice(0, SECRET_LENGTH);
  const prefix = `sg_${env}_${keyId}_${secret}`;
  if (checksum(prefix) !== tail.slice(SECRET_LENGTH)) return null;
  return { env: env as KeyEnv, keyId, secret };
}
