// Rate-limited calls over HTTP: 429 `rate_limited` with `data.retryAfterMs`, and a Retry-After
// header only when every error in the response is a 429 (a batch mixing 429 and 403 has none).
import { describe, expect, it } from "vitest";
import { useTestServer } from "../helpers/http.ts";
import { createTestKey, useTestServices } from "../helpers/services.ts";
import {
  bearer,
  type EnvelopeError,
  expectEnvelope,
  expectErrorResponse,
  postBatch,
  send,
} from "./http-helpers.ts";

const services = useTestServices();
const testServer = useTestServer(services);

const TEXT = { text: "Rate limits protect the model budget. One call a minute here." };
const CHAT = { messages: [{ role: "user", content: "hello" }] };
type BatchItem = { result?: { data: unknown }; error?: EnvelopeError };

/** A key allowed one call a minute, already spent. */
async function spentKey() {
  const key = await createTestKey(services(), { scopes: ["endpoint:summarize-doc"], rpm: 1 });
  const first = await send(`${testServer().url}/trpc/summarizeDoc`, {
    method: "POST",
    headers: bearer(key.plaintext),
    body: JSON.stringify(TEXT),
  });
  expect(first.status, first.text).toBe(200);
  return key;
}

describe("Retry-After", () => {
  it("answers a rate-limited call 429 with retryAfterMs and a Retry-After header in whole seconds", async () => {
    const key = await spentKey();
    const result = await send(`${testServer().url}/trpc/summarizeDoc`, {
      method: "POST",
      headers: bearer(key.plaintext),
      body: JSON.stringify(TEXT),
    });
    const error = expectErrorResponse(result, 429, "rate_limited");
    const retryAfterMs = error.data.retryAfterMs as number;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(result.headers.get("retry-after")).toBe(String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  });

  it("sets Retry-After on a batch whose only errors are 429s", async () => {
    const key = await spentKey();
    const result = await postBatch(
      testServer().url,
      ["summarizeDoc", "summarizeDoc"],
      [TEXT, TEXT],
      key.plaintext,
    );
    expect(result.status, result.text).toBe(429);
    const items = result.json as BatchItem[];
    for (const item of items) expectEnvelope(result, item.error, 429, "rate_limited");
    expect(Number(result.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("sets no Retry-After when a 429 shares the response with another error", async () => {
    const key = await spentKey();
    const result = await postBatch(testServer().url, ["summarizeDoc", "chat"], [TEXT, CHAT], key.plaintext);
    const [limited, forbidden] = result.json as BatchItem[];
    expectEnvelope(result, limited?.error, 429, "rate_limited");
    expectEnvelope(result, forbidden?.error, 403, "missing_scope");
    expect(result.headers.get("retry-after")).toBeNull();
  });
});
