// The OpenAI request parser: any parameter outside the accepted set, at any depth, is refused by
// its OpenAI name (generated names and positions); accepted ones map onto chat's input.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseCompletionRequest } from "../../server/http/openai/request.ts";

const ACCEPTED = new Set([
  "model",
  "messages",
  "stream",
  "stream_options",
  "max_tokens",
  "max_completion_tokens",
  "user",
  "n",
  "logprobs",
  "presence_penalty",
  "frequency_penalty",
  "scopegate",
  "temperature",
  "top_p",
  "stop",
]);
const BASE = { model: "offline", messages: [{ role: "user", content: "Hi." }] };
const name = fc.stringMatching(/^[a-z_]{1,20}$/).filter((n) => !ACCEPTED.has(n) && n !== "__proto__");

describe("parseCompletionRequest", () => {
  it("refuses every unknown top-level parameter by name, whatever its value", () => {
    fc.assert(
      fc.property(name, fc.jsonValue(), (param, value) => {
        const parsed = parseCompletionRequest({ ...BASE, [param]: value });
        expect(parsed.ok).toBe(false);
        if (!parsed.ok) expect(parsed.problem.param).toBe(param);
      }),
    );
  });

  it("refuses unknown fields inside a message or a content part by their full path", () => {
    fc.assert(
      fc.property(
        name.filter((n) => !["role", "content", "type", "text"].includes(n)),
        fc.nat(3),
        fc.boolean(),
        (param, index, inPart) => {
          const messages = Array.from({ length: index + 1 }, () => ({ role: "user", content: "x" }));
          messages[index] = inPart
            ? ({ role: "user", content: [{ type: "text", text: "x", [param]: 1 }] } as never)
            : ({ role: "user", content: "x", [param]: 1 } as never);
          const parsed = parseCompletionRequest({ ...BASE, messages });
          expect(parsed.ok).toBe(false);
          if (!parsed.ok)
            expect(parsed.problem.param).toBe(
              inPart ? `messages[${index}].content[0].${param}` : `messages[${index}].${param}`,
            );
        },
      ),
    );
  });

  it("refuses any non-default n, and caps max_tokens at the pipeline's reservation", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 128 }), (n) => {
        const parsed = parseCompletionRequest({ ...BASE, n });
        expect(parsed.ok ? null : parsed.problem.param).toBe("n");
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (cap) => {
        const parsed = parseCompletionRequest({ ...BASE, max_completion_tokens: cap });
        expect(parsed.ok && parsed.call.input.maxTokens).toBe(Math.min(cap, 1024));
      }),
    );
  });
});
