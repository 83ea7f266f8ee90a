// The guard steps of the AI pipeline: every text is canonicalized and screened for injection
// before the model sees it (a blocked prompt never reaches the model; untrusted data comes out
// typed, for the spotlight), and every model output is checked for canary/system-prompt leaks,
// exfiltration links and secrets.
import type { CallContext } from "../context.ts";
import { fail } from "../errors.ts";
import { checkOutput, type OutputCheckOptions } from "../guard/output.ts";
import {
  type PromptText,
  screenCallerText,
  screenUntrusted,
  type UntrustedText,
} from "../guard/untrusted.ts";

/** The procedure's own thresholds when configured, else the defaults. */
const thresholdsFor = (ctx: CallContext) =>
  ctx.config.guardByProcedure[ctx.call.procedure] ?? ctx.config.guard;

/**
 * Screens what the caller says to the model (chat turns, instructions). A `block` verdict
 * refuses the call before any model call; `flag` lets it through, reported in flags. Returns
 * the sanitized texts, as prompt text.
 */
export function screenPrompts(ctx: CallContext, texts: readonly string[]): PromptText[] {
  const screened = texts.map((text) => {
    const result = screenCallerText(text, { thresholds: thresholdsFor(ctx) });
    ctx.call.screened(result.flags, result.verdict);
    return result.text;
  });
  if (ctx.call.verdict === "block") {
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
  ctx: CallContext,
  text: string,
  options: { json?: boolean } = {},
): UntrustedText {
  const result = screenUntrusted(text, { ...options, thresholds: thresholdsFor(ctx) });
  ctx.call.screened(result.flags);
  return result.text;
}

/** Records the output guard's findings on a (partial) answer; a leak refuses the call. */
export function noteOutputCheck(ctx: CallContext, checked: { blocked: boolean; flags: string[] }): void {
  ctx.call.screened(checked.flags);
  if (checked.blocked) outputBlocked(ctx.call.flags);
}

function outputBlocked(flags: readonly string[]): never {
  fail("UNPROCESSABLE_CONTENT", "output_blocked", "The model output was blocked by the output guard.", {
    flags: [...flags],
  });
}

/** The checked output: leaks refuse the call; links and secrets are stripped, and flagged. */
export function screenOutput(ctx: CallContext, text: string, options: OutputCheckOptions): string {
  const checked = checkOutput(text, options);
  noteOutputCheck(ctx, checked);
  return checked.text;
}
