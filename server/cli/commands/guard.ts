// `scopegate guard scan`: lines on stdin (JSON `{"text", "kind"?}` or plain text), one verdict
// per line on stdout, for offline evaluation of the prompt guard (thresholds from the environment).
import { defineCommand, JSON_OPTION } from "../command.ts";
import { UsageError } from "../format.ts";

const KINDS = ["prompt", "document"] as const;

const scan = defineCommand({
  name: "guard scan",
  synopsis: "[--input auto|jsonl|text] [--kind prompt|document] [--json]",
  summary:
    'Scan lines from stdin with the prompt guard; prints {"verdict","score","flags"} per line. JSON lines are {"text", "kind"?}; other lines are scanned as text.',
  options: {
    input: {
      type: "string",
      arg: "auto|jsonl|text",
      help: "auto (default): a line starting with { is JSON, any other is text",
    },
    kind: { type: "string", arg: "prompt|document", help: "the kind of plain-text lines (default prompt)" },
    // Output is JSON lines either way; accepted for symmetry with the other commands.
    ...JSON_OPTION,
  },
  async run({ values }, io) {
    const { runGuardScan, SCAN_INPUTS } = await import("../../guard/scan.ts");
    const input = SCAN_INPUTS.find((mode) => mode === (values.input ?? "auto"));
    if (!input) throw new UsageError(`--input is one of ${SCAN_INPUTS.join(", ")}`);
    const textKind = KINDS.find((kind) => kind === (values.kind ?? "prompt"));
    if (!textKind) throw new UsageError(`--kind is one of ${KINDS.join(", ")}`);
    return runGuardScan(io.stdin, io.stdout, { thresholds: io.config.guard, input, textKind });
  },
});

export const guardCommands = [scan];
