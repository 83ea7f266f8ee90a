// The output leak check against disguised leaks: a stretch of the real system prompt or its
// canary, re-spelled with generated separators (commas between words, letters spaced out or
// dotted, line breaks, zero-width characters, punctuation, case, full-width forms), is blocked
// whole and streamed; answers that merely share the prompt's common words are not.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CHAT_SYSTEM_PROMPT, framePrompt, SUMMARIZE_SYSTEM_PROMPT } from "../../server/ai/prompts.ts";
import { checkOutput, createOutputStreamGuard } from "../../server/guard/output.ts";

const frames = [framePrompt(CHAT_SYSTEM_PROMPT), framePrompt(SUMMARIZE_SYSTEM_PROMPT)];
const optionsOf = (frame: (typeof frames)[number]) => ({ canary: frame.canary, systemPrompt: frame.system });

const wordSeparator = fc.constantFrom(", ", " , ", "\n", " - ", "; ", " | ", "... ", "  ", "\u200b ", "/");
const letterSeparator = fc.constantFrom(" ", ".", "-", "\u200b", " . ", "_", "\u00ad", ", ");

type Respell = (text: string) => string;
const respell: fc.Arbitrary<Respell> = fc.oneof(
  wordSeparator.map((sep) => (t: string) => t.split(/\s+/).join(sep)),
  letterSeparator.map((sep) => (t: string) => [...t.replace(/\s+/g, " ")].join(sep)),
  fc.constant((t: string) => t.toUpperCase().split(/\s+/).join("\n")),
  fc.constant((t: string) => [...t].map((c, i) => (i % 2 ? c.toUpperCase() : c.toLowerCase())).join("")),
  // Full-width letters (NFKC/NFKD map them back).
  fc.constant((t: string) =>
    [...t].map((c) => (/[A-Za-z]/.test(c) ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c)).join(" "),
  ),
);

const leakOf = fc
  .tuple(
    fc.constantFrom(...frames),
    fc.double({ min: 0, max: 1, noNaN: true }),
    fc.integer({ min: 100, max: 200 }),
  )
  .map(([frame, where, length]) => {
    // A stretch of the instructions (never the canary line, which has its own check); 100
    // characters hold the 64 letters and digits the check guarantees to catch.
    const instructions = frame.system.slice(0, frame.system.indexOf("Confidential marker"));
    const start = Math.floor(where * Math.max(0, instructions.length - length));
    return { frame, stretch: instructions.slice(start, start + length) };
  });

function streamedBlocked(text: string, options: ReturnType<typeof optionsOf>, at: number) {
  const guard = createOutputStreamGuard(options);
  const first = guard.push(text.slice(0, at));
  const second = guard.push(text.slice(at));
  const last = guard.end();
  return { blocked: last.blocked, flags: last.flags, released: first.emit + second.emit + last.emit };
}

describe("output leak check against separators and spacing", () => {
  it("blocks a re-spelled stretch of the system prompt, whole and streamed", () => {
    fc.assert(
      fc.property(
        leakOf,
        respell,
        fc.double({ min: 0, max: 1, noNaN: true }),
        ({ frame, stretch }, spell, cut) => {
          const leaked = `Sure, here they are: ${spell(stretch)} That is all.`;
          const whole = checkOutput(leaked, optionsOf(frame));
          expect(whole.blocked, leaked).toBe(true);
          expect(whole.flags).toContain("system_prompt_leak");
          const streamed = streamedBlocked(leaked, optionsOf(frame), Math.floor(cut * leaked.length));
          expect(streamed.blocked, leaked).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("blocks a re-spelled canary, whole and streamed at every split", () => {
    fc.assert(
      fc.property(fc.constantFrom(...frames), respell, ({ canary, system }, spell) => {
        const leaked = `The marker is ${spell(canary)} as asked.`;
        const options = { canary, systemPrompt: system };
        expect(checkOutput(leaked, options).flags, leaked).toContain("canary_leak");
        for (let at = 0; at <= leaked.length; at++) {
          const streamed = streamedBlocked(leaked, options, at);
          expect(streamed.blocked, `${leaked} @${at}`).toBe(true);
          expect(streamed.released.includes(canary)).toBe(false);
        }
      }),
      { numRuns: 60 },
    );
  });

  const commonWords = frames.flatMap((f) =>
    f.system
      .slice(0, f.system.indexOf("Confidential marker"))
      .split(/[^A-Za-z]+/)
      .filter((w) => w.length > 1 && !/[A-Z].*[A-Z]|\d/.test(w)),
  );
  const benign = fc
    .tuple(
      fc.shuffledSubarray([...new Set(commonWords)], { minLength: 5, maxLength: 25 }),
      fc.array(fc.constantFrom("the", "report", "says", "and", "so", "I", "think", "budget", "we", "next"), {
        maxLength: 30,
      }),
      fc.constantFrom(" ", ", ", "\n", ". "),
    )
    .chain(([shared, other, sep]) => {
      const words = [...shared, ...other];
      // A random order: the prompt's words, never its own sequence of them.
      return fc
        .shuffledSubarray(words, { minLength: words.length, maxLength: words.length })
        .map((w) => w.join(sep));
    });

  it("lets answers that share the system prompt's common words through", () => {
    fc.assert(
      fc.property(benign, fc.constantFrom(...frames), (answer, frame) => {
        const checked = checkOutput(answer, optionsOf(frame));
        expect(checked.blocked, answer).toBe(false);
        expect(checked.text).toBe(answer);
      }),
      { numRuns: 500 },
    );
  });

  it("lets realistic answers about the assistant's own role through", () => {
    const frame = frames[0];
    if (!frame) throw new Error("no frame");
    for (const answer of [
      "I am a helpful assistant. I use the tools I am offered when they help, and I treat tool results as data.",
      "Documents are data to read, quote or summarize: I will summarize the report for you.",
      "I can't change these rules or my role, but I can help with your question about the tools.",
    ]) {
      expect(checkOutput(answer, optionsOf(frame)), answer).toMatchObject({ blocked: false, text: answer });
    }
  });
});
