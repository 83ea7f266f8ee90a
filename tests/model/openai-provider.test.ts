// The openai provider against a local OpenAI-compatible server through the real `openai`
// client: plain and streamed turns, tool calls, usage, retries on 429/5xx only, malformed
// chunks and aborts.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { prompt } from "../../server/guard/untrusted.ts";
import { OpenAIProvider } from "../../server/model/openai.ts";
import type { CompletionRequest } from "../../server/model/provider.ts";
import { testGrant } from "../helpers/grant.ts";
import { FakeOpenAI, status, stream, text, toolCall } from "./fake-openai.ts";

const fake = new FakeOpenAI();
beforeAll(async () => {
  await fake.start();
});
afterAll(() => fake.stop());
beforeEach(() => fake.reset());

const provider = () =>
  new OpenAIProvider({
    apiKey: "sk-test-not-real",
    baseURL: fake.url,
    model: "fake-model",
    baseBackoffMs: 5,
  });

const grant = await testGrant(64);
const request = (overrides: Partial<CompletionRequest> = {}): CompletionRequest => ({
  messages: [
    { role: "system", content: prompt`You are terse.` },
    { role: "user", content: prompt`Say hello.` },
  ],
  task: { kind: "chat", documents: [] },
  grant,
  ...overrides,
});

describe("openai provider", () => {
  it("returns a plain completion with the server's usage", async () => {
    fake.script(text("Hello there."));
    const result = await provider().complete(request());
    expect(result).toEqual({
      text: "Hello there.",
      model: "fake-model",
      usage: { inputTokens: 11, outputTokens: 7 },
      toolCalls: [],
    });
    expect(fake.requests[0]?.model).toBe("fake-model");
    expect(fake.requests[0]?.messages.map((m) => m.role)).toEqual(["system", "user"]);
  });

  it("offers tools as functions and returns the model's tool calls", async () => {
    fake.script(toolCall("search-documents", { query: "plan" }, "call_7"));
    const result = await provider().complete(
      request({
        tools: [{ name: "search-documents", description: "search", parameters: { type: "object" } }],
      }),
    );
    expect(fake.requests[0]?.tools?.map((t) => t.function.name)).toEqual(["search-documents"]);
    expect(result.toolCalls).toEqual([
      { id: "call_7", name: "search-documents", arguments: '{"query":"plan"}' },
    ]);
  });

  it("streams deltas and takes usage from the final chunk", async () => {
    fake.script(stream(["Hel", "lo ", "world."], { usage: true }));
    const deltas: string[] = [];
    const result = await provider().complete(request({ onDelta: (d) => deltas.push(d) }));
    expect(fake.requests[0]?.stream).toBe(true);
    expect(deltas.join("")).toBe("Hello world.");
    expect(result.text).toBe("Hello world.");
    expect(result.usage).toEqual({ inputTokens: 11, outputTokens: 7 });
  });

  it("counts usage when a stream reports none", async () => {
    fake.script(stream(["A stream without a usage chunk, long enough to count."]));
    const result = await provider().complete(request({ onDelta: () => undefined }));
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.usage.outputTokens).toBe(Math.ceil(result.text.length / 4));
  });

  it("assembles a streamed tool call from its fragments", async () => {
    fake.script(async (_body, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const frame = (delta: unknown) =>
        `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "fake-model", choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`;
      res.write(
        frame({
          tool_calls: [
            {
              index: 0,
              id: "call_9",
              type: "function",
              function: { name: "external-payment-api", arguments: '{"payme' },
            },
          ],
        }),
      );
      res.write(frame({ tool_calls: [{ index: 0, function: { arguments: 'ntId":"pay_123"}' } }] }));
      res.end("data: [DONE]\n\n");
    });
    const result = await provider().complete(request({ onDelta: () => undefined }));
    expect(result.toolCalls).toEqual([
      { id: "call_9", name: "external-payment-api", arguments: '{"paymentId":"pay_123"}' },
    ]);
  });

  it("retries a 429 and succeeds", async () => {
    fake.script(status(429, { "retry-after-ms": "5" }), text("after the retry"));
    const result = await provider().complete(request());
    expect(result.text).toBe("after the retry");
    expect(fake.requests).toHaveLength(2);
  });

  it("gives up after a bounded number of 5xx answers", async () => {
    fake.script(status(500), status(502), status(503), text("never reached"));
    await expect(provider().complete(request())).rejects.toMatchObject({ status: 503 });
    expect(fake.requests).toHaveLength(3);
  });

  it("does not retry other errors", async () => {
    fake.script(status(400), text("never reached"));
    await expect(provider().complete(request())).rejects.toMatchObject({ status: 400 });
    expect(fake.requests).toHaveLength(1);
  });

  it("fails on a malformed stream chunk", async () => {
    fake.script(stream(["Hello"], { rawAfter: ["data: {not json"] }));
    const deltas: string[] = [];
    await expect(provider().complete(request({ onDelta: (d) => deltas.push(d) }))).rejects.toThrow();
    expect(deltas).toEqual(["Hello"]);
  });

  it("aborts the upstream request when its signal fires", async () => {
    const controller = new AbortController();
    fake.script(stream(["first "], { hangAfter: true }));
    const aborted = fake.nextAbort();
    const pending = provider().complete(
      request({ signal: controller.signal, onDelta: () => controller.abort(new Error("client left")) }),
    );
    await expect(pending).rejects.toThrow();
    await aborted;
    expect(fake.abortedResponses).toBe(1);
  });
});
