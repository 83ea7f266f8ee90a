// Upstream failures through the pipeline: a 429 is retried; 5xx until the retries run out is
// BAD_GATEWAY `model_error`, the call's one final audit record.
import { describe, expect, it } from "vitest";
import { callerFor, createTestKey } from "../helpers/services.ts";
import { status, text } from "../model/fake-openai.ts";
import { expectRefusal } from "../pipeline/support.ts";
import { CHAT, rowsOfCall, useOpenAiServices } from "./support.ts";

const { fixture, services } = useOpenAiServices();
const HELLO = [{ role: "user" as const, content: "Hello there." }];

describe("model errors", () => {
  it("retries a 429 and answers", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: CHAT });
    fixture.fake.script(status(429, { "retry-after-ms": "5" }), text("Hi after a retry."));

    const result = await callerFor(s, key.plaintext).chat({ messages: HELLO });

    expect(result.message.content).toBe("Hi after a retry.");
    expect(fixture.fake.requests).toHaveLength(2);
  });

  it("answers BAD_GATEWAY model_error after 5xx until the retries run out, audited", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: CHAT });
    fixture.fake.script(status(500), status(500), status(500), status(500));

    const error = await expectRefusal(
      callerFor(s, key.plaintext).chat({ messages: HELLO }),
      "BAD_GATEWAY",
      "model_error",
    );

    expect(error.message).not.toContain("status 500");
    expect(fixture.fake.requests).toHaveLength(3);
    await s.audit.drain();
    const { finals } = await rowsOfCall(s.database, "chat");
    expect(finals.map((r) => [r.outcome, r.reason])).toEqual([["error", "model_error"]]);
  });
});
