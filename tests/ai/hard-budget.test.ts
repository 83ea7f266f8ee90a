// Hard token budgets: whatever the call (repeated document references, a model that always asks
// for a tool, streams, concurrent calls, derived keys) and whatever usage the upstream reports,
// the tokens charged to a key lineage never take tokensToday above dailyTokens. Every model
// round is reserved before it runs, its max_tokens comes from that reservation, and a round the
// budget cannot cover ends the call with budget_exhausted, its final record and its usage so far.

import { TRPCClientError } from "@trpc/client";
import { eq } from "drizzle-orm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ChatStreamEvent, createClient } from "../../client/index.ts";
import { keyLimits } from "../../db/index.ts";
import { addDocument } from "../../server/documents/store.ts";
import { reasonOf } from "../../server/errors.ts";
import { tokensToday, utcDay } from "../../server/limits/gcra.ts";
import { estimateTokens } from "../../server/model/provider.ts";
import { startTestServer } from "../helpers/http.ts";
import { callerFor, createTestKey, type TestServices } from "../helpers/services.ts";
import { type Reply, stream, text, toolCall, usage } from "../model/fake-openai.ts";
import { expectRefusal, outcomeOf } from "../pipeline/support.ts";
import { CHAT, rowsOfCall, SEARCH, useOpenAiServices } from "./support.ts";

const { fixture, services } = useOpenAiServices();
const ASK = [{ role: "user" as const, content: "Search the notes for the budget rules." }];
// A model that only ever asks for another search, and says it used far more than it was allowed.
const greedyTool = (n: number): Reply =>
  toolCall(SEARCH, { query: "budget rules" }, `call_${n}`, usage(90_000, 9_000));

async function limitsOf(s: TestServices, keyId: string) {
  const [row] = await s.database.db.select().from(keyLimits).where(eq(keyLimits.id, keyId));
  if (!row) throw new Error(`no limits row for ${keyId}`);
  return { ...row, today: tokensToday(row.tokenDay, row.tokensUsed, utcDay(new Date())) };
}

async function expectWithinBudget(s: TestServices, keyId: string): Promise<number> {
  const row = await limitsOf(s, keyId);
  expect(row.dailyTokens).not.toBeNull();
  expect(row.today).toBeLessThanOrEqual(row.dailyTokens ?? 0);
  return row.today;
}

async function notes(s: TestServices, count: number, chars: number) {
  const refs = [];
  for (let i = 0; i < count; i++) {
    const body = `Budget rule ${i}: reserve before every round. `
      .repeat(Math.ceil(chars / 44))
      .slice(0, chars);
    const doc = await addDocument(s.database.db, { source: "notes", title: `Rule ${i}`, body });
    refs.push({ source: doc.source, id: doc.id });
  }
  return refs;
}

async function drainStream(events: AsyncIterable<ChatStreamEvent>): Promise<ChatStreamEvent[]> {
  const seen: ChatStreamEvent[] = [];
  for await (const event of events) seen.push(event);
  return seen;
}

describe("document references", () => {
  it("refuses a repeated reference (any spelling of the id) before admission: nothing charged, no model call", async () => {
    const s = services();
    const [ref] = await notes(s, 1, 40_000);
    if (!ref) throw new Error("no document");
    const key = await createTestKey(s, { scopes: [...CHAT, "db:notes"], dailyTokens: 100_000 });
    const api = callerFor(s, key.plaintext);
    for (const documents of [
      Array.from({ length: 10 }, () => ref),
      [ref, { ...ref, id: ref.id.toUpperCase() }],
    ]) {
      const refusal = await expectRefusal(
        api.chat({ messages: ASK, documents }),
        "BAD_REQUEST",
        "invalid_input",
      );
      expect(JSON.stringify(refusal.cause)).toContain("each document may be referenced once");
    }
    expect(fixture.fake.requests).toHaveLength(0);
    const row = await limitsOf(s, key.keyId);
    expect({ uses: row.uses, today: row.today }).toEqual({ uses: 0, today: 0 });
  });

  it("reserves for every distinct document: large documents past the budget are refused at admission", async () => {
    const s = services();
    const refs = await notes(s, 10, 40_000);
    const key = await createTestKey(s, { scopes: [...CHAT, "db:notes"], dailyTokens: 100_000 });
    await expectRefusal(
      callerFor(s, key.plaintext).chat({ messages: ASK, documents: refs }),
      "TOO_MANY_REQUESTS",
      "budget_exhausted",
    );
    expect(fixture.fake.requests).toHaveLength(0);
    expect(await expectWithinBudget(s, key.keyId)).toBe(0);
    // Half of them fit, and the upstream's claim of far more usage is capped by the reservation.
    fixture.fake.script(text("Reserve first.", usage(500_000, 50_000)));
    const result = await callerFor(s, key.plaintext).chat({ messages: ASK, documents: refs.slice(0, 5) });
    expect(result.flags).toContain("usage_capped");
    const today = await expectWithinBudget(s, key.keyId);
    expect(today).toBe(result.usage.inputTokens + result.usage.outputTokens);
    expect(fixture.fake.requests[0]?.max_tokens).toBe(1024);
  });
});

