// The OpenAI door shares the HTTP layer's CORS policy: an allowed origin gets its preflight and
// the CORS headers on answers and refusals (with x-request-id exposed); any other origin none.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/http.ts";
import { createTestKey, useTestServices } from "../helpers/services.ts";

const ORIGIN = "https://app.example";
const services = useTestServices({ config: { corsOrigins: [ORIGIN] } });
let server: TestServer;
beforeEach(async () => {
  server = await startTestServer(services());
});
afterEach(() => server.close());

describe("CORS on /v1", () => {
  it("answers an allowed origin's preflight and calls, and nobody else's", async () => {
    const url = `${server.url}/v1/chat/completions`;
    const preflight = await fetch(url, {
      method: "OPTIONS",
      headers: { origin: ORIGIN, "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization");

    const key = await createTestKey(services(), { scopes: ["endpoint:summarize-doc"] });
    const refused = await fetch(url, {
      method: "POST",
      headers: {
        origin: ORIGIN,
        authorization: `Bearer ${key.plaintext}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ model: "offline", messages: [{ role: "user", content: "Hi" }] }),
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(refused.headers.get("access-control-expose-headers")).toContain("x-request-id");
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("missing_scope");

    const other = await fetch(`${server.url}/v1/models`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("lets a browser's openai SDK send its own headers to /v1, and only there", async () => {
    // What openai v6 adds to a chat completion request from a browser (dangerouslyAllowBrowser).
    const sdkHeaders = [
      "x-stainless-lang",
      "x-stainless-package-version",
      "x-stainless-os",
      "x-stainless-arch",
      "x-stainless-runtime",
      "x-stainless-runtime-version",
      "x-stainless-retry-count",
      "x-stainless-timeout",
    ];
    const preflight = (path: string) =>
      fetch(`${server.url}${path}`, {
        method: "OPTIONS",
        headers: {
          origin: ORIGIN,
          "access-control-request-method": "POST",
          "access-control-request-headers": ["authorization", "content-type", ...sdkHeaders].join(", "),
        },
      });
    const door = await preflight("/v1/chat/completions");
    const allowed = (door.headers.get("access-control-allow-headers") ?? "").split(/,\s*/);
    for (const header of sdkHeaders) expect(allowed).toContain(header);
    const trpc = await preflight("/trpc/chat");
    expect(trpc.headers.get("access-control-allow-headers")).not.toContain("x-stainless");
  });
});
