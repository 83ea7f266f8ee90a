// The offline model exercises the tool path with no model server: a payment question runs the
// payment tool (held and requested), a search request runs search-documents over held sources.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addDocument } from "../../server/documents/store.ts";
import { callerFor, createTestKey, useTestServices } from "../helpers/services.ts";
import { FakePaymentApi } from "../model/fake-openai.ts";
import { CHAT, PAY, SEARCH } from "./support.ts";

const payments = new FakePaymentApi();
beforeAll(async () => {
  await payments.start();
});
afterAll(() => payments.stop());
const services = useTestServices(() => ({ config: { paymentApiUrl: payments.url } }));

describe("offline model with tools", () => {
  it("answers a payment question through the payment tool", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: [...CHAT, `tool:${PAY}`] });

    const result = await callerFor(s, key.plaintext).chat({
      messages: [{ role: "user", content: "What is the status of payment pay_77?" }],
      tools: [PAY],
    });

    expect(payments.calls.map((c) => c.url)).toEqual(["/api/v1/payments/pay_77"]);
    expect(result.toolCalls).toEqual([{ id: "call_offline_0_0", name: PAY, status: "ok" }]);
    expect(result.message.content).toContain("succeeded");
  });

  it("searches held documents on request", async () => {
    const s = services();
    await addDocument(s.database.db, {
      source: "team-notes",
      title: "Roadmap",
      body: "The roadmap ships streaming in May.",
    });
    const key = await createTestKey(s, { scopes: [...CHAT, `tool:${SEARCH}`, "db:team-notes"] });

    const result = await callerFor(s, key.plaintext).chat({
      messages: [{ role: "user", content: "Search the notes for roadmap" }],
      tools: [SEARCH],
    });

    expect(result.toolCalls).toEqual([{ id: "call_offline_0_0", name: SEARCH, status: "ok" }]);
    expect(result.message.content).toContain("streaming in May");
  });
});