describe("tool loops", () => {
  it("reserves before each round; ends with budget_exhausted, its final record and the usage so far", async () => {
    const s = services();
    const key = await createTestKey(s, {
      scopes: [...CHAT, `tool:${SEARCH}`, "db:notes"],
      dailyTokens: 4000,
    });
    await notes(s, 2, 300);
    fixture.fake.script(...Array.from({ length: 6 }, (_, n) => greedyTool(n)));

    await expectRefusal(
      callerFor(s, key.plaintext).chat({ messages: ASK, tools: [SEARCH] }),
      "TOO_MANY_REQUESTS",
      "budget_exhausted",
    );

    const rounds = fixture.fake.requests.length;
    expect(rounds).toBeGreaterThanOrEqual(2);
    expect(rounds).toBeLessThan(5);
    for (const request of fixture.fake.requests) expect(request.max_tokens).toBe(1024);
    const today = await expectWithinBudget(s, key.keyId);
    await s.audit.drain();
    const { finals, admitted } = await rowsOfCall(s.database, "chat");
    expect(admitted).toHaveLength(1);
    expect(finals).toHaveLength(1);
    const final = finals[0];
    expect(final).toMatchObject({ outcome: "denied", reason: "budget_exhausted" });
    expect(final?.flags).toContain("usage_capped");
    // What the rounds that ran were charged is what the key paid: the rest was given back.
    expect(today).toBe((final?.inputTokens ?? 0) + (final?.outputTokens ?? 0));
    expect(today).toBeGreaterThan(0);
  });

  it("a derived key charges its whole lineage, and neither goes past its budget", async () => {
    const s = services();
    const parent = await createTestKey(s, {
      scopes: [...CHAT, `tool:${SEARCH}`, "keys:derive"],
      dailyTokens: 5000,
    });
    const child = await callerFor(s, parent.plaintext).keys.derive({
      scopes: [...CHAT, `tool:${SEARCH}`] as never,
      dailyTokens: 5000,
    });
    fixture.fake.script(...Array.from({ length: 12 }, (_, n) => greedyTool(n)));
    await outcomeOf(callerFor(s, parent.plaintext).chat({ messages: ASK, tools: [SEARCH] }));
    await expectRefusal(
      callerFor(s, child.key).chat({ messages: ASK, tools: [SEARCH] }),
      "TOO_MANY_REQUESTS",
      "budget_exhausted",
    );
    await expectWithinBudget(s, parent.keyId);
    await expectWithinBudget(s, child.keyId);
  });
});

describe("chatStream", () => {
  it("over HTTP: a greedy tool loop that never said a word is refused budget_exhausted, within budget", async () => {
    const s = services();
    const server = await startTestServer(s);
    try {
      const key = await createTestKey(s, { scopes: [...CHAT, `tool:${SEARCH}`], dailyTokens: 4000 });
      fixture.fake.script(...Array.from({ length: 6 }, (_, n) => greedyTool(n)));
      const client = createClient({ url: server.url, apiKey: key.plaintext });
      // No event was out yet, so the refusal is thrown with its status (design: chatStream).
      const refused = await client.chatStream
        .mutate({ messages: ASK, tools: [SEARCH] })
        .then(drainStream)
        .then(
          () => null,
          (error: unknown) => error,
        );
      expect(refused).toBeInstanceOf(TRPCClientError);
      expect((refused as TRPCClientError<never>).data).toMatchObject({
        httpStatus: 429,
        reason: "budget_exhausted",
      });
      expect(fixture.fake.requests.length).toBeGreaterThanOrEqual(2);
      for (const request of fixture.fake.requests)
        expect(request).toMatchObject({ stream: true, max_tokens: 1024 });
      const today = await expectWithinBudget(s, key.keyId);
      const { finals } = await rowsOfCall(s.database, "chatStream");
      expect(finals).toHaveLength(1);
      expect(finals[0]?.reason).toBe("budget_exhausted");
      expect(today).toBe((finals[0]?.inputTokens ?? 0) + (finals[0]?.outputTokens ?? 0));
    } finally {
      await server.close();
    }
  });
});

