// Reversed text for the detector's view: spans inside right-to-left override characters in the order a
// reader sees them, and the whole text read backwards when it looks like English written backwards.

// The function words of English, each read backwards; palindromes ("a", "i", "did") say nothing.
const FUNCTION_WORDS =
  "the and you your to of is are in for that this with be not it on all as or me my".split(" ");
const FORWARD = new RegExp(`\\b(?:${FUNCTION_WORDS.join("|")})\\b`, "g");
const BACKWARD = new RegExp(
  `\\b(?:${FUNCTION_WORDS.map((w) => w.split("").reverse().join("")).join("|")})\\b`,
  "g",
);

/** Whether a lower-case text has more backward than forward function words (two scans of the text). */
export function looksReversed(text: string): boolean {
  const backward = text.match(BACKWARD)?.length ?? 0;
  if (backward < 2) return false;
  return backward > (text.match(FORWARD)?.length ?? 0);
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
