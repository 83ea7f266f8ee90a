// A model server that never answers: GATEWAY_TIMEOUT `model_timeout` at the configured bound
// (the SDK's own default would be minutes), the upstream request aborted, one final record.
import { describe, expect, it } from "vitest";
import { callerFor, createTestKey } from "../helpers/services.ts";
import { hang } from "../model/fake-openai.ts";
import { expectRefusal } from "../pipeline/support.ts";
import { CHAT, rowsOfCall, useOpenAiServices } from "./support.ts";

const TIMEOUT_MS = 1000;
const { fixture, services } = useOpenAiServices({ timeoutMs: TIMEOUT_MS });
const HELLO = [{ role: "user" as const, content: "Hello there." }];

describe("model timeout", () => {
  it("answers GATEWAY_TIMEOUT model_timeout when the server is slower than the bound, and aborts it", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: CHAT });
    fixture.fake.script(hang());
    const aborted = fixture.fake.nextAbort();

    await expectRefusal(
      callerFor(s, key.plaintext).chat({ messages: HELLO }),
      "GATEWAY_TIMEOUT",
      "model_timeout",
    );

    await aborted;
    expect(fixture.fake.abortedResponses).toBe(1);
    await s.audit.drain();
    const { finals } = await rowsOfCall(s.database, "chat");
    expect(finals.map((r) => [r.outcome, r.reason])).toEqual([["error", "model_timeout"]]);
  });
});
