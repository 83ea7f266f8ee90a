// Tools gated by scope, outside the model: a held and requested tool runs and its result is
// fed back spotlighted; any other call is refused, audited as an `event` on the call's call_id
// and never executed; arguments are validated strictly; outbound HTTP stays under its base.
import { describe, expect, it } from "vitest";
import { MAX_TOOL_ROUNDS } from "../../server/ai/tool-loop.ts";
import { addDocument } from "../../server/documents/store.ts";
import { paymentUrl } from "../../server/tools/payment-api.ts";
import { callerFor, createTestKey } from "../helpers/services.ts";
import { text, toolCall } from "../model/fake-openai.ts";
import { CHAT, PAY, rowsOfCall, SEARCH, useOpenAiServices } from "./support.ts";

const { fixture, services } = useOpenAiServices();
const ASK = [{ role: "user" as const, content: "What is the status of payment pay_42?" }];

function toolMessages(requestIndex: number) {
  return (fixture.fake.requests[requestIndex]?.messages ?? []).filter((m) => m.role === "tool");
}

describe("chat tools", () => {
  it("runs a held, requested tool and feeds its result back as spotlighted data", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: [...CHAT, `tool:${PAY}`], owner: "team:billing" });
    fixture.fake.script(toolCall(PAY, { paymentId: "pay_42" }, "call_a"), text("Payment pay_42 succeeded."));

    const result = await callerFor(s, key.plaintext, { endUser: "user-7" }).chat({
      messages: ASK,
      tools: [PAY],
    });

    expect(result.message.content).toBe("Payment pay_42 succeeded.");
    expect(result.toolCalls).toEqual([{ id: "call_a", name: PAY, status: "ok" }]);
    expect(fixture.fake.requests[0]?.tools?.map((t) => t.function.name)).toEqual([PAY]);
    expect(fixture.payments.calls).toHaveLength(1);
    const call = fixture.payments.calls[0];
    expect(call?.url).toBe("/api/v1/payments/pay_42");
    expect(call?.headers["x-scopegate-key-owner"]).toBe("team:billing");
    expect(call?.headers["x-scopegate-end-user"]).toBe("user-7");
    const [fed] = toolMessages(1);
    expect(fed?.tool_call_id).toBe("call_a");
    expect(fed?.content).toMatch(/^<<DOC-[0-9a-f]+ source="tool:external-payment-api"/);
    expect(fed?.content).toContain("succeeded");
    expect(result.usage).toEqual({ inputTokens: 22, outputTokens: 14 });
  });

  it("refuses a tool the key does not hold: audited with the call id, never executed", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: [...CHAT, `tool:${SEARCH}`] });
    fixture.fake.script(toolCall(PAY, { paymentId: "pay_42" }, "call_x"), text("I could not check it."));

    const result = await callerFor(s, key.plaintext).chat({ messages: ASK, tools: [SEARCH] });

    expect(fixture.payments.calls).toHaveLength(0);
    expect(fixture.fake.requests[0]?.tools?.map((t) => t.function.name)).toEqual([SEARCH]);
    expect(result.toolCalls).toEqual([{ id: "call_x", name: PAY, status: "refused" }]);
    expect(toolMessages(1)[0]?.content).toMatch(/^Refused: the tool "external-payment-api" is not permitted/);
    await s.audit.drain();
    const { finals, events } = await rowsOfCall(s.database, "chat");
    expect(finals).toHaveLength(1);
    expect(finals[0]?.outcome).toBe("ok");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      phase: "event",
      callId: finals[0]?.callId,
      keyId: key.keyId,
      outcome: "denied",
      reason: "tool_not_permitted",
      details: { tool: PAY, toolCallId: "call_x" },
    });
  });

  it("refuses a held tool the caller did not ask to offer", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: [...CHAT, `tool:${PAY}`] });
    fixture.fake.script(toolCall(PAY, { paymentId: "pay_42" }, "call_y"), text("No tools for me."));

    const result = await callerFor(s, key.plaintext).chat({ messages: ASK });

    expect(fixture.fake.requests[0]?.tools).toBeUndefined();
    expect(fixture.payments.calls).toHaveLength(0);
    expect(result.toolCalls).toEqual([{ id: "call_y", name: PAY, status: "refused" }]);
  });

  it("refuses payment ids crafted to leave the base URL, and unknown argument fields", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: [...CHAT, `tool:${PAY}`] });
    const crafted = [
      { paymentId: "pay_1/../../admin" },
      { paymentId: "../../internal/secrets" },
      { paymentId: "pay_1?tenant=other" },
      { paymentId: "pay_%2e%2e%2fadmin" },
      { paymentId: "pay_1#x" },
      { paymentId: `pay_${"a".repeat(65)}` },
      { paymentId: "pay_1", url: "http://169.254.169.254/" },
      { paymentId: "http://evil.example/pay_1" },
    ];
    for (const args of crafted) {
      fixture.fake.script(toolCall(PAY, args, "call_c"), text("done"));
      const result = await callerFor(s, key.plaintext).chat({ messages: ASK, tools: [PAY] });
      expect(result.toolCalls, JSON.stringify(args)).toEqual([
        { id: "call_c", name: PAY, status: "invalid_arguments" },
      ]);
    }
    expect(fixture.payments.calls).toHaveLength(0);
    await s.audit.drain();
    const { events } = await rowsOfCall(s.database, "chat");
    expect(events.map((e) => e.reason)).toEqual(crafted.map(() => "invalid_input"));
  });

  it("builds payment URLs under the configured base only", () => {
    expect(paymentUrl("http://pay.internal/api/v1", "pay_A1").href).toBe(
      "http://pay.internal/api/v1/payments/pay_A1",
    );
    expect(paymentUrl("https://pay.internal/", "pay_A1").href).toBe("https://pay.internal/payments/pay_A1");
    // Even an id that escaped the schema would be encoded into one path segment.
    expect(paymentUrl("http://pay.internal/api", "../../x?y").href).toBe(
      "http://pay.internal/api/payments/..%2F..%2Fx%3Fy",
    );
  });

  it("does not follow a redirect from the payment API", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: [...CHAT, `tool:${PAY}`] });
    fixture.payments.redirectTo = `${fixture.payments.url}/payments/pay_other`;
    fixture.fake.script(toolCall(PAY, { paymentId: "pay_42" }, "call_r"), text("could not check"));

    const result = await callerFor(s, key.plaintext).chat({ messages: ASK, tools: [PAY] });

    expect(result.toolCalls).toEqual([{ id: "call_r", name: PAY, status: "failed" }]);
    expect(fixture.payments.calls.map((c) => c.url)).toEqual(["/api/v1/payments/pay_42"]);
    expect(toolMessages(1)[0]?.content).toContain("redirect");
  });

  it("search-documents reads only the sources the key holds", async () => {
    const s = services();
    await addDocument(s.database.db, {
      source: "team-notes",
      title: "Team budget",
      body: "The team budget for Q3 is 12k.",
    });
    await addDocument(s.database.db, {
      source: "private-documents",
      title: "Board budget",
      body: "Confidential: the board budget is 9 million.",
    });
    const key = await createTestKey(s, { scopes: [...CHAT, `tool:${SEARCH}`, "db:team-notes"] });
    fixture.fake.script(toolCall(SEARCH, { query: "budget" }, "call_s"), text("Found the team budget."));

    const result = await callerFor(s, key.plaintext).chat({
      messages: [{ role: "user", content: "Search the documents for the budget." }],
      tools: [SEARCH],
    });

    expect(result.toolCalls).toEqual([{ id: "call_s", name: SEARCH, status: "ok" }]);
    const fed = toolMessages(1)[0]?.content ?? "";
    expect(fed).toContain("Team");
    expect(fed).toContain("12k");
    expect(fed).not.toContain("Board");
    expect(fed).not.toContain("million");
  });

  it("bounds the tool rounds: past the last one nothing is offered and further calls are refused", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: [...CHAT, `tool:${PAY}`] });
    const rounds = MAX_TOOL_ROUNDS + 1;
    fixture.fake.script(
      ...Array.from({ length: rounds }, (_, i) => toolCall(PAY, { paymentId: `pay_${i}` }, `call_${i}`)),
    );

    const result = await callerFor(s, key.plaintext).chat({ messages: ASK, tools: [PAY] });

    expect(fixture.fake.requests).toHaveLength(rounds);
    expect(fixture.fake.requests.at(-1)?.tools).toBeUndefined();
    expect(fixture.payments.calls).toHaveLength(MAX_TOOL_ROUNDS);
    expect(result.toolCalls.map((c) => c.status)).toEqual([...Array(MAX_TOOL_ROUNDS).fill("ok"), "refused"]);
    await s.audit.drain();
    const { finals } = await rowsOfCall(s.database, "chat");
    expect(finals[0]?.details).toEqual({ toolCalls: result.toolCalls });
  });

  it("test keys use the offline model and are offered no external tools", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: [...CHAT, "tool:*"], env: "test" });

    const result = await callerFor(s, key.plaintext).chat({ messages: ASK, tools: [PAY] });

    expect(fixture.fake.requests).toHaveLength(0);
    expect(fixture.payments.calls).toHaveLength(0);
    expect(result.toolCalls).toEqual([]);
    expect(result.message.content).toContain("offline");
  });
});
