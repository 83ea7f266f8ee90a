// Untrusted text as a type. A model message's content is `PromptText`, and the only ways to make
// it are the guard's: the caller's own text screened as a prompt, text from anywhere else
// (document titles and bodies, tool results) screened as `UntrustedText` and then spotlighted
// (spotlight.ts), identifiers cut to a harmless alphabet, and templates of our own whose every
// interpolation is already prompt text. So nothing reaches a prompt without passing the guard.
// (tests/ai/untrusted-fields.test.ts checks that no other module casts to these types.)
import { detectInjection, type GuardThresholds, type Verdict } from "./detect.ts";
import { sanitizeText } from "./sanitize.ts";

declare const untrustedBrand: unique symbol;
declare const promptBrand: unique symbol;

/** Text from outside the caller's own message, sanitized and screened: data, to be spotlighted. */
export type UntrustedText = string & { readonly [untrustedBrand]: true };

/** Text that may stand in a model message as it is. */
export type PromptText = string & { readonly [promptBrand]: true };

export interface Screened<T> {
  text: T;
  verdict: Verdict;
  /** What sanitizing removed or changed, then what detection found. */
  flags: string[];
}

export interface ScreenOptions {
  thresholds?: GuardThresholds;
  /**
   * The text is a JSON answer (a tool result): parsed and written back out first, so an escape
   * such as `\u200b` or `\udb40\udc49` becomes the character it stands for, which the guard sees
   * and removes, instead of a spelling the model decodes and the guard does not.
   */
  json?: boolean;
}

function canonicalJson(raw: string): string {
  try {
    return JSON.stringify(JSON.parse(raw));
  } catch {
    return raw;
  }
}

/**
 * Sanitizes and screens text from outside the caller: a document's title or body, a tool's
 * answer. It is never refused (it is spotlighted as data), but what it tries to instruct is
 * reported as `document_injection` and `document:<rule>` flags.
 */
export function screenUntrusted(raw: string, options: ScreenOptions = {}): Screened<UntrustedText> {
  const source = options.json ? canonicalJson(raw) : raw;
  const sanitized = sanitizeText(source);
  const detection = detectInjection(source, { kind: "document", ...thresholdsOf(options) });
  const found =
    detection.verdict === "allow"
      ? []
      : ["document_injection", ...detection.flags.map((flag) => `document:${flag}`)];
  return {
    text: sanitized.text as UntrustedText,
    verdict: detection.verdict,
    flags: [...sanitized.flags, ...found],
  };
}

const VERDICT_FLAG = { flag: "prompt_flagged", block: "prompt_blocked" } as const;

/** Sanitizes and screens the caller's own words (chat turns, an instruction), read as a prompt. */
export function screenCallerText(raw: string, options: ScreenOptions = {}): Screened<PromptText> {
  const sanitized = sanitizeText(raw);
  const detection = detectInjection(raw, { kind: "prompt", ...thresholdsOf(options) });
  const found = detection.verdict === "allow" ? [] : [VERDICT_FLAG[detection.verdict], ...detection.flags];
  return {
    text: sanitized.text as PromptText,
    verdict: detection.verdict,
    flags: [...sanitized.flags, ...found],
  };
}

const thresholdsOf = (options: ScreenOptions) =>
  options.thresholds ? { thresholds: options.thresholds } : {};

/** The model's own earlier turn, fed back to it: canonicalized like everything else. */
export function modelEcho(text: string): PromptText {
  return sanitizeText(text).text as PromptText;
}

/**
 * A name or id from outside (a tool name or call id the model sent, a source, a canary): only
 * letters, digits and `:._-` survive, at most `max` of them, so it cannot carry an instruction.
 */
export function identifier(raw: string, max = 128): PromptText {
  return raw.replace(/[^A-Za-z0-9:._-]/g, "_").slice(0, max) as PromptText;
}

/**
 * Prompt text from a template in our source: the literal parts are code, and every interpolated
 * value must already be prompt text (or a number).
 */
export function prompt(
  literals: TemplateStringsArray,
  ...values: ReadonlyArray<PromptText | number>
): PromptText {
  let text = literals[0] ?? "";
  for (const [i, value] of values.entries()) text += `${value}${literals[i + 1] ?? ""}`;
  return text as PromptText;
}
