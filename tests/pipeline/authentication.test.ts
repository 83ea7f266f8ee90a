// Authentication through the real pipeline: every way a presented key can be wrong maps to
// UNAUTHORIZED with the design's reason, key state is told only to the holder of the correct
// secret, and a malformed key is refused without any key lookup.
import { describe, expect, it } from "vitest";
import { generateKey } from "../../server/auth/key-format.ts";
import type { RunningServices } from "../../server/services.ts";
import {
  callerFor,
  createTestKey,
  createTestServices,
  rememberIssued,
  useTestServices,
} from "../helpers/services.ts";
import { expectRefusal, keyHolding, observedDatabase, outcomeOf, TestClock, testClockOf } from "./support.ts";

const services = useTestServices(() => ({ clock: new TestClock() }));

const TEXT = "Keys are checked first. Then scopes. Then limits.";
const summarizeWith = (s: RunningServices, key: string | undefined) =>
  callerFor(s, key).summarizeDoc({ text: TEXT });

/** The same key id with a different (well-formed, correctly checksummed) secret. */
function wrongSecretFor(keyId: string, env: "live" | "test" = "live"): string {
  const forged = generateKey(env, keyId).plaintext;
  rememberIssued(forged);
  return forged;
}

function flipLastChar(key: string): string {
  const last = key.at(-1);
  return key.slice(0, -1) + (last === "A" ? "B" : "A");
}

async function revoke(s: RunningServices, keyId: string) {
  const admin = await createTestKey(s, { scopes: ["admin:keys"] });
  await callerFor(s, admin.plaintext).keys.revoke({ keyId });
}

describe("authentication refusals", () => {
  it("no key -> missing_key", async () => {
    await expectRefusal(summarizeWith(services(), undefined), "UNAUTHORIZED", "missing_key");
  });

  it("not a Bearer credential, or garbage -> invalid_key", async () => {
    const s = services();
    const { plaintext } = await keyHolding(s, ["endpoint:summarize-doc"]);
    for (const authorization of [
      `Basic ${plaintext}`,
      "Bearer",
      "Bearer not-a-key",
      `Bearer ${plaintext}x`,
    ]) {
      await expectRefusal(
        callerFor(s, undefined, { authorization }).summarizeDoc({ text: TEXT }),
        "UNAUTHORIZED",
        "invalid_key",
      );
    }
  });

  it("bad checksum (last character flipped) -> invalid_key", async () => {
    const s = services();
    const { plaintext } = await keyHolding(s, ["endpoint:summarize-doc"]);
    await expectRefusal(summarizeWith(s, flipLastChar(plaintext)), "UNAUTHORIZED", "invalid_key");
    // The unflipped key works, so the refusal was the checksum's doing.
    expect(await outcomeOf(summarizeWith(s, plaintext))).toBeNull();
  });

  it("unknown key id -> invalid_key", async () => {
    const s = services();
    const stranger = generateKey("live").plaintext;
    rememberIssued(stranger);
    await expectRefusal(summarizeWith(s, stranger), "UNAUTHORIZED", "invalid_key");
  });

  it("wrong secret, or the wrong env, for an existing key id -> invalid_key", async () => {
    const s = services();
    const { keyId } = await keyHolding(s, ["endpoint:summarize-doc"]);
    await expectRefusal(summarizeWith(s, wrongSecretFor(keyId)), "UNAUTHORIZED", "invalid_key");
    await expectRefusal(summarizeWith(s, wrongSecretFor(keyId, "test")), "UNAUTHORIZED", "invalid_key");
  });

  it("expired key -> expired_key for the holder, invalid_key for anyone else", async () => {
    const s = services();
    const { keyId, plaintext } = await keyHolding(s, ["endpoint:summarize-doc"], { ttlSeconds: 60 });
    testClockOf(s).advance(59_000);
    expect(await outcomeOf(summarizeWith(s, plaintext))).toBeNull();
    testClockOf(s).advance(1_000);
    await expectRefusal(summarizeWith(s, plaintext), "UNAUTHORIZED", "expired_key");
    await expectRefusal(summarizeWith(s, wrongSecretFor(keyId)), "UNAUTHORIZED", "invalid_key");
  });

  it("revoked key -> revoked_key for the holder, invalid_key for anyone else", async () => {
    const s = services();
    const { keyId, plaintext } = await keyHolding(s, ["endpoint:summarize-doc"]);
    await revoke(s, keyId);
    await expectRefusal(summarizeWith(s, plaintext), "UNAUTHORIZED", "revoked_key");
    await expectRefusal(callerFor(s, plaintext).keys.whoami(), "UNAUTHORIZED", "revoked_key");
    await expectRefusal(summarizeWith(s, wrongSecretFor(keyId)), "UNAUTHORIZED", "invalid_key");
  });

  it("used-up one-time key -> usage_exhausted for the holder, invalid_key for anyone else", async () => {
    const s = services();
    const { keyId, plaintext } = await keyHolding(s, ["endpoint:summarize-doc"], { maxUses: 1 });
    expect(await outcomeOf(summarizeWith(s, plaintext))).toBeNull();
    await expectRefusal(summarizeWith(s, plaintext), "UNAUTHORIZED", "usage_exhausted");
    await expectRefusal(summarizeWith(s, wrongSecretFor(keyId)), "UNAUTHORIZED", "invalid_key");
  });

  it("keys.whoami costs a one-time key no use; once used up, the key is refused", async () => {
    const s = services();
    const { keyId, plaintext } = await keyHolding(s, ["endpoint:summarize-doc"], { maxUses: 1 });
    const api = callerFor(s, plaintext);
    // whoami is built with admit:false: asking twice leaves the one use in place.
    await api.keys.whoami();
    const before = await api.keys.whoami();
    expect({ keyId: before.keyId, uses: before.usage.uses, maxUses: before.limits.maxUses }).toEqual({
      keyId,
      uses: 0,
      maxUses: 1,
    });
    expect(await outcomeOf(api.summarizeDoc({ text: TEXT }))).toBeNull();
    // Admission is authoritative for uses, whatever a process has cached about the key.
    await expectRefusal(api.summarizeDoc({ text: TEXT }), "UNAUTHORIZED", "usage_exhausted");
    // Another process (same secrets, nothing cached) loading the key now refuses it even for whoami.
    const other = await createTestServices({
      config: { peppers: s.config.peppers, auditKey: s.config.auditKey },
    });
    try {
      await expectRefusal(callerFor(other, plaintext).keys.whoami(), "UNAUTHORIZED", "usage_exhausted");
    } finally {
      await other.close();
    }
  });

  it("invalid x-end-user -> BAD_REQUEST invalid_end_user; a valid one is carried", async () => {
    const s = services();
    const { plaintext } = await keyHolding(s, ["endpoint:summarize-doc"]);
    for (const endUser of ["", "has space", "a/b", "x".repeat(129), "naïve"]) {
      await expectRefusal(
        callerFor(s, plaintext, { endUser }).summarizeDoc({ text: TEXT }),
        "BAD_REQUEST",
        "invalid_end_user",
      );
    }
    const who = await callerFor(s, plaintext, { endUser: "user_42@example.com" }).keys.whoami();
    expect(who.endUser).toBe("user_42@example.com");
  });
});

