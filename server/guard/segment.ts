// Splits letters that spacing ran together ("i g n o r e a l l" joins to "ignoreall") back into words
// of the vocabulary: the cheapest split, known words cheap, pieces outside the vocabulary dearer. At
// most MAX_WORD dictionary lookups per letter, so linear in the run.

import { VOCABULARY } from "./vocabulary.ts";

const MAX_WORD = 20;
const WORD_COST = 1;
// Ties between splits of the same letters go to the longer words ("instructions and", not
// "instruction sand"): a bonus growing with the square of the length.
const LENGTH_BONUS = 0.001;
// One- and two-letter words fit almost anywhere; they must not chop an unknown word into pieces
// ("c a p a city" for "capacity").
const SHORT_WORD_COST = 1.5;
// A piece outside the vocabulary costs a start plus a little per letter, so an unknown word stays one
// piece rather than being filled in with short words.
const UNKNOWN_START = 2;
const UNKNOWN_LETTER = 0.75;

export function segmentWords(run: string): string {
  if (VOCABULARY.has(run)) return run;
  const n = run.length;
  const cost = new Float64Array(n + 1).fill(Number.POSITIVE_INFINITY);
  const start = new Int32Array(n + 1);
  const known = new Uint8Array(n + 1);
  cost[0] = 0;
  for (let i = 1; i <= n; i++) {
    for (let j = Math.max(0, i - MAX_WORD); j < i; j++) {
      const len = i - j;
      const before = cost[j] ?? 0;
      const unknown = before + UNKNOWN_START + UNKNOWN_LETTER * len;
      if (unknown < (cost[i] ?? 0)) {
        cost[i] = unknown;
        start[i] = j;
        known[i] = 0;
      }
      const word = before + (len <= 2 ? SHORT_WORD_COST : WORD_COST - LENGTH_BONUS * len * len);
      if (word < (cost[i] ?? 0) && VOCABULARY.has(run.slice(j, i))) {
        cost[i] = word;
        start[i] = j;
        known[i] = 1;
      }
    }
  }
  // Walk back; consecutive unknown letters stay one token.
  const words: string[] = [];
  let unknown = "";
  for (let i = n; i > 0; i = start[i] ?? 0) {
    const piece = run.slice(start[i] ?? 0, i);
    if (known[i]) {
      if (unknown) words.push(unknown);
      unknown = "";
      words.push(piece);
    } else unknown = piece + unknown;
  }
  if (unknown) words.push(unknown);
  return words.reverse().join(" ");
}
