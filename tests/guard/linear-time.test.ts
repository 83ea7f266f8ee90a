// Property tests: adversarial strings never make the guard's regular expressions backtrack
// catastrophically. Each call on 50,000 characters of hostile input is compared with the same call
// on 50,000 characters of ordinary text: backtracking makes the hostile call thousands of times
// slower, while a loaded machine slows both alike, so the bound is relative with a generous floor.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { detectInjection } from "../../server/guard/detect.ts";
import { checkOutput } from "../../server/guard/output.ts";
import { redactSecrets } from "../../server/guard/redact.ts";
import { sanitizeText } from "../../server/guard/sanitize.ts";

const SIZE = 50_000;
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
  ":",
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
  "your ",
  "reply ",
  "following code ",
  "write ",
  "you are now ",
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
const hostile = fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 6 }).map((parts) => {
  const unit = parts.join("");
  return unit.repeat(Math.ceil(SIZE / unit.length)).slice(0, SIZE);
});

const CHECKS: Record<string, (text: string) => unknown> = {
  "detectInjection (prompt)": (t) => detectInjection(t, { kind: "prompt" }),
  "detectInjection (document)": (t) => detectInjection(t, { kind: "document" }),
  sanitizeText: (t) => sanitizeText(t),
  redactSecrets: (t) => redactSecrets(t),
  checkOutput: (t) => checkOutput(t, { canary: "cnry-x", systemPrompt: "You are helpful." }),
};

const timed = (f: () => unknown) => {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
};

// The note mark makes the output check parse this text, as it parses every answer that may hold
// a link (text that cannot hold one is not parsed, and would make its baseline no baseline).
const ordinary =
  `See note [1]. ${"The quarterly report covers revenue, hiring and the new office in Porto. ".repeat(800)}`.slice(
    0,
    SIZE,
  );
// An ordinary scan of the same size, timed next to each hostile one (the faster of two runs), so
// both are measured under the same machine load: CI runs other test files beside this one.
const ordinaryTime = (check: (text: string) => unknown) =>
  Math.min(
    timed(() => check(ordinary)),
    timed(() => check(ordinary)),
  );

beforeAll(() => {
  // Warm-up: the first call of each compiles its code paths.
  for (const check of Object.values(CHECKS)) check(ordinary);
});

// 40× an ordinary scan of the same size, never under 1.5 s: quadratic backtracking on 50,000
// characters costs billions of steps (seconds to hours), far past either.
const boundFor = (ordinaryMs: number) => Math.max(1500, 40 * ordinaryMs);

describe("linear time on adversarial input", () => {
  it("every guard function stays within a bound relative to ordinary text of the same size", () => {
    fc.assert(
      fc.property(hostile, (text) => {
        for (const [name, check] of Object.entries(CHECKS)) {
          // The faster of two runs: a GC pause or a busy machine can slow one run, but quadratic
          // work slows both.
          const fastest = Math.min(
            timed(() => check(text)),
            timed(() => check(text)),
          );
          expect(fastest, name).toBeLessThan(boundFor(ordinaryTime(check)));
        }
      }),
      { numRuns: 60 },
    );
  }, 300_000);
});
