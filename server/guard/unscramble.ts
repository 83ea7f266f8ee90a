// Undoes interior-letter scrambling ("ignroe all pervious insturctions") for the detector's view:
// a word whose first letter, last letter and sorted interior letters match exactly one word of the
// detectors' vocabulary is read as that word. One map lookup per word, so linear in the text.

import { VOCABULARY } from "./vocabulary.ts";

function scrambleKey(word: string): string {
  const inner = word.slice(1, -1);
  if (inner.length < 2) return word;
  return `${word[0]}${inner.split("").sort().join("")}${word[word.length - 1]}`;
}

// A number that every scrambling of a word shares (first and last letter, length, sum and sum of
// squares of the interior letter codes); a candidate is then confirmed with the exact key. The sums
// are of the whole word, less its edges, so they can be kept while scanning. Well below 2^53.
function signatureOf(first: number, last: number, length: number, sum: number, squares: number): number {
  const innerSum = sum - first - last;
  const innerSquares = squares - first * first - last * last;
  return (
    (((first - 1) * 26 + (last - 1)) * 64 + Math.min(length, 63)) * 1024 * 16384 +
    innerSum * 16384 +
    innerSquares
  );
}

function signature(word: string): number {
  let sum = 0;
  let squares = 0;
  for (let k = 0; k < word.length; k++) {
    const c = word.charCodeAt(k) - 96;
    sum += c;
    squares += c * c;
  }
  return signatureOf(
    word.charCodeAt(0) - 96,
    word.charCodeAt(word.length - 1) - 96,
    word.length,
    sum,
    squares,
  );
}

// A signature shared by two vocabulary words ("form"/"from") cannot be undone and maps to "".
const BY_SIGNATURE = new Map<number, string>();
for (const word of VOCABULARY) {
  if (word.length < 4) continue;
  const sig = signature(word);
  BY_SIGNATURE.set(sig, BY_SIGNATURE.has(sig) ? "" : word);
}

// A single corrected word is an ordinary typo; an obfuscated instruction scrambles most of its words.
const MIN_CORRECTIONS = 2;

interface Correction {
  start: number;
  end: number;
  word: string;
}

/** Scrambled vocabulary words of a lower-case text, in one pass over its characters. */
function corrections(text: string): Correction[] {
  const found: Correction[] = [];
  let start = -1;
  let sum = 0;
  let squares = 0;
  let prev = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = text.charCodeAt(i) - 96;
    if (c >= 1 && c <= 26) {
      if (start < 0) {
        start = i;
        sum = 0;
        squares = 0;
      }
      sum += c;
      squares += c * c;
      prev = c;
      continue;
    }
    if (start >= 0 && i - start >= 4) {
      const first = text.charCodeAt(start) - 96;
      const word = BY_SIGNATURE.get(signatureOf(first, prev, i - start, sum, squares));
      if (word && word.length === i - start) {
        const seen = text.slice(start, i);
        if (seen !== word && scrambleKey(seen) === scrambleKey(word)) found.push({ start, end: i, word });
      }
    }
    start = -1;
  }
  return found;
}

/** The text with scrambled vocabulary words restored, or undefined when fewer than two were found. */
export function unscrambleWords(text: string): string | undefined {
  const found = corrections(text);
  if (found.length < MIN_CORRECTIONS) return undefined;
  let out = "";
  let from = 0;
  for (const f of found) {
    out += text.slice(from, f.start) + f.word;
    from = f.end;
  }
  return out + text.slice(from);
}
