// guard scan's line reading, for any text: a plain-text line and the same text as a JSON line get
// the same verdict, and the input mode decides how a line starting with `{` is read.
import { PassThrough } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runGuardScan, type ScanOptions } from "../../server/guard/scan.ts";

async function scan(lines: string[], options: ScanOptions = {}) {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = "";
  output.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  input.end(`${lines.join("\n")}\n`);
  const code = await runGuardScan(input, output, options);
  return {
    code,
    results: text
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as unknown),
  };
}

// One line of text that is not blank and does not start (after spaces) with `{`.
const plainLine = fc
  .string({ minLength: 1, maxLength: 200, unit: "grapheme" })
  .map((s) => s.replace(/[\r\n\u2028\u2029\u0085\v\f]/g, " "))
  .filter((s) => s.trim() !== "" && !s.trimStart().startsWith("{"));

describe("guard scan lines", () => {
  it("a plain-text line gets the verdict of the same text sent as a JSON line", async () => {
    await fc.assert(
      fc.asyncProperty(
        plainLine,
        fc.constantFrom("prompt" as const, "document" as const),
        async (text, kind) => {
          const plain = await scan([text], { textKind: kind });
          const json = await scan([JSON.stringify({ text, kind })]);
          expect(plain.code).toBe(0);
          expect(plain.results).toEqual(json.results);
          expect(plain.results).toHaveLength(1);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("--input text reads a JSON-looking line as text; jsonl refuses plain text; auto takes both", async () => {
    await fc.assert(
      fc.asyncProperty(plainLine, async (text) => {
        const asJson = JSON.stringify({ text });
        const textMode = await scan([asJson], { input: "text" });
        expect(textMode.code).toBe(0);
        // Scanned as the literal text `{"text":…}`, exactly as if that text came in a JSON line.
        expect(textMode.results).toEqual((await scan([JSON.stringify({ text: asJson })])).results);
        const strict = await scan([text], { input: "jsonl" });
        // Not a JSON object: unparsable (`invalid_json`) or another JSON value such as `1` (`invalid_input`).
        expect(strict.code).toBe(1);
        expect(strict.results).toEqual([
          expect.objectContaining({ error: expect.stringMatching(/^invalid_(json|input)$/), line: 1 }),
        ]);
        const auto = await scan([text, asJson]);
        expect(auto.code).toBe(0);
        expect(auto.results[0]).toEqual(auto.results[1]);
      }),
      { numRuns: 100, examples: [["1"], ['"quoted"'], ["null"]] },
    );
  });
});
