// HTTP batches against a real server: each call authorized, limited and audited on its own;
// a mixed batch answers 207; the batch bound is enforced before tRPC runs and audited once.
import { describe, expect, it } from "vitest";
import { useTestServer } from "../helpers/http.ts";
import { auditRows, createTestKey, useTestServices } from "../helpers/services.ts";
import { type EnvelopeError, expectEnvelope, expectErrorResponse, postBatch } from "./http-helpers.ts";

const services = useTestServices();
const testServer = useTestServer(services);

const TEXT = "Scopegate checks every key. Keys carry scopes. A summarize key cannot chat.";

type BatchItem = { result?: { data: unknown }; error?: EnvelopeError };

async function finalsOf(requestId: string | null) {
  const s = services();
  await s.audit.drain();
  return (await auditRows(s.database)).filter((r) => r.phase === "final" && r.requestId === requestId);
}

describe("HTTP batch", () => {
  it("answers a batch with one unscoped call 207: two results, one FORBIDDEN, three final records", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const chat = { messages: [{ role: "user", content: "hello" }] };
    const result = await postBatch(
      testServer().url,
      ["summarizeDoc", "summarizeDoc", "chat"],
      [{ text: TEXT }, { text: TEXT, maxWords: 5 }, chat],
      key.plaintext,
    );

    expect(result.status, result.text).toBe(207);
    const items = result.json as BatchItem[];
    expect(items).toHaveLength(3);
    const [first, second, third] = items;
    for (const ok of [first, second]) {
      expect(ok?.error).toBeUndefined();
      expect(ok?.result?.data).toMatchObject({ summary: expect.stringMatching(/\S/), model: "offline" });
    }
    expect(third?.result).toBeUndefined();
    const forbidden = expectEnvelope(result, third?.error, 403, "missing_scope");
    expect(forbidden.data.code).toBe("FORBIDDEN");
    expect(forbidden.data.missingScopes).toEqual(["endpoint:chat", "prompt-processing"]);
    // Retry-After belongs only to responses whose every error is a 429.
    expect(result.headers.get("retry-after")).toBeNull();

    const requestId = result.headers.get("x-request-id");
    const finals = await finalsOf(requestId);
    expect(finals).toHaveLength(3);
    expect(new Set(finals.map((r) => r.callId)).size).toBe(3);
    expect(finals.every((r) => r.keyId === key.keyId)).toBe(true);
    expect(finals.map((r) => [r.procedure, r.outcome, r.reason]).sort()).toEqual([
      ["chat", "denied", "missing_scope"],
      ["summarizeDoc", "ok", null],
      ["summarizeDoc", "ok", null],
    ]);
    // The two admitted calls each have their admission record on their own call id.
    const admitted = (await auditRows(s.database)).filter(
      (r) => r.phase === "admitted" && r.requestId === requestId,
    );
    expect(admitted.map((r) => r.callId).sort()).toEqual(
      finals
        .filter((r) => r.outcome === "ok")
        .map((r) => r.callId)
        .sort(),
    );
  });

  it("runs 10 calls in one POST: 10 results and 10 final records", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const result = await postBatch(
      testServer().url,
      Array(10).fill("summarizeDoc"),
      Array.from({ length: 10 }, (_, i) => ({ text: `${TEXT} Call number ${i}.` })),
      key.plaintext,
    );
    expect(result.status, result.text).toBe(200);
    const items = result.json as BatchItem[];
    expect(items).toHaveLength(10);
    expect(items.every((item) => item.result !== undefined && item.error === undefined)).toBe(true);
    const finals = await finalsOf(result.headers.get("x-request-id"));
    expect(finals).toHaveLength(10);
    expect(new Set(finals.map((r) => r.callId)).size).toBe(10);
    expect(finals.every((r) => r.outcome === "ok" && r.procedure === "summarizeDoc")).toBe(true);
  });

  it("refuses 51 calls with batch_too_large, runs none of them, and writes one final record", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const result = await postBatch(
      testServer().url,
      Array(51).fill("summarizeDoc"),
      Array.from({ length: 51 }, () => ({ text: TEXT })),
      key.plaintext,
    );
    const error = expectErrorResponse(result, 400, "batch_too_large");
    expect(error.data.code).toBe("BAD_REQUEST");
    const requestId = result.headers.get("x-request-id");
    const finals = await finalsOf(requestId);
    expect(finals).toHaveLength(1);
    expect(finals[0]?.outcome).toBe("denied");
    expect(finals[0]?.reason).toBe("batch_too_large");
    const rows = await auditRows(s.database);
    expect(rows.filter((r) => r.requestId === requestId)).toHaveLength(1);
    expect(rows.some((r) => r.phase === "admitted")).toBe(false);
  });

  it("accepts exactly 50 calls", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const result = await postBatch(
      testServer().url,
      Array(50).fill("summarizeDoc"),
      Array.from({ length: 50 }, () => ({ text: TEXT })),
      key.plaintext,
    );
    expect(result.status, result.text).toBe(200);
    expect(result.json as BatchItem[]).toHaveLength(50);
    expect(await finalsOf(result.headers.get("x-request-id"))).toHaveLength(50);
  });
});
