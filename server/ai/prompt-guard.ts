// The guard steps of the AI pipeline: every untrusted text is canonicalized and screened for
// injection before the model sees it (a blocked prompt never reaches the model), and every
// model output is checked for canary/system-prompt leaks, exfiltration links and secrets.
import type { Context } from "../context.ts";
import { fail } from "../errors.ts";
import { detectInjection, type Verdict } from "../guard/detect.ts";
import { checkOutput, type OutputCheckOptions } from "../guard/output.ts";
import { sanitizeText } from "../guard/sanitize.ts";
import type { CallState } from "../trpc.ts";

type GuardedContext = Context & { call: CallState };

export function addFlags(call: CallState, flags: Iterable<string>): void {
  for (const flag of flags) if (!call.flags.includes(flag)) call.flags.push(flag);
}

/** The procedure's own thresholds when configured, else the defaults. */
const thresholdsFor = (ctx: GuardedContext) =>
  ctx.config.guardByProcedure[ctx.call.procedure] ?? ctx.config.guard;

const SEVERITY: Record<Verdict, number> = { allow: 0, flag: 1, block: 2 };
const VERDICT_FLAG = { flag: "prompt_flagged", block: "prompt_blocked" } as const;

function noteVerdict(call: CallState, verdict: Verdict): void {
  if (call.guardVerdict === null || SEVERITY[verdict] > SEVERITY[call.guardVerdict])
    call.guardVerdict = verdict;
}

/**
 * Screens what the caller says to the model (chat turns, instructions). A `block` verdict
 * refuses the call before any model call; `flag` lets it through, reported in flags. Returns
 * the sanitized texts.
 */
export function screenPrompts(ctx: GuardedContext, texts: readonly string[]): string[] {
  const screened = texts.map((text) => {
    const sanitized = sanitizeText(text);
    const detection = detectInjection(text, { kind: "prompt", thresholds: thresholdsFor(ctx) });
    addFlags(ctx.call, sanitized.flags);
    noteVerdict(ctx.call, detection.verdict);
    if (detection.verdict !== "allow")
      addFlags(ctx.call, [VERDICT_FLAG[detection.verdict], ...detection.flags]);
    return sanitized.text;
  });
  if (ctx.call.guardVerdict === "block") {
    fail("UNPROCESSABLE_CONTENT", "prompt_rejected", "The prompt was refused by the injection guard.", {
      flags: [...ctx.call.flags],
    });
  }
  return screened;
}

/**
 * Screens untrusted data (documents, tool results, text to summarize): it is never refused,
 * since it is spotlighted as data, but instructions embedded in it are reported as
 * `document_injection` and `document:<rule>` flags. Returns the sanitized texts.
 */
export function screenDocuments(ctx: GuardedContext, texts: readonly string[]): string[] {
  return texts.map((text) => {
    const sanitized = sanitizeText(text);
    const detection = detectInjection(text, { kind: "document", thresholds: thresholdsFor(ctx) });
    addFlags(ctx.call, sanitized.flags);
    if (detection.verdict !== "allow") {
      addFlags(ctx.call, ["document_injection", ...detection.flags.map((f) => `document:${f}`)]);
    }
    return sanitized.text;
  });
}

export function outputBlocked(flags: readonly string[]): never {
  fail("UNPROCESSABLE_CONTENT", "output_blocked", "The model output was blocked by the output guard.", {
    flags: [...flags],
  });
}

/** The checked output: leaks refuse the call; links and secrets are stripped, and flagged. */
export function screenOutput(ctx: GuardedContext, text: string, options: OutputCheckOptions): string {
  const checked = checkOutput(text, options);
  addFlags(ctx.call, checked.flags);
  if (checked.blocked) outputBlocked(ctx.call.flags);
  return checked.text;
}
