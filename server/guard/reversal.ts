// Reversed text for the detector's view: spans inside right-to-left override characters in the order a
// reader sees them, and the whole text read backwards when it looks like English written backwards.

import { disguisedFunctionWords, readsDisguised } from "./function-words.ts";

const BACKWARD = disguisedFunctionWords((w) => reverseString(w));

/** Whether a lower-case text reads as English written backwards. */
export function looksReversed(text: string): boolean {
  return readsDisguised(text, BACKWARD);
}

export function reverseString(text: string): string {
  // By code point, so a surrogate pair stays one character.
  return Array.from(text).reverse().join("");
}

// U+202E (RIGHT-TO-LEFT OVERRIDE) shows what follows, up to U+202C (POP DIRECTIONAL FORMATTING) or the
// end of the paragraph, right to left: a backwards instruction inside it is displayed forwards.
const OVERRIDDEN_SPAN = /\u202e([^\u202c\n]{0,65536})\u202c?/g;

/** The received text with each right-to-left-override span in display order, or undefined when it has none. */
export function bidiDisplayOrder(input: string): string | undefined {
  if (!input.includes("\u202e")) return undefined;
  return input.replace(OVERRIDDEN_SPAN, (_, span: string) => reverseString(span));
}