describe("a malformed key causes no key lookup", () => {
  /** Runs a call against the same database through an observed handle; counts api_keys reads. */
  async function keyLookups(s: RunningServices, key: string): Promise<{ lookups: number; reason?: string }> {
    let lookups = 0;
    const database = observedDatabase(s.database, (query) => {
      if (/\bfrom\s+"?api_keys"?/i.test(query)) lookups += 1;
    });
    const error = await outcomeOf(callerFor({ ...s, database }, key).summarizeDoc({ text: TEXT }));
    return { lookups, reason: error?.reason };
  }

  it("counts no lookup for malformed keys, one for well-formed ones", async () => {
    const s = services();
    // Never presented before, so its record is not in the key cache: a zero is the format check's.
    const { keyId, plaintext } = await keyHolding(s, ["endpoint:summarize-doc"]);
    for (const malformed of [
      flipLastChar(plaintext),
      plaintext.slice(0, -1),
      plaintext.replace("sg_live_", "sg_prod_"),
      `${plaintext.slice(0, 20)}-${plaintext.slice(21)}`,
      "sk-proj-0123456789",
    ]) {
      expect(await keyLookups(s, malformed)).toEqual({ lookups: 0, reason: "invalid_key" });
    }
    // Positive controls: the observer sees the lookup of a well-formed key; had a malformed
    // attempt loaded this key id, the cache would have answered this one without a lookup.
    expect(await keyLookups(s, wrongSecretFor(keyId))).toEqual({ lookups: 1, reason: "invalid_key" });
    const stranger = generateKey("live").plaintext;
    rememberIssued(stranger);
    expect(await keyLookups(s, stranger)).toEqual({ lookups: 1, reason: "invalid_key" });
  });
});
