// The `scopegate guard scan` contract: lines in (JSON `{"text", "kind"?}` or plain text), one
// {"verdict","score","flags"} per line out; bad lines get an error object and a non-zero exit code.

import { createInterface } from "node:readline";
import { z } from "zod";
import { detectInjection, type GuardThresholds } from "./detect.ts";

const ScanLine = z.strictObject({
  text: z.string(),
  kind: z.enum(["prompt", "document"]).optional(),
});

function write(output: NodeJS.WritableStream, value: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    output.write(`${JSON.stringify(value)}\n`, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * How lines are read: `jsonl` only JSON objects, `text` each line is the text itself, `auto`
 * a line starting with `{` as JSON and any other as text (so a log of prompts scans as it is).
 */
export type ScanInput = "auto" | "jsonl" | "text";
export const SCAN_INPUTS: readonly ScanInput[] = ["auto", "jsonl", "text"];

export interface ScanOptions {
  thresholds?: GuardThresholds;
  input?: ScanInput;
  /** The kind of plain-text lines (JSON lines name their own). */
  textKind?: "prompt" | "document";
}

/** Returns the process exit code: 0 when every line was scanned, 1 when any line was invalid. */
export async function runGuardScan(
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  options: ScanOptions = {},
): Promise<number> {
  const mode = options.input ?? "auto";
  let failed = false;
  let lineNo = 0;
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    lineNo++;
    if (line.trim() === "") continue;
    if (mode === "text" || (mode === "auto" && !line.trimStart().startsWith("{"))) {
      await write(output, verdictOf(line, options.textKind ?? "prompt", options.thresholds));
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      failed = true;
      await write(output, { error: "invalid_json", line: lineNo });
      continue;
    }
    const result = ScanLine.safeParse(parsed);
    if (!result.success) {
      failed = true;
      await write(output, {
        error: "invalid_input",
        line: lineNo,
        issues: z.flattenError(result.error).fieldErrors,
      });
      continue;
    }
    await write(output, verdictOf(result.data.text, result.data.kind ?? "prompt", options.thresholds));
  }
  return failed ? 1 : 0;
}

function verdictOf(text: string, kind: "prompt" | "document", thresholds: GuardThresholds | undefined) {
  const { verdict, score, flags } = detectInjection(text, { kind, ...(thresholds ? { thresholds } : {}) });
  return { verdict, score, flags };
}
