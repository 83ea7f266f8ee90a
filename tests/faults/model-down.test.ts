// Fault drill: the model server is down (connection refused) or hangs, under concurrent calls
// over real HTTP. Every call ends within the configured model timeout with BAD_GATEWAY
// `model_error` / GATEWAY_TIMEOUT `model_timeout`, each with its admitted and final records,
// and the token reservations are refunded.

import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../server/config.ts";
import { OpenAIProvider } from "../../server/model/openai.ts";
import { startTestServer } from "../helpers/http.ts";
import {
  auditRows,
  createTestKey,
  type TestServices,
  testConfig,
  useTestServices,
} from "../helpers/services.ts";
import { FakeOpenAI, hang } from "../model/fake-openai.ts";

const TIMEOUT_MS = 1500;
// Scheduling slack on a loaded CI machine; a call that waited for the SDK's own minutes-long
// default, or retried past the bound, would be far beyond it.
const SLACK_MS = 2500;
const CALLS = 8;

function upstream(baseURL: string): { model: OpenAIProvider; config: Partial<Config> } {
  return {
    model: new OpenAIProvider({
      apiKey: "fake-upstream-key",
      baseURL,
      model: "fake-model",
      baseBackoffMs: 5,
    }),
    config: {
      model: {
        ...testConfig().model,
        provider: "openai",
        name: "fake-model",
        timeoutMs: TIMEOUT_MS,
        openaiApiKey: "fake-upstream-key",
        openaiBaseUrl: baseURL,
      },
    },
  };
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Outcome {
  status: number;
  reason: string | undefined;
  elapsedMs: number;
}

async function concurrentSummaries(s: TestServices, calls: number): Promise<Outcome[]> {
  const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
  const server = await startTestServer(s);
  try {
    return await Promise.all(
      Array.from({ length: calls }, async (_, i) => {
        const started = performance.now();
        const response = await fetch(`${server.url}/trpc/summarizeDoc`, {
          method: "POST",
          headers: { authorization: `Bearer ${key.plaintext}`, "content-type": "application/json" },
          body: JSON.stringify({ text: `Report ${i}: revenue grew while costs fell in the north.` }),
        });
        const body = (await response.json()) as { error?: { data?: { reason?: string } } };
        return {
          status: response.status,
          reason: body.error?.data?.reason,
          elapsedMs: performance.now() - started,
        };
      }),
    );
  } finally {
    await server.close();
  }
}

async function expectAuditedFailures(s: TestServices, reason: string) {
  await s.audit.drain();
  const rows = (await auditRows(s.database)).filter((r) => r.procedure === "summarizeDoc");
  const finals = rows.filter((r) => r.phase === "final");
  const admitted = rows.filter((r) => r.phase === "admitted");
  expect(finals.map((r) => [r.outcome, r.reason])).toEqual(
    Array.from({ length: CALLS }, () => ["error", reason]),
  );
  // Every call was admitted before the model was called, and each admission has its final.
  expect(new Set(admitted.map((r) => r.callId))).toEqual(new Set(finals.map((r) => r.callId)));
  const [limits] = await s.database.rows<{ uses: string | number; tokens: string | number }>(
    sql`select coalesce(sum(uses), 0) as uses, coalesce(sum(tokens_used), 0) as tokens from key_limits
        where id in (select limit_id from api_keys)`,
  );
  expect(Number(limits?.uses)).toBe(CALLS);
  // A failed call used no tokens: its reservation was refunded.
  expect(Number(limits?.tokens)).toBe(0);
}

describe("model server refusing connections", () => {
  let port = 0;
  beforeAll(async () => {
    port = await closedPort();
  });
  const services = useTestServices(() => upstream(`http://127.0.0.1:${port}/v1`));

  it("ends every call with 502 model_error within the timeout, audited, tokens refunded", async () => {
    const s = services();
    const outcomes = await concurrentSummaries(s, CALLS);
    for (const o of outcomes) {
      expect([o.status, o.reason]).toEqual([502, "model_error"]);
      expect(o.elapsedMs).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
    await expectAuditedFailures(s, "model_error");
  });
});

describe("model server that accepts and never answers", () => {
  const fake = new FakeOpenAI();
  beforeAll(async () => {
    await fake.start();
  });
  afterAll(async () => {
    await fake.stop();
  });
  const services = useTestServices(() => upstream(fake.url));

  it("ends every call with 504 model_timeout at the configured bound, audited, upstream aborted", async () => {
    const s = services();
    fake.reset();
    fake.script(...Array.from({ length: CALLS }, () => hang()));
    const outcomes = await concurrentSummaries(s, CALLS);
    for (const o of outcomes) {
      expect([o.status, o.reason]).toEqual([504, "model_timeout"]);
      expect(o.elapsedMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect(o.elapsedMs).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
    expect(fake.requests).toHaveLength(CALLS);
    await expectAuditedFailures(s, "model_timeout");
    await expect.poll(() => fake.abortedResponses).toBe(CALLS);
  });
});
