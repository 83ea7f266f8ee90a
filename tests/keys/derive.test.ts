// Derived keys: a subset of the parent's scopes, never admin or derive scopes, expiry and
// limits capped by the parent's, charged to the parent too, and disabled with the parent.
import { describe, expect, it } from "vitest";
import { callerFor, createTestKey, rememberIssued, useTestServices } from "../helpers/services.ts";
import { expectRefusal, outcomeOf, TestClock, testClockOf } from "../pipeline/support.ts";

const services = useTestServices(() => ({ clock: new TestClock() }));
const text = { text: "Derived keys are short-lived. They never exceed their parent." };
const PARENT_SCOPES = ["keys:derive", "endpoint:summarize-doc", "db:reports"];

async function parentKey(options: { rpm?: number; ttlSeconds?: number; dailyTokens?: number } = {}) {
  return createTestKey(services(), { scopes: PARENT_SCOPES, ...options });
}

async function derive(parent: string, input: Parameters<ReturnType<typeof callerFor>["keys"]["derive"]>[0]) {
  const derived = await callerFor(services(), parent).keys.derive(input);
  rememberIssued(derived.key);
  return derived;
}

describe("keys.derive", () => {
  it("mints a working child with a subset of the parent's scopes, 5 minutes by default", async () => {
    const s = services();
    const parent = await parentKey();
    const child = await derive(parent.plaintext, { scopes: ["endpoint:summarize-doc"] });
    expect(new Date(child.expiresAt).getTime()).toBe(testClockOf(s).now().getTime() + 300_000);
    expect(await outcomeOf(callerFor(s, child.key).summarizeDoc(text))).toBeNull();
    expect((await callerFor(s, child.key).keys.whoami()).scopes).toEqual(["endpoint:summarize-doc"]);
  });

  it("refuses scopes the parent lacks, naming them", async () => {
    const parent = await parentKey();
    const refusal = await expectRefusal(
      callerFor(services(), parent.plaintext).keys.derive({
        scopes: ["endpoint:summarize-doc", "endpoint:chat"],
      }),
      "FORBIDDEN",
      "missing_scope",
    );
    expect(refusal.details.missingScopes).toEqual(["endpoint:chat"]);
  });

  it("never grants admin or derive scopes, even when the parent holds them", async () => {
    const s = services();
    const parent = await createTestKey(s, { scopes: ["keys:derive", "admin:keys", "endpoint:chat"] });
    const refusal = await expectRefusal(
      callerFor(s, parent.plaintext).keys.derive({ scopes: ["admin:keys", "keys:derive", "endpoint:chat"] }),
      "FORBIDDEN",
      "missing_scope",
    );
    expect(refusal.details.missingScopes).toEqual(["admin:keys", "keys:derive"]);
  });

  it("caps expiry at the parent's and refuses limits above the parent's", async () => {
    const s = services();
    const parent = await parentKey({ ttlSeconds: 60, rpm: 10 });
    const child = await derive(parent.plaintext, { scopes: ["endpoint:summarize-doc"], ttlSeconds: 3600 });
    expect(new Date(child.expiresAt).getTime()).toBe(testClockOf(s).now().getTime() + 60_000);
    expect((await callerFor(s, child.key).keys.whoami()).limits.rpm).toBe(10);
    const refusal = await expectRefusal(
      callerFor(s, parent.plaintext).keys.derive({ scopes: ["endpoint:summarize-doc"], rpm: 11 }),
      "BAD_REQUEST",
      "invalid_input",
    );
    expect(refusal.details.fieldErrors?.rpm?.[0]).toContain("10");
  });

  it("a one-time child works once, then is used up", async () => {
    const s = services();
    const parent = await parentKey();
    const child = await derive(parent.plaintext, { scopes: ["endpoint:summarize-doc"], maxUses: 1 });
    expect(await outcomeOf(callerFor(s, child.key).summarizeDoc(text))).toBeNull();
    await expectRefusal(callerFor(s, child.key).summarizeDoc(text), "UNAUTHORIZED", "usage_exhausted");
  });

  it("charges the parent too: deriving never multiplies capacity", async () => {
    const s = services();
    const parent = await parentKey({ rpm: 3 });
    const first = await derive(parent.plaintext, { scopes: ["endpoint:summarize-doc"] });
    const second = await derive(parent.plaintext, { scopes: ["endpoint:summarize-doc"] });
    // The two derive calls used two of the parent's three slots.
    expect(await outcomeOf(callerFor(s, first.key).summarizeDoc(text))).toBeNull();
    await expectRefusal(callerFor(s, second.key).summarizeDoc(text), "TOO_MANY_REQUESTS", "rate_limited");
    await expectRefusal(
      callerFor(s, parent.plaintext).summarizeDoc(text),
      "TOO_MANY_REQUESTS",
      "rate_limited",
    );
  });

  it("is refused as soon as its parent is revoked or expires", async () => {
    const s = services();
    const parent = await parentKey({ ttlSeconds: 120 });
    const child = await derive(parent.plaintext, { scopes: ["endpoint:summarize-doc"] });
    expect(await outcomeOf(callerFor(s, child.key).summarizeDoc(text))).toBeNull();
    const admin = await createTestKey(s, { scopes: ["admin:keys"] });
    await callerFor(s, admin.plaintext).keys.revoke({ keyId: parent.keyId });
    await expectRefusal(callerFor(s, child.key).summarizeDoc(text), "UNAUTHORIZED", "revoked_key");

    const other = await parentKey({ ttlSeconds: 120 });
    const otherChild = await derive(other.plaintext, { scopes: ["endpoint:summarize-doc"], ttlSeconds: 60 });
    testClockOf(s).advance(61_000);
    await expectRefusal(callerFor(s, otherChild.key).summarizeDoc(text), "UNAUTHORIZED", "expired_key");
  });

  it("binds an end user: a different x-end-user is refused", async () => {
    const s = services();
    const parent = await parentKey();
    const child = await derive(parent.plaintext, { scopes: ["endpoint:summarize-doc"], endUser: "user-42" });
    expect(await outcomeOf(callerFor(s, child.key, { endUser: "user-42" }).summarizeDoc(text))).toBeNull();
    await expectRefusal(
      callerFor(s, child.key, { endUser: "user-7" }).summarizeDoc(text),
      "FORBIDDEN",
      "end_user_mismatch",
    );
    expect((await callerFor(s, child.key).keys.whoami()).endUser).toBe("user-42");
  });
});
