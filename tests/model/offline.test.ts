// The offline provider: a useful extractive summary (topical sentences, document order, word
// bound), answers drawn from given documents, and a deterministic tool path.
import { describe, expect, it } from "vitest";
import { spotlightDocuments } from "../../server/guard/spotlight.ts";
import { prompt, screenCallerText, screenUntrusted } from "../../server/guard/untrusted.ts";
import { answerFromDocuments, extractiveSummary, OfflineProvider } from "../../server/model/offline.ts";
import type { CompletionRequest, ToolSpec } from "../../server/model/provider.ts";
import { testGrant } from "../helpers/grant.ts";

const ARTICLE = [
  "Scopegate is a gateway that checks API keys before any model call.",
  "The weather was pleasant on the day the project started.",
  "Every API key carries scopes, and the gateway refuses calls whose scopes are missing.",
  "Lunch was served at noon.",
  "Refused calls and allowed calls are both written to the audit log by the gateway.",
].join(" ");

const grant = await testGrant(256);
const spec = (name: string): ToolSpec => ({ name, description: name, parameters: { type: "object" } });
// The provider sees only guarded text: the test's turns are screened like a caller's.
const chat = (content: string, tools: string[] = [], documents: string[] = []): CompletionRequest => ({
  messages: [{ role: "user", content: screenCallerText(content).text }],
  task: { kind: "chat", documents: documents.map((d) => screenUntrusted(d).text) },
  tools: tools.map(spec),
  grant,
});

describe("extractive summary", () => {
  it("keeps the topical sentences, in document order, within maxWords", () => {
    const summary = extractiveSummary(ARTICLE, 45);
    expect(summary.split(/\s+/).length).toBeLessThanOrEqual(45);
    expect(summary).not.toContain("weather");
    expect(summary).not.toContain("Lunch");
    const order = ["Scopegate is a gateway", "Every API key carries scopes", "written to the audit log"].map(
      (s) => summary.indexOf(s),
    );
    expect(order[0]).toBe(0);
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it("drops the weakest sentences first when the bound is tight", () => {
    const summary = extractiveSummary(ARTICLE, 30);
    expect(summary.split(/\s+/).length).toBeLessThanOrEqual(30);
    expect(summary).toContain("scopes are missing");
    expect(summary).not.toContain("weather");
  });

  it("truncates a single long sentence to maxWords", () => {
    const long = `${Array.from({ length: 50 }, (_, i) => `word${i}`).join(" ")}.`;
    const summary = extractiveSummary(long, 10);
    expect(summary.split(/\s+/)).toHaveLength(10);
    expect(summary.endsWith("…")).toBe(true);
  });

  it("answers from the sentences that share the question's words", () => {
    expect(answerFromDocuments("What is written to the audit log?", [ARTICLE])).toContain("audit log");
    expect(answerFromDocuments("Tell me about quantum chromodynamics", [ARTICLE])).toBe("");
  });
});

describe("offline tool path", () => {
  const model = new OfflineProvider();

  it("calls the payment tool for a payment status question when it is offered", async () => {
    const result = await model.complete(
      chat("What is the status of payment pay_Ab12?", ["external-payment-api"]),
    );
    expect(result.toolCalls).toEqual([
      { id: "call_offline_0_0", name: "external-payment-api", arguments: '{"paymentId":"pay_Ab12"}' },
    ]);
  });

  it("does not call a tool that is not offered", async () => {
    const result = await model.complete(
      chat("What is the status of payment pay_Ab12?", ["search-documents"]),
    );
    expect(result.toolCalls).toEqual([]);
  });

  it("calls search-documents with the query when asked to search", async () => {
    const result = await model.complete(
      chat("Please search the documents for quarterly budget", ["search-documents"]),
    );
    expect(result.toolCalls?.[0]?.name).toBe("search-documents");
    expect(JSON.parse(result.toolCalls?.[0]?.arguments ?? "{}")).toEqual({ query: "quarterly budget" });
  });

  it("reports tool results, read through the spotlight markers", async () => {
    const request = chat("Status of pay_1?", ["external-payment-api"]);
    request.messages.push(
      {
        role: "assistant",
        content: prompt``,
        toolCalls: [{ id: "c1", name: "external-payment-api", arguments: '{"paymentId":"pay_1"}' }],
      },
      {
        role: "tool",
        toolCallId: "c1",
        content: spotlightDocuments(
          [
            {
              body: screenUntrusted('{"status": "succeeded"}').text,
              source: "tool:external-payment-api",
              id: "c1",
            },
          ],
          "DOC-ab12",
        ),
      },
    );
    const result = await model.complete(request);
    expect(result.toolCalls).toEqual([]);
    expect(result.text).toContain('external-payment-api: {"status": "succeeded"}');
    expect(result.text).not.toContain("DOC-ab12");
  });

  it("streams the same text it returns", async () => {
    const pieces: string[] = [];
    const result = await model.complete({ ...chat("Hello there"), onDelta: (d) => pieces.push(d) });
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join("")).toBe(result.text);
  });
});
