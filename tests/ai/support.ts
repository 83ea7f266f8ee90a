// Shared set-up of the AI pipeline tests: the fake OpenAI-compatible server and payment API for
// a whole file, test services whose model is the real openai provider pointed at that server,
// and lookups of the audit rows a call wrote.
import { afterAll, beforeAll, beforeEach } from "vitest";
import type { DatabaseHandle } from "../../db/index.ts";
import type { Config } from "../../server/config.ts";
import { OpenAIProvider } from "../../server/model/openai.ts";
import { auditRows, testConfig, useTestServices } from "../helpers/services.ts";
import { FakeOpenAI, FakePaymentApi } from "../model/fake-openai.ts";

export const CHAT = ["endpoint:chat", "prompt-processing"];
export const PAY = "external-payment-api";
export const SEARCH = "search-documents";

export interface AiFixture {
  fake: FakeOpenAI;
  payments: FakePaymentApi;
}

/** Fake upstreams for the file, and per-test services using them (model timeout `timeoutMs`). */
export function useOpenAiServices(options: { timeoutMs?: number } = {}) {
  const fixture: AiFixture = { fake: new FakeOpenAI(), payments: new FakePaymentApi() };
  beforeAll(async () => {
    await fixture.fake.start();
    await fixture.payments.start();
  });
  afterAll(async () => {
    await fixture.fake.stop();
    await fixture.payments.stop();
  });
  beforeEach(() => {
    fixture.fake.reset();
    fixture.payments.calls.length = 0;
    fixture.payments.redirectTo = null;
    fixture.payments.answer = null;
  });
  const services = useTestServices(() => ({
    model: new OpenAIProvider({
      apiKey: "fake-upstream-key",
      baseURL: fixture.fake.url,
      model: "fake-model",
      baseBackoffMs: 5,
    }),
    config: openAiConfig(fixture, options.timeoutMs ?? 5000),
  }));
  return { fixture, services };
}

function openAiConfig(fixture: AiFixture, timeoutMs: number): Partial<Config> {
  return {
    model: {
      ...testConfig().model,
      provider: "openai",
      name: "fake-model",
      timeoutMs,
      openaiApiKey: "fake-upstream-key",
      openaiBaseUrl: fixture.fake.url,
    },
    paymentApiUrl: fixture.payments.url,
  };
}

export async function rowsOfCall(database: DatabaseHandle, procedure: string) {
  const rows = (await auditRows(database)).filter((r) => r.procedure === procedure);
  return {
    finals: rows.filter((r) => r.phase === "final"),
    events: rows.filter((r) => r.phase === "event"),
    admitted: rows.filter((r) => r.phase === "admitted"),
  };
}
