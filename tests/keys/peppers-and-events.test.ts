// Pepper rotation (older peppers verify and are re-hashed on use; the newest hashes new keys),
// key lifecycle events in the audit log, and Retry-After over HTTP.
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { apiKeys, auditLog } from "../../db/index.ts";
import { loadConfig } from "../../server/config.ts";
import { startTestServer } from "../helpers/http.ts";
import {
  callerFor,
  createTestKey,
  createTestServices,
  rememberIssued,
  useTestServices,
} from "../helpers/services.ts";
import { outcomeOf } from "../pipeline/support.ts";

const v1 = { version: 1, key: randomBytes(32) };
const v2 = { version: 2, key: randomBytes(32) };
const services = useTestServices({ config: { peppers: [v1] } });
const text = { text: "Peppers rotate. Keys keep working." };

describe("pepper rotation", () => {
  it("verifies keys hashed under an older pepper and re-hashes them under the newest", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const rotated = await createTestServices({ config: { peppers: [v2, v1] } });
    try {
      expect(await outcomeOf(callerFor(rotated, key.plaintext).summarizeDoc(text))).toBeNull();
      const [row] = await s.database.db.select().from(apiKeys).where(eq(apiKeys.id, key.keyId));
      expect(row?.pepperVersion).toBe(2);
      // Once re-hashed, the old pepper can be retired.
      const retired = await createTestServices({ config: { peppers: [v2] } });
      expect(await outcomeOf(callerFor(retired, key.plaintext).summarizeDoc(text))).toBeNull();
      await retired.close();
    } finally {
      await rotated.close();
    }
  });

  it("reads versioned peppers from a file, newest first", () => {
    const dir = mkdtempSync(join(tmpdir(), "sg-pepper-"));
    const file = join(dir, "pepper");
    const b64 = (bytes: Buffer) => bytes.toString("base64");
    writeFileSync(file, `2:${b64(v2.key)},1:${b64(v1.key)}\n`);
    const config = loadConfig({
      DATABASE_URL: "postgres://localhost/x",
      SCOPEGATE_PEPPER_FILE: file,
      SCOPEGATE_AUDIT_KEY: b64(randomBytes(32)),
      SCOPEGATE_AUDIT_SIGNING_KEY: b64(randomBytes(32)),
      SCOPEGATE_MODEL_PROVIDER: "offline",
    });
    expect(config.peppers.map((p) => p.version)).toEqual([2, 1]);
    expect(config.peppers[0]?.key.equals(v2.key)).toBe(true);
    expect(() =>
      loadConfig({ DATABASE_URL: "postgres://localhost/x", SCOPEGATE_MODEL_PROVIDER: "offline" }),
    ).toThrow(/SCOPEGATE_PEPPER/);
  });
});

describe("key lifecycle events", () => {
  it("records create, derive, set_limits, rotate and revoke: by whom, to which key", async () => {
    const s = services();
    const admin = await createTestKey(s, { scopes: ["admin:keys", "keys:derive", "endpoint:chat"] });
    const api = callerFor(s, admin.plaintext);
    const created = await api.keys.create({ name: "k", scopes: ["endpoint:chat"] });
    rememberIssued(created.key);
    const derived = await api.keys.derive({ scopes: ["endpoint:chat"] });
    rememberIssued(derived.key);
    await api.keys.setLimits({ keyId: created.keyId, rpm: 5 });
    const rotated = await api.keys.rotate({ keyId: created.keyId, graceSeconds: 0 });
    rememberIssued(rotated.key);
    await api.keys.revoke({ keyId: rotated.keyId });

    const events = (await s.database.db.select().from(auditLog)).filter(
      (r) => r.phase === "event" && r.keyId === admin.keyId,
    );
    expect(events.map((e) => [e.reason, (e.details as { targetKeyId?: string }).targetKeyId])).toEqual([
      ["create", created.keyId],
      ["derive", derived.keyId],
      ["set_limits", created.keyId],
      ["rotate", created.keyId],
      ["revoke", rotated.keyId],
    ]);
    for (const event of events) expect(event.callId).toMatch(/^call_/);
  });
});

describe("Retry-After over HTTP", () => {
  it("is set when every error is a 429, from retryAfterMs", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"], rpm: 1 });
    const server = await startTestServer(s);
    try {
      const post = () =>
        fetch(`${server.url}/trpc/summarizeDoc`, {
          method: "POST",
          headers: { authorization: `Bearer ${key.plaintext}`, "content-type": "application/json" },
          body: JSON.stringify(text),
        });
      expect((await post()).status).toBe(200);
      const limited = await post();
      expect(limited.status).toBe(429);
      const body = (await limited.json()) as { error: { data: { reason: string; retryAfterMs: number } } };
      expect(body.error.data.reason).toBe("rate_limited");
      expect(Number(limited.headers.get("retry-after"))).toBe(Math.ceil(body.error.data.retryAfterMs / 1000));
    } finally {
      await server.close();
    }
  });
});
