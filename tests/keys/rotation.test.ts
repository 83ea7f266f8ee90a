// Rotation: a new secret with the same scopes and shared limits; the old key works for the
// grace period (never past its own expiry), then is refused as expired.
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { apiKeys } from "../../db/index.ts";
import { callerFor, createTestKey, rememberIssued, useTestServices } from "../helpers/services.ts";
import { expectRefusal, outcomeOf, TestClock, testClockOf } from "../pipeline/support.ts";

const services = useTestServices(() => ({ clock: new TestClock() }));
const text = { text: "Rotation keeps scopes. The old key fades after the grace period." };

async function rotate(
  keyId: string,
  graceSeconds?: number,
  adminScopes = ["admin:keys", "endpoint:summarize-doc"],
) {
  const s = services();
  const admin = await createTestKey(s, { scopes: adminScopes });
  const rotated = await callerFor(s, admin.plaintext).keys.rotate({ keyId, graceSeconds });
  rememberIssued(rotated.key);
  return rotated;
}

describe("keys.rotate", () => {
  it("keeps the old key during grace, refuses it after, and the new key works", async () => {
    const s = services();
    const old = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const rotated = await rotate(old.keyId, 60);
    expect(rotated.rotatedFromId).toBe(old.keyId);

    expect(await outcomeOf(callerFor(s, old.plaintext).summarizeDoc(text))).toBeNull();
    expect(await outcomeOf(callerFor(s, rotated.key).summarizeDoc(text))).toBeNull();

    testClockOf(s).advance(61_000);
    await expectRefusal(callerFor(s, old.plaintext).summarizeDoc(text), "UNAUTHORIZED", "expired_key");
    expect(await outcomeOf(callerFor(s, rotated.key).summarizeDoc(text))).toBeNull();
    const who = await callerFor(s, rotated.key).keys.whoami();
    expect(who.scopes).toEqual(["endpoint:summarize-doc"]);
  });

  it("shares the lineage's counters: the rate limit spans the old and the new key", async () => {
    const s = services();
    const old = await createTestKey(s, { scopes: ["endpoint:summarize-doc"], rpm: 3 });
    expect(await outcomeOf(callerFor(s, old.plaintext).summarizeDoc(text))).toBeNull();
    const rotated = await rotate(old.keyId, 600);
    expect(await outcomeOf(callerFor(s, old.plaintext).summarizeDoc(text))).toBeNull();
    expect(await outcomeOf(callerFor(s, rotated.key).summarizeDoc(text))).toBeNull();
    await expectRefusal(callerFor(s, rotated.key).summarizeDoc(text), "TOO_MANY_REQUESTS", "rate_limited");
    // whoami takes a rate slot too: it answers once the bucket has refilled.
    await expectRefusal(callerFor(s, rotated.key).keys.whoami(), "TOO_MANY_REQUESTS", "rate_limited");
    testClockOf(s).advance(20_000);
    const shown = await callerFor(s, rotated.key).keys.whoami();
    expect(shown.usage.uses).toBe(3);
    expect(shown.limits.rpm).toBe(3);
  });

  it("never extends the old key past its own expiry", async () => {
    const s = services();
    const old = await createTestKey(s, { scopes: ["endpoint:summarize-doc"], ttlSeconds: 30 });
    const rotated = await rotate(old.keyId, 3600);
    const [row] = await s.database.db.select().from(apiKeys).where(eq(apiKeys.id, old.keyId));
    expect(row?.expiresAt?.getTime()).toBe(testClockOf(s).now().getTime() + 30_000);
    expect(rotated.oldKeyExpiresAt).toBe(row?.expiresAt?.toISOString());
    // The new key inherits the lineage's expiry.
    expect(rotated.expiresAt).toBe(row?.expiresAt?.toISOString());
  });

  it("rotates a key once: a retried rotation is a conflict naming the successor", async () => {
    const s = services();
    const old = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const first = await rotate(old.keyId, 60);
    const admin = await createTestKey(s, { scopes: ["admin:keys", "endpoint:summarize-doc"] });
    const again = await expectRefusal(
      callerFor(s, admin.plaintext).keys.rotate({ keyId: old.keyId }),
      "CONFLICT",
      "already_rotated",
    );
    expect(again.message).toContain(first.keyId);
    const successors = await s.database.db.select().from(apiKeys).where(eq(apiKeys.rotatedFromId, old.keyId));
    expect(successors).toHaveLength(1);
  });

  it("refuses an admin that lacks any of the key's scopes, creating nothing", async () => {
    const s = services();
    const payments = await createTestKey(s, { scopes: ["endpoint:chat", "tool:external-payment-api"] });
    const admin = await createTestKey(s, { scopes: ["admin:keys", "endpoint:chat"] });
    const refusal = await expectRefusal(
      callerFor(s, admin.plaintext).keys.rotate({ keyId: payments.keyId }),
      "FORBIDDEN",
      "missing_scope",
    );
    expect(refusal.details.missingScopes).toEqual(["tool:external-payment-api"]);
    const successors = await s.database.db
      .select()
      .from(apiKeys)
      .where(eq(apiKeys.rotatedFromId, payments.keyId));
    expect(successors).toHaveLength(0);
  });

  it("records a rotate event naming both keys, without the new key", async () => {
    const s = services();
    const old = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const rotated = await rotate(old.keyId, 60);
    const rows = await s.database.db.select().from((await import("../../db/index.ts")).auditLog);
    const event = rows.find((r) => r.phase === "event" && r.reason === "rotate");
    expect(event?.details).toMatchObject({
      targetKeyId: old.keyId,
      newKeyId: rotated.keyId,
      graceSeconds: 60,
    });
    expect(JSON.stringify(rows)).not.toContain(rotated.key);
  });
});
