// Brute-force protection: failures from one address are slowed, then refused; the correct
// key from the same address is never slowed or refused, and other addresses are unaffected.
import { describe, expect, it } from "vitest";
import { auditLog } from "../../db/index.ts";
import { generateKey } from "../../server/auth/key-format.ts";
import type { ThrottleSettings } from "../../server/auth/throttle.ts";
import { callerFor, createTestKey, useTestServices } from "../helpers/services.ts";
import { expectRefusal, outcomeOf } from "../pipeline/support.ts";

// Real thresholds, tiny delays: the test checks the policy, not the wall clock.
const throttle: ThrottleSettings = {
  windowMs: 60_000,
  slowAfter: 5,
  refuseAfter: 20,
  delayStepMs: 1,
  maxDelayMs: 5,
  lockoutMs: 60_000,
};
const services = useTestServices({ throttle });
const text = { text: "Only the right secret gets through." };

/** The same key id with another secret and a valid checksum: a real guess, looked up and compared. */
function wrongSecret(plaintext: string): string {
  const keyId = plaintext.split("_")[2] ?? "";
  return generateKey("live", keyId).plaintext;
}

describe("failed authentications per address", () => {
  it("throttles 50 wrong secrets from one address, while the correct key still works", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const attacker = { clientAddress: "198.51.100.9" };
    const reasons: string[] = [];
    for (let i = 0; i < 50; i++) {
      const error = await outcomeOf(callerFor(s, wrongSecret(key.plaintext), attacker).summarizeDoc(text));
      reasons.push(error?.reason ?? "ok");
    }
    expect(reasons.slice(0, 20).every((r) => r === "invalid_key")).toBe(true);
    expect(reasons.slice(20).every((r) => r === "auth_throttled")).toBe(true);

    // The holder of the correct secret, from the very same address, is neither slowed nor refused.
    expect(await outcomeOf(callerFor(s, key.plaintext, attacker).summarizeDoc(text))).toBeNull();
    // Another address is unaffected.
    await expectRefusal(
      callerFor(s, wrongSecret(key.plaintext), { clientAddress: "198.51.100.10" }).summarizeDoc(text),
      "UNAUTHORIZED",
      "invalid_key",
    );
  });

  it("answers auth_throttled with retryAfterMs and audits the refusals (floods aggregated)", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const attacker = { clientAddress: "198.51.100.11" };
    for (let i = 0; i < 21; i++)
      await outcomeOf(callerFor(s, wrongSecret(key.plaintext), attacker).summarizeDoc(text));
    const refusal = await expectRefusal(
      callerFor(s, wrongSecret(key.plaintext), attacker).summarizeDoc(text),
      "TOO_MANY_REQUESTS",
      "auth_throttled",
    );
    expect(
      (refusal as unknown as { details: { retryAfterMs: number } }).details.retryAfterMs,
    ).toBeGreaterThan(0);
    await s.close();
    const rows = (await s.database.db.select().from(auditLog)).filter(
      (r) => r.phase === "final" && r.clientAddress === attacker.clientAddress,
    );
    const total = rows.reduce((sum, r) => sum + r.count, 0);
    expect(total).toBe(22);
    expect(rows.filter((r) => r.count === 1)).toHaveLength(20);
  });
});
