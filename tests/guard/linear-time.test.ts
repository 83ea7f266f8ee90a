// Property tests: adversarial strings never make the guard's regular expressions backtrack
// catastrophically — every call on ~50 KB of hostile input finishes within a time bound.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { detectInjection } from "../../server/guard/detect.ts";
import { checkOutput } from "../../server/guard/output.ts";
import { redactSecrets } from "../../server/guard/redact.ts";
import { sanitizeText } from "../../server/guard/sanitize.ts";

const PIECES = [
  "a",
  "A",
  "0",
  " ",
  ".",
  "-",
  "_",
  "%",
  "=",
  "/",
  "+",
  "@",
  "[",
  "]",
  "(",
  ")",
  "!",
  "<!--",
  "-->",
  "<|",
  "|>",
  "\\x4",
  "sg_live_",
  "eyJ",
  "-----BEGIN RSA PRIVATE KEY-----",
  "http://x.y/?q=",
  "![a](",
  "ignore ",
  "previous ",
  "1 ",
  "4111",
  "\u200b",
  "\u{e0041}",
  "\ufe01",
  "i g n o r e ",
  "DE89 ",
  "+1 ",
  "](",
  "\n",
];
const hostile = fc
  .tuple(
    fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 6 }),
    fc.integer({ min: 500, max: 5000 }),
  )
  .map(([parts, times]) => parts.join("").repeat(times).slice(0, 50_000));

const BOUND_MS = 400;
const timed = (f: () => unknown) => {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
};

describe("linear time on adversarial input", () => {
  it("detectInjection, sanitizeText, redactSecrets and checkOutput stay within the bound", () => {
    fc.assert(
      fc.property(hostile, (text) => {
        expect(timed(() => detectInjection(text, { kind: "prompt" }))).toBeLessThan(BOUND_MS);
        expect(timed(() => detectInjection(text, { kind: "document" }))).toBeLessThan(BOUND_MS);
        expect(timed(() => sanitizeText(text))).toBeLessThan(BOUND_MS);
        expect(timed(() => redactSecrets(text))).toBeLessThan(BOUND_MS);
        expect(
          timed(() => checkOutput(text, { canary: "cnry-x", systemPrompt: "You are helpful." })),
        ).toBeLessThan(BOUND_MS);
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
