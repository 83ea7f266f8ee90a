// The output check's time grows linearly on inputs shaped against the Markdown parser: the same
// shape at n and 4n units must not take more than 8 times as long (4 when linear, 16 when
// quadratic). The faster of two runs is compared, so a GC pause or a busy machine slowing one run
// does not fail it, and a floor absorbs timer noise on the small size.
import { describe, expect, it } from "vitest";
import { checkOutput, createOutputStreamGuard, type OutputCheckOptions } from "../../server/guard/output.ts";

const options: OutputCheckOptions = {
  canary: "cnry-x",
  systemPrompt: "You are helpful.",
  allowedLinkHosts: ["ok.dev"],
};

const fastest = (f: () => unknown) => {
  f();
  const run = () => {
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  };
  return Math.min(run(), run());
};

const FLOOR_MS = 60;
const expectLinear = (name: string, at: (n: number) => () => unknown, n: number) => {
  const small = fastest(at(n));
  const large = fastest(at(4 * n));
  expect(large, `${name}: ${small.toFixed(0)} ms at n, ${large.toFixed(0)} ms at 4n`).toBeLessThan(
    8 * small + FLOOR_MS,
  );
};

// Each shape ends in `<` so that the check parses it (text that cannot hold a link is not parsed).
// Units per shape at n: enough for a measurable time, few where a unit costs much.
const SHAPES: Record<string, [(n: number) => string, number]> = {
  "setext =": [(n) => `${"=\n".repeat(n)}<`, 1500],
  "setext -": [(n) => `${"-\n".repeat(n)}<`, 1500],
  "setext headings": [(n) => `${"a\n=\n".repeat(n)}[`, 1500],
  "setext in a quote": [(n) => `${"> a\n> =\n".repeat(n)}<`, 600],
  "setext in a list item": [(n) => `${"- a\n  =\n".repeat(n)}<`, 600],
  "quote markers": [(n) => `${">\n".repeat(n)}<`, 1500],
  "empty list items": [(n) => `${"* \n".repeat(n)}<`, 1500],
  references: [(n) => "[a]\n".repeat(n), 1500],
  tags: [(n) => "<a>\n".repeat(n), 1500],
  "backtick runs": [(n) => `${"`a".repeat(n)}<`, 1500],
  "nested brackets": [(n) => "[".repeat(n) + "]".repeat(n), 4000],
  "open links": [(n) => "[a](".repeat(n), 1500],
  emphasis: [(n) => `${"*a_".repeat(n)}<`, 1500],
  "table rows": [(n) => `|a|\n|-|\n${"|[a](b)|\n".repeat(n)}`, 600],
};

function streamed(text: string) {
  const guard = createOutputStreamGuard(options);
  for (let i = 0; i < text.length; i += 20) guard.push(text.slice(i, i + 20));
  guard.end();
}

describe("the output check in linear time on parser-adversarial shapes", () => {
  for (const [name, [shape, n]] of Object.entries(SHAPES)) {
    it(`whole: ${name}`, () => expectLinear(name, (size) => () => checkOutput(shape(size), options), n));
  }

  // A stream checks its last block again with new text: a long last block must not make every
  // delta cost its length.
  const STREAMED: Record<string, string> = {
    paragraph: "The report covers [1] revenue and hiring. ",
    "loose list": "- The report covers [1] revenue and hiring.\n\n",
    "tight list": "- The report covers [1] revenue and hiring.\n",
    "open comment": "<!--\nThe report covers [1] revenue.\n\n",
  };
  for (const [name, unit] of Object.entries(STREAMED)) {
    it(`streamed in 20-character deltas: ${name}`, () =>
      expectLinear(name, (kb) => () => streamed(unit.repeat(Math.ceil((kb * 1024) / unit.length))), 4));
  }
});
