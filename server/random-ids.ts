// Unguessable public identifiers (request and call ids, prompt boundaries) cut from a batch of
// CSPRNG bytes: one randomFillSync per 4 KB rather than one per id, as crypto.randomUUID does
// internally; every call mints several. Not for secrets: key material uses its own draws.
import { randomFillSync } from "node:crypto";

const pool = Buffer.alloc(4096);
let offset = pool.length;

export function randomId(bytes: number, encoding: "hex" | "base64url"): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const text = pool.toString(encoding, offset, offset + bytes);
  offset += bytes;
  return text;
}
