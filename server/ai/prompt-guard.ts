// The guard steps of the AI pipeline: every text is canonicalized and screened for injection
// before the model sees it (a blocked prompt never reaches the model; untrusted data comes out
// typed, for the spotlight), and every model output is checked for canary/system-prompt leaks,
// exfiltration links and secrets.
import type { Context } from "../context.ts";
import { fail } from "../errors.ts";
import type { Verdict } from "../guard/detect.ts";
import { checkOutput, type OutputCheckOptions } from "../guard/output.ts";
import {
  type PromptText,
  screenCallerText,
  screenUntrusted,
  type UntrustedText,
} from "../guard/untrusted.ts";
import type { CallState } from "../trpc.ts";

type GuardedContext = Context & { call: CallState };

export function addFlags(call: CallState, flags: Iterable<string>): void {
  for (const flag of flags) if (!call.flags.includes(flag)) call.flags.push(flag);
}

/** The procedure's own thresholds when configured, else the defaults. */
const thresholdsFor = (ctx: GuardedContext) =>
  ctx.config.guardByProcedure[ctx.call.procedure] ?? ctx.config.guard;

const SEVERITY: Record<Verdict, number> = { allow: 0, flag: 1, block: 2 };

function noteVerdict(call: CallState, verdict: Verdict): void {
  if (call.guardVerdict === null || SEVERITY[verdict] > SEVERITY[call.guardVerdict])
    call.guardVerdict = verdict;
}

/**
 * Screens what the caller says to the model (chat turns, instructions). A `block` verdict
 * refuses the call before any model call; `flag` lets it through, reported in flags. Returns
 * the sanitized texts, as prompt text.
 */
export function screenPrompts(ctx: GuardedContext, texts: readonly string[]): PromptText[] {
  const screened = texts.map((text) => {
    const result = screenCallerText(text, { thresholds: thresholdsFor(ctx) });
    addFlags(ctx.call, result.flags);
    noteVerdict(ctx.call, result.verdict);
    return result.text;
  });
  if (ctx.call.guardVerdict === "block") {
    fail("UNPROCESSABLE_CONTENT", "prompt_rejected", "The prompt was refused by the injection guard.", {
      flags: [...ctx.call.flags],
    });
  }
  return screened;
}

/**
 * Screens untrusted data (a document title or body, a tool result, text to summarize): it is
 * never refused, since it is spotlighted as data, but instructions embedded in it are reported
 * as `document_injection` and `document:<rule>` flags. Returns the sanitized text, typed so that
 * it can reach a prompt only through the spotlight.
 */
export function screenDocument(
  ctx: GuardedContext,
  text: string,
  options: { json?: boolean } = {},
): UntrustedText {
  const result = screenUntrusted(text, { ...options, thresholds: thresholdsFor(ctx) });
  addFlags(ctx.call, result.flags);
  return result.text;
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
