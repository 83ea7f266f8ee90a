// chatStream over raw HTTP: a refusal before the first event keeps its HTTP status (and
// Retry-After for a 429), while a stream that starts answers 200 with JSON lines.
import { afterEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/http.ts";
import { createTestKey, useTestServices } from "../helpers/services.ts";

const services = useTestServices();
let server: TestServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

function streamChat(url: string, key?: string) {
  return fetch(`${url}/trpc/chatStream?batch=1`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "trpc-accept": "application/jsonl",
      ...(key ? { authorization: `Bearer ${key}` } : {}),
    },
    body: JSON.stringify({ "0": { messages: [{ role: "user", content: "Stream me an answer." }] } }),
  });
}

describe("chatStream HTTP status", () => {
  it("keeps 401 and 403 for refusals before the first event", async () => {
    const s = services();
    server = await startTestServer(s);
    const missing = await streamChat(server.url);
    expect(missing.status).toBe(401);
    const body = (await missing.json()) as { error: { data: { reason: string; requestId: string } } };
    expect(body.error.data.reason).toBe("missing_key");
    expect(body.error.data.requestId).toBe(missing.headers.get("x-request-id"));

    const summarizeOnly = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const forbidden = await streamChat(server.url, summarizeOnly.plaintext);
    expect(forbidden.status).toBe(403);
    expect(
      ((await forbidden.json()) as { error: { data: { missingScopes: string[] } } }).error.data.missingScopes,
    ).toEqual(["endpoint:chat", "prompt-processing"]);
  });

  it("sets Retry-After on a rate-limited stream", async () => {
    const s = services();
    server = await startTestServer(s);
    const key = await createTestKey(s, { scopes: ["endpoint:chat", "prompt-processing"], rpm: 1 });
    const first = await streamChat(server.url, key.plaintext);
    expect(first.status).toBe(200);
    await first.text();
    const limited = await streamChat(server.url, key.plaintext);
    expect(limited.status).toBe(429);
    const body = (await limited.json()) as { error: { data: { retryAfterMs: number } } };
    expect(Number(limited.headers.get("retry-after"))).toBe(Math.ceil(body.error.data.retryAfterMs / 1000));
  });

  it("answers 200 with JSON lines once the stream starts", async () => {
    const s = services();
    server = await startTestServer(s);
    const key = await createTestKey(s, { scopes: ["endpoint:chat", "prompt-processing"] });
    const response = await streamChat(server.url, key.plaintext);
    expect(response.status).toBe(200);
    const lines = (await response.text()).trim().split("\n");
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.join("\n")).toContain('"type":"done"');
  });
});