describe("a stream that already spoke", () => {
  it("ends with an error event budget_exhausted when the next round cannot be covered", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: [...CHAT, `tool:${SEARCH}`], dailyTokens: 4000 });
    // Longer than the output guard's hold-back, so text is released before the tool call.
    const said = Array.from({ length: 30 }, (_, i) => `Looking at part ${i} of the notes. `).join("");
    fixture.fake.script(
      ...Array.from({ length: 6 }, (_, n) =>
        toolCall(SEARCH, { query: "budget rules" }, `call_${n}`, usage(90_000, 9_000), said),
      ),
    );
    const events = await drainStream(
      await callerFor(s, key.plaintext).chatStream({ messages: ASK, tools: [SEARCH] }),
    );
    expect(events[0]?.type).toBe("delta");
    expect(events.at(-1)).toMatchObject({
      type: "error",
      code: "TOO_MANY_REQUESTS",
      reason: "budget_exhausted",
    });
    const today = await expectWithinBudget(s, key.keyId);
    await s.audit.drain();
    const { finals } = await rowsOfCall(s.database, "chatStream");
    expect(finals.map((r) => [r.outcome, r.reason])).toEqual([["denied", "budget_exhausted"]]);
    expect(today).toBe((finals[0]?.inputTokens ?? 0) + (finals[0]?.outputTokens ?? 0));
  });
});

describe("a stream its client leaves", () => {
  it("is charged for the text that went out, and no more than its reservation", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: CHAT, dailyTokens: 10_000 });
    const words = Array.from({ length: 40 }, (_, i) => `Word${i} of a long answer. `);
    fixture.fake.script(stream(words, { hangAfter: true }));
    const events = await callerFor(s, key.plaintext).chatStream({ messages: ASK });
    let delivered = "";
    for await (const event of events) {
      if (event.type === "delta") delivered += event.text;
      break;
    }
    expect(delivered.length).toBeGreaterThan(0);
    await s.audit.drain();
    const { finals } = await rowsOfCall(s.database, "chatStream");
    expect(finals.map((r) => r.reason)).toEqual(["client_closed"]);
    const today = await expectWithinBudget(s, key.keyId);
    // Its input and at least the delivered text; a refund would leave 0.
    expect(today).toBeGreaterThan(estimateTokens(delivered));
    expect(today).toBeLessThan(1024 + 1000);
  });
});

describe("any mix of calls", () => {
  it("never takes tokensToday above dailyTokens (generated budgets, usage, rounds, streams, concurrency)", async () => {
    const s = services();
    await notes(s, 3, 2000);
    const outcomes = { ok: 0, budgetExhausted: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          dailyTokens: fc.integer({ min: 1500, max: 12_000 }),
          calls: fc.array(
            fc.record({
              stream: fc.boolean(),
              toolRounds: fc.integer({ min: 0, max: 6 }),
              reported: fc.record({ prompt: fc.nat(200_000), completion: fc.nat(20_000) }),
            }),
            { minLength: 1, maxLength: 4 },
          ),
          concurrent: fc.boolean(),
        }),
        async ({ dailyTokens, calls, concurrent }) => {
          fixture.fake.reset();
          const key = await createTestKey(s, {
            scopes: [...CHAT, `tool:${SEARCH}`, "db:notes"],
            dailyTokens,
          });
          const api = callerFor(s, key.plaintext);
          for (const call of calls) {
            const reported = usage(call.reported.prompt, call.reported.completion);
            fixture.fake.script(
              ...Array.from({ length: call.toolRounds }, (_, n) =>
                toolCall(SEARCH, { query: "budget rule" }, `call_${n}`, reported),
              ),
              text("Done.", reported),
            );
          }
          const run = async (call: (typeof calls)[number]) => {
            const input = { messages: ASK, tools: [SEARCH] as (typeof SEARCH)[] };
            const outcome = call.stream
              ? outcomeOf(api.chatStream(input).then(drainStream))
              : outcomeOf(api.chat(input));
            const error = await outcome;
            if (error) expect(reasonOf(error)).toBe("budget_exhausted");
            if (error) outcomes.budgetExhausted++;
            else outcomes.ok++;
            if (!concurrent) await expectWithinBudget(s, key.keyId);
          };
          if (concurrent) await Promise.all(calls.map(run));
          else for (const call of calls) await run(call);
          await expectWithinBudget(s, key.keyId);
          for (const request of fixture.fake.requests) expect(request.max_tokens).toBeLessThanOrEqual(1024);
        },
      ),
      { numRuns: 25 },
    );
    // The generator reaches both ends: calls that fit and calls the budget stopped.
    expect(outcomes.ok).toBeGreaterThan(0);
    expect(outcomes.budgetExhausted).toBeGreaterThan(0);
  });
});
