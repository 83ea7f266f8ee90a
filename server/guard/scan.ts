// The `scopegate guard scan` contract: JSON lines {"text", "kind"?} in, one
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

/** Returns the process exit code: 0 when every line was scanned, 1 when any line was invalid. */
export async function runGuardScan(
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  thresholds?: GuardThresholds,
): Promise<number> {
  let failed = false;
  let lineNo = 0;
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    lineNo++;
    if (line.trim() === "") continue;
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
    const { verdict, score, flags } = detectInjection(result.data.text, {
      kind: result.data.kind ?? "prompt",
      ...(thresholds ? { thresholds } : {}),
    });
    await write(output, { verdict, score, flags });
  }
  return failed ? 1 : 0;
}
