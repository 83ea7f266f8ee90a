// The Ed25519 checkpoint signing key: parsing it from configuration, generating it in embedded
// mode, and signing / verifying checkpoint bodies. Verification needs only public keys.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";

// DER prefixes that wrap a raw 32-byte Ed25519 seed (PKCS#8) or public key (SPKI), so keys can
// travel as plain base64 like the other secrets.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Parses base64 of a 32-byte seed, or a PKCS#8 PEM. Throws a plain Error the caller names. */
export function parseSigningKey(text: string): SigningKey {
  const trimmed = text.trim();
  let privateKey: KeyObject;
  if (trimmed.startsWith("-----BEGIN")) {
    privateKey = createPrivateKey(trimmed);
  } else {
    const seed = Buffer.from(trimmed, "base64");
    if (seed.length !== 32) throw new Error("expected base64 of a 32-byte Ed25519 seed, or a PEM key");
    privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  }
  if (privateKey.asymmetricKeyType !== "ed25519") throw new Error("must be an Ed25519 key");
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** Parses base64 of a raw 32-byte Ed25519 public key, or an SPKI PEM. */
export function parsePublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  const key = trimmed.startsWith("-----BEGIN")
    ? createPublicKey(trimmed)
    : createPublicKey({ key: Buffer.concat([SPKI_PREFIX, rawBytes(trimmed)]), format: "der", type: "spki" });
  if (key.asymmetricKeyType !== "ed25519") throw new Error("must be an Ed25519 public key");
  return key;
}

function rawBytes(base64: string): Buffer {
  const bytes = Buffer.from(base64, "base64");
  if (bytes.length !== 32) throw new Error("expected base64 of a 32-byte Ed25519 public key");
  return bytes;
}

/** A fresh key as the base64 seed the configuration accepts. */
export function generateSigningKeyText(): string {
  const { privateKey } = generateKeyPairSync("ed25519");
  const der = privateKey.export({ format: "der", type: "pkcs8" });
  return der.subarray(PKCS8_PREFIX.length).toString("base64");
}

export function publicKeyText(key: KeyObject): string {
  return key.export({ format: "der", type: "spki" }).subarray(SPKI_PREFIX.length).toString("base64");
}

/** A short id of a public key, stored in each checkpoint so a verifier picks the right key. */
export function publicKeyId(key: KeyObject): string {
  return createHash("sha256").update(publicKeyText(key)).digest("hex").slice(0, 16);
}

export function signBody(key: SigningKey, body: string): string {
  return sign(null, Buffer.from(body), key.privateKey).toString("base64");
}

export function verifyBody(key: KeyObject, body: string, signature: string): boolean {
  try {
    return verify(null, Buffer.from(body), key, Buffer.from(signature, "base64"));
  } catch {
    return false;
  }
}
