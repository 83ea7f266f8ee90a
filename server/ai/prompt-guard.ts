// The input guard step of the pipeline: every untrusted text (user turns, instructions,
// documents) is canonicalized before the model or the detector sees it, and what changed is
// reported as flags.
import { sanitizeText } from "../guard/sanitize.ts";
import type { CallState } from "../trpc.ts";

export function sanitizeAll(call: CallState, texts: readonly string[]): string[] {
  return texts.map((text) => {
    const result = sanitizeText(text);
    for (const flag of result.flags) if (!call.flags.includes(flag)) call.flags.push(flag);
    return result.text;
  });
}
