// Model provider failures seen over HTTP: the design's codes and reasons, and none of the
// provider's internal message, stack or address in the body. The provider is a stand-in for the
// external service (the boundary), not for any of our modules.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CompletionRequest, ModelProvider } from "../../server/model/provider.ts";
import { startTestServer, type TestServer } from "../helpers/http.ts";
import { auditRows, createTestKey, useTestServices } from "../helpers/services.ts";
import { bearer, expectErrorResponse, send } from "./http-helpers.ts";

const INTERNAL = "connect ECONNREFUSED 10.0.0.7:8443 at Provider.complete (/srv/internal/provider.ts:41:7)";

const failing: ModelProvider = {
  name: "failing",
  complete: async () => {
    throw new Error(INTERNAL);
  },
};

// Answers only when aborted, so the configured timeout decides.
const hanging: ModelProvider = {
  name: "hanging",
  complete: (request: CompletionRequest) =>
    new Promise((_, reject) => {
      request.signal?.addEventListener("abort", () => reject(new Error(INTERNAL)));
    }),
};

// The services are built before each test; the provider in use is chosen inside the test.
let current: ModelProvider = failing;
const switching: ModelProvider = { name: "switching", complete: (request) => current.complete(request) };
const services = useTestServices({
  model: switching,
  config: {
    model: {
      provider: "offline",
      timeoutMs: 200,
      name: "offline",
      openaiApiKey: undefined,
      openaiBaseUrl: undefined,
    },
  },
});
let server: TestServer;

beforeEach(async () => {
  server = await startTestServer(services());
});
afterEach(async () => {
  await server.close();
});

async function summarize() {
  const key = await createTestKey(services(), { scopes: ["endpoint:summarize-doc"] });
  return send(`${server.url}/trpc/summarizeDoc`, {
    method: "POST",
    headers: bearer(key.plaintext),
    body: JSON.stringify({ text: "The provider is down today. Nothing else happened." }),
  });
}

describe("model provider failures over HTTP", () => {
  it("answers a provider error with 502 model_error and no internal detail", async () => {
    current = failing;
    const result = await summarize();
    const error = expectErrorResponse(result, 502, "model_error");
    expect(result.text).not.toContain("ECONNREFUSED");
    expect(result.text).not.toContain("10.0.0.7");
    expect(error.data).not.toHaveProperty("stack");
    const s = services();
    await s.audit.drain();
    const finals = (await auditRows(s.database)).filter((r) => r.phase === "final");
    expect(finals.map((r) => [r.outcome, r.reason])).toEqual([["error", "model_error"]]);
  });

  it("answers a provider that does not answer in time with 504 model_timeout", async () => {
    current = hanging;
    const timedOut = await summarize();
    const timeoutError = expectErrorResponse(timedOut, 504, "model_timeout");
    expect(timedOut.text).not.toContain("ECONNREFUSED");

    current = failing;
    const failed = await summarize();
    const gatewayError = expectErrorResponse(failed, 502, "model_error");
    // Every 5xx shares one JSON-RPC code; clients tell them apart by data.code.
    expect(timeoutError.code).toBe(gatewayError.code);
    expect(timeoutError.data.code).toBe("GATEWAY_TIMEOUT");
    expect(gatewayError.data.code).toBe("BAD_GATEWAY");
  });
});
